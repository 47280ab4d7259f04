"""Column frames: the in-memory form of a log table before it becomes Arrow.

A frame maps column names to NumPy arrays of equal length (string ids are ``(rows, width)``
byte matrices, or :class:`ConsecutiveIds` built only when needed). Nulls are sentinels, so
that rows can be taken and stacked without masks: ``-1`` for codes and numbers, ``NULL_TS``
for timestamps, ``NULL_INT32`` for signed measurements, ``NaN`` for floats and an all-zero
row for id bytes.

Dirty tables are the base frame followed by extra frames (duplicated rows, malformed rows);
each becomes one chunk of the Arrow table, so the base rows are never copied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .arrays import consecutive_id_matrix, id_matrix

NULL_TS = np.iinfo(np.int64).min
NULL_INT32 = np.iinfo(np.int32).min


@dataclass(frozen=True)
class ConsecutiveIds:
    """The id column ``prefix + (first .. first + count - 1)``, built lazily."""

    prefix: str
    first: int
    count: int
    digits: int

    def __len__(self) -> int:
        return self.count

    def build(self) -> NDArray[np.uint8]:
        return consecutive_id_matrix(self.prefix, self.first, self.count, self.digits)

    def rows(self, index: NDArray[np.integer]) -> NDArray[np.uint8]:
        return id_matrix(self.prefix, self.first + np.asarray(index, np.int64), self.digits)


Column = NDArray | ConsecutiveIds
Frame = dict[str, Column]


def id_bytes(column: Column) -> NDArray[np.uint8]:
    """The byte matrix of an id column (built now if lazy)."""
    return column.build() if isinstance(column, ConsecutiveIds) else column


def frame_size(frame: Frame) -> int:
    return len(next(iter(frame.values())))


def take(frame: Frame, index: NDArray[np.integer]) -> Frame:
    """Rows ``index`` of every column (lazy id columns are built for those rows only)."""
    return {
        name: column.rows(index) if isinstance(column, ConsecutiveIds) else column[index]
        for name, column in frame.items()
    }


def concat(frames: list[Frame]) -> Frame:
    """Stack materialised frames with the same columns."""
    return {name: np.concatenate([f[name] for f in frames]) for name in frames[0]}

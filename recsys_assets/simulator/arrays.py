"""Vectorized construction of Arrow arrays: numbers, fixed-width string ids and labels.

Ids such as ``r000000123`` are built as ``(rows, width)`` byte matrices (four digits at a
time from a lookup table) and handed to Arrow as the data buffer of a string array, so no
Python string is ever created per row. Every array is assembled from NumPy buffers with
``Array.from_buffers`` (zero-copy, and it keeps ``pyarrow`` from importing pandas).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

_DIGITS4 = np.frombuffer(b"".join(f"{i:04d}".encode() for i in range(10_000)), np.uint8).reshape(10_000, 4)


def digits_for(count: int, minimum: int) -> int:
    """Digits needed to number ``count`` ids from zero, at least ``minimum``."""
    return max(minimum, len(str(max(count - 1, 0))))


def _prefixed(prefix: str, rows: int, digits: int) -> NDArray[np.uint8]:
    out = np.empty((rows, len(prefix) + digits), np.uint8)
    out[:, : len(prefix)] = np.frombuffer(prefix.encode("ascii"), np.uint8)
    return out


def id_matrix(prefix: str, numbers: NDArray[np.integer], digits: int) -> NDArray[np.uint8]:
    """Bytes of ``prefix + zero-padded number`` for arbitrary non-negative ``numbers``."""
    out = _prefixed(prefix, len(numbers), digits)
    rest = numbers.astype(np.int64)
    end = out.shape[1]
    while end - len(prefix) >= 4:
        out[:, end - 4 : end] = _DIGITS4[rest % 10_000]
        rest = rest // 10_000
        end -= 4
    for column in range(end - 1, len(prefix) - 1, -1):
        out[:, column] = rest % 10 + 48
        rest = rest // 10
    return out


def consecutive_id_matrix(prefix: str, first: int, count: int, digits: int) -> NDArray[np.uint8]:
    """Bytes of the ids ``first .. first + count - 1``; much faster than :func:`id_matrix`.

    The low four digits cycle through the lookup table, the high digits change every
    10,000 ids, so both parts are block copies (``tile`` and ``repeat``) of small tables.
    """
    if digits < 5:
        return id_matrix(prefix, np.arange(first, first + count, dtype=np.int64), digits)
    out = _prefixed(prefix, count, digits)
    if count == 0:
        return out
    offset = first % 10_000
    blocks = (offset + count + 9_999) // 10_000
    out[:, -4:] = np.tile(_DIGITS4, (blocks, 1))[offset : offset + count]
    high = np.arange(first // 10_000, (first + count - 1) // 10_000 + 1, dtype=np.int64)
    bounds = np.clip(np.append(high, high[-1] + 1) * 10_000, first, first + count)
    out[:, len(prefix) : -4] = np.repeat(id_matrix("", high, digits - 4), np.diff(bounds), axis=0)
    return out


def string_array(matrix: NDArray[np.uint8], valid: NDArray[np.bool_] | None = None) -> pa.StringArray:
    """Zero-copy Arrow string array whose row ``i`` is ``matrix[i]`` (null where ``~valid``)."""
    rows, width = matrix.shape
    if rows * width >= 2**31:
        raise ValueError(f"{rows} ids of width {width} exceed the 2 GiB limit of an Arrow string array")
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int32)
    bitmap, nulls = _validity(valid, rows)
    return pa.StringArray.from_buffers(
        rows, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(matrix)), bitmap, nulls
    )


def id_array(
    prefix: str, numbers: NDArray[np.integer], digits: int, valid: NDArray[np.bool_] | None = None
) -> pa.StringArray:
    """String ids for arbitrary numbers, null where ``~valid``."""
    return string_array(id_matrix(prefix, numbers, digits), valid)


def strings(values: Sequence[str | None]) -> pa.StringArray:
    """A (small) string array from Python strings, ``None`` for null."""
    encoded = [b"" if v is None else v.encode() for v in values]
    offsets = np.zeros(len(encoded) + 1, np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    bitmap, nulls = _validity(np.array([v is not None for v in values], bool), len(values))
    return pa.StringArray.from_buffers(
        len(values), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded)), bitmap, nulls
    )


def numeric(values: NDArray, arrow_type: pa.DataType, null: NDArray[np.bool_] | None = None) -> pa.Array:
    """Zero-copy fixed-width array (``values`` must already have the matching NumPy dtype)."""
    bitmap, nulls = _validity(None if null is None else ~null, len(values))
    data = (
        np.packbits(values, bitorder="little") if values.dtype == np.bool_ else np.ascontiguousarray(values)
    )
    return pa.Array.from_buffers(arrow_type, len(values), [bitmap, pa.py_buffer(data)], nulls)


def label_array(
    labels: Sequence[str] | pa.Array, codes: NDArray[np.integer], valid: NDArray[np.bool_] | None = None
) -> pa.DictionaryArray:
    """Dictionary-encoded strings ``labels[codes]``, null where ``~valid``.

    Parquet stores dictionary arrays directly as dictionary pages, which is far cheaper
    than hashing plain strings; readers get ordinary string columns back.
    """
    dictionary = labels if isinstance(labels, pa.Array) else strings(labels)
    if valid is None:
        indices = numeric(codes.astype(np.int32, copy=False), pa.int32())
    else:
        # Arrow leaves null slots undefined; keeping them in range protects readers that ignore validity.
        indices = numeric(np.where(valid, codes, 0).astype(np.int32), pa.int32(), ~valid)
    return pa.DictionaryArray.from_arrays(indices, dictionary, safe=False)


def _validity(valid: NDArray[np.bool_] | None, rows: int) -> tuple[pa.Buffer | None, int]:
    if valid is None:
        return None, 0
    nulls = rows - int(np.count_nonzero(valid))
    if nulls == 0:
        return None, 0
    return pa.py_buffer(np.packbits(valid, bitorder="little")), nulls


class IdSequence:
    """A counter handing out consecutive fixed-width ids (``prefix`` + ``digits`` digits)."""

    def __init__(self, prefix: str, digits: int) -> None:
        self.prefix = prefix
        self.digits = digits
        self.next = 0

    def take(self, count: int) -> NDArray[np.uint8]:
        """Bytes of the next ``count`` ids."""
        first = self.reserve(count)
        return consecutive_id_matrix(self.prefix, first, count, self.digits)

    def reserve(self, count: int) -> int:
        """Advance the counter by ``count`` and return the first reserved number."""
        first = self.next
        if first + count > 10**self.digits:
            raise OverflowError(f"more than 10**{self.digits} ids with prefix {self.prefix!r}")
        self.next += count
        return first

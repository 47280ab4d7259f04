"""Time representation: every timestamp is an ``int64`` count of microseconds since the Unix epoch (UTC)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

US_PER_MS = 1_000
US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR

_EPOCH = date(1970, 1, 1)


def date_to_us(day: date) -> int:
    """Microseconds since the epoch at midnight UTC of ``day``."""
    return (day - _EPOCH).days * US_PER_DAY


def us_to_datetime(us: int) -> datetime:
    """Naive UTC datetime of a microsecond timestamp."""
    return datetime(1970, 1, 1) + timedelta(microseconds=int(us))

"""Dates as day numbers (days since 1970-01-01): the one representation every stage uses.

Pure Python: the grid stage (which never imports NumPy) folds date literals with it. The calendar
arithmetic over columns of day numbers is :mod:`cotation.data.calendar`.
"""

from __future__ import annotations

import datetime

EPOCH = datetime.date(1970, 1, 1)


def day_number(d: datetime.date) -> int:
    return (d - EPOCH).days


def from_day_number(n: int) -> datetime.date:
    return EPOCH + datetime.timedelta(days=int(n))


def as_date(value: datetime.date | str) -> datetime.date:
    """A date given as a ``datetime.date`` or an ISO ``YYYY-MM-DD`` string."""
    return datetime.date.fromisoformat(value) if isinstance(value, str) else value

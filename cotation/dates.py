"""Dates as day numbers (days since 1970-01-01): the one representation every stage uses.

Pure Python: the grid stage (which never imports NumPy) folds date literals with it. The calendar
arithmetic over columns of day numbers is :mod:`cotation.data.calendar`.
"""

from __future__ import annotations

import calendar
import datetime

EPOCH = datetime.date(1970, 1, 1)


def day_number(d: datetime.date) -> int:
    return (d - EPOCH).days


def from_day_number(n: int) -> datetime.date:
    return EPOCH + datetime.timedelta(days=int(n))


def as_date(value: datetime.date | str) -> datetime.date:
    """A date given as a ``datetime.date`` or an ISO ``YYYY-MM-DD`` string."""
    return datetime.date.fromisoformat(value) if isinstance(value, str) else value


def add_months(d: datetime.date, n: int) -> datetime.date:
    """``d`` plus ``n`` months as art. 641 CPC counts them: the same day of the month, or the month's
    last day when it has fewer (2025-01-31 + 1 month = 2025-02-28). The column version, which the
    grid function ``add_months`` uses, is :func:`cotation.data.calendar.add_months`."""
    month = d.month - 1 + n
    year, month = d.year + month // 12, month % 12 + 1
    return datetime.date(year, month, min(d.day, calendar.monthrange(year, month)[1]))

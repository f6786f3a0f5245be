"""Stage 2 (data): calendar arithmetic on columns of day numbers (see :mod:`cotation.dates`),
vectorised with NumPy.

``civil`` is Howard Hinnant's days-to-civil algorithm: exact on the proleptic Gregorian calendar.
"""

from __future__ import annotations

import functools

import numpy as np


def civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) arrays for an array of day numbers."""
    z = days.astype(np.int64) + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    """The number of days of each (year, month), Gregorian leap years."""
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    base = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)[month - 1]
    return base + ((month == 2) & leap)


def from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Day numbers of (year, month, day) arrays: Hinnant's days-from-civil, the inverse of ``civil``."""
    y = year.astype(np.int64) - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return (era * 146097 + doe - 719468).astype(np.int64)


MAX_CALENDAR_DAYS = 3_652_059  # 0001-01-01 .. 9999-12-31


def calendar_covering(columns: list[np.ndarray], today: int) -> tuple[np.ndarray, np.int64]:
    """The calendar table (:func:`calendar_table`) and its first day, covering ``today`` and every
    stored value of ``columns`` (day numbers; the values of missing cells included: the kernels read
    them too). ValueError beyond the years 0001-9999."""
    lo = hi = today
    for values in columns:
        if len(values):
            lo, hi = min(lo, int(values.min())), max(hi, int(values.max()))
    if hi - lo > MAX_CALENDAR_DAYS:
        raise ValueError(f"dates span {hi - lo} days, beyond the years 0001-9999")
    return calendar_table(lo, hi), np.int64(lo)


@functools.lru_cache(maxsize=8)
def calendar_table(lo: int, hi: int) -> np.ndarray:
    """Packed calendar of the days lo..hi: ``((year * 12 + month - 1) * 32 + day) * 2 + last``
    as int32, ``last`` being 1 on the last day of a month, so that whole months between two days
    (art. 641 CPC, see :func:`months_between`) are
    ``(b >> 6) - (a >> 6) - (((b >> 1) & 31) < ((a >> 1) & 31) and not b & 1)``: one table look-up
    per date instead of a civil-date conversion (the compiled kernels read it)."""
    year, month, day = civil(np.arange(lo, hi + 1, dtype=np.int64))
    last = day == days_in_month(year, month)
    table = (((year * 12 + month - 1) * 32 + day) * 2 + last).astype(np.int32)
    table.flags.writeable = False
    return table


def months_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whole months from a to b as art. 641 of the code de procédure civile counts them: the largest
    n such that ``add_months(a, n) <= b``. A month from a is complete on the same day number, or on
    the last day of the month when that day does not exist (2025-01-31 to 2025-02-28: 1 month).
    Backwards (b before a) the count is negative and rounds down, like ``//``."""
    ya, ma, da = civil(a)
    yb, mb, db = civil(b)
    short = np.minimum(da, days_in_month(yb, mb)) > db
    return (yb - ya) * 12 + (mb - ma) - short.astype(np.int64)


def add_months(a: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The day n months after a (before, for negative n): the same day number, or the last day of
    the month when that day does not exist (art. 641 CPC: 2025-01-31 + 1 month = 2025-02-28)."""
    y, m, d = civil(a)
    index = y * 12 + (m - 1) + n.astype(np.int64)
    year, month = np.floor_divide(index, 12), index % 12 + 1
    return from_civil(year, month, np.minimum(d, days_in_month(year, month)))


def end_of_month(a: np.ndarray) -> np.ndarray:
    """The last day of the month of each day."""
    y, m, _ = civil(a)
    return from_civil(y, m, days_in_month(y, m))

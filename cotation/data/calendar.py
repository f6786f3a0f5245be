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


@functools.lru_cache(maxsize=8)
def calendar_table(lo: int, hi: int) -> np.ndarray:
    """Packed calendar of the days lo..hi: ``(year * 12 + month - 1) * 32 + day`` as int32, so that
    whole months between two days are ``(b >> 5) - (a >> 5) - ((b & 31) < (a & 31))``: one table
    look-up per date instead of a civil-date conversion (the compiled kernels read it)."""
    year, month, day = civil(np.arange(lo, hi + 1, dtype=np.int64))
    table = ((year * 12 + month - 1) * 32 + day).astype(np.int32)
    table.flags.writeable = False
    return table


def months_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whole months from a to b: a month is complete when b reaches a's day of month."""
    ya, ma, da = civil(a)
    yb, mb, db = civil(b)
    return (yb - ya) * 12 + (mb - ma) - (db < da).astype(np.int64)

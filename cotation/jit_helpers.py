"""Scalar helpers called by every generated kernel, compiled once per machine and cached by Numba.

They live in this package module rather than in each generated module so that a new grid does not
compile them again (about 0.6 s): Numba caches their machine code next to this file (or in its
user-wide cache directory when the package is read-only), and LLVM inlines them into the row loops.
:mod:`cotation.kernel` puts a hash of this file into the key of every generated module.
"""

import numba
import numpy as np

__all__ = ["_cal_months", "_civil", "_fdiv", "_months_between", "_months_to", "_popcount", "_round_half_away"]

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _fdiv(x, k):
    """x // k for an integer |x| < 2**50 and a constant k > 0: exact, and it vectorises."""
    return np.int64(np.floor((np.float64(x) + 0.5) * (1.0 / k)))


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _popcount(x):
    """Number of bits set in a uint64 (the size of a set)."""
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    x = x + (x >> np.uint64(8))
    x = x + (x >> np.uint64(16))
    x = x + (x >> np.uint64(32))
    return np.int64(x & np.uint64(127))


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _civil(days):
    """(year, month, day) of a day number (days since 1970-01-01), Hinnant's algorithm."""
    z = days + 719468
    era = _fdiv(z, 146097)
    doe = z - era * 146097
    yoe = _fdiv(doe - _fdiv(doe, 1460) + _fdiv(doe, 36524) - _fdiv(doe, 146096), 365)
    doy = doe - (365 * yoe + _fdiv(yoe, 4) - _fdiv(yoe, 100))
    mp = _fdiv(5 * doy + 2, 153)
    day = doy - _fdiv(153 * mp + 2, 5) + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _months_between(a, b):
    """Whole months from a to b: a month is complete when b reaches a's day of month."""
    ya, ma, da = _civil(a)
    yb, mb, db = _civil(b)
    return (yb - ya) * 12 + (mb - ma) - (1 if db < da else 0)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _months_to(a, yb, mb, db):
    """_months_between(a, b) where b's calendar date (yb, mb, db) is already known."""
    ya, ma, da = _civil(a)
    return (yb - ya) * 12 + (mb - ma) - (1 if db < da else 0)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _cal_months(pa, pb):
    """Whole months between two packed calendar entries (month index * 32 + day of month)."""
    return (pb >> 5) - (pa >> 5) - (1 if (pb & 31) < (pa & 31) else 0)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _round_half_away(x):
    """Nearest integer, halves away from zero."""
    r = np.floor(abs(x) + 0.5)
    return np.int64(-r if x < 0 else r)

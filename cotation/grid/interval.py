"""Stage 1 (grid): interval arithmetic on exact Python numbers, for the bounds of every expression
(:mod:`cotation.grid.bounds`) and the interval rule of each function (:mod:`cotation.grid.functions`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

INF = math.inf
I16 = (-(2**15), 2**15 - 1)
I32 = (-(2**31), 2**31 - 1)
I64 = (-(2**63), 2**63 - 1)
DAYS = (-719162, 2932896)  # day numbers of 0001-01-01 and 9999-12-31, the dates the readers accept
CEILING_MAX = 2**40  # the ceilings' cells are checked below this when the tables are read


@dataclass(frozen=True)
class Interval:
    lo: float
    hi: float

    def __or__(self, other: Interval) -> Interval:
        return Interval(min(self.lo, other.lo), max(self.hi, other.hi))

    def fits(self, limits: tuple[int, int]) -> bool:
        return limits[0] <= self.lo and self.hi <= limits[1]


BOOL = Interval(0, 1)
ANY = Interval(-INF, INF)


def mul(a: Interval, b: Interval) -> Interval:
    products = [times(x, y) for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
    return Interval(min(products), max(products))


def times(x: float, y: float) -> float:
    return 0 if x == 0 or y == 0 else x * y  # 0 * inf is 0 here: a zero operand gives zero


def div(a: Interval, b: Interval, integer: bool) -> Interval:
    """a / b (a zero divisor gives a missing value): bounded when |b| >= 1 (an integer) or b is far from 0."""
    if b.lo == b.hi and b.lo != 0:
        ends = (a.lo / b.lo, a.hi / b.lo)
        return Interval(min(ends), max(ends))
    smallest = 1 if integer else (b.lo if b.lo > 0 else -b.hi if b.hi < 0 else 0)
    if smallest <= 0:
        return ANY
    m = abs_max(a) / smallest
    return Interval(-m, m)


def abs_max(a: Interval) -> float:
    return max(abs(a.lo), abs(a.hi))


def to_int(a: Interval) -> Interval:
    """floor/ceil/round of a float interval; unbounded floats give the whole int64 range."""
    lo, hi = a.lo - 1, a.hi + 1
    if not (math.isfinite(lo) and math.isfinite(hi)) or abs(lo) > 2**53 or abs(hi) > 2**53:
        return Interval(*I64)
    return Interval(math.floor(lo), math.ceil(hi))


def months(a: Interval, b: Interval, past: bool = False) -> Interval:
    """Whole months from a to b: at most one more than the days divided by 28.

    ``past``: a is a date of the application and b the computation date, so a <= b (D105).
    """
    lo = 0 if past else math.floor((b.lo - a.hi) / 28) - 1
    return Interval(lo, math.ceil((b.hi - a.lo) / 28) + 1)

"""Interval analysis of a typed grid: the smallest and largest value every point column can take.

:func:`grid_bounds` walks the IR once with interval arithmetic on exact Python numbers. Fields are
bounded by their catalogue ``min``/``max`` or else by their storage type (``int32`` for integers,
dates and communes; the codes of a category), floats by their catalogue bounds or ±infinity. The
result chooses the integer width of the outputs (:class:`ir.Widths`): totals in ``int32`` when every
possible total fits, else ``int64``; the breakdown in ``int16``, ``int32`` or ``int64``. A column
whose bound cannot be proven inside 64-bit integers is an error (E309) naming the criterion, with a
suggestion: give it a ``min:`` and a ``max:``. Integer arithmetic inside an expression wraps at 64
bits identically in both engines; a criterion clamped on both sides is always safe.

Nothing here imports numpy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from . import ir
from .catalogue import Field, Kind

INF = math.inf
I16 = (-(2**15), 2**15 - 1)
I32 = (-(2**31), 2**31 - 1)
I64 = (-(2**63), 2**63 - 1)
DAYS = (-719162, 2932896)  # day numbers of 0001-01-01 and 9999-12-31, the dates the readers accept
_FIELD_RANGE = {Kind.INT: I32, Kind.DATE: DAYS, Kind.COMMUNE: I32, Kind.BOOL: (0, 1),
                Kind.SET: (0, 2**64 - 1), Kind.COMMUNES: I32, Kind.FLOAT: (-INF, INF), Kind.MONEY: (-INF, INF)}


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


def _mul(a: Interval, b: Interval) -> Interval:
    products = [_times(x, y) for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
    return Interval(min(products), max(products))


def _times(x: float, y: float) -> float:
    return 0 if x == 0 or y == 0 else x * y  # 0 * inf is 0 here: a zero operand gives zero


def _div(a: Interval, b: Interval, integer: bool) -> Interval:
    """a / b (a zero divisor gives a missing value): bounded when |b| >= 1 (an integer) or b is far from 0."""
    if b.lo == b.hi and b.lo != 0:
        ends = (a.lo / b.lo, a.hi / b.lo)
        return Interval(min(ends), max(ends))
    smallest = 1 if integer else (b.lo if b.lo > 0 else -b.hi if b.hi < 0 else 0)
    if smallest <= 0:
        return ANY
    m = _abs_max(a) / smallest
    return Interval(-m, m)


def _abs_max(a: Interval) -> float:
    return max(abs(a.lo), abs(a.hi))


def _to_int(a: Interval) -> Interval:
    """floor/ceil/round of a float interval; unbounded floats give the whole int64 range."""
    lo, hi = a.lo - 1, a.hi + 1
    if not (math.isfinite(lo) and math.isfinite(hi)) or abs(lo) > 2**53 or abs(hi) > 2**53:
        return Interval(*I64)
    return Interval(math.floor(lo), math.ceil(hi))


class _Bounds:
    def __init__(self, grid: ir.Grid):
        self.grid = grid
        self.vars: dict[str, Interval] = {}
        self.overflow = False  # set when an integer node may leave int64 (it would wrap)

    def of(self, node: ir.IExpr) -> Interval:
        out: Interval = getattr(self, f"_b_{type(node).__name__}")(node)
        if node.type.kind == "bool":
            return BOOL
        if node.type.kind == "int" and not out.fits(I64):  # wraps, identically in both engines
            self.overflow = True
            return Interval(*I64)
        return out

    def _b_Const(self, node: ir.Const) -> Interval:
        value = float(node.value) if node.type.kind == "float" else int(node.value)
        return Interval(value, value)

    def _b_FieldRef(self, node: ir.FieldRef) -> Interval:
        return self._field(self.grid.catalogue[node.name])

    def _b_DwellingRef(self, node: ir.DwellingRef) -> Interval:
        assert self.grid.match is not None
        return self._field(self.grid.match.catalogue[node.name])

    def _field(self, f: Field) -> Interval:
        if f.kind is Kind.CATEGORY:
            return Interval(0, max(len(f.values) - 1, 0))
        lo, hi = _FIELD_RANGE.get(f.kind, I64)
        return Interval(lo if f.min is None else max(lo, f.min), hi if f.max is None else min(hi, f.max))

    def _b_VarRef(self, node: ir.VarRef) -> Interval:
        return self.vars[node.name]

    def _b_DateCalcul(self, node: ir.DateCalcul) -> Interval:
        return Interval(*DAYS)

    def _b_Arith(self, node: ir.Arith) -> Interval:
        a, b = self.of(node.left), self.of(node.right)
        if node.op == "+":
            return Interval(a.lo + b.lo, a.hi + b.hi)
        if node.op == "-":
            return Interval(a.lo - b.hi, a.hi - b.lo)
        if node.op == "*":
            return _mul(a, b)
        if node.op == "/":
            return _div(a, b, node.right.type.kind != "float")
        if node.type.kind != "int":
            return ANY
        if node.op == "//":
            if b.lo == b.hi and b.lo > 0:
                return Interval(math.floor(a.lo / b.lo), math.floor(a.hi / b.lo))
            return Interval(-_abs_max(a) - 1, _abs_max(a) + 1)
        m = _abs_max(b)  # %: the sign of the divisor, smaller than it
        return Interval(0 if b.lo >= 0 else -m, 0 if b.hi <= 0 else m)

    def _b_Neg(self, node: ir.Neg) -> Interval:
        a = self.of(node.operand)
        return Interval(-a.hi, -a.lo)

    def _b_Cond(self, node: ir.Cond) -> Interval:
        return self.of(node.then) | self.of(node.otherwise)

    def _b_Call(self, node: ir.Call) -> Interval:
        return _CALLS.get(node.func, lambda s, n: ANY)(self, node)

    def _bool(self, node: ir.IExpr) -> Interval:
        return BOOL

    _b_Cmp = _b_Logic = _b_Not = _b_InValues = _b_SetHas = _b_ListHas = _bool


def _args(b: _Bounds, node: ir.Call) -> list[Interval]:
    return [b.of(a) for a in node.args]


def _months(a: Interval, b: Interval, past: bool = False) -> Interval:
    """Whole months from a to b: at most one more than the days divided by 28.

    ``past``: a is a date of the application and b the computation date, so a <= b (D105).
    """
    lo = 0 if past else math.floor((b.lo - a.hi) / 28) - 1
    return Interval(lo, math.ceil((b.hi - a.lo) / 28) + 1)


def _past(node: ir.Call) -> bool:
    """Whether the call measures from a date field of the application to date_calcul (never negative)."""
    first, last = node.args[0], node.args[-1]
    return isinstance(first, ir.FieldRef) and (node.func == "age" or isinstance(last, ir.DateCalcul))


def _c_minmax(fn: Callable[..., float]) -> Callable[[_Bounds, ir.Call], Interval]:
    def bound(b: _Bounds, node: ir.Call) -> Interval:
        xs = _args(b, node)
        return Interval(fn(x.lo for x in xs), fn(x.hi for x in xs))
    return bound


def _c_clip(b: _Bounds, node: ir.Call) -> Interval:
    x, lo, hi = _args(b, node)
    return Interval(min(max(x.lo, lo.lo), hi.lo), min(max(x.hi, lo.hi), hi.hi))


def _c_abs(b: _Bounds, node: ir.Call) -> Interval:
    x = _args(b, node)[0]
    low = 0 if x.lo <= 0 <= x.hi else min(abs(x.lo), abs(x.hi))
    return Interval(low, _abs_max(x))


def _c_to_int(b: _Bounds, node: ir.Call) -> Interval:
    x = _args(b, node)[0]
    return x if node.args[0].type.kind != "float" else _to_int(x)


def _c_months(b: _Bounds, node: ir.Call) -> Interval:
    return _months(*_args(b, node), past=_past(node))


def _c_years(b: _Bounds, node: ir.Call) -> Interval:
    m = _months(*_args(b, node), past=_past(node))
    return Interval(math.floor(m.lo / 12), math.floor(m.hi / 12))


def _c_age(b: _Bounds, node: ir.Call) -> Interval:
    m = _months(_args(b, node)[0], Interval(*DAYS), past=_past(node))
    return Interval(math.floor(m.lo / 12), math.floor(m.hi / 12))


def _c_days(b: _Bounds, node: ir.Call) -> Interval:
    a, c = _args(b, node)
    return Interval(max(c.lo - a.hi, 0) if _past(node) else c.lo - a.hi, c.hi - a.lo)


def _c_coalesce(b: _Bounds, node: ir.Call) -> Interval:
    x, d = _args(b, node)
    return x | d


_CALLS: dict[str, Callable[[_Bounds, ir.Call], Interval]] = {
    "min": _c_minmax(min), "max": _c_minmax(max), "clip": _c_clip, "abs": _c_abs,
    "round": _c_to_int, "floor": _c_to_int, "ceil": _c_to_int,
    "days_between": _c_days, "months_between": _c_months, "years_between": _c_years, "age": _c_age,
    "count": lambda b, n: Interval(0, 64), "first": lambda b, n: Interval(*I32),
    "coalesce": _c_coalesce, "present": lambda b, n: BOOL,
    "rang_souhait": lambda b, n: Interval(1, 64), "adequation_typologie": lambda b, n: Interval(-1, 1),
    "plafond_ressources": lambda b, n: Interval(0, CEILING_MAX),
}
CEILING_MAX = 2**40  # the ceilings' cells are checked below this when the tables are read


def _rule(b: _Bounds, rule: ir.Rule) -> Interval:
    if isinstance(rule, ir.Fixed):
        return b.of(rule.points)
    if isinstance(rule, ir.Bands):
        points = [band.points for band in rule.bands]
        return Interval(min(points), max(points))
    x = b.of(rule.value)
    if rule.value.type.kind == "int" and float(rule.unit).is_integer():
        units = Interval(math.floor(x.lo / rule.unit), math.floor(x.hi / rule.unit))
    else:
        units = _to_int(Interval(x.lo / rule.unit, x.hi / rule.unit))
    return _mul(units, Interval(rule.per_unit, rule.per_unit))


def _criterion(b: _Bounds, c: ir.Criterion) -> Interval:
    p = _rule(b, c.rule)

    def clip(x: float) -> float:  # the criterion's own min/max, applied as both engines do (monotone)
        x = x if c.min is None else max(x, c.min)
        return x if c.max is None else min(x, c.max)

    return Interval(min(clip(p.lo), 0), max(clip(p.hi), 0))  # an unmet criterion gives 0


def _cap(group: ir.Group, members: list[Interval]) -> Interval:
    total = Interval(sum(m.lo for m in members), sum(m.hi for m in members))
    lo = min(0, group.max - total.hi) if group.max is not None else 0
    hi = max(0, group.min - total.lo) if group.min is not None else 0
    return Interval(lo, hi)


@dataclass(frozen=True)
class GridBounds:
    columns: tuple[Interval, ...]  # one per breakdown column, in grid.columns order
    total: Interval
    unbounded: tuple[int, ...]  # criteria (indices) whose points are not provably within int64


def analyzer(grid: ir.Grid) -> _Bounds:
    """An object whose ``of(node)`` is the interval of any expression of ``grid`` (variables known)."""
    b = _Bounds(grid)
    for var in (*grid.variables, *(grid.match.variables if grid.match else ())):
        b.vars[var.name] = b.of(var.expr)
    return b


def pair_bounds(grid: ir.Grid) -> tuple[list[Interval], list[int]]:
    """Bounds of each criterion of the match part, and the indices of those not within int64."""
    assert grid.match is not None
    b = analyzer(grid)
    out, unbounded = [], []
    for j, c in enumerate(grid.match.criteria):
        b.overflow = False
        out.append(_criterion(b, c))
        if (b.overflow and (c.min is None or c.max is None)) or not out[-1].fits(I64):
            unbounded.append(j)
    return out, unbounded


def grid_bounds(grid: ir.Grid) -> GridBounds:
    """Bounds of every breakdown column and of the total of ``grid``."""
    b = analyzer(grid)
    crit, unbounded_list = [], []
    for j, c in enumerate(grid.criteria):
        b.overflow = False
        crit.append(_criterion(b, c))
        if (b.overflow and (c.min is None or c.max is None)) or not crit[-1].fits(I64):
            unbounded_list.append(j)
    unbounded = tuple(unbounded_list)
    crit = [x if x.fits(I64) else Interval(*I64) for x in crit]
    prio = [Interval(min(0, p.points), max(0, p.points)) for p in grid.priorities if p.points]
    caps = [_cap(g, [crit[j] for j in g.members]) for g in grid.groups]
    columns = (*crit, *prio, *caps)
    total = Interval(sum(c.lo for c in columns), sum(c.hi for c in columns))
    return GridBounds(columns, total, unbounded)


def widths(bounds: GridBounds, priorities: int) -> ir.Widths:
    """The narrowest integer types for the totals, the breakdown and the priority flag bits."""
    total = "int32" if bounds.total.fits(I32) else "int64"
    cols = bounds.columns
    point = "int16" if all(c.fits(I16) for c in cols) else "int32" if all(c.fits(I32) for c in cols) else "int64"
    flags = next(f"uint{w}" for w in (8, 16, 32, 64) if priorities <= w or w == 64)
    return ir.Widths(total=total, breakdown=point, flags=flags)

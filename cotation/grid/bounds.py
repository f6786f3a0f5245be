"""Stage 1 (grid): interval analysis of a typed grid: the smallest and largest value of every
point column.

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
from dataclasses import dataclass

from . import ir
from .catalogue import Field, Kind
from .functions import FUNCTIONS
from .interval import ANY, BOOL, DAYS, I16, I32, I64, INF, Interval, abs_max, div, mul, to_int

_FIELD_RANGE = {
    Kind.INT: I32,
    Kind.DATE: DAYS,
    Kind.COMMUNE: I32,
    Kind.BOOL: (0, 1),
    Kind.SET: (0, 2**64 - 1),
    Kind.COMMUNES: I32,
    Kind.FLOAT: (-INF, INF),
    Kind.MONEY: (-INF, INF),
}


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
            return mul(a, b)
        if node.op == "/":
            return div(a, b, node.right.type.kind != "float")
        if node.type.kind != "int":
            return ANY
        if node.op == "//":
            if b.lo == b.hi and b.lo > 0:
                return Interval(math.floor(a.lo / b.lo), math.floor(a.hi / b.lo))
            return Interval(-abs_max(a) - 1, abs_max(a) + 1)
        m = abs_max(b)  # %: the sign of the divisor, smaller than it
        return Interval(0 if b.lo >= 0 else -m, 0 if b.hi <= 0 else m)

    def _b_Neg(self, node: ir.Neg) -> Interval:
        a = self.of(node.operand)
        return Interval(-a.hi, -a.lo)

    def _b_Cond(self, node: ir.Cond) -> Interval:
        return self.of(node.then) | self.of(node.otherwise)

    def _b_Call(self, node: ir.Call) -> Interval:
        return FUNCTIONS[node.func].interval([self.of(a) for a in node.args], node)

    def _bool(self, node: ir.IExpr) -> Interval:
        return BOOL

    _b_Cmp = _b_Logic = _b_Not = _b_InValues = _b_SetHas = _b_ListHas = _bool


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
        units = to_int(Interval(x.lo / rule.unit, x.hi / rule.unit))
    return mul(units, Interval(rule.per_unit, rule.per_unit))


def rule_interval(b: _Bounds, rule: ir.Rule) -> Interval:
    """The points a rule gives when it applies, before the criterion's own min/max."""
    return _rule(b, rule)


Analyzer = _Bounds  # the type :func:`analyzer` returns


def criterion_interval(b: _Bounds, c: ir.Criterion) -> Interval:
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
        out.append(criterion_interval(b, c))
        if (b.overflow and (c.min is None or c.max is None)) or not out[-1].fits(I64):
            unbounded.append(j)
    return out, unbounded


def grid_bounds(grid: ir.Grid) -> GridBounds:
    """Bounds of every breakdown column and of the total of ``grid``."""
    b = analyzer(grid)
    crit, unbounded_list = [], []
    for j, c in enumerate(grid.criteria):
        b.overflow = False
        crit.append(criterion_interval(b, c))
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
    point = (
        "int16" if all(c.fits(I16) for c in cols) else "int32" if all(c.fits(I32) for c in cols) else "int64"
    )
    flags = next(f"uint{w}" for w in (8, 16, 32, 64) if priorities <= w or w == 64)
    return ir.Widths(total=total, breakdown=point, flags=flags)

"""Stage 4 (scoring): the reference evaluator: short, vectorised with NumPy, obviously correct.

It is the oracle that compiled kernels are tested against. Every expression evaluates to a
:class:`Val`: values and a validity mask (missing values propagate; ``and``/``or`` follow Kleene
logic; a division by zero is missing). A criterion whose condition or value is missing is not met.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..data.calendar import add_months, civil, end_of_month, months_between
from ..data.ceilings import ceiling_table
from ..dates import day_number, from_day_number
from ..grid import ir
from ..grid.catalogue import Kind
from .order import rank_of
from .scores import Lazy, Scores

if TYPE_CHECKING:
    from ..data.batch import Batch

NEVER = np.iinfo(np.int64).min


@dataclass(frozen=True)
class Val:
    v: np.ndarray
    ok: np.ndarray  # bool: True where the value is present


def _and_ok(*vals: Val) -> np.ndarray:
    out = vals[0].ok
    for val in vals[1:]:
        out = out & val.ok
    return out


class Env:
    """Columns of a batch, widened for evaluation, and the variables computed so far."""

    def __init__(self, grid: ir.Grid, batch: object, date_calcul: datetime.date):
        self.grid, self.batch = grid, batch
        self.n = len(batch)  # type: ignore[arg-type]
        self.today = day_number(date_calcul)
        self.vars: dict[str, Val] = {}
        self._fields: dict[str, Val] = {}
        self._ceilings: dict[tuple[tuple[str, ...], tuple[str, ...]], np.ndarray] = {}

    def field(self, name: str) -> Val:
        if name not in self._fields:
            col = self.batch.column(name)  # type: ignore[attr-defined]
            kind = self.grid.catalogue[name].kind
            values = (
                col.values
                if kind in (Kind.BOOL, Kind.SET)
                else col.values.astype(np.float64 if kind in (Kind.FLOAT, Kind.MONEY) else np.int64)
            )
            ok = col.valid if col.valid is not None else np.ones(self.n, dtype=bool)
            self._fields[name] = Val(values, ok)
        return self._fields[name]

    def full(self, value: object, dtype: type) -> Val:
        return Val(np.full(self.n, value, dtype=dtype), np.ones(self.n, dtype=bool))

    def compute(self, variables: tuple[ir.Variable, ...] | list[ir.Variable]) -> Env:
        """Evaluate ``variables`` (in dependency order) into this environment; returns it."""
        for var in variables:
            self.vars[var.name] = ev(var.expr, self)
        return self

    def dwelling(self, name: str) -> Val:
        raise TypeError(f"logement.{name} outside a pair evaluation")  # the type checker prevents it

    def ceilings(self, financings: tuple[str, ...], zones: tuple[str, ...]) -> np.ndarray:
        """The income ceilings of the year of date_calcul: (financing, zone, 7) int64, -1 where unknown."""
        key = (financings, zones)
        if key not in self._ceilings:
            self._ceilings[key] = ceiling_table(from_day_number(self.today).year, financings, zones)
        return self._ceilings[key]


class PairEnv(Env):
    """The applications against one dwelling: its fields are broadcast over the applications."""

    def __init__(self, grid: ir.Grid, batch: object, date_calcul: datetime.date, dwellings: object, m: int):
        super().__init__(grid, batch, date_calcul)
        self.dwellings, self.m = dwellings, m

    def dwelling(self, name: str) -> Val:
        col = self.dwellings.column(name)  # type: ignore[attr-defined]
        assert self.grid.match is not None
        kind = self.grid.match.catalogue[name].kind
        value = col.values[self.m]
        dtype = (
            col.values.dtype
            if kind in (Kind.BOOL, Kind.SET)
            else np.float64
            if kind in (Kind.FLOAT, Kind.MONEY)
            else np.int64
        )
        present = True if col.valid is None else bool(col.valid[self.m])
        return Val(np.full(self.n, value, dtype=dtype), np.full(self.n, present))


def ev(node: ir.IExpr, env: Env) -> Val:
    return _EVAL[type(node).__name__](node, env)


def _const(node: ir.Const, env: Env) -> Val:
    dtype = {"bool": np.bool_, "float": np.float64}.get(node.type.kind, np.int64)
    return env.full(node.value, dtype)


def _arith(node: ir.Arith, env: Env) -> Val:
    a, b = ev(node.left, env), ev(node.right, env)
    ok = a.ok & b.ok
    if node.op in ("+", "-", "*"):
        return Val(_BASIC[node.op](a.v, b.v), ok)
    zero = b.v == 0
    safe = np.where(zero, 1, b.v)
    return Val(_DIVIDE[node.op](a.v, safe, node.type), ok & ~zero)


_BASIC: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
}


def _floordiv(a: np.ndarray, b: np.ndarray, t: ir.Type) -> np.ndarray:
    return np.floor_divide(a, b) if t.kind == "int" else np.floor(a / b)


def _mod(a: np.ndarray, b: np.ndarray, t: ir.Type) -> np.ndarray:
    return a - b * _floordiv(a, b, t)


_DIVIDE: dict[str, Callable[[np.ndarray, np.ndarray, ir.Type], np.ndarray]] = {
    "/": lambda a, b, t: a / b,
    "//": _floordiv,
    "%": _mod,
}

_CMP: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


def _cmp(node: ir.Cmp, env: Env) -> Val:
    a, b = ev(node.left, env), ev(node.right, env)
    return Val(_CMP[node.op](a.v, b.v), a.ok & b.ok)


def _logic(node: ir.Logic, env: Env) -> Val:
    a, b = ev(node.left, env), ev(node.right, env)
    if node.op == "and":
        a_eff, b_eff = a.v | ~a.ok, b.v | ~b.ok  # missing counts as true, unless decided by the other
        return Val(a_eff & b_eff, (a.ok & b.ok) | (a.ok & ~a.v) | (b.ok & ~b.v))
    a_eff, b_eff = a.v & a.ok, b.v & b.ok
    return Val(a_eff | b_eff, (a.ok & b.ok) | (a.ok & a.v) | (b.ok & b.v))


def _cond(node: ir.Cond, env: Env) -> Val:
    c, t, o = ev(node.cond, env), ev(node.then, env), ev(node.otherwise, env)
    pick = c.v.astype(bool)
    return Val(np.where(pick, t.v, o.v), c.ok & np.where(pick, t.ok, o.ok))


def _in_values(node: ir.InValues, env: Env) -> Val:
    e = ev(node.elem, env)
    hit = np.isin(e.v, np.array(node.values)) if node.values else np.zeros(env.n, dtype=bool)
    return Val(hit != node.negate, e.ok)


def _set_has(node: ir.SetHas, env: Env) -> Val:
    e, c = ev(node.elem, env), ev(node.container, env)
    code = np.where(e.ok, e.v, 0).astype(np.uint64)
    hit = ((c.v >> code) & np.uint64(1)).astype(bool)
    return Val(hit != node.negate, e.ok & c.ok)


def _list_has(node: ir.ListHas, env: Env) -> Val:
    e, c = ev(node.elem, env), ev(node.container, env)
    hit = (c.v == e.v[:, None]).any(axis=1) & (e.v >= 0)
    return Val(hit != node.negate, e.ok & c.ok)


def _call(node: ir.Call, env: Env) -> Val:
    args = [ev(a, env) for a in node.args]
    return FUNCTION_VALUES[node.func](args, node, env)


def _round(x: np.ndarray) -> np.ndarray:
    if x.dtype.kind in "iu":
        return x.astype(np.int64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def _to_int(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: x.astype(np.int64) if x.dtype.kind in "iu" else fn(x).astype(np.int64)


def _count(x: np.ndarray) -> np.ndarray:
    if x.ndim == 2:
        return (x >= 0).sum(axis=1).astype(np.int64)
    return np.bitwise_count(x).astype(np.int64)


def _mixed(values: list[np.ndarray], t: ir.Type) -> list[np.ndarray]:
    return [v.astype(np.float64) for v in values] if t.kind == "float" else values


def _reduce(fn: Callable[..., np.ndarray]) -> Callable[[list[Val], ir.Call, Env], Val]:
    def run(args: list[Val], node: ir.Call, env: Env) -> Val:
        values = _mixed([a.v for a in args], node.type)
        out = values[0]
        for v in values[1:]:
            out = fn(out, v)
        return Val(out, _and_ok(*args))

    return run


def _unary(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[list[Val], ir.Call, Env], Val]:
    return lambda args, node, env: Val(fn(args[0].v), args[0].ok)


def _clip(args: list[Val], node: ir.Call, env: Env) -> Val:
    x, lo, hi = _mixed([a.v for a in args], node.type)
    return Val(np.minimum(np.maximum(x, lo), hi), _and_ok(*args))


def _dates(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[[list[Val], ir.Call, Env], Val]:
    return lambda args, node, env: Val(fn(args[0].v, args[1].v), _and_ok(*args))


def _age(args: list[Val], node: ir.Call, env: Env) -> Val:
    today = np.full(env.n, env.today, dtype=np.int64)
    return Val(np.floor_divide(months_between(args[0].v, today), 12), args[0].ok)


def _civil_part(part: int) -> Callable[[list[Val], ir.Call, Env], Val]:
    return lambda args, node, env: Val(civil(args[0].v)[part].astype(np.int64), args[0].ok)


def _first(args: list[Val], node: ir.Call, env: Env) -> Val:
    head = args[0].v[:, 0]
    return Val(head, args[0].ok & (head >= 0))


def _coalesce(args: list[Val], node: ir.Call, env: Env) -> Val:
    x, d = _mixed([args[0].v, args[1].v], node.type)
    return Val(np.where(args[0].ok, x, d), args[0].ok | args[1].ok)


def _wish_rank(args: list[Val], node: ir.Call, env: Env) -> Val:
    e, c = args
    hit = (c.v == e.v[:, None]) & (e.v[:, None] >= 0)
    listed = hit.any(axis=1)
    return Val(np.where(listed, hit.argmax(axis=1) + 1, 0).astype(np.int64), e.ok & c.ok & listed)


EXTRA_PERSONS_MAX = 1000  # plafond_ressources counts at most this many persons beyond category 6


def _ceiling(args: list[Val], node: ir.Call, env: Env) -> Val:
    fin, zone, cat, extra = args
    table = env.ceilings(node.args[0].type.domain, node.args[1].type.domain)
    f = np.where(fin.ok, fin.v, 0).clip(0, table.shape[0] - 1)
    z = np.where(zone.ok, zone.v, 0).clip(0, table.shape[1] - 1)
    cells = table[f, z]  # (n, 7)
    c = np.clip(cat.v, 1, 6) - 1
    x = np.clip(extra.v, 0, EXTRA_PERSONS_MAX)
    value = cells[np.arange(env.n), c] + x * cells[:, 6]
    ok = _and_ok(*args) & (cells[:, 0] >= 0)
    return Val(np.where(ok, value, 0), ok)


def _adequation(args: list[Val], node: ir.Call, env: Env) -> Val:
    persons, rooms = args
    lo = np.array([t[0] for t in env.grid.typology], dtype=np.int64)
    hi = np.array([t[1] for t in env.grid.typology], dtype=np.int64)
    k = np.clip(persons.v, 1, len(lo)) - 1
    out = np.where(rooms.v < lo[k], -1, np.where(rooms.v > hi[k], 1, 0)).astype(np.int64)
    return Val(out, _and_ok(*args))


FUNCTION_VALUES: dict[str, Callable[[list[Val], ir.Call, Env], Val]] = {
    "min": _reduce(np.minimum),
    "max": _reduce(np.maximum),
    "abs": _unary(np.abs),
    "clip": _clip,
    "round": _unary(_round),
    "floor": _unary(_to_int(np.floor)),
    "ceil": _unary(_to_int(np.ceil)),
    "days_between": _dates(lambda a, b: b - a),
    "months_between": _dates(months_between),
    "years_between": _dates(lambda a, b: np.floor_divide(months_between(a, b), 12)),
    "age": _age,
    "year": _civil_part(0),
    "month": _civil_part(1),
    "day": _civil_part(2),
    "end_of_month": _unary(end_of_month),
    "add_months": _dates(add_months),
    "count": _unary(_count),
    "first": _first,
    "coalesce": _coalesce,
    "present": lambda args, node, env: Val(args[0].ok.copy(), np.ones(env.n, dtype=bool)),
    "rang_souhait": _wish_rank,
    "plafond_ressources": _ceiling,
    "adequation_typologie": _adequation,
}

_EVAL: dict[str, Callable[..., Val]] = {
    "Const": _const,
    "FieldRef": lambda node, env: env.field(node.name),
    "DwellingRef": lambda node, env: env.dwelling(node.name),
    "VarRef": lambda node, env: env.vars[node.name],
    "DateCalcul": lambda node, env: env.full(env.today, np.int64),
    "Arith": _arith,
    "Neg": lambda node, env: (lambda a: Val(-a.v, a.ok))(ev(node.operand, env)),
    "Cmp": _cmp,
    "Logic": _logic,
    "Not": lambda node, env: (lambda a: Val(~a.v, a.ok))(ev(node.operand, env)),
    "Cond": _cond,
    "InValues": _in_values,
    "SetHas": _set_has,
    "ListHas": _list_has,
    "Call": _call,
}


# -- criteria ------------------------------------------------------------------------------
def _rule_points(rule: ir.Rule, env: Env) -> tuple[np.ndarray, np.ndarray]:
    """(points, applies) of a criterion's rule, before its condition and caps."""
    if isinstance(rule, ir.Fixed):
        p = ev(rule.points, env)
        return p.v.astype(np.int64), p.ok
    value = ev(rule.value, env)
    if isinstance(rule, ir.PerUnit):
        return _per_unit(rule, value), value.ok
    return _bands(rule, value)


def _per_unit(rule: ir.PerUnit, value: Val) -> np.ndarray:
    if value.v.dtype.kind in "iu" and float(rule.unit).is_integer():
        units = np.floor_divide(value.v, int(rule.unit))
    else:
        units = np.floor(value.v / rule.unit).astype(np.int64)
    return units * rule.per_unit


def _bands(rule: ir.Bands, value: Val) -> tuple[np.ndarray, np.ndarray]:
    points = np.zeros(len(value.v), dtype=np.int64)
    matched = np.zeros(len(value.v), dtype=bool)
    for band in rule.bands:
        inside = value.ok & ~matched
        if band.lo is not None:
            inside &= value.v >= band.lo
        if band.hi is not None:
            inside &= value.v < band.hi
        points[inside] = band.points
        matched |= inside
    return points, matched


def criterion_points(c: ir.Criterion, env: Env) -> tuple[np.ndarray, np.ndarray]:
    """(points, met) of one criterion: condition, rule and the criterion's own min/max."""
    points, applies = _rule_points(c.rule, env)
    met = applies
    if c.when is not None:
        w = ev(c.when, env)
        met = met & w.v & w.ok
    if c.min is not None or c.max is not None:
        points = np.clip(points, c.min, c.max)
    return np.where(met, points, 0), met


def trace_points(grid: ir.Grid, batch: object, date_calcul: datetime.date) -> tuple[np.ndarray, ...]:
    """Per criterion (C x N): the points of its rule when met (else 0), after its own min/max, and met:
    the reference twin of the compiled ``trace_rows``."""
    env = Env(grid, batch, date_calcul).compute(grid.variables)
    k, n = len(grid.criteria), env.n
    rule, clipped, met = np.zeros((k, n), np.int64), np.zeros((k, n), np.int64), np.zeros((k, n), bool)
    for j, c in enumerate(grid.criteria):
        clipped[j], met[j] = criterion_points(c, env)
        rule[j] = np.where(met[j], _rule_points(c.rule, env)[0], 0)
    return rule, clipped, met


def apply_rubrics(grid: ir.Grid, points: np.ndarray, met: np.ndarray) -> np.ndarray:
    """Zero every criterion of a rubric except its best met one (the first declared on ties)."""
    out = points.copy()
    for rubric in grid.rubrics:
        idx = list(rubric.members)
        if not idx:
            continue
        candidates = np.where(met[idx], points[idx], NEVER)
        best = np.argmax(candidates, axis=0)
        keep = (np.arange(len(idx))[:, None] == best[None, :]) & met[idx]
        out[idx] = np.where(keep, points[idx], 0)
    return out


def cap_adjustments(grid: ir.Grid, points: np.ndarray) -> np.ndarray:
    """One row per group: what its cap adds (<= 0 for a max, >= 0 for a min)."""
    rows = []
    for group in grid.groups:
        total = (
            points[list(group.members)].sum(axis=0) if group.members else np.zeros(points.shape[1], np.int64)
        )
        rows.append(
            np.clip(total, group.min, group.max) - total
            if (group.min, group.max) != (None, None)
            else np.zeros_like(total)
        )
    return np.array(rows, dtype=np.int64).reshape(len(grid.groups), points.shape[1])


def evaluate(grid: ir.Grid, batch: Batch, date_calcul: datetime.date) -> Scores:
    """Score ``batch`` under ``grid`` on ``date_calcul`` (every date of the batch must be before it)."""
    batch.check_dates(date_calcul)
    env = Env(grid, batch, date_calcul).compute(grid.variables)
    n, k = env.n, len(grid.criteria)
    points = np.zeros((k, n), dtype=np.int64)
    met = np.zeros((k, n), dtype=bool)
    for j, c in enumerate(grid.criteria):
        points[j], met[j] = criterion_points(c, env)
    counted = apply_rubrics(grid, points, met)
    flags = np.zeros((len(grid.priorities), n), dtype=bool)
    for j, p in enumerate(grid.priorities):
        w = ev(p.when, env)
        flags[j] = w.v & w.ok
    prio_rows = [np.where(flags[j], p.points, 0) for j, p in enumerate(grid.priorities) if p.points]
    breakdown = np.concatenate(
        [
            counted,
            np.array(prio_rows, dtype=np.int64).reshape(len(prio_rows), n),
            cap_adjustments(grid, counted),
        ]
    )
    tier = np.zeros(n, dtype=np.int8)
    for j, p in enumerate(grid.priorities):
        if p.tier:
            tier = np.maximum(tier, np.where(flags[j], p.tier, 0).astype(np.int8))
    total = breakdown.sum(axis=0).astype(grid.widths.total)
    bits = np.zeros(n, dtype=grid.widths.flags)
    for j in range(len(grid.priorities)):
        bits |= flags[j].astype(bits.dtype) << bits.dtype.type(j)
    narrow = breakdown.astype(grid.widths.breakdown)
    ranks = Lazy(lambda: rank_of(grid, batch, total, tier))
    return Scores.of(
        grid,
        date_calcul,
        batch.held_ids(),
        total=total,
        flag_bits=bits,
        tier=tier,
        details=Lazy.of((narrow, met)),
        ranks=ranks,
    )

"""Stage 5: generate the source of a grid's scoring kernel, as readable Python text.

:func:`generate_source` walks the typed IR and writes one scalar loop body that scores one
application: every expression node becomes a value local ``v_<k>`` and, when the node can be
missing, a presence local ``m_<k>`` (a node that cannot be missing has no mask: it is ``True``,
folded away). Variables are computed once per row, before the criteria. The semantics are those of
the reference evaluator (:mod:`cotation.reference`), node by node: Kleene ``and``/``or``, division
by zero is missing, floor division and ``%`` as in NumPy, rounding half away from zero, civil-date
month arithmetic, rubrics, group caps, priorities and tiers.

This module only writes text and never imports numba; :mod:`cotation.kernel` builds the text.
Emitters are found by name: ``_emit_<Node>`` for expression nodes, ``_call_<function>`` for calls,
``_rule_<Rule>`` for the ways a criterion computes its points.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from . import ir
from .catalogue import Kind

CODEGEN_VERSION = "1"
KERNEL = "score_kernel"
ROWS = "score_rows"
CHUNK = 4096  # rows per call of the (serial) row function; the entry point runs chunks in parallel
_JIT = 'cache=True, error_model="numpy", nogil=True'
HELPERS = ("_popcount", "_civil", "_months_between", "_months_to", "_round_half_away")
OUTPUTS = ("today", "total", "flags", "tier", "breakdown", "met", "with_breakdown")

TRUE, FALSE = "True", "False"
_INT_KINDS = (Kind.INT, Kind.DATE, Kind.CATEGORY, Kind.COMMUNE)
_FLOAT_KINDS = (Kind.FLOAT, Kind.MONEY)


@dataclass(frozen=True)
class KernelSource:
    """The generated module of one grid.

    The kernel is called as ``score_kernel(*values, *masks, today, total, flags, tier, breakdown,
    met, with_breakdown)``: ``values`` are the columns of ``columns`` (in that order), ``masks`` the
    validity masks of the fields in ``masks``; the outputs are preallocated by the caller.
    """

    text: str
    columns: tuple[str, ...]  # fields whose values the kernel reads, in argument order
    masks: tuple[str, ...]  # fields whose validity masks follow the values, in argument order
    kernel: str  # name of the entry point
    functions: tuple[str, ...]  # every function the module defines
    parallel: bool
    grid_id: str
    grid_hash: str


@dataclass(frozen=True)
class _Slot:
    """What an emitted node left behind: a value and a presence, each a local name or a literal."""

    v: str
    m: str = TRUE


# -- boolean text algebra (constants folded) --------------------------------------------------
def _and(*terms: str) -> str:
    kept = list(dict.fromkeys(t for t in terms if t != TRUE))
    if FALSE in kept:
        return FALSE
    return kept[0] if len(kept) == 1 else ("(" + " & ".join(kept) + ")" if kept else TRUE)


def _or(*terms: str) -> str:
    kept = list(dict.fromkeys(t for t in terms if t != FALSE))
    if TRUE in kept:
        return TRUE
    return kept[0] if len(kept) == 1 else ("(" + " | ".join(kept) + ")" if kept else FALSE)


def _not(term: str) -> str:
    return {TRUE: FALSE, FALSE: TRUE}.get(term, f"(not {term})")


def _literal(value: object, kind: str = "") -> str:
    """Python text of a constant, negative numbers parenthesised."""
    if isinstance(value, bool):
        return TRUE if value else FALSE
    if kind == "float" or isinstance(value, float):
        x = float(value)  # type: ignore[arg-type]
        if math.isnan(x):
            return "np.nan"
        text = ("np.inf" if x > 0 else "(-np.inf)") if math.isinf(x) else repr(x)
    else:
        text = str(int(value))  # type: ignore[call-overload]
    return f"({text})" if text.startswith("-") else text


def _ident(name: str) -> str:
    return re.sub(r"\W", "_", name, flags=re.ASCII)


def _comment(text: str | None) -> str:
    return " ".join(str(text or "").split())


def _clip(x: str, lo: int | None, hi: int | None) -> str:
    if lo is not None:
        x = f"max({x}, {_literal(lo)})"
    return x if hi is None else f"min({x}, {_literal(hi)})"


def _to_float(slot_v: str, node: ir.IExpr, want: ir.Type) -> str:
    """The value of ``node`` converted to float64 when the result type is float (NumPy's join)."""
    return f"np.float64({slot_v})" if want.kind == "float" and node.type.kind != "float" else slot_v


# -- expressions ------------------------------------------------------------------------------
class _Emitter:
    """Writes the loop body, one line at a time; remembers the fields read and the variables."""

    def __init__(self, grid: ir.Grid):
        self.grid = grid
        self.lines: list[str] = []
        self.depth = 2
        self.count = 0
        self.fields: dict[str, bool] = {}  # field -> whether its mask is read
        self.vars: dict[str, _Slot] = {}

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def fresh(self) -> int:
        self.count += 1
        return self.count

    def bind(self, value: str, mask: str = TRUE) -> _Slot:
        """``v_k = value`` and, unless it is a constant or an existing name, ``m_k = mask``."""
        k = self.fresh()
        self.line(f"v_{k} = {value}")
        if mask in (TRUE, FALSE) or mask.isidentifier():
            return _Slot(f"v_{k}", mask)
        self.line(f"m_{k} = {mask}")
        return _Slot(f"v_{k}", f"m_{k}")

    def emit(self, node: ir.IExpr) -> _Slot:
        return getattr(self, f"_emit_{type(node).__name__}")(node)  # type: ignore[no-any-return]

    def loop(self, k: int, matrix: str) -> None:
        self.line(f"for j_{k} in range({matrix}.shape[1]):")

    # leaves
    def _emit_Const(self, node: ir.Const) -> _Slot:
        return _Slot(_literal(node.value, node.type.kind))

    def _emit_FieldRef(self, node: ir.FieldRef) -> _Slot:
        name = _ident(node.name)
        self.fields[node.name] = self.fields.get(node.name, False) or node.nullable
        if self.grid.catalogue[node.name].kind is Kind.COMMUNES:
            return _Slot(f"c_{name}")  # the matrix itself: readers index it with [i, j]
        return _Slot(f"f_{name}", f"fm_{name}" if node.nullable else TRUE)

    def _emit_VarRef(self, node: ir.VarRef) -> _Slot:
        return self.vars[node.name]

    def _emit_DateCalcul(self, node: ir.DateCalcul) -> _Slot:
        return _Slot("today")

    # operators
    def _emit_Arith(self, node: ir.Arith) -> _Slot:
        a, b = self.emit(node.left), self.emit(node.right)
        ok = _and(a.m, b.m)
        if node.op in ("+", "-", "*"):
            return self.bind(f"{a.v} {node.op} {b.v}", ok)
        const = isinstance(node.right, ir.Const) and node.right.value != 0
        safe = b.v if const else f"({b.v} if {b.v} != 0 else 1)"
        ok = ok if const else _and(ok, f"({b.v} != 0)")
        if node.op == "/":
            return self.bind(f"{a.v} / {safe}", ok)
        floor = f"({a.v} // {safe})" if node.type.kind == "int" else f"np.floor({a.v} / {safe})"
        if node.op == "//":
            return self.bind(floor, ok)
        return self.bind(f"{a.v} - {safe} * {floor}", ok)

    def _emit_Neg(self, node: ir.Neg) -> _Slot:
        a = self.emit(node.operand)
        return self.bind(f"-{a.v}", a.m)

    def _emit_Cmp(self, node: ir.Cmp) -> _Slot:
        a, b = self.emit(node.left), self.emit(node.right)
        return self.bind(f"{a.v} {node.op} {b.v}", _and(a.m, b.m))

    def _emit_Logic(self, node: ir.Logic) -> _Slot:
        a, b = self.emit(node.left), self.emit(node.right)
        if node.op == "and":  # false wins over missing
            value = _and(_or(a.v, _not(a.m)), _or(b.v, _not(b.m)))
            ok = _or(_and(a.m, b.m), _and(a.m, _not(a.v)), _and(b.m, _not(b.v)))
        else:  # true wins over missing
            value = _or(_and(a.v, a.m), _and(b.v, b.m))
            ok = _or(_and(a.m, b.m), _and(a.m, a.v), _and(b.m, b.v))
        return self.bind(value, ok)

    def _emit_Not(self, node: ir.Not) -> _Slot:
        a = self.emit(node.operand)
        return self.bind(_not(a.v), a.m)

    def _emit_Cond(self, node: ir.Cond) -> _Slot:
        if node.type == ir.COMMUNES:
            raise TypeError("unreachable: the type checker rejects a conditional over lists of communes")
        c, t, o = self.emit(node.cond), self.emit(node.then), self.emit(node.otherwise)
        tv, ov = _to_float(t.v, node.then, node.type), _to_float(o.v, node.otherwise, node.type)
        picked = t.m if t.m == o.m else f"({t.m} if {c.v} else {o.m})"
        return self.bind(f"{tv} if {c.v} else {ov}", _and(c.m, picked))

    def _emit_InValues(self, node: ir.InValues) -> _Slot:
        e = self.emit(node.elem)
        kind = node.elem.type.kind
        hit = _or(*(f"({e.v} == {_literal(v, kind)})" for v in node.values))
        return self.bind(_not(hit) if node.negate else hit, e.m)

    def _emit_SetHas(self, node: ir.SetHas) -> _Slot:
        e, c = self.emit(node.elem), self.emit(node.container)
        code = f"np.uint64({e.v})" if e.m == TRUE else f"np.uint64({e.v} if {e.m} else 0)"
        hit = f"((({c.v} >> {code}) & np.uint64(1)) != np.uint64(0))"
        return self.bind(_not(hit) if node.negate else hit, _and(e.m, c.m))

    def _emit_ListHas(self, node: ir.ListHas) -> _Slot:
        e, c = self.emit(node.elem), self.emit(node.container)
        k = self.fresh()
        self.line(f"h_{k} = False")
        self.loop(k, c.v)
        self.line(f"    if {c.v}[i, j_{k}] == {e.v}:")
        self.line(f"        h_{k} = True")
        hit = f"(h_{k} & ({e.v} >= 0))"
        return self.bind(_not(hit) if node.negate else hit, _and(e.m, c.m))

    def _emit_Call(self, node: ir.Call) -> _Slot:
        return getattr(self, f"_call_{node.func}")(node)  # type: ignore[no-any-return]

    # functions (one per row of cotation.functions.FUNCTIONS, except date(), folded by the checker)
    def _fold(self, node: ir.Call, fn: str) -> _Slot:
        args = [self.emit(a) for a in node.args]
        values = [_to_float(s.v, a, node.type) for s, a in zip(args, node.args, strict=True)]
        out = values[0]
        for v in values[1:]:
            out = f"{fn}({out}, {v})"
        return self.bind(out, _and(*(s.m for s in args)))

    def _call_min(self, node: ir.Call) -> _Slot:
        return self._fold(node, "min")

    def _call_max(self, node: ir.Call) -> _Slot:
        return self._fold(node, "max")

    def _call_clip(self, node: ir.Call) -> _Slot:
        x, lo, hi = (self.emit(a) for a in node.args)
        xv, lv, hv = (_to_float(s.v, a, node.type) for s, a in zip((x, lo, hi), node.args, strict=True))
        return self.bind(f"min(max({xv}, {lv}), {hv})", _and(x.m, lo.m, hi.m))

    def _unary(self, node: ir.Call, template: str, int_template: str = "{}") -> _Slot:
        a = self.emit(node.args[0])
        form = int_template if node.args[0].type.kind != "float" else template
        return self.bind(form.format(a.v), a.m)

    def _call_abs(self, node: ir.Call) -> _Slot:
        return self._unary(node, "abs({})", "abs({})")

    def _call_round(self, node: ir.Call) -> _Slot:
        return self._unary(node, "_round_half_away({})")

    def _call_floor(self, node: ir.Call) -> _Slot:
        return self._unary(node, "np.int64(np.floor({}))")

    def _call_ceil(self, node: ir.Call) -> _Slot:
        return self._unary(node, "np.int64(np.ceil({}))")

    def _dates(self, node: ir.Call, template: str) -> _Slot:
        a, b = (self.emit(x) for x in node.args)
        return self.bind(template.format(a=a.v, b=b.v), _and(a.m, b.m))

    def _call_days_between(self, node: ir.Call) -> _Slot:
        return self._dates(node, "{b} - {a}")

    def _months(self, node: ir.Call) -> str:
        """Months between the two arguments; date_calcul's calendar date is computed once per chunk."""
        if isinstance(node.args[1], ir.DateCalcul):
            return "_months_to({a}, t_year, t_month, t_day)"
        return "_months_between({a}, {b})"

    def _call_months_between(self, node: ir.Call) -> _Slot:
        return self._dates(node, self._months(node))

    def _call_years_between(self, node: ir.Call) -> _Slot:
        return self._dates(node, self._months(node) + " // 12")

    def _call_age(self, node: ir.Call) -> _Slot:
        birth = self.emit(node.args[0])
        return self.bind(f"_months_to({birth.v}, t_year, t_month, t_day) // 12", birth.m)

    def _call_count(self, node: ir.Call) -> _Slot:
        a = self.emit(node.args[0])
        if node.args[0].type.kind == "set":
            return self.bind(f"_popcount({a.v})", a.m)
        k = self.fresh()
        self.line(f"v_{k} = 0")
        self.loop(k, a.v)
        self.line(f"    if {a.v}[i, j_{k}] >= 0:")
        self.line(f"        v_{k} += 1")
        return _Slot(f"v_{k}", a.m)

    def _call_first(self, node: ir.Call) -> _Slot:
        a = self.emit(node.args[0])
        k = self.fresh()
        self.line(f"v_{k} = np.int64({a.v}[i, 0])")
        self.line(f"m_{k} = {_and(a.m, f'(v_{k} >= 0)')}")
        return _Slot(f"v_{k}", f"m_{k}")

    def _call_present(self, node: ir.Call) -> _Slot:
        return self.bind(self.emit(node.args[0]).m)

    def _call_coalesce(self, node: ir.Call) -> _Slot:
        if node.type == ir.COMMUNES:
            raise TypeError("unreachable: the type checker rejects coalesce() over lists of communes")
        x, d = (self.emit(a) for a in node.args)
        xv, dv = (_to_float(s.v, a, node.type) for s, a in zip((x, d), node.args, strict=True))
        value = xv if x.m == TRUE else f"{xv} if {x.m} else {dv}"
        return self.bind(value, _or(x.m, d.m))


# -- criteria, rubrics, groups, priorities ------------------------------------------------------
def _rule_Fixed(em: _Emitter, j: int, rule: ir.Fixed) -> str:
    p = em.emit(rule.points)
    em.line(f"pts_{j} = {p.v}")
    return p.m


def _rule_PerUnit(em: _Emitter, j: int, rule: ir.PerUnit) -> str:
    x = em.emit(rule.value)
    if rule.value.type.kind == "int" and float(rule.unit).is_integer():
        units = x.v if rule.unit == 1 else f"({x.v} // {_literal(int(rule.unit))})"
    else:
        units = f"np.int64(np.floor({x.v} / {_literal(float(rule.unit), 'float')}))"
    em.line(f"pts_{j} = {units} * {_literal(rule.per_unit)}")
    return x.m


def _rule_Bands(em: _Emitter, j: int, rule: ir.Bands) -> str:
    x = em.emit(rule.value)
    em.line(f"pts_{j} = 0")
    em.line(f"ok_{j} = False")
    if x.m != TRUE:
        em.line(f"if {x.m}:")
        em.depth += 1
    for b, band in enumerate(rule.bands):
        tests = ([f"{x.v} >= {_literal(band.lo)}"] if band.lo is not None else []) + (
            [f"{x.v} < {_literal(band.hi)}"] if band.hi is not None else [])
        em.line(f"{'elif' if b else 'if'} {' and '.join(tests) or TRUE}:  # band {b + 1}")
        em.line(f"    pts_{j} = {_literal(band.points)}")
        em.line(f"    ok_{j} = True")
    if x.m != TRUE:
        em.depth -= 1
    return f"ok_{j}"


_RULES = {"Fixed": _rule_Fixed, "PerUnit": _rule_PerUnit, "Bands": _rule_Bands}


def _criterion(em: _Emitter, j: int, c: ir.Criterion) -> None:
    em.line(f"# [{j}] {c.id}: {_describe(c)}")
    applies = _RULES[type(c.rule).__name__](em, j, c.rule)  # type: ignore[operator]
    when = em.emit(c.when) if c.when is not None else _Slot(TRUE)
    em.line(f"met_{j} = {_and(applies, when.v, when.m)}")
    em.line(f"p_{j} = {_clip(f'pts_{j}', c.min, c.max)} if met_{j} else 0")


def _rubric(em: _Emitter, r: int, rubric: ir.Rubric, counted: list[str]) -> None:
    """Only the best met member counts (the first declared on ties)."""
    em.line(f"# rubric {rubric.id}: only the best met criterion counts")
    em.line(f"best_{r} = -1")
    em.line(f"bestp_{r} = 0")
    for j in rubric.members:
        em.line(f"if met_{j} and (best_{r} < 0 or p_{j} > bestp_{r}):")
        em.line(f"    best_{r} = {j}")
        em.line(f"    bestp_{r} = p_{j}")
    for j in rubric.members:
        em.line(f"k_{j} = p_{j} if best_{r} == {j} else 0")
        counted[j] = f"k_{j}"


def _group(em: _Emitter, g: int, group: ir.Group, counted: list[str]) -> str:
    em.line(f"# group {group.id}: capped to [{group.min}, {group.max}]")
    em.line(f"g_{g} = {' + '.join(counted[j] for j in group.members) or '0'}")
    if group.min is None and group.max is None:
        return "0"
    em.line(f"cap_{g} = {_clip(f'g_{g}', group.min, group.max)} - g_{g}")
    return f"cap_{g}"


def _priority(em: _Emitter, j: int, p: ir.Priority) -> str | None:
    em.line(f"# priority [{j}] {p.id}: {_comment(p.when_source)}")
    w = em.emit(p.when)
    em.line(f"fl_{j} = {_and(w.v, w.m)}")
    em.line(f"flags[i, {j}] = fl_{j}")
    if p.tier:
        em.line(f"if fl_{j}:")
        em.line(f"    tier_ = max(tier_, {_literal(p.tier)})")
    if not p.points:
        return None
    em.line(f"pp_{j} = {_literal(p.points)} if fl_{j} else 0")
    return f"pp_{j}"


def _describe(c: ir.Criterion) -> str:
    rule = {"Fixed": "points", "PerUnit": "per_unit", "Bands": "bands"}[type(c.rule).__name__]
    when = f"when {_comment(c.when_source)}; " if c.when_source else ""
    return f"{when}{rule} {_comment(c.points_source)}"


def _body(em: _Emitter) -> list[str]:
    """The scalar body for row ``i``: variables, criteria, rubrics, priorities, caps, outputs."""
    grid = em.grid
    for var in grid.variables:
        em.line(f"# variable {var.name} = {_comment(var.source)}")
        em.vars[var.name] = em.emit(var.expr)
    for j, c in enumerate(grid.criteria):
        _criterion(em, j, c)
    counted = [f"p_{j}" for j in range(len(grid.criteria))]
    for r, rubric in enumerate(grid.rubrics):
        _rubric(em, r, rubric, counted)
    em.line("tier_ = 0")
    prio = [_priority(em, j, p) for j, p in enumerate(grid.priorities)]
    caps = [_group(em, g, group, counted) for g, group in enumerate(grid.groups)]
    columns = counted + [x for x in prio if x is not None] + caps
    em.line("# outputs")
    em.line(f"total[i] = {' + '.join(columns) or '0'}")
    em.line("tier[i] = tier_")
    em.line("if with_breakdown:")
    for j in range(len(grid.criteria)):
        em.line(f"    met[i, {j}] = met_{j}")
    for j, col in enumerate(columns):
        em.line(f"    breakdown[i, {j}] = {col}")
    if not grid.criteria and not columns:
        em.line("    pass")
    return em.lines


# -- the module ----------------------------------------------------------------------------
_HELPER_TEXT = '''
_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)


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
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
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
def _round_half_away(x):
    """Nearest integer, halves away from zero."""
    r = np.floor(abs(x) + 0.5)
    return np.int64(-r if x < 0 else r)
'''


def _header(grid: ir.Grid, parallel: bool) -> list[str]:
    meta = grid.meta
    out = [f"# Scoring kernel of grid '{meta.id}' (version {meta.version or '-'}), "
           f"generated by cotation.codegen {CODEGEN_VERSION}: do not edit.",
           f"# grid content hash: {grid.content_hash}",
           f"# file: {_comment(meta.file)}",
           f"# parallel: {parallel}; date_calcul is the argument 'today' (days since 1970-01-01)",
           "# criteria (breakdown columns, in order):"]
    out += [f"#   [{j}] {c.id}: {_describe(c)}" for j, c in enumerate(grid.criteria)]
    out.append("# priorities:")
    for j, p in enumerate(grid.priorities):
        extra = (f" (points {p.points})" if p.points else "") + (f" (tier {p.tier})" if p.tier else "")
        out.append(f"#   [{j}] {p.id}: {_comment(p.when_source)}{extra}")
    out.append("# breakdown columns: " + ", ".join(col.id for col in grid.columns))
    return [*out, "", "import numba", "import numpy as np"]


def _reads(grid: ir.Grid, em: _Emitter, columns: tuple[str, ...]) -> list[str]:
    out = []
    for name in columns:
        kind, ident = grid.catalogue[name].kind, _ident(name)
        if kind is Kind.COMMUNES:
            continue
        read = f"c_{ident}[i]"
        cast = "np.int64" if kind in _INT_KINDS else "np.float64" if kind in _FLOAT_KINDS else None
        out.append(f"        f_{ident} = {f'{cast}({read})' if cast else read}")
        if em.fields[name]:
            out.append(f"        fm_{ident} = valid_{ident}[i]")
    return out


def _wrapped(head: str, args: list[str], tail: str) -> list[str]:
    """``head(arg, arg, ...)tail`` folded at 100 columns, continuation lines aligned."""
    lines, current = [], head + "("
    for a in args:
        if len(current) + len(a) > 100:
            lines.append(current.rstrip())
            current = " " * (len(head) + 1)
        current += a + ", "
    return [*lines, current[:-2] + ")" + tail]


def _functions(columns: tuple[str, ...], masks: tuple[str, ...],
               parallel: bool) -> tuple[list[str], list[str]]:
    """The row function's head (the body follows) and the entry point that drives it."""
    args = [f"c_{_ident(n)}" for n in columns] + [f"valid_{_ident(n)}" for n in masks] + list(OUTPUTS)
    rows = [f"@numba.njit({_JIT})", *_wrapped(f"def {ROWS}", [*args, "start", "stop"], ":"),
            '    """Score rows start..stop-1: total, tier, flags; met and breakdown if with_breakdown."""',
            "    t_year, t_month, t_day = _civil(today)",
            "    for i in range(start, stop):"]
    call = _wrapped(f"{ROWS}", [*args, "start", "min(start + CHUNK, n)"], "")
    driver = [f"@numba.njit(parallel={parallel}, {_JIT})", *_wrapped(f"def {KERNEL}", args, ":"),
              f'    """Score every row, in chunks of CHUNK rows{" run in parallel" if parallel else ""}."""',
              "    n = total.shape[0]",
              f"    for chunk in {'numba.prange' if parallel else 'range'}((n + CHUNK - 1) // CHUNK):",
              "        start = chunk * CHUNK",
              *("        " + line for line in call)]
    return rows, driver


def generate_source(grid: ir.Grid, *, parallel: bool = True) -> KernelSource:
    """The kernel module of ``grid``: readable Python text for Numba, and how to call it."""
    em = _Emitter(grid)
    body = _body(em)
    columns = tuple(f.name for f in grid.catalogue if f.name in em.fields)
    masks = tuple(n for n in columns if em.fields[n])
    rows, driver = _functions(columns, masks, parallel)
    text = "\n".join([*_header(grid, parallel), _HELPER_TEXT, f"CHUNK = {CHUNK}", "", "", *rows,
                       *_reads(grid, em, columns), *body, "", "", *driver, ""])
    return KernelSource(text, columns, masks, KERNEL, (*HELPERS, ROWS, KERNEL), parallel, grid.meta.id,
                        grid.content_hash)

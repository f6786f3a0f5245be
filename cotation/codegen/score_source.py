"""Stage 5: generate the source of a grid's scoring kernels, as readable Python text.

:func:`generate_source` walks the typed IR and writes a module with two kernels:

- ``score_rows``: total, priority flags (one bit each) and tier. One fused loop over the rows of a
  chunk, branch-free, with only three stores per row so that LLVM vectorises it.
- ``breakdown_rows``: the same plus the breakdown and the ``met`` matrix, stored criterion-major
  (``C x N``). Within a chunk of rows, one small loop per criterion writes one contiguous row of
  the breakdown; a last loop applies rubrics and group caps and sums the total.

Both are serial functions over rows ``start..stop-1`` that release the GIL; :mod:`cotation.scoring.compiled`
runs slices of rows in threads. The scalar helpers they call live in :mod:`cotation.codegen.helpers`.
  A single loop writing every column would not vectorise (shared/perf-notes.md §2.5).

Every expression node becomes a value local ``v_<k>`` and, when the node can be missing, a presence
local ``m_<k>`` (a node that cannot be missing has no mask: it is ``True``, folded away). Fields
and variables are read or computed in each loop where they are first used. The semantics are those
of the reference evaluator (:mod:`cotation.scoring.reference`), node by node: Kleene ``and``/``or``,
division by zero is missing, floor division and ``%`` as in NumPy, rounding half away from zero,
civil-date month arithmetic, rubrics, group caps, priorities and tiers. Integer floor division by a
positive constant is written ``_fdiv`` (a float multiply, exact for the operands' proven bounds, see
:mod:`cotation.grid.bounds`) because 64-bit integer division does not vectorise.

This module only writes text and never imports numba; :mod:`cotation.scoring.compiled` builds the text.
Emitters are found by name: ``_emit_<Node>`` for expression nodes, ``_call_<function>`` for calls,
``_rule_<Rule>`` for the ways a criterion computes its points.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..grid import ir
from ..grid.bounds import analyzer
from ..grid.catalogue import Kind

CODEGEN_VERSION = "3"
ROWS = "score_rows"
BREAKDOWN_ROWS = "breakdown_rows"
TRACE_ROWS = "trace_rows"
CHUNK = 4096  # rows per inner chunk of the breakdown function (its rows stay in the L2 cache)
_JIT = 'cache=True, error_model="numpy", nogil=True'
OUTPUTS = ("points", "cal", "cal_lo", "today", "total", "flags", "tier")
BREAKDOWN_OUTPUTS = (*OUTPUTS, "breakdown", "met")
TRACE_OUTPUTS = ("points", "cal", "cal_lo", "today", "rule", "clipped", "met")
_FDIV_LIMIT = 2**50  # _fdiv is exact for |x| below this

TRUE, FALSE = "True", "False"
_INT_KINDS = (Kind.INT, Kind.DATE, Kind.CATEGORY, Kind.COMMUNE)
_FLOAT_KINDS = (Kind.FLOAT, Kind.MONEY)


@dataclass(frozen=True)
class KernelSource:
    """The generated module of one grid.

    The kernels are called as ``score_rows(*values, *masks, points, cal, cal_lo, today, total, flags,
    tier, start, stop)`` and ``breakdown_rows(..., tier, breakdown, met, start, stop)`` on the rows
    ``start..stop-1``: ``points`` is the tuple ``parameters`` (int64), the grid's point values
    (fixed points, per-unit rates, criterion and group caps, priority points: ``points[k]`` in the
    source, named by ``parameter_names``), so that the source does not change when only they do
    (band points and points written as expressions stay in the source); ``cal`` is
    :func:`cotation.dates.calendar_table` from day ``cal_lo``, covering today and every stored value
    of the fields in ``calendar``; ``values`` are the columns of ``columns`` (in that order),
    ``masks`` the validity masks of the fields in ``masks``; the outputs are preallocated by the caller: ``total`` (``widths.total``), ``flags``
    (``widths.flags``, bit j = priority j), ``tier`` (int8), ``breakdown`` (``C x N``,
    ``widths.breakdown``) and ``met`` (``K x N`` bool).
    """

    text: str
    columns: tuple[str, ...]  # fields whose values the kernels read, in argument order
    masks: tuple[str, ...]  # fields whose validity masks follow the values, in argument order
    calendar: tuple[str, ...]  # date fields read through the calendar table ``cal`` (day ``cal_lo`` first)
    kernel: str  # name of the function for total, flags and tier
    breakdown_kernel: str  # name of the function that also fills breakdown and met
    functions: tuple[str, ...]  # the functions the module defines (helpers: cotation.codegen.helpers)
    grid_id: str
    grid_hash: str
    widths: ir.Widths
    parameters: tuple[int, ...] = ()  # the values of points[0], points[1], ... for this grid
    parameter_names: tuple[str, ...] = ()  # e.g. "points of criterion [3] dalo"


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


def _at(width: int, j: int) -> str:
    """Index of column j of row i in a flattened row-major matrix of ``width`` columns (unsigned)."""
    return f"i * np.uint64({width}) + np.uint64({j})"


def _ident(name: str) -> str:
    return re.sub(r"\W", "_", name, flags=re.ASCII)


def _comment(text: str | None) -> str:
    return " ".join(str(text or "").split())


def _times(x: str, flag: str) -> str:
    """``x`` when ``flag`` holds, else 0, as a product: a conditional expression is a branch in
    Numba's IR, and a kernel with hundreds of them compiles much more slowly (40-criterion grid:
    about 2.2 -> 1.5 s); LLVM turns the product into the same select. Exact: ``x`` is an integer
    (a garbage value from a missing input times 0 is still 0)."""
    return x if flag == TRUE else ("0" if flag == FALSE else f"({x}) * {flag}")


def _clip(x: str, lo: str | None, hi: str | None) -> str:
    """``x`` clipped to [lo, hi] (each bound the text of a value, or None)."""
    if lo is not None:
        x = f"max({x}, {lo})"
    return x if hi is None else f"min({x}, {hi})"


def _bounds(em: _Emitter, what: str, j: int, lo: int | None, hi: int | None) -> tuple[str | None, str | None]:
    """The min/max of criterion or group j as parameters (None where absent)."""
    return (None if lo is None else em.param(f"{what}_min", j, lo),
            None if hi is None else em.param(f"{what}_max", j, hi))


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
        self.fields: dict[str, bool] = {}  # field -> whether its mask is read (in any loop)
        self.var_defs = {v.name: v for v in grid.variables}
        self.calendar: set[str] = set()  # date fields read through the calendar table
        self.uses_typology = False  # adequation_typologie() reads the TYPO_LO/TYPO_HI constants
        self.bounds = analyzer(grid)
        self.params: dict[tuple[str, int], tuple[int, int]] | None = None  # see param()
        self.begin_loop()

    def param(self, what: str, j: int, value: int) -> str:
        """A point value of the grid: a literal, or, in the scoring module, ``points[k]``, an element of
        the kernels' ``points`` argument (a tuple), so that grids which differ only in point values have the
        same source, hence share one compiled (and cached) kernel. ``what``/``j`` name the value
        (e.g. ("criterion_max", 3): the cap of criterion 3); k follows the order of first use."""
        if self.params is None:
            return _literal(value)
        if (what, j) not in self.params:
            self.params[(what, j)] = (len(self.params), int(value))
        return f"points[{self.params[(what, j)][0]}]"

    def begin_loop(self) -> None:
        """A new loop over rows: fields and variables are read and computed again where first used."""
        self.vars: dict[str, _Slot] = {}
        self.read: set[str] = set()
        self.done: dict[ir.IExpr, _Slot] = {}  # nodes already emitted in this loop (equal subtrees computed once)

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
        """The slot of ``node``, emitted once per loop: an equal subtree (spans aside) reuses it, which is
        sound because a loop body is straight-line code emitted in execution order."""
        slot = self.done.get(node)
        if slot is None:
            slot = getattr(self, f"_emit_{type(node).__name__}")(node)
            self.done[node] = slot
        return slot  # type: ignore[no-any-return]

    # leaves
    def _emit_Const(self, node: ir.Const) -> _Slot:
        return _Slot(_literal(node.value, node.type.kind))

    def _emit_FieldRef(self, node: ir.FieldRef) -> _Slot:
        name, kind = _ident(node.name), self.grid.catalogue[node.name].kind
        self.fields[node.name] = self.fields.get(node.name, False) or node.nullable
        if kind is Kind.COMMUNES:
            return _Slot(f"c_{name}")  # the row-major matrix, flattened: readers index it with _at(i, j)
        if node.name not in self.read:
            self.read.add(node.name)
            cast = "np.int64" if kind in _INT_KINDS else "np.float64" if kind in _FLOAT_KINDS else None
            self.line(f"f_{name} = {cast}(c_{name}[i])" if cast else f"f_{name} = c_{name}[i]")
        if node.nullable and f"?{node.name}" not in self.read:
            self.read.add(f"?{node.name}")
            self.line(f"fm_{name} = _valid(valid_{name}, i)")
        return _Slot(f"f_{name}", f"fm_{name}" if node.nullable else TRUE)

    def _emit_VarRef(self, node: ir.VarRef) -> _Slot:
        if node.name not in self.vars:
            var = self.var_defs[node.name]
            self.line(f"# variable {var.name} = {_comment(var.source)}")
            self.vars[node.name] = self.emit(var.expr)
        return self.vars[node.name]

    def small(self, node: ir.IExpr) -> bool:
        """Whether an integer node is provably within the range where _fdiv is exact."""
        b = self.bounds.of(node)
        return -_FDIV_LIMIT < b.lo and b.hi < _FDIV_LIMIT

    def width(self, node: ir.IExpr) -> int:
        """Number of columns of a list of communes (the catalogue's width of the field)."""
        assert isinstance(node, ir.FieldRef), "the type checker only lets fields be lists of communes"
        return self.grid.catalogue[node.name].width

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
        if node.type.kind == "int" and const and node.right.value > 0 and self.small(node.left):  # type: ignore[union-attr, operator]
            floor = f"_fdiv({a.v}, {b.v})"
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
        w = self.width(node.container)
        terms = [f"({c.v}[{_at(w, j)}] == {e.v})" for j in range(w)]
        self.line(f"h_{k} = {_or(*terms)}")  # unrolled over the list's width: no inner loop
        hit = f"(h_{k} & ({e.v} >= 0))"
        return self.bind(_not(hit) if node.negate else hit, _and(e.m, c.m))

    def _emit_Call(self, node: ir.Call) -> _Slot:
        return getattr(self, f"_call_{node.func}")(node)  # type: ignore[no-any-return]

    # functions (one per row of cotation.grid.functions.FUNCTIONS, except date(), folded by the checker)
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

    def _years(self, node: ir.Call) -> str:
        return f"_fdiv({self._months(node)}, 12)"

    def _months(self, node: ir.Call) -> str:
        """Months between the two arguments: from the calendar table when both are date fields or
        date_calcul (one gather each), else by civil-date arithmetic."""
        a, b = (self._calendar(x) for x in node.args)
        if a is not None and b is not None:
            return f"_cal_months({a}, {b})"
        if isinstance(node.args[1], ir.DateCalcul):
            return "_months_to({a}, t_year, t_month, t_day)"
        return "_months_between({a}, {b})"

    def _calendar(self, node: ir.IExpr) -> str | None:
        """The packed calendar entry of a date field or date_calcul (see cotation.dates.calendar_table)."""
        if isinstance(node, ir.DateCalcul):
            return "t_cal"
        if isinstance(node, ir.FieldRef) and self.grid.catalogue[node.name].kind is Kind.DATE:
            self.calendar.add(node.name)
            return f"kb_{_ident(node.name)}[i - us]"  # gathered before the loop (see _calendar_loops)
        return None

    def _call_months_between(self, node: ir.Call) -> _Slot:
        return self._dates(node, self._months(node))

    def _call_years_between(self, node: ir.Call) -> _Slot:
        return self._dates(node, self._years(node))

    def _call_age(self, node: ir.Call) -> _Slot:
        birth = self.emit(node.args[0])
        packed = self._calendar(node.args[0])
        months = (f"_cal_months({packed}, t_cal)" if packed is not None
                  else f"_months_to({birth.v}, t_year, t_month, t_day)")
        return self.bind(f"_fdiv({months}, 12)", birth.m)

    def _call_count(self, node: ir.Call) -> _Slot:
        a = self.emit(node.args[0])
        if node.args[0].type.kind == "set":
            return self.bind(f"_popcount({a.v})", a.m)
        k = self.fresh()
        w = self.width(node.args[0])
        terms = [f"np.int64({a.v}[{_at(w, j)}] >= 0)" for j in range(w)]
        self.line(f"v_{k} = {' + '.join(terms) or '0'}")
        return _Slot(f"v_{k}", a.m)

    def _call_first(self, node: ir.Call) -> _Slot:
        a = self.emit(node.args[0])
        k = self.fresh()
        self.line(f"v_{k} = np.int64({a.v}[{_at(self.width(node.args[0]), 0)}])")
        self.line(f"m_{k} = {_and(a.m, f'(v_{k} >= 0)')}")
        return _Slot(f"v_{k}", f"m_{k}")

    def _call_adequation_typologie(self, node: ir.Call) -> _Slot:
        persons, rooms = (self.emit(a) for a in node.args)
        self.uses_typology = True
        return self.bind(f"_adequation({persons.v}, {rooms.v}, TYPO_LO, TYPO_HI)", _and(persons.m, rooms.m))

    def _call_rang_souhait(self, node: ir.Call) -> _Slot:
        e, c = (self.emit(a) for a in node.args)
        w = self.width(node.args[1])
        rank = "0"
        for j in reversed(range(w)):  # the first position that holds the commune, unrolled
            rank = f"{j + 1} if {c.v}[{_at(w, j)}] == {e.v} else {rank}" if rank != "0" else \
                f"{j + 1} if {c.v}[{_at(w, j)}] == {e.v} else 0"
        k = self.fresh()
        self.line(f"v_{k} = np.int64({rank})")
        self.line(f"m_{k} = {_and(e.m, c.m, f'(v_{k} > 0)', f'({e.v} >= 0)')}")
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
    if _constant_points(rule):
        em.line(f"pts_{j} = {em.param('points', j, rule.points.value)}")  # type: ignore[attr-defined]
        return TRUE
    p = em.emit(rule.points)
    em.line(f"pts_{j} = {p.v}")
    return p.m


def _rule_PerUnit(em: _Emitter, j: int, rule: ir.PerUnit) -> str:
    x = em.emit(rule.value)
    if rule.value.type.kind == "int" and float(rule.unit).is_integer():
        unit = int(rule.unit)
        divide = f"_fdiv({x.v}, {unit})" if em.small(rule.value) else f"({x.v} // {_literal(unit)})"
        units = x.v if unit == 1 else divide
    else:
        units = f"np.int64(np.floor({x.v} / {_literal(float(rule.unit), 'float')}))"
    em.line(f"pts_{j} = {units} * {em.param('per_unit', j, rule.per_unit)}")
    return x.m


def _rule_Bands(em: _Emitter, j: int, rule: ir.Bands) -> str:
    """Branch-free: the points of the first band that holds the value (bands do not overlap)."""
    x = em.emit(rule.value)
    tests = []
    for band in rule.bands:
        parts = ([f"({x.v} >= {_literal(band.lo)})"] if band.lo is not None else []) + (
            [f"({x.v} < {_literal(band.hi)})"] if band.hi is not None else [])
        tests.append(_and(*parts))
    # at most one band holds (E304: bands do not overlap), so the sum of points x test is its points
    terms = [_literal(band.points) if test == TRUE else f"{_literal(band.points)} * {test}"
             for test, band in zip(tests, rule.bands, strict=True) if band.points != 0]
    em.line(f"pts_{j} = {' + '.join(terms) or '0'}  # bands: {', '.join(_band_text(b) for b in rule.bands)}")
    em.line(f"ok_{j} = {_and(x.m, _or(*tests))}")
    return f"ok_{j}"


def _band_text(band: ir.Band) -> str:
    lo = "" if band.lo is None else f"{band.lo:g} <= "
    hi = "" if band.hi is None else f" < {band.hi:g}"
    return f"{lo}x{hi}: {band.points}"


_RULES = {"Fixed": _rule_Fixed, "PerUnit": _rule_PerUnit, "Bands": _rule_Bands}


def _criterion(em: _Emitter, j: int, c: ir.Criterion) -> None:
    em.line(f"# [{j}] {c.id}: {_describe(c, em, j)}")
    applies = _RULES[type(c.rule).__name__](em, j, c.rule)  # type: ignore[operator]
    when = em.emit(c.when) if c.when is not None else _Slot(TRUE)
    em.line(f"met_{j} = {_and(applies, when.v, when.m)}")
    em.line(f"p_{j} = {_times(_clip(f'pts_{j}', *_bounds(em, 'criterion', j, c.min, c.max)), f'met_{j}')}")


def _rubric(em: _Emitter, r: int, rubric: ir.Rubric, counted: list[str]) -> None:
    """Only the best met member counts (the first declared on ties); branch-free selects."""
    em.line(f"# rubric {rubric.id}: only the best met criterion counts")
    em.line(f"best_{r} = -1")
    em.line(f"bestp_{r} = 0")
    for j in rubric.members:
        em.line(f"take_{j} = met_{j} & ((best_{r} < 0) | (p_{j} > bestp_{r}))")
        em.line(f"best_{r} = best_{r} + ({j} - best_{r}) * take_{j}")
        em.line(f"bestp_{r} = bestp_{r} + (p_{j} - bestp_{r}) * take_{j}")
    for j in rubric.members:
        em.line(f"k_{j} = p_{j} * (best_{r} == {j})")
        counted[j] = f"k_{j}"


def _group(em: _Emitter, g: int, group: ir.Group, counted: list[str]) -> str:
    em.line(f"# group {group.id}: capped to [{group.min}, {group.max}]")
    em.line(f"g_{g} = {' + '.join(counted[j] for j in group.members) or '0'}")
    if group.min is None and group.max is None:
        return "0"
    em.line(f"cap_{g} = {_clip(f'g_{g}', *_bounds(em, 'group', g, group.min, group.max))} - g_{g}")
    return f"cap_{g}"


def _priority(em: _Emitter, j: int, p: ir.Priority) -> str | None:
    """Sets bit j of the flags, raises the tier; returns the local of its points, if it has any."""
    em.line(f"# priority [{j}] {p.id}: {_comment(p.when_source)}")
    w = em.emit(p.when)
    em.line(f"fl_{j} = {_and(w.v, w.m)}")
    em.line(f"fb = fb | (np.uint64(fl_{j}) << np.uint64({j}))")
    if p.tier:
        em.line(f"tier_ = max(tier_, {_literal(p.tier)} * fl_{j})")
    if not p.points:
        return None
    em.line(f"pp_{j} = {em.param('priority', j, p.points)} * fl_{j}")
    return f"pp_{j}"


def _describe(c: ir.Criterion, em: _Emitter, j: int) -> str:
    """Criterion j as written; fixed points that are a parameter of the module as ``points[k]``."""
    rule = {"Fixed": "points", "PerUnit": "per_unit", "Bands": "bands"}[type(c.rule).__name__]
    when = f"when {_comment(c.when_source)}; " if c.when_source else ""
    if em.params is not None and _constant_points(c.rule):
        return f"{when}{em.param('points', j, c.rule.points.value)}"  # type: ignore[union-attr]
    return f"{when}{rule} {_comment(c.points_source)}"


def _constant_points(rule: ir.Rule) -> bool:
    """A fixed number of points (an integer literal): a parameter of the scoring module."""
    return isinstance(rule, ir.Fixed) and isinstance(rule.points, ir.Const) and rule.points.type.kind == "int"


def _priorities(em: _Emitter) -> list[str | None]:
    em.line("fb = np.uint64(0)")
    em.line("tier_ = 0")
    return [_priority(em, j, p) for j, p in enumerate(em.grid.priorities)]


def _row_loop(em: _Emitter, comment: str, depth: int = 1, rows: str = "start, stop") -> None:
    """Open a loop over rows; the unsigned index lets LLVM vectorise it (shared/perf-notes.md §2.5)."""
    em.begin_loop()
    em.depth = depth
    em.line(f"# {comment}")
    em.line(f"for i0 in range({rows}):")
    em.depth = depth + 1
    em.line("i = np.uint64(i0)")


_CALENDAR = "#@calendar"


def _chunks(em: _Emitter) -> None:
    """Open the loop over chunks of CHUNK rows; the calendar look-ups of the chunk come first."""
    em.depth = 1
    em.line("for s in range(start, stop, CHUNK):")
    em.line("    e = min(s + CHUNK, stop)")
    em.line("    us = np.uint64(s)")
    em.line(_CALENDAR)


def _calendar_loops(lines: list[str], fields: list[str]) -> list[str]:
    """Replace the placeholders: a buffer per date field read through the calendar table, allocated
    once, and filled for each chunk by a gather loop of its own. A gather inside the main loop would
    stop LLVM from vectorising it (it cannot bound the table's addresses for its overlap checks)."""
    allocate = [f"    kb_{_ident(n)} = np.empty(CHUNK, np.int64)" for n in fields]
    out = allocate[:]
    for line in lines:
        if line.strip() != _CALENDAR:
            out.append(line)
            continue
        for n in fields:
            out += [f"        for i0 in range(s, e):  # calendar entries of {n}",
                    f"            kb_{_ident(n)}[i0 - s] = cal[np.uint64(c_{_ident(n)}[i0] - cal_lo)]"]
    return out


def _fused_body(em: _Emitter) -> list[str]:
    """score_rows: one loop computing total, flags and tier of each row (no breakdown)."""
    grid = em.grid
    _chunks(em)
    _row_loop(em, "one fused loop: total, flags and tier", 2, "s, e")
    for j, c in enumerate(grid.criteria):
        _criterion(em, j, c)
    counted = [f"p_{j}" for j in range(len(grid.criteria))]
    for r, rubric in enumerate(grid.rubrics):
        _rubric(em, r, rubric, counted)
    prio = _priorities(em)
    caps = [_group(em, g, group, counted) for g, group in enumerate(grid.groups)]
    columns = counted + [x for x in prio if x is not None] + caps
    em.line("# outputs")
    em.line(f"total[i] = {' + '.join(columns) or '0'}")
    em.line("flags[i] = fb")
    em.line("tier[i] = tier_")
    return em.lines


def _breakdown_body(em: _Emitter) -> list[str]:
    """breakdown_rows: one loop per criterion writing its row of breakdown and met, then the rest."""
    grid = em.grid
    _chunks(em)
    for j, c in enumerate(grid.criteria):
        _row_loop(em, f"criterion [{j}] {c.id}", 2, "s, e")
        _criterion(em, j, c)
        em.line(f"breakdown[{j}, i] = p_{j}")
        em.line(f"met[{j}, i] = met_{j}")
    ncrit, prio_cols = len(grid.criteria), [j for j, p in enumerate(grid.priorities) if p.points]
    _row_loop(em, "priorities: flags, tier and their points", 2, "s, e")
    prio = _priorities(em)
    for col, j in enumerate(prio_cols, start=ncrit):
        em.line(f"breakdown[{col}, i] = {prio[j]}")
    em.line("flags[i] = fb")
    em.line("tier[i] = tier_")
    _row_loop(em, "rubrics, group caps and the total, from the chunk's rows of breakdown", 2, "s, e")
    counted = [f"np.int64(breakdown[{j}, i])" for j in range(ncrit)]
    in_rubric = {j for r in grid.rubrics for j in r.members}
    for j in sorted(in_rubric):
        em.line(f"p_{j} = np.int64(breakdown[{j}, i])")
        em.line(f"met_{j} = met[{j}, i]")
    for r, rubric in enumerate(grid.rubrics):
        _rubric(em, r, rubric, counted)
    for j in sorted(in_rubric):
        em.line(f"breakdown[{j}, i] = k_{j}")
    first_cap = ncrit + len(prio_cols)
    caps = [_group(em, g, group, counted) for g, group in enumerate(grid.groups)]
    for g, cap in enumerate(caps):
        em.line(f"breakdown[{first_cap + g}, i] = {cap}")
    columns = counted + [f"np.int64(breakdown[{c}, i])" for c in range(ncrit, first_cap)] + caps
    em.line(f"total[i] = {' + '.join(columns) or '0'}")
    return em.lines


def _trace_body(em: _Emitter) -> list[str]:
    """trace_rows: per criterion, the points of its rule, after its own min/max, and whether it is met
    (before rubrics and group caps): what an explanation shows, from the same code as the scores."""
    _chunks(em)
    for j, c in enumerate(em.grid.criteria):
        _row_loop(em, f"criterion [{j}] {c.id}", 2, "s, e")
        _criterion(em, j, c)
        em.line(f"rule[{j}, i] = {_times(f'pts_{j}', f'met_{j}')}")
        em.line(f"clipped[{j}, i] = p_{j}")
        em.line(f"met[{j}, i] = met_{j}")
    return em.lines


# -- the module ----------------------------------------------------------------------------
_HELPER_IMPORT = ("from cotation.codegen.helpers import (_adequation, _cal_months, _civil, _fdiv, _months_between,\n"
                  "                                  _months_to, _popcount, _round_half_away, _valid)")


def _header(grid: ir.Grid, em: _Emitter, names: list[str]) -> list[str]:
    meta = grid.meta
    w = grid.widths
    out = [f"# Scoring kernels of grid '{meta.id}', generated by cotation.codegen {CODEGEN_VERSION}: "
           "do not edit.",
           "# The grid's point values are not in this text but the argument points "
           "(KernelSource.parameters), so",
           "# that grids which differ only in them (a grid author trying other points) share this module and",
           "# its compiled code. Nor are the grid's version, file and content hash.",
           *[f"#   points[{k}]: {name}" for k, name in enumerate(names)],
           "# date_calcul is the argument 'today' (days since 1970-01-01); rows start..stop-1 are scored, "
           "the caller runs slices of rows in parallel threads (the functions release the GIL)",
           f"# outputs: total {w.total}, flags {w.flags} (bit j = priority j), tier int8, "
           f"breakdown {w.breakdown} and met bool (criterion-major: one row per column)",
           "# criteria (breakdown columns, in order):"]
    out += [f"#   [{j}] {c.id}: {_describe(c, em, j)}" for j, c in enumerate(grid.criteria)]
    out.append("# priorities:")
    for j, p in enumerate(grid.priorities):
        points = em.param("priority", j, p.points) if p.points else None
        extra = (f" ({points})" if points else "") + (f" (tier {p.tier})" if p.tier else "")
        out.append(f"#   [{j}] {p.id}: {_comment(p.when_source)}{extra}")
    out.append("# breakdown columns: " + ", ".join(col.id for col in grid.columns))
    return [*out, "", "import numba", "import numpy as np"]


def _wrapped(head: str, args: list[str], tail: str) -> list[str]:
    """``head(arg, arg, ...)tail`` folded at 100 columns, continuation lines aligned."""
    lines, current = [], head + "("
    for a in args:
        if len(current) + len(a) > 100:
            lines.append(current.rstrip())
            current = " " * (len(head) + 1)
        current += a + ", "
    return [*lines, current[:-2] + ")" + tail]


def _function(rows: str, outputs: tuple[str, ...], body: list[str], doc: str, inputs: list[str]) -> list[str]:
    """A serial row function over rows start..stop-1 (the caller splits rows between threads)."""
    args = [*inputs, *outputs]
    return [f"@numba.njit({_JIT})", *_wrapped(f"def {rows}", [*args, "start", "stop"], ":"),
            f'    """{doc}"""',
            "    t_year, t_month, t_day = _civil(today)",
            "    t_cal = np.int64(cal[np.uint64(today - cal_lo)])", *body]


def _parameter_name(grid: ir.Grid, what: str, j: int) -> str:
    """What a point parameter is, for the header and KernelSource.parameter_names."""
    if what == "priority":
        return f"points of priority [{j}] {grid.priorities[j].id}"
    if what.startswith("group_"):
        return f"{what.removeprefix('group_')} of group {grid.groups[j].id}"
    label = what.removeprefix("criterion_")
    return f"{label} of criterion [{j}] {grid.criteria[j].id}"


def typology_constants(grid: ir.Grid) -> list[str]:
    """Module constants of the grid's typology table (rooms suited to each household size)."""
    lo = ", ".join(str(t[0]) for t in grid.typology)
    hi = ", ".join(str(t[1]) for t in grid.typology)
    return [f"TYPO_LO = np.array([{lo}], np.int64)  # match.typology: minimum rooms for 1, 2, ... persons",
            f"TYPO_HI = np.array([{hi}], np.int64)  # maximum rooms", ""]


def generate_source(grid: ir.Grid) -> KernelSource:
    """The kernel module of ``grid``: readable Python text for Numba, and how to call it."""
    em = _Emitter(grid)
    em.params = {}
    fused = list(_fused_body(em))
    em.lines = []
    breakdown = list(_breakdown_body(em))
    em.lines = []
    traced = list(_trace_body(em))
    calendar = [f.name for f in grid.catalogue if f.name in em.calendar]
    fused, breakdown = _calendar_loops(fused, calendar), _calendar_loops(breakdown, calendar)
    traced = _calendar_loops(traced, calendar)
    columns = tuple(f.name for f in grid.catalogue if f.name in em.fields)
    masks = tuple(n for n in columns if em.fields[n])
    inputs = [f"c_{_ident(n)}" for n in columns] + [f"valid_{_ident(n)}" for n in masks]
    names = [_parameter_name(grid, what, j) for what, j in em.params]  # in the order of points[k]
    header = _header(grid, em, names)
    first = _function(ROWS, OUTPUTS, fused, "Rows start..stop-1: total, flags (bits) and tier.", inputs)
    second = _function(BREAKDOWN_ROWS, BREAKDOWN_OUTPUTS, breakdown,
                       "Rows start..stop-1, by chunks of CHUNK rows: breakdown and met (criterion-major), "
                       "total, flags, tier.", inputs)
    third = _function(TRACE_ROWS, TRACE_OUTPUTS, traced,
                      "Rows start..stop-1: per criterion, the points of its rule (0 when not met), after its own "
                      "min/max, and met (criterion-major, before rubrics and caps).", inputs)
    constants = typology_constants(grid) if em.uses_typology else []
    text = "\n".join([*header, _HELPER_IMPORT, "", f"CHUNK = {CHUNK}", *constants, "", "", *first, "", "",
                      *second, "", "", *third, ""])
    return KernelSource(text, columns, masks, tuple(calendar), ROWS, BREAKDOWN_ROWS,
                        (ROWS, BREAKDOWN_ROWS, TRACE_ROWS), grid.meta.id, grid.content_hash, grid.widths,
                        tuple(value for _, value in em.params.values()), tuple(names))

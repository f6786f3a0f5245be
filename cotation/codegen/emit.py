"""Stage 3 (codegen): the emitter that both code generators share: an IR expression written as Python text,
one local per node (value ``v_<k>``, presence ``m_<k>`` only when the node can be missing), with
the semantics of the reference evaluator (:mod:`cotation.scoring.reference`), and a criterion's
points (condition, rule, its own min/max).

Emitters are found by name: ``_emit_<Node>`` for expression nodes, ``_call_<function>`` for calls,
``rule_<Rule>`` for the ways a criterion computes its points. :mod:`cotation.codegen.score_source`
writes the scoring kernels with it, :mod:`cotation.codegen.pair_source` the pair kernel.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..grid import ir
from ..grid.bounds import analyzer
from ..grid.catalogue import Kind

JIT = 'cache=True, error_model="numpy", nogil=True'
FDIV_LIMIT = 2**50  # _fdiv is exact for |x| below this
TRUE, FALSE = "True", "False"
INT_KINDS = (Kind.INT, Kind.DATE, Kind.CATEGORY, Kind.COMMUNE)
FLOAT_KINDS = (Kind.FLOAT, Kind.MONEY)


@dataclass(frozen=True)
class Slot:
    """What an emitted node left behind: a value and a presence, each a local name or a literal."""

    v: str
    m: str = TRUE


# -- boolean text algebra (constants folded) --------------------------------------------------
def and_(*terms: str) -> str:
    kept = list(dict.fromkeys(t for t in terms if t != TRUE))
    if FALSE in kept:
        return FALSE
    return kept[0] if len(kept) == 1 else ("(" + " & ".join(kept) + ")" if kept else TRUE)


def or_(*terms: str) -> str:
    kept = list(dict.fromkeys(t for t in terms if t != FALSE))
    if TRUE in kept:
        return TRUE
    return kept[0] if len(kept) == 1 else ("(" + " | ".join(kept) + ")" if kept else FALSE)


def not_(term: str) -> str:
    return {TRUE: FALSE, FALSE: TRUE}.get(term, f"(not {term})")


def literal(value: object, kind: str = "") -> str:
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


def flat_index(width: int, j: int) -> str:
    """Index of column j of row i in a flattened row-major matrix of ``width`` columns (unsigned)."""
    return f"i * np.uint64({width}) + np.uint64({j})"


def ident(name: str) -> str:
    return re.sub(r"\W", "_", name, flags=re.ASCII)


def comment(text: str | None) -> str:
    return " ".join(str(text or "").split())


def times(x: str, flag: str) -> str:
    """``x`` when ``flag`` holds, else 0, as a product: a conditional expression is a branch in
    Numba's IR, and a kernel with hundreds of them compiles much more slowly (40-criterion grid:
    about 2.2 -> 1.5 s); LLVM turns the product into the same select. Exact: ``x`` is an integer
    (a garbage value from a missing input times 0 is still 0)."""
    return x if flag == TRUE else ("0" if flag == FALSE else f"({x}) * {flag}")


def clip_text(x: str, lo: str | None, hi: str | None) -> str:
    """``x`` clipped to [lo, hi] (each bound the text of a value, or None)."""
    if lo is not None:
        x = f"max({x}, {lo})"
    return x if hi is None else f"min({x}, {hi})"


def param_bounds(
    em: Emitter, what: str, j: int, lo: int | None, hi: int | None
) -> tuple[str | None, str | None]:
    """The min/max of criterion or group j as parameters (None where absent)."""
    return (
        None if lo is None else em.param(f"{what}_min", j, lo),
        None if hi is None else em.param(f"{what}_max", j, hi),
    )


def to_float(slot_v: str, node: ir.IExpr, want: ir.Type) -> str:
    """The value of ``node`` converted to float64 when the result type is float (NumPy's join)."""
    return f"np.float64({slot_v})" if want.kind == "float" and node.type.kind != "float" else slot_v


# -- expressions ------------------------------------------------------------------------------
class Emitter:
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
            return literal(value)
        if (what, j) not in self.params:
            self.params[(what, j)] = (len(self.params), int(value))
        return f"points[{self.params[(what, j)][0]}]"

    def begin_loop(self) -> None:
        """A new loop over rows: fields and variables are read and computed again where first used."""
        self.vars: dict[str, Slot] = {}
        self.read: set[str] = set()
        self.done: dict[
            ir.IExpr, Slot
        ] = {}  # nodes already emitted in this loop (equal subtrees computed once)

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def fresh(self) -> int:
        self.count += 1
        return self.count

    def bind(self, value: str, mask: str = TRUE) -> Slot:
        """``v_k = value`` and, unless it is a constant or an existing name, ``m_k = mask``."""
        k = self.fresh()
        self.line(f"v_{k} = {value}")
        if mask in (TRUE, FALSE) or mask.isidentifier():
            return Slot(f"v_{k}", mask)
        self.line(f"m_{k} = {mask}")
        return Slot(f"v_{k}", f"m_{k}")

    def emit(self, node: ir.IExpr) -> Slot:
        """The slot of ``node``, emitted once per loop: an equal subtree (spans aside) reuses it, which is
        sound because a loop body is straight-line code emitted in execution order."""
        slot = self.done.get(node)
        if slot is None:
            slot = getattr(self, f"_emit_{type(node).__name__}")(node)
            self.done[node] = slot
        return slot

    # leaves
    def _emit_Const(self, node: ir.Const) -> Slot:
        return Slot(literal(node.value, node.type.kind))

    def _emit_FieldRef(self, node: ir.FieldRef) -> Slot:
        name, kind = ident(node.name), self.grid.catalogue[node.name].kind
        self.fields[node.name] = self.fields.get(node.name, False) or node.nullable
        if kind is Kind.COMMUNES:
            return Slot(
                f"c_{name}"
            )  # the row-major matrix, flattened: readers index it with flat_index(i, j)
        if node.name not in self.read:
            self.read.add(node.name)
            cast = "np.int64" if kind in INT_KINDS else "np.float64" if kind in FLOAT_KINDS else None
            self.line(f"f_{name} = {cast}(c_{name}[i])" if cast else f"f_{name} = c_{name}[i]")
        if node.nullable and f"?{node.name}" not in self.read:
            self.read.add(f"?{node.name}")
            self.line(f"fm_{name} = _valid(valid_{name}, i)")
        return Slot(f"f_{name}", f"fm_{name}" if node.nullable else TRUE)

    def _emit_VarRef(self, node: ir.VarRef) -> Slot:
        if node.name not in self.vars:
            var = self.var_defs[node.name]
            self.line(f"# variable {var.name} = {comment(var.source)}")
            self.vars[node.name] = self.emit(var.expr)
        return self.vars[node.name]

    def small(self, node: ir.IExpr) -> bool:
        """Whether an integer node is provably within the range where _fdiv is exact."""
        b = self.bounds.of(node)
        return b.lo > -FDIV_LIMIT and b.hi < FDIV_LIMIT

    def width(self, node: ir.IExpr) -> int:
        """Number of columns of a list of communes (the catalogue's width of the field)."""
        assert isinstance(node, ir.FieldRef), "the type checker only lets fields be lists of communes"
        return self.grid.catalogue[node.name].width

    def _emit_DateCalcul(self, node: ir.DateCalcul) -> Slot:
        return Slot("today")

    # operators
    def _emit_Arith(self, node: ir.Arith) -> Slot:
        a, b = self.emit(node.left), self.emit(node.right)
        ok = and_(a.m, b.m)
        if node.op in ("+", "-", "*"):
            return self.bind(f"{a.v} {node.op} {b.v}", ok)
        right = node.right
        const = isinstance(right, ir.Const) and right.value != 0
        safe = b.v if const else f"({b.v} if {b.v} != 0 else 1)"
        ok = ok if const else and_(ok, f"({b.v} != 0)")
        if node.op == "/":
            return self.bind(f"{a.v} / {safe}", ok)
        floor = f"({a.v} // {safe})" if node.type.kind == "int" else f"np.floor({a.v} / {safe})"
        if (
            node.type.kind == "int"
            and isinstance(right, ir.Const)
            and right.value > 0
            and self.small(node.left)
        ):
            floor = f"_fdiv({a.v}, {b.v})"
        if node.op == "//":
            return self.bind(floor, ok)
        return self.bind(f"{a.v} - {safe} * {floor}", ok)

    def _emit_Neg(self, node: ir.Neg) -> Slot:
        a = self.emit(node.operand)
        return self.bind(f"-{a.v}", a.m)

    def _emit_Cmp(self, node: ir.Cmp) -> Slot:
        a, b = self.emit(node.left), self.emit(node.right)
        return self.bind(f"{a.v} {node.op} {b.v}", and_(a.m, b.m))

    def _emit_Logic(self, node: ir.Logic) -> Slot:
        a, b = self.emit(node.left), self.emit(node.right)
        if node.op == "and":  # false wins over missing
            value = and_(or_(a.v, not_(a.m)), or_(b.v, not_(b.m)))
            ok = or_(and_(a.m, b.m), and_(a.m, not_(a.v)), and_(b.m, not_(b.v)))
        else:  # true wins over missing
            value = or_(and_(a.v, a.m), and_(b.v, b.m))
            ok = or_(and_(a.m, b.m), and_(a.m, a.v), and_(b.m, b.v))
        return self.bind(value, ok)

    def _emit_Not(self, node: ir.Not) -> Slot:
        a = self.emit(node.operand)
        return self.bind(not_(a.v), a.m)

    def _emit_Cond(self, node: ir.Cond) -> Slot:
        if node.type == ir.COMMUNES:
            raise TypeError("unreachable: the type checker rejects a conditional over lists of communes")
        c, t, o = self.emit(node.cond), self.emit(node.then), self.emit(node.otherwise)
        tv, ov = to_float(t.v, node.then, node.type), to_float(o.v, node.otherwise, node.type)
        picked = t.m if t.m == o.m else f"({t.m} if {c.v} else {o.m})"
        return self.bind(f"{tv} if {c.v} else {ov}", and_(c.m, picked))

    def _emit_InValues(self, node: ir.InValues) -> Slot:
        e = self.emit(node.elem)
        kind = node.elem.type.kind
        hit = or_(*(f"({e.v} == {literal(v, kind)})" for v in node.values))
        return self.bind(not_(hit) if node.negate else hit, e.m)

    def _emit_SetHas(self, node: ir.SetHas) -> Slot:
        e, c = self.emit(node.elem), self.emit(node.container)
        code = f"np.uint64({e.v})" if e.m == TRUE else f"np.uint64({e.v} if {e.m} else 0)"
        hit = f"((({c.v} >> {code}) & np.uint64(1)) != np.uint64(0))"
        return self.bind(not_(hit) if node.negate else hit, and_(e.m, c.m))

    def _emit_ListHas(self, node: ir.ListHas) -> Slot:
        e, c = self.emit(node.elem), self.emit(node.container)
        k = self.fresh()
        w = self.width(node.container)
        terms = [f"({c.v}[{flat_index(w, j)}] == {e.v})" for j in range(w)]
        self.line(f"h_{k} = {or_(*terms)}")  # unrolled over the list's width: no inner loop
        hit = f"(h_{k} & ({e.v} >= 0))"
        return self.bind(not_(hit) if node.negate else hit, and_(e.m, c.m))

    def _emit_Call(self, node: ir.Call) -> Slot:
        return getattr(self, f"_call_{node.func}")(node)  # type: ignore[no-any-return]

    # functions (one per row of cotation.grid.functions.FUNCTIONS, except date(), folded by the checker)
    def _fold(self, node: ir.Call, fn: str) -> Slot:
        args = [self.emit(a) for a in node.args]
        values = [to_float(s.v, a, node.type) for s, a in zip(args, node.args, strict=True)]
        out = values[0]
        for v in values[1:]:
            out = f"{fn}({out}, {v})"
        return self.bind(out, and_(*(s.m for s in args)))

    def _call_min(self, node: ir.Call) -> Slot:
        return self._fold(node, "min")

    def _call_max(self, node: ir.Call) -> Slot:
        return self._fold(node, "max")

    def _call_clip(self, node: ir.Call) -> Slot:
        x, lo, hi = (self.emit(a) for a in node.args)
        xv, lv, hv = (to_float(s.v, a, node.type) for s, a in zip((x, lo, hi), node.args, strict=True))
        return self.bind(f"min(max({xv}, {lv}), {hv})", and_(x.m, lo.m, hi.m))

    def _unary(self, node: ir.Call, template: str, int_template: str = "{}") -> Slot:
        a = self.emit(node.args[0])
        form = int_template if node.args[0].type.kind != "float" else template
        return self.bind(form.format(a.v), a.m)

    def _call_abs(self, node: ir.Call) -> Slot:
        return self._unary(node, "abs({})", "abs({})")

    def _call_round(self, node: ir.Call) -> Slot:
        return self._unary(node, "_round_half_away({})")

    def _call_floor(self, node: ir.Call) -> Slot:
        return self._unary(node, "np.int64(np.floor({}))")

    def _call_ceil(self, node: ir.Call) -> Slot:
        return self._unary(node, "np.int64(np.ceil({}))")

    def _dates(self, node: ir.Call, template: str) -> Slot:
        a, b = (self.emit(x) for x in node.args)
        return self.bind(template.format(a=a.v, b=b.v), and_(a.m, b.m))

    def _call_days_between(self, node: ir.Call) -> Slot:
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
        """The packed calendar entry of a date field or date_calcul (see ``calendar_table`` in
        :mod:`cotation.data.calendar`)."""
        if isinstance(node, ir.DateCalcul):
            return "t_cal"
        if isinstance(node, ir.FieldRef) and self.grid.catalogue[node.name].kind is Kind.DATE:
            self.calendar.add(node.name)
            return self._calendar_entry(node.name)
        return None

    def _calendar_entry(self, name: str) -> str:
        """Row i's calendar entry of the date field ``name``: gathered before the loop, by chunks
        (see ``_calendar_loops`` in :mod:`cotation.codegen.score_source`)."""
        return f"kb_{ident(name)}[i - us]"

    def _call_months_between(self, node: ir.Call) -> Slot:
        return self._dates(node, self._months(node))

    def _call_years_between(self, node: ir.Call) -> Slot:
        return self._dates(node, self._years(node))

    def _call_age(self, node: ir.Call) -> Slot:
        birth = self.emit(node.args[0])
        packed = self._calendar(node.args[0])
        months = (
            f"_cal_months({packed}, t_cal)"
            if packed is not None
            else f"_months_to({birth.v}, t_year, t_month, t_day)"
        )
        return self.bind(f"_fdiv({months}, 12)", birth.m)

    def _civil_part(self, node: ir.Call, part: int) -> Slot:
        a = self.emit(node.args[0])
        return self.bind(f"np.int64(_civil({a.v})[{part}])", a.m)

    def _call_year(self, node: ir.Call) -> Slot:
        return self._civil_part(node, 0)

    def _call_month(self, node: ir.Call) -> Slot:
        return self._civil_part(node, 1)

    def _call_day(self, node: ir.Call) -> Slot:
        return self._civil_part(node, 2)

    def _call_end_of_month(self, node: ir.Call) -> Slot:
        a = self.emit(node.args[0])
        return self.bind(f"_end_of_month({a.v})", a.m)

    def _call_add_months(self, node: ir.Call) -> Slot:
        a, n = (self.emit(x) for x in node.args)
        return self.bind(f"_add_months({a.v}, np.int64({n.v}))", and_(a.m, n.m))

    def _call_count(self, node: ir.Call) -> Slot:
        a = self.emit(node.args[0])
        if node.args[0].type.kind == "set":
            return self.bind(f"_popcount({a.v})", a.m)
        k = self.fresh()
        w = self.width(node.args[0])
        terms = [f"np.int64({a.v}[{flat_index(w, j)}] >= 0)" for j in range(w)]
        self.line(f"v_{k} = {' + '.join(terms) or '0'}")
        return Slot(f"v_{k}", a.m)

    def _call_first(self, node: ir.Call) -> Slot:
        a = self.emit(node.args[0])
        k = self.fresh()
        self.line(f"v_{k} = np.int64({a.v}[{flat_index(self.width(node.args[0]), 0)}])")
        self.line(f"m_{k} = {and_(a.m, f'(v_{k} >= 0)')}")
        return Slot(f"v_{k}", f"m_{k}")

    def _call_adequation_typologie(self, node: ir.Call) -> Slot:
        persons, rooms = (self.emit(a) for a in node.args)
        self.uses_typology = True
        return self.bind(f"_adequation({persons.v}, {rooms.v}, TYPO_LO, TYPO_HI)", and_(persons.m, rooms.m))

    def _call_rang_souhait(self, node: ir.Call) -> Slot:
        e, c = (self.emit(a) for a in node.args)
        w = self.width(node.args[1])
        rank = "0"
        for j in reversed(range(w)):  # the first position that holds the commune, unrolled
            rank = (
                f"{j + 1} if {c.v}[{flat_index(w, j)}] == {e.v} else {rank}"
                if rank != "0"
                else f"{j + 1} if {c.v}[{flat_index(w, j)}] == {e.v} else 0"
            )
        k = self.fresh()
        self.line(f"v_{k} = np.int64({rank})")
        self.line(f"m_{k} = {and_(e.m, c.m, f'(v_{k} > 0)', f'({e.v} >= 0)')}")
        return Slot(f"v_{k}", f"m_{k}")

    def _call_present(self, node: ir.Call) -> Slot:
        return self.bind(self.emit(node.args[0]).m)

    def _call_coalesce(self, node: ir.Call) -> Slot:
        if node.type == ir.COMMUNES:
            raise TypeError("unreachable: the type checker rejects coalesce() over lists of communes")
        x, d = (self.emit(a) for a in node.args)
        xv, dv = (to_float(s.v, a, node.type) for s, a in zip((x, d), node.args, strict=True))
        value = xv if x.m == TRUE else f"{xv} if {x.m} else {dv}"
        return self.bind(value, or_(x.m, d.m))


# -- criteria, rubrics, groups, priorities ------------------------------------------------------
def rule_Fixed(em: Emitter, j: int, rule: ir.Fixed) -> str:
    value = constant_points(rule)
    if value is not None:
        em.line(f"pts_{j} = {em.param('points', j, value)}")
        return TRUE
    p = em.emit(rule.points)
    em.line(f"pts_{j} = {p.v}")
    return p.m


def rule_PerUnit(em: Emitter, j: int, rule: ir.PerUnit) -> str:
    x = em.emit(rule.value)
    if rule.value.type.kind == "int" and float(rule.unit).is_integer():
        unit = int(rule.unit)
        divide = f"_fdiv({x.v}, {unit})" if em.small(rule.value) else f"({x.v} // {literal(unit)})"
        units = x.v if unit == 1 else divide
    else:
        units = f"np.int64(np.floor({x.v} / {literal(float(rule.unit), 'float')}))"
    em.line(f"pts_{j} = {units} * {em.param('per_unit', j, rule.per_unit)}")
    return x.m


def rule_Bands(em: Emitter, j: int, rule: ir.Bands) -> str:
    """Branch-free: the points of the first band that holds the value (bands do not overlap)."""
    x = em.emit(rule.value)
    tests = []
    for band in rule.bands:
        parts = ([f"({x.v} >= {literal(band.lo)})"] if band.lo is not None else []) + (
            [f"({x.v} < {literal(band.hi)})"] if band.hi is not None else []
        )
        tests.append(and_(*parts))
    # at most one band holds (E304: bands do not overlap), so the sum of points x test is its points
    terms = [
        literal(band.points) if test == TRUE else f"{literal(band.points)} * {test}"
        for test, band in zip(tests, rule.bands, strict=True)
        if band.points != 0
    ]
    em.line(f"pts_{j} = {' + '.join(terms) or '0'}  # bands: {', '.join(band_text(b) for b in rule.bands)}")
    em.line(f"ok_{j} = {and_(x.m, or_(*tests))}")
    return f"ok_{j}"


def band_text(band: ir.Band) -> str:
    lo = "" if band.lo is None else f"{band.lo:g} <= "
    hi = "" if band.hi is None else f" < {band.hi:g}"
    return f"{lo}x{hi}: {band.points}"


RULES = {"Fixed": rule_Fixed, "PerUnit": rule_PerUnit, "Bands": rule_Bands}


def emit_criterion(em: Emitter, j: int, c: ir.Criterion) -> None:
    em.line(f"# [{j}] {c.id}: {describe(c, em, j)}")
    applies = RULES[type(c.rule).__name__](em, j, c.rule)  # type: ignore[operator]
    when = em.emit(c.when) if c.when is not None else Slot(TRUE)
    em.line(f"met_{j} = {and_(applies, when.v, when.m)}")
    em.line(
        f"p_{j} = {times(clip_text(f'pts_{j}', *param_bounds(em, 'criterion', j, c.min, c.max)), f'met_{j}')}"
    )


def describe(c: ir.Criterion, em: Emitter, j: int) -> str:
    """Criterion j as written; fixed points that are a parameter of the module as ``points[k]``."""
    rule = {"Fixed": "points", "PerUnit": "per_unit", "Bands": "bands"}[type(c.rule).__name__]
    when = f"when {comment(c.when_source)}; " if c.when_source else ""
    value = constant_points(c.rule)
    if em.params is not None and value is not None:
        return f"{when}{em.param('points', j, value)}"
    return f"{when}{rule} {comment(c.points_source)}"


def constant_points(rule: ir.Rule) -> int | None:
    """A fixed number of points (an integer literal), a parameter of the scoring module; else None."""
    if isinstance(rule, ir.Fixed) and isinstance(rule.points, ir.Const) and rule.points.type.kind == "int":
        return int(rule.points.value)
    return None


def wrapped(head: str, args: list[str], tail: str) -> list[str]:
    """``head(arg, arg, ...)tail`` folded at 100 columns, continuation lines aligned."""
    lines, current = [], head + "("
    for a in args:
        if len(current) + len(a) > 100:
            lines.append(current.rstrip())
            current = " " * (len(head) + 1)
        current += a + ", "
    return [*lines, current[:-2] + ")" + tail]

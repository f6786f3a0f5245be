"""Stage 3 (codegen): generate the pair kernel of a grid's ``match`` part, as readable Python text.

``rank_dwellings`` visits, for each dwelling of ``order[q_start:q_stop]``, its candidate
applications: every row, or with an inverted index (when the first filter is
``logement.commune in communes_souhaitees``) only the rows that list the dwelling's commune. It
makes two passes over them. The first evaluates, for every candidate and without a branch, the
filters (an exclusion counts under the first filter that fails), the tier and the pair total, into
two scratch arrays: LLVM vectorises it. The second offers the eligible candidates (tier, pair
total, row) to a bounded heap of the ``k`` best (:func:`cotation.codegen.helpers._offer`), by blocks
whose candidates are first tested against the heap's worst at once. The applications are sorted
by the grid's tie-breaks beforehand, so the lower row wins any tie of tier and total.

A candidate's row is ``_row(cand, t)``: ``cand[t]``, or ``t`` itself when ``cand`` is None because
the application columns were copied in the candidates' order (:mod:`cotation.match.compiled`); Numba
compiles one version for each, and only the second has consecutive loads.

The expressions are written by the same emitter as the scoring kernels (:mod:`cotation.codegen.score_source`),
so that their semantics cannot drift: a dwelling's field ``logement.x`` reads ``dc_x[m]``; dates are
computed by civil-date arithmetic in the pair kernel, and looked up in the calendar table (as the
scoring kernels do, one entry a date field a row) by ``app_values``, which computes the
application-level values once per application. With ``taken`` (a batch assignment), the
kernel runs serially over dwellings in the assignment order and marks the rows it proposes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..grid import ir
from ..grid.functions import FINANCINGS, ZONES
from .emit import FLOAT_KINDS, INT_KINDS, JIT, Emitter, Slot, and_, comment, emit_criterion, ident, wrapped
from .score_source import typology_constants

PAIR_KERNEL = "rank_dwellings"
APP_VALUES = "app_values"
PAIR_OUTPUTS = ("out_rows", "out_total", "out_eligible", "out_excluded", "out_already")


@dataclass(frozen=True, kw_only=True)
class PairSource:
    """The generated pair module: ``rank_dwellings(*values, *masks, *dwelling_values, *dwelling_masks,
    plafonds, today, base_total, base_tier, n_rows, ptr, cand, crank, cpos, dkey, order, taken, k, q_start,
    q_stop, out_rows, out_total, out_eligible, out_excluded, out_already)``."""

    text: str
    columns: tuple[str, ...]  # application fields read, in argument order
    masks: tuple[str, ...]
    dwelling_columns: tuple[str, ...]  # dwelling fields read, in argument order
    dwelling_masks: tuple[str, ...]
    indexed: ir.Index | None
    hoisted: tuple[str, ...]  # dtypes of the per-application values (hv_k), in order
    hoisted_masks: tuple[bool, ...]  # whether the kernel reads hm_k (the value can be missing)
    app_columns: tuple[str, ...]  # application fields read by app_values, in argument order
    app_masks: tuple[str, ...]
    app_calendar: tuple[str, ...] = ()  # date fields app_values looks up in its calendar table
    kernel: str = PAIR_KERNEL
    app_kernel: str = APP_VALUES


class PairEmitter(Emitter):
    """The scoring emitter, plus the dwelling's fields and the income ceilings. The application-level
    parts of the pair expressions listed in ``hoisted`` are read from arrays computed once per
    application (``hv_<k>``, ``hm_<k>``) instead of once per pair."""

    def __init__(self, grid: ir.Grid, hoisted: tuple[ir.IExpr, ...] = (), in_index: bool = False):
        super().__init__(grid)
        assert grid.match is not None
        self.in_index = in_index  # emitting the candidate loop of the inverted index (cpos[t] is known)
        self.var_defs.update({v.name: v for v in grid.match.variables})
        self.dwelling_fields: dict[str, bool] = {}
        self.hoisted = {node: k for k, node in enumerate(hoisted)}
        self.dwelling_lines: list[str] = []  # the dwelling's fields, read once before its candidate loop

    def emit(self, node: ir.IExpr) -> Slot:
        k = self.hoisted.get(node)
        if k is None:
            return super().emit(node)
        if f"#{k}" not in self.read:
            self.read.add(f"#{k}")
            self.line(f"h_{k} = hv_{k}[i]  # {comment(_show(node))}, per application")
            if node.nullable:
                self.line(f"hmk_{k} = hm_{k}[i]")
        return Slot(f"h_{k}", f"hmk_{k}" if node.nullable else "True")

    def _calendar(self, node: ir.IExpr) -> str | None:
        return None  # no calendar table in the pair kernel: civil-date arithmetic throughout

    def _emit_DwellingRef(self, node: ir.DwellingRef) -> Slot:
        assert self.grid.match is not None
        name, kind = ident(node.name), self.grid.match.catalogue[node.name].kind
        self.dwelling_fields[node.name] = self.dwelling_fields.get(node.name, False) or node.nullable
        if f"@{node.name}" not in self.read:
            self.read.add(f"@{node.name}")
            cast = "np.int64" if kind in INT_KINDS else "np.float64" if kind in FLOAT_KINDS else ""
            self.dwelling_line(f"l_{name} = {cast}(dc_{name}[m])")
        if node.nullable and f"@?{node.name}" not in self.read:
            self.read.add(f"@?{node.name}")
            self.dwelling_line(f"lm_{name} = _valid(dvalid_{name}, m)")
        return Slot(f"l_{name}", f"lm_{name}" if node.nullable else "True")

    def dwelling_line(self, text: str) -> None:
        """A line before the candidate loop: in the loop, a load whose address depends on another
        load in the loop (``plafonds[l_financement, ...]``) would keep LLVM from vectorising it."""
        self.dwelling_lines.append("    " * 2 + text)

    def _call_rang_souhait(self, node: ir.Call) -> Slot:
        index = self.grid.match.index if self.grid.match else None
        e, c = node.args
        if (
            self.in_index
            and index is not None
            and isinstance(e, ir.DwellingRef)
            and isinstance(c, ir.FieldRef)
            and (e.name, c.name) == (index.dwelling_field, index.field)
        ):
            return self.bind(
                "np.int64(cpos[t]) + 1"
            )  # the index stored where each candidate lists the commune
        return super()._call_rang_souhait(node)

    def _call_plafond_ressources(self, node: ir.Call) -> Slot:
        f, z, c, x = (self.emit(a) for a in node.args)
        fmap = [FINANCINGS.index(v) for v in node.args[0].type.domain]
        zmap = [ZONES.index(v) for v in node.args[1].type.domain]
        fi = f"np.int64({fmap})[{f.v}]" if fmap != list(range(len(fmap))) else f.v
        zi = f"np.int64({zmap})[{z.v}]" if zmap != list(range(len(zmap))) else z.v
        k = self.fresh()
        self.line(f"v_{k} = _ceiling(plafonds, {fi} if {f.m} else 0, {zi} if {z.m} else 0, {c.v}, {x.v})")
        self.line(f"m_{k} = {and_(f.m, z.m, c.m, x.m, f'(v_{k} >= 0)')}")
        return Slot(f"v_{k}", f"m_{k}")


class AppEmitter(PairEmitter):
    """The emitter of ``app_values``: one pass over the applications, with a calendar table (``cal``
    from day ``cal_lo``), in which a date field's entry is looked up where it is used."""

    _calendar = Emitter._calendar  # a calendar table, unlike the pair kernel

    def _calendar_entry(self, name: str) -> str:
        return f"np.int64(cal[np.uint64(c_{ident(name)}[i] - cal_lo)])"  # looked up where it is used


def _show(node: ir.IExpr) -> str:
    """A short description of a hoisted node for the generated comments."""
    if isinstance(node, ir.VarRef):
        return f"variable {node.name}"
    if isinstance(node, ir.Call):
        return f"{node.func}(...)"
    return type(node).__name__


def _pair_level(node: ir.IExpr, pair_vars: set[str]) -> bool:
    """Whether a node depends on the dwelling (directly, or through a pair-level variable)."""
    return ir.reads_dwelling(node) or bool(ir.vars_read(node) & pair_vars)


def _costly(node: ir.IExpr) -> bool:
    return isinstance(node, ir.VarRef | ir.Call) or any(_costly(c) for c in ir.children(node))


def hoistable(grid: ir.Grid) -> tuple[ir.IExpr, ...]:
    """The maximal application-level sub-expressions of the match part that call a function or read a
    variable: computed once per application rather than once per (application, dwelling) pair."""
    assert grid.match is not None
    pair_vars = {v.name for v in grid.match.variables}
    found: dict[ir.IExpr, None] = {}

    def visit(node: ir.IExpr) -> None:
        if not _pair_level(node, pair_vars):
            if _costly(node) and node.type != ir.COMMUNES:
                found.setdefault(node)
            return
        for child in ir.children(node):
            visit(child)

    for expr in grid.match.expressions():
        visit(expr)
    return tuple(found)


def _dtype(node: ir.IExpr) -> str:
    return {"float": "np.float64", "bool": "np.bool_", "set": "np.uint64"}.get(node.type.kind, "np.int64")


def _app_values(
    grid: ir.Grid, hoisted: tuple[ir.IExpr, ...]
) -> tuple[list[str], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """``app_values``: the hoisted sub-expressions of every application, one row loop; with the fields
    read, those with a mask, and the date fields looked up in the calendar."""
    em = AppEmitter(grid)
    em.lines = []
    em.depth = 1
    em.line("for i0 in range(start, stop):")
    em.depth = 2
    em.line("i = np.uint64(i0)")
    em.begin_loop()
    for k, node in enumerate(hoisted):
        slot = em.emit(node)
        em.line(f"hv_{k}[i] = {slot.v} if {slot.m} else {_dtype(node)}(0)")
        em.line(f"hm_{k}[i] = {slot.m}")
    columns = tuple(f.name for f in grid.catalogue if f.name in em.fields)
    masks = tuple(n for n in columns if em.fields[n])
    inputs = [f"c_{ident(n)}" for n in columns] + [f"valid_{ident(n)}" for n in masks]
    outs = [f"hv_{k}" for k in range(len(hoisted))] + [f"hm_{k}" for k in range(len(hoisted))]
    fn = [
        f"@numba.njit({JIT})",
        *wrapped(f"def {APP_VALUES}", [*inputs, "today", "cal", "cal_lo", *outs, "start", "stop"], ":"),
        '    """Rows start..stop-1: the application-level values the pair kernel reads (see hoistable)."""',
        "    t_year, t_month, t_day = _civil(today)",
        "    t_cal = np.int64(cal[np.uint64(today - cal_lo)])",
        *em.lines,
    ]
    calendar = tuple(f.name for f in grid.catalogue if f.name in em.calendar)
    return fn, columns, masks, calendar


def _candidate_loop(em: PairEmitter, grid: ir.Grid, index: ir.Index | None) -> None:
    """The body of the loop over dwellings: two passes over the dwelling's candidates."""
    assert grid.match is not None
    match = grid.match
    em.depth = 2
    em.line("m = order[q]")
    em.line("cnt = 0")
    em.line("elig = 0")
    em.line("already = 0")
    for j in range(len(match.filters)):
        em.line(f"ex_{j} = 0")
    if index is not None:
        em.line("d = dkey[m]")
        em.line("lo = ptr[d] if d >= 0 else 0")
        em.line("hi = ptr[d + 1] if d >= 0 else 0")
        em.line(f"ex_0 = n - (hi - lo)  # filter [0] {match.filters[0].id}: the inverted index by commune")
    else:
        em.line("lo = 0  # every application, in tie-break order")
        em.line("hi = n")
    _first_pass(em, match, index)
    _second_pass(em, index)
    em.depth = 2
    em.line("_finish(ht, hs, hr, cnt, out_rows[m], out_total[m])")
    em.line("out_eligible[m] = elig")
    em.line("out_already[m] = already")
    for j in range(len(match.filters)):
        em.line(f"out_excluded[m, {j}] = ex_{j}")
    em.line("if taken is not None:")
    em.line("    for r in range(cnt):")
    em.line("        taken[out_rows[m, r]] = True")


def _first_pass(em: PairEmitter, match: ir.Match, index: ir.Index | None) -> None:
    """Every candidate's filters, tier and pair total, without a branch (so that LLVM vectorises it):
    an exclusion counts under the first filter that fails, and the criteria are evaluated for
    excluded candidates too (the emitted expressions are safe on any row, as in the scoring
    kernels). In a batch assignment, an eligible candidate already proposed for an earlier dwelling
    counts in ``already`` and is not offered. An excluded candidate's tier is ``EXCLUDED``, below
    every real tier (an int8), so that the second pass rejects it with the same comparison. Every
    load is unconditional (the tier is read for excluded candidates too): LLVM does not vectorise a
    loop with a load under a branch."""
    mark = len(em.lines)
    em.line("for t in range(lo, hi):  # first pass: filters, tier and pair total of every candidate")
    em.depth = 3
    em.line("i = _row(cand, t)")
    em.begin_loop()
    em.line("e_ = True  # eligible so far")
    first = 1 if index is not None else 0  # the index applied filter [0] already
    for j, f in enumerate(match.filters[first:], start=first):
        em.line(f"# filter [{j}] {f.id}: {comment(f.when_source)}")
        w = em.emit(f.when)
        em.line(f"ok_{j} = {and_(w.v, w.m)}")
        em.line(f"ex_{j} += e_ & (not ok_{j})")
        em.line(f"e_ = e_ & ok_{j}")
    em.line("elig += e_")
    em.line(f"tk_ = _taken(taken, {'crank[t]' if index is not None else 't'})  # False without an assignment")
    em.line("already += e_ & tk_")
    em.line("e_ = e_ & (not tk_)")
    for j, c in enumerate(match.criteria):
        emit_criterion(em, j, c)
    points = " + ".join(f"p_{j}" for j in range(len(match.criteria))) or "0"
    em.line(f"sc_s[t - lo] = np.int64(base_total[i]) + {points}")
    em.line("tier_ = np.int64(base_tier[i])  # loaded whatever e_: a conditional load keeps the loop scalar")
    em.line("sc_t[t - lo] = tier_ if e_ else EXCLUDED")
    em.depth = 2
    em.lines[mark:mark] = em.dwelling_lines


def _second_pass(em: PairEmitter, index: ir.Index | None) -> None:
    """The candidates, in tie-break order, offered to the bounded heap of the k best when eligible.

    By blocks of ``BLOCK`` (64): once the heap is full, a vectorised loop marks in a bit mask the
    candidates of the block that beat its worst as it is at the block's start; only those are then
    tested again and offered (the worst only gets better, so no other candidate can enter). About 4 %
    of the candidates are marked on the benchmark grid; excluded ones never are (``EXCLUDED``)."""
    em.line("for b in range(lo, hi, BLOCK):  # second pass: the eligible candidates, best k kept")
    em.depth = 3
    em.line("e = min(b + BLOCK, hi)")
    em.line("if cnt < k:  # the heap is not full yet: every candidate of the block")
    em.line("    for t in range(b, e):")
    _offer_lines(em, index, 5)
    em.line("    continue")
    em.line("w_t, w_s = ht[0], hs[0]  # the worst kept")
    em.line("bits = np.uint64(0)")
    em.line("for t in range(b, e):")
    em.line("    beat = (sc_t[t - lo] > w_t) | ((sc_t[t - lo] == w_t) & (sc_s[t - lo] > w_s))")
    em.line("    bits |= np.uint64(beat) << np.uint64(t - b)")
    em.line("while bits != np.uint64(0):")
    em.line("    t = b + _lowest_bit(bits)")
    em.line("    bits &= bits - np.uint64(1)")
    _offer_lines(em, index, 4)
    em.depth = 2


def _offer_lines(em: PairEmitter, index: ir.Index | None, depth: int) -> None:
    """Candidate t: skipped when excluded or no better than the worst of a full heap, else offered."""
    lines = [
        "t_ = sc_t[t - lo]",
        "s_ = sc_s[t - lo]",
        "if cnt == k and (t_ < ht[0] or (t_ == ht[0] and s_ <= hs[0])):",
        "    continue  # excluded, or no better than the worst of a full heap (a later row loses ties)",
        "if t_ == EXCLUDED:",
        "    continue  # excluded, the heap not yet full",
        "r_ = np.int64(crank[t])  # the candidate's tie-break rank"
        if index is not None
        else "r_ = np.int64(t)  # the candidate's tie-break rank",
        "cnt = _offer(ht, hs, hr, cnt, k, t_, s_, r_)",
    ]
    for text in lines:
        em.lines.append("    " * depth + text)


def _scratch(index: ir.Index | None) -> list[str]:
    """The first pass's outputs, sized for the longest candidate list of this call's dwellings."""
    size = (
        ["    big = n"]
        if index is None
        else [
            "    big = 0",
            "    for q in range(q_start, q_stop):",
            "        d = dkey[order[q]]",
            "        if d >= 0:",
            "            big = max(big, ptr[d + 1] - ptr[d])",
        ]
    )
    return [
        *size,
        "    sc_s = np.empty(big, np.int64)  # per candidate of the dwelling: its pair total",
        "    sc_t = np.empty(big, np.int64)  # and its tier, EXCLUDED when not eligible",
    ]


def generate_pair_source(grid: ir.Grid) -> PairSource:
    """The pair kernel of ``grid`` (which must have a match part)."""
    assert grid.match is not None
    hoisted = hoistable(grid)
    em = PairEmitter(grid, hoisted, in_index=grid.match.index is not None)
    em.lines = []
    index = grid.match.index
    _candidate_loop(em, grid, index)
    body = em.lines
    columns = tuple(f.name for f in grid.catalogue if f.name in em.fields)
    masks = tuple(n for n in columns if em.fields[n])
    dcols = tuple(f.name for f in grid.match.catalogue if f.name in em.dwelling_fields)
    dmasks = tuple(n for n in dcols if em.dwelling_fields[n])
    inputs = (
        [f"c_{ident(n)}" for n in columns]
        + [f"valid_{ident(n)}" for n in masks]
        + [f"dc_{ident(n)}" for n in dcols]
        + [f"dvalid_{ident(n)}" for n in dmasks]
        + [f"hv_{k}" for k in range(len(hoisted))]
        + [f"hm_{k}" for k in range(len(hoisted))]
    )
    app_fn, app_columns, app_masks, app_calendar = _app_values(grid, hoisted)
    args = [
        *inputs,
        "plafonds",
        "today",
        "base_total",
        "base_tier",
        "n_rows",
        "ptr",
        "cand",
        "crank",
        "cpos",
        "dkey",
        "order",
        "taken",
        "k",
        "q_start",
        "q_stop",
        *PAIR_OUTPUTS,
    ]
    head = [
        # neither the grid's version nor its content hash: a variant that changes only what the pair
        # kernel does not read (the scoring criteria's points) shares its module and machine code
        f"# Pair kernel of grid '{grid.meta.id}': do not edit.",
        "# filters: " + "; ".join(f"[{j}] {f.id}" for j, f in enumerate(grid.match.filters)),
        "# pair criteria: " + "; ".join(f"[{j}] {c.id}" for j, c in enumerate(grid.match.criteria)),
        "# index: " + (f"logement.{index.dwelling_field} in {index.field}" if index else "none (every row)"),
        "",
        "import numba",
        "import numpy as np",
        "from cotation.codegen.helpers import (_adequation, _cal_months, _ceiling, _civil, _fdiv, _finish,",
        "                                  _lowest_bit, _months_between, _months_to, _offer, _popcount,",
        "                                  _round_half_away, _row, _taken, _valid)",
        "from cotation.codegen.helpers import _add_months, _end_of_month",
        "",
        "EXCLUDED = np.int64(-(2 ** 62))  # the tier of an excluded candidate: below every tier (int8)",
        "BLOCK = 64  # candidates tested at once against the worst of a full heap (bits of a uint64)",
        "",
        *typology_constants(grid),
        "",
    ]
    fn = [
        f"@numba.njit({JIT})",
        *wrapped(f"def {PAIR_KERNEL}", args, ":"),
        '    """Dwellings order[q_start:q_stop]: top k candidates (sorted rows), eligible and excluded counts."""',  # noqa: E501 (generated text)
        "    n = n_rows",
        "    t_year, t_month, t_day = _civil(today)",
        "    ht = np.empty(max(k, 1), np.int64)",
        "    hs = np.empty(max(k, 1), np.int64)",
        "    hr = np.empty(max(k, 1), np.int64)",
        *_scratch(index),
        "    for q in range(q_start, q_stop):",
        *body,
    ]
    text = "\n".join([*head, *app_fn, "", "", *fn, ""])
    return PairSource(
        text=text,
        columns=columns,
        masks=masks,
        dwelling_columns=dcols,
        dwelling_masks=dmasks,
        indexed=index,
        hoisted=tuple(_dtype(h) for h in hoisted),
        hoisted_masks=tuple(h.nullable for h in hoisted),
        app_columns=app_columns,
        app_masks=app_masks,
        app_calendar=app_calendar,
    )

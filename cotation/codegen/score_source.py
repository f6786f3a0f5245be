"""Stage 3 (codegen): generate the source of a grid's scoring kernels, as readable Python text.

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

import re
import textwrap
from dataclasses import dataclass

from ..grid import ir
from .emit import (
    JIT,
    Emitter,
    and_,
    clip_text,
    comment,
    describe,
    emit_criterion,
    ident,
    literal,
    param_bounds,
    times,
    wrapped,
)

CODEGEN_VERSION = "4"
ROWS = "score_rows"
BREAKDOWN_ROWS = "breakdown_rows"
TRACE_ROWS = "trace_rows"
# rows per inner chunk of the kernels (their calendar look-ups and partial totals): 16 384 rather than
# 4 096 from an interleaved A/B of the example grid's kernel / floor (medians 1.86 and 2.21), which one
# full run did not confirm (CHANGELOG, 2026-12-03 afternoon)
CHUNK = 16384
OUTPUTS = ("points", "cal", "cal_lo", "today", "total", "flags", "tier")
BREAKDOWN_OUTPUTS = (*OUTPUTS, "breakdown", "met")
TRACE_OUTPUTS = ("points", "cal", "cal_lo", "today", "rule", "clipped", "met")


@dataclass(frozen=True, kw_only=True)
class KernelSource:
    """The generated module of one grid.

    The kernels are called as ``score_rows(*values, *masks, points, cal, cal_lo, today, total, flags,
    tier, start, stop)`` and ``breakdown_rows(..., tier, breakdown, met, start, stop)`` on the rows
    ``start..stop-1``: ``points`` is the tuple ``parameters`` (int64), the grid's point values
    (fixed points, per-unit rates, criterion and group caps, priority points: ``points[k]`` in the
    source, named by ``parameter_names``), so that the source does not change when only they do
    (band points and points written as expressions stay in the source); ``cal`` is
    :func:`cotation.data.calendar.calendar_table` from day ``cal_lo``, covering today and every stored value
    of the fields in ``calendar``; ``values`` are the columns of ``columns`` (in that order),
    ``masks`` the validity masks of the fields in ``masks``; the outputs are preallocated by the
    caller: ``total`` (``widths.total``), ``flags``
    (``widths.flags``, bit j = priority j), ``tier`` (int8), ``breakdown`` (``C x N``,
    ``widths.breakdown``) and ``met`` (``K x N`` bool).
    """

    text: str
    columns: tuple[str, ...]  # fields whose values the kernels read, in argument order
    masks: tuple[str, ...]  # fields whose validity masks follow the values, in argument order
    calendar: tuple[str, ...]  # date fields read through the calendar table ``cal`` (day ``cal_lo`` first)
    kernel: str  # name of the function for total, flags and tier
    breakdown_kernel: str  # name of the function that also fills breakdown and met
    grid_id: str
    grid_hash: str
    widths: ir.Widths
    parameters: tuple[int, ...] = ()  # the values of points[0], points[1], ... for this grid
    parameter_names: tuple[str, ...] = ()  # e.g. "points of criterion [3] dalo"
    pieces: bool = False  # compiled in pieces: ``points`` is an int64 array, the kernels Python drivers
    jitted: tuple[str, ...] = ()  # the jitted functions the total kernel calls (its cache entries)
    breakdown_jitted: tuple[str, ...] = ()  # the jitted functions the breakdown kernel calls, if not itself
    inputs: tuple[str, ...] = ()  # the kernels' input parameters (values, then masks)
    piece_table: tuple[PieceEntry, ...] = ()  # every jitted piece a Python kernel calls, by kernel


@dataclass(frozen=True)
class PieceEntry:
    """A jitted piece of a grid compiled in pieces: the driver that calls it (``kernel``), its name,
    its parameters before ``r0, start, stop`` (named as the driver names the values it passes, see
    :data:`SCRATCH`) and an estimate of its compile cost (statements and parameters), by which
    :func:`cotation.codegen.build.precompile` shares the pieces between processes."""

    kernel: str
    name: str
    params: tuple[str, ...]
    cost: int


#: The drivers' own arrays that they pass to pieces: name -> (dtype, or "breakdown" for the grid's
#: breakdown width, and number of dimensions). ``bd`` is the caller's ``breakdown`` (or a block of
#: it), ``b0``, ``r0``, ``start`` and ``stop`` are integers.
SCRATCH = {"sm": ("bool", 1), "parts": ("int64", 1), "sp": ("breakdown", 1)}


def _rubric(em: Emitter, r: int, rubric: ir.Rubric, counted: list[str]) -> None:
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


def _group(em: Emitter, g: int, group: ir.Group, counted: list[str]) -> str:
    em.line(f"# group {group.id}: capped to [{group.min}, {group.max}]")
    em.line(f"g_{g} = {' + '.join(counted[j] for j in group.members) or '0'}")
    if group.min is None and group.max is None:
        return "0"
    em.line(f"cap_{g} = {clip_text(f'g_{g}', *param_bounds(em, 'group', g, group.min, group.max))} - g_{g}")
    return f"cap_{g}"


def _priority(em: Emitter, j: int, p: ir.Priority) -> str | None:
    """Sets bit j of the flags, raises the tier; returns the local of its points, if it has any."""
    em.line(f"# priority [{j}] {p.id}: {comment(p.when_source)}")
    w = em.emit(p.when)
    em.line(f"fl_{j} = {and_(w.v, w.m)}")
    em.line(f"fb = fb | (np.uint64(fl_{j}) << np.uint64({j}))")
    if p.tier:
        em.line(f"tier_ = max(tier_, {literal(p.tier)} * fl_{j})")
    if not p.points:
        return None
    em.line(f"pp_{j} = {em.param('priority', j, p.points)} * fl_{j}")
    return f"pp_{j}"


def _priorities(em: Emitter) -> list[str | None]:
    em.line("fb = np.uint64(0)")
    em.line("tier_ = 0")
    return [_priority(em, j, p) for j, p in enumerate(em.grid.priorities)]


def _row_loop(em: Emitter, comment: str, depth: int = 1, rows: str = "start, stop") -> None:
    """Open a loop over rows; the unsigned index lets LLVM vectorise it (shared/perf-notes.md §2.5)."""
    em.begin_loop()
    em.depth = depth
    em.line(f"# {comment}")
    em.line(f"for i0 in range({rows}):")
    em.depth = depth + 1
    em.line("i = np.uint64(i0)")


_CALENDAR = "#@calendar"


def _chunks(em: Emitter) -> None:
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
    allocate = [f"    kb_{ident(n)} = np.empty(CHUNK, np.int64)" for n in fields]
    out = allocate[:]
    for line in lines:
        if line.strip() != _CALENDAR:
            out.append(line)
            continue
        for n in fields:
            out += [
                f"        for i0 in range(s, e):  # calendar entries of {n}",
                f"            kb_{ident(n)}[i0 - s] = cal[np.uint64(c_{ident(n)}[i0] - cal_lo)]",
            ]
    return out


#: Criteria per loop of the total kernel (``score_rows``): one fused loop over every criterion keeps
#: too many values live at once (LLVM spills them to the stack in its vectorised loop), so the
#: criteria are split into loops of about this many (whole components: rubrics and groups), each
#: adding a partial total into a chunk-sized scratch ``acc``; a last loop adds the priorities. At
#: 1M rows (2 threads), 2 loops instead of one for the example grid, 4 for bench-40: the total kernel
#: about 1.4x and 2x faster, compiled no slower (benchmarks/README.md, issue 18).
FUSED_LOOP = 12


def _fused_body(em: Emitter) -> list[str]:
    """score_rows: total, flags and tier of each row, without the breakdown. Up to FUSED_LOOP
    criteria: one fused loop; beyond, loops over a chunk's rows each adding the partial total of some
    components to ``acc``, then a last loop for flags, tier and the total."""
    grid = em.grid
    plan = _packed(grid, -(-len(grid.criteria) // FUSED_LOOP)) if len(grid.criteria) > FUSED_LOOP else []
    if plan:
        em.depth = 1
        em.line("acc = np.empty(CHUNK, np.int64)  # the chunk's partial totals")
    _chunks(em)
    for q, part in enumerate(plan):
        _row_loop(em, f"{len(part.criteria)} criteria from [{part.criteria[0]}]: partial total", 2, "s, e")
        counted, caps = _components_of(em, part)
        terms = [*(counted[j] for j in part.criteria), *caps]
        em.line(f"acc[i - us] = {'acc[i - us] + ' if q else ''}{' + '.join(terms)}")
    if not plan:
        _row_loop(em, "one fused loop: total, flags and tier", 2, "s, e")
        for j, c in enumerate(grid.criteria):
            emit_criterion(em, j, c)
        counted = [f"p_{j}" for j in range(len(grid.criteria))]
        for r, rubric in enumerate(grid.rubrics):
            _rubric(em, r, rubric, counted)
        prio = _priorities(em)
        caps = [_group(em, g, group, counted) for g, group in enumerate(grid.groups)]
        columns = counted + [x for x in prio if x is not None] + caps
    else:
        _row_loop(em, "priorities: flags, tier and the total", 2, "s, e")
        columns = ["acc[i - us]"] + [x for x in _priorities(em) if x is not None]
    em.line("# outputs")
    em.line(f"total[i] = {' + '.join(columns) or '0'}")
    em.line("flags[i] = fb")
    em.line("tier[i] = tier_")
    return em.lines


def _breakdown_body(em: Emitter) -> list[str]:
    """breakdown_rows: one loop per criterion writing its row of breakdown and met, then the rest."""
    _chunks(em)
    _criterion_loops(em, range(len(em.grid.criteria)))
    _breakdown_tail(em)
    return em.lines


def _criterion_loops(em: Emitter, js: range) -> None:
    """One loop per criterion of ``js`` over the chunk's rows, writing its row of breakdown and met."""
    for j in js:
        _row_loop(em, f"criterion [{j}] {em.grid.criteria[j].id}", 2, "s, e")
        emit_criterion(em, j, em.grid.criteria[j])
        em.line(f"breakdown[{j}, i] = p_{j}")
        em.line(f"met[{j}, i] = met_{j}")


def _breakdown_tail(em: Emitter) -> None:
    """The last loops of the breakdown kernel, over the chunk's rows of breakdown and met: flags,
    tier and the priorities' points, then rubrics, group caps and the total."""
    grid = em.grid
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


#: From this many criteria the breakdown kernel of a grid (one loop per criterion, the slowest of its
#: kernels to compile: 8 s for the 24 criteria of the example grid, 12 s for 40) is two jitted
#: parts that two processes compile at once (:func:`cotation.codegen.build.precompile`), called in
#: turn by a Python ``breakdown_rows``: the second reads back the rows of rubric and group members
#: the first wrote, which costs little beside the inputs both read.
SPLIT_FROM = 12


def _breakdown_parts(em: Emitter, seen: dict[str, bool]) -> list[Piece]:
    """The breakdown kernel in two parts of about the same cost (:attr:`Piece.cost`, found by
    bisection on where the first part ends): the first criteria, then the others and
    :func:`_breakdown_tail` (each part takes only the inputs it reads)."""
    lo, hi = 1, len(em.grid.criteria) - 1
    while lo < hi:  # the first cut whose first part costs at least as much as the second
        mid = (lo + hi) // 2
        first, second = _parts_at(em, {}, mid)
        lo, hi = (lo, mid) if first.cost >= second.cost else (mid + 1, hi)
    return _parts_at(em, seen, lo)


def _parts_at(em: Emitter, seen: dict[str, bool], half: int) -> list[Piece]:
    """The two parts of the breakdown kernel when the first ends before criterion ``half``."""
    parts = []
    for q, js in enumerate((range(0, half), range(half, len(em.grid.criteria)))):
        em.lines, em.calendar, em.fields = [], set(), {}
        _chunks(em)
        _criterion_loops(em, js)
        outputs: tuple[str, ...] = ("breakdown", "met")
        if q == 1:
            _breakdown_tail(em)
            outputs = ("total", "flags", "tier", "breakdown", "met")
        doc = f"Rows start..stop-1, by chunks of CHUNK rows: criteria [{js[0]}] to [{js[-1]}]" + (
            ", then flags, tier, rubrics, group caps and the total." if q else "."
        )
        parts.append(_close_piece(em, seen, f"breakdown_part_{q}", outputs, doc))
    return parts


def _split_driver(inputs: list[str], parts: list[Piece]) -> list[str]:
    """``breakdown_rows`` of a split breakdown kernel: a Python function calling its parts in turn."""
    return [
        *wrapped(f"def {BREAKDOWN_ROWS}", [*inputs, *BREAKDOWN_OUTPUTS, "start", "stop"], ":"),
        '    """Rows start..stop-1: breakdown and met (criterion-major), total, flags, tier (two parts)."""',
        *[line for piece in parts for line in _call(piece, "0, start, stop", "    ")],
    ]


def _trace_body(em: Emitter) -> list[str]:
    """trace_rows: per criterion, the points of its rule, after its own min/max, and whether it is met
    (before rubrics and group caps): what an explanation shows, from the same code as the scores."""
    _chunks(em)
    for j, c in enumerate(em.grid.criteria):
        _row_loop(em, f"criterion [{j}] {c.id}", 2, "s, e")
        emit_criterion(em, j, c)
        em.line(f"rule[{j}, i] = {times(f'pts_{j}', f'met_{j}')}")
        em.line(f"clipped[{j}, i] = p_{j}")
        em.line(f"met[{j}, i] = met_{j}")
    return em.lines


# -- the module ----------------------------------------------------------------------------
_HELPER_IMPORT = (
    "from cotation.codegen.helpers import (_adequation, _cal_months, _civil, _fdiv, _months_between,\n"
    "                                  _months_to, _popcount, _round_half_away, _valid)\n"
    "from cotation.codegen.helpers import _add_months, _end_of_month"
)


def _header(grid: ir.Grid, em: Emitter, names: list[str]) -> list[str]:
    meta = grid.meta
    w = grid.widths
    out = [
        f"# Scoring kernels of grid '{meta.id}', generated by cotation.codegen {CODEGEN_VERSION}: "
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
        "# criteria (breakdown columns, in order):",
    ]
    out += [f"#   [{j}] {c.id}: {describe(c, em, j)}" for j, c in enumerate(grid.criteria)]
    out.append("# priorities:")
    for j, p in enumerate(grid.priorities):
        points = em.param("priority", j, p.points) if p.points else None
        extra = (f" ({points})" if points else "") + (f" (tier {p.tier})" if p.tier else "")
        out.append(f"#   [{j}] {p.id}: {comment(p.when_source)}{extra}")
    out.append("# breakdown columns: " + ", ".join(col.id for col in grid.columns))
    return [*out, "", "import numba", "import numpy as np"]


def _function(rows: str, outputs: tuple[str, ...], body: list[str], doc: str, inputs: list[str]) -> list[str]:
    """A serial row function over rows start..stop-1 (the caller splits rows between threads)."""
    args = [*inputs, *outputs]
    return [
        f"@numba.njit({JIT})",
        *wrapped(f"def {rows}", [*args, "start", "stop"], ":"),
        f'    """{doc}"""',
        "    t_year, t_month, t_day = _civil(today)",
        "    t_cal = np.int64(cal[np.uint64(today - cal_lo)])",
        *body,
    ]


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
    return [
        f"TYPO_LO = np.array([{lo}], np.int64)  # match.typology: minimum rooms for 1, 2, ... persons",
        f"TYPO_HI = np.array([{hi}], np.int64)  # maximum rooms",
        "",
    ]


def generate_source(grid: ir.Grid) -> KernelSource:
    """The kernel module of ``grid``: readable Python text for Numba, and how to call it. A grid of
    PIECES_FROM criteria or more is compiled in pieces (:func:`generate_pieces`)."""
    if len(grid.criteria) >= PIECES_FROM:
        return generate_pieces(grid)
    em = Emitter(grid)
    em.params = {}
    fused = list(_fused_body(em))
    em.lines = []
    parts: list[Piece] = []
    if len(grid.criteria) >= SPLIT_FROM:
        fields, dates = dict(em.fields), set(em.calendar)
        seen: dict[str, bool] = {}
        parts = _breakdown_parts(em, seen)
        read, looked_up = _seen(seen)
        em.fields = {n: fields.get(n, False) or read.get(n, False) for n in {*fields, *read}}
        em.calendar = dates | looked_up
        breakdown = []
    else:
        breakdown = list(_breakdown_body(em))
    em.lines = []
    traced = list(_trace_body(em))
    calendar = [f.name for f in grid.catalogue if f.name in em.calendar]
    fused, breakdown = _calendar_loops(fused, calendar), _calendar_loops(breakdown, calendar)
    traced = _calendar_loops(traced, calendar)
    columns = tuple(f.name for f in grid.catalogue if f.name in em.fields)
    masks = tuple(n for n in columns if em.fields[n])
    inputs = [f"c_{ident(n)}" for n in columns] + [f"valid_{ident(n)}" for n in masks]
    names = [_parameter_name(grid, what, j) for what, j in em.params]  # in the order of points[k]
    header = _header(grid, em, names)
    first = _function(ROWS, OUTPUTS, fused, "Rows start..stop-1: total, flags (bits) and tier.", inputs)
    second = _function(
        BREAKDOWN_ROWS,
        BREAKDOWN_OUTPUTS,
        breakdown,
        "Rows start..stop-1, by chunks of CHUNK rows: breakdown and met (criterion-major), "
        "total, flags, tier.",
        inputs,
    )
    if parts:
        second = [line for piece in parts for line in piece.lines] + _split_driver(inputs, parts)
    third = _function(
        TRACE_ROWS,
        TRACE_OUTPUTS,
        traced,
        "Rows start..stop-1: per criterion, the points of its rule (0 when not met), after its own "
        "min/max, and met (criterion-major, before rubrics and caps).",
        inputs,
    )
    constants = typology_constants(grid) if em.uses_typology else []
    text = "\n".join(
        [
            *header,
            _HELPER_IMPORT,
            "",
            f"CHUNK = {CHUNK}",
            *constants,
            "",
            "",
            *first,
            "",
            "",
            *second,
            "",
            "",
            *third,
            "",
        ]
    )
    return KernelSource(
        text=text,
        columns=columns,
        masks=masks,
        calendar=tuple(calendar),
        kernel=ROWS,
        breakdown_kernel=BREAKDOWN_ROWS,
        grid_id=grid.meta.id,
        grid_hash=grid.content_hash,
        widths=grid.widths,
        parameters=tuple(value for _, value in em.params.values()),
        parameter_names=tuple(names),
        inputs=tuple(inputs),
        piece_table=tuple(PieceEntry(BREAKDOWN_ROWS, p.name, p.params, p.cost) for p in parts),
        breakdown_jitted=tuple(p.name for p in parts),
    )


# -- large grids: kernels in pieces ------------------------------------------------------------------
#: From this many criteria a grid's kernels are compiled in pieces: Numba's and LLVM's passes grow
#: faster than the size of one function (the fused breakdown kernel, one loop per criterion: 24
#: criteria 8 s, 48 20 s, 96 100 s) and Numba refuses a ``points`` tuple of 1 000 items. Below, the
#: fused kernels are kept: faster to run (three stores per row, vectorised), and their total kernel
#: compiles as fast as the pieces (one fused loop: about 0.05 s of CPU per criterion; each piece
#: costs about 1 s more, mostly Numba writing its cache entry).
PIECES_FROM = 100
PIECE = 100  # criteria per piece
BLOCK = 16_384  # rows per block: the scratch of the total kernel, and of each criteria piece
_CONTEXT = ("points", "cal", "cal_lo", "today")


@dataclass(frozen=True)
class Piece:
    """One jitted function of a grid compiled in pieces: its text, and its parameters before
    ``r0, start, stop`` (named as the drivers name the values they pass)."""

    name: str
    lines: tuple[str, ...]
    params: tuple[str, ...]
    rows: tuple[int, ...] = ()  # a breakdown piece: the rows of the breakdown its scratch rows go to
    met_rows: int = 0  # ... the first ``met_rows`` of which are criteria (their met rows too)
    cost: int = 0  # its statements and parameters: what its compile time grows with


def _open_piece(em: Emitter, what: str, chunked: bool = True) -> None:
    """Start a piece: fields, masks and calendar look-ups are counted per piece (its parameters)."""
    em.lines, em.calendar, em.fields = [], set(), {}
    if chunked:  # chunks of CHUNK rows: the calendar look-ups of a chunk are gathered first
        _chunks(em)
        _row_loop(em, what, 2, "s, e")
    else:
        _row_loop(em, what, 1, "start, stop")


def _close_piece(em: Emitter, seen: dict[str, bool], name: str, outputs: tuple[str, ...], doc: str) -> Piece:
    """The piece's function: only the inputs, context and helpers it uses, so that each compiles in
    time proportional to its own size. ``seen`` collects every field (and whether its mask is read)."""
    grid = em.grid
    calendar = [f.name for f in grid.catalogue if f.name in em.calendar]
    body = _calendar_loops(em.lines, calendar)
    seen.update({n: seen.get(n, False) or m for n, m in em.fields.items()})
    seen.update({f"#cal:{n}": True for n in calendar})
    fields = [f.name for f in grid.catalogue if f.name in em.fields]
    inputs = [f"c_{ident(n)}" for n in fields] + [f"valid_{ident(n)}" for n in fields if em.fields[n]]
    text = "\n".join(body)
    pre = []
    if re.search(r"\bt_(year|month|day)\b", text):
        pre.append("    t_year, t_month, t_day = _civil(today)")
    if "t_cal" in text:
        pre.append("    t_cal = np.int64(cal[np.uint64(today - cal_lo)])")
    if "ur0" in text:
        pre.append("    ur0 = np.uint64(r0)")
    used = "\n".join([*pre, text])
    context = [c for c in _CONTEXT if re.search(rf"\b{c}\b", used)]
    params = (*inputs, *context, *outputs)
    head = [f"@numba.njit({JIT})", *wrapped(f"def {name}", [*params, "r0", "start", "stop"], ":")]
    cost = sum(1 for line in body if not line.lstrip().startswith("#")) + 2 * len(params)
    return Piece(name, (*head, f'    """{doc}"""', *pre, *body, "", ""), params, cost=cost)


def _seen(seen: dict[str, bool]) -> tuple[dict[str, bool], set[str]]:
    """What :func:`_close_piece` collected in ``seen``: the fields read (and whether their mask is),
    and the date fields read through the calendar table."""
    fields = {n: m for n, m in seen.items() if not n.startswith("#cal:")}
    return fields, {n.removeprefix("#cal:") for n in seen if n.startswith("#cal:")}


def _criteria_piece(em: Emitter, seen: dict[str, bool], p: int, plan: TotalPiece, trace: bool) -> Piece:
    """The criteria of ``plan`` for the breakdown: their points after their rubrics, and met, then
    their groups' cap adjustments, into the piece's row-major scratch ``sp``/``sm`` (one array each,
    so that LLVM checks them against the inputs once, not once per store: ``unpack_rows`` copies them
    to the breakdown); or, for the trace, the rule's points, the clipped points and met into rows of
    the C x N outputs (before rubrics and caps)."""
    grid, js = em.grid, plan.criteria
    _open_piece(em, f"{len(js)} criteria from [{js[0]}]")
    if trace:
        for j in js:
            emit_criterion(em, j, grid.criteria[j])
            em.line(f"rule[{j}, i - ur0] = {times(f'pts_{j}', f'met_{j}')}")
            em.line(f"clipped[{j}, i - ur0] = p_{j}")
            em.line(f"met[{j}, i - ur0] = met_{j}")
        doc = f"Trace of {len(js)} criteria from [{js[0]}]: rule points, clipped points, met."
        return _close_piece(em, seen, f"trace_piece_{p}", ("rule", "clipped", "met"), doc)
    counted, caps = _components_of(em, plan)
    for k, j in enumerate(js):
        em.line(f"sp[{_at(k)}] = {counted[j]}")
        em.line(f"sm[{_at(k)}] = met_{j}")
    for k, cap in enumerate(caps, start=len(js)):
        em.line(f"sp[{_at(k)}] = {cap}")
    first_cap = len(grid.criteria) + sum(1 for x in grid.priorities if x.points)
    doc = f"{len(js)} criteria from [{js[0]}]: points after rubrics, met, cap adjustments (row-major)."
    piece = _close_piece(em, seen, f"criteria_piece_{p}", ("sp", "sm"), doc)
    rows = (*js, *(first_cap + g for g in plan.groups))
    return Piece(piece.name, piece.lines, piece.params, rows, len(js), piece.cost)


def _priority_piece(em: Emitter, seen: dict[str, bool]) -> Piece:
    grid = em.grid
    _open_piece(em, "priorities: flags, tier and their points")
    prio = _priorities(em)
    cols = [j for j, p in enumerate(grid.priorities) if p.points]
    for col, j in enumerate(cols, start=len(grid.criteria)):
        em.line(f"bd[{col}, i - ur0] = {prio[j]}")
    em.line("flags[i] = fb")
    em.line("tier[i] = tier_")
    return _close_piece(em, seen, "priority_piece", ("flags", "tier", "bd"), "Flags, tier, priority points.")


@dataclass(frozen=True)
class TotalPiece:
    """What one piece computes: criteria linked by a rubric or a group are in the same piece (a
    component), so that it applies their rubrics and caps itself: a piece of the total kernel adds
    one partial total per row (a row of ``parts``), the last piece only the priorities' points."""

    criteria: tuple[int, ...]
    rubrics: tuple[int, ...]
    groups: tuple[int, ...]


def _components(grid: ir.Grid) -> list[TotalPiece]:
    """Criteria joined when they share a rubric or a group (union-find), with their rubrics and groups."""
    parent = list(range(len(grid.criteria)))

    def root(j: int) -> int:
        while parent[j] != j:
            parent[j] = parent[parent[j]]
            j = parent[j]
        return j

    for members in [r.members for r in grid.rubrics] + [g.members for g in grid.groups]:
        for j in members[1:]:
            parent[root(j)] = root(members[0])
    comps: dict[int, list[int]] = {}
    for j in range(len(grid.criteria)):
        comps.setdefault(root(j), []).append(j)

    def owned(members: list[tuple[int, ...]], js: list[int]) -> tuple[int, ...]:
        return tuple(r for r, m in enumerate(members) if m and root(m[0]) == root(js[0]))

    rubrics, groups = [r.members for r in grid.rubrics], [g.members for g in grid.groups]
    return [TotalPiece(tuple(js), owned(rubrics, js), owned(groups, js)) for js in comps.values()]


def _total_plan(grid: ir.Grid) -> list[TotalPiece]:
    """The pieces of a grid compiled in pieces: components (:func:`_components`) packed into
    ``count`` pieces of about equal size (at most PIECE criteria, but a large component; two at
    least, for two processes), those that read the same fields next to each other, so that each
    piece takes few input arrays (each costs about 20 ms of compilation)."""
    return _packed(grid, max(2, -(-len(grid.criteria) // PIECE)))  # two at least: two processes


def _packed(grid: ir.Grid, count: int) -> list[TotalPiece]:
    """The components of ``grid`` packed into at most ``count`` parts of about equal size (a large
    component stays whole), those that read the same fields next to each other."""
    variables = {v.name: v for v in grid.variables}

    def fields(piece: TotalPiece) -> tuple[str, ...]:
        exprs = [e for j in piece.criteria for e in grid.criteria[j].expressions()]
        return tuple(sorted(ir.reads(exprs, variables)[0]))

    size = -(-len(grid.criteria) // count)
    plan: list[TotalPiece] = []
    current: list[TotalPiece] = []
    for comp in sorted(_components(grid), key=lambda c: (fields(c), c.criteria[0])):
        full = current and sum(len(c.criteria) for c in current) + len(comp.criteria) > size
        if full and len(plan) < count - 1:
            plan.append(_merged(current))
            current = []
        current.append(comp)
    if current:
        plan.append(_merged(current))
    return plan


def _merged(comps: list[TotalPiece]) -> TotalPiece:
    return TotalPiece(
        tuple(sorted(j for c in comps for j in c.criteria)),
        tuple(sorted(r for c in comps for r in c.rubrics)),
        tuple(sorted(g for c in comps for g in c.groups)),
    )


def _at(row: int) -> str:
    """Row ``row`` of a flat scratch of BLOCK-row rows, at row i of the block: one array with constant
    offsets, which LLVM checks against the inputs once (a 2-D array's rows would each be checked)."""
    return f"np.uint64({row * BLOCK}) + (i - ur0)"


def _components_of(em: Emitter, plan: TotalPiece) -> tuple[list[str], list[str]]:
    """The criteria of ``plan`` then their rubrics (only the best met member counts) and group caps:
    the local of each criterion's counted points (by criterion index) and of each cap adjustment."""
    grid = em.grid
    for j in plan.criteria:
        emit_criterion(em, j, grid.criteria[j])
    counted = [f"p_{j}" for j in range(len(grid.criteria))]
    for r in plan.rubrics:
        _rubric(em, r, grid.rubrics[r], counted)
    return counted, [_group(em, g, grid.groups[g], counted) for g in plan.groups]


def _total_piece(em: Emitter, seen: dict[str, bool], p: int, plan: TotalPiece) -> Piece:
    """The criteria of ``plan`` for the total kernel, with their rubrics and group caps: one partial
    total per row, one store, as in the fused kernel."""
    _open_piece(em, f"{len(plan.criteria)} criteria from [{plan.criteria[0]}]: partial total")
    counted, caps = _components_of(em, plan)
    em.line(f"parts[{_at(p)}] = {' + '.join([*(counted[j] for j in plan.criteria), *caps]) or '0'}")
    doc = f"{len(plan.criteria)} criteria from [{plan.criteria[0]}], their rubrics and caps: a partial total."
    return _close_piece(em, seen, f"total_piece_{p}", ("parts",), doc)


def _total_finish(em: Emitter, seen: dict[str, bool], parts: int) -> Piece:
    """The last piece of the total kernel, one loop: flags and tier, the priorities' points, and the
    total: the partial totals of the criteria pieces plus those."""
    _open_piece(em, "priorities and the total")
    terms = [f"parts[{_at(p)}]" for p in range(parts)]
    terms += [x for x in _priorities(em) if x is not None]
    em.line("flags[i] = fb")
    em.line("tier[i] = tier_")
    em.line(f"total[i] = {' + '.join(terms) or '0'}")
    doc = "Flags, tier and the total, from the partial totals and the priorities' points."
    return _close_piece(em, seen, "total_finish", ("parts", "total", "flags", "tier"), doc)


def _call(piece: Piece, tail: str, indent: str) -> list[str]:
    return [indent + line for line in wrapped(piece.name, [*piece.params, tail], "")]


def _drivers(
    grid: ir.Grid,
    inputs: list[str],
    kernels: tuple[list[Piece], list[Piece], list[Piece], list[Piece]],
) -> list[str]:
    """The three kernels as Python functions calling the pieces (each releases the GIL), BLOCK rows
    at a time (s..e-1): each criteria piece fills the scratch sp/sm, unpacked into bd and met (row
    i at column i - b0: the block's own scratch for the total, the caller's breakdown else)."""
    totals, pieces, rest, traces = kernels
    steps: list[str] = []
    for p, piece in enumerate(pieces):
        steps += _call(piece, "s, s, e", "        ")
        steps += [f"        unpack_rows(sp, sm, ROWS_{p}, {piece.met_rows}, BLOCK, bd, met, s, b0, s, e)"]
    for piece in rest:
        steps += _call(piece, "b0, s, e", "        ")
    steps += ["        column_sums(bd, total, b0, s, e)"]
    height = max([len(piece.rows) for piece in pieces] or [1])
    scratch = [
        f"    sp = np.empty(BLOCK * {height}, np.{grid.widths.breakdown})",
        f"    sm = np.empty(BLOCK * {height}, np.bool_)",
        "    for s in range(start, stop, BLOCK):",
        "        e = min(s + BLOCK, stop)",
    ]
    args = [*inputs, *_CONTEXT]
    total_steps = [line for piece in totals for line in _call(piece, "s, s, e", "        ")]
    return [
        *wrapped(f"def {ROWS}", [*args, *OUTPUTS[4:], "start", "stop"], ":"),
        '    """Rows start..stop-1, BLOCK rows at a time: partial totals, then their sum; flags, tier."""',
        f"    parts = np.empty({max(1, len(totals) - 1)} * BLOCK, np.int64)",
        "    for s in range(start, stop, BLOCK):",
        "        e = min(s + BLOCK, stop)",
        *total_steps,
        "",
        "",
        *wrapped(f"def {BREAKDOWN_ROWS}", [*args, *BREAKDOWN_OUTPUTS[4:], "start", "stop"], ":"),
        '    """Rows start..stop-1: breakdown and met (criterion-major), total, flags, tier."""',
        "    bd, b0 = breakdown, 0",
        *scratch,
        *steps,
        "",
        "",
        *wrapped(f"def {TRACE_ROWS}", [*args, *TRACE_OUTPUTS[4:], "start", "stop"], ":"),
        '    """Rows start..stop-1: per criterion, the points of its rule, after its min/max, and met."""',
        *[line for piece in traces for line in _call(piece, "0, start, stop", "    ")],
        "",
    ]


def generate_pieces(grid: ir.Grid) -> KernelSource:
    """The kernel module of a large grid: jitted pieces of PIECE criteria each (their points and met),
    a piece for the priorities, pieces for rubrics and group caps, the total as the sum of the
    breakdown's rows (``helpers.column_sums``), and ``score_rows``, ``breakdown_rows`` and
    ``trace_rows`` as Python functions calling them, with the arguments of the fused kernels except
    ``points``, an int64 array (Numba refuses tuples of 1 000 items and compiles long ones slowly).
    Each piece takes only the inputs it reads, so that it compiles in time proportional to its size."""
    em = Emitter(grid)
    em.params = {}
    seen: dict[str, bool] = {}
    plan = _total_plan(grid)
    totals = [_total_piece(em, seen, p, piece) for p, piece in enumerate(plan)]
    totals.append(_total_finish(em, seen, len(plan)))
    pieces = [_criteria_piece(em, seen, p, piece, trace=False) for p, piece in enumerate(plan)]
    rest = [_priority_piece(em, seen)]
    traces = [_criteria_piece(em, seen, p, piece, trace=True) for p, piece in enumerate(plan)]
    rows = [f"ROWS_{p} = np.array({list(piece.rows)}, np.int64)" for p, piece in enumerate(pieces)]
    read, looked_up = _seen(seen)
    calendar = tuple(f.name for f in grid.catalogue if f.name in looked_up)
    columns = tuple(f.name for f in grid.catalogue if f.name in read)
    masks = tuple(n for n in columns if read[n])
    inputs = [f"c_{ident(n)}" for n in columns] + [f"valid_{ident(n)}" for n in masks]
    names = [_parameter_name(grid, what, j) for what, j in em.params]
    header = _header(grid, em, names)
    header[1:4] = [
        f"# Compiled in pieces ({len(plan)} of up to {PIECE} criteria): the point values are the int64",
        "# array points (KernelSource.parameters), so that grids which differ only in them share this",
        "# module and its compiled code. Nor are the grid's version, file and content hash.",
    ]
    constants = typology_constants(grid) if em.uses_typology else []
    functions = [line for piece in [*totals, *pieces, *rest, *traces] for line in piece.lines]
    text = "\n".join(
        [
            *header,
            _HELPER_IMPORT,
            "from cotation.codegen.helpers import column_sums, unpack_rows",
            "",
            f"CHUNK = {CHUNK}",
            f"BLOCK = {BLOCK}",
            "# the rows of the breakdown each criteria piece's scratch rows go to (unpack_rows)",
            *[line for row in rows for line in textwrap.wrap(row, 100, subsequent_indent="    ")],
            *constants,
            "",
            "",
            *functions,
            *_drivers(grid, inputs, (totals, pieces, rest, traces)),
        ]
    )
    return KernelSource(
        text=text,
        columns=columns,
        masks=masks,
        calendar=calendar,
        kernel=ROWS,
        breakdown_kernel=BREAKDOWN_ROWS,
        grid_id=grid.meta.id,
        grid_hash=grid.content_hash,
        widths=grid.widths,
        parameters=tuple(value for _, value in em.params.values()),
        parameter_names=tuple(names),
        pieces=True,
        jitted=tuple(piece.name for piece in totals),
        breakdown_jitted=tuple(piece.name for piece in [*pieces, *rest]),
        inputs=tuple(inputs),
        piece_table=tuple(
            PieceEntry(kernel, piece.name, piece.params, piece.cost)
            for kernel, group in ((ROWS, totals), (BREAKDOWN_ROWS, [*pieces, *rest]), (TRACE_ROWS, traces))
            for piece in group
        ),
    )

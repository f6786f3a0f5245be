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

CODEGEN_VERSION = "3"
ROWS = "score_rows"
BREAKDOWN_ROWS = "breakdown_rows"
TRACE_ROWS = "trace_rows"
CHUNK = 4096  # rows per inner chunk of the breakdown function (its rows stay in the L2 cache)
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


def _fused_body(em: Emitter) -> list[str]:
    """score_rows: one loop computing total, flags and tier of each row (no breakdown)."""
    grid = em.grid
    _chunks(em)
    _row_loop(em, "one fused loop: total, flags and tier", 2, "s, e")
    for j, c in enumerate(grid.criteria):
        emit_criterion(em, j, c)
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


def _breakdown_body(em: Emitter) -> list[str]:
    """breakdown_rows: one loop per criterion writing its row of breakdown and met, then the rest."""
    grid = em.grid
    _chunks(em)
    for j, c in enumerate(grid.criteria):
        _row_loop(em, f"criterion [{j}] {c.id}", 2, "s, e")
        emit_criterion(em, j, c)
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
    "                                  _months_to, _popcount, _round_half_away, _valid)"
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
    )


# -- large grids: kernels in pieces ------------------------------------------------------------------
#: From this many criteria a grid's kernels are compiled in pieces: Numba's and LLVM's passes grow
#: faster than the size of one function (the breakdown kernel, one loop per criterion: 24 criteria
#: 8 s, 48 20 s, 96 100 s) and Numba refuses a ``points`` tuple of 1 000 items. Each piece still
#: costs about 3 s to compile (measured: 60 criteria in pieces, 20 s for all three kernels), so
#: below this size the fused kernels are kept: faster to run (three stores per row, vectorised)
#: and, for the total, faster to compile.
PIECES_FROM = 200
PIECE = 24  # criteria per piece
BLOCK = 16_384  # rows per block of the total kernel's scratch breakdown
_PIECE_ARGS = "r0, start, stop"


def _piece(em: Emitter, name: str, outputs: tuple[str, ...], body: list[str], doc: str) -> list[str]:
    """A jitted piece over rows start..stop-1 writing row i of its outputs at column i - r0; the
    inputs are filled in at the end (placeholder), as in _calendar_loops."""
    calendar = sorted(em.calendar)
    em.calendar_all.update(calendar)  # type: ignore[attr-defined]
    lines = _calendar_loops(body, calendar)
    return [
        f"@numba.njit({JIT})",
        f"def {name}(#@inputs, {', '.join(outputs)}, {_PIECE_ARGS}):",
        f'    """{doc}"""',
        "    t_year, t_month, t_day = _civil(today)",
        "    t_cal = np.int64(cal[np.uint64(today - cal_lo)])",
        "    ur0 = np.uint64(r0)",
        *lines,
    ]


def _begin_piece(em: Emitter, what: str) -> None:
    em.lines = []
    em.calendar = set()
    _chunks(em)
    _row_loop(em, what, 2, "s, e")


def _criteria_piece(em: Emitter, p: int, js: range, trace: bool) -> list[str]:
    grid = em.grid
    _begin_piece(em, f"criteria [{js[0]}] to [{js[-1]}]")
    width = len(js)
    for k, j in enumerate(js):
        emit_criterion(em, j, grid.criteria[j])
        if trace:
            em.line(f"rule[{j}, i - ur0] = {times(f'pts_{j}', f'met_{j}')}")
            em.line(f"clipped[{j}, i - ur0] = p_{j}")
            em.line(f"met[{j}, i - ur0] = met_{j}")
        else:  # one flat row-major scratch: LLVM checks it against the inputs once, not per store
            em.line(f"sp[(i - ur0) * np.uint64({width}) + np.uint64({k})] = p_{j}")
            em.line(f"sm[(i - ur0) * np.uint64({width}) + np.uint64({k})] = met_{j}")
    if trace:
        return _piece(em, f"trace_piece_{p}", TRACE_OUTPUTS, em.lines, "Trace of criteria of this piece.")
    doc = f"Criteria [{js[0]}] to [{js[-1]}]: their points (after their own min/max) and met."
    return _piece(em, f"criteria_piece_{p}", ("points", "cal", "cal_lo", "today", "sp", "sm"), em.lines, doc)


def _priority_piece(em: Emitter) -> list[str]:
    grid = em.grid
    _begin_piece(em, "priorities: flags, tier and their points")
    prio = _priorities(em)
    cols = [j for j, p in enumerate(grid.priorities) if p.points]
    for col, j in enumerate(cols, start=len(grid.criteria)):
        em.line(f"bd[{col}, i - ur0] = {prio[j]}")
    em.line("flags[i] = fb")
    em.line("tier[i] = tier_")
    outputs = ("points", "cal", "cal_lo", "today", "flags", "tier", "bd")
    return _piece(em, "priority_piece", outputs, em.lines, "Flags, tier and the priorities' points.")


def _combine_pieces(em: Emitter) -> tuple[list[str], list[str]]:
    """Rubric pieces (the best met member counts), then group pieces (cap adjustments), each over
    about PIECE criteria, reading and writing the rows of ``bd``; returns (text, function names)."""
    grid, out, names = em.grid, [], []
    counted = [f"np.int64(bd[{j}, i - ur0])" for j in range(len(grid.criteria))]
    first_cap = len(grid.criteria) + sum(1 for p in grid.priorities if p.points)
    batches: list[list[tuple[str, int]]] = []
    sizes = (
        ("rubric", [len(r.members) for r in grid.rubrics]),
        ("group", [len(g.members) for g in grid.groups]),
    )
    for kind, members in sizes:
        current: list[tuple[str, int]] = []
        for r, size in enumerate(members):
            if current and _size(grid, current) + size > PIECE:
                batches.append(current)
                current = []
            current.append((kind, r))
        if current:
            batches.append(current)
    for q, batch in enumerate(batches):
        _begin_piece(em, f"{batch[0][0]}s {', '.join(str(r) for _, r in batch)}")
        for kind, r in batch:
            if kind == "rubric":
                rubric = grid.rubrics[r]
                for j in rubric.members:
                    em.line(f"p_{j} = np.int64(bd[{j}, i - ur0])")
                    em.line(f"met_{j} = met[{j}, i - ur0]")
                _rubric(em, r, rubric, list(counted))
                for j in rubric.members:
                    em.line(f"bd[{j}, i - ur0] = k_{j}")
            else:
                em.line(f"bd[{first_cap + r}, i - ur0] = {_group(em, r, grid.groups[r], counted)}")
        name = f"{batch[0][0]}_piece_{q}"
        names.append(name)
        doc = f"{batch[0][0].capitalize()}s of this piece, over the rows of bd."
        out += [*_piece(em, name, ("points", "cal", "cal_lo", "today", "bd", "met"), em.lines, doc), "", ""]
    return out, names


def _size(grid: ir.Grid, batch: list[tuple[str, int]]) -> int:
    return sum(len((grid.rubrics if k == "rubric" else grid.groups)[r].members) for k, r in batch)


def _drivers(grid: ir.Grid, ranges: list[range], traces: list[str], combine: list[str]) -> list[str]:
    """The three kernels, as Python functions calling the pieces (each releases the GIL), BLOCK rows
    at a time (s..e-1); each criteria piece fills the scratch sp/sm, unpacked into bd and met, whose
    row i is at column i - b0."""
    args = "#@inputs, points, cal, cal_lo, today"
    ncols, ncrit = len(grid.columns), len(grid.criteria)
    steps = []
    for p, js in enumerate(ranges):
        steps += [f"criteria_piece_{p}(*a, sp, sm, s, s, e)"]
        steps += [f"unpack_piece(sp, sm, {len(js)}, {js[0]}, bd, met, s, b0, s, e)"]
    steps += ["priority_piece(*a, flags, tier, bd, b0, s, e)"]
    steps += [f"{name}(*a, bd, met, b0, s, e)" for name in combine]
    steps += ["column_sums(bd, total, b0, s, e)"]
    scratch = [
        f"    sp = np.empty(min(BLOCK, stop - start) * {PIECE}, np.{grid.widths.breakdown})",
        f"    sm = np.empty(min(BLOCK, stop - start) * {PIECE}, np.bool_)",
        "    for s in range(start, stop, BLOCK):",
        "        e = min(s + BLOCK, stop)",
    ]
    return [
        f"def {ROWS}({args}, total, flags, tier, start, stop):",
        '    """Rows start..stop-1, BLOCK rows at a time through a scratch breakdown: total, flags, tier."""',
        "    a = (#@inputs, points, cal, cal_lo, today)",
        f"    bd = np.empty(({ncols}, min(BLOCK, stop - start)), np.{grid.widths.breakdown})",
        f"    met = np.empty(({ncrit}, min(BLOCK, stop - start)), np.bool_)",
        *scratch,
        "        b0 = s",
        *[f"        {step}" for step in steps],
        "",
        "",
        f"def {BREAKDOWN_ROWS}({args}, total, flags, tier, breakdown, met, start, stop):",
        '    """Rows start..stop-1: breakdown and met (criterion-major), total, flags, tier."""',
        "    a = (#@inputs, points, cal, cal_lo, today)",
        "    bd, b0 = breakdown, 0",
        *scratch,
        *[f"        {step}" for step in steps],
        "",
        "",
        f"def {TRACE_ROWS}({args}, rule, clipped, met, start, stop):",
        '    """Rows start..stop-1: per criterion, the points of its rule, after its min/max, and met."""',
        "    a = (#@inputs, points, cal, cal_lo, today)",
        *[f"    {name}(*a, rule, clipped, met, 0, start, stop)" for name in traces],
    ]


def generate_pieces(grid: ir.Grid) -> KernelSource:
    """The kernel module of a large grid: jitted pieces of PIECE criteria each (their points and met
    into the rows of a breakdown), a piece for the priorities, pieces for rubrics and group caps,
    the total as the sum of the breakdown's rows (``helpers.column_sums``), and the kernels
    ``score_rows``, ``breakdown_rows`` and ``trace_rows`` as Python functions calling them, with the
    same arguments as the fused kernels except ``points``, an int64 array (Numba refuses tuples of
    1 000 items and compiles long ones slowly)."""
    em = Emitter(grid)
    em.params = {}
    em.calendar_all = set()  # type: ignore[attr-defined]
    ranges = [range(a, min(a + PIECE, len(grid.criteria))) for a in range(0, len(grid.criteria), PIECE)]
    body: list[str] = []
    for p, js in enumerate(ranges):
        body += [*_criteria_piece(em, p, js, trace=False), "", ""]
    body += [*_priority_piece(em), "", ""]
    combine_text, combine = _combine_pieces(em)
    body += combine_text
    for p, js in enumerate(ranges):
        body += [*_criteria_piece(em, p, js, trace=True), "", ""]
    pieces = [f"criteria_piece_{p}" for p in range(len(ranges))]
    traces = [f"trace_piece_{p}" for p in range(len(ranges))]
    body += _drivers(grid, ranges, traces, combine)
    calendar = [f.name for f in grid.catalogue if f.name in em.calendar_all]  # type: ignore[attr-defined]
    columns = tuple(f.name for f in grid.catalogue if f.name in em.fields)
    masks = tuple(n for n in columns if em.fields[n])
    inputs = ", ".join([f"c_{ident(n)}" for n in columns] + [f"valid_{ident(n)}" for n in masks])
    names = [_parameter_name(grid, what, j) for what, j in em.params]
    header = _header(grid, em, names)
    header[1:4] = [
        f"# Compiled in pieces ({len(ranges)} of up to {PIECE} criteria): the point values are the int64",
        "# array points (KernelSource.parameters), so that grids which differ only in them share this module",
        "# and its compiled code. Nor are the grid's version, file and content hash.",
    ]
    constants = typology_constants(grid) if em.uses_typology else []
    text = "\n".join(
        [
            *header,
            _HELPER_IMPORT,
            "from cotation.codegen.helpers import column_sums, unpack_piece",
            "",
            f"CHUNK = {CHUNK}",
            f"BLOCK = {BLOCK}",
            *constants,
            "",
            "",
            *body,
            "",
        ]
    ).replace("#@inputs, ", f"{inputs}, " if inputs else "")
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
        pieces=True,
        jitted=(*pieces, "priority_piece", *combine),
    )

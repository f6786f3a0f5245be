"""Stage 6 (explain): why one application got its score: a :class:`Trace` record first, renderings
second.

:func:`trace` / :func:`traces` recompute nothing that scoring already decided: whether each
criterion was met and what each breakdown column counted come from :class:`~cotation.scoring.scores.Scores`;
the points each criterion gave *before* the rubric and cap rules come from the same engine as the
scores (the compiled ``trace_rows`` kernel, or the reference evaluator for reference scores), run on
the traced rows only. The values the grid read (fields, and variables evaluated with NumPy) are
recorded alongside, so a caseworker can see why a condition held.

Two renderings (:mod:`cotation.explain.render`): ``render_text`` (plain French, for the applicant or
the caseworker) and ``to_json`` (stable keys, for other programs).

>>> from cotation.api import parse_grid, score  # doctest: +SKIP
>>> print(render_text(trace(grid, scores, batch, "031-0001")))  # doctest: +SKIP
Demande 031-0001 — 187 points (rang 3 sur 1 000)
...
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.batch import Batch, from_day_number
from ..grid import ir
from ..grid.catalogue import Field
from ..scoring.reference import Env, ev
from ..scoring.scores import Scores
from .render import render_text, value_text

__all__ = ["CapTrace", "CriterionTrace", "FlagTrace", "Input", "Trace", "explain_text", "trace", "traces"]


# -- the record -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Input:
    """A value the grid read for this application: a field of the data or a grid variable."""

    name: str
    label: str
    kind: str  # 'field' | 'variable'
    value: Any  # None when missing; dates as datetime.date, categories as their code, sets as lists
    text: str  # the value in French, category values by their label ("Hébergé chez des tiers")


@dataclass(frozen=True)
class CriterionTrace:
    """One criterion for one application.

    ``points_rule`` is what its rule gives when met; ``points_before`` what the criterion gives on
    its own (after its own ``min``/``max``); ``points`` what the breakdown counted after the rubric
    rule. ``rules`` lists the rules that changed the points, in the order they applied: ``'max'``
    (the criterion's ``max``), ``'min'`` (its ``min``), ``'rubric'`` (another member of its rubric
    counts instead: ``rubric`` is the rubric's label); empty when nothing was reduced.
    ``removed_by`` is the last of them in words (``'plafond du critère'``, ``'minimum du critère'``,
    ``'rubrique <label>'``), or None. ``provisional``: met, but its justificatif is not verified.
    """

    id: str
    label: str
    when_source: str | None
    points_source: str
    met: bool
    points_before: int
    points: int
    removed_by: str | None
    inputs: tuple[Input, ...]
    points_rule: int = 0
    justificatif: str | None = None
    provisional: bool = False
    rules: tuple[str, ...] = ()
    rubric: str | None = None


@dataclass(frozen=True)
class CapTrace:
    """A group cap: its breakdown column ``plafond_<group>`` and what it added (<= 0 for a max);
    ``raw`` is what the group's criteria counted before it, ``limit`` the bound that applied
    (``'max'``, ``'min'``, or None when the cap changed nothing)."""

    id: str
    group: str
    label: str
    points: int
    raw: int = 0
    limit: str | None = None


@dataclass(frozen=True)
class FlagTrace:
    """A priority flag raised for the application."""

    id: str
    label: str
    legal_basis: str
    letter: str | None
    points: int
    tier: int | None


@dataclass(frozen=True)
class Trace:
    """Why one application got its score and rank, under one grid on one date."""

    numero_unique: str
    total: int
    rank: int
    count: int
    tier: int
    criteria: tuple[CriterionTrace, ...]
    caps: tuple[CapTrace, ...]
    flags: tuple[FlagTrace, ...]
    grid_id: str
    grid_title: str
    grid_version: str | None
    grid_hash: str
    date_calcul: datetime.date
    position: int = 0  # rank among similar demands (1 = best)
    similar_count: int = 0  # how many similar demands, this one included
    similar: tuple[str, ...] = ()  # what makes demands similar (labels)
    verified_total: int = 0  # the total counting only criteria whose justificatif is verified
    verified_only: bool = False  # the scores counted verified criteria only
    similar_missing: tuple[str, ...] = ()  # fields unknown for this application: no position given

    @property
    def provisional(self) -> bool:
        """Whether some points are provisional (a justificatif is not verified yet)."""
        return any(c.provisional for c in self.criteria)

    def _repr_html_(self) -> str:
        from .render import trace_html

        return trace_html(self)


# -- building it ------------------------------------------------------------------------------
def trace(grid: ir.Grid, scores: Scores, batch: Batch, numero_unique: str) -> Trace:
    """The trace of application ``numero_unique`` (KeyError when it is not in ``scores``).

    ``scores`` must come from scoring ``batch`` with ``grid`` (same rows, same order).
    """
    return traces(grid, scores, batch, [numero_unique])[0]


def traces(grid: ir.Grid, scores: Scores, batch: Batch, numeros: list[str]) -> list[Trace]:
    """The traces of several applications, from one run of the engine that computed ``scores``
    (the compiled ``trace_rows`` kernel, or the reference evaluator): the points of each rule, after
    each criterion's own min/max, and ``met``; what the scores counted comes from ``scores``."""
    _check_same_run(grid, scores, batch)
    rows = np.array([scores.index_of(str(n)) for n in numeros], dtype=np.int64)
    some = batch.take(rows).with_catalogue(grid.catalogue)  # as api.score sees them
    rule, clipped, met = _trace_points(grid, scores, some)
    env = _single_row_env(grid, some, scores.date_calcul)
    values = some.to_arrow(lists=True).to_pylist()
    return [
        _trace_one(grid, scores, env, values[r], int(i), r, (rule[:, r], clipped[:, r], met[:, r]))
        for r, i in enumerate(rows)
    ]


#: Traces of fewer applications than this use the reference evaluator unless the compiled trace kernel is
#: already cached on disk: explaining a few applications never waits for Numba (issue 18; same points).
TRACE_COMPILED_FROM = 50_000


def _trace_points(grid: ir.Grid, scores: Scores, some: Batch) -> tuple[np.ndarray, ...]:
    if scores.engine == "compiled":
        from ..codegen.score_source import TRACE_ROWS
        from ..scoring.compiled import compile_grid

        compiled = compile_grid(_scored_grid(grid, scores))
        if compiled.cached(TRACE_ROWS) or len(some) >= TRACE_COMPILED_FROM:
            return compiled.trace(some, scores.date_calcul)
    from ..scoring.reference import trace_points

    return trace_points(_scored_grid(grid, scores), some, scores.date_calcul)


def _scored_grid(grid: ir.Grid, scores: Scores) -> ir.Grid:
    from ..grid.check import verified_grid

    return verified_grid(grid) if scores.verified_only else grid


def _trace_one(
    grid: ir.Grid,
    scores: Scores,
    env: Env,
    row: dict[str, Any],
    i: int,
    r: int,
    points: tuple[np.ndarray, ...],
) -> Trace:
    return Trace(
        numero_unique=str(scores.ids[i]),
        total=int(scores.total[i]),
        rank=int(scores.rank[i]),
        count=len(scores),
        tier=int(scores.tier[i]),
        criteria=tuple(
            _criterion(grid, scores, env, row, i, r, k, points) for k in range(len(grid.criteria))
        ),
        caps=tuple(_cap(g, scores, i) for g in grid.groups),
        flags=tuple(_flag(p, scores, i) for k, p in enumerate(grid.priorities) if scores.flags[i, k]),
        grid_id=grid.meta.id,
        grid_title=grid.meta.title,
        grid_version=grid.meta.version,
        grid_hash=grid.content_hash,
        date_calcul=scores.date_calcul,
        position=int(scores.position[i]),
        similar_count=int(scores.position_count[i]),
        similar=scores.similar,
        verified_total=int(scores.verified_total[i]),
        verified_only=scores.verified_only,
        similar_missing=_similar_missing(grid, env, row, r),
    )


def _check_same_run(grid: ir.Grid, scores: Scores, batch: Batch) -> None:
    if scores.grid_hash != grid.content_hash:
        raise ValueError(
            f"these scores were computed with another grid (hash {scores.grid_hash[:12]}, "
            f"grid '{grid.meta.id}' has {grid.content_hash[:12]})"
        )
    if len(batch) != len(scores) or not np.array_equal(batch.ids, scores.ids):
        raise ValueError("these scores were not computed from this batch (ids differ)")


def _single_row_env(grid: ir.Grid, one: Batch, date_calcul: datetime.date) -> Env:
    """The values of the variables for the traced rows (shown as the inputs a criterion read)."""
    return Env(grid, one, date_calcul).compute(grid.variables)


def _criterion(
    grid: ir.Grid,
    scores: Scores,
    env: Env,
    row: dict[str, Any],
    i: int,
    r: int,
    k: int,
    points: tuple[np.ndarray, ...],
) -> CriterionTrace:
    c = grid.criteria[k]
    rule, clipped = int(points[0][k]), int(points[1][k])
    met, counted = bool(scores.met[i, k]), int(scores.breakdown[i, scores.column_ids.index(c.id)])
    rules = _rules(c, met, rule, clipped, counted)
    rubric = _rubric_label(grid, c) if "rubric" in rules else None
    removed = {"max": "plafond du critère", "min": "minimum du critère"}.get(rules[-1]) if rules else None
    removed = f"rubrique {rubric}" if rubric else removed
    return CriterionTrace(
        c.id,
        c.label,
        c.when_source,
        c.points_source,
        met,
        clipped,
        counted,
        removed,
        _inputs(grid, c, env, row, r),
        rule,
        c.justificatif,
        bool(scores.provisional[i, k]),
        rules,
        rubric,
    )


def _rules(c: ir.Criterion, met: bool, rule: int, clipped: int, counted: int) -> tuple[str, ...]:
    """The rules that changed a met criterion's points: its own max or min, then its rubric."""
    if not met:
        return ()
    own = ("max",) if clipped < rule else ("min",) if clipped > rule else ()
    return own + (("rubric",) if c.rubric and counted != clipped else ())


def _rubric_label(grid: ir.Grid, c: ir.Criterion) -> str:
    return next((r.label for r in grid.rubrics if r.id == c.rubric), str(c.rubric))


def _cap(group: ir.Group, scores: Scores, i: int) -> CapTrace:
    column = f"plafond_{group.id}"
    points = int(scores.breakdown[i, scores.column_ids.index(column)])
    ids = [scores.column_ids.index(grid_id) for grid_id in _member_ids(group, scores)]
    raw = int(scores.breakdown[i, ids].sum()) if ids else 0
    limit = "max" if points < 0 else "min" if points > 0 else None
    return CapTrace(column, group.id, group.label, points, raw, limit)


def _member_ids(group: ir.Group, scores: Scores) -> list[str]:
    return [scores.columns[m].id for m in group.members]


def _flag(p: ir.Priority, scores: Scores, i: int) -> FlagTrace:
    points = int(scores.breakdown[i, scores.column_ids.index(p.id)]) if p.points else 0
    return FlagTrace(p.id, p.label, p.legal_basis, p.letter, points, p.tier)


# -- values read -------------------------------------------------------------------------------
def _inputs(grid: ir.Grid, c: ir.Criterion, env: Env, row: dict[str, Any], r: int) -> tuple[Input, ...]:
    """Variables (in dependency order) then fields read by the criterion, directly or not."""
    variables = {v.name: v for v in grid.variables}
    fields, var_names = ir.reads(c.expressions(), variables)
    out = [
        _input(v.name, v.label or v.name, "variable", _var_value(v, env, r), {})
        for v in grid.variables
        if v.name in var_names and not v.internal
    ]
    out += [
        _input(f.name, f.label, "field", row.get(f.name), _value_labels(f))
        for f in grid.catalogue
        if f.name in fields
    ]
    return tuple(out)


def _similar_missing(grid: ir.Grid, env: Env, row: dict[str, Any], r: int) -> tuple[str, ...]:
    """The labels of the fields whose missing value leaves a key of ``similar`` unknown for this
    application (or the key's own label when no field it reads is missing, e.g. an empty list)."""
    variables = {v.name: v for v in grid.variables}
    out: list[str] = []
    for s in grid.similar:
        if bool(ev(s.expr, env).ok[r]):
            continue
        fields, _ = ir.reads([s.expr], variables)
        missing = [f.label for f in grid.catalogue if f.name in fields and _is_missing(row.get(f.name))]
        out += [x for x in (missing or [s.label]) if x not in out]
    return tuple(out)


def _is_missing(value: Any) -> bool:
    return value is None or value == [] or (isinstance(value, float) and value != value)


def _value_labels(f: Field) -> dict[str, str]:
    return dict(zip(f.values, f.value_labels, strict=True))


def _input(name: str, label: str, kind: str, value: Any, labels: dict[str, str]) -> Input:
    return Input(name, label, kind, value, value_text(value, labels))


def _var_value(var: ir.Variable, env: Env, r: int) -> Any:
    val = env.vars[var.name]
    if not bool(val.ok[r]):
        return None
    return _DECODE.get(var.expr.type.kind, _plain)(val.v[r], var.expr.type)


def _plain(value: Any, t: ir.Type) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _set_items(value: Any, t: ir.Type) -> list[str]:
    bits = int(value)
    return [name for k, name in enumerate(t.domain) if bits >> k & 1]


_DECODE: dict[str, Callable[[Any, ir.Type], Any]] = {
    "bool": lambda v, t: bool(v),
    "int": lambda v, t: int(v),
    "float": lambda v, t: float(v),
    "date": lambda v, t: from_day_number(int(v)),
    "category": lambda v, t: t.domain[int(v)],
    "set": _set_items,
}


def explain_text(grid: ir.Grid, scores: Scores, batch: Batch, numero_unique: str) -> str:
    """Shortcut: ``render_text(trace(grid, scores, batch, numero_unique))``."""
    return render_text(trace(grid, scores, batch, numero_unique))

"""Stage 5 (match): candidates per dwelling and batch assignment: the pool of applications, and ranking it.

For every dwelling, an application is *eligible* when every filter of the grid's ``match`` part is
true for the pair; its *pair total* is its own total plus the points of the match criteria. The
candidates of a dwelling are its eligible applications ordered by tier (higher first), pair total
(higher first), then the grid's tie-breaks (default: older ``date_depot``, then ``numero_unique``):
a total order, so the top ``k`` is deterministic.

Both engines first sort the applications once by the tie-breaks (the row then *is* the tie-break
rank) and score them. The reference engine (:mod:`cotation.match.reference`) evaluates every pair
with NumPy, one dwelling at a time; the compiled engine (:mod:`cotation.match.compiled`) runs a
generated kernel over dwellings in threads, with a bounded heap per dwelling and, when the first filter is
``logement.commune in communes_souhaitees``, an inverted index by commune. They are tested equal.

Filter counts: each excluded application is counted under the *first* filter (in the grid's order)
that excludes it, so ``eligible + sum(excluded) == number of applications`` for every dwelling.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.batch import as_applications, as_dwellings
from ..data.ceilings import MissingCeilingError, require, years
from ..dates import as_date
from ..errors import MAX_ROWS, DataError, DataProblem
from ..grid import ir
from ..scoring.engine import check_engine, score_batch
from ..scoring.order import tie_order
from ..scoring.scores import Scores
from .prepared import ASSIGNMENT_ORDERS, DwellingResult, Prepared
from .ranking import Ranking

#: With engine="auto", ranking at least this many (application, dwelling) pairs uses the compiled pair
#: kernel even when it is not in the disk cache yet (below, the NumPy reference ranks while nothing is
#: compiled; see benchmarks/README.md, first_run).
AUTO_PAIRS_COMPILED_FROM = 20_000_000


@dataclass(eq=False, kw_only=True)
class Pool:
    """Applications prepared for ranking: validated, scored and put in tie-break order once, then
    ranked against any number of dwelling batches (``pool.rank(dwellings, k)``), as a landlord's
    system ranks each day's vacancies against the same applications. ``cotation.rank`` is
    ``prepare_pool(...).rank(...)``."""

    grid: ir.Grid
    batch: Any  # the applications, as given
    perm: np.ndarray  # the rows in tie-break order (perm[0] wins every tie)
    scores: Scores  # of the applications
    date_calcul: datetime.date
    tie_rank: np.ndarray  # row -> its place in perm
    engine: str = "compiled"
    cache: dict[str, Any] = field(
        default_factory=dict, repr=False
    )  # per-application inputs of the pair kernel

    def __len__(self) -> int:
        return len(self.batch)

    def __repr__(self) -> str:
        return (
            f"<Pool grid={self.grid.meta.id!r} date_calcul={self.date_calcul} applications={len(self)} "
            f"engine={self.engine!r}>"
        )

    def _compile_pays(self, dwellings: int) -> bool:
        """engine="auto": whether to rank with the compiled pair kernel (cached, or enough pairs)."""
        from .compiled import compile_pairs

        return len(self) * dwellings >= AUTO_PAIRS_COMPILED_FROM or compile_pairs(self.grid).is_cached

    def prepare(self, dwellings: Any) -> Prepared:
        """The pool with ``dwellings`` read or adapted and validated (D112 when the grid reads an income
        ceiling the shipped tables lack): what both pair engines rank."""
        assert self.grid.match is not None
        dw = as_dwellings(dwellings, self.grid.match.catalogue)
        check_ceilings(self.grid, dw, self.date_calcul)
        return Prepared(self, dw)

    def rank(self, dwellings: Any, k: int = 3, *, assignment: str | None = None) -> Ranking:
        """The top ``k`` eligible applications of every dwelling (see :func:`cotation.rank`)."""
        assert self.grid.match is not None
        if assignment is not None and assignment not in ASSIGNMENT_ORDERS:
            raise ValueError(
                f"unknown assignment order {assignment!r} (available: {', '.join(ASSIGNMENT_ORDERS)})"
            )
        if k < 0:
            raise ValueError(f"k must be at least 0, got {k}")
        prep = self.prepare(dwellings)
        if self.engine == "reference" or (
            self.engine == "auto" and not self._compile_pays(len(prep.dwellings))
        ):
            from .reference import reference_rank

            result, order = reference_rank(prep, k, assignment)
        else:
            from ..codegen.build import KernelFailure
            from .compiled import compile_pairs

            try:
                result, order = compile_pairs(self.grid).run(prep, k, assignment)
            except KernelFailure as exc:  # a bug: rank with the reference engine, and say so
                from ..errors import note
                from .reference import reference_rank

                note(
                    "W452",
                    f"the pair kernel of grid '{self.grid.meta.id}' failed to compile ({exc}); ranked "
                    "with the reference engine instead (same ranking, slower): this is a bug, please "
                    "report it",
                    once=self.grid.content_hash,
                )
                result, order = reference_rank(prep, k, assignment)
        return finish(prep, result, k, assignment, order)


def prepare_pool(
    grid: ir.Grid, applications: Any, date_calcul: datetime.date | str, *, engine: str = "compiled"
) -> Pool:
    """Validate the applications, score them and sort them by the tie-breaks, once (scoring checks
    that no date is after ``date_calcul``, D105). ``engine``: "compiled", "reference" or "auto" (the
    compiled pair kernel when it is already cached on disk or there are at least
    ``AUTO_PAIRS_COMPILED_FROM`` pairs to rank, else the reference; scoring as ``cotation.score``'s auto)."""
    check_engine(engine, ("compiled", "reference", "auto"))
    if grid.match is None:
        raise ValueError(
            f"grid '{grid.meta.id}' has no match part: it cannot rank applications for dwellings"
        )
    day = as_date(date_calcul)
    batch = as_applications(applications, grid.catalogue, day)
    perm = tie_order(grid, batch)
    tie_rank = np.empty(len(perm), np.int64)
    tie_rank[perm] = np.arange(len(perm))
    scores = score_batch(grid, batch, day, engine=engine)
    return Pool(
        grid=grid, batch=batch, perm=perm, scores=scores, date_calcul=day, tie_rank=tie_rank, engine=engine
    )


def check_ceilings(grid: ir.Grid, dwellings: Any, date_calcul: datetime.date) -> None:
    """D112 when the grid reads an income ceiling that the shipped tables lack for this year."""
    year = date_calcul.year
    problems: dict[tuple[str, str], np.ndarray] = {}
    for fin, zone in _ceiling_calls(grid):
        if not (isinstance(fin, ir.DwellingRef) and isinstance(zone, ir.DwellingRef)):
            if not any(year in years(f) for f in fin.type.domain):
                raise DataError(
                    [
                        DataProblem(
                            "D112",
                            "<plafonds>",
                            f"no income ceiling is shipped for {year} "
                            f"(financings {', '.join(fin.type.domain)})",
                        )
                    ]
                )
            continue
        fc, zc = dwellings.column(fin.name), dwellings.column(zone.name)
        present = np.ones(len(dwellings), dtype=bool)
        for col in (fc, zc):
            present &= col.valid if col.valid is not None else True
        cells = fc.values.astype(np.int64) * len(zone.type.domain) + zc.values.astype(np.int64)
        for cell in np.unique(cells[present]):
            key = (
                fin.type.domain[cell // len(zone.type.domain)],
                zone.type.domain[cell % len(zone.type.domain)],
            )
            rows = np.flatnonzero(present & (cells == cell))
            problems[key] = np.union1d(problems[key], rows) if key in problems else rows
    out = []
    for (f, z), rows in problems.items():
        try:
            require(year, f, z)
        except MissingCeilingError as exc:
            ids = tuple(str(dwellings.ids[m]) for m in rows[:MAX_ROWS])
            out.append(
                DataProblem(
                    "D112",
                    "financement",
                    str(exc),
                    rows=ids,
                    values=tuple(f"{f} / {z}" for _ in ids),
                    count=len(rows),
                    source=dwellings.source,
                )
            )
    if out:
        raise DataError(out)


def _ceiling_calls(grid: ir.Grid) -> list[tuple[ir.IExpr, ir.IExpr]]:
    """The (financing, zone) arguments of every plafond_ressources() call of the match part."""
    assert grid.match is not None
    match = grid.match
    return ir.per_grid(
        _CALLS,
        grid,
        lambda: [
            (n.args[0], n.args[1])
            for e in match.expressions()
            for n in _walk(e)
            if isinstance(n, ir.Call) and n.func == "plafond_ressources"
        ],
    )


_CALLS: dict[Any, list[tuple[ir.IExpr, ir.IExpr]]] = {}  # per live grid object


def _walk(node: ir.IExpr) -> list[ir.IExpr]:
    out = [node]
    for child in ir.children(node):
        out += _walk(child)
    return out


def finish(
    prep: Prepared, result: DwellingResult, k: int, assignment: str | None, order: np.ndarray
) -> Ranking:
    """The user-facing Ranking: rows mapped back to the applications as given."""
    grid, scores = prep.grid, prep.scores
    assert grid.match is not None
    has = result.rows >= 0
    safe = np.where(has, result.rows, 0)
    rows = np.where(has, result.rows, -1)
    ids = np.where(has, prep.batch.ids[safe] if len(prep.batch) else "", "").astype(object)
    some = len(prep.batch) > 0
    return Ranking(
        grid_id=scores.grid_id,
        grid_version=scores.grid_version,
        grid_hash=scores.grid_hash,
        tables_digest=scores.tables_digest,
        out_of_force=scores.out_of_force,
        date_calcul=prep.date_calcul,
        k=k,
        dwelling_ids=prep.dwellings.ids,
        filter_ids=tuple(f.id for f in grid.match.filters),
        rows=rows,
        application_ids=ids,
        tier=np.where(has, scores.tier[safe] if some else 0, 0).astype(np.int8),
        total=np.where(has, result.total, 0),
        application_total=np.where(has, scores.total[safe].astype(np.int64) if some else 0, 0),
        eligible=result.eligible,
        excluded=result.excluded,
        assignment=assignment,
        dwelling_order=order if assignment else None,
        already_proposed=result.already if assignment else None,
    )

"""Stage 6: candidates per dwelling, batch assignment, and positioning among similar demands.

For every dwelling, an application is *eligible* when every filter of the grid's ``match`` part is
true for the pair; its *pair total* is its own total plus the points of the match criteria. The
candidates of a dwelling are its eligible applications ordered by tier (higher first), pair total
(higher first), then the grid's tie-breaks (default: older ``date_depot``, then ``numero_unique``):
a total order, so the top ``k`` is deterministic.

Both engines first sort the applications once by the tie-breaks (the row then *is* the tie-break
rank) and score them. The reference engine (:func:`reference_rank`) evaluates every pair with
NumPy, one dwelling at a time; the compiled engine (:mod:`cotation.match.compiled`) runs a generated kernel
over dwellings in threads, with a bounded heap per dwelling and, when the first filter is
``logement.commune in communes_souhaitees``, an inverted index by commune. They are tested equal.

Filter counts: each excluded application is counted under the *first* filter (in the grid's order)
that excludes it, so ``eligible + sum(excluded) == number of applications`` for every dwelling.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..grid import ir
from ..data.ceilings import MissingCeilingError, require, years
from ..errors import DataError, DataProblem, MAX_ROWS
from ..scoring.reference import Env, PairEnv, criterion_points, ev
from ..scoring.scores import Scores

ASSIGNMENT_ORDERS = ("given", "best")


@dataclass(eq=False)
class Ranking:
    """The top ``k`` candidates of each dwelling (``M`` dwellings), with the filters' counts.

    ``rows[m, r]`` is the row (in the applications as given) of the candidate of rank ``r + 1`` for
    dwelling ``dwelling_ids[m]``, ``-1`` when the dwelling has fewer than ``r + 1`` eligible
    applications; ``application_ids``, ``tier``, ``total`` (the pair total) and
    ``application_total`` (the application's own total) follow the same layout.
    ``excluded[m, f]`` counts the applications that filter ``filter_ids[f]`` excluded (each under
    the first filter that excludes it) and ``eligible[m]`` those that passed every filter. With an
    assignment (``assignment`` = "given" or "best"), an application is proposed for at most one
    dwelling of the batch: ``already_proposed[m]`` counts the eligible applications skipped because
    an earlier dwelling (in ``dwelling_order``) had taken them.
    """

    grid_id: str
    grid_version: str | None
    grid_hash: str
    date_calcul: datetime.date
    k: int
    dwelling_ids: np.ndarray
    filter_ids: tuple[str, ...]
    rows: np.ndarray
    application_ids: np.ndarray
    tier: np.ndarray
    total: np.ndarray
    application_total: np.ndarray
    eligible: np.ndarray
    excluded: np.ndarray
    assignment: str | None = None
    dwelling_order: np.ndarray | None = None
    already_proposed: np.ndarray | None = field(default=None)

    def __len__(self) -> int:
        return len(self.dwelling_ids)

    def __repr__(self) -> str:
        mode = f" assignment={self.assignment!r}" if self.assignment else ""
        return (f"<Ranking grid={self.grid_id!r} date_calcul={self.date_calcul} dwellings={len(self)} "
                f"k={self.k}{mode}>")

    @property
    def pair_points(self) -> np.ndarray:
        """Points of the match criteria (pair total minus the application's total); 0 where no candidate."""
        return np.where(self.rows >= 0, self.total - self.application_total, 0)

    def index_of(self, dwelling_id: str) -> int:
        hits = np.flatnonzero(self.dwelling_ids == dwelling_id)
        if len(hits) == 0:
            raise KeyError(dwelling_id)
        return int(hits[0])

    def candidates(self, dwelling_id: str) -> list[dict[str, Any]]:
        """The candidates of one dwelling, best first, as plain dicts."""
        m = self.index_of(dwelling_id)
        return [self._row(m, r) for r in range(self.k) if self.rows[m, r] >= 0]

    def _row(self, m: int, r: int) -> dict[str, Any]:
        return {"logement": str(self.dwelling_ids[m]), "rang": r + 1,
                "numero_unique": str(self.application_ids[m, r]), "tier": int(self.tier[m, r]),
                "total": int(self.total[m, r]), "points_demande": int(self.application_total[m, r]),
                "points_logement": int(self.total[m, r] - self.application_total[m, r])}

    def table(self) -> dict[str, Any]:
        """One row per (dwelling, candidate), best first within each dwelling."""
        m, r = np.nonzero(self.rows >= 0)
        return {"logement": self.dwelling_ids[m], "rang": r + 1, "numero_unique": self.application_ids[m, r],
                "tier": self.tier[m, r], "total": self.total[m, r],
                "points_demande": self.application_total[m, r],
                "points_logement": self.total[m, r] - self.application_total[m, r]}

    def counts(self) -> dict[str, Any]:
        """One row per dwelling: eligible applications and how many each filter excluded."""
        out: dict[str, Any] = {"logement": self.dwelling_ids, "eligibles": self.eligible}
        for f, fid in enumerate(self.filter_ids):
            out[f"exclus_{fid}"] = self.excluded[:, f]
        if self.already_proposed is not None:
            out["deja_proposes"] = self.already_proposed
        return out

    def _meta(self) -> dict[str, str]:
        return {"grid_id": self.grid_id, "grid_version": self.grid_version or "", "grid_hash": self.grid_hash,
                "date_calcul": self.date_calcul.isoformat(), "k": str(self.k),
                "assignment": self.assignment or ""}

    def to_arrow(self) -> Any:
        from ..data.buffers import table

        return table(self.table()).replace_schema_metadata(self._meta())

    def to_pandas(self) -> Any:
        import pandas as pd

        frame = pd.DataFrame(self.table())
        frame.attrs.update(self._meta())
        return frame

    def _repr_html_(self) -> str:
        from ..explain.render import ranking_html

        return ranking_html(self)


# -- shared preparation --------------------------------------------------------------------------
def tie_order(grid: ir.Grid, batch: Any) -> np.ndarray:
    """Rows in the order of the grid's tie-breaks only (the first row wins any tie): missing values
    last, ids in code-point order, as Python sorts strings. From ``order.PACKED_FROM`` rows, when the
    keys before the id are integer columns (dates, counts, codes), by packed keys and a radix sort
    (:func:`cotation.scoring.order.tie_order`); otherwise by one Arrow multi-key sort
    (:func:`arrow_tie_order`, the definition, tested equal)."""
    from ..scoring.order import tie_order as packed

    if len(batch) == 0:
        return np.zeros(0, dtype=np.int64)
    order = packed(grid, batch)
    return arrow_tie_order(grid, batch) if order is None else order


def arrow_tie_order(grid: ir.Grid, batch: Any) -> np.ndarray:
    """:func:`tie_order` by one Arrow sort over every key (any column type)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..data.buffers import from_numpy, values

    if len(batch) == 0:
        return np.zeros(0, dtype=np.int64)
    columns, keys = {}, []
    for j, tb in enumerate(grid.tie_break):
        if tb.field == grid.catalogue.id_field.name:
            columns[f"k{j}"] = batch.id_strings()
        else:
            col = batch.column(tb.field)
            columns[f"k{j}"] = from_numpy(col.values, None if col.valid is None else ~col.valid)
        keys.append((f"k{j}", "descending" if tb.descending else "ascending", "at_end"))
    return values(pc.sort_indices(pa.table(columns), sort_keys=keys)).astype(np.int64)


@dataclass(eq=False)
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
    cache: dict[str, Any] = field(default_factory=dict, repr=False)  # per-application inputs of the pair kernel

    def __len__(self) -> int:
        return len(self.batch)

    def __repr__(self) -> str:
        return (f"<Pool grid={self.grid.meta.id!r} date_calcul={self.date_calcul} applications={len(self)} "
                f"engine={self.engine!r}>")

    def rank(self, dwellings: Any, k: int = 3, *, assignment: str | None = None) -> Ranking:
        """The top ``k`` eligible applications of every dwelling (see :func:`cotation.rank`)."""
        from ..data.batch import Batch, read_dwellings

        assert self.grid.match is not None
        if assignment is not None and assignment not in ASSIGNMENT_ORDERS:
            raise ValueError(f"unknown assignment order {assignment!r} (available: {', '.join(ASSIGNMENT_ORDERS)})")
        if k < 0:
            raise ValueError(f"k must be at least 0, got {k}")
        if isinstance(dwellings, Batch):
            dw = dwellings.with_catalogue(self.grid.match.catalogue)
        else:
            dw = read_dwellings(dwellings, self.grid.match.catalogue)
        check_ceilings(self.grid, dw, self.date_calcul)
        prep = Prepared(self, dw)
        if self.engine == "reference":
            result, order = reference_rank(prep, k, assignment)
        else:
            from .compiled import compile_pairs

            result, order = compile_pairs(self.grid).run(prep, k, assignment)
        return finish(prep, result, k, assignment, order)


@dataclass(eq=False)
class Prepared:
    """A pool of applications and a batch of validated dwellings: what both engines rank."""

    pool: Pool
    dwellings: Any

    grid = property(lambda self: self.pool.grid)
    batch = property(lambda self: self.pool.batch)
    perm = property(lambda self: self.pool.perm)
    scores = property(lambda self: self.pool.scores)
    date_calcul = property(lambda self: self.pool.date_calcul)
    tie_rank = property(lambda self: self.pool.tie_rank)


def prepare_pool(grid: ir.Grid, applications: Any, date_calcul: datetime.date | str, *,
                 engine: str = "compiled") -> Pool:
    """Validate the applications, score them and sort them by the tie-breaks, once (scoring checks
    that no date is after ``date_calcul``, D105). ``engine``: "compiled" or "reference"."""
    from ..api import applications_batch, as_date, score

    if engine not in ("compiled", "reference"):
        raise ValueError(f"unknown engine {engine!r} (available: compiled, reference)")
    if grid.match is None:
        raise ValueError(f"grid '{grid.meta.id}' has no match part: it cannot rank applications for dwellings")
    day = as_date(date_calcul)
    batch = applications_batch(grid, applications, day)
    perm = tie_order(grid, batch)
    tie_rank = np.empty(len(perm), np.int64)
    tie_rank[perm] = np.arange(len(perm))
    return Pool(grid, batch, perm, score(grid, batch, day, engine=engine), day, tie_rank, engine)


def prepare(grid: ir.Grid, applications: Any, dwellings: Any, day: datetime.date, engine: str) -> Prepared:
    """A pool of ``applications`` and the validated ``dwellings`` (D112 when a ceiling is missing)."""
    from ..data.batch import Batch, read_dwellings

    pool = prepare_pool(grid, applications, day, engine=engine)
    assert grid.match is not None
    dw = dwellings.with_catalogue(grid.match.catalogue) if isinstance(dwellings, Batch) else read_dwellings(
        dwellings, grid.match.catalogue)
    check_ceilings(grid, dw, day)
    return Prepared(pool, dw)


def check_ceilings(grid: ir.Grid, dwellings: Any, date_calcul: datetime.date) -> None:
    """D112 when the grid reads an income ceiling that the shipped tables lack for this year."""
    year = date_calcul.year
    problems: dict[tuple[str, str], np.ndarray] = {}
    for fin, zone in _ceiling_calls(grid):
        if not (isinstance(fin, ir.DwellingRef) and isinstance(zone, ir.DwellingRef)):
            if not any(year in years(f) for f in fin.type.domain):
                raise DataError([DataProblem("D112", "<plafonds>", f"no income ceiling is shipped for {year} "
                                             f"(financings {', '.join(fin.type.domain)})")])
            continue
        fc, zc = dwellings.column(fin.name), dwellings.column(zone.name)
        present = np.ones(len(dwellings), dtype=bool)
        for col in (fc, zc):
            present &= col.valid if col.valid is not None else True
        cells = fc.values.astype(np.int64) * len(zone.type.domain) + zc.values.astype(np.int64)
        for cell in np.unique(cells[present]):
            key = (fin.type.domain[cell // len(zone.type.domain)], zone.type.domain[cell % len(zone.type.domain)])
            rows = np.flatnonzero(present & (cells == cell))
            problems[key] = np.union1d(problems[key], rows) if key in problems else rows
    out = []
    for (f, z), rows in problems.items():
        try:
            require(year, f, z)
        except MissingCeilingError as exc:
            ids = tuple(str(dwellings.ids[m]) for m in rows[:MAX_ROWS])
            out.append(DataProblem("D112", "financement", str(exc), rows=ids, values=tuple(f"{f} / {z}" for _ in ids),
                                   count=len(rows), source=dwellings.source))
    if out:
        raise DataError(out)


def _ceiling_calls(grid: ir.Grid) -> list[tuple[ir.IExpr, ir.IExpr]]:
    """The (financing, zone) arguments of every plafond_ressources() call of the match part."""
    assert grid.match is not None
    match = grid.match
    return ir.per_grid(_CALLS, grid, lambda: [(n.args[0], n.args[1]) for e in match.expressions() for n in _walk(e)
                                              if isinstance(n, ir.Call) and n.func == "plafond_ressources"])


_CALLS: dict[Any, list[tuple[ir.IExpr, ir.IExpr]]] = {}  # per live grid object


def _walk(node: ir.IExpr) -> list[ir.IExpr]:
    out = [node]
    for child in ir.children(node):
        out += _walk(child)
    return out


# -- the reference engine ---------------------------------------------------------------------------
@dataclass
class DwellingResult:
    """One dwelling's top k in sorted rows, and its counts (the engines' common output)."""

    rows: np.ndarray  # (M, k) rows of the applications as given, -1 padded
    total: np.ndarray  # (M, k) pair totals
    eligible: np.ndarray  # (M,)
    excluded: np.ndarray  # (M, F)
    already: np.ndarray  # (M,)


class ReferencePairs:
    """Every pair of one dwelling with the applications, evaluated with NumPy."""

    def __init__(self, prep: Prepared):
        self.prep = prep
        grid = prep.grid
        self.app_vars = Env(grid, prep.batch, prep.date_calcul).compute(grid.variables).vars
        self.total = prep.scores.total.astype(np.int64)
        self.tier = prep.scores.tier.astype(np.int64)

    def evaluate(self, m: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """(eligible mask, pair totals, excluded count per filter) of dwelling m."""
        grid, prep = self.prep.grid, self.prep
        assert grid.match is not None
        env = PairEnv(grid, prep.batch, prep.date_calcul, prep.dwellings, m)
        env.vars = dict(self.app_vars)
        env.compute(grid.match.variables)
        alive = np.ones(env.n, dtype=bool)
        excluded = []
        for f in grid.match.filters:
            w = ev(f.when, env)
            passes = w.v & w.ok
            excluded.append(int((alive & ~passes).sum()))
            alive &= passes
        points = np.zeros(env.n, dtype=np.int64)
        for c in grid.match.criteria:
            points += criterion_points(c, env)[0]
        return alive, self.total + points, excluded

    def top(self, m: int, k: int, taken: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, int, list[int], int]:
        alive, total, excluded = self.evaluate(m)
        eligible = int(alive.sum())
        already = 0
        if taken is not None:
            already = int((alive & taken).sum())
            alive = alive & ~taken
        idx = np.flatnonzero(alive)
        order = np.lexsort((self.prep.tie_rank[idx], -total[idx], -self.tier[idx]))[:k]
        return idx[order], total[idx[order]], eligible, excluded, already


def pair_breakdown(grid: ir.Grid, batch: Any, dwellings: Any, m: int, rows: list[int],
                   date_calcul: datetime.date) -> np.ndarray:
    """Points of each match criterion (K x len(rows)) for the applications ``rows`` and dwelling ``m``
    (the committee view's detail; its sums are checked against the ranking's pair totals)."""
    assert grid.match is not None
    some = batch.take(np.array(rows, dtype=np.int64)).with_catalogue(grid.catalogue)
    env = PairEnv(grid, some, date_calcul, dwellings.with_catalogue(grid.match.catalogue), m)
    env.compute((*grid.variables, *grid.match.variables))
    out = np.zeros((len(grid.match.criteria), len(rows)), np.int64)
    for k, c in enumerate(grid.match.criteria):
        out[k] = criterion_points(c, env)[0]
    return out


def reference_rank(prep: Prepared, k: int, assignment: str | None) -> tuple[DwellingResult, np.ndarray]:
    """The top k of every dwelling (and the order in which dwellings chose, for an assignment)."""
    pairs = ReferencePairs(prep)
    m_count = len(prep.dwellings)
    free = _empty(m_count, k, len(prep.grid.match.filters))  # type: ignore[union-attr]
    for m in range(m_count):
        _store(free, m, pairs.top(m, k, None))
    if assignment is None:
        return free, np.arange(m_count)
    order = dwelling_order(assignment, free.rows, free.total, pairs.tier, prep.tie_rank)
    out = _empty(m_count, k, len(prep.grid.match.filters))  # type: ignore[union-attr]
    taken = np.zeros(len(prep.batch), dtype=bool)
    for m in order:
        _store(out, int(m), pairs.top(int(m), k, taken))
        chosen = out.rows[m][out.rows[m] >= 0]
        taken[chosen] = True
    return out, order


def _empty(m: int, k: int, f: int) -> DwellingResult:
    return DwellingResult(np.full((m, k), -1, np.int64), np.zeros((m, k), np.int64), np.zeros(m, np.int64),
                          np.zeros((m, f), np.int64), np.zeros(m, np.int64))


def _store(out: DwellingResult, m: int, found: tuple[np.ndarray, np.ndarray, int, list[int], int]) -> None:
    rows, total, eligible, excluded, already = found
    out.rows[m, :len(rows)] = rows
    out.total[m, :len(rows)] = total
    out.eligible[m], out.already[m] = eligible, already
    out.excluded[m, :] = excluded


def dwelling_order(assignment: str, rows: np.ndarray, total: np.ndarray, tier: np.ndarray,
                   tie_rank: np.ndarray) -> np.ndarray:
    """The order in which the dwellings of a batch choose their candidates.

    "given": the order of the dwellings file. "best": the dwelling whose best candidate (without the
    assignment rule) ranks highest first (tier, then pair total, then the candidate's tie-break rank,
    then the given order); dwellings without any candidate come last, in the given order.
    """
    m = rows.shape[0]
    if assignment == "given" or m == 0 or rows.shape[1] == 0 or len(tier) == 0:
        return np.arange(m)
    best = rows[:, 0]
    has = best >= 0
    safe = np.where(has, best, 0)
    keys = (np.arange(m), np.where(has, tie_rank[safe], 0), -np.where(has, total[:, 0], 0),
            -np.where(has, tier[safe], 0), ~has)
    return np.lexsort(keys)


def finish(prep: Prepared, result: DwellingResult, k: int, assignment: str | None, order: np.ndarray) -> Ranking:
    """The user-facing Ranking: rows mapped back to the applications as given."""
    grid, scores = prep.grid, prep.scores
    assert grid.match is not None
    has = result.rows >= 0
    safe = np.where(has, result.rows, 0)
    rows = np.where(has, result.rows, -1)
    ids = np.where(has, prep.batch.ids[safe] if len(prep.batch) else "", "").astype(object)
    return Ranking(scores.grid_id, scores.grid_version, scores.grid_hash, prep.date_calcul, k,
                   prep.dwellings.ids, tuple(f.id for f in grid.match.filters), rows, ids,
                   np.where(has, scores.tier[safe] if len(prep.batch) else 0, 0).astype(np.int8),
                   np.where(has, result.total, 0),
                   np.where(has, scores.total[safe].astype(np.int64) if len(prep.batch) else 0, 0),
                   result.eligible, result.excluded, assignment,
                   order if assignment else None, result.already if assignment else None)


# -- positioning ----------------------------------------------------------------------------------
def positions_of(grid: ir.Grid, batch: Any, date_calcul: datetime.date, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position, count): each application's rank among the applications with the same values of the
    grid's ``similar`` keys (1 = best, same order as ``rank``), and how many they are. A missing
    value is a value of its own."""
    n = len(rank)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    needed = _needed_vars(grid, [s.expr for s in grid.similar])
    env = Env(grid, batch, date_calcul).compute([v for v in grid.variables if v.name in needed])
    codes = [np.zeros(n, np.int64)]
    for s in grid.similar:
        val = ev(s.expr, env)
        values = np.where(val.ok, val.v, 0)
        pairs = np.stack([val.ok.astype(np.float64), values.astype(np.float64)], axis=1)
        codes.append(np.unique(pairs, axis=0, return_inverse=True)[1].reshape(-1))
    group = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)[1].reshape(-1)
    order = np.lexsort((rank, group))
    sizes = np.bincount(group)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    position = np.empty(n, np.int64)
    position[order] = np.arange(n) - starts[group[order]] + 1
    return position, sizes[group].astype(np.int64)


def _needed_vars(grid: ir.Grid, exprs: list[ir.IExpr]) -> set[str]:
    by_name = {v.name: v for v in grid.variables}
    stack = [n for e in exprs for n in ir.vars_read(e)]
    needed: set[str] = set()
    while stack:
        name = stack.pop()
        if name not in needed and name in by_name:
            needed.add(name)
            stack += list(ir.vars_read(by_name[name].expr))
    return needed


def ordinal(n: int) -> str:
    """French ordinal: 1re, 2e, 152e."""
    return "1re" if n == 1 else f"{n}e"


def position_text(position: int, count: int) -> str:
    """'152e sur 1 340' (narrow no-break spaces between thousands, as in French typography)."""
    return f"{ordinal(position)} sur {count:,}".replace(",", "\u202f")


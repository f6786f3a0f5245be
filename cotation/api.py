"""The public entry points: the pipeline stages called in order, visibly."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .dates import as_date
from .errors import Collector
from .grid import cache as gridcache
from .grid.catalogue import Catalogue
from .grid.ir import Grid

if TYPE_CHECKING:
    from .experiment.bilan import Bilan
    from .experiment.compare import Comparison
    from .experiment.objectives import Objectives
    from .experiment.simulate import Simulation
    from .grid.loader import LoadedGrid
    from .match.ranking import Ranking
    from .scoring.scores import Scores


def load_grid(
    path: str | Path, catalogue: Catalogue | None = None, *, include_dirs: Sequence[str | Path] = ()
) -> Grid:
    """Load, validate and type-check the grid at ``path``; raise GridError with every problem.

    Its includes must be regular grid files below the grid's folder, or below one of
    ``include_dirs`` (folders the caller allows explicitly), within the size limits of
    :mod:`cotation.grid.limits`.
    With the default catalogue, a grid already loaded by any process, whose files are unchanged,
    comes from the cache directory (:mod:`cotation.grid.cache`) without being checked again."""

    def load(errors: Collector) -> LoadedGrid | None:
        from .grid.loader import load_grid_files  # on a cache miss only: it imports pydantic

        return load_grid_files(path, errors, include_dirs)

    return _load(_with_dirs(gridcache.file_key(path), include_dirs), load, catalogue)


def parse_grid(
    text: str,
    name: str = "<grid>",
    catalogue: Catalogue | None = None,
    *,
    include_dirs: Sequence[str | Path] = (),
    include_root: str | Path | None = None,
) -> Grid:
    """Like :func:`load_grid`, from YAML text (includes resolve from, and are confined to, the
    current directory, or ``include_root`` when given (an empty folder allows none), or
    ``include_dirs``)."""

    def load(errors: Collector) -> LoadedGrid | None:
        from .grid.loader import load_grid_text

        return load_grid_text(text, name, errors, include_dirs, root=include_root)

    dirs = (include_root, *include_dirs) if include_root is not None else include_dirs
    return _load(_with_dirs(gridcache.text_key(text, name), dirs), load, catalogue)


def _with_dirs(key: str, include_dirs: Sequence[str | Path]) -> str:
    """The cache key of a grid loaded with ``include_dirs`` allowed: a grid cached with more
    folders allowed must not be returned to a caller that allows fewer."""
    if not include_dirs:
        return key
    dirs = "\0".join(str(Path(d).resolve()) for d in include_dirs)
    return hashlib.sha256(f"{key}\0{dirs}".encode()).hexdigest()[:32]


def _load(key: str, load: Callable[[Collector], LoadedGrid | None], catalogue: Catalogue | None) -> Grid:
    """The grid cached under ``key`` (default catalogue only), else ``load`` it, check it and keep it."""
    if catalogue is None:
        grid = gridcache.lookup(key)
        if grid is not None:
            return grid
    from .grid.check import check_grid

    errors = Collector()
    loaded = load(errors)
    if loaded is None or not _only_missing_labels(errors):
        errors.raise_if_any()  # shape errors stop here: the checker needs a well-formed grid
    assert loaded is not None
    grid = check_grid(loaded, catalogue, errors)
    if catalogue is None:
        gridcache.store(key, loaded.read, grid)
    return grid


def _only_missing_labels(errors: Collector) -> bool:
    """Missing labels (E111) do not stop the check: the loader stood the ids in for them, and the
    checker's errors are reported with them."""
    return all(d.code == "E111" and "'label'" in d.message for d in errors.diagnostics)


def score(
    grid: Grid,
    applications: Any,
    date_calcul: datetime.date | str,
    *,
    engine: str = "compiled",
    breakdown: bool = False,
    verified_only: bool = False,
    absent: Iterable[str] = (),
    mapping: Any = None,
) -> Scores:
    """Score ``applications`` (a Batch, a path, a DataFrame or an Arrow table) on ``date_calcul``.

    ``engine``: "compiled" (the default: Numba kernels, compiled once per grid and cached on disk),
    "reference" (the NumPy oracle, for debugging; no compilation) or "auto" (compiled when the
    grid's kernel is already cached or the batch has ``AUTO_COMPILED_FROM`` applications
    (:mod:`cotation.scoring.engine`), else the reference: the fast path for a notebook editing a
    grid). Every engine gives identical Scores.
    ``breakdown``: compute the breakdown now rather than when ``Scores.breakdown`` is first read.
    ``verified_only``: count a criterion that declares a justificatif only when the application lists
    it in ``justificatifs_verifies`` (otherwise the scores are provisional: ``Scores.provisional``
    says which criteria, ``Scores.verified_total`` gives the verified totals).
    ``absent``: fields the grid reads that the data has no column for, on purpose; any other such
    field is a DataError (D124) naming it and the closest columns (:mod:`cotation.data.columns`).
    ``mapping``: a mapping file (or a shipped one's name, ``"sne"``) renaming the source's columns and
    values to the catalogue's before validation (:mod:`cotation.data.mapping`).

    >>> import datetime, cotation
    >>> text = "id: g\\ntitle: G\\ncriteria:\\n  - {id: dalo, label: DALO, when: dalo, points: 50}"
    >>> grid = cotation.parse_grid(text)
    >>> rows = [{"numero_unique": "A1", "date_depot": "2024-01-01", "nb_personnes": 1, "nb_adultes": 1,
    ...          "date_naissance_demandeur": "1990-01-01", "ressources_mensuelles": 900,
    ...          "situation_logement": "locataire_prive", "dalo": True}]
    >>> batch = cotation.Batch.from_rows(rows)
    >>> cotation.score(grid, batch, datetime.date(2026, 1, 1), engine="reference").total.tolist()
    [50]
    """
    from .data.batch import Batch, as_applications, read_applications
    from .data.columns import require_fields
    from .scoring.engine import check_engine, score_batch

    check_engine(engine)
    day = as_date(date_calcul)
    if mapping is not None and not isinstance(applications, Batch):
        batch = read_applications(applications, grid.catalogue, date_calcul=day, mapping=mapping)
    else:
        batch = as_applications(applications, grid.catalogue, day)
    require_fields(batch, grid, absent)
    return score_batch(grid, batch, day, engine=engine, breakdown=breakdown, verified_only=verified_only)


def rank(
    grid: Grid,
    applications: Any,
    dwellings: Any,
    k: int = 3,
    *,
    date_calcul: datetime.date | str,
    engine: str = "compiled",
    assignment: str | None = None,
    absent: Iterable[str] = (),
) -> Ranking:
    """The top ``k`` eligible applications of every dwelling, under the grid's ``match`` part.

    ``applications`` and ``dwellings``: Batches, paths (.csv/.parquet), DataFrames or Arrow tables.
    Candidates are ordered by tier, then pair total (the application's total plus the points of
    the match criteria), then the grid's tie-breaks (a total order). ``assignment``: None (each
    dwelling independently), "given" or "best": an application is proposed for at most one
    dwelling of the batch, the dwellings choosing in the given order, or best candidate first (see
    :func:`cotation.match.prepared.dwelling_order`). ``engine``: "compiled" (default), "reference"
    or "auto" (the compiled pair kernel when it is cached on disk or the pairs are many, see
    :data:`cotation.match.pool.AUTO_PAIRS_COMPILED_FROM`).
    ``absent``: as for :func:`score`. Returns a :class:`~cotation.match.ranking.Ranking`.
    """
    from .data.batch import as_applications
    from .data.columns import require_fields
    from .match.pool import prepare_pool

    applications = as_applications(applications, grid.catalogue, as_date(date_calcul))
    require_fields(applications, grid, absent)
    return prepare_pool(grid, applications, date_calcul, engine=engine).rank(
        dwellings, k, assignment=assignment
    )


# -- experimentation (issue 14) ------------------------------------------------------------------


def _grid(grid: Grid | str | Path) -> Grid:
    return grid if isinstance(grid, Grid) else load_grid(grid)


def _objectives(objectives: Objectives | str | Path | None) -> Objectives | None:
    if objectives is None or not isinstance(objectives, str | Path):
        return objectives
    from .experiment.objectives import load_objectives

    return load_objectives(objectives)


def compare(
    grid_a: Grid | str | Path,
    grid_b: Grid | str | Path,
    applications: Any,
    *,
    date_calcul: datetime.date | str,
    top: int = 100,
    engine: str = "compiled",
    objectives: Objectives | str | Path | None = None,
) -> Comparison:
    """Two grids on the same applications and date: rank correlations, churn of the top ``top``,
    priority publics and quartiles among it, mean points per criterion, histogram, winners and
    losers (:mod:`cotation.experiment.compare`). ``objectives``: where the first-quartile threshold
    comes from (a file or :class:`~cotation.experiment.objectives.Objectives`; default: computed
    from the applications). Returns a :class:`~cotation.experiment.compare.Comparison`."""
    from .experiment.compare import compare_grids

    return compare_grids(
        _grid(grid_a),
        _grid(grid_b),
        applications,
        date_calcul=date_calcul,
        top=top,
        engine=engine,
        objectives=_objectives(objectives),
    )


def simulate(
    grid: Grid | str | Path,
    applications: Any,
    dwellings: Any,
    *,
    date_debut: datetime.date | str,
    months: int = 12,
    objectives: Objectives | str | Path | None = None,
    refusal: float = 0.0,
    seed: int = 0,
    k: int = 3,
    compare: Grid | str | Path | None = None,
    history: str | Path | None = None,
    engine: str = "compiled",
    orient: bool = False,
) -> Simulation:
    """Replay ``months`` months of allocations from ``date_debut`` under ``grid`` (and ``compare``,
    side by side), measured against the objectives (the legal ones by default, or a territory's
    YAML file); ``refusal``: each proposal refused with that probability (seeded by ``seed``), else
    the first candidate accepts; ``history``: an allocation history to back-test the grid(s) on.
    See :mod:`cotation.experiment.simulate`. Returns a :class:`~cotation.experiment.simulate.Simulation`."""
    from .experiment.simulate import Policy, simulate_grids

    grids = [_grid(grid)] + ([_grid(compare)] if compare is not None else [])
    return simulate_grids(
        grids,
        applications,
        dwellings,
        date_debut=date_debut,
        months=months,
        objectives=_objectives(objectives),
        policy=Policy(refusal=refusal, seed=seed, k=k, orient=orient),
        engine=engine,
        history=history,
    )


def bilan(
    grid: Grid | str | Path,
    applications: Any,
    attributions: Any,
    *,
    annee: int | None = None,
    objectives: Objectives | str | Path | None = None,
    secret: int = 5,
) -> Bilan:
    """The annual allocation review (bilan annuel des attributions) of year ``annee`` (default: the
    latest of the history) from ``attributions`` (an allocation history: CSV, Parquet, a DataFrame
    or an Arrow table) and ``applications`` (the demand); ``objectives``: the territory's (YAML) or
    the legal ones; counts from 1 to ``secret - 1`` are hidden in every rendering. See
    :mod:`cotation.experiment.bilan`. Returns a :class:`~cotation.experiment.bilan.Bilan`."""
    from .experiment.bilan import bilan as build
    from .experiment.objectives import LEGAL_DEFAULTS

    return build(
        _grid(grid),
        applications,
        attributions,
        annee=annee,
        objectives=_objectives(objectives) or LEGAL_DEFAULTS,
        secret=secret,
    )

"""The public entry points: the pipeline stages called in order, visibly."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .grid import cache as gridcache
from .grid.catalogue import Catalogue
from .errors import Collector
from .grid.ir import Grid
from .scoring.scores import Lazy

if TYPE_CHECKING:
    from .grid.loader import LoadedGrid


def load_grid(path: str | Path, catalogue: Catalogue | None = None) -> Grid:
    """Load, validate and type-check the grid at ``path``; raise GridError with every problem.

    With the default catalogue, a grid already loaded by any process, whose files are unchanged,
    comes from the cache directory (:mod:`cotation.grid.cache`) without being checked again."""
    def load(errors: Collector) -> LoadedGrid | None:
        from .grid.loader import load_grid_files  # on a cache miss only: it imports pydantic

        return load_grid_files(path, errors)

    return _load(gridcache.file_key(path), load, catalogue)


def parse_grid(text: str, name: str = "<grid>", catalogue: Catalogue | None = None) -> Grid:
    """Like :func:`load_grid`, from YAML text (includes resolve from the current directory)."""
    def load(errors: Collector) -> LoadedGrid | None:
        from .grid.loader import load_grid_text

        return load_grid_text(text, name, errors)

    return _load(gridcache.text_key(text, name), load, catalogue)


def _load(key: str, load: Callable[[Collector], LoadedGrid | None], catalogue: Catalogue | None) -> Grid:
    """The grid cached under ``key`` (default catalogue only), else ``load`` it, check it and keep it."""
    if catalogue is None:
        grid = gridcache.lookup(key)
        if grid is not None:
            return grid
    from .grid.check import check_grid

    errors = Collector()
    loaded = load(errors)
    errors.raise_if_any()  # shape errors stop here: the checker needs a well-formed grid
    assert loaded is not None
    grid = check_grid(loaded, catalogue, errors)
    if catalogue is None:
        gridcache.store(key, loaded.read, grid)
    return grid


ENGINES = ("compiled", "reference", "auto")
#: With engine="auto", batches of at least this many applications use the compiled kernel even when
#: it is not in the disk cache yet (below, the NumPy reference answers while nothing is compiled).
AUTO_COMPILED_FROM = 50_000


def score(grid: Grid, applications: Any, date_calcul: datetime.date | str, *, engine: str = "compiled",
          breakdown: bool = False, verified_only: bool = False) -> Any:
    """Score ``applications`` (a Batch, a path, a DataFrame or an Arrow table) on ``date_calcul``.

    ``engine``: "compiled" (the default: Numba kernels, compiled once per grid and cached on disk),
    "reference" (the NumPy oracle, for debugging; no compilation) or "auto" (compiled when the
    grid's kernel is already cached or the batch has ``AUTO_COMPILED_FROM`` applications, else the
    reference: the fast path for a notebook editing a grid). Every engine gives identical Scores.
    ``breakdown``: compute the breakdown now rather than when ``Scores.breakdown`` is first read.
    ``verified_only``: count a criterion that declares a justificatif only when the application lists
    it in ``justificatifs_verifies`` (otherwise the scores are provisional: ``Scores.provisional``
    says which criteria, ``Scores.verified_total`` gives the verified totals).

    >>> import datetime, cotation
    >>> grid = cotation.parse_grid("id: g\\ntitle: G\\ncriteria:\\n  - {id: dalo, label: DALO, when: dalo, points: 50}")
    >>> rows = [{"numero_unique": "A1", "date_depot": "2024-01-01", "nb_personnes": 1, "nb_adultes": 1,
    ...          "date_naissance_demandeur": "1990-01-01", "ressources_mensuelles": 900,
    ...          "situation_logement": "locataire_prive", "dalo": True}]
    >>> batch = cotation.Batch.from_rows(rows)
    >>> cotation.score(grid, batch, datetime.date(2026, 1, 1), engine="reference").total.tolist()
    [50]
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r} (available: {', '.join(ENGINES)})")
    day = as_date(date_calcul)
    batch = applications_batch(grid, applications, day)
    from .grid.check import verified_grid

    checked = verified_grid(grid)
    scores = _run(checked if verified_only else grid, batch, day, engine, breakdown)
    proofs = Lazy(lambda: _proofs(grid, batch))
    same = verified_only or checked is grid  # nothing to verify: the verified scores are these
    verified = Lazy.of(scores) if same else Lazy(lambda: _run(checked, batch, day, scores.engine, False))
    return dataclasses.replace(scores, grid_hash=grid.content_hash, proofs=proofs, verified_run=verified,
                               verified_only=verified_only)


def as_date(value: datetime.date | str) -> datetime.date:
    return datetime.date.fromisoformat(value) if isinstance(value, str) else value


def applications_batch(grid: Grid, applications: Any, day: datetime.date) -> Any:
    """A Batch under the grid's catalogue: adapted when given one, else read and validated."""
    from .data.batch import Batch, read_applications

    if isinstance(applications, Batch):
        return applications.with_catalogue(grid.catalogue)
    return read_applications(applications, grid.catalogue, date_calcul=day)


def _run(grid: Grid, batch: Any, day: datetime.date, engine: str, breakdown: bool) -> Any:
    if engine != "reference":
        from .scoring.compiled import compile_grid

        compiled = compile_grid(grid)
        if engine == "compiled" or len(batch) >= AUTO_COMPILED_FROM or compiled.is_cached:
            return compiled.score(batch, day, breakdown=breakdown)
    from .scoring.reference import evaluate

    return evaluate(grid, batch, day)


def _proofs(grid: Grid, batch: Any) -> np.ndarray:
    """K x N: whether each criterion's justificatif is verified for each application (or none is needed)."""
    from .grid.check import JUSTIFICATIFS

    out = np.ones((len(grid.criteria), len(batch)), dtype=bool)
    f = grid.catalogue.get(JUSTIFICATIFS)
    if f is None or not f.values:
        return out
    bits = batch.column(JUSTIFICATIFS).values
    for k, c in enumerate(grid.criteria):
        if c.justificatif and c.id in f.values:
            out[k] = ((bits >> np.uint64(f.values.index(c.id))) & np.uint64(1)).astype(bool)
    return out


def rank(grid: Grid, applications: Any, dwellings: Any, k: int = 3, *, date_calcul: datetime.date | str,
         engine: str = "compiled", assignment: str | None = None) -> Any:
    """The top ``k`` eligible applications of every dwelling, under the grid's ``match`` part.

    ``applications`` and ``dwellings``: Batches, paths (.csv/.parquet), DataFrames or Arrow tables.
    Candidates are ordered by tier, then pair total (the application's total plus the points of
    the match criteria), then the grid's tie-breaks (a total order). ``assignment``: None (each
    dwelling independently), "given" or "best": an application is proposed for at most one
    dwelling of the batch, the dwellings choosing in the given order, or best candidate first (see
    :func:`cotation.match.pool.dwelling_order`). ``engine``: "compiled" (default) or "reference".
    Returns a :class:`~cotation.match.pool.Ranking`.
    """
    from .match.pool import prepare_pool

    return prepare_pool(grid, applications, date_calcul, engine=engine).rank(dwellings, k, assignment=assignment)

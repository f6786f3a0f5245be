"""The public entry points: the pipeline stages called in order, visibly."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from .catalogue import Catalogue
from .check import check_grid
from .errors import Collector
from .ir import Grid
from .loader import LoadedGrid, load_grid_files
from .loader import load_grid_text as _load_text


def load_grid(path: str | Path, catalogue: Catalogue | None = None) -> Grid:
    """Load, validate and type-check the grid at ``path``; raise GridError with every problem."""
    errors = Collector()
    return _check(load_grid_files(path, errors), catalogue, errors)


def parse_grid(text: str, name: str = "<grid>", catalogue: Catalogue | None = None) -> Grid:
    """Like :func:`load_grid`, from YAML text (includes resolve from the current directory)."""
    errors = Collector()
    return _check(_load_text(text, name, errors), catalogue, errors)


def _check(loaded: LoadedGrid | None, catalogue: Catalogue | None, errors: Collector) -> Grid:
    errors.raise_if_any()  # shape errors stop here: the checker needs a well-formed grid
    assert loaded is not None
    return check_grid(loaded, catalogue, errors)


ENGINES = ("auto", "compiled", "reference")
#: With engine="auto", batches of at least this many applications use the compiled kernel.
AUTO_COMPILED_FROM = 50_000


def score(grid: Grid, applications: Any, date_calcul: datetime.date | str, *, engine: str = "auto") -> Any:
    """Score ``applications`` (a Batch, a path, a DataFrame or an Arrow table) on ``date_calcul``.

    ``engine``: "compiled" (the Numba kernel, compiled once per grid and cached on disk),
    "reference" (the NumPy oracle, no compilation) or "auto" (compiled from
    ``AUTO_COMPILED_FROM`` applications, reference below). Every engine gives identical Scores.
    """
    from .data import Batch, read_applications

    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r} (available: {', '.join(ENGINES)})")
    day = datetime.date.fromisoformat(date_calcul) if isinstance(date_calcul, str) else date_calcul
    if isinstance(applications, Batch):
        batch = applications.with_catalogue(grid.catalogue)
        batch.check_dates(day)
    else:
        batch = read_applications(applications, grid.catalogue, date_calcul=day)
    if engine == "compiled" or (engine == "auto" and len(batch) >= AUTO_COMPILED_FROM):
        from .kernel import compile_grid

        return compile_grid(grid).score(batch, day)
    from .reference import evaluate

    return evaluate(grid, batch, day)

"""Stage 4 (scoring): score a batch with the chosen engine, and attach what every Scores carries (the grid's
hash, the justificatifs' proofs, the verified scores and the positions among similar demands).

``"compiled"`` runs the Numba kernels (:mod:`cotation.scoring.compiled`), ``"reference"`` the NumPy
oracle (:mod:`cotation.scoring.reference`), ``"auto"`` the compiled kernels when they are already
cached on disk (with ``breakdown=True``, the breakdown kernel too) or the batch is large, else the
reference: a first run of small work never waits for Numba (issue 18). Every engine gives identical Scores.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

import numpy as np

from ..errors import note
from ..grid.check import JUSTIFICATIFS, verified_grid
from ..grid.ir import Grid
from . import ENGINES
from .positions import with_positions
from .scores import Lazy, Scores

if TYPE_CHECKING:
    from ..data.batch import Batch

#: With engine="auto", batches of at least this many applications use the compiled kernel even when
#: it is not in the disk cache yet (below, the NumPy reference answers while nothing is compiled).
AUTO_COMPILED_FROM = 50_000
#: For a grid compiled in pieces (codegen.score_source.PIECES_FROM criteria or more), compiling its
#: total kernel takes about 0.02 s per criterion on 2 cores (pieces compiled by two processes; the
#: breakdown kernel about 0.05 s more) and the reference about 1.3e-7 s per criterion and row
#: (benchmarks/compile_cost.py, results-2026-12-02b-compile-cost.json): compiling pays off from about
#: 150 000 applications for the total, more with the breakdown.
AUTO_COMPILED_FROM_LARGE = 200_000


def check_engine(engine: str, engines: tuple[str, ...] = ENGINES) -> None:
    if engine not in engines:
        raise ValueError(f"unknown engine {engine!r} (available: {', '.join(engines)})")


def score_batch(
    grid: Grid,
    batch: Batch,
    day: datetime.date,
    *,
    engine: str = "compiled",
    breakdown: bool = False,
    verified_only: bool = False,
) -> Scores:
    """The Scores of a validated ``batch`` (see :func:`cotation.score` for the arguments; the callers
    have checked ``engine``)."""
    checked = verified_grid(grid)
    scores = _run(checked if verified_only else grid, batch, day, engine, breakdown)
    proofs = Lazy(lambda: _proofs(grid, batch))
    same = verified_only or checked is grid  # nothing to verify: the verified scores are these
    # the verified scores of compiled scores: "auto" (identical scores), so that reading them for a few
    # applications (an explanation) compiles no second kernel (issue 18)
    again = "auto" if scores.engine == "compiled" else scores.engine
    verified = Lazy.of(scores) if same else Lazy(lambda: _run(checked, batch, day, again, False))
    scores = scores.replaced(
        grid_hash=grid.content_hash, proofs=proofs, verified_run=verified, verified_only=verified_only
    )
    return with_positions(scores, grid, batch)


def _run(grid: Grid, batch: Batch, day: datetime.date, engine: str, breakdown: bool) -> Scores:
    if engine != "reference":
        from ..codegen.score_source import PIECES_FROM
        from .compiled import compile_grid

        compiled = compile_grid(grid)
        cached = compiled.is_cached and (not breakdown or compiled.is_breakdown_cached)
        if engine == "compiled" or cached:
            return compiled.score(batch, day, breakdown=breakdown)
        large = len(grid.criteria) >= PIECES_FROM
        if len(batch) >= (AUTO_COMPILED_FROM_LARGE if large else AUTO_COMPILED_FROM):
            return compiled.score(batch, day, breakdown=breakdown)
        if large and len(batch) >= AUTO_COMPILED_FROM:
            note(
                "W453",
                f"engine='auto': grid '{grid.meta.id}' has {len(grid.criteria)} criteria, too many for "
                "compiling its kernels to pay off: scored with the reference engine (engine='compiled' "
                "compiles them anyway)",
                once=grid.content_hash,
            )
    from .reference import evaluate

    return evaluate(grid, batch, day)


def _proofs(grid: Grid, batch: Batch) -> np.ndarray:
    """K x N: whether each criterion's justificatif is verified for each application (or none is needed)."""
    out = np.ones((len(grid.criteria), len(batch)), dtype=bool)
    f = grid.catalogue.get(JUSTIFICATIFS)
    if f is None or not f.values:
        return out
    bits = batch.column(JUSTIFICATIFS).values
    for k, c in enumerate(grid.criteria):
        if c.justificatif and c.id in f.values:
            out[k] = ((bits >> np.uint64(f.values.index(c.id))) & np.uint64(1)).astype(bool)
    return out

"""Stage 4 (scoring): each application's position among similar demands.

The grid's ``similar`` expressions (default: the first wished typology and commune) are evaluated
per application by the reference evaluator, combined into a group code, and each application's rank
within its group follows the global rank (``Scores.rank``). They are attached by
:func:`with_positions`, computed on first read of ``Scores.position`` / ``position_count``.
"""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np

from ..grid import ir
from .reference import Env, ev
from .scores import Lazy, Scores


def with_positions(scores: Scores, grid: ir.Grid, batch: Any) -> Scores:
    """``scores`` with their positions among similar demands (computed on first use)."""
    ranks, day = scores.ranks, scores.date_calcul
    positions = Lazy(lambda: positions_of(grid, batch, day, ranks.get()))
    return scores.replaced(positions=positions, similar=tuple(s.label for s in grid.similar))


def positions_of(
    grid: ir.Grid, batch: Any, date_calcul: datetime.date, rank: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(position, count): each application's rank among the applications with the same values of the
    grid's ``similar`` keys (1 = best, same order as ``rank``), and how many they are. A missing
    value is a value of its own."""
    n = len(rank)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    _, needed = ir.reads([s.expr for s in grid.similar], {v.name: v for v in grid.variables})
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

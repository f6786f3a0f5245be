"""Stage 5 (match): every pair of one dwelling with the applications, evaluated
with NumPy, one dwelling at a time (the oracle of :mod:`cotation.match.compiled`)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..grid import ir
from ..scoring.reference import Env, PairEnv, criterion_points, ev
from .prepared import DwellingResult, Prepared, dwelling_order


@dataclass(frozen=True, kw_only=True)
class DwellingTop:
    """One dwelling's best candidates (rows of the applications as given, best first) and counts."""

    rows: np.ndarray
    total: np.ndarray  # their pair totals
    eligible: int  # applications that passed every filter
    excluded: list[int]  # per filter, the applications it excluded first
    already: int  # eligible applications skipped: an earlier dwelling of the assignment took them


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

    def top(self, m: int, k: int, taken: np.ndarray | None) -> DwellingTop:
        """The ``k`` best candidates of dwelling m (skipping the ``taken`` rows) and its counts."""
        alive, total, excluded = self.evaluate(m)
        eligible = int(alive.sum())
        already = 0
        if taken is not None:
            already = int((alive & taken).sum())
            alive = alive & ~taken
        idx = np.flatnonzero(alive)
        order = np.lexsort((self.prep.tie_rank[idx], -total[idx], -self.tier[idx]))[:k]
        return DwellingTop(
            rows=idx[order], total=total[idx[order]], eligible=eligible, excluded=excluded, already=already
        )


def pair_breakdown(
    grid: ir.Grid, batch: Any, dwellings: Any, m: int, rows: list[int], date_calcul: datetime.date
) -> np.ndarray:
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
    filters = len(prep.grid.match.filters) if prep.grid.match else 0
    free = DwellingResult.empty(m_count, k, filters)
    for m in range(m_count):
        _store(free, m, pairs.top(m, k, None))
    if assignment is None:
        return free, np.arange(m_count)
    order = dwelling_order(assignment, free.rows, free.total, pairs.tier, prep.tie_rank)
    out = DwellingResult.empty(m_count, k, filters)
    taken = np.zeros(len(prep.batch), dtype=bool)
    for m in order:
        _store(out, int(m), pairs.top(int(m), k, taken))
        chosen = out.rows[m][out.rows[m] >= 0]
        taken[chosen] = True
    return out, order


def _store(out: DwellingResult, m: int, found: DwellingTop) -> None:
    out.rows[m, : len(found.rows)] = found.rows
    out.total[m, : len(found.rows)] = found.total
    out.eligible[m], out.already[m] = found.eligible, found.already
    out.excluded[m, :] = found.excluded

"""Stage 5 (match): what both pair engines share: their input (a pool and validated dwellings), their
output (the top ``k`` of each dwelling, with the filters' counts) and the order in which the
dwellings of a batch assignment choose."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..data.batch import Batch
    from ..grid import ir
    from ..scoring.scores import Scores
    from .pool import Pool

ASSIGNMENT_ORDERS = ("given", "best")


@dataclass(eq=False)
class Prepared:
    """A pool of applications and a batch of validated dwellings: what both engines rank."""

    pool: Pool
    dwellings: Batch

    @property
    def grid(self) -> ir.Grid:
        return self.pool.grid

    @property
    def batch(self) -> Batch:
        return self.pool.batch

    @property
    def perm(self) -> np.ndarray:
        return self.pool.perm

    @property
    def scores(self) -> Scores:
        return self.pool.scores

    @property
    def date_calcul(self) -> Any:
        return self.pool.date_calcul

    @property
    def tie_rank(self) -> np.ndarray:
        return self.pool.tie_rank


@dataclass(kw_only=True)
class DwellingResult:
    """One dwelling's top k in sorted rows, and its counts (the engines' common output)."""

    rows: np.ndarray  # (M, k) rows of the applications as given, -1 padded
    total: np.ndarray  # (M, k) pair totals
    eligible: np.ndarray  # (M,)
    excluded: np.ndarray  # (M, F)
    already: np.ndarray  # (M,)

    @classmethod
    def empty(cls, m: int, k: int, f: int) -> DwellingResult:
        """No candidate yet for ``m`` dwellings, ``k`` places each, ``f`` filters."""
        return cls(
            rows=np.full((m, k), -1, np.int64),
            total=np.zeros((m, k), np.int64),
            eligible=np.zeros(m, np.int64),
            excluded=np.zeros((m, f), np.int64),
            already=np.zeros(m, np.int64),
        )


def dwelling_order(
    assignment: str, rows: np.ndarray, total: np.ndarray, tier: np.ndarray, tie_rank: np.ndarray
) -> np.ndarray:
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
    keys = (
        np.arange(m),
        np.where(has, tie_rank[safe], 0),
        -np.where(has, total[:, 0], 0),
        -np.where(has, tier[safe], 0),
        ~has,
    )
    return np.lexsort(keys)

"""The result of scoring: totals, breakdown, flags, tier and rank, stamped with the grid and date."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import numpy as np

from .ir import Column


@dataclass(frozen=True, eq=False)
class Scores:
    """Scores of a batch of applications under one grid on one computation date.

    ``breakdown[i, j]`` is what column ``columns[j]`` contributes to application ``i`` after rubric
    and cap rules, so ``total == breakdown.sum(axis=1)``. ``met[i, k]`` says whether criterion ``k``
    was met (before rubric rules). ``rank`` is 1 for the best application: tier first (higher
    first), then total (higher first), then the grid's tie-breaks.
    """

    grid_id: str
    grid_version: str | None
    grid_hash: str
    date_calcul: datetime.date
    ids: np.ndarray
    total: np.ndarray
    breakdown: np.ndarray
    columns: tuple[Column, ...]
    met: np.ndarray
    flags: np.ndarray
    flag_ids: tuple[str, ...]
    tier: np.ndarray
    rank: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return (f"<Scores grid={self.grid_id!r} version={self.grid_version!r} date_calcul={self.date_calcul} "
                f"applications={len(self)} columns={len(self.columns)}>")

    @property
    def column_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.columns)

    def index_of(self, numero_unique: str) -> int:
        """Row of the application ``numero_unique``; KeyError when absent."""
        hits = np.flatnonzero(self.ids == numero_unique)
        if len(hits) == 0:
            raise KeyError(numero_unique)
        return int(hits[0])

    def order(self) -> np.ndarray:
        """Row indices from the best application to the last."""
        return np.argsort(self.rank, kind="stable")

    def table(self) -> dict[str, Any]:
        """Columns as a dict of arrays: numero_unique, total, tier, rank, flags, one column per breakdown column."""
        out: dict[str, Any] = {"numero_unique": self.ids, "total": self.total, "tier": self.tier, "rank": self.rank,
                               "flags": self.flag_labels()}
        for j, col in enumerate(self.columns):
            out[col.id] = self.breakdown[:, j]
        return out

    def flag_labels(self) -> np.ndarray:
        """Per application, the ids of its raised flags joined by ';' (one string per distinct pattern)."""
        if len(self) == 0:
            return np.zeros(0, dtype=object)
        packed = np.packbits(self.flags, axis=1)  # one row of bytes per application
        keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel() if packed.shape[1] else np.zeros(len(self))
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        texts = np.array([";".join(f for f, on in zip(self.flag_ids, self.flags[i], strict=True) if on)
                          for i in first], dtype=object)
        return texts[inverse.reshape(-1)]

    def to_arrow(self) -> Any:
        import pyarrow as pa

        table = pa.table(self.table())
        meta = {"grid_id": self.grid_id, "grid_version": self.grid_version or "", "grid_hash": self.grid_hash,
                "date_calcul": self.date_calcul.isoformat()}
        return table.replace_schema_metadata({k: str(v) for k, v in meta.items()})

    def to_pandas(self) -> Any:
        import pandas as pd

        frame = pd.DataFrame(self.table())
        frame.attrs.update(grid_id=self.grid_id, grid_version=self.grid_version, grid_hash=self.grid_hash,
                           date_calcul=self.date_calcul.isoformat())
        return frame

    def _repr_html_(self) -> str:
        from .render import scores_html

        return scores_html(self)

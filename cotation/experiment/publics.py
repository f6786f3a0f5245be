"""Stage 7 (experiment): who is a priority public (DALO, L441-2-3 CCH, and the publics of L441-1
CCH), by the conditions of the shipped pool ``publics-prioritaires.yaml``: one definition for every
grid compared; and applications adapted from one grid's catalogue to another's."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..data.batch import Batch, Column, absent_column
from ..errors import Collector
from ..grid.catalogue import Catalogue, Kind


@dataclass(frozen=True)
class Publics:
    """Which applications belong to a priority public (the shipped pool ``publics-prioritaires.yaml``)."""

    ids: tuple[str, ...]
    labels: tuple[str, ...]
    flags: np.ndarray  # N x K

    @property
    def any(self) -> np.ndarray:
        if not self.flags.shape[1]:
            return np.zeros(len(self.flags), bool)
        return np.asarray(self.flags.any(axis=1), bool)


def priority_publics(batch: Batch, day: datetime.date) -> Publics:
    """DALO and the L441-1 publics of each application, by the conditions of the shipped pool
    ``publics-prioritaires.yaml`` (the same for every grid compared), with the reference engine."""
    from ..scoring.engine import score_batch

    grid = _publics_grid()
    scores = score_batch(grid, adapt(batch, grid.catalogue), day, engine="reference")
    return Publics(scores.flag_ids, tuple(p.label for p in grid.priorities), scores.flags)


def adapt(batch: Batch, catalogue: Catalogue) -> Batch:
    """``batch`` under another grid's ``catalogue``: the fields both define alike are kept; a set
    defined differently (``justificatifs_verifies`` lists each grid's own criteria) keeps the values
    the other also has, by name; any other field is absent."""
    columns = {}
    for f in catalogue:
        if f.kind is Kind.ID:
            continue
        old = batch.catalogue.get(f.name)
        col = batch.columns.get(f.name)
        if old is None or col is None or (old.kind, old.width) != (f.kind, f.width):
            columns[f.name] = absent_column(f, len(batch))
        elif old.values == f.values:
            columns[f.name] = col
        elif f.kind is Kind.SET:
            columns[f.name] = _recode_set(old.values, f.values, col)
        else:
            columns[f.name] = absent_column(f, len(batch))
    return Batch(catalogue, batch.ids, columns, batch.source)


def _recode_set(old: tuple[str, ...], new: tuple[str, ...], col: Column) -> Column:
    values = np.zeros(len(col.values), np.uint64)
    for k, name in enumerate(old):
        if name in new:
            hit = (col.values >> np.uint64(k)) & np.uint64(1)
            values |= hit.astype(np.uint64) << np.uint64(new.index(name))
    return Column(values, col.valid)


@cache
def _publics_grid() -> Any:
    from ..grid.check import check_grid
    from ..grid.loader import load_grid_text

    pool = resources.files("cotation") / "resources" / "grids" / "publics-prioritaires.yaml"
    text = f'id: publics-experimentation\ntitle: Publics prioritaires\ninclude: ["{pool}"]\ncriteria: []\n'
    errors = Collector()
    folder = Path(str(pool)).resolve().parent  # the shipped pool, wherever the package lies
    loaded = load_grid_text(text, "<publics prioritaires>", errors, include_dirs=[folder])
    errors.raise_if_any()
    assert loaded is not None
    return check_grid(loaded, None, errors)

"""Stage 7 (experiment): the back-test: past allocations ranked again under a grid.

For each allocation of the history (dwelling, date, housed application), the dwelling's eligible
candidates are ranked on the allocation's date among the applications then pending (filed on or
before it, not housed by an earlier allocation of the history), as the match part ranks any
dwelling (filters, then tier, pair total and tie-breaks). The result is the rank the grid gives the
housed household, or "non éligible" when the grid's filters exclude it for that dwelling, or
"au-delà" when it ranks below the first :data:`DEPTH` candidates. Allocations of one date are
ranked together, each dwelling independently.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.batch import Batch
from ..dates import day_number
from ..errors import MAX_ROWS, DataError, DataProblem
from ..grid import ir
from ..match.pool import prepare_pool
from .history import History

DEPTH = 1000  # candidates ranked per dwelling: a housed household below them is "au-delà"
BUCKETS = (
    ("1", 1, 1),
    ("2", 2, 2),
    ("3", 3, 3),
    ("4 à 10", 4, 10),
    ("11 à 50", 11, 50),
    ("51 et plus", 51, None),
)
WORST = 10  # the allocations the grid most disagrees with, shown


@dataclass(frozen=True)
class Decision:
    """One past allocation and the rank the grid gives its housed household."""

    numero_unique: str
    logement: str
    date: datetime.date
    rank: int | None  # None: not eligible, or below DEPTH
    eligible: int  # eligible candidates of the dwelling on that date
    status: str  # "rang" | "non_eligible" | "au_dela"
    best: str  # the grid's first candidate ("" when none)


@dataclass(frozen=True)
class Backtest:
    """The ranks of every past allocation under one grid."""

    grid_id: str
    grid_hash: str
    decisions: tuple[Decision, ...]
    source: str

    def __len__(self) -> int:
        return len(self.decisions)

    def distribution(self) -> list[tuple[str, int]]:
        """Allocations per rank bucket, then those not eligible and those ranked below DEPTH."""
        ranks = [d.rank for d in self.decisions if d.rank is not None]
        out = [
            (label, sum(1 for r in ranks if r >= lo and (hi is None or r <= hi))) for label, lo, hi in BUCKETS
        ]
        out.append(("non éligible", sum(1 for d in self.decisions if d.status == "non_eligible")))
        out.append((f"> {DEPTH}", sum(1 for d in self.decisions if d.status == "au_dela")))
        return out

    @property
    def top3(self) -> float | None:
        """Share of the allocations whose household the grid ranks in its first three."""
        n = len(self.decisions)
        return sum(1 for d in self.decisions if d.rank is not None and d.rank <= 3) / n if n else None

    def disagreements(self, limit: int = WORST) -> list[Decision]:
        """The allocations the grid most disagrees with: not eligible first, then the worst ranks."""

        def key(d: Decision) -> tuple[int, int]:
            return (0 if d.status == "non_eligible" else 1 if d.status == "au_dela" else 2, -(d.rank or 0))

        return sorted((d for d in self.decisions if d.rank != 1), key=key)[:limit]

    def to_dict(self) -> dict[str, Any]:
        return {
            "grille": self.grid_id,
            "empreinte": self.grid_hash,
            "historique": self.source,
            "attributions": len(self),
            "part_top3": self.top3,
            "distribution": dict(self.distribution()),
            "desaccords": [_decision_dict(d) for d in self.disagreements()],
            "decisions": [_decision_dict(d) for d in self.decisions],
        }


def _decision_dict(d: Decision) -> dict[str, Any]:
    return {
        "numero_unique": d.numero_unique,
        "logement": d.logement,
        "date": d.date.isoformat(),
        "rang": d.rank,
        "eligibles": d.eligible,
        "statut": d.status,
        "premier_selon_grille": d.best,
    }


def backtest(
    grid: ir.Grid, apps: Batch, dwellings: Batch, history: History, engine: str = "compiled"
) -> Backtest:
    """Rank every allocation of ``history`` again under ``grid`` (module docstring)."""
    app_rows, dw_rows = _resolve(apps, dwellings, history)
    filed = apps.column("date_depot").values
    days = np.array([day_number(d) for d in history.dates], np.int64)
    _check_filed(history, filed[app_rows], days)
    housed_on = np.full(len(apps), np.iinfo(np.int64).max)
    np.minimum.at(housed_on, app_rows, days)
    decisions: list[Decision | None] = [None] * len(history)
    grid_hash = ""
    for day in np.unique(days).tolist():
        here = np.flatnonzero(days == day)
        pending = np.flatnonzero((filed <= day) & (housed_on >= day))
        date = history.dates[int(here[0])]
        pool = prepare_pool(grid, apps.take(pending), date, engine=engine)
        grid_hash = pool.scores.grid_hash
        ranking = pool.rank(dwellings.take(dw_rows[here]), min(DEPTH, len(pending)))
        place = np.full(len(apps), -1, np.int64)
        place[pending] = np.arange(len(pending))
        for m, h in enumerate(here.tolist()):
            decisions[h] = _decision(history, h, ranking, m, int(place[app_rows[h]]), pool.batch.ids)
    return Backtest(
        grid_id=grid.meta.id,
        grid_hash=grid_hash,
        decisions=tuple(d for d in decisions if d),
        source=history.source,
    )


def _decision(history: History, h: int, ranking: Any, m: int, row: int, ids: np.ndarray) -> Decision:
    cands = ranking.rows[m]
    hits = np.flatnonzero(cands == row)
    eligible = int(ranking.eligible[m])
    if len(hits):
        rank, status = int(hits[0]) + 1, "rang"
    else:
        rank, status = None, ("au_dela" if eligible > ranking.k else "non_eligible")
    best = str(ids[cands[0]]) if len(cands) and cands[0] >= 0 else ""
    return Decision(
        str(history.application_ids[h]),
        str(history.dwelling_ids[h]),
        history.dates[h],
        rank,
        eligible,
        status,
        best,
    )


def _resolve(apps: Batch, dwellings: Batch, history: History) -> tuple[np.ndarray, np.ndarray]:
    """Rows of each allocation's application and dwelling; D165 for ids found in neither file."""
    problems = []
    out = []
    for column, ids, batch, what in (
        ("numero_unique", history.application_ids, apps, "applications"),
        ("logement", history.dwelling_ids, dwellings, "dwellings"),
    ):
        index = {str(x): i for i, x in enumerate(batch.ids.tolist())}
        rows = np.array([index.get(str(x), -1) for x in ids.tolist()], np.int64)
        bad = np.flatnonzero(rows < 0)
        if len(bad):
            problems.append(
                DataProblem(
                    "D165",
                    column,
                    f"allocation of an id absent from the {what} file",
                    rows=tuple(f"line {i + 2}" for i in bad[:MAX_ROWS].tolist()),
                    values=tuple(str(ids[i]) for i in bad[:MAX_ROWS].tolist()),
                    count=len(bad),
                    source=history.source,
                )
            )
        out.append(rows)
    if problems:
        raise DataError(problems)
    return out[0], out[1]


def _check_filed(history: History, filed: np.ndarray, days: np.ndarray) -> None:
    """D166 when an allocation is dated before its application was filed."""
    bad = np.flatnonzero(filed > days)
    if len(bad):
        raise DataError(
            [
                DataProblem(
                    "D166",
                    "date_attribution",
                    "allocation dated before the application's date_depot",
                    rows=tuple(f"line {i + 2}" for i in bad[:MAX_ROWS].tolist()),
                    values=tuple(history.dates[i].isoformat() for i in bad[:MAX_ROWS].tolist()),
                    count=len(bad),
                    source=history.source,
                )
            ]
        )

"""Stage 7 (experiment): two grids on the same applications and date: how differently they rank.

Whatever the two grids' criteria: the rank correlations (Spearman, Kendall tau-b), the churn of
the top ``N`` (the share of grid A's top ``N`` not in grid B's), the share of the similar-demand
groups (grid A's ``similar`` keys) whose first place changes, the share of each priority public and
each resources quartile among the top ``N`` under each grid, the mean points of every breakdown
column under each (a column one grid lacks counts 0), a histogram of the totals, and the biggest
winners and losers with the criteria whose points moved them (from the traces of both grids).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.batch import Batch, as_applications
from ..dates import as_date
from ..explain.trace import traces
from ..grid import ir
from ..scoring.engine import check_engine, score_batch
from ..scoring.positions import positions_of
from ..scoring.scores import Scores
from .objectives import LEGAL_DEFAULTS, Objectives, Threshold, quartiles, resources_per_uc
from .publics import adapt, priority_publics
from .stats import kendall, spearman

MOVERS = 10  # winners and losers shown
BINS = 20


@dataclass(frozen=True)
class Mover:
    """An application whose rank changed most, and the criteria whose points moved it."""

    numero_unique: str
    rank_a: int
    rank_b: int
    total_a: int
    total_b: int
    criteria: tuple[tuple[str, str, int, int], ...]  # (id, label, points under A, points under B)

    @property
    def gain(self) -> int:
        """Places gained under grid B (positive: better ranked)."""
        return self.rank_a - self.rank_b


@dataclass(frozen=True)
class GridSide:
    """One grid of the comparison: its stamp, top-N shares and mean points per column."""

    grid_id: str
    grid_title: str
    grid_version: str | None
    grid_hash: str
    publics: tuple[float, ...]  # share of each priority public among the top N
    priority: float  # share of any priority public among the top N
    quartiles: tuple[float, float, float, float]  # share of quartiles 1..4 among the top N
    mean_points: dict[str, float]  # per breakdown column


@dataclass(eq=False, kw_only=True)
class Comparison:
    """Grid A against grid B on the same applications and date (see the module's docstring)."""

    a: GridSide
    b: GridSide
    date_calcul: datetime.date
    applications: int
    data: str
    top: int
    spearman: float
    kendall: float
    top_churn: float  # share of A's top N absent from B's
    groups: int  # similar-demand groups (grid A's keys)
    group_first_changed: float  # share of the groups whose first place differs under B
    public_labels: tuple[str, ...]
    column_labels: dict[str, str]
    histogram_edges: np.ndarray
    histogram_a: np.ndarray
    histogram_b: np.ndarray
    winners: tuple[Mover, ...]
    losers: tuple[Mover, ...]
    threshold: Threshold
    per_application: dict[str, np.ndarray] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "date_calcul": self.date_calcul.isoformat(),
            "demandes": self.applications,
            "donnees": self.data,
            "top": self.top,
            "grilles": [_side_dict(s, self.public_labels) for s in (self.a, self.b)],
            "spearman": _num(self.spearman),
            "kendall": _num(self.kendall),
            "renouvellement_top": self.top_churn,
            "groupes_similaires": self.groups,
            "groupes_premier_change": self.group_first_changed,
            "histogramme": {
                "bornes": self.histogram_edges.tolist(),
                "a": self.histogram_a.tolist(),
                "b": self.histogram_b.tolist(),
            },
            "gagnants": [_mover_dict(m) for m in self.winners],
            "perdants": [_mover_dict(m) for m in self.losers],
            "seuil_premier_quartile": {"montant": self.threshold.amount, "source": self.threshold.source},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def to_pandas(self) -> Any:
        """One row per application: totals and ranks under both grids, and the places gained."""
        import pandas as pd

        frame = pd.DataFrame(self.per_application)
        frame.attrs.update(
            {"grid_a": self.a.grid_id, "grid_b": self.b.grid_id, "date_calcul": self.date_calcul.isoformat()}
        )
        return frame

    def to_html(self) -> str:
        """The comparison page (French, printable, SVG charts)."""
        from .pages import comparison_page

        return comparison_page(self)

    def _repr_html_(self) -> str:
        from .pages import comparison_page

        return comparison_page(self, standalone=False)


def _num(x: float) -> float | None:
    return None if np.isnan(x) else x


def _side_dict(s: GridSide, labels: tuple[str, ...]) -> dict[str, Any]:
    return {
        "grille": s.grid_id,
        "titre": s.grid_title,
        "version": s.grid_version,
        "empreinte": s.grid_hash,
        "part_publics_prioritaires": s.priority,
        "publics": dict(zip(labels, s.publics, strict=True)),
        "quartiles": dict(zip(("1", "2", "3", "4"), s.quartiles, strict=True)),
        "points_moyens": s.mean_points,
    }


def _mover_dict(m: Mover) -> dict[str, Any]:
    return {
        "numero_unique": m.numero_unique,
        "rang_a": m.rank_a,
        "rang_b": m.rank_b,
        "gain": m.gain,
        "total_a": m.total_a,
        "total_b": m.total_b,
        "criteres": [{"id": c[0], "libelle": c[1], "points_a": c[2], "points_b": c[3]} for c in m.criteria],
    }


def compare_grids(
    grid_a: ir.Grid,
    grid_b: ir.Grid,
    applications: Any,
    *,
    date_calcul: datetime.date | str,
    top: int = 100,
    engine: str = "compiled",
    objectives: Objectives | None = None,
) -> Comparison:
    """Score ``applications`` under both grids on ``date_calcul`` and compare (module docstring)."""
    check_engine(engine)
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    day = as_date(date_calcul)
    apps_a = as_applications(applications, grid_a.catalogue, day)
    apps_b = adapt(apps_a, grid_b.catalogue)
    sa = score_batch(grid_a, apps_a, day, engine=engine, breakdown=True)
    sb = score_batch(grid_b, apps_b, day, engine=engine, breakdown=True)
    n = len(apps_a)
    top = min(top, n) if n else top
    publics = priority_publics(apps_a, day)
    threshold = (objectives or LEGAL_DEFAULTS).first_quartile(day.year, apps_a)
    quart = quartiles(resources_per_uc(apps_a), threshold.amount)
    rank_a, rank_b = sa.rank.astype(np.int64), sb.rank.astype(np.int64)
    pos_a = sa.position
    pos_b = positions_of(grid_a, apps_a, day, rank_b)[0]  # B's order within A's groups
    groups = int((pos_a == 1).sum())
    changed = int(((pos_a == 1) & (pos_b != 1)).sum())
    in_a, in_b = rank_a <= top, rank_b <= top
    edges, ha, hb = _histogram(sa.total, sb.total)
    winners, losers = _movers(grid_a, grid_b, sa, sb, apps_a, apps_b)
    labels = {c.id: c.label for c in sa.columns} | {c.id: c.label for c in sb.columns}
    return Comparison(
        a=_side(grid_a, sa, in_a, publics.flags, quart),
        b=_side(grid_b, sb, in_b, publics.flags, quart),
        date_calcul=day,
        applications=n,
        data=apps_a.source or "<demandes>",
        top=top,
        spearman=spearman(rank_a, rank_b),
        kendall=kendall(rank_a, rank_b),
        top_churn=float((in_a & ~in_b).sum() / max(int(in_a.sum()), 1)),
        groups=groups,
        group_first_changed=changed / groups if groups else 0.0,
        public_labels=publics.labels,
        column_labels=labels,
        histogram_edges=edges,
        histogram_a=ha,
        histogram_b=hb,
        winners=winners,
        losers=losers,
        threshold=threshold,
        per_application={
            "numero_unique": apps_a.ids,
            "total_a": sa.total,
            "rang_a": rank_a,
            "total_b": sb.total,
            "rang_b": rank_b,
            "gain": rank_a - rank_b,
        },
    )


def _side(grid: ir.Grid, s: Scores, top: np.ndarray, flags: np.ndarray, quart: np.ndarray) -> GridSide:
    k = max(int(top.sum()), 1)
    breakdown = s.breakdown
    means = {c.id: float(breakdown[:, j].mean()) if len(s) else 0.0 for j, c in enumerate(s.columns)}
    return GridSide(
        grid_id=grid.meta.id,
        grid_title=grid.meta.title,
        grid_version=grid.meta.version,
        grid_hash=s.grid_hash,
        publics=tuple(float(flags[top, j].sum() / k) for j in range(flags.shape[1])),
        priority=float(flags[top].any(axis=1).sum() / k) if flags.shape[1] else 0.0,
        quartiles=tuple(float((quart[top] == q).sum() / k) for q in (1, 2, 3, 4)),  # type: ignore[arg-type]
        mean_points=means,
    )


def _histogram(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    both = np.concatenate([a, b]).astype(np.float64)
    if len(both) == 0:
        return np.zeros(1), np.zeros(0, np.int64), np.zeros(0, np.int64)
    lo, hi = float(both.min()), float(both.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1, BINS + 1)
    return edges, np.histogram(a, edges)[0], np.histogram(b, edges)[0]


def _movers(
    grid_a: ir.Grid, grid_b: ir.Grid, sa: Scores, sb: Scores, apps_a: Batch, apps_b: Batch
) -> tuple[tuple[Mover, ...], tuple[Mover, ...]]:
    gain = sa.rank.astype(np.int64) - sb.rank.astype(np.int64)
    order = np.lexsort((sa.rank, -gain))
    up = [i for i in order[:MOVERS].tolist() if gain[i] > 0]
    down = [i for i in order[::-1][:MOVERS].tolist() if gain[i] < 0]
    rows = up + down
    ids = [str(apps_a.ids[i]) for i in rows]
    ta, tb = traces(grid_a, sa, apps_a, ids), traces(grid_b, sb, apps_b, ids)
    movers = [_mover(i, sa, sb, x, y) for i, x, y in zip(rows, ta, tb, strict=True)]
    return tuple(movers[: len(up)]), tuple(movers[len(up) :])


def _mover(i: int, sa: Scores, sb: Scores, ta: Any, tb: Any) -> Mover:
    pa = {c.id: (c.label, c.points) for c in ta.criteria} | {c.id: (c.label, c.points) for c in ta.caps}
    pb = {c.id: (c.label, c.points) for c in tb.criteria} | {c.id: (c.label, c.points) for c in tb.caps}
    moved = []
    for cid in dict.fromkeys([*pa, *pb]):
        a, b = pa.get(cid, ("", 0))[1], pb.get(cid, ("", 0))[1]
        if a != b:
            moved.append((cid, (pa.get(cid) or pb[cid])[0], int(a), int(b)))
    moved.sort(key=lambda c: -abs(c[3] - c[2]))
    return Mover(
        numero_unique=str(sa.ids[i]),
        rank_a=int(sa.rank[i]),
        rank_b=int(sb.rank[i]),
        total_a=int(sa.total[i]),
        total_b=int(sb.total[i]),
        criteria=tuple(moved),
    )

"""Stage 6 (explain): the grid authors' view over a population: what each criterion weighs and how
much it moves the ranking.

:func:`grid_report` scores nothing itself: it takes a grid, the :class:`~cotation.scoring.scores.Scores` of a
batch under it and that batch, recomputes the raw points of every criterion once with the reference
evaluator, then, for each criterion, removes it exactly (its points and its met flag, so that the next
member of its rubric counts and its group cap applies to what remains), ranks again and compares the
two rankings. The result is a :class:`GridReport`: a table (dict, pandas, HTML) and a bar chart written
by hand as SVG, saved to a file by :meth:`GridReport.write` (.html, .svg, .csv, .json).

Definitions (also in ``docs/report.md``):

- ``met_count``: applications meeting the criterion (condition true and value present), before the
  rubric rule; ``met_share`` = ``met_count / N``.
- ``mean_points``: the mean over all N applications of the criterion's column of the breakdown
  (after the rubric rule; group caps are separate ``plafond_*`` columns and not attributed).
- ``share_of_points``: the sum of that column divided by the sum of all positive cells of the
  breakdown (criteria, priority points and caps that raise a total). Negative for a penalty.
- ``rank_correlation_without``: Spearman correlation between the ranks with and without the
  criterion (tier and tie-breaks unchanged). Ranks are a permutation of 1..N, so it is
  ``1 - 6 * sum(d**2) / (N * (N**2 - 1))``, exactly 1.0 when no rank changes; 1.0 when N < 2.
- ``moved_top``: how many applications of the top ``top_size`` (the best min(100, ceil(N / 10))
  ranks) leave it when the criterion is removed.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import math
from dataclasses import asdict, dataclass, fields
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from ..grid import ir
from ..markup import th, tr
from ..scoring.order import rank_of, tie_order
from ..scoring.reference import Env, apply_rubrics, cap_adjustments, criterion_points, ev
from ..scoring.scores import Scores

__all__ = ["CriterionImpact", "GridReport", "grid_report", "spearman_of_ranks", "top_size"]

TOP_MAX = 100  # moved_top looks at the best TOP_MAX ranks...
TOP_FRACTION = 0.10  # ...or the best 10 % when that is fewer
EXACT_UP_TO = 2_000_000  # rank correlations in int64 arithmetic up to this many applications

#: Machine column names (table(), CSV, JSON) and French headers (HTML), in display order.
HEADERS: dict[str, str] = {
    "id": "Identifiant",
    "label": "Critère",
    "rubric": "Rubrique",
    "group": "Groupe",
    "met_count": "Demandes concernées",
    "met_share": "Part des demandes",
    "mean_points": "Points moyens",
    "share_of_points": "Part des points",
    "rank_correlation_without": "Corrélation des rangs sans le critère",
    "moved_top": "Sorties du haut du classement",
}


@dataclass(frozen=True)
class CriterionImpact:
    """What one criterion weighs over the population (definitions in the module docstring)."""

    id: str
    label: str
    rubric: str | None
    group: str | None
    met_count: int
    met_share: float
    mean_points: float
    share_of_points: float
    rank_correlation_without: float
    moved_top: int


@dataclass(frozen=True)
class GridReport:
    """The impact of every criterion of a grid over a population of N applications."""

    grid_id: str
    grid_version: str | None
    grid_hash: str
    date_calcul: datetime.date
    n: int
    criteria: tuple[CriterionImpact, ...]
    top_size: int = 0  # the size of the top that moved_top looks at

    def table(self) -> dict[str, list[Any]]:
        """One list per field of :class:`CriterionImpact`, one entry per criterion (grid order)."""
        return {f.name: [getattr(c, f.name) for c in self.criteria] for f in fields(CriterionImpact)}

    def to_pandas(self) -> Any:
        import pandas as pd

        frame = pd.DataFrame(self.table())
        frame.attrs.update(self._meta())
        return frame

    def _meta(self) -> dict[str, Any]:
        return {
            "grid_id": self.grid_id,
            "grid_version": self.grid_version,
            "grid_hash": self.grid_hash,
            "date_calcul": self.date_calcul.isoformat(),
            "n": self.n,
            "top_size": self.top_size,
        }

    def _repr_html_(self) -> str:
        return _table_html(self)

    def to_html(self) -> str:
        """A standalone French HTML page: heading, grid stamp, the table and the SVG chart."""
        return _page_html(self)

    def svg(self) -> str:
        """A horizontal bar chart, per criterion: its share of points and 1 - its rank correlation."""
        return _chart_svg(self)

    def to_json(self) -> str:
        return json.dumps(
            {**self._meta(), "criteria": [asdict(c) for c in self.criteria]}, ensure_ascii=False, indent=2
        )

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        table = self.table()
        writer.writerow(table)
        writer.writerows(zip(*table.values(), strict=True))
        return out.getvalue()

    def write(self, path: str | Path) -> Path:
        """Save the report; the suffix chooses the format: .html, .svg, .csv or .json (UTF-8)."""
        path = Path(path)
        writers = {
            ".html": self.to_html,
            ".htm": self.to_html,
            ".svg": self.svg,
            ".csv": self.to_csv,
            ".json": self.to_json,
        }
        suffix = path.suffix.lower()
        if suffix not in writers:
            raise ValueError(f"unknown report format {path.suffix!r} (available: .html, .svg, .csv, .json)")
        path.write_text(writers[suffix](), encoding="utf-8")
        return path


# -- computation ---------------------------------------------------------------------------------
def grid_report(grid: ir.Grid, scores: Scores, batch: Any) -> GridReport:
    """The impact of each criterion of ``grid`` over ``batch``, scored as ``scores`` (any engine).

    ``batch``: a Batch, or what :func:`cotation.score` reads (a path, a DataFrame, an Arrow table).
    Raises ValueError when ``scores`` were not computed with this grid on this batch.
    """
    from ..data.batch import as_applications  # pyarrow: only when a report is made

    batch = as_applications(batch, grid.catalogue, scores.date_calcul)
    _check_inputs(grid, scores, batch)
    model = _Model.build(grid, batch, scores.date_calcul)
    total = model.total(model.points, model.met)
    if not np.array_equal(total, np.asarray(scores.total, dtype=np.int64)):
        raise AssertionError("the reference totals differ from scores.total: scores and batch do not match")
    tier = np.asarray(scores.tier)
    base = rank_of(grid, batch, total, tier)
    tie_rank = np.empty(model.n, np.int64)
    tie_rank[tie_order(grid, batch)] = np.arange(model.n)  # the tie-breaks, sorted once
    counted = apply_rubrics(grid, model.points, model.met)
    denominator = _positive_points(model, counted)
    top = top_size(model.n)
    impacts = []
    for j in range(len(grid.criteria)):
        ranks = _ranks(model.total_without(j), tier, tie_rank)
        impacts.append(_impact(j, model, counted[j], denominator, base, ranks, top))
    return GridReport(
        scores.grid_id,
        scores.grid_version,
        scores.grid_hash,
        scores.date_calcul,
        model.n,
        tuple(impacts),
        top,
    )


def _ranks(total: np.ndarray, tier: np.ndarray, tie_rank: np.ndarray) -> np.ndarray:
    """Ranks as ``rank_of`` gives them (tier, total, then the tie-breaks), the tie-breaks' order
    being computed once (``ranking.tie_order`` is tested equal to ``rank_of``'s order)."""
    order = np.lexsort((tie_rank, -total, -tier.astype(np.int64)))
    ranks = np.empty(len(total), np.int64)
    ranks[order] = np.arange(1, len(total) + 1)
    return ranks


def _check_inputs(grid: ir.Grid, scores: Scores, batch: Any) -> None:
    if scores.grid_hash != grid.content_hash:
        raise ValueError(f"these scores come from another grid ({scores.grid_id}, {scores.grid_hash[:12]})")
    if len(batch) != len(scores) or not np.array_equal(batch.ids, scores.ids):
        raise ValueError("the batch is not the one these scores were computed on (numero_unique differ)")


@dataclass(frozen=True)
class _Model:
    """The raw per-criterion points (K x N, before rubrics and caps), met flags and priority points."""

    grid: ir.Grid
    points: np.ndarray
    met: np.ndarray
    priority_points: np.ndarray  # N: the points of the raised priorities

    @property
    def n(self) -> int:
        return int(self.points.shape[1])

    @classmethod
    def build(cls, grid: ir.Grid, batch: Any, date_calcul: datetime.date) -> _Model:
        """Evaluate variables, criteria and priorities as :func:`cotation.scoring.reference.evaluate` does."""
        env = Env(grid, batch, date_calcul).compute(grid.variables)
        points = np.zeros((len(grid.criteria), env.n), dtype=np.int64)
        met = np.zeros((len(grid.criteria), env.n), dtype=bool)
        for j, c in enumerate(grid.criteria):
            points[j], met[j] = criterion_points(c, env)
        prio = np.zeros(env.n, dtype=np.int64)
        for p in grid.priorities:
            if p.points:
                w = ev(p.when, env)
                prio += np.where(w.v & w.ok, p.points, 0)
        return cls(grid, points, met, prio)

    def total(self, points: np.ndarray, met: np.ndarray) -> np.ndarray:
        """Totals from raw points and met flags: rubrics, then caps, then priority points."""
        counted = apply_rubrics(self.grid, points, met)
        return counted.sum(axis=0) + cap_adjustments(self.grid, counted).sum(axis=0) + self.priority_points

    def total_without(self, j: int) -> np.ndarray:
        """Totals as if criterion ``j`` were absent from the grid: no points and never met."""
        points, met = self.points.copy(), self.met.copy()
        points[j], met[j] = 0, False
        return self.total(points, met)


def _positive_points(model: _Model, counted: np.ndarray) -> int:
    """The sum of all positive cells of the breakdown: criteria, priority points, caps."""
    caps = cap_adjustments(model.grid, counted)
    return int(sum(np.clip(rows, 0, None).sum() for rows in (counted, model.priority_points, caps)))


def _impact(
    j: int, model: _Model, column: np.ndarray, denominator: int, base: np.ndarray, ranks: np.ndarray, top: int
) -> CriterionImpact:
    c = model.grid.criteria[j]
    met_count = int(model.met[j].sum())
    n = model.n
    return CriterionImpact(
        id=c.id,
        label=c.label,
        rubric=c.rubric,
        group=c.group,
        met_count=met_count,
        met_share=met_count / n if n else 0.0,
        mean_points=float(column.mean()) if n else 0.0,
        share_of_points=int(column.sum()) / denominator if denominator else 0.0,
        rank_correlation_without=spearman_of_ranks(base, ranks),
        moved_top=moved_top(base, ranks, top),
    )


def spearman_of_ranks(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of two rankings, each a permutation of 1..N (so Pearson on ranks).

    ``1 - 6 * sum(d**2) / (N * (N**2 - 1))`` in exact integer arithmetic: exactly 1.0 for identical
    rankings. By convention 1.0 when N < 2 (nothing can move).
    """
    n = len(a)
    if n < 2:
        return 1.0
    d = a.astype(np.int64) - b.astype(np.int64)
    if n > EXACT_UP_TO:  # sum(d**2) <= N**3 / 3 could overflow int64: floats (0 stays exactly 0)
        d = d.astype(np.float64)
    return max(-1.0, 1.0 - 6 * float(np.dot(d, d)) / (n * (n * n - 1)))


def top_size(n: int) -> int:
    """How many of the best ranks ``moved_top`` looks at: 100, or 10 % of N (rounded up) when fewer."""
    return min(TOP_MAX, math.ceil(n * TOP_FRACTION))


def moved_top(base: np.ndarray, ranks: np.ndarray, top: int) -> int:
    """Applications ranked in the top ``top`` with the criterion and outside it without."""
    return int(((base <= top) & (ranks > top)).sum())


# -- rendering ---------------------------------------------------------------------------------------
def _fr(x: float, digits: int) -> str:
    """A number the French way: decimal comma, thin non-breaking space between thousands."""
    return f"{x:,.{digits}f}".replace(",", "\u202f").replace(".", ",")


def _percent(x: float) -> str:
    return f"{_fr(100 * x, 1)}\u00a0%"


def _cells(c: CriterionImpact) -> list[str]:
    return [
        c.id,
        c.label,
        c.rubric or "",
        c.group or "",
        _fr(c.met_count, 0),
        _percent(c.met_share),
        _fr(c.mean_points, 2),
        _percent(c.share_of_points),
        _correlation(c.rank_correlation_without),
        _fr(c.moved_top, 0),
    ]


def _correlation(rho: float) -> str:
    """Four decimals; a value below 1 that would round to 1 is shown "> 0,9999" (some rank moved)."""
    return "> 0,9999" if 0.99995 <= rho < 1.0 else _fr(rho, 4)


def _headers(r: GridReport) -> list[str]:
    heads = list(HEADERS.values())
    heads[-1] = f"Sorties du top {r.top_size}"
    return heads


def _caption(r: GridReport) -> str:
    version = f" version {r.grid_version}" if r.grid_version else ""
    return (
        f"Grille {r.grid_id}{version} ({r.grid_hash[:12]}), calcul au {r.date_calcul.isoformat()}, "
        f"N = {_fr(r.n, 0)}"
    )


def _table_html(r: GridReport) -> str:
    """A compact HTML table, one row per criterion, French headers, every text escaped."""
    head = "".join(map(th, _headers(r)))
    rows = "".join(tr(_cells(c)) for c in r.criteria)
    return (
        f'<table class="cotation-report"><caption>{escape(_caption(r))}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    )


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:14px}th,td{border:1px solid #ccc;padding:3px 6px}
td:nth-child(n+5){text-align:right}th{background:#f2f2f2}caption{text-align:left;padding:4px 0}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{font-weight:bold}"""

_DEFINITIONS = (
    ("Demandes concernées", "demandes qui remplissent le critère (avant la règle de rubrique)."),
    (
        "Points moyens",
        "points du critère après la règle de rubrique, en moyenne sur toutes les demandes "
        "(les plafonds de groupe sont des colonnes à part).",
    ),
    (
        "Part des points",
        "somme des points du critère divisée par la somme de tous les points positifs "
        "(critères, priorités, plafonds).",
    ),
    (
        "Corrélation des rangs sans le critère",
        "corrélation de Spearman entre le classement et le classement recalculé sans le critère "
        "(rang de priorité et départage inchangés) ; 1 : le critère ne change aucun rang.",
    ),
    (
        "Sorties du top",
        "demandes du haut du classement (100 premiers, ou 10 % des demandes si c'est moins) "
        "qui en sortent sans le critère.",
    ),
)


def _page_html(r: GridReport) -> str:
    title = f"Impact des critères — grille {r.grid_id}"
    defs = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in _DEFINITIONS)
    stamp = (
        f"Grille <b>{escape(r.grid_id)}</b>, version {escape(r.grid_version or '—')}, empreinte "
        f"<code>{escape(r.grid_hash)}</code> ; calcul au {r.date_calcul.isoformat()} ; "
        f"{escape(_fr(r.n, 0))} demandes."
    )
    return (
        f'<!DOCTYPE html>\n<html lang="fr">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>\n{_STYLE}\n</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n<p>{stamp}</p>\n"
        f"{_table_html(r)}\n<h2>Graphique</h2>\n{_chart_svg(r)}\n<h2>Définitions</h2>\n<dl>{defs}</dl>\n"
        "</body>\n</html>\n"
    )


# -- the chart ---------------------------------------------------------------------------------------
_ROW, _LABEL_W, _PANEL_W, _GAP, _TOP = 22, 330, 260, 90, 48


def _chart_svg(r: GridReport) -> str:
    """Two panels of horizontal bars, one row per criterion: share of points; 1 - rank correlation."""
    width = _LABEL_W + 2 * _PANEL_W + 2 * _GAP + 30
    height = _TOP + _ROW * max(len(r.criteria), 1) + 16
    shares = [c.share_of_points for c in r.criteria]
    moves = [1.0 - c.rank_correlation_without for c in r.criteria]
    x1 = _LABEL_W
    x2 = _LABEL_W + _PANEL_W + _GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(_caption(r))}</title>",
        f'<text x="{x1}" y="16" font-weight="bold">Part des points</text>',
        f'<text x="{x2}" y="16" font-weight="bold">'
        "Effet sur le classement (1 - corrélation des rangs)</text>",
        f'<text x="4" y="34" fill="#555">{escape(_caption(r))}</text>',
    ]
    share_scale = _Scale(min([0.0, *shares]), max([0.0, *shares]), x1, _PANEL_W)
    move_scale = _Scale(0.0, max([0.0, *moves]), x2, _PANEL_W)
    for i, c in enumerate(r.criteria):
        y = _TOP + i * _ROW
        parts.append(
            f'<text x="{_LABEL_W - 8}" y="{y + 15}" text-anchor="end">{escape(_short(c.label))}'
            f"<title>{escape(c.id)}</title></text>"
        )
        parts += share_scale.bar(c.share_of_points, y, "#3b6ea8", "#c0504d", _percent(c.share_of_points))
        parts += move_scale.bar(moves[i], y, "#d08c2c", "#d08c2c", _rho_text(c.rank_correlation_without))
    bottom = _TOP + _ROW * len(r.criteria)
    for scale in (share_scale, move_scale):
        parts.append(
            f'<line x1="{scale.zero:.1f}" y1="{_TOP - 4}" x2="{scale.zero:.1f}" y2="{bottom + 2}" '
            'stroke="#444"/>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _rho_text(rho: float) -> str:
    shown = _correlation(rho)
    return f"corr. {shown}"


def _short(label: str, limit: int = 48) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


@dataclass(frozen=True)
class _Scale:
    """A horizontal value axis from ``lo`` to ``hi`` (0 included) drawn over ``width`` pixels at ``x``."""

    lo: float
    hi: float
    x: float
    width: float

    def at(self, value: float) -> float:
        span = self.hi - self.lo
        return self.x + (self.width * (value - self.lo) / span if span > 0 else 0.0)

    @property
    def zero(self) -> float:
        return self.at(0.0)

    def bar(self, value: float, y: float, positive: str, negative: str, text: str) -> list[str]:
        a, b = sorted((self.zero, self.at(value)))
        color = positive if value >= 0 else negative
        return [
            f'<rect x="{a:.1f}" y="{y + 4}" width="{b - a:.1f}" height="{_ROW - 8}" fill="{color}"/>',
            f'<text x="{max(b, self.zero) + 4:.1f}" y="{y + 15}" fill="#333">{escape(text)}</text>',
        ]

"""Stage 6 (explain): views for people: the applicant's letter, the allocation committee's
comparison, HTML pages.

Each view is data first (a frozen dataclass built from a :class:`~cotation.explain.trace.Trace`, a
:class:`~cotation.match.pool.Ranking` and the scores), renderings second: plain French text, JSON with
a documented schema (``docs/applicant.schema.json``) and standalone HTML pages (every text escaped).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np

from ..data.calendar import months_between
from ..dates import day_number
from ..grid import ir
from .render import MINUS, cap_note, missing_text, position_text, reduction_text
from .trace import traces

__all__ = [
    "ApplicantView",
    "CommitteeView",
    "applicant_html",
    "applicant_json",
    "applicant_text",
    "applicant_view",
    "committee_view",
    "read_history",
]

REFUSAL_FIELDS = ("nb_refus_propositions", "date_dernier_refus")
HISTORY_MONTHS = 12
CSS = (
    "body{font-family:system-ui,sans-serif;max-width:56rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "table{border-collapse:collapse;margin:1rem 0}"
    "td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}"
    "td.n{text-align:right}tr.diff td{background:#fff4c2}.muted{color:#666}h1{font-size:1.5rem}"
)


# -- the applicant --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    """One criterion that gives points, as the applicant reads it."""

    label: str
    points: int
    provisional: bool
    document: str | None  # the justificatif to provide when the points are provisional
    note: str | None  # why fewer points count: the raw points and the rule that applied


@dataclass(frozen=True)
class ApplicantView:
    """What the law lets an applicant know about their demand (art. L441-2-8 CCH)."""

    numero_unique: str
    date_calcul: datetime.date
    grid_title: str
    grid_version: str | None
    grid_hash: str
    total: int
    verified_total: int
    lines: tuple[Line, ...]
    caps: tuple[tuple[str, int, str], ...]  # (group label, points removed or added, why)
    priorities: tuple[str, ...]  # labels of the priority publics the demand belongs to
    priority_level: int
    position: int | None  # None when a field of the similarity keys is missing (see similar_missing)
    similar_count: int
    similar: tuple[str, ...]
    waiting_months: float | None  # mean waiting time of similar demands housed in the last 12 months
    waiting_count: int  # how many such allocations
    refusals: tuple[str, ...]  # criteria by which refusing an adapted proposal lowers the score
    similar_missing: tuple[str, ...] = ()  # labels of the missing fields that leave no position
    has_priorities: bool = True  # whether the grid declares priority publics at all

    def _repr_html_(self) -> str:
        return applicant_html(self, standalone=False)


def applicant_view(
    grid: ir.Grid, scores: Any, batch: Any, numero_unique: str, history: Any = None
) -> ApplicantView:
    """The applicant's view of ``numero_unique``; ``history`` (see :func:`read_history`) adds the mean
    waiting time of similar demands housed during the 12 months before the computation date."""
    tr = traces(grid, scores, batch, [numero_unique])[0]
    months, count = (
        (None, 0)
        if history is None or tr.similar_missing
        else _waiting(grid, batch, history, numero_unique, scores.date_calcul)
    )
    return ApplicantView(
        tr.numero_unique,
        tr.date_calcul,
        tr.grid_title,
        tr.grid_version,
        tr.grid_hash,
        tr.total,
        tr.verified_total,
        tuple(_line(c) for c in tr.criteria if c.met and (c.points or c.points_before))
        + tuple(
            Line(f"{f.label} (public prioritaire)", f.points, False, None, None) for f in tr.flags if f.points
        ),
        tuple((cap.label, cap.points, cap_note(cap)) for cap in tr.caps if cap.points),
        tuple(f.label for f in tr.flags),
        tr.tier,
        None if tr.similar_missing else tr.position,
        tr.similar_count,
        tr.similar,
        months,
        count,
        refusal_criteria(grid),
        tr.similar_missing,
        bool(grid.priorities),
    )


def _line(c: Any) -> Line:
    return Line(
        c.label, c.points, c.provisional, c.justificatif if c.provisional else None, reduction_text(c)
    )


def refusal_criteria(grid: ir.Grid) -> tuple[str, ...]:
    """Labels of the criteria that read the refusals of proposals and can remove points."""
    from ..grid.bounds import analyzer

    b = analyzer(grid)
    variables = {v.name: v for v in grid.variables}
    out = []
    for c in grid.criteria:
        if ir.reads(c.expressions(), variables)[0] & set(REFUSAL_FIELDS) and _can_lose(b, c):
            out.append(c.label)
    return tuple(out)


def _can_lose(b: Any, c: ir.Criterion) -> bool:
    from ..grid.bounds import criterion_interval

    return criterion_interval(b, c).lo < 0


def read_history(source: Any, grid: ir.Grid) -> Any:
    """Past allocations (CSV, Parquet, DataFrame, Arrow): one row per housed demand with its
    ``date_depot``, its ``date_attribution`` and the fields of the grid's ``similar`` keys."""
    from ..data.batch import read_applications
    from ..grid.catalogue import Catalogue, Field, Kind

    needed = {n for s in grid.similar for n in ir.fields_read(s.expr)}
    fields = [grid.catalogue.id_field, grid.catalogue["date_depot"]]
    fields += [f for f in grid.catalogue if f.name in needed]
    fields.append(
        Field(
            "date_attribution",
            Kind.DATE,
            "Date d'attribution",
            "Date de l'attribution du logement.",
            required=True,
        )
    )
    return read_applications(source, Catalogue(tuple(fields)))


def _waiting(
    grid: ir.Grid, batch: Any, history: Any, numero: str, day: datetime.date
) -> tuple[float | None, int]:
    from ..scoring.reference import Env, ev

    i = int(np.flatnonzero(batch.ids == numero)[0])
    mine = Env(grid, batch.take(np.array([i])).with_catalogue(grid.catalogue), day)
    theirs = Env(grid, history, day)
    same = np.ones(len(history), dtype=bool)
    for s in grid.similar:
        a, b = ev(s.expr, mine), ev(s.expr, theirs)
        same &= (b.ok == a.ok[0]) & ((b.v == a.v[0]) | ~b.ok)
    given = history.column("date_attribution").values.astype(np.int64)
    today = day_number(day)
    recent = (given <= today) & (months_between(given, np.full(len(given), today)) < HISTORY_MONTHS)
    chosen = same & recent
    if not chosen.any():
        return None, 0
    waits = months_between(history.column("date_depot").values[chosen].astype(np.int64), given[chosen])
    return float(np.mean(waits)), int(chosen.sum())


def _pts(n: int) -> str:
    text = f"{abs(n):,}".replace(",", "\u202f")
    return f"{MINUS if n < 0 else ''}{text} point{'s' if abs(n) >= 2 else ''}"


def applicant_text(v: ApplicantView) -> str:
    """The view in plain French, for a letter or a web portal (no codes, no jargon)."""
    out = [
        f"Votre demande de logement social n° {v.numero_unique}",
        f"Situation au {v.date_calcul.strftime('%d/%m/%Y')}",
        "",
        f"Votre demande obtient {_pts(v.total)}.",
    ]
    if v.verified_total != v.total:
        out.append(
            f"Ce total est provisoire : sans les pièces qui restent à vérifier, il serait de "
            f"{_pts(v.verified_total)}."
        )
    out += [
        "",
        "Comment ce total est calculé :"
        if v.lines
        else "Aucun critère de la grille ne vous donne de points.",
    ]
    sections = (
        ("Critères retenus :", [x for x in v.lines if x.points > 0]),
        ("Minorations :", [x for x in v.lines if x.points < 0]),
        ("Critères remplis mais non comptés :", [x for x in v.lines if x.points == 0]),
    )
    for heading, lines in sections:
        if lines:
            out += ["", heading, *(_line_text(x) for x in lines)]
    if v.caps:
        out += ["", "Limites appliquées :"]
        out += [f"- Groupe « {label} » : {_signed(p)} ({why})" for label, p, why in v.caps]
    if v.has_priorities:
        out.append("")
        if v.priorities:
            out.append(
                "Votre demande est reconnue prioritaire au titre de : " + " ; ".join(v.priorities) + "."
            )
            if v.priority_level:
                out.append(
                    "À ce titre, elle est examinée avant les demandes moins prioritaires, "
                    "quel que soit leur total."
                )
        else:
            out.append("Votre demande ne relève pas d'un public prioritaire.")
    out.append("")
    if v.position is None:
        out.append(
            "Votre position parmi les demandes semblables à la vôtre ne peut pas être calculée : "
            f"{missing_text(v.similar_missing)} dans votre demande."
        )
    else:
        out.append(
            f"Parmi les demandes semblables à la vôtre ({_similar_text(v.similar)}), votre demande est "
            f"classée {position_text(v.position, v.similar_count)}."
        )
    if v.waiting_months is not None:
        out.append(
            "Au cours des 12 derniers mois, les demandes semblables qui ont obtenu un logement "
            f"avaient attendu "
            f"{_months_text(v.waiting_months)} en moyenne ({v.waiting_count} attribution"
            f"{'s' if v.waiting_count > 1 else ''})."
        )
    if v.refusals:
        out += [
            "",
            "Attention : refuser un logement adapté à votre demande peut faire baisser votre total "
            f"({' ; '.join(v.refusals)}).",
        ]
    version = f", version {v.grid_version}" if v.grid_version else ""
    out += ["", f"Grille de cotation : {v.grid_title}{version}."]
    return "\n".join(out)


def _line_text(line: Line) -> str:
    text = f"- {line.label} : {_signed(line.points)}"
    if line.note:
        text += f" ({line.note})"
    if line.provisional:
        text += f" — provisoire, pièce à fournir : {line.document or 'justificatif'}"
    return text


def _signed(n: int) -> str:
    return f"{'+' if n > 0 else ''}{_pts(n)}"


def _similar_text(labels: tuple[str, ...]) -> str:
    return ", ".join(f"même {s}" for s in labels) or "toutes les demandes"


def _months_text(m: float) -> str:
    whole = round(m)
    return f"{whole} mois"


def applicant_json(v: ApplicantView) -> dict[str, Any]:
    """The view as JSON-ready data; the schema is ``docs/applicant.schema.json``."""
    return {
        "schema": "cotation/applicant/1",
        "numero_unique": v.numero_unique,
        "date_calcul": v.date_calcul.isoformat(),
        "grid": {"title": v.grid_title, "version": v.grid_version, "hash": v.grid_hash},
        "total": v.total,
        "verified_total": v.verified_total,
        "provisional": v.total != v.verified_total,
        "criteria": [
            {
                "label": line.label,
                "points": line.points,
                "provisional": line.provisional,
                "document": line.document,
                "note": line.note,
            }
            for line in v.lines
        ],
        "caps": [{"label": label, "points": p, "note": why} for label, p, why in v.caps],
        "priority": {"publics": list(v.priorities), "level": v.priority_level},
        "position": {
            "rank": v.position,
            "count": v.similar_count,
            "similar": list(v.similar),
            "text": None if v.position is None else position_text(v.position, v.similar_count),
            "missing": list(v.similar_missing),
        },
        "waiting_time": None
        if v.waiting_months is None
        else {
            "months": round(v.waiting_months, 1),
            "allocations": v.waiting_count,
            "period_months": HISTORY_MONTHS,
        },
        "refusals_lower_score": list(v.refusals),
    }


def applicant_html(v: ApplicantView, standalone: bool = True) -> str:
    """A page (or, with ``standalone=False``, a fragment for a notebook) of the applicant's view."""
    paragraphs = applicant_text(v).split("\n\n")
    body = [f"<h1>{escape(paragraphs[0].splitlines()[0])}</h1>"]
    for block in [paragraphs[0].split("\n", 1)[1], *paragraphs[1:]]:
        lines = block.splitlines()
        items = [x[2:] for x in lines if x.startswith("- ")]
        heads = [x for x in lines if not x.startswith("- ")]
        body += [f"<p>{escape(h)}</p>" for h in heads]
        if items:
            body.append("<ul>" + "".join(f"<li>{escape(x)}</li>" for x in items) + "</ul>")
    content = "\n".join(body)
    if not standalone:
        return f'<div class="cotation-applicant">{content}</div>'
    return _page(f"Demande {v.numero_unique}", content)


def _page(title: str, content: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body>\n{content}\n</body></html>\n"
    )


# -- the allocation committee -----------------------------------------------------------------------
@dataclass(frozen=True)
class CommitteeView:
    """The candidates of one dwelling side by side, criterion by criterion."""

    dwelling_id: str
    date_calcul: datetime.date
    grid_title: str
    candidates: tuple[str, ...]  # numero_unique, best first
    rows: tuple[tuple[str, str, tuple[int, ...]], ...]  # (kind, label, value per candidate)
    separating: tuple[tuple[int, tuple[str, ...]], ...]  # (r, labels of the rows where r and r + 1 differ)
    tie_breaks: tuple[tuple[int, str], ...]  # (r, why r ranks before r + 1 when tier and total are equal)
    exclusions: tuple[
        tuple[str, int], ...
    ] = ()  # (filter label, applications it excluded), e.g. a holder's rule

    def table(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"type": [r[0] for r in self.rows], "ligne": [r[1] for r in self.rows]}
        for j, numero in enumerate(self.candidates):
            out[numero] = [r[2][j] for r in self.rows]
        return out

    def _repr_html_(self) -> str:
        return committee_html(self, standalone=False)


def committee_view(
    grid: ir.Grid, ranking: Any, scores: Any, batch: Any, dwellings: Any, dwelling_id: str
) -> CommitteeView:
    """The committee's comparison for ``dwelling_id`` of ``ranking`` (from the same ``batch`` and
    ``scores``): application criteria, priority points and caps from the scores, the match part's
    points for this dwelling, tier and totals; rows that separate consecutive candidates are listed."""
    from ..match.reference import pair_breakdown

    m = ranking.index_of(dwelling_id)
    rows_idx = [int(r) for r in ranking.rows[m] if r >= 0]
    pair = pair_breakdown(grid, batch, dwellings, m, rows_idx, scores.date_calcul)
    rows: list[tuple[str, str, tuple[int, ...]]] = [
        ("priorité", "Niveau de priorité", tuple(int(scores.tier[i]) for i in rows_idx))
    ]
    for j, col in enumerate(scores.columns):
        values = tuple(int(scores.breakdown[i, j]) for i in rows_idx)
        if any(values):
            rows.append(("demande", col.label, values))
    assert grid.match is not None
    for k, c in enumerate(grid.match.criteria):
        values = tuple(int(x) for x in pair[k])
        if any(values):
            rows.append(("logement", c.label, values))
    totals = tuple(int(t) for t in ranking.total[m][: len(rows_idx)])
    if tuple(int(scores.total[i]) + int(pair[:, r].sum()) for r, i in enumerate(rows_idx)) != totals:
        raise AssertionError("the committee view does not add up to the ranking's totals: please report this")
    rows.append(("total", "Total (demande + logement)", totals))
    separating = tuple(
        (r, tuple(lab for kind, lab, v in rows[:-1] if v[r] != v[r + 1])) for r in range(len(rows_idx) - 1)
    )
    ties = tuple(
        (r, _tie_reason(grid, batch, rows_idx[r], rows_idx[r + 1]))
        for r in range(len(rows_idx) - 1)
        if totals[r] == totals[r + 1] and scores.tier[rows_idx[r]] == scores.tier[rows_idx[r + 1]]
    )
    return CommitteeView(
        dwelling_id,
        scores.date_calcul,
        grid.meta.title,
        tuple(str(batch.ids[i]) for i in rows_idx),
        tuple(rows),
        separating,
        ties,
        tuple(
            (f.label, int(ranking.excluded[m, j]))
            for j, f in enumerate(grid.match.filters)
            if ranking.excluded[m, j] > 0
        ),
    )


def _tie_reason(grid: ir.Grid, batch: Any, a: int, b: int) -> str:
    for tb in grid.tie_break:
        if tb.field == grid.catalogue.id_field.name:
            return f"à égalité, numéro de demande le plus {'grand' if tb.descending else 'petit'}"
        col = batch.column(tb.field)
        va, vb = col.values[a], col.values[b]
        if va != vb:
            label = grid.catalogue[tb.field].label.lower()
            which = "la plus récente" if tb.descending else "la plus ancienne"
            return f"à égalité, départagés par : {label} ({which})"
    return "à égalité"


def committee_html(v: CommitteeView, standalone: bool = True) -> str:
    """The comparison as an HTML table: rows that separate two consecutive candidates highlighted."""
    separating = {lab for _, labels in v.separating for lab in labels}
    head = (
        "<tr><th>type</th><th>ligne</th>" + "".join(f"<th>{escape(c)}</th>" for c in v.candidates) + "</tr>"
    )
    body = []
    for kind, label, values in v.rows:
        cls = ' class="diff"' if label in separating else ""
        cells = "".join(f'<td class="n">{x}</td>' for x in values)
        body.append(f"<tr{cls}><td>{escape(kind)}</td><td>{escape(label)}</td>{cells}</tr>")
    notes = "".join(
        f"<li>{escape(v.candidates[r])} avant {escape(v.candidates[r + 1])} : {escape(why)}</li>"
        for r, why in v.tie_breaks
    )
    content = (
        f"<h1>Logement {escape(v.dwelling_id)} : {len(v.candidates)} candidats</h1>"
        f'<p class="muted">{escape(v.grid_title)}, calcul au {v.date_calcul.isoformat()}. Les lignes '
        "surlignées départagent deux candidats consécutifs.</p>"
        f'<table class="cotation-committee"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'
        + (f"<ul>{notes}</ul>" if notes else "")
        + _exclusions_html(v)
    )
    return _page(f"Logement {v.dwelling_id}", content) if standalone else f"<div>{content}</div>"


def _exclusions_html(v: CommitteeView) -> str:
    if not v.exclusions:
        return ""
    items = "".join(f"<li>{escape(label)} : {n} demande(s) exclue(s)</li>" for label, n in v.exclusions)
    return f"<p>Demandes écartées avant le classement, par motif :</p><ul>{items}</ul>"


def committee_text(v: CommitteeView) -> str:
    """The comparison as an aligned text table (``*`` marks rows that separate consecutive candidates)."""
    separating = {lab for _, labels in v.separating for lab in labels}
    width = max([len(label) for _, label, _ in v.rows] + [10])
    head = " " * (width + 2) + "  ".join(f"{c:>16}" for c in v.candidates)
    lines = [f"Logement {v.dwelling_id} — {len(v.candidates)} candidats", head]
    for _, label, values in v.rows:
        mark = "*" if label in separating else " "
        lines.append(f"{mark} {label:<{width}}" + "  ".join(f"{x:>16}" for x in values))
    lines += [f"{v.candidates[r]} avant {v.candidates[r + 1]} : {why}" for r, why in v.tie_breaks]
    lines += [f"écartées — {label} : {n} demande(s)" for label, n in v.exclusions]
    return "\n".join(lines)

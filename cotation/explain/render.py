"""HTML rendering of scores (for notebooks: ``Scores._repr_html_``)."""

from __future__ import annotations

from html import escape
from typing import Any

from ..scoring.scores import Scores

__all__ = ["ranking_html", "scores_html"]


def scores_html(scores: Scores, limit: int = 20) -> str:
    """A compact HTML table of the ``limit`` best applications, with a caption naming grid and date.

    Columns: rank, numero_unique, total, tier, flags, then one column per breakdown column.
    Every text is HTML-escaped.
    """
    top = scores.order()[:limit]
    head = ["rang", "numero_unique", "total", "tier", "flags", *scores.column_ids]
    titles = ["", "", "", "", "", *(c.label for c in scores.columns)]
    rows = [_row(scores, int(i)) for i in top]
    more = len(scores) - len(top)
    foot = f"<p>… {more} autres demandes</p>" if more > 0 else ""
    header = "".join(map(_th, head, titles))
    return (f'<table class="cotation-scores">{_caption(scores)}<thead><tr>{header}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>{foot}")


def _caption(scores: Scores) -> str:
    version = f" version {scores.grid_version}" if scores.grid_version else ""
    text = (f"Grille {scores.grid_id}{version} ({scores.grid_hash[:12]}), calcul au "
            f"{scores.date_calcul.isoformat()}, N = {len(scores)}")
    return f"<caption>{escape(text)}</caption>"


def _th(name: str, title: str) -> str:
    attr = f' title="{escape(title)}"' if title else ""
    return f"<th{attr}>{escape(name)}</th>"


def _row(scores: Scores, i: int) -> str:
    flags = ", ".join(f for k, f in enumerate(scores.flag_ids) if scores.flags[i, k])
    cells: list[Any] = [scores.rank[i], scores.ids[i], scores.total[i], scores.tier[i], flags,
                        *scores.breakdown[i]]
    return "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>"


def ranking_html(ranking: Any, limit: int = 20) -> str:
    """The candidates of the first ``limit`` dwellings, one row per candidate, with the filters' counts."""
    head = ["logement", "éligibles", "rang", "numero_unique", "tier", "total", "points demande", "points logement"]
    rows = []
    for m in range(min(limit, len(ranking))):
        cands = [r for r in range(ranking.k) if ranking.rows[m, r] >= 0] or [None]
        for j, r in enumerate(cands):
            lead = [ranking.dwelling_ids[m], ranking.eligible[m]] if j == 0 else ["", ""]
            cells: list[Any] = lead + (["", "aucun candidat", "", "", "", ""] if r is None else [
                r + 1, ranking.application_ids[m, r], ranking.tier[m, r], ranking.total[m, r],
                ranking.application_total[m, r], ranking.total[m, r] - ranking.application_total[m, r]])
            rows.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>")
    more = len(ranking) - min(limit, len(ranking))
    foot = f"<p>… {more} autres logements</p>" if more > 0 else ""
    mode = {"given": ", attribution dans l'ordre donné", "best": ", attribution meilleur candidat d'abord"}.get(
        ranking.assignment or "", "")
    caption = (f"Grille {ranking.grid_id} ({ranking.grid_hash[:12]}), calcul au {ranking.date_calcul.isoformat()}, "
               f"{len(ranking)} logements, {ranking.k} candidats au plus{mode}")
    header = "".join(_th(h, "") for h in head)
    return (f'<table class="cotation-ranking"><caption>{escape(caption)}</caption><thead><tr>{header}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>{foot}")

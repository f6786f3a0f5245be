"""Stage 7 (experiment): the comparison and simulation pages (French, printable, SVG charts without
JavaScript) and the one-screen text summary of a simulation (``make demo``)."""

from __future__ import annotations

import functools
import operator
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from ..version import __version__

if TYPE_CHECKING:
    from .backtest import Backtest
    from .compare import Comparison, Mover
    from .flux import FlowShare
    from .measure import Figures, Share
    from .simulate import Simulation

CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}"
    "td.n{text-align:right}.ok{color:#175e1f;font-weight:600}.ko{color:#a01818;font-weight:600}"
    ".muted{color:#666}h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}svg{max-width:100%}"
    "@media print{body{margin:0;max-width:none}h2{break-after:avoid}table,svg{break-inside:avoid}}"
)
COLOURS = ("#1f5fa8", "#d9822b")
OBJECTIVE_LABELS = {
    "publics_prioritaires": "Publics prioritaires (DALO et L441-1)",
    "premier_quartile_hors_qpv": "Premier quartile, hors QPV",
    "autres_quartiles_en_qpv": "Trois autres quartiles, en QPV",
}


def _page(title: str, body: str, standalone: bool) -> str:
    if not standalone:
        return f'<div class="cotation-experiment">{body}</div>'
    return (
        f'<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %".replace(".", ",")


def _num(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{x:.{digits}f}".replace(".", ",")


def _table(head: list[str], rows: list[list[str]], numeric_from: int = 1, text: tuple[int, ...] = ()) -> str:
    """Columns from ``numeric_from`` on are right-aligned, except those of ``text``."""
    h = "".join(f"<th>{escape(c)}</th>" for c in head)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{c}</td>' if j >= numeric_from and j not in text else f"<td>{c}</td>"
            for j, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def bars_svg(
    labels: list[str], series: list[list[float]], names: list[str], width: int = 720, height: int = 220
) -> str:
    """Grouped vertical bars (one group per label, one bar per series), with a legend; pure SVG."""
    top = max([v for s in series for v in s] + [1e-9])
    groups = max(len(labels), 1)
    gw = (width - 60) / groups
    bw = gw * 0.8 / max(len(series), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 60}" role="img">']
    parts.append(f'<line x1="50" y1="{height}" x2="{width - 10}" y2="{height}" stroke="#444"/>')
    for g, label in enumerate(labels):
        x0 = 50 + g * gw + gw * 0.1
        for s, values in enumerate(series):
            h = (height - 20) * values[g] / top
            parts.append(
                f'<rect x="{x0 + s * bw:.1f}" y="{height - h:.1f}" width="{bw:.1f}" height="{h:.1f}" '
                f'fill="{COLOURS[s % 2]}"><title>{escape(names[s])} : {escape(label)} = {values[g]:g}</title></rect>'
            )
        if groups <= 24:
            parts.append(
                f'<text x="{x0 + gw * 0.4:.1f}" y="{height + 14}" font-size="10" text-anchor="middle">{escape(label)}</text>'
            )
    parts.append(f'<text x="45" y="20" font-size="10" text-anchor="end">{top:g}</text>')
    for s, name in enumerate(names):
        parts.append(
            f'<rect x="{60 + s * 260}" y="{height + 30}" width="12" height="12" fill="{COLOURS[s % 2]}"/>'
        )
        parts.append(f'<text x="{78 + s * 260}" y="{height + 41}" font-size="12">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# -- comparison ---------------------------------------------------------------------------------------


def comparison_page(c: Comparison, standalone: bool = True) -> str:
    """The comparison of two grids as an HTML page (or a fragment for a notebook)."""
    a, b = c.a, c.b
    names = [f"A : {a.grid_id}", f"B : {b.grid_id}"]
    body = [
        f"<h1>Comparaison de deux grilles de cotation</h1><p>Grille A : <b>{escape(a.grid_title)}</b> "
        f"({escape(a.grid_id)}, version {escape(a.grid_version or '—')}, empreinte {a.grid_hash[:12]}) ; grille B : "
        f"<b>{escape(b.grid_title)}</b> ({escape(b.grid_id)}, version {escape(b.grid_version or '—')}, empreinte "
        f"{b.grid_hash[:12]}).<br>Calcul au {c.date_calcul.isoformat()} sur {c.applications} demandes "
        f"({escape(c.data)}) ; cotation {__version__}.</p>",
        "<h2>Accord des classements</h2>",
        _table(
            ["indicateur", "valeur"],
            [
                ["Corrélation de rang de Spearman", _num(c.spearman, 3)],
                ["Tau-b de Kendall", _num(c.kendall, 3)],
                [
                    f"Renouvellement des {c.top} premiers (part des premiers de A absents des premiers de B)",
                    _pct(c.top_churn),
                ],
                [
                    f"Groupes de demandes similaires (grille A) dont la première place change ({c.groups} groupes)",
                    _pct(c.group_first_changed),
                ],
            ],
        ),
        f"<h2>Qui figure parmi les {c.top} premiers</h2>",
        _table(
            ["public ou quartile", "grille A", "grille B"],
            [["Tous publics prioritaires", _pct(a.priority), _pct(b.priority)]]
            + [
                [escape(lbl), _pct(x), _pct(y)]
                for lbl, x, y in zip(c.public_labels, a.publics, b.publics, strict=True)
                if x or y
            ]
            + [
                [f"Quartile {q + 1} de ressources par UC", _pct(a.quartiles[q]), _pct(b.quartiles[q])]
                for q in range(4)
            ],
        ),
        f'<p class="muted">Seuil du premier quartile : {_num(c.threshold.amount, 0)} € par UC et par an '
        f"({escape(c.threshold.source)}).</p>",
        "<h2>Histogramme des totaux</h2>",
        bars_svg(
            [f"{c.histogram_edges[i]:.0f}" for i in range(len(c.histogram_a))],
            [c.histogram_a.astype(float).tolist(), c.histogram_b.astype(float).tolist()],
            names,
        ),
        "<h2>Points moyens par critère</h2>",
        _mean_points(c),
        "<h2>Plus fortes progressions (grille B)</h2>",
        _movers(c.winners),
        "<h2>Plus forts reculs (grille B)</h2>",
        _movers(c.losers),
    ]
    return _page("Comparaison de grilles", "\n".join(body), standalone)


def _mean_points(c: Comparison) -> str:
    ids = list(dict.fromkeys([*c.a.mean_points, *c.b.mean_points]))
    rows = []
    for cid in ids:
        x, y = c.a.mean_points.get(cid, 0.0), c.b.mean_points.get(cid, 0.0)
        rows.append(
            [
                f"{escape(c.column_labels.get(cid, cid))} <span class=muted>({escape(cid)})</span>",
                _num(x, 2),
                _num(y, 2),
                _num(y - x, 2),
            ]
        )
    return _table(["critère", "grille A", "grille B", "écart"], rows)


def _movers(movers: tuple[Mover, ...]) -> str:
    if not movers:
        return "<p>Aucune.</p>"
    rows = []
    for m in movers:
        why = "; ".join(f"{escape(lbl)} {p:+d} → {q:+d}" for _, lbl, p, q in m.criteria[:4]) or (
            "mêmes points : d'autres demandes ont changé de place"
        )
        rows.append([escape(m.numero_unique), str(m.rank_a), str(m.rank_b), f"{m.gain:+d}", why])
    return _table(
        ["demande", "rang A", "rang B", "places", "critères qui l'ont déplacée (points A → B)"], rows, 1, (4,)
    )


# -- simulation ---------------------------------------------------------------------------------------


def simulation_page(s: Simulation, standalone: bool = True, backtests: tuple[Backtest, ...] = ()) -> str:
    """The simulated period (one grid, or two side by side) as an HTML page."""
    end = s.months
    grids = "; ".join(
        f"{escape(r.replay.grid_id)} (version {escape(r.replay.grid_version or '—')}, empreinte {r.replay.grid_hash[:12]})"
        for r in s.runs
    )
    th = s.facts.threshold
    body = [
        "<h1>Simulation des attributions</h1>",
        f"<p>Grille{'s' if len(s.runs) > 1 else ''} : {grids}.<br>Période : {end} mois à partir du "
        f"{s.start.isoformat()} ; {s.applications} demandes, {s.dwellings} logements ({escape(s.data)}) ; "
        f"commission : {_policy(s)} ; cotation {__version__}.<br>Objectifs : {escape(s.objectives.territory)} "
        f"({escape(s.objectives.source)}). Seuil du premier quartile : {_num(th.amount, 0)} € par UC et par an "
        f"({escape(th.source)}).</p>",
        "<h2>Objectifs sur la période</h2>",
        _objectives_table(s),
        "<h2>Par réservataire : part des publics prioritaires</h2>",
        _holders_table(s),
        *_flows_section(s),
        "<h2>Mois par mois</h2>",
        _months_chart(s),
        _months_table(s),
        "<h2>Fondement des objectifs</h2>",
        "<ul>"
        + "".join(
            f"<li><b>{escape(o.label)}</b> (au moins {_pct(o.minimum)}) : {escape(o.legal_basis)}</li>"
            for o in s.objectives.objectives
        )
        + "</ul>",
    ]
    for bt in backtests:
        body.append(backtest_section(bt))
    return _page("Simulation des attributions", "\n".join(body), standalone)


def _policy(s: Simulation) -> str:
    p = s.policy
    if p.refusal == 0:
        return f"le premier candidat accepte ({p.k} candidats examinés par logement)"
    return f"chaque proposition refusée avec une probabilité de {_pct(p.refusal)} (graine {p.seed}, {p.k} candidats par logement)"


def _verdict(share: Share) -> str:
    if share.met is None:
        return '<span class="muted">sans objet (aucune attribution)</span>'
    gap = f"{100 * (share.gap or 0):+.1f} points".replace(".", ",")
    return (
        f'<span class="ok">atteint ({gap})</span>'
        if share.met
        else f'<span class="ko">non atteint ({gap})</span>'
    )


def _objectives_table(s: Simulation) -> str:
    head = ["objectif", "minimum"]
    for r in s.runs:
        head += [f"{r.replay.grid_id} : part", "verdict"]
    rows = []
    for key in ("publics_prioritaires", "premier_quartile_hors_qpv", "autres_quartiles_en_qpv"):
        row = [escape(OBJECTIVE_LABELS[key]), _pct(s.objectives.get(key).minimum)]
        for r in s.runs:
            sh = r.period.share(key)
            row += [f"{_pct(sh.share)} ({sh.count} / {sh.of})", _verdict(sh)]
        rows.append(row)
    extra = [
        [
            "Attributions",
            "",
            *functools.reduce(operator.iadd, [[str(r.period.allocations), ""] for r in s.runs], []),
        ]
    ]
    extra.append(
        [
            "Attente des ménages logés (moyenne, médiane ; mois)",
            "",
            *functools.reduce(
                operator.iadd,
                [[f"{_num(r.period.mean_wait)} ; {_num(r.period.median_wait)}", ""] for r in s.runs],
                [],
            ),
        ]
    )
    extra.append(
        [
            "Logements restés vacants / hors période / refus",
            "",
            *functools.reduce(
                operator.iadd,
                [
                    [f"{r.replay.unallocated} / {r.replay.outside_period} / {r.replay.refusals}", ""]
                    for r in s.runs
                ],
                [],
            ),
        ]
    )
    return _table(head, rows + extra)


def _holders_table(s: Simulation) -> str:
    holders = sorted(
        {
            sh.group
            for r in s.runs
            for sh in r.period.shares
            if sh.objective == "publics_prioritaires" and sh.group
        }
    )
    head = [
        "réservataire",
        *functools.reduce(operator.iadd, [[f"{r.replay.grid_id} : part", "verdict"] for r in s.runs], []),
    ]
    rows = []
    field = s.dwelling_batch.catalogue["reservataire"]
    for h in holders:
        row = [escape(field.label_of(h) if h in field.values else "Non renseigné")]
        for r in s.runs:
            found = [sh for sh in r.period.shares if sh.objective == "publics_prioritaires" and sh.group == h]
            row += (
                [f"{_pct(found[0].share)} ({found[0].count} / {found[0].of})", _verdict(found[0])]
                if found
                else ["—", ""]
            )
        rows.append(row)
    return _table(head, rows)


def _flows_section(s: Simulation) -> list[str]:
    """The flow share each holder reached (gestion en flux), when the grid declares holders."""
    if not any(r.flows for r in s.runs) or not any(f.target is not None for r in s.runs for f in r.flows):
        return []
    rows = []
    for r in s.runs:
        for f in r.flows:
            target = _pct(f.target) if f.target is not None else "—"
            rows.append(
                [
                    escape(r.replay.grid_id),
                    escape(f.label),
                    str(f.count),
                    _pct(f.share),
                    target,
                    flow_verdict(f),
                ]
            )
    head = ["grille", "réservataire", "attributions", "part", "part du flux", "verdict"]
    return ["<h2>Parts du flux par réservataire</h2>", _table(head, rows, numeric_from=2, text=(5,))]


def flow_verdict(f: FlowShare) -> str:
    """A holder's flow share reached or not, in words (also the annual review's)."""
    if f.met is None:
        return "sans part déclarée"
    return '<span class="ok">atteinte</span>' if f.met else '<span class="ko">non atteinte</span>'


def _months_chart(s: Simulation) -> str:
    labels = [m.strftime("%m/%y") for m in s.runs[0].replay.months]
    series = [[float(f.allocations) for f in r.per_month] for r in s.runs]
    return bars_svg(labels, series, [f"attributions : {r.replay.grid_id}" for r in s.runs])


def _months_table(s: Simulation) -> str:
    head = ["mois"]
    for r in s.runs:
        g = r.replay.grid_id
        head += [
            f"{g} : attributions",
            "publics prioritaires",
            "Q1 hors QPV",
            "Q2-Q4 en QPV",
            "attente médiane (mois)",
        ]
    rows = []
    for i, first in enumerate(s.runs[0].replay.months):
        row = [first.isoformat()]
        for r in s.runs:
            f: Figures = r.per_month[i]
            row += [str(f.allocations)]
            row += [
                _mark(f.share(k))
                for k in ("publics_prioritaires", "premier_quartile_hors_qpv", "autres_quartiles_en_qpv")
            ]
            row.append(_num(f.median_wait))
        rows.append(row)
    return _table(head, rows) + (
        '<p class="muted">Chaque mois : part des attributions du mois, ✓ au-dessus du minimum annuel, '
        "✗ en dessous (l'objectif porte sur l'année).</p>"
    )


def _mark(share: Share) -> str:
    if share.met is None:
        return "—"
    return (
        f'{_pct(share.share)} <span class="{"ok" if share.met else "ko"}">{"✓" if share.met else "✗"}</span>'
    )


def backtest_section(bt: Backtest) -> str:
    dist = bt.distribution()
    rows = [
        [
            escape(d.numero_unique),
            escape(d.logement),
            d.date.isoformat(),
            "non éligible"
            if d.status == "non_eligible"
            else (f"> {d.eligible}" if d.rank is None else str(d.rank)),
            str(d.eligible),
            escape(d.best),
        ]
        for d in bt.disagreements()
    ]
    return "\n".join(
        [
            f"<h2>Rétro-test sur les attributions réelles : grille {escape(bt.grid_id)}</h2>",
            f"<p>{len(bt)} attributions ({escape(bt.source)}) ; part des ménages logés que la grille classait "
            f"dans ses 3 premiers : <b>{_pct(bt.top3)}</b>.</p>",
            bars_svg(
                [lbl for lbl, _ in dist],
                [[float(n) for _, n in dist]],
                ["attributions par rang du ménage logé"],
            ),
            _table(
                ["rang du ménage logé selon la grille", "attributions"],
                [[escape(lbl), str(n)] for lbl, n in dist],
            ),
            "<p>Attributions dont la grille s'écarte le plus :</p>",
            _table(
                [
                    "demande logée",
                    "logement",
                    "date",
                    "rang selon la grille",
                    "éligibles",
                    "premier selon la grille",
                ],
                rows,
                3,
            ),
        ]
    )


# -- the demo's summary ------------------------------------------------------------------------------


def simulation_text(s: Simulation) -> str:
    """One screen: the period's figures against each objective, per grid."""
    lines = [
        f"simulated {s.months} months from {s.start.isoformat()}: {s.applications} applications, {s.dwellings} dwellings",
        f"first-quartile threshold: {th_text(s)}",
    ]
    for r in s.runs:
        p = r.period
        lines.append(
            f"grid {r.replay.grid_id}: {p.allocations} allocations, waiting time of housed households "
            f"mean {_num(p.mean_wait)} / median {_num(p.median_wait)} months, {r.replay.unallocated} dwellings left vacant"
        )
        for key in ("publics_prioritaires", "premier_quartile_hors_qpv", "autres_quartiles_en_qpv"):
            sh = p.share(key)
            verdict = "n/a" if sh.met is None else ("met" if sh.met else "NOT met")
            lines.append(
                f"  {key:<27} {_pct(sh.share):>8} of {sh.of:>5} (minimum {_pct(sh.minimum)}): {verdict}"
            )
        for sh in p.shares:
            if sh.objective == "publics_prioritaires" and sh.group and sh.met is False:
                lines.append(f"    holder {sh.group}: {_pct(sh.share)} of {sh.of}: NOT met")
    return "\n".join(lines)


def th_text(s: Simulation) -> str:
    th = s.facts.threshold
    return f"{th.amount:.0f} EUR per UC per year ({th.source})"


def write_result(result: Comparison | Simulation, path: str | Path) -> None:
    """A comparison or a simulation to ``path``: its page (.html) or its figures (.json)."""
    p = Path(path)
    p.write_text(result.to_json() if p.suffix.lower() == ".json" else result.to_html(), encoding="utf-8")


# -- shared with the annual review (cotation.experiment.bilan_page) --------------------------------------
page_html = _page
percent = _pct
number = _num
html_table = _table
verdict = _verdict

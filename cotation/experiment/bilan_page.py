"""Stage 7 (experiment): the annual review's renderings: the page (French, printable on A4, SVG charts,
verdicts in words), its figures as JSON and as CSV; small cells hidden in all three
(:func:`cotation.experiment.bilan.suppressed`), never an application number."""

from __future__ import annotations

import csv
import io
from html import escape
from typing import Any

from ..version import __version__
from .pages import OBJECTIVE_LABELS, bars_svg, flow_verdict, html_table, page_html, percent, verdict

Bilan = Any  # cotation.experiment.bilan.Bilan (which imports this module)
Year = Any

UNKNOWN = "Non renseigné"
SECTIONS = {
    "commune": "Par commune",
    "qpv": "En QPV ou non",
    "reservataire": "Par réservataire",
    "financement": "Par financement",
    "typologie": "Par typologie",
    "type_attribution": "Mutations et premiers accès",
}
PROFILE = {
    "composition": "Composition du ménage",
    "age": "Âge du demandeur",
    "quartile": "Quartile de ressources",
    "publics_prioritaires": "Publics prioritaires (DALO et L441-1)",
    "anciennete": "Ancienneté de la demande",
    "dalo": "Reconnu DALO",
}
AGE_BANDS = (
    (0, 25, "moins de 25 ans"),
    (25, 40, "25 à 39 ans"),
    (40, 55, "40 à 54 ans"),
    (55, 65, "55 à 64 ans"),
    (65, 200, "65 ans et plus"),
)
SENIORITY_BANDS = (
    (0, 6, "moins de 6 mois"),
    (6, 12, "6 à 11 mois"),
    (12, 24, "12 à 23 mois"),
    (24, 60, "2 à 5 ans"),
    (60, 10_000, "5 ans et plus"),
)


OBJECTIVES = ("publics_prioritaires", "premier_quartile_hors_qpv", "autres_quartiles_en_qpv")
PRINT = "@page{size:A4;margin:15mm}"


def _cell(n: int, hidden: bool, secret: int) -> str:
    return f"< {secret}" if hidden else str(n)


def _rows(b: Bilan, per_year: list[dict[str, int]], totals: list[int], order: list[str]) -> list[list[Any]]:
    """label, then count and share per year; hidden cells as "< secret" (their share too)."""
    hidden = [suppressed(c, b.secret) for c in per_year]
    rows = []
    for label in order:
        row: list[Any] = [label]
        for c, h, t in zip(per_year, hidden, totals, strict=True):
            n = c.get(label, 0)
            row += [_cell(n, label in h, b.secret), "—" if label in h or not t else percent(n / t)]
        rows.append(row)
    return rows


def _section(b: Bilan, key: str) -> list[list[Any]]:
    per_year = [y.sections[key] for y in b.years]
    labels = sorted({k for c in per_year for k in c}, key=lambda v: (v == "Non renseigné", v))
    return _rows(b, per_year, [y.allocations for y in b.years], labels)


def _profile(b: Bilan, key: str) -> list[list[Any]]:
    y = b.years[-1]
    per = [y.housed[key], b.demand[key]]
    labels = band_order(key, sorted({k for c in per for k in c}))
    return _rows(b, per, [y.allocations, b.demand_count], labels)


def _objective_rows(b: Bilan) -> list[list[str]]:
    rows = []
    for y in b.years:
        for s in y.objectives.shares:
            name = OBJECTIVE_LABELS[s.objective] + (f" — réservataire {s.group}" if s.group else "")
            hidden = 0 < s.of < b.secret
            rows.append(
                [
                    str(y.year),
                    escape(name),
                    percent(s.minimum),
                    "—" if hidden else f"{percent(s.share)} ({s.count} / {s.of})",
                    f"secret statistique (moins de {b.secret} attributions)" if hidden else verdict(s),
                ]
            )
    return rows


def _flow_rows(b: Bilan) -> list[list[str]]:
    rows = []
    for y in b.years:
        for f in y.flows:
            met = flow_verdict(f)
            hidden = 0 < f.count < b.secret
            rows.append(
                [
                    str(y.year),
                    escape(f.label),
                    _cell(f.count, hidden, b.secret),
                    "—" if hidden else percent(f.share),
                    "—" if f.target is None else percent(f.target),
                    "—" if hidden else met,
                ]
            )
    return rows


def _chart(rows: list[list[Any]], names: list[str]) -> str:
    """Shares (in %) as grouped bars; hidden cells drawn at 0 (their table says why)."""
    labels = [str(r[0]) for r in rows]
    series = [
        [
            0.0 if r[2 + 2 * s] == "—" else float(r[2 + 2 * s].replace(" %", "").replace(",", "."))
            for r in rows
        ]
        for s in range(len(names))
    ]
    return bars_svg(labels, series, names)


def bilan_page(b: Bilan) -> str:
    """The review as one HTML page."""
    y = b.years[-1]
    years = [str(x.year) for x in b.years]
    head = ["modalité", *[c for yr in years for c in (f"{yr} : nombre", f"{yr} : part")]]
    body = [
        f"<h1>Bilan annuel des attributions {y.year}</h1>",
        f"<p>Grille {escape(b.grid_id)} (version {escape(b.grid_version or '—')}, "
        f"empreinte {b.grid_hash[:12]}) ; données : {escape(b.data)} ; cotation {__version__}.<br>"
        f"Objectifs : {escape(b.objectives.territory)} ({escape(b.objectives.source)}). Seuil du premier "
        f"quartile : {b.threshold.amount:.0f} € par UC et par an ({escape(b.threshold.source)}).</p>",
        f'<p class="muted">Secret statistique : tout effectif de 1 à {b.secret - 1} est remplacé par '
        f"« &lt; {b.secret} » (et, quand une seule case d'un tableau serait masquée, la plus petite suivante "
        "aussi), pour qu'aucun ménage ne puisse être reconnu dans une petite commune ou un petit "
        "réservataire. Aucun numéro de demande n'est publié.</p>",
        "<h2>Volumes</h2>",
        html_table(["année", "attributions"], [[str(x.year), str(x.allocations)] for x in b.years]),
    ]
    for key, title in SECTIONS.items():
        rows = _section(b, key)
        body += [f"<h2>{escape(title)}</h2>", html_table(head, rows)]
        if key in ("reservataire", "financement"):
            body.append(_chart(rows, [f"part {yr} (%)" for yr in years]))
    body += [
        "<h2>Objectifs de la convention intercommunale d'attribution</h2>",
        html_table(["année", "objectif", "minimum", "atteint", "verdict"], _objective_rows(b), text=(1, 4)),
        "<h2>Parts du flux par réservataire</h2>",
        html_table(
            ["année", "réservataire", "attributions", "part", "part du flux", "verdict"],
            _flow_rows(b),
            text=(1, 5),
        ),
        _holders_list(b),
        f"<h2>Profil des ménages logés en {y.year} et de la demande</h2>",
    ]
    for key, title in PROFILE.items():
        rows = _profile(b, key)
        body += [
            f"<h3>{escape(title)}</h3>",
            html_table(
                ["modalité", "logés : nombre", "logés : part", "demande : nombre", "demande : part"], rows
            ),
            _chart(rows, ["ménages logés (%)", "demande (%)"]),
        ]
    return page_html(f"Bilan annuel des attributions {y.year}", "\n".join(body), True).replace(
        "</style>", PRINT + "</style>", 1
    )


def _holders_list(b: Bilan) -> str:
    if not b.holders:
        return ""
    items = "".join(
        f"<li><b>{escape(h.label)}</b> : {escape(h.legal_basis)}"
        + (f" ; part du flux {percent(h.flow_share)}" if h.flow_share is not None else "")
        + (f" ; règle : <code>{escape(h.when_source)}</code>" if h.when_source else "")
        + "</li>"
        for h in b.holders
    )
    return f"<p>Réservataires déclarés par la grille :</p><ul>{items}</ul>"


def _hidden_dict(counts: dict[str, int], total: int, secret: int) -> list[dict[str, Any]]:
    h = suppressed(counts, secret)
    return [
        {
            "modalite": k,
            "nombre": None if k in h else n,
            "part": None if k in h or not total else n / total,
            "secret": k in h,
        }
        for k, n in counts.items()
    ]


def _year_dict(b: Bilan, y: Year) -> dict[str, Any]:
    return {
        "annee": y.year,
        "attributions": y.allocations,
        "repartitions": {k: _hidden_dict(y.sections[k], y.allocations, b.secret) for k in SECTIONS},
        "profil_loges": {k: _hidden_dict(y.housed[k], y.allocations, b.secret) for k in PROFILE},
        "objectifs": [
            s.to_dict()
            if not 0 < s.of < b.secret
            else {**s.to_dict(), "nombre": None, "part": None, "atteint": None, "ecart": None, "secret": True}
            for s in y.objectives.shares
        ],
        "parts_flux": [
            f.to_dict()
            if not 0 < f.count < b.secret
            else {**f.to_dict(), "nombre": None, "part": None, "atteint": None, "secret": True}
            for f in y.flows
        ],
    }


def bilan_dict(b: Bilan) -> dict[str, Any]:
    """The review's published figures (small cells hidden)."""
    return {
        "grille": b.grid_id,
        "version": b.grid_version,
        "empreinte": b.grid_hash,
        "cotation": __version__,
        "donnees": b.data,
        "seuil_secret": b.secret,
        "seuil_premier_quartile": {"montant": b.threshold.amount, "source": b.threshold.source},
        "annees": [_year_dict(b, y) for y in b.years],
        "demande": {
            "demandes": b.demand_count,
            "profil": {k: _hidden_dict(b.demand[k], b.demand_count, b.secret) for k in PROFILE},
        },
    }


def bilan_csv(b: Bilan) -> str:
    """One row per published figure: annee, tableau, modalite, nombre, part, secret."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["annee", "tableau", "modalite", "nombre", "part", "secret"])
    d = bilan_dict(b)
    for y in d["annees"]:
        w.writerow([y["annee"], "volumes", "attributions", y["attributions"], 1.0, False])
        for group in ("repartitions", "profil_loges"):
            for key, cells in y[group].items():
                for c in cells:
                    w.writerow(
                        [y["annee"], f"{group}.{key}", c["modalite"], c["nombre"], c["part"], c["secret"]]
                    )
        for s in y["objectifs"]:
            w.writerow(
                [
                    y["annee"],
                    "objectifs",
                    f"{s['objectif']}:{s['groupe']}",
                    s["nombre"],
                    s["part"],
                    s.get("secret", False),
                ]
            )
        for f in y["parts_flux"]:
            w.writerow(
                [y["annee"], "parts_flux", f["reservataire"], f["nombre"], f["part"], f.get("secret", False)]
            )
    for key, cells in d["demande"]["profil"].items():
        for c in cells:
            w.writerow(["", f"demande.{key}", c["modalite"], c["nombre"], c["part"], c["secret"]])
    return out.getvalue()


def band_order(section: str, labels: list[str]) -> list[str]:
    """The labels of a profile section in their natural order (bands as declared)."""
    bands = {"age": AGE_BANDS, "anciennete": SENIORITY_BANDS}.get(section)
    if bands is None:
        return sorted(labels, key=lambda v: (v == UNKNOWN, v))
    order = [b[2] for b in bands]
    return sorted(labels, key=lambda v: order.index(v) if v in order else len(order))


def suppressed(counts: dict[str, int], secret: int) -> set[str]:
    """The labels whose count is hidden: 0 < n < secret, and the next smallest when only one is."""
    hidden = {k for k, n in counts.items() if 0 < n < secret}
    if len(hidden) == 1 and len(counts) > 1:
        rest = sorted((n, k) for k, n in counts.items() if k not in hidden and n > 0)
        if rest:
            hidden.add(rest[0][1])
    return hidden

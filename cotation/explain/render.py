"""Stage 6 (explain): a trace rendered: plain French text, JSON, and an HTML table for notebooks; the French
wording of points, values and positions that every view shares."""

from __future__ import annotations

import datetime
from html import escape
from typing import TYPE_CHECKING, Any

from ..markup import tr as tr_

if TYPE_CHECKING:
    from .trace import CapTrace, CriterionTrace, FlagTrace, Trace

MINUS = "\u2212"  # the typographic minus sign of French texts


# -- French text ---------------------------------------------------------------------------------
def render_text(tr: Trace) -> str:
    """The trace in plain French: header, criteria met (with points), caps, priority flags, total."""
    lines = [_header(tr), _grid_line(tr), ""]
    shown = [c for c in tr.criteria if c.met and (c.points or c.points_before)]
    lines.append("Critères qui donnent des points :" if shown else "Aucun critère ne donne de points.")
    lines += [_criterion_line(c) for c in shown]
    lines += [cap_line(cap) for cap in tr.caps if cap.points]
    lines += [_flag_line(f) for f in tr.flags]
    if tr.tier:
        lines.append(
            f"Niveau de priorité : {tr.tier} (classé avant les niveaux inférieurs, quel que soit le total)"
        )
    lines.append(f"Total : {_points(tr.total)}")
    if tr.similar_missing:
        lines.append(
            f"Position parmi les demandes similaires : non calculée ({missing_text(tr.similar_missing)})"
        )
    elif tr.similar_count:
        lines.append(_position_line(tr))
    return "\n".join(lines)


def _position_line(tr: Trace) -> str:
    similar = ", ".join(f"même {s}" for s in tr.similar) or "toutes les demandes"
    return (
        f"Position parmi les demandes similaires ({similar}) : {position_text(tr.position, tr.similar_count)}"
    )


def missing_text(labels: tuple[str, ...]) -> str:
    """Which fields are missing: 'le champ « Typologie souhaitée » n'est pas renseigné' (or the
    fields, plural)."""
    names = " et ".join(f"« {x} »" for x in labels)
    if len(labels) == 1:
        return f"le champ {names} n'est pas renseigné"
    return f"les champs {names} ne sont pas renseignés"


def _header(tr: Trace) -> str:
    rank = f"rang {_number(tr.rank)} sur {_number(tr.count)}"
    return f"Demande {tr.numero_unique} — {_points(tr.total)} ({rank})"


def _grid_line(tr: Trace) -> str:
    version = f", version {tr.grid_version}" if tr.grid_version else ""
    return (
        f"Grille « {tr.grid_title} » ({tr.grid_id}{version}, empreinte {tr.grid_hash[:12]}), "
        f"calcul au {tr.date_calcul.isoformat()}"
    )


def _criterion_line(c: CriterionTrace) -> str:
    text = f"  {c.label} : {_signed(c.points)}"
    note = reduction_text(c)
    if note:
        text += f" ({note})"
    shown = [f"{x.label} = {x.text}" for x in c.inputs]
    return text + (f"  [{' ; '.join(shown)}]" if shown else "")


def reduction_text(c: CriterionTrace) -> str | None:
    """Why a met criterion counts fewer points than its rule gives, with the raw points and the rule
    that applied; None when nothing was reduced. For example '+100 points calculés, ramenés à
    +20 points par le plafond du critère'."""
    if not c.rules:
        return None
    parts = [f"{_signed(c.points_rule)} {_agree(c.points_rule, 'calculé')}"]
    own = next((r for r in c.rules if r in ("max", "min")), None)
    if own:
        bound = "plafond" if own == "max" else "minimum"
        parts.append(
            f"{_agree(c.points_rule, 'ramené')} à {_signed(c.points_before)} par le {bound} du critère"
        )
    if "rubric" in c.rules:
        parts.append(
            f"non {_agree(c.points_before, 'compté')} : seul le critère le mieux noté de la rubrique "
            f"« {c.rubric} » compte"
        )
    return ", ".join(parts)


def cap_line(cap: CapTrace) -> str:
    """A group cap that changed the total, with what the group's criteria counted before it."""
    bound = "Plafond" if cap.limit == "max" else "Minimum"
    return f"{bound} du groupe « {cap.label} » : {_signed(cap.points)} ({cap_note(cap)})"


def cap_note(cap: CapTrace) -> str:
    bound = "plafond" if cap.limit == "max" else "minimum"
    after = cap.raw + cap.points
    return (
        f"les critères du groupe totalisent {_signed(cap.raw)}, {_agree(cap.raw, 'ramené')} à "
        f"{_signed(after)} par le {bound} du groupe"
    )


def _agree(n: int, participle: str) -> str:
    """A past participle agreeing with 'points' (plural from 2, as French counts)."""
    return participle + ("s" if abs(n) >= 2 else "")


def _flag_line(f: FlagTrace) -> str:
    text = f"Public prioritaire : {f.label} ({f.legal_basis})"
    return text + (f" : {_signed(f.points)}" if f.points else "")


def _points(n: int) -> str:
    word = "points" if abs(n) >= 2 else "point"
    return f"{_number(n)} {word}"


def _signed(n: int) -> str:
    return ("+" if n > 0 else "") + _points(n)


signed_points = _signed  # the French wording of signed points that the views share


def _number(n: int) -> str:
    text = f"{abs(n):,}".replace(",", " ")
    return (MINUS if n < 0 else "") + text


def value_text(value: Any, labels: dict[str, str]) -> str:
    if value is None:
        return "non renseigné"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", ",")
    if isinstance(value, list):
        return ", ".join(labels.get(str(v), str(v)) for v in value) or "aucun"
    if isinstance(value, datetime.date):
        return value.isoformat()
    return labels.get(str(value), str(value))


# -- JSON ------------------------------------------------------------------------------------------
def to_json(tr: Trace) -> dict[str, Any]:
    """The trace as JSON-ready data. Keys are stable::

        {"numero_unique": str, "total": int, "rank": int, "count": int, "tier": int,
         "grid": {"id": str, "title": str, "version": str | null, "hash": str},
         "date_calcul": "YYYY-MM-DD",
         "criteria": [{"id", "label", "when": str | null, "points_rule": str, "met": bool,
                       "points_before": int, "points": int, "removed_by": str | null,
                       "rules": ["max" | "min" | "rubric"], "rubric": str | null,
                       "inputs": [{"name", "label", "kind": "field" | "variable", "value", "text"}]}],
         "caps": [{"id": "plafond_<group>", "group", "label", "points": int, "raw": int,
                   "limit": "max" | "min" | null}],
         "flags": [{"id", "label", "legal_basis", "letter": str | null, "points": int,
                    "tier": int | null}],
         "position": {"rank": int | null, "count": int, "similar": [str], "missing": [str]}}

    ``position``: the rank among similar demands (what makes them similar: ``similar``); null when a
    field it needs is missing for the application (``missing``: their labels).

    Every criterion of the grid is listed (met or not); only raised flags are. Dates are ISO
    strings, sets lists of codes, missing values null.
    """
    return {
        "numero_unique": tr.numero_unique,
        "total": tr.total,
        "rank": tr.rank,
        "count": tr.count,
        "tier": tr.tier,
        "grid": {"id": tr.grid_id, "title": tr.grid_title, "version": tr.grid_version, "hash": tr.grid_hash},
        "date_calcul": tr.date_calcul.isoformat(),
        "criteria": [_criterion_json(c) for c in tr.criteria],
        "caps": [
            {
                "id": c.id,
                "group": c.group,
                "label": c.label,
                "points": c.points,
                "raw": c.raw,
                "limit": c.limit,
            }
            for c in tr.caps
        ],
        "flags": [
            {
                "id": f.id,
                "label": f.label,
                "legal_basis": f.legal_basis,
                "letter": f.letter,
                "points": f.points,
                "tier": f.tier,
            }
            for f in tr.flags
        ],
        "position": {
            "rank": None if tr.similar_missing else tr.position,
            "count": tr.similar_count,
            "similar": list(tr.similar),
            "missing": list(tr.similar_missing),
        },
    }


def _criterion_json(c: CriterionTrace) -> dict[str, Any]:
    return {
        "id": c.id,
        "label": c.label,
        "when": c.when_source,
        "points_rule": c.points_source,
        "met": c.met,
        "points_before": c.points_before,
        "points": c.points,
        "removed_by": c.removed_by,
        "rules": list(c.rules),
        "rubric": c.rubric,
        "inputs": [
            {"name": x.name, "label": x.label, "kind": x.kind, "value": _json_value(x.value), "text": x.text}
            for x in c.inputs
        ],
    }


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    return value


def ordinal(n: int) -> str:
    """French ordinal: 1re, 2e, 152e."""
    return "1re" if n == 1 else f"{n}e"


def position_text(position: int, count: int) -> str:
    """'152e sur 1 340' (narrow no-break spaces between thousands, as in French typography)."""
    return f"{ordinal(position)} sur {count:,}".replace(",", "\u202f")


# -- a trace in a notebook --------------------------------------------------------------------------
def trace_html(tr: Trace) -> str:
    """A compact table of a trace: every criterion met, its points before and after the rules."""
    rows = []
    for c in tr.criteria:
        if not c.met:
            continue
        cells = [
            c.label,
            c.points_rule,
            c.points_before,
            c.points,
            c.removed_by or "",
            "provisoire" if c.provisional else "",
        ]
        rows.append(tr_(cells))
    head = "".join(
        f"<th>{h}</th>"
        for h in ("critère", "règle", "après plafond", "compté", "règle appliquée", "justificatif")
    )
    flags = ", ".join(f.label for f in tr.flags) or "aucune"
    caption = (
        f"Demande {tr.numero_unique} : {tr.total} points, rang {tr.rank} sur {tr.count}, niveau de "
        f"priorité {tr.tier}, priorités : {flags}"
    )
    return (
        f'<table class="cotation-trace"><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )

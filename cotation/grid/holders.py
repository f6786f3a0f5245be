"""Stage 1 (grid): check the ``reservataires:`` section (gestion en flux) into holders and their filters.

Each holder names a value of ``logement.reservataire``, its legal or contractual basis, its share of
the yearly flow and, optionally, the rule of the applications it may propose. The rule may read the
application's fields and variables, and also the grid's **priority flags** (by their id, true when
the priority is raised) and ``tier`` (the application's priority tier, 0 without one): these names
are replaced by the priorities' own conditions, so that the rule is an ordinary expression.

A holder's rule becomes one more match filter, ``reservataire_<id>``, appended after the grid's own
filters: ``coalesce(logement.reservataire != "<id>", true) or (<rule>)``. Both pair engines evaluate
it like any filter, so they agree by construction, and the applications it excludes are counted
under that filter (the committee view states the reason).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import did_you_mean
from . import ir
from . import model as m
from .catalogue import dwelling_catalogue
from .ir import BOOL, INT
from .parser import parse

TIER_NAME = "tier"
STATE = "prefet"
STATE_MAX_SHARE = 0.35  # R441-5 CCH: at most 30 % for priority publics, plus at most 5 % for public agents


def check_holders(
    gc: Any, items: list[Any], priorities: list[ir.Priority]
) -> tuple[list[ir.Holder], list[ir.Filter]]:
    """The holders of ``items`` (the merged ``reservataires:`` entries) and one filter per rule."""
    if items and not gc.merged.has_match:
        gc.errors.error(
            "E361",
            items[0].span(),
            "'reservataires' needs a match part: a holder's rule applies when ranking its dwellings "
            "(add a 'match:' section; it may be empty: match: {filters: []})",
        )
        return [], []
    values = dwelling_catalogue()["reservataire"].values
    holders: list[ir.Holder] = []
    filters: list[ir.Filter] = []
    spans = []
    seen: set[str] = set()
    for item in items:
        h: m.Reservataire = item.value
        if not _known(gc, item, h, values, seen):
            continue
        seen.add(h.id)
        rule = _rule(gc, item, h, priorities) if h.when is not None else None
        filter_id = f"reservataire_{h.id}" if rule is not None else None
        if rule is not None:
            filters.append(
                ir.Filter(
                    f"reservataire_{h.id}",
                    f"Règle du réservataire : {h.label}",
                    h.description,
                    ir.Logic("or", _guard(gc, h.id), rule, span=rule.span),
                    gc.source_text(item, "when"),
                    item.span(),
                )
            )
        source = None if h.when is None else gc.source_text(item, "when")
        holders.append(
            ir.Holder(
                h.id, h.label, h.legal_basis, h.description, source, h.flow_share, filter_id, item.span()
            )
        )
        spans.append(item.span("flow_share") if h.flow_share is not None else item.span())
    _check_shares(gc, holders, spans)
    return holders, filters


def _known(gc: Any, item: Any, h: m.Reservataire, values: tuple[str, ...], seen: set[str]) -> bool:
    if h.id not in values:
        gc.errors.error(
            "E360",
            item.span("id"),
            f"reservation holder '{h.id}' is not a value of logement.reservataire ({', '.join(values)})",
            criterion=h.id,
            suggestion=did_you_mean(h.id, list(values)),
        )
        return False
    if h.id in seen:
        gc.errors.error(
            "E362", item.span("id"), f"reservation holder '{h.id}' is declared twice", criterion=h.id
        )
        return False
    return True


def _check_shares(gc: Any, holders: list[ir.Holder], spans: list[Any]) -> None:
    total = sum(h.flow_share or 0.0 for h in holders)
    if total > 1 + 1e-9:
        gc.errors.error(
            "E363",
            spans[-1],
            f"the holders' flow shares add up to {100 * total:.0f} %, more than the whole flow (100 %): "
            "the landlord keeps the rest without a flow_share; lower the others",
        )
    for h, span in zip(holders, spans, strict=True):
        if h.id == STATE and (h.flow_share or 0.0) > STATE_MAX_SHARE + 1e-9:
            gc.errors.error(
                "E364",
                span,
                f"the State's flow share ({100 * (h.flow_share or 0):.0f} %) exceeds 35 % "
                "(R441-5 CCH: at most 30 % for priority publics plus at most 5 % for public agents)",
                criterion=h.id,
            )


def _guard(gc: Any, holder: str) -> ir.IExpr:
    """``coalesce(logement.reservataire != "<holder>", true)``: true on the other holders' dwellings."""
    types = gc.types
    before = types.pair_allowed
    types.pair_allowed = True
    out = types.check(parse(f'coalesce(logement.reservataire != "{holder}", true)'))
    types.pair_allowed = before
    assert out is not None
    return out  # type: ignore[no-any-return]


def _rule(gc: Any, item: Any, h: m.Reservataire, priorities: list[ir.Priority]) -> ir.IExpr | None:
    """The holder's rule, type-checked with the priority flags and ``tier`` in scope, then expanded."""
    types = gc.types
    names = _flag_names(gc, priorities)
    added = [n for n in names if n not in types.variables]
    for n in added:
        types.variables[n] = ir.VarRef(n, INT if n == TIER_NAME else BOOL, False)
    types.criterion = h.id
    try:
        typed = gc.typed(item, "when")
    finally:
        for n in added:
            del types.variables[n]
        types.criterion = None
    if typed is None:
        return None
    if typed.type != BOOL:
        gc.errors.error(
            "E207", item.span("when"), f"the condition must be boolean, not {typed.type}", criterion=h.id
        )
        return None
    expanded: ir.IExpr = substitute(typed, {n: names[n] for n in added})
    return expanded


def _flag_names(gc: Any, priorities: list[ir.Priority]) -> dict[str, ir.IExpr]:
    """Priority id -> its raised flag (never missing), and ``tier`` -> the highest raised tier;
    a name the catalogue or a variable already uses keeps its meaning there."""
    taken = set(gc.catalogue.names) | set(gc.types.variables)
    out: dict[str, ir.IExpr] = {p.id: _flag(p) for p in priorities if p.id not in taken}
    if TIER_NAME not in taken:
        tier: ir.IExpr = ir.Const(0, INT)
        for p in sorted((p for p in priorities if p.tier), key=lambda p: p.tier or 0):
            tier = ir.Cond(_flag(p), ir.Const(p.tier or 0, INT), tier, INT, False)
        out[TIER_NAME] = tier
    return out


def _flag(p: ir.Priority) -> ir.IExpr:
    """A priority's flag as the scores raise it: its condition true (missing: not raised)."""
    return ir.Call("coalesce", (p.when, ir.Const(False, BOOL)), BOOL, False)


def substitute(node: Any, table: dict[str, ir.IExpr]) -> Any:
    """``node`` with every ``VarRef`` named in ``table`` replaced by its expression."""
    if isinstance(node, ir.VarRef) and node.name in table:
        return table[node.name]
    if isinstance(node, tuple):
        return tuple(substitute(x, table) for x in node)
    if not dataclasses.is_dataclass(node) or isinstance(node, type) or not hasattr(node, "span"):
        return node
    changes = {
        f.name: substitute(getattr(node, f.name), table)
        for f in dataclasses.fields(node)
        if f.name not in ("span", "type")
    }
    return dataclasses.replace(node, **changes)

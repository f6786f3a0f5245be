"""Properties that hold for every expression and every valid grid, checked with Hypothesis.

(a) printing then parsing any expression tree gives the tree back; (b) on random valid grids and
random batches of applications, the reference evaluator keeps its invariants: the total is the sum
of the breakdown, scores do not depend on the order of the rows, a rubric counts one criterion, a
group's cap keeps its sum within bounds, the tier is the highest tier of the raised flags, and the
rank orders by tier, then total.
"""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cotation.api import parse_grid, score
from cotation.data.batch import Batch
from cotation.grid.catalogue import default_catalogue
from cotation.grid.ir import Grid
from cotation.grid.parser import KEYWORDS, parse
from cotation.grid.printer import show
from cotation.grid.syntax import (
    Binary,
    Bool,
    Call,
    Compare,
    Conditional,
    Expr,
    Name,
    Number,
    SetLit,
    String,
    Unary,
)
from cotation.scoring.scores import Scores

DAY = datetime.date(2026, 1, 1)
EXAMPLES = settings(max_examples=60, deadline=None)

# -- (a) expression trees ------------------------------------------------------------------------
identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,7}", fullmatch=True).filter(lambda s: s not in KEYWORDS)
numbers = st.one_of(
    st.integers(min_value=0, max_value=10**12),
    st.floats(min_value=0.0, allow_nan=False, allow_infinity=False),
)
texts = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\n\r"), max_size=8).filter(
    lambda s: not ('"' in s and "'" in s)
)

leaves: st.SearchStrategy[Expr] = st.one_of(
    st.builds(Number, numbers),
    st.builds(String, texts),
    st.builds(Bool, st.booleans()),
    st.builds(Name, st.lists(identifiers, min_size=1, max_size=3).map(".".join)),
)


def _compound(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    ops = st.sampled_from(["<", "<=", ">", ">=", "==", "!=", "in", "not in"])
    return st.one_of(
        st.builds(Unary, st.sampled_from(["-", "not"]), children),
        st.builds(Binary, st.sampled_from(["+", "-", "*", "/", "//", "%", "and", "or"]), children, children),
        st.integers(1, 3).flatmap(
            lambda n: st.builds(
                Compare,
                children,
                st.lists(ops, min_size=n, max_size=n).map(tuple),
                st.lists(children, min_size=n, max_size=n).map(tuple),
            )
        ),
        st.builds(Conditional, children, children, children),
        st.builds(Call, identifiers, st.lists(children, max_size=3).map(tuple)),
        st.builds(SetLit, st.lists(children, max_size=3).map(tuple), st.sampled_from(["{}", "[]"])),
    )


expressions = st.recursive(leaves, _compound, max_leaves=12)


@EXAMPLES
@given(expressions)
def test_show_then_parse_gives_the_tree_back(tree: Expr) -> None:
    text = show(tree)
    assert parse(text) == tree, text
    assert show(parse(text)) == text


@settings(max_examples=200, deadline=None)
@given(expressions)
def test_show_is_a_fixed_point_cheaply(tree: Expr) -> None:
    assert show(parse(show(tree))) == show(tree)


# -- (b) grids -----------------------------------------------------------------------------------
CAT = default_catalogue()
BOOLS = ["dalo", "pdalhpd", "parent_isole", "handicap_menage", "violences_couple", "sortie_ase"]
INTS = ["nb_enfants", "nb_personnes", "nb_refus_propositions"]
CATEGORIES = {name: CAT[name].values for name in ("situation_logement", "situation_familiale")}
SETS = {name: CAT[name].values for name in ("motifs", "typologies_acceptees")}
VALUES = [
    "months_between(date_depot, date_calcul)",
    "nb_personnes",
    "ressources_mensuelles / 100",
    "coalesce(loyer_actuel, 0)",
    "nb_enfants",
    "anciennete",
    "age(date_naissance_demandeur)",
]
POINT_EXPRS = [
    "3 * coalesce(nb_enfants, 0)",
    "nb_personnes - 1",
    "round(ressources_mensuelles / 1000)",
    "10 if dalo else 2",
    "min(coalesce(nb_enfants, 0), 4)",
    "-5 * clip(coalesce(nb_refus_propositions, 0), 0, 3)",
    "anciennete // 12",
]


def _quoted(values: tuple[str, ...], n: int) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(values), min_size=1, max_size=n, unique=True).map(
        lambda vs: ", ".join(f'"{v}"' for v in vs)
    )


atoms = st.one_of(
    st.sampled_from(BOOLS),
    st.builds(
        "{} {} {}".format,
        st.sampled_from(INTS),
        st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
        st.integers(0, 6),
    ),
    st.sampled_from(sorted(CATEGORIES)).flatmap(
        lambda f: st.one_of(
            st.sampled_from(CATEGORIES[f]).map(lambda v: f'{f} == "{v}"'),
            st.builds(
                lambda op, vs: f"{f} {op} {{{vs}}}",
                st.sampled_from(["in", "not in"]),
                _quoted(CATEGORIES[f], 3),
            ),
        )
    ),
    st.sampled_from(sorted(SETS)).flatmap(
        lambda f: st.builds(
            lambda v, op: f'"{v}" {op} {f}', st.sampled_from(SETS[f]), st.sampled_from(["in", "not in"])
        )
    ),
    st.integers(0, 240).map(lambda k: f"months_between(date_depot, date_calcul) >= {k}"),
    st.sampled_from(
        [
            'date_decision_dalo >= date("2024-01-01")',
            "age(date_naissance_demandeur) < 30",
            "present(nb_enfants)",
            "anciennete > 24",
        ]
    ),
)
conditions = st.recursive(
    atoms,
    lambda c: st.one_of(
        c.map(lambda x: f"not ({x})"),
        st.builds(lambda a, op, b: f"({a}) {op} ({b})", c, st.sampled_from(["and", "or"]), c),
    ),
    max_leaves=4,
)


@st.composite
def bands(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 3))
    edges = sorted(draw(st.lists(st.integers(-5, 500), min_size=2 * n, max_size=2 * n, unique=True)))
    points = draw(st.lists(st.integers(-10, 30), min_size=n, max_size=n))
    out: list[dict[str, Any]] = [
        {"from": edges[2 * i], "to": edges[2 * i + 1], "points": points[i]} for i in range(n)
    ]
    if draw(st.booleans()):
        del out[0]["from"]
    if draw(st.booleans()):
        del out[-1]["to"]
    return out


@st.composite
def rules(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["fixed", "expression", "per_unit", "bands"]))
    if kind == "fixed":
        return {"points": draw(st.integers(-20, 60))}
    if kind == "expression":
        return {"points": draw(st.sampled_from(POINT_EXPRS))}
    rule: dict[str, Any] = {"value": draw(st.sampled_from(VALUES))}
    if kind == "bands":
        return {**rule, "bands": draw(bands())}
    rule["per_unit"] = draw(st.integers(-3, 5))
    unit = draw(st.sampled_from([None, 1, 2, 12, 0.5, 250]))
    return rule if unit is None else {**rule, "unit": unit}


@st.composite
def criteria(draw: st.DrawFn, i: int) -> dict[str, Any]:
    c: dict[str, Any] = {"id": f"c{i}", "label": f"Critère {i}"}
    if draw(st.booleans()):
        c["when"] = draw(conditions)
    c.update(draw(rules()))
    lo, hi = draw(st.sampled_from([None, -10, 0, 5])), draw(st.sampled_from([None, 5, 20, 100]))
    if lo is not None:
        c["min"] = lo
    if hi is not None and (lo is None or lo <= hi):
        c["max"] = hi
    rubric, group = draw(st.sampled_from([None, "r0", "r1"])), draw(st.sampled_from([None, "g0", "g1"]))
    if rubric:
        c["rubric"] = rubric
    if group:
        c["group"] = group
    if draw(st.integers(0, 5)) == 0:
        c["valid_for"] = {"since": "date_dernier_refus", "months": draw(st.integers(1, 24))}
    return c


@st.composite
def priorities(draw: st.DrawFn, i: int) -> dict[str, Any]:
    p: dict[str, Any] = {
        "id": f"p{i}",
        "label": f"Priorité {i}",
        "legal_basis": "L441-1 CCH",
        "when": draw(conditions),
    }
    if draw(st.booleans()):
        p["points"] = draw(st.integers(0, 50))
    if draw(st.booleans()):
        p["tier"] = draw(st.integers(1, 5))
    return p


@st.composite
def grid_texts(draw: st.DrawFn) -> str:
    crits = [draw(criteria(i)) for i in range(draw(st.integers(1, 7)))]
    doc: dict[str, Any] = {
        "id": "propriete",
        "title": "Grille aléatoire",
        "variables": {"anciennete": "months_between(date_depot, date_calcul)"},
        "criteria": crits,
    }

    def used(key: str) -> list[str]:
        return sorted({c[key] for c in crits if key in c})

    if used("rubric"):
        doc["rubrics"] = [{"id": r, "label": r.upper()} for r in used("rubric")]
    if used("group"):
        lows, highs = st.sampled_from([None, -15, 0]), st.sampled_from([None, 10, 40])
        bounds = [(draw(lows), draw(highs)) for _ in used("group")]
        doc["groups"] = [_group(g, lo, hi) for g, (lo, hi) in zip(used("group"), bounds, strict=True)]
    doc["priorities"] = [draw(priorities(i)) for i in range(draw(st.integers(0, 3)))]
    return str(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


def _group(ident: str, lo: int | None, hi: int | None) -> dict[str, Any]:
    g: dict[str, Any] = {"id": ident, "label": ident.upper()}
    return g | ({"min": lo} if lo is not None else {}) | ({"max": hi} if hi is not None else {})


# -- (b) applications ----------------------------------------------------------------------------
def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def dates(lo: int = 1990) -> st.SearchStrategy[datetime.date]:
    return st.dates(datetime.date(lo, 1, 1), DAY)


ROW = {
    "date_depot": dates(),
    "nb_personnes": st.one_of(st.integers(1, 8), st.just(30)),  # 30: the catalogue maximum
    "nb_adultes": st.integers(1, 3),
    "date_naissance_demandeur": dates(1900),
    "ressources_mensuelles": st.one_of(st.just(0.0), st.floats(0, 1e5), st.just(1e7)),
    "situation_logement": st.sampled_from(CATEGORIES["situation_logement"]),
    "nb_enfants": maybe(st.one_of(st.integers(0, 6), st.just(30))),
    "nb_refus_propositions": maybe(st.integers(0, 4)),
    "loyer_actuel": maybe(st.one_of(st.floats(0, 5000), st.just(1e6))),
    "situation_familiale": maybe(st.sampled_from(CATEGORIES["situation_familiale"])),
    "motifs": maybe(st.lists(st.sampled_from(SETS["motifs"]), max_size=4, unique=True)),
    "typologies_acceptees": maybe(
        st.lists(st.sampled_from(SETS["typologies_acceptees"]), max_size=3, unique=True)
    ),
    "date_decision_dalo": maybe(dates(2015)),
    "date_dernier_refus": maybe(dates(2020)),
    **{name: maybe(st.booleans()) for name in BOOLS},
}


MIN_ROWS = 0


@st.composite
def batches(draw: st.DrawFn, grid: Grid) -> Batch:
    ids = draw(
        st.lists(st.from_regex(r"[0-9A-Z]{1,6}", fullmatch=True), min_size=MIN_ROWS, max_size=10, unique=True)
    )
    rows = []
    for ident in ids:
        row = {"numero_unique": ident, **{k: draw(v) for k, v in ROW.items()}}
        rows.append({k: v for k, v in row.items() if v is not None or draw(st.booleans())})  # absent or None
    return Batch.from_rows(rows, grid.catalogue, date_calcul=DAY)


def check_invariants(grid: Grid, s: Scores) -> None:
    assert (s.total == s.breakdown.sum(axis=1)).all()
    ids = s.column_ids
    k = len(grid.criteria)
    assert not (s.breakdown[:, :k] != 0)[~s.met].any(), "points for a criterion that is not met"
    for rubric in grid.rubrics:
        assert ((s.breakdown[:, list(rubric.members)] != 0).sum(axis=1) <= 1).all(), rubric.id
    for group in grid.groups:
        cap = s.breakdown[:, ids.index(f"plafond_{group.id}")]
        capped = s.breakdown[:, list(group.members)].sum(axis=1) + cap
        assert group.min is None or (capped >= group.min).all(), group.id
        assert group.max is None or (capped <= group.max).all(), group.id
    tiers = np.array([p.tier or 0 for p in grid.priorities], dtype=np.int64)
    want = (s.flags * tiers).max(axis=1, initial=0) if len(s) else np.zeros(0, np.int64)
    assert (s.tier == want).all()
    assert sorted(s.rank.tolist()) == list(range(1, len(s) + 1))
    keys = [(-int(s.tier[i]), -int(s.total[i])) for i in s.order()]
    assert keys == sorted(keys), "rank must order by tier, then total"


@EXAMPLES
@given(st.data())
def test_random_grids_keep_their_invariants(data: st.DataObject) -> None:
    grid = parse_grid(data.draw(grid_texts(), label="grid"), "propriete.yaml")
    batch = data.draw(batches(grid), label="batch")
    check_invariants(grid, score(grid, batch, DAY))


@EXAMPLES
@given(st.data())
def test_scores_do_not_depend_on_row_order(data: st.DataObject) -> None:
    grid = parse_grid(data.draw(grid_texts(), label="grid"), "propriete.yaml")
    batch = data.draw(batches(grid), label="batch")
    perm = np.array(data.draw(st.permutations(range(len(batch))), label="perm"), dtype=np.int64)
    first, second = score(grid, batch, DAY), score(grid, batch.take(perm), DAY)
    assert (second.ids == first.ids[perm]).all()
    for name in ("total", "breakdown", "flags", "tier", "rank", "met"):
        assert (getattr(second, name) == getattr(first, name)[perm]).all(), name

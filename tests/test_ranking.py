"""Ranking applications for dwellings: the compiled pair engine against the NumPy reference, the
predefined variables (household category, consumption units, income ceilings...), filters' counts,
batch assignment and positioning among similar demands."""

from __future__ import annotations

import datetime
import functools
import itertools
from typing import Any
from unittest import mock

import numba
import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import cotation
import cotation.data.batch
import cotation.match.compiled
import cotation.match.pool
import cotation.match.reference
import cotation.scoring.reference
from cotation.api import load_grid, parse_grid, rank
from cotation.data.batch import Batch, read_dwellings
from cotation.data.generate import generate_applications, generate_dwellings
from cotation.errors import DataError, GridError
from cotation.explain.render import position_text
from cotation.match.compiled import compile_pairs
from cotation.match.ranking import Ranking
from cotation.scoring.order import scores_rank

DAY = datetime.date(2026, 1, 1)
COMMUNES = ("31555", "31069", "31044", "31149")

# -- fixtures ----------------------------------------------------------------------------------------
BASE = """
id: essai-rang
title: Essai de classement
criteria:
  - {id: dalo, label: DALO, when: dalo, points: 50}
  - {id: anciennete, label: Ancienneté, value: "months_between(date_depot, date_calcul)", per_unit: 1,
     max: 60}
priorities:
  - {id: p_dalo, label: DALO, legal_basis: L441-2-3 CCH, when: dalo, tier: 1}
"""


def with_match(match: dict[str, Any], base: str = BASE) -> str:
    return base + yaml.safe_dump({"match": match}, allow_unicode=True, sort_keys=False)


FULL_MATCH = {
    "filters": [
        {"id": "commune", "label": "Commune souhaitée", "when": "logement.commune in communes_souhaitees"},
        {"id": "plafond", "label": "Plafond", "when": "sous_plafond"},
        {"id": "taille", "label": "Taille", "when": "adequation_logement >= 0"},
    ],
    "criteria": [
        {"id": "premier", "label": "Premier souhait", "when": "rang_commune == 1", "points": 30},
        {
            "id": "effort",
            "label": "Effort",
            "value": "taux_effort_logement",
            "bands": [{"to": 0.3, "points": 10}, {"from": 0.4, "points": -20}],
        },
        {
            "id": "rav",
            "label": "Reste à vivre",
            "value": "reste_a_vivre_uc_logement",
            "per_unit": 1,
            "unit": 100,
            "min": -10,
            "max": 10,
        },
        {
            "id": "acces",
            "label": "Accessible",
            "when": "besoin_accessibilite and coalesce(logement.accessible, false)",
            "points": 40,
        },
        {
            "id": "qpv",
            "label": "QPV",
            "when": "coalesce(logement.qpv, false) and nb_personnes >= 3",
            "points": -5,
        },
        {"id": "cat", "label": "Catégorie", "points": "categorie_menage + personnes_supplementaires"},
    ],
}
NO_INDEX_MATCH = {
    "filters": [
        {"id": "typo", "label": "Typologie acceptée", "when": "logement.typologie == typologie_souhaitee"},
        {"id": "commune", "label": "Commune souhaitée", "when": "logement.commune in communes_souhaitees"},
    ],
    "criteria": [
        {"id": "rang", "label": "Rang du souhait", "value": "coalesce(rang_commune, 9)", "per_unit": -2},
        {"id": "travail", "label": "Travail", "when": "commune_travail == logement.commune", "points": 15},
        {
            "id": "age",
            "label": "Âge et étage",
            "when": "age(date_naissance_demandeur) >= 60 and "
            "coalesce(logement.etage, 0) >= 3 and not coalesce(logement.ascenseur, false)",
            "points": -30,
        },
    ],
}


@functools.cache
def _full_grid() -> Any:
    return parse_grid(with_match(FULL_MATCH), "essai-rang.yaml")


@pytest.fixture(scope="module")
def full_grid() -> Any:
    return _full_grid()


@pytest.fixture(scope="module")
def scan_grid() -> Any:
    return parse_grid(with_match(NO_INDEX_MATCH), "essai-rang-sans-index.yaml")


def same(a: Ranking, b: Ranking) -> None:
    for name in ("rows", "application_ids", "tier", "total", "application_total", "eligible", "excluded"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert (a.already_proposed is None) == (b.already_proposed is None)
    if a.already_proposed is not None:
        assert np.array_equal(a.already_proposed, b.already_proposed)
        assert np.array_equal(a.dwelling_order, b.dwelling_order)


def both(grid: Any, apps: Any, dws: Any, k: int, **kw: Any) -> Ranking:
    ref = rank(grid, apps, dws, k, date_calcul=DAY, engine="reference", **kw)
    out = rank(grid, apps, dws, k, date_calcul=DAY, **kw)
    same(ref, out)
    return out


# -- the shipped example grid ----------------------------------------------------------------------
def test_example_grid_ranks_generated_data() -> None:
    grid = load_grid("grids/exemple-metropole.yaml")
    assert grid.match is not None and grid.match.index is not None
    apps, dws = generate_applications(3000, seed=4), generate_dwellings(40, seed=5)
    out = both(grid, apps, dws, 3)
    n = len(apps)
    assert (out.eligible + out.excluded.sum(axis=1) == n).all()
    assert (out.rows >= 0).sum() > 60  # most dwellings have candidates
    both(grid, apps, dws, 3, assignment="best")


def test_candidates_are_ordered_and_eligible(full_grid: Any) -> None:
    apps, dws = generate_applications(2000, seed=1), generate_dwellings(25, seed=2)
    out = both(full_grid, apps, dws, 5)
    for m in range(len(dws)):
        got = [
            (int(t), int(s)) for t, s, r in zip(out.tier[m], out.total[m], out.rows[m], strict=True) if r >= 0
        ]
        assert got == sorted(got, key=lambda x: (-x[0], -x[1]))
        assert len(got) == min(5, int(out.eligible[m]))
    assert (out.pair_points[out.rows < 0] == 0).all()


def test_without_index(scan_grid: Any) -> None:
    assert scan_grid.match.index is None
    apps, dws = generate_applications(1500, seed=3), generate_dwellings(30, seed=4)
    out = both(scan_grid, apps, dws, 4)
    assert (out.eligible + out.excluded.sum(axis=1) == len(apps)).all()


def test_ties_follow_the_declared_tie_breaks(full_grid: Any) -> None:
    """Identical applications but their filing date and id: the older, then the smaller id, first."""
    row = {
        "nb_personnes": 1,
        "nb_adultes": 1,
        "date_naissance_demandeur": "1980-05-05",
        "ressources_mensuelles": 1500,
        "revenu_fiscal_reference": 15000,
        "situation_logement": "locataire_prive",
        "communes_souhaitees": "31555",
    }
    dates = ["2022-03-01", "2022-03-01", "2022-01-01", "2022-03-01"]
    ids = ["B", "A", "Z", "C"]
    apps = Batch.from_rows(
        [{**row, "numero_unique": i, "date_depot": d} for i, d in zip(ids, dates, strict=True)]
    )
    dws = generate_dwellings(1, seed=0).to_arrow().to_pylist()
    dws[0].update(commune="31555", pieces=1, typologie="T1", financement="PLUS", accessible=False, qpv=False)
    dw = Batch.from_rows(dws, cotation.dwelling_catalogue())
    out = both(full_grid, apps, dw, 4)
    anciennete = {i: 0 for i in ids}
    assert len(set(out.total[0])) == 2 and anciennete  # Z is older: more seniority points
    assert list(out.application_ids[0]) == ["Z", "A", "B", "C"]


def test_ages_on_their_edges_in_the_pair_part() -> None:
    """A pair criterion on the applicant's age (computed once per application, from the calendar
    table, by app_values): the 60th birthday on the computation day counts, the day after it does
    not; a birth on 29 February completes its years on 28 February (art. 641 CPC); the dates cover a
    wide span of the calendar. Compiled and reference engines agree, and with the points expected."""
    grid = parse_grid(
        with_match(
            {
                "criteria": [
                    {
                        "id": "senior",
                        "label": "60 ans",
                        "when": "age(date_naissance_demandeur) >= 60",
                        "points": 10,
                    },
                    {
                        "id": "couple_mur",
                        "label": "Codemandeur de 20 ans",
                        "when": "coalesce(months_between(date_naissance_codemandeur, date_calcul) >= 240, "
                        "false)",
                        "points": 1,
                    },
                ]
            }
        ),
        "ages.yaml",
    )
    births = {  # birth -> 60 years old on DAY (2026-01-01)
        "1966-01-01": True,
        "1966-01-02": False,
        "1965-12-31": True,
        "1904-02-29": True,
        "2025-12-31": False,
        "1966-02-28": False,
    }
    partners = {"1966-01-01": "2006-01-01", "1966-01-02": "2006-01-02", "1965-12-31": None}
    rows = [
        {
            "numero_unique": f"N{j}",
            "date_depot": "2024-01-01",
            "nb_personnes": 1,
            "nb_adultes": 1,
            "date_naissance_demandeur": birth,
            "date_naissance_codemandeur": partners.get(birth),
            "ressources_mensuelles": 1500,
            "situation_logement": "locataire_prive",
        }
        for j, birth in enumerate(births)
    ]
    apps = Batch.from_rows(rows, grid.catalogue, date_calcul=DAY)
    dws = Batch.from_rows(generate_dwellings(1, seed=0).to_arrow().to_pylist(), cotation.dwelling_catalogue())
    out = both(grid, apps, dws, len(rows))
    got = {
        str(i): int(p)
        for i, p, r in zip(out.application_ids[0], out.pair_points[0], out.rows[0], strict=True)
        if r >= 0
    }
    expected = {f"N{j}": 10 * senior for j, senior in enumerate(births.values())}
    expected["N0"] += 1  # a partner born 20 years before the day, to the day
    assert got == expected
    # born on 29 February 1840: 60 years on 28 February 1900, which has no 29th (1900 is not leap)
    old = {**rows[0], "date_naissance_demandeur": "1840-02-29", "date_depot": "1899-06-01"}
    old["date_naissance_codemandeur"] = None
    for engine in ("compiled", "reference"):
        points = []
        for day in (datetime.date(1900, 2, 27), datetime.date(1900, 2, 28)):
            feb = Batch.from_rows([old], grid.catalogue, date_calcul=day)
            points.append(int(rank(grid, feb, dws, 1, date_calcul=day, engine=engine).pair_points[0, 0]))
        assert points == [0, 10], engine


def test_row_order_and_threads_do_not_matter(full_grid: Any) -> None:
    apps, dws = generate_applications(2500, seed=8), generate_dwellings(30, seed=9)
    first = rank(full_grid, apps, dws, 4, date_calcul=DAY)
    perm = np.random.default_rng(0).permutation(len(apps))
    shuffled = rank(full_grid, apps.take(perm), dws, 4, date_calcul=DAY)
    assert np.array_equal(first.application_ids, shuffled.application_ids)
    assert np.array_equal(perm[shuffled.rows[shuffled.rows >= 0]], first.rows[first.rows >= 0])
    saved = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = rank(full_grid, apps, dws, 4, date_calcul=DAY)
    finally:
        numba.set_num_threads(saved)
    same(first, serial)


def test_assignment_proposes_each_application_once(full_grid: Any) -> None:
    apps, dws = generate_applications(1200, seed=11), generate_dwellings(60, seed=12)
    free = rank(full_grid, apps, dws, 3, date_calcul=DAY)
    for order in ("given", "best"):
        out = both(full_grid, apps, dws, 3, assignment=order)
        chosen = out.rows[out.rows >= 0]
        assert len(chosen) == len(set(chosen.tolist()))
        first = int(out.dwelling_order[0])
        assert np.array_equal(out.rows[first], free.rows[first])  # the first to choose is unconstrained
        assert (out.already_proposed <= out.eligible).all()
    best = rank(full_grid, apps, dws, 3, date_calcul=DAY, assignment="best")
    lead = [
        (int(free.tier[m, 0]), int(free.total[m, 0])) for m in best.dwelling_order if free.rows[m, 0] >= 0
    ]
    assert lead == sorted(lead, key=lambda x: (-x[0], -x[1]))


def test_k_zero_and_empty_inputs(full_grid: Any) -> None:
    apps, dws = generate_applications(50, seed=1), generate_dwellings(5, seed=1)
    out = both(full_grid, apps, dws, 0)
    assert out.rows.shape == (5, 0)
    empty = both(full_grid, apps.take(np.arange(0)), dws, 3)
    assert (empty.rows == -1).all() and (empty.eligible == 0).all()
    none = both(full_grid, apps, dws.take(np.arange(0)), 3)
    assert none.rows.shape == (0, 3)


def test_ranking_tables(full_grid: Any) -> None:
    apps, dws = generate_applications(800, seed=2), generate_dwellings(6, seed=3)
    out = rank(full_grid, apps, dws, 3, date_calcul=DAY)
    frame = out.to_pandas()
    assert list(frame.columns) == [
        "logement",
        "rang",
        "numero_unique",
        "tier",
        "total",
        "points_demande",
        "points_logement",
    ]
    assert len(frame) == int((out.rows >= 0).sum())
    counts = out.counts()
    assert list(counts) == ["logement", "eligibles", "exclus_commune", "exclus_plafond", "exclus_taille"]
    assert "<table" in out._repr_html_()
    assert out.to_arrow().schema.metadata[b"grid_id"] == b"essai-rang"


# -- Hypothesis: random match parts and random data ---------------------------------------------------
PAIR_CONDITIONS = (
    "logement.commune in communes_souhaitees",
    "logement.commune not in communes_souhaitees",
    "rang_commune <= 2",
    "sous_plafond",
    "not sous_plafond",
    "adequation_logement == 0",
    "adequation_logement >= 0",
    "coalesce(logement.accessible, false)",
    "logement.loyer < 500",
    "taux_effort_logement < 0.35",
    "reste_a_vivre_uc_logement > 300",
    "logement.typologie == typologie_souhaitee",
    'logement.financement == "PLS"',
    "commune_travail == logement.commune",
    "coalesce(logement.qpv, true)",
    "logement.pieces > nb_personnes",
    "present(logement.charges)",
    "categorie_menage >= 3",
)
PAIR_POINTS = (
    "10",
    "-15",
    "rang_commune",
    "coalesce(rang_commune, 0) * 3",
    "logement.pieces - nb_personnes",
    "round(taux_effort_logement * 10)",
    "categorie_menage",
    "adequation_logement * 7",
)


@st.composite
def match_parts(draw: st.DrawFn) -> dict[str, Any]:
    conds = st.sampled_from(PAIR_CONDITIONS)
    n_filters = draw(st.integers(0, 3))
    filters = [{"id": f"f{j}", "label": f"Filtre {j}", "when": draw(conds)} for j in range(n_filters)]
    if draw(st.booleans()):
        filters.insert(0, {"id": "fc", "label": "Commune", "when": "logement.commune in communes_souhaitees"})
    criteria = []
    for j in range(draw(st.integers(0, 4))):
        c: dict[str, Any] = {"id": f"k{j}", "label": f"Critère {j}"}
        if draw(st.booleans()):
            c["when"] = draw(conds)
        c["points"] = draw(st.sampled_from(PAIR_POINTS))
        if draw(st.booleans()):
            c["min"], c["max"] = -20, 20
        criteria.append(c)
    return {"filters": filters, "criteria": criteria}


def maybe(s: Any) -> Any:
    return st.one_of(st.none(), s)


APP_ROW = {
    "date_depot": st.sampled_from(["2020-01-01", "2021-06-15", "2023-02-01"]),
    "nb_personnes": st.integers(1, 8),
    "nb_adultes": st.integers(1, 2),
    "date_naissance_demandeur": st.sampled_from(["1950-01-01", "1990-07-14", "2000-02-29"]),
    "date_naissance_codemandeur": maybe(st.sampled_from(["1995-01-01", "1960-01-01"])),
    "situation_familiale": maybe(st.sampled_from(["marie", "celibataire", "pacse"])),
    "handicap_menage": maybe(st.booleans()),
    "besoin_logement_adapte": maybe(st.booleans()),
    "nb_enfants_moins_14": maybe(st.integers(0, 3)),
    "ressources_mensuelles": st.sampled_from([0.0, 800.0, 1500.5, 3200.0]),
    "revenu_fiscal_reference": maybe(st.sampled_from([9000.0, 23403.0, 23404.0, 45000.0])),
    "situation_logement": st.just("locataire_prive"),
    "dalo": maybe(st.booleans()),
    "communes_souhaitees": st.lists(st.sampled_from(COMMUNES), max_size=3).map(";".join),
    "typologie_souhaitee": maybe(st.sampled_from(["T1", "T2", "T3"])),
    "commune_travail": maybe(st.sampled_from(COMMUNES)),
}
DWELLING_ROW = {
    "commune": st.sampled_from(COMMUNES),
    "zone": st.sampled_from(["autres", "ile_de_france"]),
    "typologie": st.sampled_from(["T1", "T2", "T3"]),
    "pieces": st.integers(1, 5),
    "loyer": st.sampled_from([0.0, 350.0, 520.25]),
    "charges": maybe(st.sampled_from([0.0, 80.0])),
    "financement": st.sampled_from(["PLUS", "PLS"]),
    "qpv": maybe(st.booleans()),
    "accessible": maybe(st.booleans()),
    "etage": maybe(st.integers(0, 6)),
    "ascenseur": maybe(st.booleans()),
}


@st.composite
def pair_data(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    n, m = draw(st.integers(0, 12)), draw(st.integers(0, 5))
    apps = [{"numero_unique": f"D{i:02d}", **{k: draw(v) for k, v in APP_ROW.items()}} for i in range(n)]
    dws = [{"identifiant": f"L{j}", **{k: draw(v) for k, v in DWELLING_ROW.items()}} for j in range(m)]
    return apps, dws


def _batches(apps: list[dict[str, Any]], dws: list[dict[str, Any]], grid: Any) -> tuple[Batch, Batch]:
    return (
        Batch.from_rows(apps, grid.catalogue, date_calcul=DAY),
        Batch.from_rows(dws, cotation.dwelling_catalogue()),
    )


# the compiled engine reads the application columns in place (cand[t]) or copied in the candidates'
# order (cand None): MAJOR_FROM 0 always copies, 10**9 never does on a first call
LAYOUTS = st.sampled_from([0, 10**9])


@settings(max_examples=40, deadline=None)
@given(
    data=pair_data(),
    k=st.integers(0, 4),
    assignment=st.sampled_from([None, "given", "best"]),
    major_from=LAYOUTS,
)
def test_fixed_grid_random_data(data: Any, k: int, assignment: str | None, major_from: int) -> None:
    apps, dws = _batches(*data, _full_grid())
    with mock.patch.object(cotation.match.compiled, "MAJOR_FROM", major_from):
        both(_full_grid(), apps, dws, k, assignment=assignment)


@settings(max_examples=12, deadline=None)
@given(
    match=match_parts(),
    data=pair_data(),
    k=st.integers(1, 4),
    assignment=st.sampled_from([None, "best"]),
    major_from=LAYOUTS,
)
def test_random_match_parts(
    match: dict[str, Any], data: Any, k: int, assignment: str | None, major_from: int
) -> None:
    grid = parse_grid(with_match(match), "aleatoire.yaml")
    apps, dws = _batches(*data, grid)
    with mock.patch.object(cotation.match.compiled, "MAJOR_FROM", major_from):
        out = both(grid, apps, dws, k, assignment=assignment)
    assert (out.eligible + out.excluded.sum(axis=1) == len(apps)).all()


# -- predefined variables --------------------------------------------------------------------------------
PRELUDE_PROBE = (
    BASE
    + """
match:
  criteria:
    - {id: cat, label: c, points: categorie_menage}
    - {id: sup, label: s, points: personnes_supplementaires}
    - {id: uc10, label: u, points: "round(unites_consommation * 10)"}
    - {id: plafond, label: p, points: plafond_logement}
    - {id: ade, label: a, points: adequation_logement}
    - {id: rang, label: r, points: "coalesce(rang_commune, 0)"}
    - {id: jeune, label: j, points: "1 if jeune_menage else 0"}
    - {id: effort1000, label: e, points: "round(taux_effort_logement * 1000)"}
    - {id: rav, label: r, points: "round(reste_a_vivre_uc_logement)"}
"""
)
HOUSEHOLD = {
    "numero_unique": "X",
    "date_depot": "2024-01-01",
    "nb_adultes": 1,
    "nb_personnes": 1,
    "date_naissance_demandeur": "1980-01-01",
    "ressources_mensuelles": 1000,
    "situation_logement": "locataire_prive",
    "communes_souhaitees": "31069;31555",
}
DWELLING = {
    "identifiant": "L1",
    "commune": "31555",
    "zone": "autres",
    "typologie": "T2",
    "pieces": 2,
    "loyer": 400,
    "financement": "PLUS",
}


def probe(grid_text: str = PRELUDE_PROBE, **household: Any) -> dict[str, int]:
    grid = parse_grid(grid_text, "sonde.yaml")
    dwelling = {**DWELLING, **household.pop("logement", {})}
    apps = Batch.from_rows([{**HOUSEHOLD, **household}], grid.catalogue, date_calcul=DAY)
    dws = Batch.from_rows([dwelling], cotation.dwelling_catalogue())
    prep = cotation.match.pool.prepare_pool(grid, apps, DAY, engine="reference").prepare(dws)
    pairs = cotation.match.reference.ReferencePairs(prep)
    env = cotation.scoring.reference.PairEnv(grid, prep.batch, DAY, dws, 0)
    env.vars = dict(pairs.app_vars)
    for var in grid.match.variables:
        env.vars[var.name] = cotation.scoring.reference.ev(var.expr, env)
    return {c.id: int(cotation.scoring.reference.criterion_points(c, env)[0][0]) for c in grid.match.criteria}


@pytest.mark.parametrize(
    ("household", "category"),
    [
        ({}, 1),
        ({"handicap_menage": True}, 2),
        ({"nb_adultes": 2, "nb_personnes": 2}, 2),
        (
            {
                "nb_adultes": 2,
                "nb_personnes": 2,
                "situation_familiale": "marie",
                "date_naissance_demandeur": "2000-01-01",
                "date_naissance_codemandeur": "2001-01-01",
            },
            3,
        ),  # jeune ménage
        (
            {
                "nb_adultes": 2,
                "nb_personnes": 2,
                "situation_familiale": "marie",
                "date_naissance_demandeur": "1990-01-01",
                "date_naissance_codemandeur": "1990-01-01",
            },
            2,
        ),  # 36 + 36 > 55
        ({"nb_personnes": 2}, 3),  # one person with one dependant
        ({"nb_adultes": 2, "nb_personnes": 3}, 3),
        ({"nb_personnes": 3}, 4),  # one person with two dependants
        ({"nb_adultes": 2, "nb_personnes": 3, "handicap_menage": True}, 4),
        ({"nb_adultes": 2, "nb_personnes": 6}, 6),
    ],
)
def test_household_category(household: dict[str, Any], category: int) -> None:
    assert probe(**household)["cat"] == category


def test_ceiling_of_large_households_adds_per_person() -> None:
    got = probe(nb_adultes=2, nb_personnes=8)
    assert got["cat"] == 6 and got["sup"] == 2
    assert got["plafond"] == 60156 + 2 * 6710  # PLUS 2026, other regions (domain.md section 4)
    assert probe()["plafond"] == 23403
    pls = probe(logement={"financement": "PLS", "zone": "ile_de_france"}, nb_adultes=2, nb_personnes=3)
    assert pls["plafond"] == round(48362 * 1.3)


def test_consumption_units_rank_and_adequacy() -> None:
    got = probe(nb_adultes=2, nb_personnes=4, nb_enfants_moins_14=2)
    assert got["uc10"] == 21  # 1 + 0.5 + 2 x 0.3
    assert got["ade"] == -1  # 4 persons need 3 rooms in the default table
    assert probe()["rang"] == 2 and probe(communes_souhaitees="31000")["rang"] == 0
    assert probe(logement={"pieces": 3})["ade"] == 1  # 1 person: at most 2 rooms


def test_effort_rate_and_remaining_income() -> None:
    got = probe(ressources_mensuelles=1600, logement={"loyer": 400, "charges": 80})
    assert got["effort1000"] == 300 and got["rav"] == 1120  # (400 + 80) / 1600; (1600 - 480) / 1 UC
    assert probe(logement={"loyer": 400})["effort1000"] == 400  # charges absent count as 0
    family = probe(
        nb_adultes=2,
        nb_personnes=3,
        nb_enfants_moins_14=1,
        ressources_mensuelles=2700,
        logement={"loyer": 500, "charges": 100},
    )
    assert family["rav"] == round(2100 / 1.8)


def test_grid_overrides_the_typology_table() -> None:
    text = PRELUDE_PROBE + "  typology: {1: [2, 2], 2: [2, 3]}\n"
    assert probe(text)["ade"] == 0 and probe(text, logement={"pieces": 1})["ade"] == -1
    assert probe(text, nb_adultes=2, nb_personnes=5, logement={"pieces": 4})["ade"] == 1  # last row applies
    with pytest.raises(GridError, match="E311"):
        parse_grid(PRELUDE_PROBE + "  typology: {1: [2, 1]}\n")
    with pytest.raises(GridError, match="E311"):
        parse_grid(PRELUDE_PROBE + "  typology: {2: [1, 3]}\n")


def test_missing_ceiling_is_a_data_error(full_grid: Any) -> None:
    apps = generate_applications(20, seed=1)
    dws = generate_dwellings(4, seed=1, financings={"PLUS": 0.5, "PLAI": 0.5})
    with pytest.raises(DataError) as info:
        rank(full_grid, apps, dws, 3, date_calcul=DAY)
    text = str(info.value)
    assert "D112" in text and "PLAI" in text and "2026" in text
    with pytest.raises(DataError, match="D112"):
        rank(
            full_grid,
            generate_applications(5, seed=1, date_calcul=datetime.date(2031, 1, 1)),
            generate_dwellings(2, seed=1),
            2,
            date_calcul=datetime.date(2031, 1, 1),
        )


# -- grid and data errors -----------------------------------------------------------------------------
def test_dwelling_fields_only_in_the_match_part() -> None:
    with pytest.raises(GridError, match="only the match part"):
        parse_grid(
            BASE.replace(
                "criteria:\n",
                "criteria:\n  - {id: x, label: X, when: 'coalesce(logement.qpv, false)', points: 1}\n",
            )
        )
    with pytest.raises(GridError, match="depends on the dwelling"):
        parse_grid(
            BASE.replace("criteria:\n", "criteria:\n  - {id: x, label: X, when: sous_plafond, points: 1}\n")
        )
    with pytest.raises(GridError, match="unknown field of the dwelling"):
        parse_grid(
            with_match({"filters": [{"id": "f", "label": "F", "when": "logement.comune == commune_travail"}]})
        )


def test_read_dwellings_reports_problems(tmp_path: Any) -> None:
    path = tmp_path / "logements.csv"
    path.write_text(
        "identifiant,commune,zone,typologie,pieces,loyer,financement\n"
        "L1,31555,autres,T2,2,400,PLUS\nL2,3155,autres,T9,0,-3,PLUS\nL1,31555,autres,T2,2,400,XX\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError) as info:
        read_dwellings(path)
    codes = {p.code for p in info.value.problems}
    assert {"D102", "D103", "D104", "D106"} <= codes
    good = generate_dwellings(10, seed=3)
    out = tmp_path / "ok.parquet"
    cotation.write_applications(good, out)
    again = read_dwellings(out)
    assert list(again.ids) == list(good.ids)
    assert np.array_equal(again.column("loyer").values, good.column("loyer").values)


def test_grid_without_match_cannot_rank() -> None:
    grid = parse_grid(BASE)
    with pytest.raises(ValueError, match="no match part"):
        rank(grid, generate_applications(3), generate_dwellings(1), 1, date_calcul=DAY)


def test_pair_source_is_readable(full_grid: Any, tmp_path: Any) -> None:
    pairs = compile_pairs(full_grid, tmp_path)
    text = pairs.source.text
    assert "def rank_dwellings(" in text and "ex_0 = n - (hi - lo)" in text
    assert "# filter [1] plafond: sous_plafond" in text
    assert compile_pairs(full_grid, tmp_path).source.text == text


# -- positioning -------------------------------------------------------------------------------------------
def test_position_among_similar_demands() -> None:
    grid = load_grid("grids/exemple-metropole.yaml")
    apps = generate_applications(3000, seed=6)
    for engine in ("reference", "compiled"):
        s = cotation.score(grid, apps, DAY, engine=engine)
        typ = apps.column("typologie_souhaitee")
        first = apps.column("communes_souhaitees").values[:, 0]
        typ_key = np.where(typ.valid if typ.valid is not None else True, typ.values, -1)
        for i in (0, 17, 512, 2999):
            same_group = (typ_key == typ_key[i]) & (first == first[i])
            assert s.position_count[i] == same_group.sum()
            assert s.position[i] == (s.rank[same_group] <= s.rank[i]).sum()
    assert s.similar == ("typologie souhaitée", "première commune souhaitée")


def test_position_text() -> None:
    assert position_text(152, 1340) == "152e sur 1\u202f340"
    assert position_text(1, 1) == "1re sur 1"


def test_similar_keys_are_declared_by_the_grid() -> None:
    grid = parse_grid(BASE + "similar: [nb_personnes]\n")
    apps = generate_applications(500, seed=2)
    s = cotation.score(grid, apps, DAY, engine="reference")
    sizes = apps.column("nb_personnes").values
    assert (s.position_count == np.bincount(sizes)[sizes]).all()
    with pytest.raises(GridError, match="list of communes"):
        parse_grid(BASE + "similar: [communes_souhaitees]\n")


@pytest.mark.parametrize("major_from", [0, 10**9])
def test_candidate_major_layout_or_not(
    full_grid: Any, monkeypatch: pytest.MonkeyPatch, major_from: int
) -> None:
    """The application columns copied in the index's order (many dwellings per commune) or read in
    place (few): the same candidates."""
    monkeypatch.setattr(cotation.match.compiled, "MAJOR_FROM", major_from)
    apps, dws = generate_applications(1500, seed=21), generate_dwellings(80, seed=22)
    both(full_grid, apps, dws, 4)
    both(full_grid, apps, dws, 2, assignment="best")


def test_a_pool_ranks_several_dwelling_batches(full_grid: Any) -> None:
    """Applications prepared once, ranked against two batches of dwellings: as two rank() calls."""
    apps = generate_applications(1500, seed=31)
    pool = cotation.prepare_pool(full_grid, apps, DAY)
    for seed in (1, 2):
        dws = generate_dwellings(40, seed=seed)
        same(pool.rank(dws, 3), rank(full_grid, apps, dws, 3, date_calcul=DAY))
        same(
            pool.rank(dws, 2, assignment="given"),
            rank(full_grid, apps, dws, 2, date_calcul=DAY, engine="reference", assignment="given"),
        )
    assert "applications=1500" in repr(pool)
    with pytest.raises(ValueError, match="assignment"):
        pool.rank(generate_dwellings(2), 3, assignment="random")


@settings(max_examples=30, deadline=None)
@given(
    data=pair_data(),
    order=st.sampled_from(
        [
            "ressources_mensuelles desc",
            "revenu_fiscal_reference asc",
            "date_naissance_codemandeur desc",
            "nb_personnes asc",
        ]
    ),
)
def test_tie_order_is_the_ranking_order_of_equal_scores(data: Any, order: str) -> None:
    """The pair engines' tie-break order (one Arrow sort) equals the order of Scores.rank (NumPy
    lexsort) among applications with equal tier and total, missing values last."""
    from cotation.scoring.order import rank_of, tie_order

    grid = parse_grid(BASE + f"tie_break: [{order}, date_depot asc]\n", "ordre.yaml")
    apps = Batch.from_rows(data[0], grid.catalogue, date_calcul=DAY)
    zeros = np.zeros(len(apps), np.int64)
    assert tie_order(grid, apps).tolist() == np.argsort(rank_of(grid, apps, zeros, zeros)).tolist()


@settings(max_examples=60, deadline=None)
@given(
    data=pair_data(),
    order=st.sampled_from(
        [
            "date_depot asc, numero_unique asc",
            "numero_unique desc",
            "nb_personnes desc, date_naissance_codemandeur asc",
            "date_naissance_codemandeur desc, numero_unique asc",
            "nb_enfants_moins_14 desc, nb_personnes asc",
            "ressources_mensuelles desc, numero_unique asc",
        ]
    ),
    spread=st.integers(0, 3),
    seed=st.integers(0, 2**31),
)
def test_scores_rank_composite_keys_equal_the_lexsort(data: Any, order: str, spread: int, seed: int) -> None:
    """Scores.rank packs tier, total and integer tie-breaks into int64 words (rank_of); the order is
    the one stable lexsort over every key and its missing flag gives, ties and missing values included."""
    from cotation.scoring.order import lexsort_order, rank_of

    grid = parse_grid(BASE + f"tie_break: [{order}]\n", "ordre.yaml")
    rng = np.random.default_rng(seed)
    rows = [dict(row) for row in data[0]]
    ids = rng.permutation([row["numero_unique"] for row in rows]).tolist()  # ids not in row order
    for row, number in zip(rows, ids, strict=True):
        row["numero_unique"] = number
    apps = Batch.from_rows(rows, grid.catalogue, date_calcul=DAY)
    total = rng.integers(-spread, spread + 1, len(apps)) * 7  # few distinct totals: many ties
    tier = rng.integers(0, 2, len(apps)).astype(np.int8)
    expected = np.empty(len(apps), np.int64)
    expected[lexsort_order(grid, apps, total, tier)] = np.arange(1, len(apps) + 1)
    assert rank_of(grid, apps, total, tier).tolist() == expected.tolist()
    assert scores_rank(grid, apps, total, tier, packed_from=0).tolist() == expected.tolist()  # compiled
    assert grid.tie_break[-1].field == "numero_unique"


def test_scores_rank_composite_keys_on_a_large_batch() -> None:
    """Thousands of rows equal on tier, total and the declared tie-breaks (missing values among
    them): the id, which the checker always appends, decides, as in the lexsort definition."""
    from cotation.scoring.order import lexsort_order, rank_of

    grid = parse_grid(BASE + "tie_break: [nb_personnes desc, date_naissance_codemandeur asc]\n", "ordre.yaml")
    apps = generate_applications(6000, seed=5).with_catalogue(grid.catalogue)
    total = (np.arange(len(apps)) % 3).astype(np.int64)
    tier = np.zeros(len(apps), np.int8)
    expected = np.empty(len(apps), np.int64)
    expected[lexsort_order(grid, apps, total, tier)] = np.arange(1, len(apps) + 1)
    assert rank_of(grid, apps, total, tier).tolist() == expected.tolist()
    assert scores_rank(grid, apps, total, tier, packed_from=0).tolist() == expected.tolist()
    assert grid.tie_break[-1].field == "numero_unique"


def test_radix_order_is_a_stable_sort() -> None:
    """The radix sort under the packed keys, over key widths of one to four passes."""
    from cotation.codegen.helpers import radix_order

    rng = np.random.default_rng(3)
    for bits in (1, 12, 16, 17, 33, 62):
        key = rng.integers(0, 2**bits, 5000, dtype=np.int64) // rng.integers(1, 50, 5000)  # ties
        order = np.empty(len(key), np.int64)
        ordered = radix_order(key, np.int64(bits), order)
        assert order.tolist() == np.argsort(key, kind="stable").tolist()
        assert ordered.tolist() == np.sort(key).tolist()


def test_commune_index_is_the_same_with_any_number_of_threads() -> None:
    """The inverted index (CSR by commune, rows in tie-break order, first wish position), built in
    1, 2 or 3 slices, equals its definition computed row by row in Python."""
    from cotation.match.compiled import commune_index

    rng = np.random.default_rng(4)
    n, width, size = 3000, 4, 40
    lists = rng.integers(-1, size + 3, (n, width)).astype(np.int32)  # -1: empty; >= size: out of range
    lists[:, 1] = np.where(rng.random(n) < 0.3, lists[:, 0], lists[:, 1])  # repeats within a row
    perm = rng.permutation(n).astype(np.int32)
    expected: dict[int, list[tuple[int, int, int]]] = {c: [] for c in range(size)}
    for q, i in enumerate(perm):
        seen: set[int] = set()
        for j, c in enumerate(lists[i]):
            if 0 <= c < size and c not in seen:
                expected[int(c)].append((int(i), q, j))
            seen.add(int(c))
    for threads in (1, 2, 3):
        ptr, rows, ranks, pos = commune_index(lists.reshape(-1), width, perm, size, threads)
        got = {
            c: list(
                zip(
                    rows[ptr[c] : ptr[c + 1]].tolist(),
                    ranks[ptr[c] : ptr[c + 1]].tolist(),
                    pos[ptr[c] : ptr[c + 1]].tolist(),
                    strict=True,
                )
            )
            for c in range(size)
        }
        assert got == expected


# ids that share long prefixes (the packed sort compares the first 16 UTF-8 bytes as integers, then
# the rest), differ in length, or hold multi-byte characters
ID_TEXT = st.lists(
    st.sampled_from(["0", "1", "9", "A", "a", "é", "€", "😀", "031202300000000"]), min_size=1, max_size=4
).map("".join)
TIE_ORDERS = [
    "date_depot asc, numero_unique asc",
    "date_depot desc, numero_unique desc",
    "numero_unique desc",
    "nb_personnes desc, date_naissance_codemandeur asc, numero_unique asc",
    "date_naissance_codemandeur desc",
    "ressources_mensuelles desc, numero_unique asc",
]


@settings(max_examples=80, deadline=None)
@given(
    data=pair_data(),
    ids=st.lists(ID_TEXT, min_size=12, max_size=12, unique=True),
    order=st.sampled_from(TIE_ORDERS),
)
def test_packed_tie_order_equals_the_arrow_sort(data: Any, ids: list[str], order: str) -> None:
    """The tie-break order from the packed integer key and the Numba id sort equals one Arrow
    multi-key sort (missing last, ids in code-point order), whatever the ids."""
    from cotation.scoring.order import arrow_tie_order, packed_tie_order

    grid = parse_grid(BASE + f"tie_break: [{order}]\n", "ordre.yaml")
    rows = [{**row, "numero_unique": ids[i]} for i, row in enumerate(data[0])]
    apps = Batch.from_rows(rows, grid.catalogue, date_calcul=DAY)
    expected = arrow_tie_order(grid, apps)
    packed = packed_tie_order(grid, apps, packed_from=0)
    assert packed is None or packed.tolist() == expected.tolist()
    assert (packed is None) == ("ressources_mensuelles" in order)  # a float key: the Arrow sort
    if order == "numero_unique desc":  # and both are Python's string order
        assert [str(apps.ids[r]) for r in expected] == sorted(ids[: len(rows)], reverse=True)


def test_packed_tie_order_on_long_runs() -> None:
    """Runs of equal filing dates longer than the insertion-sort blocks (merged), ids longer than
    16 bytes that differ only after them, and every direction: equal to the Arrow sort."""
    from cotation.scoring.order import arrow_tie_order, packed_tie_order

    rng = np.random.default_rng(5)
    n = 3000
    apps = generate_applications(n, seed=9)
    tails = rng.permutation(n)
    long, short = "0312023000000000", "03120230"
    apps.ids = np.array(
        [
            f"{long}{t // 5}"
            if t % 5 == 0  # prefixes of one another past 16 bytes
            else f"{long if t % 3 else short}{t:05d}{'é' if t % 7 == 0 else ''}"
            for t in tails
        ],
        dtype=object,
    )
    days = rng.choice(np.array([18000, 18001, 18002], np.int32), n)
    apps.columns["date_depot"] = cotation.data.batch.Column(days, rng.random(n) < 0.9)
    for order in (
        "date_depot asc, numero_unique asc",
        "date_depot desc, numero_unique desc",
        "numero_unique asc",
        "numero_unique desc",
    ):
        grid = parse_grid(BASE + f"tie_break: [{order}]\n", "ordre.yaml")
        packed = packed_tie_order(grid, apps, packed_from=0)
        assert packed is not None
        assert packed.tolist() == arrow_tie_order(grid, apps).tolist(), order


@pytest.mark.parametrize("k", [1, 4, 70])
def test_heap_blocks_with_many_ties(k: int) -> None:
    """Long candidate lists (the second pass's blocks of 64, the heap full at a block's start) where
    most candidates tie on tier and pair total, so that the tie-break rank decides at the heap's
    boundary: the same candidates as the reference, with and without an assignment."""
    first = "rang_souhait(logement.commune, communes_souhaitees) == 1"
    wished = "logement.commune in communes_souhaitees"
    match = {
        "filters": [{"id": "commune", "label": "Commune", "when": wished}],
        "criteria": [
            {"id": "premier", "label": "Premier souhait", "when": first, "points": 1},
            {"id": "taille", "label": "Taille", "when": "true", "points": "min(nb_personnes, 3)"},
        ],
    }
    grid = parse_grid(with_match(match), "egalites.yaml")
    apps = generate_applications(3000, seed=41).with_catalogue(grid.catalogue)
    n = len(apps)
    apps.columns["date_depot"] = cotation.data.batch.Column(
        np.full(n, 19000, np.int32), None
    )  # one seniority
    apps.columns["dalo"] = cotation.data.batch.Column(np.zeros(n, np.bool_), None)
    dws = generate_dwellings(12, seed=42)
    out = both(grid, apps, dws, k)
    assert (out.eligible > 200).any()  # several blocks of candidates
    both(grid, apps, dws, k, assignment="given")


def test_ids_beyond_32_bit_offsets_fall_back_to_the_arrow_sorts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over 2 GB of ids, ``buffers.strings`` makes a ``large_string`` array (as ``pa.array`` made a
    chunked one): the packed sorts, which read 32-bit offsets, decline and the reference and Arrow
    sorts order the rows, with the same ranks (the limit is lowered here to 10 bytes)."""
    import pyarrow as pa

    from cotation.data import buffers
    from cotation.scoring.order import arrow_tie_order, lexsort_order, rank_of
    from cotation.scoring.order import packed_tie_order as tie_order

    monkeypatch.setattr(buffers, "MAX_STRING_BYTES", 10)
    grid = parse_grid(BASE + "tie_break: [nb_personnes desc]\n", "ordre.yaml")
    apps = generate_applications(400, seed=6).with_catalogue(grid.catalogue).take(np.arange(400))
    assert apps.id_strings().type == pa.large_string()
    assert tie_order(grid, apps, packed_from=0) is None
    total = (np.arange(len(apps)) % 4).astype(np.int64)
    tier = np.zeros(len(apps), np.int8)
    expected = np.empty(len(apps), np.int64)
    expected[lexsort_order(grid, apps, total, tier)] = np.arange(1, len(apps) + 1)
    assert scores_rank(grid, apps, total, tier, packed_from=0).tolist() == expected.tolist()
    assert rank_of(grid, apps, total, tier).tolist() == expected.tolist()
    zeros = np.zeros(len(apps), np.int64)
    assert arrow_tie_order(grid, apps).tolist() == np.argsort(rank_of(grid, apps, zeros, zeros)).tolist()


def test_ceiling_and_adequation_helpers_equal_their_definitions() -> None:
    """The pair kernel's branch-free helpers (arithmetic selection, so that the candidate loop
    vectorises) equal the conditional definitions, out-of-range categories, unknown cells and a
    typology table whose minimum exceeds its maximum included."""
    from cotation.codegen.helpers import _adequation, _ceiling

    rng = np.random.default_rng(8)
    table = rng.integers(0, 40_000, (3, 2, 7)).astype(np.int64)
    table[2, 1, 0] = -1  # a cell without ceilings
    for f, z, category, extra in itertools.product(range(3), range(2), range(-1, 9), (-2, 0, 1, 5, 2000)):
        c = min(max(category, 1), 6)
        amount = int(table[f, z, c - 1]) + min(max(extra, 0), 1000) * int(table[f, z, 6])
        expected = amount if table[f, z, 0] >= 0 else -1
        assert _ceiling(table, f, z, np.int64(category), np.int64(extra)) == expected
    lo = np.array([1, 1, 2, 3, 5], np.int64)
    hi = np.array([2, 3, 4, 5, 4], np.int64)  # the last minimum above its maximum
    for persons, rooms in itertools.product(range(-1, 8), range(-1, 9)):
        k = min(max(persons, 1), len(lo)) - 1
        expected = -1 if rooms < lo[k] else (1 if rooms > hi[k] else 0)
        assert _adequation(np.int64(persons), np.int64(rooms), lo, hi) == expected

"""The reference evaluator's semantics, on small grids whose results are computed by hand.

Each test states the rule it checks in its name; the expected numbers in each test are worked out
in the comments, never produced by running the code.
"""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np
import pytest

from cotation.api import parse_grid, score
from cotation.data.batch import Batch
from cotation.data.calendar import months_between
from cotation.dates import day_number
from cotation.grid.ir import Grid
from cotation.scoring.scores import Scores

DAY = datetime.date(2026, 1, 1)
BASE: dict[str, Any] = {
    "date_depot": "2024-01-01",
    "nb_personnes": 2,
    "nb_adultes": 1,
    "date_naissance_demandeur": "1980-01-01",
    "ressources_mensuelles": 1500.0,
    "situation_logement": "locataire_prive",
}


def grid_of(body: str) -> Grid:
    return parse_grid("id: essai\ntitle: Essai\n" + body, "essai.yaml")


def batch_of(*rows: dict[str, Any], grid: Grid | None = None, day: datetime.date = DAY) -> Batch:
    full = [{"numero_unique": f"D{i:03d}", **BASE, **row} for i, row in enumerate(rows)]
    return Batch.from_rows(full, grid.catalogue if grid else None, date_calcul=day)


def run(body: str, *rows: dict[str, Any], day: datetime.date = DAY) -> Scores:
    grid = grid_of(body)
    scores: Scores = score(grid, batch_of(*rows, grid=grid, day=day), day)
    assert (scores.total == scores.breakdown.sum(axis=1)).all()
    return scores


def column(scores: Scores, ident: str) -> list[int]:
    return [int(x) for x in scores.breakdown[:, scores.column_ids.index(ident)]]


def met(scores: Scores, index: int = 0) -> list[bool]:
    return [bool(x) for x in scores.met[:, index]]


# -- per_unit ------------------------------------------------------------------------------------
def test_per_unit_counts_whole_units_and_stops_at_max() -> None:
    body = """\
criteria:
  - {id: anc, label: A, value: 'months_between(date_depot, date_calcul)', per_unit: 2, unit: 6, max: 20}
"""
    s = run(
        body,
        {"date_depot": "2024-01-01"},  # 24 months = 4 units -> 8
        {"date_depot": "2025-07-02"},  # 5 months (July 2 -> Jan 1 misses a day) = 0 units -> 0
        {"date_depot": "2025-06-01"},  # 7 months = 1 unit -> 2
        {"date_depot": "2016-01-01"},
    )  # 120 months = 20 units -> 40, capped at 20
    assert column(s, "anc") == [8, 0, 2, 20]
    assert met(s) == [True, True, True, True]  # a per_unit criterion is met whenever its value is


def test_per_unit_with_a_fractional_unit_and_negative_points() -> None:
    body = "criteria:\n  - {id: res, label: R, value: ressources_mensuelles, per_unit: -1, unit: 500}\n"
    s = run(
        body,
        {"ressources_mensuelles": 1500.0},  # 3 units -> -3
        {"ressources_mensuelles": 1499.99},  # 2 units -> -2
        {"ressources_mensuelles": 0.0},
    )  # 0 units -> 0
    assert column(s, "res") == [-3, -2, 0]


def test_per_unit_floors_negative_values() -> None:
    body = "criteria:\n  - {id: x, label: X, value: 'coalesce(nb_enfants, 0) - 8', per_unit: 1, unit: 6}\n"
    s = run(
        body,
        {"nb_enfants": 1},  # -7 / 6 = -1.17 -> floor -2
        {"nb_enfants": 2},  # -6 / 6 = -1
        {"nb_enfants": 8},
    )  # 0
    assert column(s, "x") == [-2, -1, 0]


def test_per_unit_with_missing_value_is_not_met() -> None:
    body = "criteria:\n  - {id: x, label: X, value: nb_enfants, per_unit: 3}\n"
    s = run(body, {"nb_enfants": 2}, {"nb_enfants": None})
    assert column(s, "x") == [6, 0]
    assert met(s) == [True, False]


# -- bands ---------------------------------------------------------------------------------------
def test_bands_from_inclusive_to_exclusive_with_a_gap() -> None:
    body = (
        "criteria:\n  - id: b\n    label: B\n    value: nb_enfants\n"
        "    bands: [{to: 1, points: 1}, {from: 2, to: 4, points: 5}, {from: 4, points: 9}]\n"
    )
    s = run(body, *({"nb_enfants": n} for n in (0, 1, 2, 3, 4, 30, None)))
    # 0 -> first band (no 'from'); 1 -> gap [1, 2); 2, 3 -> [2, 4); 4, 30 -> [4, inf); missing -> none
    assert column(s, "b") == [1, 0, 5, 5, 9, 9, 0]
    assert met(s) == [True, False, True, True, True, True, False]


def test_bands_on_a_ratio_at_exact_boundaries() -> None:
    body = """\
criteria:
  - id: effort
    label: E
    value: coalesce(loyer_actuel, 0) / ressources_mensuelles
    bands: [{from: 0.3, to: 0.4, points: 5}, {from: 0.4, points: 10}]
"""
    s = run(
        body,
        {"loyer_actuel": 450.0},  # 0.3 exactly -> 5
        {"loyer_actuel": 600.0},  # 0.4 exactly -> 10
        {"loyer_actuel": 599.0},  # 0.3993 -> 5
        {"loyer_actuel": 449.0},  # 0.2993 -> 0
        {"loyer_actuel": None},  # coalesce -> 0 / 1500 = 0 -> 0
        {"loyer_actuel": 600.0, "ressources_mensuelles": 0.0},
    )  # division by zero: missing -> 0
    assert column(s, "effort") == [5, 10, 5, 0, 0, 0]
    assert met(s) == [True, True, True, False, False, False]


# -- missing values ------------------------------------------------------------------------------
KLEENE = """\
criteria:
  - {id: et, label: E, when: dalo and pdalhpd, points: 1}
  - {id: non_et, label: Non et, when: not (dalo and pdalhpd), points: 1}
  - {id: ou, label: O, when: dalo or pdalhpd, points: 1}
  - {id: non_ou, label: Non ou, when: not (dalo or pdalhpd), points: 1}
"""

# (dalo, pdalhpd) -> and, not and, or, not or; "?" = missing; a missing condition is not met.
KLEENE_TABLE = [
    ((True, None), (False, False, True, False)),  # T and ? = ?   T or ? = T
    ((False, None), (False, True, False, False)),  # F and ? = F   F or ? = ?
    ((None, None), (False, False, False, False)),  # ? and ? = ?   ? or ? = ?
    ((None, True), (False, False, True, False)),
    ((None, False), (False, True, False, False)),
    ((True, True), (True, False, True, False)),
    ((False, False), (False, True, False, True)),
]


def test_and_or_follow_kleene_logic() -> None:
    s = run(KLEENE, *({"dalo": d, "pdalhpd": p} for (d, p), _ in KLEENE_TABLE))
    assert [tuple(row) for row in s.met.tolist()] == [want for _, want in KLEENE_TABLE]


def test_comparison_with_missing_is_missing_and_so_is_its_negation() -> None:
    body = (
        "criteria:\n  - {id: gt, label: G, when: nb_enfants > 2, points: 1}\n"
        "  - {id: ngt, label: N, when: not (nb_enfants > 2), points: 1}\n"
    )
    s = run(body, {"nb_enfants": 3}, {"nb_enfants": 1}, {"nb_enfants": None})
    assert s.met.tolist() == [[True, False], [False, True], [False, False]]


def test_division_by_zero_is_missing() -> None:
    body = """\
criteria:
  - {id: quot, label: Q, points: "coalesce(nb_enfants // (nb_personnes - 2), 7)"}
  - {id: reste, label: R, points: "coalesce(nb_enfants % (nb_personnes - 2), 7)"}
  - {id: absent, label: A, when: not present(loyer_actuel / ressources_mensuelles), points: 1}
  - {id: direct, label: D, when: loyer_actuel / ressources_mensuelles >= 0, points: 1}
"""
    s = run(
        body,
        {"nb_enfants": 5, "nb_personnes": 4, "loyer_actuel": 10.0},  # 5 // 2 = 2, 5 % 2 = 1
        {"nb_enfants": 5, "nb_personnes": 2, "loyer_actuel": 10.0, "ressources_mensuelles": 0.0},
    )
    assert column(s, "quot") == [2, 7]
    assert column(s, "reste") == [1, 7]
    assert column(s, "absent") == [0, 1]
    assert column(s, "direct") == [1, 0]


def test_floor_division_and_modulo_round_towards_minus_infinity() -> None:
    body = (
        'criteria:\n  - {id: q, label: Q, points: "(coalesce(nb_enfants, 0) - 7) // 2"}\n'
        '  - {id: r, label: R, points: "(coalesce(nb_enfants, 0) - 7) % 2"}\n'
    )
    s = run(body, {"nb_enfants": 0})  # -7 // 2 = -4, -7 % 2 = 1 (as in Python)
    assert column(s, "q") == [-4]
    assert column(s, "r") == [1]


def test_coalesce_and_present() -> None:
    body = """\
criteria:
  - {id: c, label: C, points: "coalesce(nb_enfants, 5)"}
  - {id: p, label: P, when: present(nb_enfants), points: 1}
  - {id: l, label: L, when: 'coalesce(loyer_actuel, 0) > 100', points: 1}
"""
    s = run(body, {"nb_enfants": 0, "loyer_actuel": 101.0}, {"nb_enfants": None, "loyer_actuel": None})
    assert column(s, "c") == [0, 5]
    assert column(s, "p") == [1, 0]
    assert column(s, "l") == [1, 0]


# -- dates ---------------------------------------------------------------------------------------
def _months(a: str, b: str) -> int:
    da, db = (np.array([day_number(datetime.date.fromisoformat(x))]) for x in (a, b))
    return int(months_between(da, db)[0])


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ("2024-01-01", "2026-01-01", 24),
        ("2026-01-31", "2026-02-28", 1),  # art. 641 CPC: February has no 31st, its last day ends the month
        ("2026-01-31", "2026-02-27", 0),
        ("2026-01-31", "2026-03-31", 2),
        ("2026-01-31", "2026-03-30", 1),
        ("2024-02-29", "2025-02-28", 12),  # a leap day completes its year on 28 February
        ("2024-02-29", "2025-02-27", 11),
        ("2025-12-31", "2026-01-01", 0),
        ("2026-01-01", "2026-01-01", 0),
        ("2026-01-01", "2025-01-01", -12),  # b before a: negative
        ("2026-03-15", "2026-01-15", -2),
    ],
)
def test_months_between(a: str, b: str, want: int) -> None:
    assert _months(a, b) == want


# Backwards, months_between rounds down like Python's floor division (documented in
# docs/expressions.md): ten days back is -1, not 0. A deliberate choice: it keeps
# months_between(a, b) // 12 == years_between(a, b) and monotonic in b.
@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ("2026-01-20", "2026-01-10", -1),
        ("2026-03-15", "2026-01-20", -2),
    ],
)
def test_months_between_backwards_rounds_down(a: str, b: str, want: int) -> None:
    assert _months(a, b) == want


def test_months_between_in_a_grid_and_negative_direction() -> None:
    body = """\
criteria:
  - {id: av, label: A, value: 'months_between(date_depot, date_renouvellement)', per_unit: 1}
  - {id: ar, label: R, value: 'months_between(date_renouvellement, date_depot)', per_unit: 1}
"""
    s = run(
        body,
        {"date_depot": "2025-01-31", "date_renouvellement": "2025-04-30"},  # 3 (April has no 31st)
        {"date_depot": "2025-01-31", "date_renouvellement": "2025-05-31"},
    )  # 4 months
    assert column(s, "av") == [3, 4]
    assert column(s, "ar") == [-3, -4]  # April 30 -> January 31: 3 months back, counting day 30 < 31


def test_valid_for_counts_during_the_window_only() -> None:
    body = (
        "criteria:\n  - {id: refus, label: R, when: nb_refus_propositions > 0, points: -10,"
        " valid_for: {since: date_dernier_refus, months: 12}}\n"
    )
    refus = {"nb_refus_propositions": 1}
    s = run(
        body,
        {**refus, "date_dernier_refus": "2025-01-02"},  # 11 whole months ago: inside
        {**refus, "date_dernier_refus": "2025-01-01"},  # 12 months ago: the window is over
        {**refus, "date_dernier_refus": "2026-01-01"},  # today: inside
        {**refus, "date_dernier_refus": None},  # no date: not met
        {"nb_refus_propositions": 0, "date_dernier_refus": "2025-06-01"},
    )  # condition false
    assert column(s, "refus") == [-10, 0, -10, 0, 0]


def test_valid_for_ends_on_the_month_end_after_a_leap_day() -> None:
    """A refusal on 2024-02-29 counts "12 mois" until 2025-02-27: the period ends on 28 February
    (art. 641 CPC), so on that day the refusal no longer counts."""
    body = (
        "criteria:\n  - {id: refus, label: R, when: nb_refus_propositions > 0, points: -10,"
        " valid_for: {since: date_dernier_refus, months: 12}}\n"
    )
    row = {"nb_refus_propositions": 1, "date_dernier_refus": "2024-02-29"}
    assert column(run(body, row, day=datetime.date(2025, 2, 27)), "refus") == [-10]
    assert column(run(body, row, day=datetime.date(2025, 2, 28)), "refus") == [0]


def test_day_month_year_end_of_month_add_months() -> None:
    body = """\
criteria:
  - {id: j, label: J, points: "day(date_depot)"}
  - {id: m, label: M, points: "month(date_depot)"}
  - {id: a, label: A, points: "year(date_depot) - 2000"}
  - {id: f, label: F, points: "days_between(date_depot, end_of_month(date_depot))"}
  - {id: p, label: P, points: "days_between(date_depot, add_months(date_depot, 1))"}
  - {id: n, label: N, points: "days_between(date_depot, add_months(date_depot, -12))"}
"""
    s = run(body, {"date_depot": "2024-01-31"}, {"date_depot": "2024-02-29"}, {"date_depot": "2025-12-15"})
    assert column(s, "j") == [31, 29, 15]
    assert column(s, "m") == [1, 2, 12]
    assert column(s, "a") == [24, 24, 25]
    assert column(s, "f") == [0, 0, 16]
    assert column(s, "p") == [29, 29, 31]  # to 2024-02-29, 2024-03-29, 2026-01-15
    assert column(s, "n") == [-365, -366, -365]  # to 2023-01-31, 2023-02-28, 2024-12-15


# -- functions -----------------------------------------------------------------------------------
def test_round_halves_away_from_zero_floor_and_ceil() -> None:
    body = """\
criteria:
  - {id: r, label: R, points: "round(coalesce(loyer_actuel, 0) / 100)"}
  - {id: rn, label: RN, points: "round(-coalesce(loyer_actuel, 0) / 100)"}
  - {id: f, label: F, points: "floor(-coalesce(loyer_actuel, 0) / 100)"}
  - {id: c, label: C, points: "ceil(coalesce(loyer_actuel, 0) / 100)"}
"""
    s = run(body, *({"loyer_actuel": x} for x in (250.0, 350.0, 249.0, 50.0, 0.0)))
    assert column(s, "r") == [3, 4, 2, 1, 0]  # 2.5 -> 3, 3.5 -> 4 (not banker's 4 and 4), 0.5 -> 1
    assert column(s, "rn") == [-3, -4, -2, -1, 0]
    assert column(s, "f") == [-3, -4, -3, -1, 0]
    assert column(s, "c") == [3, 4, 3, 1, 0]


def test_membership_in_sets_lists_and_literal_sets() -> None:
    body = """\
criteria:
  - {id: viol, label: V, when: '"violences" in motifs', points: 1}
  - {id: pas_viol, label: PV, when: '"violences" not in motifs', points: 1}
  - {id: precaire, label: P, when: 'situation_logement in {"hotel", "squat"}', points: 1}
  - {id: pas_hotel, label: PH, when: 'situation_logement not in ["hotel"]', points: 1}
  - {id: toulouse, label: T, when: '"31555" in communes_souhaitees', points: 1}
  - {id: premier, label: F, when: 'first(communes_souhaitees) == "31555"', points: 1}
  - {id: famille, label: FA, when: 'situation_familiale in {"divorce", "separe"}', points: 1}
  - {id: deux_ou_trois, label: N, when: 'nb_enfants in {2, 3}', points: 1}
"""
    s = run(
        body,
        {
            "motifs": ["violences", "trop_cher"],
            "situation_logement": "hotel",
            "communes_souhaitees": "31069;31555",
            "situation_familiale": "divorce",
            "nb_enfants": 3,
        },
        {
            "motifs": None,
            "situation_logement": "locataire_hlm",
            "communes_souhaitees": "31555",
            "situation_familiale": None,
            "nb_enfants": None,
        },
    )
    assert s.met.tolist() == [
        [True, False, True, False, True, False, True, True],
        # an absent set is the empty set (never missing); an absent category is missing: not met
        [False, True, False, True, True, True, False, False],
    ]


# -- rubrics and groups --------------------------------------------------------------------------
RUBRIC = """\
criteria:
  - {id: a, label: A, when: dalo, points: 10, rubric: r}
  - {id: b, label: B, when: pdalhpd, points: 10, rubric: r}
  - {id: c, label: C, when: parent_isole, points: 15, rubric: r}
rubrics: [{id: r, label: R}]
"""


def test_rubric_keeps_the_best_and_the_first_declared_on_ties() -> None:
    s = run(
        RUBRIC,
        {"dalo": True, "pdalhpd": True},  # tie 10/10: a wins
        {"dalo": True, "pdalhpd": True, "parent_isole": True},  # c (15) wins
        {"pdalhpd": True},  # b alone
        {},
    )  # none
    assert s.breakdown.tolist() == [[10, 0, 0], [0, 0, 15], [0, 10, 0], [0, 0, 0]]
    assert s.total.tolist() == [10, 15, 10, 0]
    assert s.met.tolist()[1] == [True, True, True]  # met is recorded before the rubric rule


def test_rubric_with_negative_points_counts_only_met_criteria() -> None:
    body = """\
criteria:
  - {id: a, label: A, when: dalo, points: -5, rubric: r}
  - {id: b, label: B, when: pdalhpd, points: -2, rubric: r}
  - {id: z, label: Z, when: parent_isole, points: 0, rubric: r}
rubrics: [{id: r, label: R}]
"""
    s = run(
        body,
        {"dalo": True},  # only a is met: -5 counts
        {"dalo": True, "pdalhpd": True},  # -2 beats -5
        {"dalo": True, "parent_isole": True},  # 0 beats -5
        {},
    )
    assert s.breakdown.tolist() == [[-5, 0, 0], [0, -2, 0], [0, 0, 0], [0, 0, 0]]
    assert s.total.tolist() == [-5, -2, 0, 0]


GROUPS = """\
criteria:
  - {id: sans_abri, label: SA, when: 'situation_logement == "sans_abri"', points: 17, group: haut}
  - {id: violences, label: V, when: violences_couple, points: 20, group: haut}
  - {id: refus, label: R, when: nb_refus_propositions > 0, points: -8, group: bas}
  - {id: retard, label: RT, when: nb_refus_propositions > 1, points: -5, group: bas}
groups:
  - {id: haut, label: H, max: 30}
  - {id: bas, label: B, min: -10}
"""


def test_group_max_and_min_add_a_plafond_column() -> None:
    s = run(
        GROUPS,
        {"situation_logement": "sans_abri", "violences_couple": True},  # 37 -> 30: plafond -7
        {"nb_refus_propositions": 2},  # -13 -> -10: plafond +3
        {"violences_couple": True, "nb_refus_propositions": 1},
    )  # 20 and -8: inside
    assert s.column_ids == ("sans_abri", "violences", "refus", "retard", "plafond_haut", "plafond_bas")
    assert s.breakdown.tolist() == [[17, 20, 0, 0, -7, 0], [0, 0, -8, -5, 0, 3], [0, 20, -8, 0, 0, 0]]
    assert s.total.tolist() == [30, -10, 12]


def test_group_caps_apply_after_rubric_rules() -> None:
    body = """\
criteria:
  - {id: a, label: A, when: dalo, points: 25, rubric: r, group: g}
  - {id: b, label: B, when: dalo, points: 20, rubric: r, group: g}
  - {id: c, label: C, when: dalo, points: 10, group: g}
rubrics: [{id: r, label: R}]
groups: [{id: g, label: G, max: 30}]
"""
    s = run(body, {"dalo": True})  # rubric keeps a (25); group 25 + 10 = 35 -> 30
    assert s.breakdown.tolist() == [[25, 0, 10, -5]]
    assert s.total.tolist() == [30]


# -- priorities and ranking ----------------------------------------------------------------------
def test_priority_points_and_tier() -> None:
    body = """\
criteria:
  - {id: enfants, label: E, points: "3 * coalesce(nb_enfants, 0)"}
priorities:
  - {id: prio_dalo, label: DALO, legal_basis: L441-2-3 CCH, when: dalo, points: 50, tier: 2}
  - {id: prio_ase, label: ASE, legal_basis: L441-1 CCH, when: sortie_ase, tier: 1}
"""
    s = run(
        body,
        {"nb_enfants": 10},
        {"dalo": True},
        {"sortie_ase": True, "nb_enfants": 1},
        {"dalo": True, "sortie_ase": True},
    )
    assert s.column_ids == ("enfants", "prio_dalo")  # a priority without points has no column
    assert s.total.tolist() == [30, 50, 3, 50]
    assert s.tier.tolist() == [0, 2, 1, 2]
    assert s.flags.tolist() == [[False, False], [True, False], [False, True], [True, True]]
    # tier before total: D001 and D003 (tier 2, 50 points, same date) by numero_unique, then D002
    # (tier 1, 3 points) before D000 (no tier, 30 points)
    assert s.rank.tolist() == [4, 1, 3, 2]


def test_rank_tie_breaks_older_date_depot_then_numero_unique() -> None:
    body = "criteria:\n  - {id: dalo, label: D, when: dalo, points: 50}\n"
    grid = grid_of(body)
    rows = [
        {"numero_unique": "B", **BASE, "date_depot": "2020-05-01"},
        {"numero_unique": "A", **BASE, "date_depot": "2020-05-01"},
        {"numero_unique": "C", **BASE, "date_depot": "2019-01-01"},
        {"numero_unique": "D", **BASE, "date_depot": "2025-01-01", "dalo": True},
    ]
    s = score(grid, Batch.from_rows(rows, grid.catalogue, date_calcul=DAY), DAY)
    # D has the most points; then C (oldest); then A and B (same date) by numero_unique
    assert s.rank.tolist() == [4, 3, 2, 1]
    assert s.ids[s.order()].tolist() == ["D", "C", "A", "B"]


def test_declared_tie_break_descending() -> None:
    body = (
        "criteria:\n  - {id: dalo, label: D, when: dalo, points: 50}\n"
        "tie_break: [nb_personnes desc, date_depot asc]\n"
    )
    grid = grid_of(body)
    rows = [
        {"numero_unique": "A", **BASE, "nb_personnes": 2},
        {"numero_unique": "B", **BASE, "nb_personnes": 5},
        {"numero_unique": "C", **BASE, "nb_personnes": 5, "date_depot": "2023-01-01"},
    ]
    s = score(grid, Batch.from_rows(rows, grid.catalogue, date_calcul=DAY), DAY)
    assert s.ids[s.order()].tolist() == ["C", "B", "A"]
    assert grid.tie_break[-1].field == "numero_unique"  # always appended: a total order


def test_empty_batch() -> None:
    grid = grid_of(GROUPS)
    s = score(grid, Batch.from_rows([], grid.catalogue, date_calcul=DAY), DAY)
    assert len(s) == 0
    assert s.breakdown.shape == (0, len(grid.columns))
    assert s.rank.shape == (0,)

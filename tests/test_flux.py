"""Gestion en flux (issue 15): holders' rules reading priority flags and tiers, both pair engines
agreeing, the reason in the committee view, and the orientation of vacancies by flow share."""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np
import pytest

import cotation
from cotation import parse_grid, rank
from cotation.data.batch import Batch
from cotation.errors import GridError
from cotation.experiment.flux import flow_shares, orient, orient_codes, shares_of
from cotation.explain.views import committee_text, committee_view
from cotation.grid import ir

DAY = datetime.date(2026, 1, 1)
GRID = """
id: essai-flux
title: Essai gestion en flux
criteria:
  - {id: anciennete, label: Ancienneté, value: "months_between(date_depot, date_calcul)", per_unit: 1}
priorities:
  - {id: p_dalo, label: DALO, legal_basis: L441-2-3 CCH, when: dalo, tier: 2}
  - {id: p_pdalhpd, label: PDALHPD, legal_basis: L441-1 CCH, when: pdalhpd, tier: 1}
match:
  filters:
    - {id: commune, label: Commune souhaitée, when: logement.commune in communes_souhaitees}
reservataires:
  - {id: prefet, label: Contingent préfectoral, legal_basis: R441-5 CCH, when: "p_dalo", flow_share: 0.3}
  - {id: commune, label: Commune, legal_basis: convention, when: "tier >= 1", flow_share: 0.2}
  - id: action_logement
    label: Action Logement
    legal_basis: L313-1 CCH
    when: "coalesce(salarie_entreprise_cotisante, false)"
    flow_share: 0.25
  - {id: bailleur, label: Bailleur, legal_basis: le reste}
"""
ROW = {
    "nb_personnes": 1,
    "nb_adultes": 1,
    "date_naissance_demandeur": "1980-05-05",
    "ressources_mensuelles": 1500,
    "situation_logement": "locataire_prive",
    "communes_souhaitees": "31555",
}


def _apps() -> Batch:
    """A: DALO (tier 2); B: PDALHPD (tier 1); C: employee of a contributing firm; D: nothing."""
    rows = [
        {"numero_unique": "A", "date_depot": "2023-01-01", "dalo": True},
        {"numero_unique": "B", "date_depot": "2022-01-01", "pdalhpd": True},
        {"numero_unique": "C", "date_depot": "2021-01-01", "salarie_entreprise_cotisante": True},
        {"numero_unique": "D", "date_depot": "2020-01-01"},
    ]
    return Batch.from_rows([{**ROW, **r} for r in rows])


def _dwellings(holders: list[str | None]) -> Batch:
    base = cotation.generate_dwellings(1, seed=0).to_arrow().to_pylist()[0]
    rows = []
    for i, h in enumerate(holders):
        rows.append({**base, "identifiant": f"L{i}", "commune": "31555", "reservataire": h})
    return Batch.from_rows(rows, cotation.dwelling_catalogue())


@pytest.fixture(scope="module")
def grid() -> Any:
    return parse_grid(GRID, "essai-flux.yaml")


def test_holders_are_checked_into_filters(grid: Any) -> None:
    assert [h.id for h in grid.holders] == ["prefet", "commune", "action_logement", "bailleur"]
    assert [f.id for f in grid.match.filters] == [
        "commune",
        "reservataire_prefet",
        "reservataire_commune",
        "reservataire_action_logement",
    ]
    assert grid.holders[3].filter_id is None and grid.holders[0].flow_share == 0.3


def test_a_holders_rule_reads_a_priority_flag_and_the_tier(grid: Any) -> None:
    """Counted by hand: the State's dwelling takes only A (DALO); the commune's A and B (tier >= 1),
    A first (tier 2); Action Logement's only C; the landlord's every one, by tier then seniority."""
    apps = _apps()
    dws = _dwellings(["prefet", "commune", "action_logement", "bailleur", None])
    ref = rank(grid, apps, dws, 4, date_calcul=DAY, engine="reference")
    out = rank(grid, apps, dws, 4, date_calcul=DAY)
    for name in ("rows", "application_ids", "tier", "total", "eligible", "excluded"):
        assert np.array_equal(getattr(ref, name), getattr(out, name)), name
    ids = [
        [str(x) for x, r in zip(out.application_ids[m], out.rows[m], strict=True) if r >= 0] for m in range(5)
    ]
    assert ids == [["A"], ["A", "B"], ["C"], ["A", "B", "D", "C"], ["A", "B", "D", "C"]]
    assert out.eligible.tolist() == [1, 2, 1, 4, 4]
    assert out.excluded[:, 1].tolist() == [3, 0, 0, 0, 0]  # reservataire_prefet
    assert out.excluded[:, 2].tolist() == [0, 2, 0, 0, 0]  # reservataire_commune
    assert out.excluded[:, 3].tolist() == [0, 0, 3, 0, 0]  # reservataire_action_logement


def test_the_committee_view_says_why_candidates_are_excluded(grid: Any) -> None:
    apps = _apps()
    dws = _dwellings(["prefet"])
    ranking = rank(grid, apps, dws, 3, date_calcul=DAY)
    scores = cotation.score(grid, apps, DAY)
    view = committee_view(grid, ranking, scores, apps, dws, "L0")
    assert view.candidates == ("A",)
    assert view.exclusions == (("Règle du réservataire : Contingent préfectoral", 3),)
    assert "Règle du réservataire : Contingent préfectoral : 3 demande(s)" in committee_text(view)


def test_a_rule_cannot_read_the_dwelling() -> None:
    bad = GRID.replace('when: "p_dalo"', 'when: "logement.qpv"')
    with pytest.raises(GridError) as err:
        parse_grid(bad, "bad.yaml")
    assert "E202" in str(err.value)


def _holder(ident: str, share: float | None) -> ir.Holder:
    return ir.Holder(ident, ident, "", "", None, share, None)


def test_orientation_by_flow_share_on_a_tiny_case() -> None:
    """Shares prefet 0.5, action_logement 0.25, the landlord the rest (0.25). Dwellings in order: one
    of the State's, then five without a holder. Deficits share * (n + 1) - count, by hand:
    n=1: P .5*2-1=0, AL .25*2=.5, B .5 -> AL (declared first);  n=2: P .5, AL -.25, B .75 -> B;
    n=3: P 2-1=1, AL 0, B 0 -> P;  n=4: P 2.5-2=.5, AL .25, B .25 -> P;  n=5: P 0, AL .5, B .5 -> AL."""
    values = ("prefet", "commune", "epci", "action_logement", "bailleur", "autre")
    holders = [_holder("prefet", 0.5), _holder("action_logement", 0.25), _holder("bailleur", None)]
    codes = np.array([0, -1, -1, -1, -1, -1])
    got = orient_codes(holders, codes, codes >= 0, values)
    assert [values[c] for c in got] == [
        "prefet",
        "action_logement",
        "bailleur",
        "prefet",
        "prefet",
        "action_logement",
    ]
    shares = flow_shares(holders, [values[c] for c in got], {})
    assert [(s.holder, s.count, s.of, s.met) for s in shares] == [
        ("prefet", 3, 6, True),
        ("action_logement", 2, 6, True),
        ("bailleur", 1, 6, None),
    ]
    assert shares_of(holders[:2]) == [("prefet", 0.5), ("action_logement", 0.25), ("bailleur", 0.25)]
    assert shares_of([_holder("bailleur", None)]) == []


def test_orient_a_batch_in_the_order_of_arrival(grid: Any) -> None:
    dws = _dwellings([None, None, "bailleur", None])
    out = orient(grid, dws, np.array([3, 2, 1, 0]))
    field = out.catalogue["reservataire"]
    got = [field.values[c] for c in out.column("reservataire").values.tolist()]
    # shares prefet .3, commune .2, AL .25, landlord the rest .25; arrival L3, L2 (bailleur: kept,
    # counted), L1, L0: L3 (n=0): .3, .2, .25, .25 -> prefet; L1 (n=2): -.1, .6, .75, -.25 -> AL;
    # L0 (n=3): 1.2-1, .8, 1-1, 1-1 -> commune
    assert got == ["commune", "action_logement", "bailleur", "prefet"]
    assert orient(parse_grid(GRID.split("reservataires:")[0], "x.yaml"), dws) is dws


def test_rank_cli_orients_dwellings_without_a_holder(tmp_path: Any) -> None:
    """L0 (n=0): deficits prefet .3, commune .2, AL .25, landlord .25 -> prefet: only A (DALO);
    L1 (n=1): prefet .6-1, commune .4, AL .5, landlord .5 -> AL: only C."""
    import pyarrow.csv as pacsv

    from cotation.cli import main

    (tmp_path / "g.yaml").write_text(GRID, encoding="utf-8")
    cotation.write_applications(_apps(), tmp_path / "d.csv")
    cotation.write_applications(_dwellings([None, None]), tmp_path / "l.csv")
    args = ["rank", str(tmp_path / "g.yaml"), str(tmp_path / "d.csv"), str(tmp_path / "l.csv")]
    assert main([*args, "--date", "2026-01-01", "--orienter", "-o", str(tmp_path / "r.csv")]) == 0
    table = pacsv.read_csv(tmp_path / "r.csv").to_pydict()
    got = [(str(d), str(a)) for d, a in zip(table["logement"], table["numero_unique"], strict=True)]
    assert got == [("L0", "A"), ("L1", "C")]

"""Explanations (trace, French text, JSON) and the HTML rendering of scores."""

from __future__ import annotations

import dataclasses
import datetime
import json

import numpy as np
import pytest

from cotation.api import parse_grid, score
from cotation.data.batch import Batch
from cotation.explain.render import render_text, to_json
from cotation.explain.trace import trace
from cotation.scoring.scores import scores_html

DAY = datetime.date(2026, 1, 1)

GRID = """
id: essai
title: Grille d'essai
version: "1"
variables:
  anciennete_mois: {expr: "months_between(date_depot, date_calcul)", label: Ancienneté en mois}
criteria:
  - {id: anciennete, label: Ancienneté de la demande, value: anciennete_mois, per_unit: 1, max: 120}
  - {id: dalo, label: Ménage reconnu DALO, when: dalo, points: 50}
  - {id: sans_abri, label: Sans abri, when: 'situation_logement == "sans_abri"', points: 27, rubric: logement,
     group: situation}
  - {id: precaire, label: Logement précaire, when: 'situation_logement in {"sans_abri", "heberge_tiers"}',
     points: 8, rubric: logement}
  - {id: violences, label: Violences conjugales, when: violences_couple, points: 10, group: situation}
  - {id: enfants, label: Enfants à charge, points: "3 * coalesce(nb_enfants, 0)", max: 12}
rubrics: [{id: logement, label: Logement actuel}]
groups: [{id: situation, label: Situation, max: 30}]
priorities:
  - {id: prio_dalo, label: Ménage reconnu DALO, legal_basis: "L441-2-3 CCH", when: dalo, tier: 2}
  - {id: prio_violences, label: Victime de violences, legal_basis: "L441-1 d) CCH", when: violences_couple,
     points: 5}
tie_break: [date_depot asc, numero_unique asc]
"""

BASE = {
    "date_depot": "2024-01-01",
    "nb_personnes": 3,
    "nb_adultes": 1,
    "date_naissance_demandeur": "1990-05-01",
    "ressources_mensuelles": 1200,
    "situation_logement": "locataire_prive",
    "typologie_souhaitee": "T3",
    "communes_souhaitees": ["31555"],
}
ROWS = [
    {
        **BASE,
        "numero_unique": "A",
        "dalo": True,
        "situation_logement": "sans_abri",
        "violences_couple": True,
        "nb_enfants": 2,
    },
    {**BASE, "numero_unique": "B", "situation_logement": "heberge_tiers"},
    {**BASE, "numero_unique": "C", "date_depot": "2025-12-15"},
]


@pytest.fixture(scope="module")
def run():
    grid = parse_grid(GRID, "essai.yaml")
    batch = Batch.from_rows(ROWS, grid.catalogue, date_calcul=DAY)
    return grid, score(grid, batch, DAY), batch  # in trace()'s argument order


def by_id(tr, criterion):
    return next(c for c in tr.criteria if c.id == criterion)


def test_trace_records_points_rules_and_flags(run):
    tr = trace(*run, "A")
    total = 24 + 50 + 27 + 10 + 6 + 5 - 7
    assert (tr.numero_unique, tr.total, tr.rank, tr.count, tr.tier) == ("A", total, 1, 3, 2)
    assert by_id(tr, "sans_abri").points == 27
    precaire = by_id(tr, "precaire")
    assert (precaire.met, precaire.points_before, precaire.points) == (True, 8, 0)
    assert precaire.removed_by == "rubrique Logement actuel"
    assert [(c.id, c.points) for c in tr.caps] == [("plafond_situation", -7)]
    assert [(f.id, f.legal_basis, f.points) for f in tr.flags] == [
        ("prio_dalo", "L441-2-3 CCH", 0),
        ("prio_violences", "L441-1 d) CCH", 5),
    ]


def test_trace_adds_up_to_the_total(run):
    grid, scores, batch = run
    for numero in scores.ids:
        tr = trace(grid, scores, batch, str(numero))
        parts = (
            sum(c.points for c in tr.criteria)
            + sum(c.points for c in tr.caps)
            + sum(f.points for f in tr.flags)
        )
        assert parts == tr.total == int(scores.total[scores.index_of(str(numero))])


def test_trace_keeps_the_scores_decisions(run):
    grid, scores, batch = run
    tr = trace(grid, scores, batch, "B")
    assert [c.met for c in tr.criteria] == scores.met[scores.index_of("B")].tolist()
    assert by_id(tr, "precaire").points == 8 and by_id(tr, "precaire").removed_by is None
    assert by_id(tr, "dalo").met is False and by_id(tr, "dalo").when_source == "dalo"


def test_trace_records_values_read(run):
    tr = trace(*run, "A")
    inputs = {x.name: x for x in by_id(tr, "anciennete").inputs}
    assert inputs["anciennete_mois"].value == 24 and inputs["anciennete_mois"].kind == "variable"
    assert inputs["date_depot"].value == datetime.date(2024, 1, 1)
    situation = by_id(tr, "sans_abri").inputs[0]
    assert (situation.value, situation.text) == ("sans_abri", "Sans abri")


def test_render_text_in_french(run):
    text = render_text(trace(*run, "A"))
    assert text.splitlines()[0] == "Demande A — 115 points (rang 1 sur 3)"
    assert "  Ménage reconnu DALO : +50 points" in text
    assert "Plafond du groupe « Situation » : \u22127 points" in text
    assert "Public prioritaire : Ménage reconnu DALO (L441-2-3 CCH)" in text
    assert "Public prioritaire : Victime de violences (L441-1 d) CCH) : +5 points" in text
    assert (
        "  Logement précaire : 0 point (+8 points calculés, non comptés : seul le critère le mieux noté "
        "de la rubrique « Logement actuel » compte)"
    ) in text
    assert "Niveau de priorité : 2" in text
    assert text.splitlines()[-2] == "Total : 115 points"
    assert text.splitlines()[-1] == (
        "Position parmi les demandes similaires (même typologie souhaitée, "
        "même première commune souhaitée) : 1re sur 3"
    )
    assert "Violences conjugales" in text and "Sans abri" in text


def test_render_text_formats_large_ranks_and_singular(run):
    tr = dataclasses.replace(trace(*run, "C"), rank=1234, count=100_000)
    text = render_text(tr)
    assert text.splitlines()[0] == "Demande C — 0 point (rang 1 234 sur 100 000)"
    assert "Aucun critère ne donne de points." in text


def test_to_json_has_stable_keys(run):
    data = to_json(trace(*run, "A"))
    json.dumps(data)  # serialisable as is
    assert list(data) == [
        "numero_unique",
        "total",
        "rank",
        "count",
        "tier",
        "grid",
        "date_calcul",
        "criteria",
        "caps",
        "flags",
        "position",
    ]
    assert data["grid"]["id"] == "essai" and data["date_calcul"] == "2026-01-01"
    assert list(data["criteria"][0]) == [
        "id",
        "label",
        "when",
        "points_rule",
        "met",
        "points_before",
        "points",
        "removed_by",
        "rules",
        "rubric",
        "inputs",
    ]
    assert data["criteria"][0]["inputs"][1] == {
        "name": "date_depot",
        "label": "Date de dépôt",
        "kind": "field",
        "value": "2024-01-01",
        "text": "2024-01-01",
    }
    assert len(data["criteria"]) == 6 and [f["id"] for f in data["flags"]] == ["prio_dalo", "prio_violences"]


def test_unknown_application_raises_key_error(run):
    with pytest.raises(KeyError):
        trace(*run, "nope")


def test_scores_of_another_grid_are_refused(run):
    _, scores, batch = run
    other = parse_grid(GRID.replace("points: 50", "points: 40"), "other.yaml")
    with pytest.raises(ValueError, match="another grid"):
        trace(other, scores, batch, "A")


def test_scores_html_is_escaped_and_ranked(run):
    grid, _, _ = run
    rows = [{**BASE, "numero_unique": "<b>&1</b>"}, {**BASE, "numero_unique": "x", "dalo": True}]
    scores = score(grid, Batch.from_rows(rows, grid.catalogue, date_calcul=DAY), DAY)
    html = scores_html(scores)
    assert "<b>&1</b>" not in html and "&lt;b&gt;&amp;1&lt;/b&gt;" in html
    assert html.index(">x<") < html.index("&lt;b&gt;")  # the DALO application ranks first
    assert "essai version 1" in html and "N = 2" in html and "2026-01-01" in html
    assert scores._repr_html_() == html
    assert "1 autres demandes" in scores_html(scores, limit=1)
    assert np.all(scores.total == scores.breakdown.sum(axis=1))


def test_explain_text_is_the_rendered_trace(run):
    from cotation.explain.trace import explain_text

    grid, scores, batch = run
    assert explain_text(grid, scores, batch, scores.ids[0]) == render_text(trace(grid, scores, batch, "A"))


def test_batch_without_the_grid_local_fields():
    local = (
        "fields:\n  suivi: {type: bool, label: Suivi social}\ncriteria:\n"
        "  - {id: suivi, label: Suivi social, when: suivi, points: 3}\n"
    )
    grid = parse_grid(GRID.replace("criteria:\n", local), "local.yaml")
    batch = Batch.from_rows(ROWS, date_calcul=DAY)  # default catalogue: no 'suivi' column
    scores = score(grid, batch, DAY)
    suivi = by_id(trace(grid, scores, batch, "A"), "suivi")
    assert (suivi.met, suivi.points) == (False, 0)
    assert (suivi.inputs[0].value, suivi.inputs[0].text) == (None, "non renseigné")

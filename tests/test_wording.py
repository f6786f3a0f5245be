"""Every wording of the explanations, with hand-written expected French.

One grid where each rule that can reduce points applies once to application A: a criterion's
``max`` and ``min``, the best member of a rubric, a criterion both capped and beaten in its rubric,
a group's ``max`` and ``min``; a criterion that nothing reduces; a helper variable marked internal;
an application whose similarity fields are missing; a grid without priority publics.
"""

from __future__ import annotations

import datetime

import pytest

from cotation.api import parse_grid, score
from cotation.data.batch import Batch
from cotation.explain.render import render_text, to_json
from cotation.explain.trace import trace
from cotation.explain.views import applicant_json, applicant_text, applicant_view

DAY = datetime.date(2026, 1, 1)
MINUS = "\u2212"

GRID = """
id: formulations
title: Grille des formulations
version: "1"
variables:
  mois_calcul: {expr: "year(date_calcul) * 12 + month(date_calcul)", label: Indice du mois du calcul,
                internal: true}
criteria:
  - {id: anciennete, label: Ancienneté, value: "months_between(date_depot, date_calcul)", per_unit: 1,
     max: 12}
  - {id: dalo, label: Ménage reconnu DALO, when: dalo, points: 50}
  - {id: sans_abri, label: Sans abri, when: 'situation_logement == "sans_abri"', points: 30, rubric: logement}
  - {id: precaire, label: Logement précaire, when: 'situation_logement in {"sans_abri", "heberge_tiers"}',
     points: 8, rubric: logement}
  - {id: enfants, label: Enfants, points: "5 * coalesce(nb_enfants, 0)", max: 6, rubric: famille}
  - {id: isole, label: Parent isolé, when: parent_isole, points: 10, rubric: famille}
  - {id: violences, label: Violences, when: violences_couple, points: 25, group: urgence}
  - {id: expulsion, label: Expulsion, when: menace_expulsion, points: 20, group: urgence}
  - {id: refus, label: Refus d'une proposition adaptée, when: "coalesce(nb_refus_propositions, 0) >= 1",
     points: "-10 * nb_refus_propositions", min: -15, group: malus}
  - {id: recent, label: Déposée ce mois-ci, points: 1,
     when: "mois_calcul - (year(date_depot) * 12 + month(date_depot)) < 1"}
rubrics: [{id: logement, label: Logement actuel}, {id: famille, label: Famille}]
groups: [{id: urgence, label: Urgence, max: 30}, {id: malus, label: Malus, min: -10}]
priorities:
  - {id: p_dalo, label: DALO, legal_basis: L441-2-3 CCH, when: dalo, tier: 1}
"""

BASE = {
    "nb_personnes": 3,
    "nb_adultes": 1,
    "date_naissance_demandeur": "1985-03-03",
    "ressources_mensuelles": 1400,
    "situation_logement": "locataire_prive",
    "communes_souhaitees": "31555",
    "typologie_souhaitee": "T3",
}
ROWS = [
    {
        **BASE,
        "numero_unique": "A",
        "date_depot": "2024-01-01",
        "dalo": True,
        "situation_logement": "sans_abri",
        "nb_enfants": 2,
        "parent_isole": True,
        "violences_couple": True,
        "menace_expulsion": True,
        "nb_refus_propositions": 2,
    },
    {**BASE, "numero_unique": "B", "date_depot": "2026-01-01"},
    {**BASE, "numero_unique": "C", "date_depot": "2025-06-01", "typologie_souhaitee": None},
]


@pytest.fixture(scope="module")
def run():
    grid = parse_grid(GRID, "formulations.yaml")
    batch = Batch.from_rows(ROWS, grid.catalogue, date_calcul=DAY)
    return grid, score(grid, batch, DAY), batch


def lines(run, numero: str) -> list[str]:
    return render_text(trace(*run, numero)).splitlines()


def line_of(run, numero: str, label: str) -> str:
    return next(x for x in lines(run, numero) if x.startswith(f"  {label} :"))


# -- the trace, line by line ---------------------------------------------------------------------
def test_criterion_max(run) -> None:
    assert line_of(run, "A", "Ancienneté") == (
        "  Ancienneté : +12 points (+24 points calculés, ramenés à +12 points par le plafond du critère)"
        "  [Date de dépôt = 2024-01-01]"
    )


def test_criterion_min(run) -> None:
    assert line_of(run, "A", "Refus d'une proposition adaptée") == (
        f"  Refus d'une proposition adaptée : {MINUS}15 points ({MINUS}20 points calculés, ramenés à "
        f"{MINUS}15 points par le minimum du critère)  [Refus de propositions adaptées = 2]"
    )


def test_best_of_the_rubric(run) -> None:
    assert line_of(run, "A", "Logement précaire") == (
        "  Logement précaire : 0 point (+8 points calculés, non comptés : seul le critère le mieux noté "
        "de la rubrique « Logement actuel » compte)  [Logement actuel = Sans abri]"
    )


def test_criterion_max_then_rubric(run) -> None:
    assert line_of(run, "A", "Enfants") == (
        "  Enfants : 0 point (+10 points calculés, ramenés à +6 points par le plafond du critère, non "
        "comptés : seul le critère le mieux noté de la rubrique « Famille » compte)  "
        "[Nombre d'enfants = 2]"
    )


def test_group_max_and_min(run) -> None:
    text = lines(run, "A")
    assert (
        f"Plafond du groupe « Urgence » : {MINUS}15 points (les critères du groupe totalisent +45 points, "
        "ramenés à +30 points par le plafond du groupe)"
    ) in text
    assert (
        f"Minimum du groupe « Malus » : +5 points (les critères du groupe totalisent {MINUS}15 points, "
        f"ramenés à {MINUS}10 points par le minimum du groupe)"
    ) in text


def test_nothing_reduced_says_nothing(run) -> None:
    assert (
        line_of(run, "A", "Ménage reconnu DALO") == "  Ménage reconnu DALO : +50 points  [Reconnu DALO = oui]"
    )
    assert line_of(run, "A", "Sans abri") == ("  Sans abri : +30 points  [Logement actuel = Sans abri]")
    text = render_text(trace(*run, "B"))
    assert "calculé" not in text and "ramené" not in text and "Plafond" not in text


def test_internal_variable_never_shown(run) -> None:
    recent = line_of(run, "B", "Déposée ce mois-ci")
    assert recent == "  Déposée ce mois-ci : +1 point  [Date de dépôt = 2026-01-01]"
    tr = trace(*run, "B")
    names = [x["name"] for c in to_json(tr)["criteria"] for x in c["inputs"]]
    assert "mois_calcul" not in names and "date_depot" in names
    assert "Indice du mois" not in render_text(tr)
    grid, scores, batch = run
    assert "Indice du mois" not in applicant_text(applicant_view(grid, scores, batch, "B"))


def test_position_only_when_the_similarity_fields_are_known(run) -> None:
    assert lines(run, "A")[-1] == (
        "Position parmi les demandes similaires (même typologie souhaitée, même première commune "
        "souhaitée) : 1re sur 2"
    )
    assert lines(run, "C")[-1] == (
        "Position parmi les demandes similaires : non calculée (le champ « Typologie souhaitée » "
        "n'est pas renseigné)"
    )
    assert to_json(trace(*run, "C"))["position"]["rank"] is None


# -- the letter ------------------------------------------------------------------------------------
LETTER_A = f"""\
Votre demande de logement social n° A
Situation au 01/01/2026

Votre demande obtient 122 points.

Comment ce total est calculé :

Critères retenus :
- Ancienneté : +12 points (+24 points calculés, ramenés à +12 points par le plafond du critère)
- Ménage reconnu DALO : +50 points
- Sans abri : +30 points
- Parent isolé : +10 points
- Violences : +25 points
- Expulsion : +20 points

Minorations :
- Refus d'une proposition adaptée : {MINUS}15 points ({MINUS}20 points calculés, ramenés à {MINUS}15 points \
par le minimum du critère)

Critères remplis mais non comptés :
- Logement précaire : 0 point (+8 points calculés, non comptés : seul le critère le mieux noté de la \
rubrique « Logement actuel » compte)
- Enfants : 0 point (+10 points calculés, ramenés à +6 points par le plafond du critère, non comptés : \
seul le critère le mieux noté de la rubrique « Famille » compte)

Limites appliquées :
- Groupe « Urgence » : {MINUS}15 points (les critères du groupe totalisent +45 points, ramenés à \
+30 points par le plafond du groupe)
- Groupe « Malus » : +5 points (les critères du groupe totalisent {MINUS}15 points, ramenés à \
{MINUS}10 points par le minimum du groupe)

Votre demande est reconnue prioritaire au titre de : DALO.
À ce titre, elle est examinée avant les demandes moins prioritaires, quel que soit leur total.

Parmi les demandes semblables à la vôtre (même typologie souhaitée, même première commune souhaitée), \
votre demande est classée 1re sur 2.

Attention : refuser un logement adapté à votre demande peut faire baisser votre total \
(Refus d'une proposition adaptée).

Grille de cotation : Grille des formulations, version 1."""


def test_letter_separates_criteria_and_minorations(run) -> None:
    grid, scores, batch = run
    assert applicant_text(applicant_view(grid, scores, batch, "A")) == LETTER_A


def test_letter_names_the_missing_similarity_field(run) -> None:
    grid, scores, batch = run
    view = applicant_view(grid, scores, batch, "C")
    text = applicant_text(view)
    assert (
        "Votre position parmi les demandes semblables à la vôtre ne peut pas être calculée : le champ "
        "« Typologie souhaitée » n'est pas renseigné dans votre demande."
    ) in text
    assert "classée" not in text
    assert applicant_json(view)["position"]["missing"] == ["Typologie souhaitée"]


def test_letter_priority_sentence_only_with_priority_publics(run) -> None:
    grid, scores, batch = run
    assert "Votre demande ne relève pas d'un public prioritaire." in applicant_text(
        applicant_view(grid, scores, batch, "B")
    )
    plain = parse_grid(GRID.split("priorities:")[0], "sans-priorites.yaml")
    plain_batch = Batch.from_rows(ROWS, plain.catalogue, date_calcul=DAY)
    text = applicant_text(applicant_view(plain, score(plain, plain_batch, DAY), plain_batch, "B"))
    assert "prioritaire" not in text
    assert text.splitlines()[5:9] == [
        "Comment ce total est calculé :",
        "",
        "Critères retenus :",
        "- Déposée ce mois-ci : +1 point",
    ]

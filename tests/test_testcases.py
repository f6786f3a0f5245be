"""YAML test cases for grids: loading, comparing, reporting."""

from __future__ import annotations

import datetime
import re
import textwrap

import pytest

from cotation.errors import DataError, GridError, TestCaseError
from cotation.testcases import Difference, format_report, run_cases

GRID = """
id: essai
title: Grille d'essai
criteria:
  - {id: dalo, label: Ménage reconnu DALO, when: dalo, points: 50}
  - {id: sans_abri, label: Sans abri, when: 'situation_logement == "sans_abri"', points: 17}
  - {id: enfants, label: Enfants à charge, points: "3 * coalesce(nb_enfants, 0)", max: 12}
priorities:
  - {id: prio_dalo, label: Ménage reconnu DALO, legal_basis: "L441-2-3 CCH", when: dalo, tier: 2}
"""

HEADER = """
grid: essai.yaml
date_calcul: 2026-01-01
defaults:
  date_depot: 2022-01-01
  nb_personnes: 1
  nb_adultes: 1
  date_naissance_demandeur: 1990-01-01
  ressources_mensuelles: 1200
  situation_logement: locataire_prive
"""

PASSING = (
    HEADER
    + """
cases:
  - name: Ménage DALO sans abri
    application: {dalo: true, situation_logement: sans_abri}
    expect:
      points: {dalo: 50, sans_abri: 17}
      flags: [prio_dalo]
      tier: 2
      total: 67
  - name: Famille de cinq enfants
    application: {nb_personnes: 6, nb_enfants: 5}
    expect: {points: {enfants: 12}, flags: [], total: 12}
"""
)

FAILING = (
    HEADER
    + """
cases:
  - name: Ménage DALO sans abri
    application: {situation_logement: sans_abri}
    expect:
      points: {dalo: 50, sans_abri: 17}
      flags: [prio_dalo]
      tier: 2
      total: 67
  - name: Sans enfant
    application: {}
    expect: {total: 0}
"""
)


def write(tmp_path, text, name="cases.yaml"):
    (tmp_path / "essai.yaml").write_text(GRID, encoding="utf-8")
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_passing_cases(tmp_path):
    report = run_cases(write(tmp_path, PASSING))
    assert report.passed and (report.n_passed, report.n_failed) == (2, 0)
    assert report.grid_id == "essai" and report.date_calcul == datetime.date(2026, 1, 1)
    assert [r.numero_unique for r in report.results] == ["case-1", "case-2"]
    assert format_report(report).splitlines()[-1] == "2 passed, 0 failed"
    assert "✓ Ménage DALO sans abri" in format_report(report)


def test_failing_case_lists_every_difference(tmp_path):
    report = run_cases(write(tmp_path, FAILING))
    first, second = report.results
    assert not report.passed and second.passed
    assert first.differences == (
        Difference("points[dalo]", 50, 0),
        Difference("flags", ["prio_dalo"], []),
        Difference("tier", 2, 0),
        Difference("total", 67, 17),
    )


def test_format_report_is_a_readable_diff(tmp_path):
    text = format_report(run_cases(write(tmp_path, FAILING)))
    line = next(i for i, x in enumerate(FAILING.splitlines(), 1) if "Ménage DALO sans abri" in x)
    assert (
        f"✗ Ménage DALO sans abri  (ligne {line})\n    points[dalo]: attendu 50, obtenu 0\n"
        "    flags: attendu [prio_dalo], obtenu []\n    tier: attendu 2, obtenu 0\n"
        "    total: attendu 67, obtenu 17"
    ) in text
    assert "✓ Sans enfant" in text
    assert text.splitlines()[-1] == "1 passed, 1 failed"


def test_application_overrides_defaults_and_may_set_its_id(tmp_path):
    text = (
        HEADER
        + """
cases:
  - name: Identifiant explicite
    application: {numero_unique: "031-42", situation_logement: sans_abri}
    expect: {points: {sans_abri: 17}}
"""
    )
    report = run_cases(write(tmp_path, text))
    assert report.passed and report.results[0].numero_unique == "031-42"


@pytest.mark.parametrize(
    ("cases", "message"),
    [
        (
            "  - {name: x, expect: {points: {dallo: 50}}}",
            "unknown breakdown column 'dallo' (did you mean 'dalo'?)",
        ),
        (
            "  - {name: x, expect: {flags: [prio_dallo]}}",
            "unknown priority 'prio_dallo' (did you mean 'prio_dalo'?)",
        ),
        (
            "  - {name: x, application: {dallo: true}, expect: {}}",
            "unknown field 'dallo' (did you mean 'dalo'?)",
        ),
        ("  - {name: x, expect: {totl: 3}}", "unknown key 'totl'"),
        ("  - {name: x, expect: {total: many}}", "'total' must be an integer"),
        ("  - {name: x}", "missing key 'expect'"),
    ],
)
def test_malformed_case_is_located(tmp_path, cases, message):
    path = write(tmp_path, HEADER + "cases:\n" + cases + "\n")
    with pytest.raises(TestCaseError) as info:
        run_cases(path)
    assert message in str(info.value)
    assert f"{path}:" in str(info.value)


def test_every_problem_is_reported_at_once(tmp_path):
    text = HEADER + "cases:\n  - {name: x, expect: {points: {dallo: 50}, flags: [nope]}}\n"
    with pytest.raises(TestCaseError) as info:
        run_cases(write(tmp_path, text))
    assert "dallo" in str(info.value) and "nope" in str(info.value) and "2 problems" in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("grid: essai.yaml\ncases: []\n", "missing key 'date_calcul'"),
        ("grid: essai.yaml\ndate_calcul: demain\ncases: []\n", "date_calcul must be a date"),
        ("grid: essai.yaml\ndate_calcul: 2026-01-01\ncases: []\n", "'cases' must be a non-empty list"),
        ("- a list\n", "must be a mapping"),
        ("grid: essai.yaml\ngrid: other.yaml\n", "duplicate key 'grid'"),
    ],
)
def test_malformed_file(tmp_path, text, message):
    with pytest.raises(TestCaseError, match=message):
        run_cases(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(TestCaseError, match="cannot read"):
        run_cases(tmp_path / "absent.yaml")


def test_missing_grid_is_a_grid_error(tmp_path):
    with pytest.raises(GridError):
        run_cases(write(tmp_path, PASSING.replace("grid: essai.yaml", "grid: absent.yaml")))


def test_bad_application_value_is_a_data_error(tmp_path):
    text = HEADER + "cases:\n  - {name: x, application: {situation_logement: sans_abrii}, expect: {}}\n"
    with pytest.raises(DataError) as info:
        run_cases(write(tmp_path, text))
    assert "case-1" in info.value.render() and "D103" in info.value.render()
    assert re.match(r".*cases.yaml:\d+:5: case 'x': error\[D103\]", info.value.render())

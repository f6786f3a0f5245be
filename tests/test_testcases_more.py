"""`cotation test`: dwelling cases (eligibility, pair points, rank among the file's candidates),
expected ranks and positions, ``-k NAME``, JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cotation import cli
from cotation.errors import TestCaseError
from cotation.testcases import junit_xml, run_cases

GRID = """
id: essai-logements
title: Essai logements
version: "1"
criteria:
  - {id: dalo, label: DALO, when: dalo, points: 50}
match:
  filters:
    - {id: commune, label: Commune souhaitée, when: logement.commune in communes_souhaitees}
  criteria:
    - {id: premier, label: Premier vœu, when: rang_commune == 1, points: 30}
tie_break: [date_depot asc, numero_unique asc]
"""

CASES = """
grid: essai.yaml
date_calcul: 2026-01-01
defaults: {date_depot: 2022-01-01, nb_personnes: 1, nb_adultes: 1, date_naissance_demandeur: 1990-01-01,
           ressources_mensuelles: 1200, situation_logement: locataire_prive, typologie_souhaitee: T2}
logements:
  - {identifiant: L1, commune: "31555", zone: autres, typologie: T2, pieces: 2, loyer: 400, financement: PLUS}
  - {identifiant: L2, commune: "31044", zone: autres, typologie: T2, pieces: 2, loyer: 400, financement: PLUS}
cases:
  - name: DALO premier voeu
    application: {dalo: true, communes_souhaitees: ["31555"]}
    expect:
      total: 50
      rank: 1
      position: 1
      logements:
        L1: {eligible: true, rank: 1, points: {premier: 30}}
        L2: {eligible: false}
  - name: Second voeu
    application: {communes_souhaitees: ["31069", "31555"]}
    expect:
      rank: 2
      position: 1  # its first wish differs from A's: not a similar demand
      logements:
        L1: {eligible: true, rank: 2, points: {premier: 0}}
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "essai.yaml").write_text(GRID, encoding="utf-8")
    path = tmp_path / "cas.tests.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_dwelling_cases_pass(tmp_path: Path) -> None:
    report = run_cases(write(tmp_path, CASES))
    assert report.passed, [r.differences for r in report.results]


def test_dwelling_cases_report_what_differs(tmp_path: Path) -> None:
    wrong = CASES.replace(
        "L1: {eligible: true, rank: 2, points: {premier: 0}}", "L1: {rank: 1, points: {premier: 30}}"
    )
    wrong = wrong.replace("L2: {eligible: false}", "L2: {eligible: true}").replace(
        "position: 1  #", "position: 2  #"
    )
    report = run_cases(write(tmp_path, wrong))
    first, second = report.results
    assert [(d.what, d.expected, d.got) for d in first.differences] == [
        ("logements[L2].eligible", True, False)
    ]
    assert [(d.what, d.expected, d.got) for d in second.differences] == [
        ("position", 2, 1),
        ("logements[L1].rank", 1, 2),
        ("logements[L1].points[premier]", 30, 0),
    ]


def test_unknown_dwelling_and_criterion_are_located(tmp_path: Path) -> None:
    bad = CASES.replace("L2: {eligible: false}", "L3: {eligible: false}").replace(
        "{premier: 0}", "{premiere: 0}"
    )
    with pytest.raises(TestCaseError) as info:
        run_cases(write(tmp_path, bad))
    text = str(info.value)
    assert "cas.tests.yaml:18:" in text and "unknown dwelling 'L3'" in text
    assert "unknown match criterion 'premiere' (did you mean 'premier'?)" in text


def test_select_by_name(tmp_path: Path) -> None:
    report = run_cases(write(tmp_path, CASES), "second")
    assert [r.name for r in report.results] == ["Second voeu"] and report.passed  # ranks: whole file


def test_junit_xml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, CASES.replace("total: 50", "total: 51"))
    out = tmp_path / "junit.xml"
    assert cli.main(["test", str(path), "--junit", str(out)]) == 1
    suite = ET.parse(out).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failing = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failing] == ["DALO premier voeu"]
    assert "total: attendu 51, obtenu 50" in (failing[0].find("failure").text or "")  # type: ignore[union-attr]
    assert failing[0].get("file", "").endswith("cas.tests.yaml:10:5")
    capsys.readouterr()
    assert cli.main(["test", str(path), "-k", "second"]) == 0
    assert "1 passed, 0 failed" in capsys.readouterr().out
    broken = junit_xml([(tmp_path / "x.yaml", "x.yaml: cannot read")])
    assert "<error" in broken and 'errors="1"' in broken

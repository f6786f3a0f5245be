"""Static analysis of grids (cotation.grid.lint): one broken grid per warning code, no warning on
grids that are fine, the shipped grids, ``cotation check --strict``, docs/errors.md.

Every ``fixtures/warnings/W*.yaml`` starts with ``# expect: CODE LINE:COL criterion=ID``: the
first warning that linting it must give.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cotation import cli
from cotation.api import load_grid, parse_grid
from cotation.errors import GRID_CODES, WARNING_CODES
from cotation.grid.lint import lint

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "warnings"
DOCS = ROOT / "docs" / "errors.md"
EXPECT = re.compile(
    r"^# expect: (?P<code>W\d{3}) (?P<line>\d+):(?P<col>\d+) criterion=(?P<criterion>\S+)\s*$"
)
CASES = sorted(FIXTURES.glob("*.yaml"))
HEAD = "id: essai\ntitle: Essai\n"


def codes(text: str) -> list[str]:
    return [w.code for w in lint(parse_grid(HEAD + text, "essai.yaml"))]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_fixture_gives_its_warning_first(path: Path) -> None:
    m = EXPECT.match(path.read_text(encoding="utf-8").splitlines()[0])
    assert m, path.name
    warnings = lint(load_grid(path))
    assert warnings, path.name
    first = warnings[0]
    assert (first.code, first.span.line, first.span.col) == (m["code"], int(m["line"]), int(m["col"]))
    assert first.criterion == m["criterion"]
    rendered = first.render()
    assert f": warning[{m['code']}] " in rendered and first.source_line is not None
    assert [w.code for w in warnings] == [m["code"]]  # nothing else


def test_every_warning_code_has_a_fixture_and_a_doc_section() -> None:
    assert [p.stem for p in CASES] == sorted(WARNING_CODES)
    text = DOCS.read_text(encoding="utf-8")
    for code, meaning in WARNING_CODES.items():
        assert f"\n## {code} — {meaning}\n" in text
        section = text.split(f"\n## {code} — ")[1].split("\n## ")[0]
        fixture = (FIXTURES / f"{code}.yaml").read_text(encoding="utf-8")
        assert fixture.strip() in section  # the failing example, quoted
        assert f"warning[{code}]" in section  # and what check prints
    assert not set(WARNING_CODES) & set(GRID_CODES)


def test_no_warning_for_grids_that_are_fine() -> None:
    fine = """\
criteria:
  - {id: sans_abri, label: Sans abri, when: 'situation_logement == "sans_abri"', points: 30, rubric: logement}
  - {id: precaire, label: Précaire, when: 'situation_logement in {"sans_abri", "heberge_tiers"}', points: 8,
     rubric: logement}
  - {id: famille, label: Famille, when: nb_enfants > 2 and nb_enfants < 6, points: 5}
  - {id: effort, label: Effort, value: "coalesce(loyer_actuel, 0) / ressources_mensuelles",
     bands: [{to: 0.3, points: 0}, {from: 0.3, to: 0.5, points: 5}, {from: 0.5, points: 10}]}
  - {id: enfants, label: Enfants, value: nb_enfants, bands: [{to: 2, points: 1}, {from: 2, to: 3, points: 2},
     {from: 3, points: 3}]}
  - {id: heberge, label: Hébergé, when: 'situation_logement == "heberge_tiers"', points: 10}
rubrics: [{id: logement, label: Logement}]
priorities:
  - {id: p_sans_abri, label: Sans abri, legal_basis: L441-1 CCH, when: 'situation_logement == "sans_abri"',
     points: 20}
"""
    # precaire counts for heberge_tiers; the priority's sans_abri is also scored by criterion sans_abri
    assert codes(fine) == ["W404", "W404"]  # sans_abri and precaire both score it
    assert codes(fine.replace("points: 20}", "tier: 1}")) == []


def test_integer_bands_without_integer_between_are_no_gap() -> None:
    text = (
        "criteria:\n  - {id: e, label: E, value: nb_enfants,\n"
        "     bands: [{to: 2.5, points: 1}, {from: 3, points: 2}]}\n"
    )
    assert codes(text) == []  # no integer in [2.5, 3)
    assert codes(text.replace("from: 3,", "from: 3.5,")) == ["W405"]  # 3 falls in the gap


def test_unreachable_band_and_impossible_or() -> None:
    band = (
        "criteria:\n  - {id: e, label: E, value: nb_enfants,\n"
        "     bands: [{to: 3, points: 1}, {from: 50, points: 2}]}\n"
    )
    assert codes(band) == ["W403", "W405"]  # from 50 is never reached; 3 to 50 is a gap
    either = (
        "criteria:\n  - {id: x, label: X, points: 1,\n"
        "     when: 'nb_personnes >= 3 and (nb_enfants > 40 or nb_enfants < 0)'}\n"
    )
    assert codes(either) == ["W401"]


def test_rubric_tie_goes_to_the_first_declared() -> None:
    rubric = """\
criteria:
  - {id: a, label: A, when: dalo, points: 5, rubric: r}
  - {id: b, label: B, when: dalo and violences_couple, points: 5, rubric: r}
rubrics: [{id: r, label: R}]
"""
    assert codes(rubric) == ["W402"]  # b is met only with a, and a wins the tie
    swapped = rubric.replace("points: 5, rubric: r}\n  - {id: b", "points: 4, rubric: r}\n  - {id: b")
    assert codes(swapped) == []  # b gives more: it counts


def test_shipped_grids() -> None:
    """toulouse-like has no warning; exemple-metropole has one on purpose: its pair criterion
    effort_logement gives nothing between a taux d'effort of 33 % and 40 % (a neutral zone)."""
    assert lint(load_grid(ROOT / "grids" / "toulouse-like.yaml")) == ()
    warnings = lint(load_grid(ROOT / "grids" / "exemple-metropole.yaml"))
    assert [(w.code, w.criterion) for w in warnings] == [("W405", "effort_logement")]


def test_check_prints_warnings_and_strict_fails(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "W401.yaml"
    assert cli.main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "1 warning(s)" in out and "warning[W401]" in err
    assert cli.main(["check", "--strict", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "error[W401]" in err and "Traceback" not in err
    assert cli.main(["check", "--json", str(path)]) == 0
    assert [w["code"] for w in json.loads(capsys.readouterr().out)["warnings"]] == ["W401"]
    assert cli.main(["check", "--strict", str(ROOT / "grids" / "toulouse-like.yaml")]) == 0

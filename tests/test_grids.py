"""The shipped grids: they load, their YAML test cases pass, and they behave plausibly on a stock.

Each ``grids/*.tests.yaml`` is checked twice: through :func:`cotation.testcases.run_cases`, and
by a short independent loop here (``Batch.from_rows`` + ``api.score``, one application at a
time), so that a bug in the runner cannot hide a wrong grid, nor the reverse.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from cotation import api
from cotation.data.batch import Batch
from cotation.data.generate import generate_applications
from cotation.grid import ir

GRIDS = Path(__file__).resolve().parent.parent / "grids"
CASE_FILES = sorted(GRIDS.glob("*.tests.yaml"))
GRID_FILES = sorted(p for p in GRIDS.glob("*.yaml") if not p.name.endswith(".tests.yaml"))
EXAMPLE = GRIDS / "exemple-metropole.yaml"
POOL = GRIDS / "publics-prioritaires.yaml"

#: Criteria of the example grid that are meant to be met by all or by none of a generated stock.
ALWAYS_MET = {"anciennete"}  # no condition: seniority counts for everyone
NEVER_MET = {"accompagnement_social"}  # reads a local field the generator does not know


def _read(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _is_pool(path: Path) -> bool:
    return _read(path).get("kind") == "pool"


# -- every grid loads ------------------------------------------------------------------------
@pytest.mark.parametrize("path", [p for p in GRID_FILES if not _is_pool(p)], ids=lambda p: p.name)
def test_grid_loads(path: Path) -> None:
    grid = api.load_grid(path)
    assert grid.meta.id == path.stem
    assert grid.meta.legal_reference


@pytest.mark.parametrize("path", [p for p in GRID_FILES if not _is_pool(p)], ids=lambda p: p.name)
def test_every_grid_has_test_cases(path: Path) -> None:
    assert path.with_suffix(".tests.yaml").exists(), f"write {path.stem}.tests.yaml next to {path.name}"


# -- test cases, through the runner ------------------------------------------------------------
@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.name)
def test_cases_with_runner(path: Path) -> None:
    testcases = pytest.importorskip("cotation.testcases")
    report = testcases.run_cases(path)
    assert report.passed, testcases.format_report(report)


# -- test cases, evaluated independently of the runner ------------------------------------------
def _cases(path: Path) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    spec = _read(path)
    defaults = spec.get("defaults") or {}
    out = []
    for n, case in enumerate(spec["cases"], start=1):
        row = {"numero_unique": f"case-{n}", **defaults, **(case.get("application") or {})}
        out.append((case["name"], row, case["expect"]))
    return out


def _differences(scores: Any, expect: dict[str, Any]) -> list[str]:
    columns = [c.id for c in scores.columns]
    out = []
    for column, want in (expect.get("points") or {}).items():
        got = int(scores.breakdown[0, columns.index(column)])
        if got != want:
            out.append(f"points[{column}]: expected {want}, got {got}")
    if "flags" in expect:
        raised = {f for k, f in enumerate(scores.flag_ids) if scores.flags[0, k]}
        if raised != set(expect["flags"]):
            out.append(f"flags: expected {sorted(expect['flags'])}, got {sorted(raised)}")
    for key, values in (("tier", scores.tier), ("total", scores.total)):
        if key in expect and int(values[0]) != expect[key]:
            out.append(f"{key}: expected {expect[key]}, got {int(values[0])}")
    return out


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.name)
def test_cases_independently(path: Path) -> None:
    spec = _read(path)
    grid = api.load_grid(path.parent / spec["grid"])
    day = spec["date_calcul"]
    assert isinstance(day, datetime.date)
    failures = []
    for name, row, expect in _cases(path):
        batch = Batch.from_rows([row], grid.catalogue, date_calcul=day)
        problems = _differences(api.score(grid, batch, day), expect)
        failures += [f"{name}: {p}" for p in problems]
    assert not failures, "\n".join(failures)


# -- the example grid uses every feature of the format -------------------------------------------
@pytest.fixture(scope="module")
def example() -> ir.Grid:
    return api.load_grid(EXAMPLE)


def test_example_uses_every_feature(example: ir.Grid) -> None:
    spec = _read(EXAMPLE)
    rules = {type(c.rule) for c in example.criteria}
    assert rules == {ir.Fixed, ir.PerUnit, ir.Bands}
    rules_of = [c.rule for c in example.criteria]
    assert any(isinstance(r, ir.Fixed) and not isinstance(r.points, ir.Const) for r in rules_of)
    assert any(isinstance(c.rule, ir.PerUnit) and c.rule.unit != 1 for c in example.criteria)
    assert any(c.max is not None for c in example.criteria)
    assert any(c.min is not None for c in example.criteria)
    assert any("valid_for" in c for c in spec["criteria"])
    assert any(c.justificatif for c in example.criteria)
    assert example.rubrics and example.groups and all(g.max is not None for g in example.groups)
    assert any(p.points and p.tier for p in example.priorities)
    assert spec["include"] and spec["fields"] and spec["tie_break"]
    assert any(isinstance(v, dict) and v.get("label") for v in spec["variables"].values())
    assert any(isinstance(v, str) for v in spec["variables"].values())
    assert {"effective_from", "effective_until", "legal_reference", "version", "territory"} <= set(spec)
    assert any(f.local for f in example.catalogue)


def test_example_cases_cover_every_criterion(example: ir.Grid) -> None:
    covered: set[str] = set()
    for _, _, expect in _cases(GRIDS / "exemple-metropole.tests.yaml"):
        covered |= {k for k, v in (expect.get("points") or {}).items() if v != 0}
    missing = [c.id for c in example.columns if c.id not in covered]
    assert not missing, f"no test case gives points to: {missing}"


def test_example_distribution_is_plausible(example: ir.Grid) -> None:
    day = datetime.date(2026, 1, 1)
    batch = generate_applications(20_000, seed=7, date_calcul=day, catalogue=example.catalogue)
    scores = api.score(example, batch, day)
    share = {c.id: float(scores.met[:, j].mean()) for j, c in enumerate(example.criteria)}
    assert {c for c, s in share.items() if s == 1.0} == ALWAYS_MET
    assert {c for c, s in share.items() if s == 0.0} == NEVER_MET
    for k, flag in enumerate(scores.flag_ids):
        assert 0 < scores.flags[:, k].mean() < 0.5, flag
    tiers = np.bincount(scores.tier, minlength=3)
    assert tiers[0] > tiers[1] > tiers[2] > 0
    assert 0 < np.median(scores.total) < 150


# -- the pool of priority publics -----------------------------------------------------------------
def test_pool_declares_every_statutory_public(example: ir.Grid) -> None:
    pool = _read(POOL)
    assert pool["kind"] == "pool" and pool["id"] and pool["title"] and pool["legal_reference"]
    ids = [p["id"] for p in pool["priorities"]]
    assert len(ids) == 15  # DALO + the 14 publics of L441-1 listed in the domain notes
    by_id = {p.id: p for p in example.priorities}
    for raw in pool["priorities"]:
        p = by_id[raw["id"]]
        assert p.id.startswith("prio_")
        assert p.points is None, f"{p.id}: a pool gives no points (points are a grid's choice)"
        assert p.legal_basis and p.label
        if p.id == "prio_dalo":
            assert (p.tier, p.legal_basis) == (2, "L441-2-3 CCH")
        else:
            assert (p.tier, p.legal_basis, bool(p.letter)) == (1, "L441-1 CCH", True)


def test_pool_cannot_be_scored_alone() -> None:
    from cotation.errors import GridError

    with pytest.raises(GridError, match="pool"):
        api.load_grid(POOL)

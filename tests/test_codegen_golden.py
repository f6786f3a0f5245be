"""Golden files of the generated kernel source for the shipped grids.

A change to the code generator shows up here as a readable diff of generated Python. After checking
the diff, regenerate with ``COTATION_UPDATE_GOLDEN=1 pytest tests/test_codegen_golden.py``.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from cotation.api import load_grid, parse_grid
from cotation.codegen.pair_source import generate_pair_source
from cotation.codegen.score_source import generate_source

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden" / "kernels"
EXAMPLE = ROOT / "grids" / "exemple-metropole.yaml"
GRIDS = sorted(
    p
    for p in (ROOT / "grids").glob("*.yaml")
    if not p.name.endswith(".tests.yaml") and "kind: pool" not in p.read_text(encoding="utf-8")
)


def _generated(path: Path) -> str:
    text = generate_source(load_grid(path)).text
    return text.replace(str(ROOT) + os.sep, "")  # no machine-specific paths in golden files


@pytest.mark.parametrize("path", GRIDS, ids=lambda p: p.stem)
def test_generated_source_matches_golden(path: Path) -> None:
    golden = GOLDEN / f"{path.stem}.py.txt"
    text = _generated(path)
    if os.environ.get("COTATION_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    expected = golden.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(expected.splitlines(True), text.splitlines(True), "golden", "generated")
    )
    assert text == expected, f"generated source changed (COTATION_UPDATE_GOLDEN=1 to accept):\n{diff[:4000]}"


def test_generated_source_is_valid_python_and_names_every_criterion() -> None:
    for path in GRIDS:
        grid = load_grid(path)
        text = _generated(path)
        compile(text, path.name, "exec")
        assert grid.content_hash not in text  # the source depends on the grid's structure only
        for criterion in grid.criteria:
            assert criterion.id in text


def test_point_values_are_parameters_not_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """A grid author trying other points gets the same source (hence the cached kernel); the values
    travel in KernelSource.parameters. A change of condition changes the source."""
    monkeypatch.chdir(EXAMPLE.parent)  # includes resolve from the current directory
    text = EXAMPLE.read_text(encoding="utf-8")
    base = generate_source(parse_grid(text, str(EXAMPLE)))
    assert "points: 17" in text and "points: 50" in text and "max: 120" in text
    edited = generate_source(
        parse_grid(
            text.replace("points: 17", "points: 18", 1).replace("max: 120", "max: 100", 1), str(EXAMPLE)
        )
    )
    assert edited.text == base.text
    assert edited.grid_hash != base.grid_hash
    changed = [
        (name, a, b)
        for name, a, b in zip(base.parameter_names, base.parameters, edited.parameters, strict=True)
        if a != b
    ]
    assert changed == [
        ("max of criterion [0] anciennete", 120, 100),
        ("points of criterion [4] sans_abri", 17, 18),
    ]
    other = generate_source(
        parse_grid(text.replace('{"sans_abri", "squat"}', '{"sans_abri"}', 1), str(EXAMPLE))
    )
    assert other.text != base.text


PAIR_GRIDS = [p for p in GRIDS if load_grid(p).match is not None]


@pytest.mark.parametrize("path", PAIR_GRIDS, ids=lambda p: p.stem)
def test_pair_source_matches_golden(path: Path) -> None:
    golden = GOLDEN / f"{path.stem}.pairs.py.txt"
    text = generate_pair_source(load_grid(path)).text
    if os.environ.get("COTATION_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    expected = golden.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(expected.splitlines(True), text.splitlines(True), "golden", "generated")
    )
    assert text == expected, (
        f"generated pair source changed (COTATION_UPDATE_GOLDEN=1 to accept):\n{diff[:4000]}"
    )
    compile(text, path.name, "exec")


def test_a_variant_with_other_points_shares_the_pair_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pair kernel reads the applications' totals, not the scoring criteria's points: a grid
    variant that changes only those (an experimentation sweep) reuses its module and machine code."""
    monkeypatch.chdir(EXAMPLE.parent)  # includes resolve from the current directory
    text = EXAMPLE.read_text(encoding="utf-8")
    base = generate_pair_source(parse_grid(text, str(EXAMPLE))).text
    variant = text.replace("    points: 50", "    points: 60", 1)
    assert variant != text
    other = generate_pair_source(parse_grid(variant, str(EXAMPLE)))
    assert other.text == base

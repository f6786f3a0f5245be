"""The grid cache: a grid loaded once is not checked again while its files are unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cotation.api import load_grid, parse_grid
from cotation.errors import CotationWarning, GridError
from cotation.grid import cache as gridcache
from cotation.grid.catalogue import default_catalogue

ROOT = Path(__file__).resolve().parent.parent
MAIN = """id: essai-cache
title: Essai du cache
include: [publics.yaml]
criteria:
  - {id: dalo, label: DALO, when: dalo, points: 50}
"""
PUBLICS = """id: publics
title: Publics
criteria:
  - {id: handicap, label: Handicap, when: handicap_menage, points: %d}
"""


@pytest.fixture
def grid_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COTATION_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "grille.yaml").write_text(MAIN, encoding="utf-8")
    (tmp_path / "publics.yaml").write_text(PUBLICS % 10, encoding="utf-8")
    return tmp_path


def entries(grid_dir: Path) -> list[Path]:
    return sorted((grid_dir / "cache" / "grids").glob("*.grid"))


def points(grid: object) -> dict[str, int]:
    return {c.id: c.rule.points.value for c in grid.criteria}  # type: ignore[attr-defined]


def test_second_load_comes_from_the_cache(grid_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_grid(grid_dir / "grille.yaml")
    (entry,) = entries(grid_dir)
    import cotation.grid.check

    def fail(*args: object) -> None:
        raise AssertionError("checked again")

    monkeypatch.setattr(cotation.grid.check, "check_grid", fail)
    second = load_grid(grid_dir / "grille.yaml")
    assert second == first and second is not first and second.content_hash == first.content_hash
    assert entries(grid_dir) == [entry]


def test_a_changed_include_is_loaded_again(grid_dir: Path) -> None:
    assert points(load_grid(grid_dir / "grille.yaml")) == {"handicap": 10, "dalo": 50}
    (grid_dir / "publics.yaml").write_text(PUBLICS % 12, encoding="utf-8")
    assert points(load_grid(grid_dir / "grille.yaml")) == {"handicap": 12, "dalo": 50}
    (grid_dir / "publics.yaml").unlink()
    with pytest.raises(GridError, match="E104"):
        load_grid(grid_dir / "grille.yaml")


def test_a_damaged_entry_is_ignored_and_replaced(grid_dir: Path) -> None:
    first = load_grid(grid_dir / "grille.yaml")
    (entry,) = entries(grid_dir)
    data = entry.read_bytes()
    for damaged in (data[: len(data) // 2], b"", data[:10], b"x" + data[1:]):
        entry.write_bytes(damaged)
        with pytest.warns(CotationWarning, match=r"W450.*cache folder .*grids"):
            assert load_grid(grid_dir / "grille.yaml") == first
        assert entry.read_bytes() == data


def test_errors_and_other_catalogues_are_not_kept(grid_dir: Path) -> None:
    bad = grid_dir / "faux.yaml"
    bad.write_text("id: faux\ntitle: Faux\ncriteria:\n  - {id: x, label: X, when: dalo_, points: 1}\n")
    for _ in range(2):
        with pytest.raises(GridError, match="E202"):
            load_grid(bad)
    load_grid(grid_dir / "grille.yaml", default_catalogue())
    parse_grid(MAIN.replace("include: [publics.yaml]\n", ""), "g.yaml", default_catalogue())
    assert entries(grid_dir) == []


def test_text_grids_are_kept_by_text_name_and_directory(
    grid_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(grid_dir)
    a = parse_grid(MAIN, "grille.yaml")
    assert parse_grid(MAIN, "grille.yaml") == a and len(entries(grid_dir)) == 1
    parse_grid(MAIN, "autre.yaml")  # spans name the file
    assert len(entries(grid_dir)) == 2
    (grid_dir / "publics.yaml").write_text(PUBLICS % 12, encoding="utf-8")
    assert points(parse_grid(MAIN, "grille.yaml"))["handicap"] == 12


def test_the_key_covers_the_package(grid_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = gridcache.file_key(grid_dir / "grille.yaml")
    assert key == gridcache.file_key(str(grid_dir / "grille.yaml"))
    monkeypatch.setattr(gridcache, "_package_digest", lambda: "another version")
    assert gridcache.file_key(grid_dir / "grille.yaml") != key


def test_a_new_process_loads_without_the_checker(grid_dir: Path) -> None:
    """The point of the cache: a warm start imports neither pydantic nor the loader and checker."""
    load_grid(grid_dir / "grille.yaml")
    code = (
        "import json, sys; from cotation import load_grid; g = load_grid(sys.argv[1]); "
        "print(json.dumps([g.meta.id, sorted(m for m in ('pydantic', 'yaml', 'cotation.grid.check', "
        "'cotation.grid.loader') if m in sys.modules)]))"
    )
    env = {**os.environ, "COTATION_CACHE_DIR": str(grid_dir / "cache")}
    out = subprocess.run(
        [sys.executable, "-c", code, str(grid_dir / "grille.yaml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == ["essai-cache", []]

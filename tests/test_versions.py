"""Dated grids: the version in force on date_calcul (a file, or a folder of versions), D113/D114,
--force-version stamped on the outputs; the stamp's digest over catalogue and ceiling tables."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cotation import cli
from cotation.api import load_grid, parse_grid, score
from cotation.data.generate import generate_applications
from cotation.errors import DataError
from cotation.grid.versions import grid_in_force
from cotation.scoring.scores import tables_digest_of

GRID = """\
id: metropole
title: Métropole
version: "{version}"
effective_from: {start}
{until}criteria:
  - {{id: dalo, label: DALO, when: dalo, points: {points}}}
"""


def write(folder: Path, name: str, version: str, start: str, points: int, until: str | None = None) -> Path:
    path = folder / name
    end = f"effective_until: {until}\n" if until else ""
    path.write_text(GRID.format(version=version, start=start, until=end, points=points), encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    versions = tmp_path / "grilles"
    versions.mkdir()
    write(versions, "v2025.yaml", "2025.1", "2025-01-01", 10)
    write(versions, "v2026.yaml", "2026.1", "2026-01-01", 20, until="2026-12-31")
    (versions / "v2026.tests.yaml").write_text("cases: []\n", encoding="utf-8")  # skipped
    (versions / "commun.yaml").write_text("kind: pool\n", encoding="utf-8")  # skipped
    return versions


def day(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)


def test_the_version_in_force_is_chosen(folder: Path) -> None:
    assert grid_in_force(folder, day("2025-12-31"), load_grid).meta.version == "2025.1"  # until the next
    assert grid_in_force(folder, day("2026-01-01"), load_grid).meta.version == "2026.1"
    assert grid_in_force(folder, day("2026-12-31"), load_grid).meta.version == "2026.1"


def test_outside_every_version_names_them(folder: Path) -> None:
    with pytest.raises(DataError) as info:
        grid_in_force(folder, day("2027-01-01"), load_grid)
    text = info.value.render()
    assert (
        "D113" in text
        and "2025.1 (2025-01-01 to 2025-12-31" in text
        and "2026.1 (2026-01-01 to 2026-12-31" in text
    )
    assert "--force-version" in text
    with pytest.raises(DataError, match="D113"):
        grid_in_force(folder, day("2024-12-31"), load_grid)
    forced = grid_in_force(folder, day("2027-01-01"), load_grid, force=True)
    assert forced.meta.version == "2026.1" and forced.meta.out_of_force


def test_overlapping_versions_are_d114(folder: Path) -> None:
    write(folder, "v2025.yaml", "2025.1", "2025-01-01", 10, until="2026-06-30")
    with pytest.raises(DataError, match="D114"):
        grid_in_force(folder, day("2026-03-01"), load_grid)


def test_a_single_file_is_checked_too(folder: Path) -> None:
    path = folder / "v2026.yaml"
    assert grid_in_force(path, day("2026-06-01"), load_grid).meta.version == "2026.1"
    with pytest.raises(DataError, match="D113"):
        grid_in_force(path, day("2027-06-01"), load_grid)


def test_cli_scores_with_the_version_in_force_and_stamps_a_forced_one(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "demandes.csv"
    assert cli.main(["generate", "-n", "20", "--date", "2025-02-01", "-o", str(data)]) == 0
    out = tmp_path / "scores.parquet"
    assert cli.main(["score", str(folder), str(data), "--date", "2025-06-01", "-o", str(out)]) == 0
    meta = pq.read_table(out).schema.metadata
    assert (meta[b"grid_version"], meta[b"out_of_force"]) == (b"2025.1", b"false")
    capsys.readouterr()
    assert cli.main(["score", str(folder), str(data), "--date", "2027-06-01"]) == 1
    assert "D113" in capsys.readouterr().err
    assert (
        cli.main(["score", str(folder), str(data), "--date", "2027-06-01", "--force-version", "-o", str(out)])
        == 0
    )
    assert "not in force" in capsys.readouterr().err
    meta = pq.read_table(out).schema.metadata
    assert (meta[b"grid_version"], meta[b"out_of_force"]) == (b"2026.1", b"true")


def test_stamp_digest_covers_catalogue_and_ceilings(monkeypatch: pytest.MonkeyPatch) -> None:
    grid = parse_grid(GRID.format(version="1", start="2026-01-01", until="", points=5), "g.yaml")
    batch = generate_applications(5, catalogue=grid.catalogue)
    scores = score(grid, batch, day("2026-01-01"))
    assert scores.tables_digest == tables_digest_of(grid) and len(scores.tables_digest) == 64
    assert scores.tables_digest != scores.grid_hash
    field = grid.catalogue.fields[3]
    other = dataclasses.replace(
        grid,
        catalogue=type(grid.catalogue)(
            (*grid.catalogue.fields[:3], dataclasses.replace(field, label="x"), *grid.catalogue.fields[4:])
        ),
    )
    assert other.content_hash == grid.content_hash and tables_digest_of(other) != tables_digest_of(grid)
    import cotation.data.ceilings as ceilings

    monkeypatch.setattr(ceilings, "tables_digest", lambda: "0" * 64)
    assert tables_digest_of(grid) != scores.tables_digest  # other ceilings, other stamp, same grid hash

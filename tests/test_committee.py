"""The committee view shows the candidates that ``rank`` gives: same ``-k``, same ``--assignment``,
for every dwelling of a generated batch (the CLI run in-process, as a committee secretary would)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cotation import cli
from cotation.api import load_grid
from cotation.data.batch import write_applications
from cotation.data.generate import generate_applications, generate_dwellings

ROOT = Path(__file__).resolve().parents[1]
GRID = ROOT / "grids" / "exemple-metropole.yaml"
DATE = ["--date", "2026-01-01"]
DWELLINGS = 8


@pytest.fixture(scope="module")
def batch_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("comite")
    grid = load_grid(GRID)
    data, dws = folder / "demandes.parquet", folder / "logements.csv"
    write_applications(generate_applications(400, seed=5, catalogue=grid.catalogue), data)
    write_applications(generate_dwellings(DWELLINGS, seed=5), dws)
    return data, dws, folder


def _dwelling_ids(path: Path) -> list[str]:
    return [line.split(",")[0].strip('"') for line in path.read_text(encoding="utf-8").splitlines()[1:]]


def _run(capsys, *argv) -> str:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def _ranked(capsys, data, dws, out: Path, *options: str) -> dict[str, list[str]]:
    _run(capsys, "rank", GRID, data, dws, *options, "-o", out, *DATE)
    table = pq.read_table(out).to_pylist()
    ranked: dict[str, list[str]] = {}
    for row in table:
        ranked.setdefault(row["logement"], [])
        if row["numero_unique"] is not None:
            ranked[row["logement"]].append(row["numero_unique"])
    return ranked


@pytest.mark.parametrize(
    "options", [("-k", "3", "--assignment", "given"), ("-k", "2", "--assignment", "best"), ("-k", "3")]
)
def test_committee_view_shows_the_ranking_s_candidates(batch_files, capsys, options) -> None:
    data, dws, folder = batch_files
    ranked = _ranked(capsys, data, dws, folder / "rang.parquet", *options)
    dwellings = _dwelling_ids(dws)
    assert len(dwellings) == DWELLINGS
    k = int(options[1])
    for dwelling in dwellings:
        out = _run(
            capsys,
            "explain",
            GRID,
            data,
            "--logement",
            dwelling,
            "--logements",
            dws,
            *options,
            "--format",
            "json",
            *DATE,
        )
        view = json.loads(out)
        assert view["candidats"] == ranked.get(dwelling, []), dwelling
        assert view["k"] == k and view["assignment"] == (options[3] if len(options) > 2 else None)


def test_assignment_changes_the_committee_view(batch_files, capsys) -> None:
    """With a batch assignment an application is proposed once: the views of two dwellings never
    share a candidate, which the independent views do when demands are alike."""
    data, dws, _ = batch_files
    dwellings = _dwelling_ids(dws)
    seen: list[str] = []
    for dwelling in dwellings:
        out = _run(
            capsys,
            "explain",
            GRID,
            data,
            "--logement",
            dwelling,
            "--logements",
            dws,
            "--assignment",
            "given",
            "--format",
            "json",
            *DATE,
        )
        seen += json.loads(out)["candidats"]
    assert len(seen) == len(set(seen))
    text = _run(
        capsys,
        "explain",
        GRID,
        data,
        "--logement",
        dwellings[0],
        "--logements",
        dws,
        "--assignment",
        "given",
        *DATE,
    )
    assert text.rstrip().endswith("3 candidats au plus, attribution groupée (given)")

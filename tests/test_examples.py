"""Every script of examples/ runs, as a user would run it, and writes what it says it writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_there_are_examples() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == [
        "experiment.py",
        "gestion_en_flux.py",
        "score_and_rank.py",
    ]


@pytest.mark.parametrize("script", [EXAMPLES / "score_and_rank.py"], ids=lambda p: p.stem)
def test_example_runs(script: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2000 demandes cotées, grille exemple-metropole version 2026.1, au 2026-01-01" in done.stdout
    assert "Total : " in done.stdout and done.stdout.count("logement L00000") == 5
    meta = pq.read_schema(tmp_path / "scores.parquet").metadata
    assert meta[b"grid_id"] == b"exemple-metropole" and meta[b"date_calcul"] == b"2026-01-01"
    assert {p.name for p in tmp_path.iterdir()} == {"demandes.csv", "logements.csv", "scores.parquet"}


def test_experiment_example_runs(tmp_path: Path) -> None:
    script = EXAMPLES / "experiment.py"
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Spearman " in done.stdout and "publics_prioritaires: " in done.stdout
    assert {p.name for p in tmp_path.iterdir()} == {"comparaison.html", "simulation.html"}
    assert "<svg" in (tmp_path / "comparaison.html").read_text(encoding="utf-8")


def test_gestion_en_flux_example_runs(tmp_path: Path) -> None:
    script = EXAMPLES / "gestion_en_flux.py"
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "prefet: " in done.stdout and "(flow share 30%)" in done.stdout and "bilan 2026: " in done.stdout
    assert {p.name for p in tmp_path.iterdir()} == {"simulation.html", "attributions.csv", "bilan.html"}
    assert "Bilan annuel des attributions 2026" in (tmp_path / "bilan.html").read_text(encoding="utf-8")

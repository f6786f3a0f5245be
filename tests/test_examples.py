"""Every script of examples/ runs, as a user would run it, and writes what it says it writes; the
grid authors' notebook runs headless (nbclient, ipykernel)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(script: str, out: Path) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / script), str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_there_are_examples() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == [
        "cal_preparation.py",
        "experiment.py",
        "gestion_en_flux.py",
        "it_integration.py",
        "score_and_rank.py",
    ]
    assert sorted(p.name for p in EXAMPLES.glob("*.ipynb")) == ["grid_authors.ipynb"]


def test_score_and_rank(tmp_path: Path) -> None:
    out = run("score_and_rank.py", tmp_path)
    assert "2000 demandes cotées, grille exemple-metropole version 2026.1, au 2026-01-01" in out
    assert "Total : " in out and out.count("logement L00000") == 5
    meta = pq.read_schema(tmp_path / "scores.parquet").metadata
    assert meta[b"grid_id"] == b"exemple-metropole" and meta[b"date_calcul"] == b"2026-01-01"
    assert {p.name for p in tmp_path.iterdir()} == {"demandes.csv", "logements.csv", "scores.parquet"}


def test_experiment_example_runs(tmp_path: Path) -> None:
    out = run("experiment.py", tmp_path)
    assert "Spearman " in out and "publics_prioritaires: " in out
    assert {p.name for p in tmp_path.iterdir()} == {"comparaison.html", "simulation.html"}
    assert "<svg" in (tmp_path / "comparaison.html").read_text(encoding="utf-8")


def test_gestion_en_flux_example_runs(tmp_path: Path) -> None:
    out = run("gestion_en_flux.py", tmp_path)
    assert "prefet: " in out and "(flow share 30%)" in out and "bilan 2026: " in out
    assert {p.name for p in tmp_path.iterdir()} == {"simulation.html", "attributions.csv", "bilan.html"}
    assert "Bilan annuel des attributions 2026" in (tmp_path / "bilan.html").read_text(encoding="utf-8")


def test_cal_preparation(tmp_path: Path) -> None:
    calamine = pytest.importorskip("python_calamine")
    out = run("cal_preparation.py", tmp_path)
    assert "1500 demandes lues (export_demandes.csv, cp1252), 4 fiches" in out
    export = (tmp_path / "export_demandes.csv").read_bytes()
    assert b";" in export.splitlines()[0] and not export.startswith(b"\xef\xbb\xbf")
    workbook = calamine.CalamineWorkbook.from_path(str(tmp_path / "cal.xlsx"))
    assert workbook.sheet_names == ["L000001", "L000002", "L000003", "L000004"]
    assert workbook.get_sheet_by_index(0).to_python()[0][:2] == ["type", "ligne"]
    stamp = json.loads((tmp_path / "cal.xlsx.meta.json").read_text(encoding="utf-8"))
    assert stamp["grid_id"] == "exemple-metropole" and stamp["date_calcul"] == "2026-01-01"
    page = (tmp_path / "cal_L000001.html").read_text(encoding="utf-8")
    assert "<html" in page and "L000001" in page


def test_it_integration(tmp_path: Path) -> None:
    out = run("it_integration.py", tmp_path)
    assert "300 demandes reçues : 299 cotées, 1 rejetée(s)" in out
    lines = [
        json.loads(line) for line in (tmp_path / "scores.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert lines[0]["stamp"]["input_sha256"].startswith("sha256:") and len(lines) == 300
    assert lines[1]["rank"] == 1 and lines[1]["numero_unique"].startswith("0")
    (reject,) = [
        json.loads(line) for line in (tmp_path / "rejets.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert reject["codes"] == "D102" and reject["colonnes"] == "nb_personnes"


def test_the_grid_authors_notebook_runs_headless() -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.read(EXAMPLES / "grid_authors.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(EXAMPLES)}}
    )
    client.execute()
    texts = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert "changent de rang" in texts and texts.rstrip().endswith("ok")

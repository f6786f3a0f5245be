"""The command line, run in-process through ``main([...])``."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pyarrow.parquet as pq
import pytest
import yaml

from cotation import cli

GRID = """\
id: essai
title: Grille d'essai
version: "1"
variables:
  anciennete_mois: months_between(date_depot, date_calcul)
criteria:
  - {id: anciennete, label: Ancienneté de la demande, value: anciennete_mois, per_unit: 1, max: 120}
  - {id: dalo, label: Ménage reconnu DALO, when: dalo, points: 50}
  - {id: sans_abri, label: Sans abri, when: 'situation_logement == "sans_abri"', points: 27, group: situation}
  - {id: violences, label: Violences conjugales, when: violences_couple, points: 10, group: situation}
groups: [{id: situation, label: Situation, max: 30}]
priorities:
  - {id: prio_dalo, label: Ménage reconnu DALO, legal_basis: "L441-2-3 CCH", when: dalo, tier: 2}
tie_break: [date_depot asc, numero_unique asc]
"""

HEADER = (
    "numero_unique,date_depot,nb_personnes,nb_adultes,date_naissance_demandeur,ressources_mensuelles,"
    "situation_logement,dalo,violences_couple\n"
)
DATA = (
    HEADER
    + """\
A,2024-01-01,1,1,1990-01-01,1200,sans_abri,true,true
B,2025-01-01,2,2,1985-03-01,2100.5,locataire_prive,false,false
C,2023-06-15,3,1,1979-12-31,900,heberge_tiers,,
"""
)
DATE = ["--date", "2026-01-01"]


@pytest.fixture
def files(tmp_path):
    grid, data = tmp_path / "essai.yaml", tmp_path / "demandes.csv"
    grid.write_text(GRID, encoding="utf-8")
    data.write_text(DATA, encoding="utf-8")
    return grid, data


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- check -----------------------------------------------------------------------------------------
def test_check_ok(files, capsys):
    code, out, err = run(capsys, "check", files[0])
    assert code == 0 and err == ""
    assert "ok, grid 'essai' version 1: 4 criteria, 1 priorities, 1 variables; hash" in out


def test_check_json(files, capsys):
    code, out, _ = run(capsys, "check", files[0], "--json")
    summary = json.loads(out)
    assert code == 0 and summary["ok"] and summary["criteria"] == 4 and len(summary["content_hash"]) == 64


def test_check_reports_every_error_with_location(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        GRID.replace("when: dalo, points: 50", "when: dallo, points: 50").replace(
            '"sans_abri"', '"sans_abrri"'
        ),
        encoding="utf-8",
    )
    code, out, err = run(capsys, "check", bad)
    assert code == 1 and out == ""
    assert f"{bad}:8:50:" in err and "error[E202]" in err and "did you mean 'dalo'" in err
    assert "error[E203]" in err and "2 errors in grid" in err
    assert "Traceback" not in err


def test_check_errors_as_json(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GRID.replace("when: dalo, points: 50", "when: dallo, points: 50"), encoding="utf-8")
    code, out, _ = run(capsys, "check", bad, "--json")
    errors = json.loads(out)
    assert code == 1 and errors[0]["code"] == "E202" and errors[0]["span"]["line"] == 8


# -- score -----------------------------------------------------------------------------------------
def breakdown_ids():
    return ["anciennete", "dalo", "sans_abri", "violences", "plafond_situation"]


def test_score_to_csv(files, tmp_path, capsys):
    out_path = tmp_path / "scores.csv"
    code, out, _ = run(capsys, "score", *files, *DATE, "-o", out_path)
    assert code == 0 and "wrote 3 rows" in out
    with open(out_path, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["numero_unique", "total", "tier", "rank", "flags", *breakdown_ids()]
    assert [r["numero_unique"] for r in rows] == ["A", "C", "B"]  # best first
    for r in rows:
        assert int(r["total"]) == sum(int(r[c]) for c in breakdown_ids())
    assert rows[0]["flags"] == "prio_dalo" and rows[0]["plafond_situation"] == "-7"


def test_score_to_parquet(files, tmp_path, capsys):
    out_path = tmp_path / "scores.parquet"
    code, _, _ = run(capsys, "score", *files, *DATE, "-o", out_path)
    table = pq.read_table(out_path)
    data = table.to_pydict()
    assert code == 0 and table.num_rows == 3 and data["rank"] == [1, 2, 3]
    for i in range(3):
        assert data["total"][i] == sum(data[c][i] for c in breakdown_ids())
    meta = table.schema.metadata
    assert meta[b"grid_id"] == b"essai" and meta[b"date_calcul"] == b"2026-01-01"


def test_score_prints_table_and_summary(files, capsys):
    code, out, _ = run(capsys, "score", *files, *DATE)
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["rank", "numero_unique", "total", "tier", "flags", *breakdown_ids()]
    assert lines[2].split()[:5] == ["1", "A", "104", "2", "prio_dalo"]
    assert lines[-1].startswith("3 applications") and "median" in lines[-1]
    assert "33.3 % with a priority flag" in lines[-1]


def test_score_bad_data_exits_1_without_traceback(files, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "A,2024-01-01,0,1,1990-01-01,12OO,sans_abrri,true,\n", encoding="utf-8")
    code, out, err = run(capsys, "score", files[0], bad, *DATE)
    assert code == 1 and out == ""
    assert "error[D103]" in err and "error[D102]" in err and "error[D104]" in err and "Traceback" not in err


def test_score_missing_file(files, tmp_path, capsys):
    code, _, err = run(capsys, "score", files[0], tmp_path / "absent.csv", *DATE)
    assert code == 1 and "D108" in err and "file not found" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["score", "g.yaml", "d.csv", "--date", "2026-13-01"],
        ["score", "g.yaml", "d.csv", "-o", "out.ods"],
        ["score", "g.yaml"],
        ["frobnicate"],
        ["generate", "-n", "-5", "-o", "x.csv"],
    ],
)
def test_usage_errors_exit_2(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2 and "usage:" in err


def test_help_documents_exit_codes(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "exit codes:" in out and "internal error" in out


def test_internal_error_exit_3(files, capsys, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(cli.api, "score", boom)
    monkeypatch.delenv("COTATION_DEBUG", raising=False)
    code, _, err = run(capsys, "score", *files, *DATE)
    assert code == 3 and "internal error: RuntimeError: kaboom" in err and "report" in err
    assert "Traceback" not in err
    monkeypatch.setenv("COTATION_DEBUG", "1")
    code, _, err = run(capsys, "score", *files, *DATE)
    assert code == 3 and "Traceback" in err


# -- explain ---------------------------------------------------------------------------------------
def test_explain_text(files, capsys):
    code, out, _ = run(capsys, "explain", *files, *DATE, "--id", "A")
    assert code == 0
    assert out.splitlines()[0] == "Demande A — 104 points (rang 1 sur 3)"
    assert "Plafond du groupe « Situation » : \u22127 points" in out
    assert "Public prioritaire : Ménage reconnu DALO (L441-2-3 CCH)" in out


def test_explain_json(files, capsys):
    code, out, _ = run(capsys, "explain", *files, *DATE, "--id", "B", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["numero_unique"] == "B" and data["rank"] == 3 and data["total"] == 12
    assert [c["id"] for c in data["criteria"]] == ["anciennete", "dalo", "sans_abri", "violences"]


def test_explain_unknown_id(files, capsys):
    code, out, err = run(capsys, "explain", *files, *DATE, "--id", "Z")
    assert code == 1 and out == ""
    assert "no application with numero_unique 'Z'" in err and "Traceback" not in err


# -- generate, test, schema ------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_generate(tmp_path, capsys, suffix):
    out_path = tmp_path / f"demandes{suffix}"
    code, out, _ = run(capsys, "generate", "-n", "50", "--seed", "3", *DATE, "-o", out_path)
    assert code == 0 and "wrote 50 applications" in out
    from cotation.data.batch import read_applications

    assert len(read_applications(out_path)) == 50


def test_generate_then_score(files, tmp_path, capsys):
    data = tmp_path / "gen.parquet"
    assert run(capsys, "generate", "-n", "200", *DATE, "-o", data)[0] == 0
    code, out, _ = run(capsys, "score", files[0], data, *DATE)
    assert code == 0 and "200 applications" in out


CASES = """\
grid: essai.yaml
date_calcul: 2026-01-01
defaults: {date_depot: 2024-01-01, nb_personnes: 1, nb_adultes: 1, date_naissance_demandeur: 1990-01-01,
           ressources_mensuelles: 1000, situation_logement: locataire_prive}
cases:
  - name: Ménage DALO sans abri
    application: {dalo: true, situation_logement: sans_abri}
    expect: {points: {dalo: 50, sans_abri: 27}, flags: [prio_dalo], tier: 2, total: 101}
"""


def test_test_command_passing(files, capsys):
    cases = files[0].parent / "ok.tests.yaml"
    cases.write_text(CASES, encoding="utf-8")
    code, out, _ = run(capsys, "test", cases)
    assert code == 0 and "✓ Ménage DALO sans abri" in out and out.splitlines()[-1] == "1 passed, 0 failed"


def test_test_command_failing(files, capsys):
    ok = files[0].parent / "ok.tests.yaml"
    ok.write_text(CASES, encoding="utf-8")
    bad = files[0].parent / "bad.tests.yaml"
    bad.write_text(CASES.replace("dalo: 50", "dalo: 40"), encoding="utf-8")
    code, out, _ = run(capsys, "test", ok, bad)
    assert code == 1
    assert "✗ Ménage DALO sans abri  (ligne 6)\n    points[dalo]: attendu 40, obtenu 50" in out
    assert out.splitlines()[-1] == "total: 1 passed, 1 failed"


def test_test_command_malformed_file(files, capsys):
    bad = files[0].parent / "bad.tests.yaml"
    bad.write_text(CASES.replace("flags: [prio_dalo]", "flags: [prio_dallo]"), encoding="utf-8")
    code, _, err = run(capsys, "test", bad)
    assert code == 1 and "unknown priority 'prio_dallo'" in err and "Traceback" not in err


def test_schema_validates_a_grid(files, tmp_path, capsys):
    code, out, _ = run(capsys, "schema")
    schema = json.loads(out)
    assert code == 0
    jsonschema.validate(yaml.safe_load(GRID), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**yaml.safe_load(GRID), "criteriaa": []}, schema)
    target = tmp_path / "schema.json"
    assert run(capsys, "schema", "-o", target)[0] == 0
    assert json.loads(target.read_text(encoding="utf-8")) == schema


# -- demo ------------------------------------------------------------------------------------------
def test_demo_with_a_grid_of_ours(files, tmp_path, capsys):
    code, out, _ = run(capsys, "demo", "--n", "300", "--grid", files[0], "--out", tmp_path / "demo")
    assert code == 0
    assert (tmp_path / "demo" / "demandes.parquet").is_file() and (tmp_path / "demo" / "scores.csv").is_file()
    assert out.count("Demande ") == 3 and "timings:" in out and "rang 1 sur 300" in out


def test_demo_missing_grid(tmp_path, capsys):
    code, _, err = run(capsys, "demo", "--grid", tmp_path / "absent.yaml", "--out", tmp_path)
    assert code == 1 and "grid not found" in err


def test_demo_with_the_shipped_grid(tmp_path, capsys):
    code, out, _ = run(capsys, "demo", "--n", "500", "--out", tmp_path)
    assert code == 0 and "exemple-metropole" in out and out.count("Demande ") == 3
    assert "the auto and reference engines agree" in out and "L000001" in out
    assert (tmp_path / "logements.csv").is_file()


def test_the_demo_grid_is_in_the_package_and_is_the_repository_s() -> None:
    """``cotation demo`` runs from an installed wheel: its grid (and the pool it includes) are files of
    the package, the repository's own grids/ (linked in a clone, copied into the wheel), and the
    package-data globs of pyproject.toml take every resource file."""
    import fnmatch
    import tomllib

    package = Path(cli.__file__).resolve().parent
    repository = package.parent / "grids"
    assert cli.EXAMPLE_GRID.parent == package / "resources" / "grids"
    for path in sorted((package / "resources" / "grids").iterdir()):
        assert path.read_bytes() == (repository / path.name).read_bytes(), path.name
    config = tomllib.loads((package.parent / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["cotation"]
    shipped = [p.relative_to(package).as_posix() for p in (package / "resources").rglob("*") if p.is_file()]
    assert shipped and all(any(fnmatch.fnmatch(s, g) for g in globs) for s in shipped)
    assert any(fnmatch.fnmatch("py.typed", g) for g in globs)


def test_python_dash_m(files):
    done = subprocess.run(
        [sys.executable, "-m", "cotation", "check", str(files[0])],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
    )
    assert done.returncode == 0 and "ok, grid 'essai'" in done.stdout


def test_the_program_writes_everything_before_its_quick_exit(files, tmp_path):
    """`cotation` (cli.command) freezes the garbage collector once the command is done: its printed
    table and written file are complete, its exit code is the command's, and main() (what a calling
    program runs) leaves the collector alone."""
    out_path = tmp_path / "scores.parquet"
    argv = ["score", *map(str, files), *DATE]
    root = Path(__file__).resolve().parent.parent
    printed = subprocess.run(
        [sys.executable, "-m", "cotation", *argv], capture_output=True, text=True, cwd=root
    )
    written = subprocess.run(
        [sys.executable, "-m", "cotation", *argv, "-o", str(out_path)],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert printed.returncode == 0 and written.returncode == 0, printed.stderr + written.stderr
    in_process = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import gc; from cotation import cli; print(cli.main({argv!r}), gc.isenabled())",
        ],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert in_process.stdout.splitlines()[-1] == "0 True"  # main() does not touch the collector
    assert printed.stdout == "\n".join(in_process.stdout.splitlines()[:-1]) + "\n"
    import pyarrow.parquet as pq

    assert pq.read_table(out_path).num_rows == DATA.count("\n") - 1
    bad = subprocess.run(
        [sys.executable, "-m", "cotation", "score", str(files[0]), "absent.csv", *DATE],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert bad.returncode == cli.EXIT_INVALID and "absent.csv" in bad.stderr


class FakeTerminal:
    def __init__(self, tty):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, text):
        self.text += text

    def flush(self):
        pass


@pytest.mark.parametrize("tty", [True, False])
def test_status_line_only_on_a_terminal(tty):
    stream = FakeTerminal(tty)
    steps = cli.Steps(stream)
    with steps.step("scoring 10 applications"):
        pass
    assert ("scoring 10 applications…" in stream.text) == tty
    assert [label for label, _ in steps.timings] == ["scoring 10 applications"]
    assert "scoring 10 applications" in steps.report()


# -- rank and position --------------------------------------------------------------------------------
MATCH = """
match:
  filters:
    - {id: commune, label: Commune souhaitée, when: logement.commune in communes_souhaitees}
  criteria:
    - {id: premier, label: Premier souhait, when: rang_commune == 1, points: 30}
"""
RANK_DATA = (
    HEADER.rstrip("\n")
    + ",communes_souhaitees\n"
    + "".join(
        line + (",31555;31069\n" if i != 1 else ",31069\n") for i, line in enumerate(DATA.splitlines()[1:])
    )
)
DWELLINGS = """identifiant,commune,zone,typologie,pieces,loyer,financement
L1,31555,autres,T2,2,450,PLUS
L2,31069,autres,T3,3,520.5,PLS
L3,31044,autres,T1,1,300,PLUS
"""


@pytest.fixture
def rank_files(tmp_path):
    grid, data, dws = tmp_path / "essai-rang.yaml", tmp_path / "demandes-rang.csv", tmp_path / "logements.csv"
    grid.write_text(GRID + MATCH, encoding="utf-8")
    data.write_text(RANK_DATA, encoding="utf-8")
    dws.write_text(DWELLINGS, encoding="utf-8")
    return grid, data, dws


def test_rank_prints_candidates_and_counts(rank_files, capsys):
    code, out, _ = run(capsys, "rank", *rank_files, "-k", "2", *DATE)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == [
        "logement",
        "rang",
        "numero_unique",
        "tier",
        "total",
        "demande",
        "logement+",
        "eligibles",
    ]
    assert lines[2].split()[:3] == ["L1", "1", "A"]  # DALO: tier 2
    assert "(aucun candidat)" in out  # nobody wishes 31044
    assert "commune 4" in out  # excluded by the commune filter: B for L1, all three for L3


def test_rank_to_parquet_with_assignment(rank_files, tmp_path, capsys):
    out = tmp_path / "candidats.parquet"
    code, text, _ = run(capsys, "rank", *rank_files, "-k", "3", "--assignment", "given", "-o", out, *DATE)
    assert code == 0 and "wrote" in text
    table = pq.read_table(out)
    assert table.column_names == [
        "logement",
        "rang",
        "numero_unique",
        "tier",
        "total",
        "points_demande",
        "points_logement",
    ]
    ids = table.column("numero_unique").to_pylist()
    assert len(ids) == len(set(ids))  # each application proposed once
    assert table.schema.metadata[b"assignment"] == b"given"


def test_rank_errors_exit_1(rank_files, files, tmp_path, capsys):
    code, _, err = run(capsys, "rank", files[0], rank_files[1], rank_files[2], *DATE)
    assert code == 1 and "no match part" in err
    bad = tmp_path / "mauvais.csv"
    bad.write_text(DWELLINGS.replace("PLS", "PLX"), encoding="utf-8")
    code, _, err = run(capsys, "rank", rank_files[0], rank_files[1], bad, *DATE)
    assert code == 1 and "D103" in err and "Traceback" not in err


def test_position(rank_files, tmp_path, capsys):
    code, out, _ = run(capsys, "position", rank_files[0], rank_files[1], *DATE)
    assert code == 0 and "1re sur" in out and "même typologie souhaitée" in out
    target = tmp_path / "positions.csv"
    code, _, _ = run(capsys, "position", rank_files[0], rank_files[1], "-o", target, *DATE)
    with target.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert code == 0 and {r["numero_unique"] for r in rows} == {"A", "B", "C"}
    assert all(1 <= int(r["position"]) <= int(r["demandes_similaires"]) for r in rows)

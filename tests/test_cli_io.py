"""The command line's inputs and outputs (issue 16): stdin/stdout, JSON Lines, --dialect fr, stamps,
--rejects, --absent, generate --logements; run in-process through ``main([...])``."""

from __future__ import annotations

import datetime
import io
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from cotation import cli, load_grid
from cotation.data.batch import read_applications, read_dwellings, write_applications
from cotation.data.generate import generate_applications

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "grids" / "exemple-metropole.yaml"
DATE = ["--date", "2026-01-01"]
REF = ["--engine", "reference"]


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("io")
    code = cli.main(
        ["generate", "-n", "300", "--seed", "4", *DATE, "--grid", str(EXAMPLE), "-o", str(folder / "d.csv")]
    )
    assert code == 0
    return folder / "d.csv"


def test_french_csv_output_with_its_sidecar(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scores.fr.csv"
    code, _, _ = run(capsys, "score", EXAMPLE, data, *DATE, *REF, "-o", out)
    assert code == 0
    text = out.read_bytes()
    assert text.startswith(b"\xef\xbb\xbf") and text.splitlines()[0].startswith(
        b'\xef\xbb\xbf"numero_unique";"total";"palier";"rang";"priorites"'
    )
    stamp = json.loads((tmp_path / "scores.fr.csv.meta.json").read_text(encoding="utf-8"))
    assert stamp["grid_id"] == "exemple-metropole" and stamp["grid_version"] == "2026.1"
    assert stamp["date_calcul"] == "2026-01-01" and stamp["engine"] == "reference"
    assert stamp["verified_only"] == "false" and stamp["input_sha256"].startswith("sha256:")
    assert len(stamp["grid_hash"]) == 64 and stamp["package_version"]


def test_parquet_output_carries_the_stamp(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "scores.parquet"
    assert run(capsys, "score", EXAMPLE, data, *DATE, *REF, "-o", out)[0] == 0
    meta = pq.read_schema(out).metadata
    assert meta[b"grid_id"] == b"exemple-metropole" and meta[b"input"] == str(data).encode()
    assert meta[b"input_sha256"].startswith(b"sha256:")


def test_stdin_to_stdout_as_json_lines(
    data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data.read_bytes())))
    code, out, _ = run(capsys, "score", EXAMPLE, "-", *DATE, *REF, "--format", "json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and lines[0]["stamp"]["input"] == "-" and len(lines) == 301
    assert lines[1]["rank"] == 1 and isinstance(lines[1]["numero_unique"], str)


def test_position_rank_and_explain_as_json(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "position", EXAMPLE, data, *DATE, "--format", "json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and set(rows[1]) == {"numero_unique", "total", "rang", "position", "demandes_similaires"}
    dwellings = tmp_path / "logements.csv"
    assert run(capsys, "generate", "--logements", "-n", "4", "--seed", "2", "-o", dwellings)[0] == 0
    assert len(read_dwellings(dwellings)) == 4
    code, out, _ = run(capsys, "rank", EXAMPLE, data, dwellings, *DATE, *REF, "--format", "json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and "stamp" in rows[0] and {"logement", "rang", "numero_unique"} <= set(rows[1])
    first = rows[1]["numero_unique"]
    code, out, _ = run(capsys, "explain", EXAMPLE, data, *DATE, "--id", first, "--format", "json")
    assert code == 0 and json.loads(out)["stamp"]["grid_id"] == "exemple-metropole"


def test_rank_to_stdout_in_the_french_dialect(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dwellings = tmp_path / "logements.csv"
    run(capsys, "generate", "--logements", "-n", "3", "-o", dwellings)
    code, out, _ = run(capsys, "rank", EXAMPLE, data, dwellings, *DATE, *REF, "-o", "-", "--dialect", "fr")
    assert code == 0 and out.lstrip("\ufeff").startswith('"logement";"rang";"numero_unique";"palier"')


def test_xlsx_output(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("python_calamine")
    out = tmp_path / "positions.xlsx"
    assert run(capsys, "position", EXAMPLE, data, *DATE, "-o", out)[0] == 0
    from cotation.data.excel import read_xlsx

    table = read_xlsx(out)
    assert table.column_names == ["numero_unique", "total", "rang", "position", "demandes_similaires"]
    assert table.num_rows == 300 and (tmp_path / "positions.xlsx.meta.json").is_file()


def test_rejects_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid = tmp_path / "g.yaml"
    grid.write_text(
        "id: g\ntitle: G\ncriteria:\n  - {id: dalo, label: DALO, when: dalo, points: 50}\n", "utf-8"
    )
    batch = generate_applications(1000, seed=3, date_calcul=datetime.date(2026, 1, 1))
    table = batch.to_arrow()
    text = {
        n: [None if v is None else str(v) for v in table.column(n).to_pylist()] for n in table.column_names
    }
    text["nb_personnes"][2] = "-1"
    text["date_depot"][399] = "2030-01-01"
    text["dalo"][999] = "peut-être"
    path = tmp_path / "d.csv"
    pacsv.write_csv(pa.table({n: pa.array(v, pa.string()) for n, v in text.items()}), path)
    code, _, err = run(
        capsys,
        "score",
        grid,
        path,
        *DATE,
        *REF,
        "--rejects",
        tmp_path / "rejets.csv",
        "-o",
        tmp_path / "s.csv",
    )
    assert code == 0 and "997 valid rows of 1000; 3 rejected" in err
    table = pacsv.read_csv(tmp_path / "rejets.csv")
    assert table.num_rows == 3 and all(table.column("raisons").to_pylist())
    assert pacsv.read_csv(tmp_path / "s.csv").num_rows == 997
    assert run(capsys, "score", grid, path, *DATE, *REF)[0] == 1  # strict by default


def test_columns_accounted_for_on_the_command_line(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = data.read_text(encoding="utf-8")
    upper = tmp_path / "upper.csv"
    upper.write_text(text.replace('"dalo"', '"DALO"', 1), encoding="utf-8")
    code, _, err = run(capsys, "score", EXAMPLE, upper, *DATE, *REF)
    assert code == 1 and "error[D109] column 'DALO'" in err and "'dalo'" in err
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(text.replace('"loyer_actuel"', '"loyer"', 1), encoding="utf-8")
    code, _, err = run(capsys, "score", EXAMPLE, renamed, *DATE, *REF)
    assert code == 1 and "error[D124] column 'loyer_actuel'" in err and "closest columns: 'loyer'" in err
    assert "note: " in err and "ignored (not fields): loyer" in err
    out = tmp_path / "s.csv"
    code, _, err = run(capsys, "score", EXAMPLE, renamed, *DATE, *REF, "--absent", "loyer_actuel", "-o", out)
    stamp = json.loads((tmp_path / "s.csv.meta.json").read_text(encoding="utf-8"))
    assert code == 0 and stamp["absent_fields"] == "loyer_actuel" and stamp["ignored_columns"] == "loyer"


def test_encoding_option_and_decoding_errors(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = read_applications(data, load_grid(EXAMPLE).catalogue)
    path = tmp_path / "export.csv"
    write_applications(batch, path, dialect="fr", encoding="cp1252")
    path.write_bytes(path.read_bytes().replace(b"locataire_prive", b"locataire_priv\xe9"))
    code, _, err = run(capsys, "score", EXAMPLE, path, *DATE, *REF, "--encoding", "utf-8")
    assert code == 1 and "error[D120] column 'situation_logement'" in err and "--encoding cp1252" in err
    code, _, err = run(capsys, "score", EXAMPLE, path, *DATE, *REF, "--encoding", "cp1252")
    assert code == 1 and "error[D103]" in err and "locataire_privé" in err


def test_generate_logements_in_the_french_dialect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "logements.csv"
    code, stdout, _ = run(capsys, "generate", "--logements", "-n", "5", "--dialect", "fr", "-o", out)
    assert code == 0 and "wrote 5 dwellings" in stdout and out.read_bytes().startswith(b"\xef\xbb\xbf")
    assert isinstance(read_dwellings(out).to_arrow(), pa.Table)


def test_html_pages_carry_the_stamp(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = str(read_applications(data, load_grid(EXAMPLE).catalogue).ids[0])
    page = tmp_path / "lettre.html"
    argv = ["explain", EXAMPLE, data, *DATE, "--id", first, "--applicant", "--format", "html", "-o", page]
    assert run(capsys, *argv)[0] == 0
    text = page.read_text(encoding="utf-8")
    assert '<footer class="cotation-stamp">' in text and "exemple-metropole, version 2026.1" in text
    assert "sha256:" in text and text.index("cotation-stamp") < text.index("</body>")

"""French office exports (issue 16) and columns accounted for (issue 20, points 3 and 4): encodings,
delimiters, dates, decimal commas, .xlsx, frames, rejects, the fields a grid reads."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import cotation
from cotation.data import formats
from cotation.data.batch import Batch, read_applications, write_applications
from cotation.data.columns import closest_columns, fields_read
from cotation.data.generate import generate_applications
from cotation.data.outputs import csv_bytes, json_lines
from cotation.data.rejects import read_with_rejects
from cotation.errors import DataError, DataProblem
from cotation.grid.catalogue import default_catalogue

DAY = datetime.date(2026, 1, 1)
ROOT = Path(__file__).resolve().parent.parent
GRID = """\
id: essai
title: Grille d'essai
version: "1"
variables:
  anciennete_mois: months_between(date_depot, date_calcul)
criteria:
  - {id: anciennete, label: Ancienneté, value: anciennete_mois, per_unit: 1, max: 120}
  - {id: dalo, label: DALO, when: dalo, points: 50}
  - {id: loyer, label: Loyer élevé, when: 'coalesce(loyer_actuel, 0) > 600', points: 7}
  - {id: revenus, label: Revenus, value: 'ressources_mensuelles / 100', per_unit: 1, max: 30}
  - {id: jeune, label: Jeune, when: 'date_naissance_demandeur > date("1995-01-01")', points: 3}
tie_break: [date_depot asc, numero_unique asc]
"""
HEADER = (
    "numero_unique;date_depot;nb_personnes;nb_adultes;date_naissance_demandeur;ressources_mensuelles;"
    "situation_logement"
)
ROW = "0001;16/03/2021;2;1;01/05/1990;2146,3;hébergé"


@pytest.fixture(scope="module")
def grid() -> cotation.Grid:
    return cotation.parse_grid(GRID, "essai.yaml")


@pytest.fixture(scope="module")
def generated() -> Batch:
    return generate_applications(400, seed=5, date_calcul=DAY)


def problems_of(source: object, **kwargs: object) -> list[DataProblem]:
    with pytest.raises(DataError) as info:
        read_applications(source, **kwargs)  # type: ignore[arg-type]
    return list(info.value.problems)


def only(problems: list[DataProblem], code: str) -> DataProblem:
    found = [p for p in problems if p.code == code]
    assert len(found) == 1, problems
    return found[0]


def scores_equal(a: cotation.Scores, b: cotation.Scores) -> None:
    assert list(a.ids) == list(b.ids)
    np.testing.assert_array_equal(a.total, b.total)
    np.testing.assert_array_equal(a.breakdown, b.breakdown)
    np.testing.assert_array_equal(a.rank, b.rank)


# --- what it must show: French exports and .xlsx score exactly like the original CSV ----------------


@pytest.mark.parametrize("form", ["fr-cp1252", "fr-utf8-bom", "tab", "xlsx"])
def test_french_exports_and_xlsx_score_like_the_csv(tmp_path: Path, generated: Batch, form: str) -> None:
    grid = cotation.load_grid(ROOT / "grids" / "exemple-metropole.yaml")
    batch = generate_applications(500, seed=11, date_calcul=DAY, catalogue=grid.catalogue)
    plain = tmp_path / "demandes.csv"
    write_applications(batch, plain)
    if form == "fr-cp1252":
        other = tmp_path / "export.csv"
        other.write_bytes(csv_bytes(batch.to_arrow(), "fr", "cp1252"))
        text = other.read_bytes()
        assert b";" in text and not text.startswith(b"\xef\xbb\xbf")
        assert b"/20" in text and b"," in text  # dd/mm/yyyy dates, decimal commas
    elif form == "fr-utf8-bom":
        other = tmp_path / "export.fr.csv"
        write_applications(batch, other)
        assert other.read_bytes().startswith(b"\xef\xbb\xbf")
    elif form == "tab":
        other = tmp_path / "export.csv"
        other.write_bytes(csv_bytes(batch.to_arrow()).replace(b",", b"\t"))
    else:
        other = tmp_path / "export.xlsx"
        write_applications(batch, other)
    want = cotation.score(grid, plain, DAY, engine="reference")
    got = cotation.score(grid, other, DAY, engine="reference")
    scores_equal(want, got)


def test_french_text_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes((HEADER + "\n" + ROW.replace("hébergé", "heberge_tiers") + "\n").encode("cp1252"))
    batch = read_applications(path)
    assert batch.ids.tolist() == ["0001"]
    assert batch.column("ressources_mensuelles").values.tolist() == [2146.3]
    assert batch.column("date_depot").values.tolist() == [formats_day(2021, 3, 16)]


def formats_day(y: int, m: int, d: int) -> int:
    return (datetime.date(y, m, d) - datetime.date(1970, 1, 1)).days


# --- encodings (never mis-decoded) -------------------------------------------------------------------


def test_cp1252_is_detected_and_an_unknown_value_reported_readably(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes((HEADER + "\n" + ROW + "\n").encode("cp1252"))
    assert only(problems_of(path), "D103").values == ("hébergé",)


def test_utf8_with_and_without_bom(tmp_path: Path) -> None:
    line = ROW.replace("hébergé", "heberge_tiers")
    for data in [(HEADER + "\n" + line).encode(), b"\xef\xbb\xbf" + (HEADER + "\n" + line).encode()]:
        path = tmp_path / "u.csv"
        path.write_bytes(data)
        assert read_applications(path).ids.tolist() == ["0001"]


def test_a_file_that_is_neither_utf8_nor_french_cp1252_is_d120(tmp_path: Path) -> None:
    path = tmp_path / "dos.csv"  # cp850 (DOS): 'é' is 0x82, which cp1252 reads as a low quote
    path.write_bytes((HEADER + "\n" + ROW + "\n").encode("cp850"))
    problem = only(problems_of(path), "D120")
    assert problem.column == "situation_logement" and problem.rows == ("ligne 1",)
    assert "--encoding" in problem.message and "line 2" in problem.message
    assert only(problems_of(path, encoding="cp850"), "D103").values == ("hébergé",)


def test_a_given_encoding_that_does_not_fit_names_column_and_row(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes((HEADER + "\n" + ROW + "\n").encode("latin-1"))
    problem = only(problems_of(path, encoding="utf-8"), "D120")
    assert problem.column == "situation_logement" and problem.rows == ("ligne 1",)
    assert "0xe9" in problem.message and "--encoding cp1252" in problem.message
    assert only(problems_of(path, encoding="latin-1"), "D103").values == ("hébergé",)
    assert only(problems_of(path, encoding="klingon"), "D120").column == "<file>"


def test_nul_bytes_are_not_text(tmp_path: Path) -> None:
    path = tmp_path / "utf16.csv"
    path.write_bytes((HEADER + "\n").encode("utf-16-le"))
    assert "NUL" in only(problems_of(path), "D120").message


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "utf16.csv"
    path.write_bytes((HEADER + "\n" + ROW.replace("hébergé", "heberge_tiers") + "\n").encode("utf-16"))
    assert read_applications(path).ids.tolist() == ["0001"]


def test_a_cell_over_one_mib_is_located(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    big = ROW.replace("hébergé", "x" * (formats.BLOCK_BYTES + 10))
    path.write_text(HEADER + "\n" + ROW + "\n" + big + "\n", encoding="utf-8")
    problem = only(problems_of(path), "D121")
    assert problem.column == "situation_logement" and problem.rows == ("ligne 2",)


def test_a_tied_delimiter_is_d126(tmp_path: Path) -> None:
    path = tmp_path / "tie.csv"
    path.write_text("numero_unique;date_depot,nb_personnes\n1;2,3\n", encoding="utf-8")
    assert "delimiter" in only(problems_of(path), "D126").message


# --- cells ------------------------------------------------------------------------------------------


def test_dates_iso_and_french_mix_but_ambiguous_ones_do_not() -> None:
    arr = pa.array(["16/03/2021", "2021-03-16", "1/2/2020", "2021-03-16 00:00:00", "16/03/2021 00:00"])
    parsed = formats.parse_dates(arr)
    assert parsed.ok.all() and parsed.ambiguous == ()
    assert (
        parsed.values.tolist()
        == [formats_day(2021, 3, 16)] * 2 + [formats_day(2020, 2, 1)] + [formats_day(2021, 3, 16)] * 2
    )
    parsed = formats.parse_dates(pa.array(["03/04/2021", "04/03/21", "12/31/2024", "31/02/2021"]))
    assert parsed.ok.tolist() == [True, False, False, False]
    assert [(code, mask.tolist()) for code, _, mask in parsed.ambiguous] == [
        ("D122", [False, True, False, False]),
        ("D122", [False, False, True, False]),
    ]


def test_ambiguous_dates_in_a_file_say_how_to_write_them(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(HEADER + "\n" + ROW.replace("16/03/2021", "16/03/21") + "\n", encoding="utf-8")
    problem = only(problems_of(path), "D122")
    assert problem.column == "date_depot" and "dd/mm/yyyy" in problem.message
    assert not [p for p in problems_of(path) if p.code == "D102" and p.column == "date_depot"]


def test_numbers_with_decimal_commas_and_thousands() -> None:
    arr = pa.array(["1200.50", "2146,3", "2 146,30", "1\u202f000", "1.234,5", "-3", "1,234,5", "abc"])
    parsed = formats.parse_numbers(arr)
    assert parsed.ok.tolist() == [False, True, True, True, True, True, False, False]
    assert parsed.values[1:6].tolist() == [2146.3, 2146.3, 1000.0, 1234.5, -3.0]
    ((code, message, mask),) = parsed.ambiguous
    assert code == "D123" and mask.tolist() == [True] + [False] * 7 and "1.234" in message
    assert formats.parse_numbers(pa.array(["1.5", "2"])).ambiguous == ()


def test_french_booleans(tmp_path: Path) -> None:
    words = ["oui", "NON", "VRAI", "faux", "1", "0", "true", "False"]
    lines = [f"A{i};2024-01-02;1;1;1990-05-01;1000;sans_abri;{w}" for i, w in enumerate(words)]
    path = tmp_path / "b.csv"
    path.write_text(HEADER + ";dalo\n" + "\n".join(lines) + "\n", encoding="utf-8")
    assert read_applications(path).column("dalo").values.tolist() == [True, False] * 4


# --- frames: polars, Arrow, pandas ------------------------------------------------------------------


def test_polars_arrow_and_pandas_frames_score_with_string_ids(tmp_path: Path, grid: cotation.Grid) -> None:
    polars = pytest.importorskip("polars")
    batch = generate_applications(200, seed=2, date_calcul=DAY)
    path = tmp_path / "demandes.csv"
    write_applications(batch, path)
    want = cotation.score(grid, path, DAY, engine="reference")
    assert want.ids[0].startswith("0")
    frames = [
        polars.read_csv(path, infer_schema=False),
        batch.to_arrow(),
        pd.read_csv(path, dtype={"numero_unique": str}),
    ]
    for frame in frames:
        scores_equal(want, cotation.score(grid, frame, DAY, engine="reference"))
    plain = cotation.score(grid, pd.read_csv(path), DAY, engine="reference")  # ids read as numbers
    np.testing.assert_array_equal(plain.total, want.total)
    assert plain.ids[0] == want.ids[0].lstrip("0")


# --- columns accounted for (issue 20, point 3) ------------------------------------------------------


def test_an_upper_cased_column_names_the_field(tmp_path: Path, grid: cotation.Grid, generated: Batch) -> None:
    table = generated.to_arrow()
    table = table.rename_columns(["DALO" if n == "dalo" else n for n in table.column_names])
    with pytest.raises(DataError) as info:
        cotation.score(grid, table, DAY, engine="reference")
    problem = only(list(info.value.problems), "D109")
    assert problem.column == "DALO" and problem.suggestion == "dalo"
    assert "'dalo'" in info.value.render()


def test_a_renamed_column_names_the_field_and_the_closest(grid: cotation.Grid, generated: Batch) -> None:
    table = generated.to_arrow()
    table = table.rename_columns(["loyer" if n == "loyer_actuel" else n for n in table.column_names])
    with pytest.raises(DataError) as info:
        cotation.score(grid, table, DAY, engine="reference")
    problem = only(list(info.value.problems), "D124")
    assert problem.column == "loyer_actuel" and problem.suggestion == "loyer"
    assert "closest columns: 'loyer'" in problem.message and "--absent loyer_actuel" in problem.message
    scores = cotation.score(grid, table, DAY, engine="reference", absent=["loyer_actuel"])
    assert (scores.breakdown[:, scores.column_ids.index("loyer")] == 0).all()
    with pytest.raises(DataError) as info:
        cotation.score(grid, table, DAY, engine="reference", absent=["loyer_actuell"])
    assert any(p.suggestion == "loyer_actuel" for p in info.value.problems)


def test_fields_read_and_closest_columns(grid: cotation.Grid) -> None:
    assert fields_read(grid) == {
        "date_depot",
        "dalo",
        "loyer_actuel",
        "ressources_mensuelles",
        "date_naissance_demandeur",
    }
    assert closest_columns("date_depot", ["Date Dépôt", "commentaire", "date_dep"])[0] == "Date Dépôt"
    assert closest_columns("loyer_actuel", ["loyer", "zzz"]) == ["loyer"]


# --- rejects ----------------------------------------------------------------------------------------


def test_rejects_three_bad_rows_of_a_thousand(tmp_path: Path) -> None:
    batch = generate_applications(1000, seed=1, date_calcul=DAY)
    table = batch.to_arrow()
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    text = {name: [None if v is None else str(v) for v in values] for name, values in columns.items()}
    text["nb_personnes"][5] = "deux"
    text["date_depot"][100] = "2027-01-01"
    text["situation_logement"][999] = "chateau"
    bad = pa.table({name: pa.array(values, pa.string()) for name, values in text.items()})
    good, rejects = read_with_rejects(bad, default_catalogue(), date_calcul=DAY)
    assert (len(good), len(rejects), rejects.rows_in) == (997, 3, 1000)
    rows = rejects.table.to_pylist()
    assert [(r["ligne"], r["codes"], r["colonnes"]) for r in rows] == [
        (6, "D102", "nb_personnes"),
        (101, "D105", "date_depot"),
        (1000, "D103", "situation_logement"),
    ]
    assert rows[0]["numero_unique"] == batch.ids[5] and "value is not an integer" in rows[0]["raisons"]
    assert batch.ids[5] not in set(good.ids.tolist())


def test_rejects_set_duplicates_apart_and_fail_on_file_problems(tmp_path: Path) -> None:
    batch = generate_applications(10, seed=1, date_calcul=DAY)
    table = pa.concat_tables([batch.to_arrow(), batch.to_arrow().slice(0, 1)])
    good, rejects = read_with_rejects(table, default_catalogue(), date_calcul=DAY)
    assert (len(good), len(rejects)) == (9, 2) and rejects.table.column("codes").to_pylist() == ["D106"] * 2
    with pytest.raises(DataError) as info:
        read_with_rejects(table.drop_columns(["nb_personnes"]), default_catalogue(), date_calcul=DAY)
    assert [p.code for p in info.value.problems] == ["D101"]


# --- outputs ----------------------------------------------------------------------------------------


def test_json_lines_put_the_stamp_first(generated: Batch) -> None:
    lines = json_lines(generated.to_arrow().slice(0, 2)).splitlines()
    assert len(lines) == 2 and '"numero_unique"' in lines[0]


def test_missing_excel_extra_names_it(
    tmp_path: Path, generated: Batch, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "d.xlsx"
    write_applications(generated, path)
    monkeypatch.setitem(sys.modules, "python_calamine", None)
    problem = only(problems_of(path), "D125")
    assert "cotation[excel]" in problem.message
    monkeypatch.setitem(sys.modules, "xlsxwriter", None)
    with pytest.raises(DataError, match=r"cotation\[excel\]"):
        write_applications(generated, tmp_path / "e.xlsx")


# --- column mapping ---------------------------------------------------------------------------------

MAPPING = """\
source: Export d'essai
columns:
  Numéro: numero_unique
  Dépôt: date_depot
  Personnes: nb_personnes
  Situation: situation_logement
  Motifs: motifs
values:
  situation_logement:
    Hébergé chez un tiers: heberge_tiers
  motifs:
    Trop cher: trop_cher
ignore: [Commentaire]
"""


def test_a_mapping_renames_columns_and_values(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    path = tmp_path / "export.csv"
    header = (
        "Numéro;Dépôt;Personnes;nb_adultes;date_naissance_demandeur;ressources_mensuelles;Situation;Motifs;"
        "Commentaire;Autre"
    )
    row = '0042;16/03/2021;2;1;01/05/1990;1000;Hébergé chez un tiers;"Trop cher; trop_petit";bla;x'
    path.write_bytes((header + "\n" + row + "\n").encode("cp1252"))
    batch = read_applications(path, mapping=mapping)
    assert batch.ids.tolist() == ["0042"] and batch.ignored_columns == ("Autre",)
    assert batch.column("situation_logement").values.tolist() == [
        default_catalogue().get("situation_logement").values.index("heberge_tiers")  # type: ignore[union-attr]
    ]
    motifs = default_catalogue().get("motifs").values  # type: ignore[union-attr]
    bits = int(batch.column("motifs").values[0])
    assert {motifs[k] for k in range(len(motifs)) if bits >> k & 1} == {"trop_cher", "trop_petit"}


@pytest.mark.parametrize(
    ("text", "code", "suggestion"),
    [
        ("columns: {Numéro: numero_uniqe}\n", "E132", "numero_unique"),
        ("columns: {A: dalo, B: dalo}\n", "E134", None),
        ("values: {situation_logement: {X: heberge_tier}}\n", "E133", "heberge_tiers"),
        ("colums: {}\n", "E131", "columns"),
    ],
)
def test_mapping_file_errors(tmp_path: Path, text: str, code: str, suggestion: str | None) -> None:
    from cotation.data.mapping import load_mapping
    from cotation.errors import GridError

    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GridError) as info:
        load_mapping(path, default_catalogue())
    first = info.value.diagnostics[0]
    assert first.code == code and first.suggestion == suggestion and first.span.line == 1
    with pytest.raises(GridError) as info:
        load_mapping(tmp_path / "absent.yaml", default_catalogue())
    assert info.value.diagnostics[0].code == "E130"


def test_the_shipped_sne_mapping(tmp_path: Path) -> None:
    path = tmp_path / "sne.csv"
    header = (
        "numUnique;dateCreationDemande;dateNaissance;nombreHabitant;nb_adultes;ressources_mensuelles;"
        "modeleLogement;montantMensuelLoyer"
    )
    path.write_text(header + "\n0310001;2024-01-02;1990-05-01;2;1;1200;LP;650,5\n", encoding="utf-8")
    batch = read_applications(path, mapping="sne")
    assert batch.ids.tolist() == ["0310001"] and batch.column("loyer_actuel").values.tolist() == [650.5]


PLAIN_CELLS = [
    "12",
    "-3",
    "1,5",
    "-0,25",
    "007,50",
    "1.5",
    "",
    None,
    "-",
    ",5",
    "5,",
    "1,2,3",
    "1.2.3",
    "-1,5,",
    "1-2",
    "+1",
    "1e5",
]
PLAIN_CELLS += ["1,5e3", "1 234,5", "1.234,5", "--1", "-,5", "2.", ".2"]


@pytest.mark.parametrize("seed", range(40))
def test_numbers_read_from_the_bytes_equal_the_general_parser(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes fast path of parse_numbers (issue 18) reads only what the general parser reads, to the
    same values, and leaves every other column to it."""
    import random

    from cotation.data import formats
    from cotation.data.batch import _trim_text

    rng = random.Random(seed)
    cells = [rng.choice(PLAIN_CELLS[: 5 + seed % 17]) for _ in range(rng.randint(1, 6))]
    arr = _trim_text(pa.array(cells, pa.string()))
    fast = formats.parse_numbers(arr)
    monkeypatch.setattr(formats, "_plain_decimals", lambda arr: None)
    general = formats.parse_numbers(arr)
    assert np.array_equal(fast.ok, general.ok)
    assert np.array_equal(fast.values[fast.ok], general.values[general.ok])
    assert [(c, m, list(k)) for c, m, k in fast.ambiguous] == [
        (c, m, list(k)) for c, m, k in general.ambiguous
    ]


@pytest.mark.parametrize("cells", [["1,2,3", "4"], ["1.2.3"], ["12,5", "1,2,3"], ["1.5", "2.5.6", "3"]])
def test_two_separators_in_a_cell_leave_the_column_to_the_general_parser(cells: list[str]) -> None:
    """The bytes fast path accepts one separator per cell: a second one makes Arrow's cast fail, and the
    general parser reports the cell."""
    from cotation.data import formats

    arr = pa.array(cells, pa.string())
    assert formats._plain_decimals(arr) is None
    parsed = formats.parse_numbers(arr)
    assert not parsed.ok.all()

"""Tests of cotation.data.batch: readers, validation codes D101-D110, round-trips and Batch operations."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cotation.data.batch import Batch, day_number, from_day_number, read_applications, write_applications
from cotation.data.generate import generate_applications
from cotation.errors import MAX_ROWS, DataError, DataProblem
from cotation.grid.catalogue import Kind, encode_commune

HEADER = (
    "numero_unique,date_depot,nb_personnes,nb_adultes,date_naissance_demandeur,ressources_mensuelles,"
    "situation_logement"
)
GOOD = [
    "A1,2024-01-02,2,1,1990-05-01,1200.50,locataire_prive",
    "A2,2023-06-30,1,1,1980-01-01,0,sans_abri",
]
TODAY = datetime.date(2026, 1, 1)


def write_csv(tmp_path: Path, header: str, lines: list[str], name: str = "apps.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def problems_of(source: object, **kwargs: object) -> list[DataProblem]:
    with pytest.raises(DataError) as info:
        read_applications(source, **kwargs)  # type: ignore[arg-type]
    return list(info.value.problems)


def only(problems: list[DataProblem], code: str, column: str | None = None) -> DataProblem:
    found = [p for p in problems if p.code == code and (column is None or p.column == column)]
    assert len(found) == 1, problems
    return found[0]


def base_frame(**columns: list[object]) -> pd.DataFrame:
    data: dict[str, list[object]] = {
        "numero_unique": ["A1", "A2"],
        "date_depot": ["2024-01-02", "2023-06-30"],
        "nb_personnes": [2, 1],
        "nb_adultes": [1, 1],
        "date_naissance_demandeur": ["1990-05-01", "1980-01-01"],
        "ressources_mensuelles": [1200.5, 0.0],
        "situation_logement": ["locataire_prive", "sans_abri"],
    }
    data.update(columns)
    return pd.DataFrame(data)


def assert_same(a: Batch, b: Batch) -> None:
    assert list(a.ids) == list(b.ids)
    assert list(a.columns) == list(b.columns)
    for name, col in a.columns.items():
        other = b.columns[name]
        assert col.values.dtype == other.values.dtype, name
        np.testing.assert_array_equal(col.values, other.values, err_msg=name)
        if col.valid is None:
            assert other.valid is None, name
        else:
            assert other.valid is not None, name
            np.testing.assert_array_equal(col.valid, other.valid, err_msg=name)


# --- reading valid data ------------------------------------------------------------------------


def test_read_csv_types_and_storage(tmp_path: Path) -> None:
    batch = read_applications(write_csv(tmp_path, HEADER, GOOD))
    assert len(batch) == 2
    assert list(batch.ids) == ["A1", "A2"]
    assert batch.ids.dtype == object
    assert batch.source == str(tmp_path / "apps.csv")
    assert batch.column("date_depot").values.tolist() == [
        day_number(datetime.date(2024, 1, 2)),
        day_number(datetime.date(2023, 6, 30)),
    ]
    assert batch.column("nb_personnes").values.dtype == np.int32
    assert batch.column("ressources_mensuelles").values.tolist() == [1200.5, 0.0]
    field = batch.catalogue["situation_logement"]
    assert batch.column("situation_logement").values.tolist() == [
        field.code_of("locataire_prive"),
        field.code_of("sans_abri"),
    ]
    assert batch.column("nb_personnes").valid is None


def test_every_non_id_field_has_a_column_in_catalogue_order(tmp_path: Path) -> None:
    batch = read_applications(write_csv(tmp_path, HEADER, GOOD))
    expected = [f.name for f in batch.catalogue if f.kind is not Kind.ID]
    assert list(batch.columns) == expected


def test_absent_optional_columns_are_missing_and_sets_empty(tmp_path: Path) -> None:
    batch = read_applications(write_csv(tmp_path, HEADER, GOOD))
    dalo = batch.column("dalo")
    assert dalo.valid is not None and not dalo.valid.any()
    assert batch.column("typologie_souhaitee").values.tolist() == [-1, -1]
    assert batch.column("commune_travail").values.tolist() == [-1, -1]
    motifs = batch.column("motifs")
    assert motifs.valid is None and motifs.values.dtype == np.uint64 and not motifs.values.any()
    communes = batch.column("communes_souhaitees")
    assert communes.valid is None and communes.values.shape == (2, 8) and (communes.values == -1).all()


def test_text_formats(tmp_path: Path) -> None:
    header = HEADER + ",dalo,pdalhpd,motifs,communes_souhaitees,commune_travail,surface_actuelle"
    lines = [
        GOOD[0] + ',OUI,faux," trop_cher ; trop_petit ",31555; 2A004,2b033,',
        GOOD[1] + ",0,Vrai,,,,1e2",
    ]
    batch = read_applications(write_csv(tmp_path, header, lines))
    assert batch.column("dalo").values.tolist() == [True, False]
    assert batch.column("pdalhpd").values.tolist() == [False, True]
    motifs = batch.catalogue["motifs"]
    expected = (1 << motifs.code_of("trop_cher")) | (1 << motifs.code_of("trop_petit"))
    assert batch.column("motifs").values.tolist() == [expected, 0]
    row = batch.column("communes_souhaitees").values[0].tolist()
    assert row == [31555, encode_commune("2A004"), -1, -1, -1, -1, -1, -1]
    assert batch.column("commune_travail").values[0] == encode_commune("2B033")
    surface = batch.column("surface_actuelle")
    assert surface.values.tolist() == [0.0, 100.0] and surface.valid is not None
    assert surface.valid.tolist() == [False, True]


def test_semicolon_delimited_csv(tmp_path: Path) -> None:
    header = HEADER.replace(",", ";") + ";motifs"
    lines = [line.replace(",", ";") + ';"trop_cher;autre"' for line in GOOD]
    batch = read_applications(write_csv(tmp_path, header, lines))
    assert len(batch) == 2 and bin(int(batch.column("motifs").values[0])).count("1") == 2


def test_dataframe_with_typed_columns() -> None:
    frame = base_frame(
        date_depot=[datetime.date(2024, 1, 2), datetime.date(2023, 6, 30)],
        nb_personnes=[2.0, 1.0],
        dalo=[True, None],
        motifs=[["trop_cher"], []],
        date_renouvellement=pd.to_datetime(["2025-01-01", None]),
    )
    batch = read_applications(frame)
    assert batch.source == "<DataFrame>"
    assert batch.column("nb_personnes").values.tolist() == [2, 1]
    assert batch.column("dalo").valid is not None and batch.column("dalo").valid.tolist() == [True, False]
    assert batch.column("date_renouvellement").values[0] == day_number(datetime.date(2025, 1, 1))


def test_from_rows_accepts_python_values() -> None:
    rows = [
        {
            "numero_unique": "A1",
            "date_depot": datetime.date(2024, 1, 2),
            "nb_personnes": 2,
            "nb_adultes": 1,
            "date_naissance_demandeur": "1990-05-01",
            "ressources_mensuelles": 1200,
            "situation_logement": "hotel",
            "motifs": ["sans_logement"],
            "communes_souhaitees": "31555;31069",
        },
        {
            "numero_unique": "A2",
            "date_depot": "2023-06-30",
            "nb_personnes": 1,
            "nb_adultes": 1,
            "date_naissance_demandeur": datetime.date(1980, 1, 1),
            "ressources_mensuelles": None,
            "situation_logement": "squat",
            "dalo": True,
        },
    ]
    with pytest.raises(DataError) as info:
        Batch.from_rows(rows)
    problem = only(list(info.value.problems), "D107", "ressources_mensuelles")
    assert problem.rows == ("A2",) and problem.source == "<rows>"
    rows[1]["ressources_mensuelles"] = 0
    batch = Batch.from_rows(rows)
    assert batch.column("communes_souhaitees").values[0, :2].tolist() == [31555, 31069]
    assert batch.column("dalo").valid is not None and batch.column("dalo").valid.tolist() == [False, True]


def test_empty_inputs(tmp_path: Path) -> None:
    batch = read_applications(write_csv(tmp_path, HEADER, []))
    assert len(batch) == 0
    assert batch.column("communes_souhaitees").values.shape == (0, 8)
    assert len(Batch.from_rows([])) == 0
    assert len(read_applications(base_frame().iloc[:0])) == 0
    empty = generate_applications(0)
    assert len(empty) == 0
    write_applications(empty, tmp_path / "empty.parquet")
    assert len(read_applications(tmp_path / "empty.parquet")) == 0


def test_day_numbers() -> None:
    assert day_number(datetime.date(1970, 1, 1)) == 0
    assert day_number(datetime.date(2026, 1, 1)) == 20454
    assert from_day_number(20454) == datetime.date(2026, 1, 1)
    assert from_day_number(day_number(datetime.date(1931, 7, 9))) == datetime.date(1931, 7, 9)


# --- one test per problem code -----------------------------------------------------------------------


def test_d101_missing_required_column(tmp_path: Path) -> None:
    header = HEADER.replace(",nb_personnes", "")
    lines = [",".join(x for i, x in enumerate(line.split(",")) if i != 2) for line in GOOD]
    problem = only(problems_of(write_csv(tmp_path, header, lines)), "D101")
    assert problem.column == "nb_personnes"
    assert problem.source == str(tmp_path / "apps.csv")


def test_d102_unparseable_values(tmp_path: Path) -> None:
    header = HEADER + ",dalo,commune_travail"
    lines = [
        "A1,2024/02/01,2.5,1,1990-05-01,1200.50,locataire_prive,peut-etre,3155",
        "A2,2023-02-30,1,1,1980-01-01,abc,sans_abri,oui,31555",
    ]
    problems = problems_of(write_csv(tmp_path, header, lines))
    assert only(problems, "D102", "date_depot").rows == ("A1", "A2")
    assert only(problems, "D102", "date_depot").values == ("2024/02/01", "2023-02-30")
    assert only(problems, "D102", "nb_personnes").rows == ("A1",)
    assert only(problems, "D102", "ressources_mensuelles").values == ("abc",)
    assert only(problems, "D102", "dalo").rows == ("A1",)
    assert only(problems, "D102", "commune_travail").values == ("3155",)


def test_decimal_comma_is_read_and_a_mixed_column_is_d123(tmp_path: Path) -> None:
    lines = [GOOD[0].replace("1200.50", '"1234,50"'), GOOD[1]]
    batch = read_applications(write_csv(tmp_path, HEADER, lines))
    assert batch.column("ressources_mensuelles").values.tolist() == [1234.5, 0.0]
    lines = [GOOD[0].replace("1200.50", '"1234,50"'), GOOD[1].replace(",0,", ",1.234,")]
    problem = only(problems_of(write_csv(tmp_path, HEADER, lines)), "D123", "ressources_mensuelles")
    assert problem.rows == ("A2",) and problem.values == ("1.234",)
    assert "decimal comma" in problem.message


def test_d102_lossy_typed_column() -> None:
    problem = only(problems_of(base_frame(nb_personnes=[2.5, 1.0])), "D102", "nb_personnes")
    assert problem.rows == ("A1",) and problem.source == "<DataFrame>"
    wrong_kind = only(problems_of(base_frame(date_depot=[20000, 20001])), "D102", "date_depot")
    assert wrong_kind.count == 2


def test_d103_unknown_category_with_suggestion(tmp_path: Path) -> None:
    lines = [GOOD[0].replace("locataire_prive", "locatair_prive"), GOOD[1]]
    problem = only(problems_of(write_csv(tmp_path, HEADER, lines)), "D103")
    assert problem.column == "situation_logement"
    assert problem.rows == ("A1",) and problem.values == ("locatair_prive",)
    assert problem.suggestion == "locataire_prive"


def test_d103_unknown_set_value(tmp_path: Path) -> None:
    lines = [GOOD[0] + ",trop_cher;trop_petitt", GOOD[1] + ",autre"]
    problems = problems_of(write_csv(tmp_path, HEADER + ",motifs", lines))
    problem = only(problems, "D103", "motifs")
    assert problem.rows == ("A1",) and problem.suggestion == "trop_petit"


def test_d103_typologie_case(tmp_path: Path) -> None:
    lines = [GOOD[0] + ",t3", GOOD[1] + ",T2"]
    problem = only(problems_of(write_csv(tmp_path, HEADER + ",typologie_souhaitee", lines)), "D103")
    assert problem.suggestion == "T3"


def test_d104_below_minimum(tmp_path: Path) -> None:
    lines = [GOOD[0].replace("1200.50", "-10"), GOOD[1].replace("A2,2023-06-30,1", "A2,2023-06-30,0")]
    problems = problems_of(write_csv(tmp_path, HEADER, lines))
    assert only(problems, "D104", "ressources_mensuelles").rows == ("A1",)
    assert only(problems, "D104", "nb_personnes").rows == ("A2",)


def test_d105_date_after_date_calcul(tmp_path: Path) -> None:
    header = HEADER + ",date_decision_dalo"
    lines = [GOOD[0].replace("2024-01-02", "2026-03-01") + ",", GOOD[1] + ",2026-01-02"]
    path = write_csv(tmp_path, header, lines)
    problems = problems_of(path, date_calcul=TODAY)
    assert only(problems, "D105", "date_depot").rows == ("A1",)
    assert only(problems, "D105", "date_decision_dalo").rows == ("A2",)
    assert len(read_applications(path)) == 2  # no computation date: no D105


def test_d106_duplicate_ids(tmp_path: Path) -> None:
    lines = [*GOOD, GOOD[0], GOOD[1].replace("A2", "A3")]
    problem = only(problems_of(write_csv(tmp_path, HEADER, lines)), "D106")
    assert problem.column == "numero_unique"
    assert problem.rows == ("A1",) and problem.count == 1


def test_d107_missing_required_values(tmp_path: Path) -> None:
    lines = [GOOD[0].replace(",2,1,", ",,1,"), GOOD[1].replace("A2", "")]
    problems = problems_of(write_csv(tmp_path, HEADER, lines))
    assert only(problems, "D107", "nb_personnes").rows == ("A1",)
    assert only(problems, "D107", "numero_unique").rows == ("ligne 2",)


def test_d108_unreadable_files(tmp_path: Path) -> None:
    problem = only(problems_of(tmp_path / "apps.ods"), "D108")
    assert problem.column == "<file>" and "suffix" in problem.message
    assert only(problems_of(tmp_path / "absent.csv"), "D108").column == "<file>"
    latin = tmp_path / "latin.csv"  # decoded (cp1252 detected): the unknown value is what is wrong
    latin.write_bytes(
        (HEADER + "\n" + GOOD[0].replace("locataire_prive", "hébergé") + "\n").encode("latin-1")
    )
    assert only(problems_of(latin), "D103").values == ("hébergé",)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    assert only(problems_of(broken), "D108").column == "<file>"
    with pytest.raises(DataError):
        write_applications(generate_applications(2), tmp_path / "out.json")


def test_d109_misspelt_column(tmp_path: Path) -> None:
    header = HEADER + ",nb_enfans,commentaire"
    lines = [line + ",1,bla" for line in GOOD]
    problem = only(problems_of(write_csv(tmp_path, header, lines)), "D109")
    assert problem.column == "nb_enfans" and problem.suggestion == "nb_enfants"


def test_unknown_columns_are_ignored(tmp_path: Path) -> None:
    header = HEADER + ",nb_enfants,nb_enfans,commentaire"
    lines = [line + ",1,1,bla" for line in GOOD]
    batch = read_applications(write_csv(tmp_path, header, lines))
    assert batch.ignored_columns == ("nb_enfans", "commentaire")


def test_d110_too_many_communes(tmp_path: Path) -> None:
    many = ";".join(["31555", "31069", "31149", "31557", "31044", "31157", "31561", "31506", "31446"])
    lines = [GOOD[0] + f",{many}", GOOD[1] + ",31555;3106"]
    problems = problems_of(write_csv(tmp_path, HEADER + ",communes_souhaitees", lines))
    assert only(problems, "D110", "communes_souhaitees").rows == ("A1",)
    assert only(problems, "D102", "communes_souhaitees").rows == ("A2",)


def test_d111_value_above_the_maximum(tmp_path: Path) -> None:
    lines = [GOOD[0] + ",31", GOOD[1] + ",30"]
    problems = problems_of(write_csv(tmp_path, HEADER + ",nb_enfants", lines))
    assert only(problems, "D111", "nb_enfants").rows == ("A1",)


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    header = HEADER.replace(",nb_adultes", "") + ",typologie_souhaitee,nb_enfans"
    lines = [
        "A1,2024-13-01,2,1990-05-01,-5,locataire_prive,T2,1",
        "A1,2024-01-01,,1980-01-01,1500,hotell,T9,1",
        ",2024-01-01,1,1980-01-01,1500,hotel,T2,1",
    ]
    problems = problems_of(write_csv(tmp_path, header, lines))
    codes = {(p.code, p.column) for p in problems}
    assert codes >= {
        ("D101", "nb_adultes"),
        ("D102", "date_depot"),
        ("D104", "ressources_mensuelles"),
        ("D106", "numero_unique"),
        ("D107", "nb_personnes"),
        ("D107", "numero_unique"),
        ("D103", "situation_logement"),
        ("D103", "typologie_souhaitee"),
        ("D109", "nb_enfans"),
    }
    assert only(problems, "D107", "numero_unique").rows == ("ligne 3",)
    assert only(problems, "D103", "situation_logement").suggestion == "hotel"


def test_rows_are_capped_and_counted() -> None:
    n = MAX_ROWS + 5
    frame = pd.DataFrame(
        {
            "numero_unique": [f"X{i}" for i in range(n)],
            "date_depot": ["2024-01-01"] * n,
            "nb_personnes": [-1] * n,
            "nb_adultes": [1] * n,
            "date_naissance_demandeur": ["1980-01-01"] * n,
            "ressources_mensuelles": [100.0] * n,
            "situation_logement": ["hotel"] * n,
        }
    )
    problem = only(problems_of(frame), "D104", "nb_personnes")
    assert len(problem.rows) == MAX_ROWS and problem.count == n
    assert problem.rows[0] == "X0"


# --- round trips and Batch operations ------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated() -> Batch:
    return generate_applications(3000, seed=7)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_file_round_trip(tmp_path: Path, generated: Batch, suffix: str) -> None:
    path = tmp_path / f"apps{suffix}"
    write_applications(generated, path)
    assert_same(generated, read_applications(path, date_calcul=TODAY))


def test_pandas_round_trip(generated: Batch) -> None:
    frame = generated.to_pandas()
    assert isinstance(frame, pd.DataFrame) and len(frame) == len(generated)
    assert_same(generated, read_applications(frame, date_calcul=TODAY))


def test_arrow_round_trip_with_lists(generated: Batch) -> None:
    table = generated.to_arrow(lists=True)
    assert pa.types.is_list(table.schema.field("motifs").type)
    assert table.schema.field("date_depot").type == pa.date32()
    back = read_applications(table)
    assert back.source == "<Arrow>"
    assert_same(generated, back)
    assert_same(generated, read_applications(generated.to_arrow()))


def test_from_rows_round_trip(generated: Batch) -> None:
    small = generated.take(np.arange(50))
    assert_same(small, Batch.from_rows(small.to_arrow(lists=True).to_pylist()))


def test_take_permutation(generated: Batch) -> None:
    order = np.random.default_rng(1).permutation(len(generated))
    shuffled = generated.take(order)
    assert list(shuffled.ids) == list(generated.ids[order])
    for name, col in generated.columns.items():
        np.testing.assert_array_equal(shuffled.column(name).values, col.values[order])
    assert_same(generated, shuffled.take(np.argsort(order)))
    assert len(generated.take(np.array([3, 1]))) == 2


def test_column_lookup_suggests(generated: Batch) -> None:
    with pytest.raises(KeyError, match="nb_enfants"):
        generated.column("nb_enfans")


def test_with_catalogue_adds_local_fields(generated: Batch) -> None:
    from cotation.grid.catalogue import Field

    extra = Field("suivi_social", Kind.BOOL, "Suivi social", "", local=True)
    extended = generated.with_catalogue(generated.catalogue.extend((extra,)))
    col = extended.column("suivi_social")
    assert col.valid is not None and not col.valid.any() and len(col.values) == len(generated)
    assert extended.column("motifs") is generated.column("motifs")
    assert list(extended.columns)[-1] == "suivi_social"


def test_parquet_columns_in_any_order_are_read_one_group_at_a_time(tmp_path: Path, generated: Batch) -> None:
    """A Parquet file is read column by column (in groups, each released once converted): a file
    whose columns come in another order than the catalogue's, with an extra column, reads the same."""
    import pyarrow.parquet as pq

    table = generated.to_arrow()
    names = list(reversed(table.column_names))
    shuffled = table.select(names).append_column("commentaire", pa.array(["x"] * len(table)))
    pq.write_table(shuffled, tmp_path / "shuffled.parquet")
    back = read_applications(tmp_path / "shuffled.parquet", date_calcul=TODAY)
    assert_same(generated, back)
    assert back.ignored_columns == ("commentaire",)


def test_dictionary_encoded_columns_report_as_text(tmp_path: Path) -> None:
    """Parquet text columns are read dictionary-encoded: the batch, and every problem with its rows
    and values, are those of the same table given as plain text (issue 18)."""
    import pyarrow.parquet as pq

    table = generate_applications(300, seed=4).to_arrow()
    good = tmp_path / "good.parquet"
    pq.write_table(table, good)
    assert read_applications(good).to_arrow().equals(read_applications(table).to_arrow())
    cells = table.column("situation_logement").to_pylist()
    cells[7], cells[9] = "sans_abri_", " "
    motifs = table.column("motifs").to_pylist()
    motifs[3] = "inconnu;" + (motifs[3] or "")
    bad = table.set_column(
        table.schema.get_field_index("situation_logement"), "situation_logement", pa.array(cells)
    )
    bad = bad.set_column(bad.schema.get_field_index("motifs"), "motifs", pa.array(motifs))
    path = tmp_path / "bad.parquet"
    pq.write_table(bad, path)
    with pytest.raises(DataError) as from_parquet:
        read_applications(path)
    with pytest.raises(DataError) as from_arrow:
        read_applications(bad)
    assert pa.types.is_dictionary(
        pq.ParquetFile(path, read_dictionary=["motifs"]).schema_arrow.field("motifs").type
    )
    assert [(p.code, p.column, p.message, p.rows, p.values) for p in from_parquet.value.problems] == [
        (p.code, p.column, p.message, p.rows, p.values) for p in from_arrow.value.problems
    ]
    assert {p.column for p in from_parquet.value.problems} >= {"motifs"}

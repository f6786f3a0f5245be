"""The readers' fast paths read what the general path reads, and fail as it fails.

A big UTF-8 CSV file is checked piece by piece and read by Arrow from the file
(``formats.STREAM_FROM_BYTES``); every other file goes through ``formats.decode``. Text columns of
booleans whose cells are all plain words are read by one lookup (``batch._plain_bools``). Each test
below reads the same input through both and asks for the same batch or the same problems.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cotation.data import batch as batch_module
from cotation.data import formats
from cotation.data.batch import Batch, read_applications, write_applications
from cotation.data.generate import generate_applications
from cotation.errors import DataError

DAY = datetime.date(2026, 1, 1)
HEADER = "numero_unique;date_depot;nb_personnes;nb_adultes;dalo;ressources_mensuelles;situation_logement"
ROW = "0001;16/03/2021;2;1;oui;2146,3;heberge_tiers"


def outcome(path: Path, **kwargs: object) -> object:
    """The batch read (as Arrow) or the problems raised, as comparable values."""
    try:
        batch = read_applications(path, date_calcul=DAY, **kwargs)  # type: ignore[arg-type]
    except DataError as exc:
        return [(p.code, p.column, p.message, p.rows, p.values, p.count) for p in exc.problems]
    return batch.to_arrow()


def both_ways(path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> tuple[object, object]:
    """(through decode, streamed in pieces of 5 bytes) for a file read with ``kwargs``."""
    general = outcome(path, **kwargs)
    with monkeypatch.context() as m:
        m.setattr(formats, "STREAM_FROM_BYTES", 0)
        m.setattr(formats, "STREAM_BYTES", 5)  # multi-byte characters split between pieces
        streamed = outcome(path, **kwargs)
    return general, streamed


def same(a: object, b: object) -> bool:
    return a.equals(b) if isinstance(a, pa.Table) else a == b  # type: ignore[no-any-return,attr-defined]


@pytest.mark.parametrize(
    "data",
    [
        (HEADER + "\n" + ROW + "\n").encode(),  # ASCII
        b"\xef\xbb\xbf" + (HEADER + "\n" + ROW + "\n").encode(),  # BOM
        b"\xef\xbb\xbf" + (HEADER + "\n" + ROW.replace("heberge_tiers", "hébergé") + "\n").encode(),  # D103
        (HEADER + "\n" + ROW.replace("heberge_tiers", "hébergé") + "\n").encode("cp1252"),  # not UTF-8
        (HEADER + "\n" + ROW.replace("heberge_tiers", "hébergé") + "\n").encode("cp850"),  # D120
        (HEADER + "\n" + ROW + "\n").encode("utf-16"),
        (HEADER + "\n").encode("utf-16-le"),  # NUL bytes: D120
        (HEADER + "\n" + ROW + "\n").encode()[:-1] + b"\xc3",  # a truncated character at the end
        b"",  # empty: D108
        b"\xef\xbb\xbf",
        (HEADER + "\n" + ROW.replace("oui", "Oui") + "\n" + ROW.replace("0001", "0002") + "\n").encode(),
    ],
)
def test_a_streamed_file_reads_as_a_decoded_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes
) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(data)
    general, streamed = both_ways(path, monkeypatch)
    assert same(general, streamed), (general, streamed)
    general, streamed = both_ways(path, monkeypatch, encoding="utf-8")
    assert same(general, streamed), (general, streamed)


def test_a_streamed_cell_over_one_mib_is_located_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.csv"
    big = ROW.replace("heberge_tiers", "x" * (formats.BLOCK_BYTES + 10))
    path.write_bytes((HEADER + "\n" + ROW + "\n" + big + "\n").encode())
    general, streamed = both_ways(path, monkeypatch)
    assert isinstance(general, list) and general[0][0] == "D121"
    assert general == streamed


@pytest.mark.parametrize("dialect", [None, "fr"])
def test_generated_files_read_the_same_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dialect: str | None
) -> None:
    batch = generate_applications(2_000, seed=3, date_calcul=DAY)
    path = tmp_path / "g.csv"
    write_applications(batch, path, dialect=dialect)
    general, streamed = both_ways(path, monkeypatch)
    assert isinstance(general, pa.Table) and general.equals(streamed)


BOOL_CELLS = [
    ["true", "false", "oui", "non", "vrai", "faux", "1", "0"],
    ["true", "", "false", ""],
    ["", "", ""],
    ["Oui", "NON", "true"],  # upper case: the general path
    [" true", "false "],  # spaces: the general path
    ["true", "maybe", "", "x"],  # D102
    ["true", None, "false"],
    ["oui", "non", "", "oui"],  # one width: read from the bytes
    ["1", "0", None, "1"],
    ["vrai", "faux", "faux"],
    ["oui", "nan", "non"],  # one width, a cell not a word: D102
    ["oui", "Oui"],
    ["oui", "vrai", "non"],  # two widths: the lookup
    ["0", "1", "oui"],
]


@pytest.mark.parametrize("cells", BOOL_CELLS)
@pytest.mark.parametrize("required", [False, True])
def test_plain_boolean_words_read_as_the_converter_reads_them(
    cells: list[str | None], required: bool
) -> None:
    f = batch_module.default_catalogue().get("dalo")
    assert f is not None
    f = dataclasses.replace(f, required=required)
    arr = pa.array(cells, pa.string())
    fast = batch_module._plain_bools(f, arr)
    ctx = batch_module._Ctx(batch_module._Report("t"), len(arr), None)
    slow = batch_module._convert_bool(f, batch_module._normalise(arr), ctx)
    if fast is None:
        return  # the general path reads it (and reports its problems): nothing to compare
    assert not ctx.report.pending
    np.testing.assert_array_equal(fast.values, slow.values)
    assert (fast.valid is None) == (slow.valid is None)
    if fast.valid is not None and slow.valid is not None:
        np.testing.assert_array_equal(fast.valid, slow.valid)


def test_plain_booleans_are_taken_by_the_fast_path() -> None:
    """The common case does take the fast path (else the tests above would prove nothing)."""
    f = batch_module.default_catalogue().get("dalo")
    assert f is not None
    assert batch_module._plain_bools(f, pa.array(["true", "false", ""], pa.string())) is not None
    assert batch_module._plain_bools(f, pa.array(["Oui", "non"], pa.string())) is None
    assert batch_module._plain_bools(f, pa.array(["oui", "non", ""], pa.string())) is not None
    assert batch_module._plain_bools(f, pa.array(["1", "0"], pa.string())) is not None


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.sampled_from(
                ["oui", "non", "1", "0", "vrai", "faux", "true", "false", "", "Oui", "ouï", "nan", "10", "o"]
            ),
        ),
        min_size=1,
        max_size=12,
    ),
    st.booleans(),
    st.integers(0, 3),
)
@settings(max_examples=300, deadline=None)
def test_boolean_words_from_bytes_read_as_the_converter_reads_them(
    cells: list[str | None], required: bool, start: int
) -> None:
    """Whatever the cells (and a slice of a bigger array), the fast path answers only with the
    converter's values and validity, and answers for every column of plain words."""
    f = dataclasses.replace(batch_module.default_catalogue()["dalo"], required=required)
    arr = pa.array(["x"] * start + cells, pa.string()).slice(start)
    fast = batch_module._plain_bools(f, arr)
    words = set(batch_module.TRUE_WORDS + batch_module.FALSE_WORDS)
    plain = all(c in words or (not required and c in (None, "")) for c in cells)
    assert (fast is not None) == plain
    ctx = batch_module._Ctx(batch_module._Report("t"), len(arr), None)
    slow = batch_module._convert_bool(f, batch_module._normalise(arr), ctx)
    if fast is None:
        return
    assert not ctx.report.pending
    np.testing.assert_array_equal(fast.values, slow.values)
    assert (fast.valid is None) == (slow.valid is None)
    if fast.valid is not None and slow.valid is not None:
        np.testing.assert_array_equal(fast.valid, slow.valid)


def test_batch_from_csv_equals_batch_from_parquet(tmp_path: Path) -> None:
    batch: Batch = generate_applications(3_000, seed=4, date_calcul=DAY)
    for name in ("g.csv", "g.fr.csv", "g.parquet"):
        write_applications(batch, tmp_path / name)
    expected = read_applications(tmp_path / "g.parquet", date_calcul=DAY).to_arrow()
    for name in ("g.csv", "g.fr.csv"):
        assert read_applications(tmp_path / name, date_calcul=DAY).to_arrow().equals(expected)


def test_columns_converted_in_threads_report_as_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Problems of many columns, converted in threads, come in catalogue order with the same rows."""
    batch = generate_applications(500, seed=6, date_calcul=DAY)
    table = batch.to_arrow()
    bad = {"dalo": "peut-être", "nb_personnes": "deux", "date_depot": "32/13/2020", "motifs": "inconnu"}
    for name, value in bad.items():
        column = table.column(name).cast(pa.string()).to_pylist()
        column[7] = column[300] = value
        table = table.set_column(table.column_names.index(name), name, pa.array(column, pa.string()))
    serial = outcome_of(table)
    monkeypatch.setattr(batch_module, "CONVERT_THREADS_FROM_ROWS", 0)
    assert outcome_of(table) == serial
    assert [p[1] for p in serial] == [f.name for f in batch.catalogue if f.name in bad]


def outcome_of(table: pa.Table) -> list[tuple[object, ...]]:
    with pytest.raises(DataError) as info:
        read_applications(table, date_calcul=DAY)
    return [(p.code, p.column, p.message, p.rows, p.values, p.count) for p in info.value.problems]


# items of a communes cell: five digits (the fast path), and what only the general path reads or rejects
COMMUNE_ITEMS = [
    "31555",
    "31069",
    "00001",
    "99999",
    "2A004",
    "2b033",
    "3155",
    "315550",
    " 31555",
    "3155x",
    "",
]


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.lists(st.sampled_from(COMMUNE_ITEMS), max_size=10).map(";".join),
            st.sampled_from(
                [
                    "31555;",
                    ";31555",
                    "31555;;31069",
                    "31555,31069",
                    "315553106",
                    "31555031069",
                    "31555;31069x31000",
                ]
            ),
        ),
        min_size=1,
        max_size=8,
    ),
    st.integers(1, 8),
)
@settings(max_examples=300, deadline=None)
def test_packed_communes_read_as_the_general_path_reads_them(cells: list[str | None], width: int) -> None:
    """The bytes fast path for lists of communes (``batch._packed_communes``) gives the general path's
    matrix wherever it answers, and answers for every column of plain five-digit codes."""
    f = dataclasses.replace(batch_module.default_catalogue()["communes_souhaitees"], width=width)
    arr = pa.array(cells, pa.string())
    fast = batch_module._packed_communes(arr, width)
    plain = all(
        c is None
        or c == ""
        or (all(len(i) == 5 and i.isdigit() for i in c.split(";")) and c.count(";") < width)
        for c in cells
    )
    assert (fast is not None) == plain
    if fast is None:
        return
    ctx = batch_module._Ctx(batch_module._Report("t"), len(arr), None)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(batch_module, "_packed_communes", lambda arr, width: None)
        slow = batch_module._convert_communes(f, batch_module._normalise(arr), ctx)
    assert not ctx.report.pending
    np.testing.assert_array_equal(fast, slow.values)


def test_packed_communes_read_a_sliced_array() -> None:
    """An array that is a slice of a bigger one (offsets not from 0) reads its own cells only."""
    arr = pa.array(["11111;22222", "33333", "", "44444;55555;66666", "77777"], pa.string()).slice(1, 3)
    fast = batch_module._packed_communes(arr, 3)
    assert fast is not None
    assert fast.tolist() == [[33333, -1, -1], [-1, -1, -1], [44444, 55555, 66666]]

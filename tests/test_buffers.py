"""cotation.data.buffers: Arrow <-> NumPy through buffers, equal to pyarrow's own conversions, and the
reason it exists: reading files and scoring never import pandas."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cotation.data import buffers

ROOT = Path(__file__).resolve().parent.parent
DTYPES = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint64, np.float32, np.float64]


@st.composite
def arrays(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(values, missing, slice start, slice stop) of one dtype."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    n = draw(st.integers(0, 70))
    if dtype == np.bool_:
        values = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), np.bool_)
    elif dtype.kind == "f":
        floats = st.floats(width=8 * dtype.itemsize, allow_nan=False)  # NaN: Array.equals says unequal
        values = np.array(draw(st.lists(floats, min_size=n, max_size=n)), dtype)
    else:
        info = np.iinfo(dtype)
        ints = st.integers(int(info.min), int(info.max))
        values = np.array(draw(st.lists(ints, min_size=n, max_size=n)), dtype)
    missing = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), np.bool_)
    start = draw(st.integers(0, n))
    return values, missing, start, draw(st.integers(start, n))


@given(arrays())
def test_round_trip_and_slices_equal_pyarrow(drawn: tuple[np.ndarray, np.ndarray, int, int]) -> None:
    values, missing, start, stop = drawn
    ours = buffers.from_numpy(values, missing)
    theirs = pa.array(values, mask=missing)
    assert ours.equals(theirs)
    ours.validate(full=True)
    part = ours[start:stop]  # a non-zero offset into the bitmaps and the values
    valid = ~missing[start:stop]
    np.testing.assert_array_equal(buffers.valid(part), valid)
    np.testing.assert_array_equal(buffers.valid(part), pc.is_valid(part).to_numpy(zero_copy_only=False))
    fill = values[0] if len(values) else 0
    got = buffers.values(part, fill)
    assert got.dtype == values.dtype
    np.testing.assert_array_equal(got, np.where(valid, values[start:stop], fill))


def test_values_of_an_array_without_nulls_is_a_view() -> None:
    arr = pa.array(np.arange(10, dtype=np.int32))[3:]
    got = buffers.values(arr)
    np.testing.assert_array_equal(got, np.arange(3, 10))
    assert not got.flags.writeable  # Arrow memory, not a copy


def test_values_refuses_other_types() -> None:
    with pytest.raises(TypeError, match="no NumPy values for Arrow type string"):
        buffers.values(pa.array(["a"]))
    with pytest.raises(TypeError, match="no Arrow type for NumPy dtype"):
        buffers.from_numpy(np.array(["a"]))


@given(st.lists(st.none() | st.text(max_size=6), max_size=30))
def test_strings_and_texts(items: list[str | None]) -> None:
    arr = buffers.strings(items)
    arr.validate(full=True)
    assert arr.equals(pa.array(items, pa.string()))
    assert buffers.texts(arr, "?") == ["?" if s is None else s for s in items]


@given(st.lists(st.none() | st.text(max_size=6), max_size=30), st.integers(1, 7))
def test_objects_made_in_slices_are_the_texts(items: list[str | None], size: int) -> None:
    arr = buffers.strings(items)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(buffers, "OBJECT_SLICE", size)  # every slice boundary, and the last short slice
        made = buffers.objects(arr, "?")
    assert made.dtype == object and made.shape == (len(items),)
    assert made.tolist() == ["?" if s is None else s for s in items]


def test_null_scalar() -> None:
    scalar = buffers.null_scalar(pa.string())
    assert scalar.type == pa.string() and not scalar.is_valid


_NO_PANDAS = """
import datetime, json, sys
import cotation
grid = cotation.load_grid({grid!r})
day = datetime.date(2026, 1, 1)
out = {{}}
for path in {paths!r}:
    batch = cotation.read_applications(path, grid.catalogue, date_calcul=day)
    scores = cotation.score(grid, batch, day)
    out[path] = [len(batch), int(scores.total.sum()), int(scores.rank.min())]
    cotation.write_applications(batch, path.replace("a.", "copie."))
    scores.to_arrow()
try:
    cotation.read_applications({bad!r}, grid.catalogue, date_calcul=day)
except cotation.DataError as exc:
    out["bad"] = sorted((p.code, p.column, p.rows) for p in exc.problems)
out["pandas"] = "pandas" in sys.modules
print(json.dumps(out))
"""


def test_reading_files_and_scoring_never_import_pandas(tmp_path: Path) -> None:
    """pyarrow's own conversions import pandas (0.15 s of a warm start): the readers avoid them.
    With text cells to parse (CSV) and typed columns (Parquet), and unknown values reported."""
    from cotation import generate_applications, load_grid, write_applications

    catalogue = load_grid(ROOT / "grids" / "exemple-metropole.yaml").catalogue  # with its local fields
    batch = generate_applications(300, seed=4, catalogue=catalogue)
    paths = [str(tmp_path / "a.parquet"), str(tmp_path / "a.csv")]
    for path in paths:
        write_applications(batch, path)
    rows = (tmp_path / "a.csv").read_text(encoding="utf-8").splitlines()
    header = rows[0].split(",")
    cells = rows[2].split(",")
    cells[header.index('"nb_personnes"')] = '"2,5"'
    cells[header.index('"situation_logement"')] = '"chateau"'
    rows[2] = ",".join(cells)
    (tmp_path / "bad.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    code = _NO_PANDAS.format(
        grid=str(ROOT / "grids" / "exemple-metropole.yaml"), paths=paths, bad=str(tmp_path / "bad.csv")
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out.pop("pandas") is False
    assert out[paths[0]] == out[paths[1]] and out[paths[0]][0] == 300
    second = str(batch.ids[1])
    assert out["bad"] == [["D102", "nb_personnes", [second]], ["D103", "situation_logement", [second]]]


def test_a_read_batch_keeps_its_ids_as_arrow(tmp_path: Path) -> None:
    """The sorts by id read ``Batch.id_strings()``: the reader's own Arrow array (no round trip
    through Python strings), equal to the ids, which are read-only so that the two cannot differ."""
    from cotation import generate_applications, read_applications, write_applications

    generated = generate_applications(50, seed=2)
    write_applications(generated, tmp_path / "a.parquet")
    for batch in (generated, read_applications(tmp_path / "a.parquet")):
        assert batch.id_strings().to_pylist() == batch.ids.tolist()
        assert batch.id_strings() is batch.id_strings() and not batch.ids.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            batch.ids[0] = "autre"
        assert batch.with_catalogue(batch.catalogue).id_strings() is batch.id_strings()
        part = batch.take(np.array([3, 1]))
        assert part.id_strings().to_pylist() == [batch.ids[3], batch.ids[1]]


@pytest.mark.parametrize("engine", ["reference", "compiled"])
def test_reading_scoring_and_writing_a_file_makes_no_python_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    """A batch read from a file keeps its ids as Arrow's until ``ids`` is first read: reading,
    scoring (with positions) and writing the scores never make a million Python strings; then
    ``ids`` are the same, read-only, in the batch, its parts and the scores."""
    import datetime

    import cotation

    day = datetime.date(2026, 1, 1)
    grid = cotation.load_grid(ROOT / "grids" / "exemple-metropole.yaml")
    generated = cotation.generate_applications(300, seed=4, date_calcul=day)
    cotation.write_applications(generated, tmp_path / "a.parquet")
    expected = generated.ids.tolist()

    def refuse(arr: pa.Array, fill: str = "") -> np.ndarray:
        raise AssertionError("Python ids made")

    with monkeypatch.context() as patch:
        patch.setattr(buffers, "objects", refuse)  # what makes ids, for Batch and Scores alike
        batch = cotation.read_applications(tmp_path / "a.parquet", grid.catalogue, date_calcul=day)
        scores = cotation.score(
            grid, batch, day, engine=engine, breakdown=True, absent=["suivi_travailleur_social"]
        )
        table = scores.to_arrow()
        part = batch.take(np.array([5, 2])).with_catalogue(grid.catalogue)
        assert len(batch) == len(scores) == 300 and len(part) == 2
        assert table.column("numero_unique").to_pylist() == expected
        assert scores.position.shape == (300,)
    assert scores.ids.tolist() == expected and batch.ids.tolist() == expected
    assert part.ids.tolist() == [expected[5], expected[2]]
    assert not batch.ids.flags.writeable and not scores.ids.flags.writeable
    assert scores.to_arrow().equals(table)


def test_dates_after_the_computation_date_are_labelled_by_read_ids(tmp_path: Path) -> None:
    import datetime

    import cotation
    from cotation.errors import DataError

    generated = cotation.generate_applications(30, seed=4, date_calcul=datetime.date(2026, 1, 1))
    cotation.write_applications(generated, tmp_path / "a.parquet")
    batch = cotation.read_applications(tmp_path / "a.parquet")
    early = datetime.date(2000, 1, 1)
    with pytest.raises(DataError) as info:
        batch.check_dates(early)
    rows = {row for p in info.value.problems for row in p.rows}
    assert rows and rows <= set(generated.ids.tolist())


def test_tables_equal_pyarrow_s(tmp_path: Path) -> None:
    """The writers' tables (scores, rankings, batches) are what ``pa.table`` / ``pa.array`` made."""
    import datetime

    import cotation

    day = datetime.date(2026, 1, 1)
    grid = cotation.load_grid(ROOT / "grids" / "exemple-metropole.yaml")
    batch = cotation.generate_applications(400, seed=8, date_calcul=day)
    scores = cotation.score(grid, batch, day)
    expected = pa.table(scores.table())
    assert scores.to_arrow().replace_schema_metadata(None).equals(expected)
    ranking = cotation.rank(grid, batch, cotation.generate_dwellings(6, seed=8), 3, date_calcul=day)
    assert ranking.to_arrow().replace_schema_metadata(None).equals(pa.table(ranking.table()))
    mixed = {
        "texte": np.array(["a", None, "é"], object),
        "unicode": np.array(["x", "yy", ""]),
        "b": np.array([True, False, True]),
        "f": np.array([0.5, -1.0, 2.0], np.float32),
    }
    assert buffers.table(mixed).equals(pa.table(mixed))
    for lists in (False, True):  # every kind of column, back to user-facing values
        write = batch.to_arrow(lists=lists)
        assert cotation.read_applications(write).to_arrow(lists=lists).equals(write)
    write = batch.to_arrow()
    assert write.schema.field("date_depot").type == pa.date32()
    assert write.column("date_depot").to_pylist()[:2] == [
        datetime.date.fromordinal(datetime.date(1970, 1, 1).toordinal() + int(d))
        for d in batch.column("date_depot").values[:2]
    ]
    communes = pa.array(["31555", "2A004", "2B033", None])
    assert cotation.read_applications(
        pa.table({**{n: write.column(n)[:4] for n in write.column_names}, "commune_travail": communes})
    ).to_arrow().column("commune_travail").to_pylist() == ["31555", "2A004", "2B033", None]

"""Stage 2 (data): typed columnar batches of applications, and their readers and writers.

A :class:`Batch` holds one NumPy array per catalogue field (storage per kind: see
:mod:`cotation.grid.catalogue`) plus an optional validity mask. Every reader -- CSV, Parquet, a pandas
DataFrame, a pyarrow Table, Python rows -- first turns its input into a pyarrow Table, then goes
through ONE conversion core (:func:`_build_batch`) so that all of them share the same validation:
every problem of every column is collected and raised once as a :class:`~cotation.errors.DataError`.
Nothing is coerced, dropped or defaulted silently.

Text cells (CSV, string columns) are parsed per field kind:

* bool: ``true/false/1/0/oui/non/vrai/faux`` (case-insensitive);
* int, float, money: ``.`` or ``,`` as decimal separator, optional exponent, spaces between
  thousands (:func:`cotation.data.formats.parse_numbers`: a column mixing ``1,5`` and ``1.234`` is
  D123); an int field accepts an integral number written as a decimal (``3.0``), never ``2.5``;
* date: ISO ``YYYY-MM-DD`` or French ``dd/mm/yyyy`` (:func:`cotation.data.formats.parse_dates`:
  two-digit years and month-first dates are D122);
* category: one of the field's values (exact spelling);
* set, communes: items separated by ``;``, spaces around items stripped, empty items ignored;
* commune: an INSEE code (``31555``, ``2A004``).

Leading/trailing spaces are stripped and an empty cell is missing. CSV files are read with every
column as text, decoded and split by :mod:`cotation.data.formats` (UTF-8 with or without BOM,
cp1252 detected, or the ``encoding`` given; ``,``, ``;`` or tab from the header line). Typed
columns (Parquet, Arrow, pandas) are accepted when their type fits the field kind losslessly
(integers 0/1 for bool, integral floats for int, midnight timestamps for dates, lists for sets
and communes). An input column that is not a field is reported as D109 when it is at least 80 %
similar to an absent field name (a misspelling; case and accents aside: ``DALO`` for ``dalo``),
and otherwise listed in ``ignored_columns``; ``absent`` lists the fields with no column.
"""

from __future__ import annotations

import csv
import datetime
import difflib
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..dates import day_number, from_day_number
from ..errors import MAX_ROWS, DataError, DataProblem, did_you_mean
from ..grid.catalogue import Catalogue, Field, Kind, default_catalogue, dwelling_catalogue
from . import formats
from .buffers import NO_IDS, from_numpy, held_ids, made_ids, null_scalar, strings, text_bytes, valid
from .buffers import values as numbers

__all__ = [
    "Batch",
    "Column",
    "RowProblem",
    "day_number",
    "from_day_number",
    "load_table",
    "read_applications",
    "row_problems",
    "write_applications",
]

INT32_MAX = 2**31 - 1
FILE_COLUMN = "<file>"
MISSPELT_RATIO = 0.8
CONVERT_THREADS = 4  # columns converted at once (at most one a core)
CONVERT_THREADS_FROM_ROWS = 50_000  # fewer rows: one by one
PARQUET_COLUMNS_AT_ONCE = 8  # read together from a Parquet file (decoded in parallel), released one by one
TRUE_WORDS = ("true", "1", "oui", "vrai")
FALSE_WORDS = ("false", "0", "non", "faux")
COMMUNE_RE = r"^(\d{5}|2[AB]\d{3})$"
# Arrow scalars made once, without pyarrow's pandas layer (which a Python str argument goes through)
_EMPTY, _SEMICOLON, _2A, _2B = strings(["", ";", "2A", "2B"])
_BOOL_WORDS = strings([*TRUE_WORDS, *FALSE_WORDS])
# kinds whose text columns may be converted through a dictionary (their distinct values only): few
# distinct values per column (amounts and the lists of communes have nearly one a row)
DICTIONARY_KINDS = frozenset({Kind.BOOL, Kind.INT, Kind.DATE, Kind.CATEGORY, Kind.SET, Kind.COMMUNE})
STORAGE: dict[Kind, type] = {
    Kind.BOOL: np.bool_,
    Kind.INT: np.int32,
    Kind.FLOAT: np.float64,
    Kind.MONEY: np.float64,
    Kind.DATE: np.int32,
    Kind.CATEGORY: np.int8,
    Kind.SET: np.uint64,
    Kind.COMMUNE: np.int32,
    Kind.COMMUNES: np.int32,
}


# --------------------------------------------------------------------------------------------
# Batch
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """The values of one field; ``valid`` is None when every value is present."""

    values: np.ndarray
    valid: np.ndarray | None

    def take(self, indices: np.ndarray) -> Column:
        return Column(self.values[indices], None if self.valid is None else self.valid[indices])


@dataclass(eq=False)
class Batch:
    """A batch of applications: ids plus one :class:`Column` per non-id catalogue field."""

    catalogue: Catalogue
    ids: np.ndarray
    columns: dict[str, Column]
    source: str | None = None
    ignored_columns: tuple[str, ...] = field(default=())
    # fields of the catalogue the source had no column for (None: not tracked, e.g. rows, generated)
    absent: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        self._id_strings: pa.Array | None = None

    @classmethod
    def _of(
        cls,
        catalogue: Catalogue,
        ids: np.ndarray | pa.Array,
        columns: dict[str, Column],
        source: str | None = None,
        ignored_columns: tuple[str, ...] = (),
        absent: tuple[str, ...] | None = None,
    ) -> Batch:
        """A batch whose ``ids`` may be an Arrow string array (no nulls): they are then made into a
        read-only NumPy array of Python strings on first use of ``ids`` only (about 0.12 s a million
        ids), so that reading, scoring and writing a file never makes them."""
        if not isinstance(ids, pa.Array):
            return cls(catalogue, ids, columns, source, ignored_columns, absent)
        batch = cls(catalogue, NO_IDS, columns, source, ignored_columns, absent)
        del batch.ids
        batch._id_strings = ids
        return batch

    if not TYPE_CHECKING:  # hidden from mypy, which would otherwise accept any attribute of a Batch
        __getattr__ = made_ids

    def held_ids(self) -> np.ndarray | pa.Array:
        """The ids as this batch holds them: ``ids``, or the Arrow array they are still made from."""
        return held_ids(self)

    def __len__(self) -> int:
        return len(self.held_ids())

    def id_strings(self) -> pa.Array:
        """The ids as an Arrow string array, for the sorts by id: the reader's own array when the
        batch was read (its ids are then read-only), else made from ``ids`` once."""
        if self._id_strings is None:
            self._id_strings = strings(self.ids)
        return self._id_strings

    def _with_id_strings(self, arr: pa.Array) -> Batch:
        """Keep ``arr`` (equal to ``ids``) as :meth:`id_strings`; ``ids`` become read-only."""
        self.ids.flags.writeable = False
        self._id_strings = arr
        return self

    def column(self, name: str) -> Column:
        """The column of field ``name`` (KeyError, with a suggestion, when unknown)."""
        if name not in self.columns:
            hint = did_you_mean(name, self.columns)
            raise KeyError(f"no field '{name}'" + (f" (did you mean '{hint}'?)" if hint else ""))
        return self.columns[name]

    def take(self, indices: np.ndarray) -> Batch:
        """The rows at ``indices`` (a subset or a permutation), same catalogue."""
        idx = np.asarray(indices)
        columns = {name: col.take(idx) for name, col in self.columns.items()}
        held = self.held_ids()
        ids = held[idx] if isinstance(held, np.ndarray) else held.take(from_numpy(idx.astype(np.int64)))
        return Batch._of(self.catalogue, ids, columns, self.source, self.ignored_columns, self.absent)

    def with_catalogue(self, catalogue: Catalogue) -> Batch:
        """This batch under ``catalogue`` (e.g. extended with a grid's local fields).

        Fields absent from the batch become all missing (sets and communes: empty); a field
        that exists in both catalogues must have the same definition of its storage.
        """
        columns = {}
        for f in catalogue:
            if f.kind is Kind.ID:
                continue
            old = self.catalogue.get(f.name)
            if old is None or f.name not in self.columns:
                columns[f.name] = absent_column(f, len(self))
            elif (old.kind, old.width) == (f.kind, f.width) and old.values != f.values:
                columns[f.name] = _recode(old, f, self.columns[f.name], self.ids)
            elif (old.kind, old.values, old.width) != (f.kind, f.values, f.width):
                raise ValueError(f"field '{f.name}' is defined differently in the two catalogues")
            else:
                columns[f.name] = self.columns[f.name]
        absent = None
        if self.absent is not None:
            new = [f.name for f in catalogue if f.kind is not Kind.ID and f.name not in self.columns]
            absent = tuple(dict.fromkeys([*self.absent, *new]))
        batch = Batch._of(catalogue, self.held_ids(), columns, self.source, self.ignored_columns, absent)
        batch._id_strings = self._id_strings
        return batch

    def check_dates(self, date_calcul: datetime.date) -> None:
        """Raise DataError (D105) if any date of the batch is after ``date_calcul``."""
        today = day_number(date_calcul)
        report = _Report(self.source)
        for f in self.catalogue:
            col = self.columns.get(f.name)
            if f.kind is not Kind.DATE or col is None:
                continue
            after = (col.values > today) if col.valid is None else (col.values > today) & col.valid
            if not after.any():
                continue
            shown = strings([from_day_number(v).isoformat() for v in col.values[after][: MAX_ROWS * 10]])
            message = f"date after the computation date {date_calcul.isoformat()}"
            report.add_rows("D105", f.name, message, after, _spread(shown, after))
        report.raise_if_any(_row_labels(self.held_ids(), np.ones(len(self), dtype=bool)))

    def to_arrow(self, *, lists: bool = False) -> pa.Table:
        """The batch as user-facing values, one Arrow column per catalogue field.

        Dates are ``date32``, categories strings, communes INSEE code strings, missing values
        nulls. Sets and communes are ``;``-joined strings (as in CSV files), or ``list<string>``
        when ``lists`` is true. Both forms round-trip through :func:`read_applications`.
        """
        arrays, names = [], []
        for f in self.catalogue:
            if f.kind is Kind.ID:
                arrays.append(self.id_strings())
            else:
                arrays.append(_to_arrow_column(f, self.columns[f.name], lists))
            names.append(f.name)
        return pa.Table.from_arrays(arrays, names=names)

    def to_pandas(self) -> Any:
        """The batch as a pandas DataFrame (via :meth:`to_arrow`)."""
        return self.to_arrow().to_pandas()

    @classmethod
    def from_rows(
        cls,
        rows: list[dict[str, Any]],
        catalogue: Catalogue | None = None,
        *,
        date_calcul: datetime.date | None = None,
        source: str | None = None,
    ) -> Batch:
        """A batch from Python rows (a missing key or None is a missing value)."""
        catalogue = catalogue or default_catalogue()
        batch = _build_batch(
            _Columns.of(_table_from_rows(rows, catalogue)), catalogue, date_calcul, source or "<rows>"
        )
        batch.absent = None  # a key missing from every row is a missing value, as in one row
        return batch


# --------------------------------------------------------------------------------------------
# Readers and writer
# --------------------------------------------------------------------------------------------


def _recode(old: Field, new: Field, col: Column, ids: np.ndarray) -> Column:
    """A category or set column re-expressed in ``new``'s values (by name); a value that ``new`` does
    not allow is a data error (D103), never dropped."""
    table = np.array([new.values.index(v) if v in new.values else -1 for v in old.values], np.int64)
    if old.kind is Kind.CATEGORY:
        present = col.values >= 0 if col.valid is None else col.valid & (col.values >= 0)
        codes = np.where(present, table[np.maximum(col.values, 0)], -1)
        bad = present & (codes < 0)
        values = codes.astype(np.int8)
    elif old.kind is Kind.SET:
        values = np.zeros(len(col.values), np.uint64)
        bad = np.zeros(len(col.values), bool)
        for k, j in enumerate(table):
            hit = ((col.values >> np.uint64(k)) & np.uint64(1)).astype(bool)
            if j < 0:
                bad |= hit
            else:
                values |= hit.astype(np.uint64) << np.uint64(j)
    else:
        raise ValueError(f"field '{new.name}' is defined differently in the two catalogues")
    if bad.any():
        rows = tuple(str(x) for x in ids[bad][:MAX_ROWS])
        allowed = ", ".join(new.values) or "none"
        raise DataError(
            [
                DataProblem(
                    "D103",
                    new.name,
                    f"value not allowed here (allowed: {allowed})",
                    rows=rows,
                    count=int(bad.sum()),
                )
            ]
        )
    return Column(values, col.valid)


def read_applications(
    source: Any,
    catalogue: Catalogue | None = None,
    *,
    date_calcul: datetime.date | None = None,
    encoding: str | None = None,
    mapping: Any = None,
) -> Batch:
    """Read and validate applications from a .csv/.parquet/.xlsx path, a pandas or polars DataFrame,
    an Arrow Table or any object with the Arrow PyCapsule interface.

    Raises :class:`~cotation.errors.DataError` listing every problem found. With ``date_calcul``,
    any date after it is a problem (D105). ``encoding``: of a CSV file (default: detected, see
    :mod:`cotation.data.formats`). ``mapping``: a mapping file's path (or a shipped one's name) or
    a :class:`~cotation.data.mapping.Mapping`, applied before validation.
    """
    catalogue = catalogue or default_catalogue()
    if mapping is not None:
        from .mapping import Mapping, apply_mapping, load_mapping

        checked = mapping if isinstance(mapping, Mapping) else load_mapping(mapping, catalogue)
        table, name = load_table(source, encoding)
        return _build_batch(_Columns.of(apply_mapping(table, checked)), catalogue, date_calcul, name)
    raw, name = _load_columns(source, encoding, catalogue)
    return _build_batch(raw, catalogue, date_calcul, name)


def read_dwellings(source: Any, catalogue: Catalogue | None = None, *, encoding: str | None = None) -> Batch:
    """Read and validate dwellings (``cotation/resources/logements.yaml`` fields) like applications:
    from a .csv/.parquet/.xlsx path, a DataFrame or an Arrow Table; DataError lists every problem."""
    catalogue = catalogue or dwelling_catalogue()
    raw, name = _load_columns(source, encoding, catalogue)
    return _build_batch(raw, catalogue, None, name)


def as_applications(applications: Any, catalogue: Catalogue, date_calcul: datetime.date) -> Batch:
    """Applications under ``catalogue``: a Batch adapted to it, anything else read and validated."""
    if isinstance(applications, Batch):
        return applications.with_catalogue(catalogue)
    return read_applications(applications, catalogue, date_calcul=date_calcul)


def as_dwellings(dwellings: Any, catalogue: Catalogue) -> Batch:
    """Dwellings under ``catalogue``: a Batch adapted to it, anything else read and validated."""
    if isinstance(dwellings, Batch):
        return dwellings.with_catalogue(catalogue)
    return read_dwellings(dwellings, catalogue)


#: Below this many rows a column without missing values still gets a mask (all true): every small
#: batch then calls the kernels with one signature, whatever its missing values, so a service or a
#: notebook never waits for Numba to compile a version for a new pattern of ``None`` (seconds each).
MASKS_ALWAYS_BELOW = 65_536


def kernel_mask(batch: Batch, name: str) -> np.ndarray | None:
    """The validity mask of a column as a kernel reads it: ``None`` when every value is present in a
    batch of :data:`MASKS_ALWAYS_BELOW` rows or more (the kernel's version for it never reads it)."""
    valid = batch.column(name).valid
    if valid is None:
        return np.ones(len(batch), np.bool_) if len(batch) < MASKS_ALWAYS_BELOW else None
    return np.ascontiguousarray(valid, np.bool_)


def kernel_values(batch: Batch, f: Field, name: str) -> np.ndarray:
    """The values of a column as a kernel reads them: contiguous, set bits as uint64, communes flat."""
    values = batch.column(name).values
    if f.kind is Kind.SET:
        return np.ascontiguousarray(values, np.uint64)
    if f.kind is Kind.BOOL:
        return np.ascontiguousarray(values, np.bool_)
    if f.kind is Kind.COMMUNES and values.shape[1] != f.width:
        raise ValueError(f"column '{name}' has {values.shape[1]} communes per row, the catalogue {f.width}")
    return (
        np.ascontiguousarray(values).reshape(-1) if f.kind is Kind.COMMUNES else np.ascontiguousarray(values)
    )


def write_applications(
    batch: Batch, path: str | os.PathLike[str], *, dialect: str | None = None, encoding: str = "utf-8"
) -> None:
    """Write ``batch`` to a .csv, .parquet or .xlsx file (chosen by suffix). ``dialect="fr"`` (or a
    name ending in ``.fr.csv``) writes CSV as French software does (:mod:`cotation.data.outputs`),
    in ``encoding`` (``cp1252`` as Windows software writes it)."""
    from .outputs import csv_bytes, dialect_of

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        from .excel import write_xlsx

        write_xlsx({"demandes": batch.to_arrow()}, path)
    elif suffix == ".csv" and dialect_of(path, dialect) == "fr":
        path.write_bytes(csv_bytes(batch.to_arrow(), "fr", encoding))
    elif suffix == ".csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(batch.to_arrow(), path)
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(batch.to_arrow(), path)
    else:
        raise _file_error(path, f"unsupported file suffix '{path.suffix}' (expected .csv, .parquet or .xlsx)")


def _file_error(path: Path | str, message: str) -> DataError:
    return DataError([DataProblem("D108", FILE_COLUMN, message, source=str(path))])


class _Columns:
    """The columns of a table by name, each handed out once by ``read(position)``: a column read from
    a file is released as soon as it is converted, so that reading does not hold the whole Arrow
    table next to the NumPy batch."""

    def __init__(self, names: list[str], rows: int, read: Callable[[int], Any]) -> None:
        self.names, self.rows, self.read = names, rows, read
        self.position = {name: i for i, name in enumerate(names)}  # a duplicated name: its last column

    @classmethod
    def of(cls, table: pa.Table) -> _Columns:
        arrays = list(table.columns)

        def read(i: int) -> Any:
            column, arrays[i] = arrays[i], None
            return column

        return cls([str(name) for name in table.column_names], table.num_rows, read)

    def take(self, name: str) -> Any:
        """The column named ``name`` (None when absent); no longer held here afterwards."""
        return self.read(self.position[name]) if name in self.position else None


def _dictionary_names(catalogue: Catalogue | None) -> tuple[str, ...]:
    """The fields whose text columns a Parquet file may hand over dictionary-encoded (see
    :func:`_convert_dictionary`): see DICTIONARY_KINDS."""
    return () if catalogue is None else tuple(f.name for f in catalogue if f.kind in DICTIONARY_KINDS)


def _load_columns(
    source: Any, encoding: str | None = None, catalogue: Catalogue | None = None
) -> tuple[_Columns, str]:
    """The columns of ``source`` and its name; with ``catalogue``, a Parquet file's text columns of
    the kinds of DICTIONARY_KINDS are read dictionary-encoded (as the file stores them)."""
    if isinstance(source, (str, os.PathLike)):
        return _read_file(Path(source), encoding, catalogue), str(source)
    if isinstance(source, pa.Table):
        return _Columns.of(source), "<Arrow>"
    if isinstance(source, pa.RecordBatch):
        return _Columns.of(pa.Table.from_batches([source])), "<Arrow>"
    if type(source).__module__.startswith("pandas") and hasattr(source, "columns"):
        return _Columns.of(_table_from_pandas(source)), "<DataFrame>"
    if hasattr(source, "__arrow_c_stream__"):  # polars, duckdb, any Arrow PyCapsule producer
        return _Columns.of(pa.table(source)), "<DataFrame>"
    raise TypeError(f"cannot read applications from {type(source).__name__}")


_READ_ERRORS = (pa.ArrowException, OSError, UnicodeDecodeError, csv.Error)


def _read_file(path: Path, encoding: str | None = None, catalogue: Catalogue | None = None) -> _Columns:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".xlsx"):
        raise _file_error(path, f"unsupported file suffix '{path.suffix}' (expected .csv, .parquet or .xlsx)")
    if not path.is_file():
        raise _file_error(path, "file not found")
    try:
        if suffix == ".xlsx":
            from .excel import read_xlsx

            return _Columns.of(read_xlsx(path))
        if suffix == ".csv":
            return _Columns.of(_read_csv(path, encoding))
        return _read_parquet(path, _dictionary_names(catalogue))
    except _READ_ERRORS as exc:
        raise _file_error(path, f"cannot read the file: {exc}") from exc


def _read_parquet(path: Path, dictionary: tuple[str, ...] = ()) -> _Columns:
    """The columns of a Parquet file, read PARQUET_COLUMNS_AT_ONCE at a time when first needed, so
    that the whole table is never in memory (reading 1M applications peaks at ~650 MB instead of
    ~710, as fast). With a repeated column name, the whole table (D108 reports the name). The text
    columns named in ``dictionary`` come dictionary-encoded, as Parquet stores them: their text is
    never decoded into one string per row."""
    import pyarrow.parquet as pq

    names = [str(n) for n in pq.read_schema(path, memory_map=True).names]
    encoded = [name for name in dict.fromkeys(dictionary) if name in names]
    # not read_table: its dataset layer imports pandas
    parquet = pq.ParquetFile(path, memory_map=True, read_dictionary=encoded)
    if len(set(names)) != len(names):
        return _Columns.of(parquet.read())
    pending = dict.fromkeys(range(len(names)))  # columns not read yet, in file order
    ahead: dict[int, pa.ChunkedArray] = {}

    def read(i: int) -> pa.ChunkedArray:
        """Column i, read with the next unread columns of the file (PARQUET_COLUMNS_AT_ONCE in all:
        Arrow decodes them in parallel; the others wait for their turn in ``ahead``)."""
        if i not in ahead:
            group = [i, *[k for k in pending if k > i][: PARQUET_COLUMNS_AT_ONCE - 1]]
            try:
                table = parquet.read(columns=[names[k] for k in group])
            except _READ_ERRORS as exc:
                raise _file_error(path, f"cannot read the file: {exc}") from exc
            for k, column in zip(group, table.columns, strict=True):
                ahead[k] = column
                pending.pop(k, None)
        return ahead.pop(i)

    return _Columns(names, parquet.metadata.num_rows, read)


def _read_csv(path: Path, encoding: str | None = None) -> pa.Table:
    """Every column as text, decoded and split as :mod:`cotation.data.formats` says."""
    return formats.read_csv_file(str(path), str(path), encoding)


def _table_from_pandas(df: Any) -> pa.Table:
    names = [str(name) for name in df.columns]
    arrays = [_python_array(df.iloc[:, i], pandas=True) for i in range(df.shape[1])]
    if not arrays:
        return pa.table({})
    return pa.Table.from_arrays(arrays, names=names)


def _table_from_rows(rows: list[dict[str, Any]], catalogue: Catalogue) -> pa.Table:
    if not rows:
        return pa.Table.from_arrays(
            [pa.nulls(0, pa.string()) for _ in catalogue], names=list(catalogue.names)
        )
    names = list(dict.fromkeys(key for row in rows for key in row))
    arrays = [_python_array([row.get(name) for row in rows]) for name in names]
    return pa.Table.from_arrays(arrays, names=[str(n) for n in names])


def _python_array(values: Any, *, pandas: bool = False) -> pa.Array:
    """An Arrow array from Python (or pandas) values; mixed types fall back to text cells."""
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        items = values.tolist() if pandas else values
        return pa.array([_as_text(v) for v in items], pa.string())


def _as_text(value: Any) -> str | None:
    if _is_missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, list | tuple | np.ndarray):
        return ";".join(str(v) for v in value)
    return str(value)


def _is_missing(value: Any) -> bool:
    if value is None or (isinstance(value, float) and value != value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


# --------------------------------------------------------------------------------------------
# Problem collection
# --------------------------------------------------------------------------------------------


@dataclass
class _Pending:
    code: str
    column: str
    message: str
    positions: np.ndarray
    values: tuple[str, ...]
    count: int
    suggestion: str | None
    rows: tuple[str, ...] | None = None
    every: np.ndarray | None = None  # all the rows at fault (kept for rejects only)


class _Report:
    """Collects problems; row positions become row labels once the ids are known. With
    ``keep_all``, every row at fault is kept (for :func:`row_problems`), not only the shown ones."""

    def __init__(self, source: str | None, keep_all: bool = False) -> None:
        self.source = source
        self.keep_all = keep_all
        self.pending: list[_Pending] = []

    def add(
        self,
        code: str,
        column: str,
        message: str,
        *,
        suggestion: str | None = None,
        rows: tuple[str, ...] = (),
        count: int = 0,
    ) -> None:
        empty = np.zeros(0, np.int64)
        self.pending.append(_Pending(code, column, message, empty, (), count, suggestion, rows))

    def add_rows(
        self,
        code: str,
        column: str,
        message: str,
        bad: np.ndarray,
        raw: pa.Array | None = None,
        suggestion: str | None = None,
    ) -> None:
        """A problem on every row where ``bad`` is true, showing ``raw`` values."""
        positions = np.flatnonzero(bad)
        if len(positions) == 0:
            return
        shown = positions[:MAX_ROWS]
        values = _show_values(raw, shown) if raw is not None else ()
        every = positions if self.keep_all else None
        pending = _Pending(code, column, message, shown, values, len(positions), suggestion, None, every)
        self.pending.append(pending)

    def raise_if_any(self, labels: Callable[[np.ndarray], tuple[str, ...]]) -> None:
        if not self.pending:
            return
        problems = [self._problem(p, labels) for p in self.pending]
        raise DataError(problems)

    def _problem(self, p: _Pending, labels: Callable[[np.ndarray], tuple[str, ...]]) -> DataProblem:
        rows = p.rows if p.rows is not None else labels(p.positions)
        return DataProblem(p.code, p.column, p.message, rows, p.values, p.count, p.suggestion, self.source)


def _spread(values: pa.Array, mask: np.ndarray) -> pa.Array:
    """An array as long as ``mask`` holding ``values`` at its first true positions (for display)."""
    out: list[str | None] = [None] * len(mask)
    for pos, value in zip(np.flatnonzero(mask), values.to_pylist(), strict=False):  # values may be fewer
        out[pos] = value
    return strings(out)


def _show_values(raw: pa.Array, positions: np.ndarray) -> tuple[str, ...]:
    taken = raw.take(from_numpy(np.asarray(positions, np.int64)))
    try:
        values = taken.to_pylist()
    except (OverflowError, ValueError):  # a date or time beyond Python's (a damaged file): its number
        width = getattr(taken.type, "bit_width", 0)
        values = taken.view(pa.int32() if width == 32 else pa.int64()).to_pylist() if width else []
    return tuple(_as_text(v) or "" for v in values)


def _row_labels(
    ids: np.ndarray | pa.Array | None, id_ok: np.ndarray | None
) -> Callable[[np.ndarray], tuple[str, ...]]:
    def label(i: int) -> str:
        assert ids is not None
        return str(ids[i].as_py() if isinstance(ids, pa.Array) else ids[i])

    def labels(positions: np.ndarray) -> tuple[str, ...]:
        if ids is None or id_ok is None:
            return tuple(f"ligne {i + 1}" for i in positions)
        return tuple(label(i) if id_ok[i] else f"ligne {i + 1}" for i in positions)

    return labels


# --------------------------------------------------------------------------------------------
# Conversion core
# --------------------------------------------------------------------------------------------


@dataclass
class _Ctx:
    """What every column converter needs."""

    report: _Report
    n: int
    today: int | None


@dataclass(frozen=True)
class RowProblem:
    """A problem of :func:`row_problems`: ``rows`` are the positions at fault (None: the problem is
    the file's or a column's, e.g. D101, or a duplicate id, D106, whose rows are not positions)."""

    code: str
    column: str
    message: str
    rows: np.ndarray | None


def row_problems(
    table: pa.Table, catalogue: Catalogue, date_calcul: datetime.date | None, source: str | None
) -> list[RowProblem]:
    """Every problem the readers would report for ``table``, with all the rows at fault."""
    report = _Report(source, keep_all=True)
    with suppress(DataError):  # raised at the end: the report holds every problem
        _build_batch(_Columns.of(table), catalogue, date_calcul, source, report)
    return [RowProblem(p.code, p.column, p.message, p.every) for p in report.pending]


def load_table(source: Any, encoding: str | None = None) -> tuple[pa.Table, str]:
    """The raw table of a source (every column as read, before validation) and its name."""
    raw, name = _load_columns(source, encoding)
    columns = [raw.read(i) for i in range(len(raw.names))]
    return pa.Table.from_arrays(columns, names=raw.names), name


def _build_batch(
    raw: _Columns,
    catalogue: Catalogue,
    date_calcul: datetime.date | None,
    source: str | None,
    report: _Report | None = None,
) -> Batch:
    """The single conversion core: the raw columns of an Arrow table -> a validated Batch."""
    report = report or _Report(source)
    ignored = _check_columns(raw.names, catalogue, report)
    absent = tuple(f.name for f in catalogue if f.kind is not Kind.ID and f.name not in raw.position)
    today = None if date_calcul is None else day_number(date_calcul)
    fields = [f for f in catalogue if f.kind is not Kind.ID]
    # lists of communes first: their conversion needs the most scratch memory, best spent while the
    # batch holds least (the problems are reported in catalogue order all the same)
    order = sorted(fields, key=lambda f: f.kind is not Kind.COMMUNES)
    threads = min(CONVERT_THREADS, os.cpu_count() or 1) if raw.rows >= CONVERT_THREADS_FROM_ROWS else 1
    with ThreadPoolExecutor(threads) as pool:  # NumPy and Arrow let go of the GIL on whole columns

        def convert(f: Field, column: Any) -> tuple[Column, list[_Pending]]:
            ctx = _Ctx(_Report(source, report.keep_all), raw.rows, today)
            return _convert_column(f, column, ctx), ctx.report.pending

        id_ctx = _Ctx(_Report(source, report.keep_all), raw.rows, today)
        id_job = pool.submit(_convert_ids, catalogue.id_field, _raw(raw, catalogue.id_field), id_ctx)
        jobs: dict[Future[tuple[Column, list[_Pending]]], str] = {}
        columns: dict[str, Column] = {}
        problems: dict[str, list[_Pending]] = {}
        for f in order:
            if len(jobs) > threads:  # a few columns in flight, not the whole table taken at once;
                # the first done makes room (a long column does not hold back the next ones)
                for job in wait(jobs, return_when=FIRST_COMPLETED).done:
                    name = jobs.pop(job)
                    columns[name], problems[name] = job.result()
            jobs[pool.submit(convert, f, raw.take(f.name))] = f.name
        for job, name in jobs.items():
            columns[name], problems[name] = job.result()
        id_ok, id_text = id_job.result()
    report.pending.extend(id_ctx.report.pending)
    for f in fields:  # in catalogue order, as one by one
        report.pending.extend(problems[f.name])
    columns = {f.name: columns[f.name] for f in fields}
    report.raise_if_any(_row_labels(id_text, id_ok))
    assert id_text is not None and id_ok is not None  # else D101 or D102 was raised
    return Batch._of(catalogue, id_text, columns, source, ignored, absent)  # ids made on first use


def _convert_column(f: Field, column: pa.ChunkedArray | pa.Array | None, ctx: _Ctx) -> Column:
    """The column of field ``f`` from its raw column (None: absent)."""
    if column is None:
        return absent_column(f, ctx.n)
    if f.kind in DICTIONARY_KINDS and pa.types.is_string(column.type) and len(column) > 1:
        text = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        fast = _plain_bools(f, text) if f.kind is Kind.BOOL else None
        if fast is not None:
            return fast
        column = pc.dictionary_encode(text)  # its distinct values converted only (_convert_dictionary)
    return _convert_field(f, _normalise(column, f.kind in DICTIONARY_KINDS), ctx)


def _raw(raw: _Columns, f: Field) -> pa.Array | None:
    column = raw.take(f.name)
    return None if column is None else _normalise(column, f.kind in DICTIONARY_KINDS)


def _check_columns(names: list[str], catalogue: Catalogue, report: _Report) -> tuple[str, ...]:
    """D101 (absent required), D109 (misspelt) and duplicates; returns the ignored columns."""
    present = set(names)
    for f in catalogue:
        if f.required and f.name not in present:
            report.add("D101", f.name, f"required column '{f.name}' is missing")
    for name in sorted({n for n in names if names.count(n) > 1}):
        report.add("D108", FILE_COLUMN, f"column '{name}' appears {names.count(name)} times")
    ignored = []
    for name in dict.fromkeys(names):
        if name in catalogue:
            continue
        hint = _misspelt_field(name, catalogue.names)
        if hint is not None and hint not in present:
            report.add("D109", name, f"unknown column '{name}'", suggestion=hint)
        else:
            ignored.append(name)
    return tuple(ignored)


def _misspelt_field(name: str, names: tuple[str, ...]) -> str | None:
    """The field ``name`` looks like a misspelling of (did_you_mean, and at least 80 % similar; the
    same name but for case and accents first)."""
    same = [n for n in names if formats.plain(n) == formats.plain(name)]
    if same:
        return same[0]
    hint = did_you_mean(name, names)
    if hint is None:
        return None
    similar = difflib.SequenceMatcher(None, name.lower(), hint.lower()).ratio() >= MISSPELT_RATIO
    return hint if similar else None


def _normalise(column: pa.ChunkedArray | pa.Array, keep_dictionary: bool = False) -> pa.Array:
    """One contiguous array; text trimmed with blanks as nulls; dictionaries decoded, except a
    dictionary of text when ``keep_dictionary`` (its values are trimmed by the converter)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    t = arr.type
    if keep_dictionary and pa.types.is_dictionary(t) and pa.types.is_string(t.value_type):
        return arr
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if pa.types.is_null(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        arr = arr.cast(pa.string())
    elif pa.types.is_large_list(t) or pa.types.is_list_view(t) or pa.types.is_fixed_size_list(t):
        arr = arr.cast(pa.list_(t.value_type))
    return _trim_text(arr) if pa.types.is_string(arr.type) else arr


def _trim_text(arr: pa.Array) -> pa.Array:
    """Strip spaces around text cells; an empty cell becomes null."""
    if _trimmed(arr):
        return arr
    trimmed = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(trimmed, _EMPTY), null_scalar(pa.string()), trimmed)


def _trimmed(arr: pa.Array) -> bool:
    """Whether :func:`_trim_text` would leave ``arr`` as it is, told from the first and last byte of
    each cell: no empty cell, none beginning or ending with a byte that is not printable ASCII (a
    space, or maybe a Unicode space). False when unsure."""
    if not pa.types.is_string(arr.type) or len(arr) == 0:
        return False
    offsets, data = text_bytes(arr)
    starts, stops = offsets[:-1], offsets[1:]
    if arr.null_count:
        present = valid(arr)
        starts, stops = starts[present], stops[present]
    if len(starts) == 0 or (stops <= starts).any():
        return False
    ends = data[starts], data[stops - 1]
    return all(bool(((b > 32) & (b < 127)).all()) for b in ends)


def _is_text(arr: pa.Array) -> bool:
    return pa.types.is_string(arr.type)


def _mask(arr: pa.Array) -> np.ndarray:
    """A boolean Arrow array (nulls = False) as a NumPy mask."""
    return numbers(arr, False)


def _present(arr: pa.Array) -> np.ndarray:
    return valid(arr)


def _floats(arr: pa.Array, fill: float | None = 0.0) -> np.ndarray:
    """``arr`` as float64, nulls as ``fill`` (None: undefined, see :func:`buffers.values`)."""
    return numbers(pc.cast(arr, pa.float64(), safe=False), fill)


def _ints(arr: pa.Array, dtype: type = np.int64, fill: int | None = 0) -> np.ndarray:
    """``arr`` as ``dtype`` (through int64), nulls as ``fill`` (None: undefined)."""
    return np.asarray(numbers(pc.cast(arr, pa.int64(), safe=False), fill), dtype)


def _only(ok: np.ndarray, arr: pa.Array) -> pa.Array:
    """``arr`` with the cells where ``ok`` is false replaced by nulls."""
    return pc.if_else(from_numpy(ok), arr, null_scalar(arr.type))


def _wrong_type(f: Field, arr: pa.Array, ctx: _Ctx) -> np.ndarray:
    """Report a typed column of the wrong kind (D102 on every present cell); all cells bad."""
    present = _present(arr)
    ctx.report.add_rows(
        "D102", f.name, f"column has type {arr.type}, expected {f.kind.value} values", present, arr
    )
    return np.zeros(len(arr), bool)


def _convert_field(f: Field, arr: pa.Array | None, ctx: _Ctx) -> Column:
    if arr is None:
        return absent_column(f, ctx.n)
    if pa.types.is_dictionary(arr.type):
        return _convert_dictionary(f, arr, ctx)
    return CONVERTERS[f.kind](f, arr, ctx)


def _convert_dictionary(f: Field, arr: pa.DictionaryArray, ctx: _Ctx) -> Column:
    """A dictionary-encoded text column: the field's converter runs on the distinct values only (and a
    null when a cell is null), its result is gathered by the indices. When that finds any problem
    (even in a value no row uses), the column is decoded and converted as text: every problem is
    reported with its rows and values exactly as for a plain text column."""
    distinct = arr.dictionary
    index = np.asarray(numbers(arr.indices, len(distinct)), np.intp)
    if arr.indices.null_count:
        distinct = pa.concat_arrays([distinct, pa.nulls(1, distinct.type)])
    probe = _Ctx(_Report(None), len(distinct), ctx.today)
    column = CONVERTERS[f.kind](f, _trim_text(distinct), probe)
    if probe.report.pending:
        return CONVERTERS[f.kind](f, _trim_text(arr.dictionary_decode()), ctx)
    valid = None if column.valid is None else column.valid[index]
    return Column(column.values[index], None if valid is None or valid.all() else valid)


def absent_column(f: Field, n: int) -> Column:
    """A column of ``n`` missing values of ``f`` (sets and communes: empty, which is a value)."""
    if f.kind is Kind.SET:
        return Column(np.zeros(n, np.uint64), None)
    if f.kind is Kind.COMMUNES:
        return Column(np.full((n, f.width), -1, np.int32), None)
    fill = -1 if f.kind in (Kind.CATEGORY, Kind.COMMUNE) else 0
    return Column(np.full(n, fill, STORAGE[f.kind]), np.zeros(n, bool))


def _finish(f: Field, values: np.ndarray, ok: np.ndarray, arr: pa.Array, ctx: _Ctx) -> Column:
    """Common end of scalar converters: D107 for required fields, then mask and store."""
    present = _present(arr)
    if f.required:
        ctx.report.add_rows("D107", f.name, f"missing value in required column '{f.name}'", ~present)
    valid = present & ok
    if valid.all():  # a copy: the values may be a view of Arrow memory
        return Column(values.astype(STORAGE[f.kind]), None)
    fill = -1 if f.kind in (Kind.CATEGORY, Kind.COMMUNE) else 0
    return Column(np.where(valid, values, fill).astype(STORAGE[f.kind], copy=False), valid)


def _report_bad(f: Field, bad: np.ndarray, arr: pa.Array, ctx: _Ctx, what: str) -> None:
    ctx.report.add_rows("D102", f.name, f"value is not {what}", bad, arr)


# --- ids ---------------------------------------------------------------------------------------


def _convert_ids(f: Field, arr: pa.Array | None, ctx: _Ctx) -> tuple[np.ndarray | None, pa.Array | None]:
    """(present, the ids as Arrow strings); Nones when the column is absent or not text."""
    if arr is None:
        return None, None
    if pa.types.is_integer(arr.type):
        arr = pc.cast(arr, pa.string())
    if not _is_text(arr):
        _wrong_type(f, arr, ctx)
        return None, None
    present = _present(arr)
    ctx.report.add_rows("D107", f.name, f"missing value in required column '{f.name}'", ~present)
    _check_duplicates(f, arr, ctx)
    return present, arr


def _check_duplicates(f: Field, arr: pa.Array, ctx: _Ctx) -> None:
    if _surely_distinct(arr):
        return
    counts = pc.value_counts(arr.drop_null())
    dup = counts.filter(from_numpy(numbers(counts.field("counts")) > 1))
    if len(dup) == 0:
        return
    ids = dup.field("values").to_pylist()
    rows = int(pc.sum(dup.field("counts")).as_py())
    message = f"{len(ids)} {f.name} value(s) appear more than once ({rows} rows)"
    ctx.report.add("D106", f.name, message, rows=tuple(ids[:MAX_ROWS]), count=len(ids))


def _surely_distinct(arr: pa.Array) -> bool:
    """A cheap test that the cells of a text array are all distinct, for ids of digits of one length
    (their numbers are then distinct exactly when their texts are): False when unsure."""
    if arr.null_count or len(arr) < 2 or not pa.types.is_string(arr.type):
        return False
    offsets, data = text_bytes(arr)
    width = int(offsets[1] - offsets[0])
    if not 0 < width <= 18 or int(offsets[-1] - offsets[0]) != width * len(arr):
        return False
    if not (np.diff(offsets) == width).all() or not ((data[offsets[0] : offsets[-1]] - 48) <= 9).all():
        return False
    numbers_ = _ints(arr)
    if (numbers_[1:] > numbers_[:-1]).all():  # an export in the order of its ids
        return True
    numbers_ = np.sort(numbers_, kind="stable")  # merges runs: ids follow the filing order in stretches
    return not bool((numbers_[1:] == numbers_[:-1]).any())


# --- scalar kinds --------------------------------------------------------------------------------


def _convert_bool(f: Field, arr: pa.Array, ctx: _Ctx) -> Column:
    present = _present(arr)
    if _is_text(arr):
        low = pc.utf8_lower(arr)
        values = _mask(pc.is_in(low, strings(TRUE_WORDS)))
        ok = values | _mask(pc.is_in(low, strings(FALSE_WORDS)))
    elif pa.types.is_boolean(arr.type):
        values, ok = _mask(arr), present
    elif pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        numbers = _floats(arr)
        values, ok = numbers == 1, present & ((numbers == 0) | (numbers == 1))
    else:
        return _finish(f, np.zeros(len(arr), bool), _wrong_type(f, arr, ctx), arr, ctx)
    _report_bad(f, present & ~ok, arr, ctx, "a boolean (true/false/1/0/oui/non/vrai/faux)")
    return _finish(f, values, ok, arr, ctx)


def _plain_bools(f: Field, arr: pa.Array) -> Column | None:
    """A text column of booleans whose every present cell is one of TRUE_WORDS or FALSE_WORDS as written
    there (lower case, no spaces; an empty cell is missing), read from the bytes or by one lookup:
    what :func:`_convert_bool` makes of it. None for any other column (a required one with a missing
    value too): the converter then reads it, and reports its problems."""
    offsets, data = text_bytes(arr)
    lengths = np.diff(offsets)
    cell_valid = valid(arr)
    present = cell_valid & (lengths > 0)
    width = _one_width(lengths, cell_valid, present)
    if width is None:  # words of different widths (true/false): a hash lookup
        codes = pc.index_in(arr, value_set=_BOOL_WORDS)
        true: np.ndarray | None = None
        if (_present(codes) | ~present).all():
            true = numbers(codes, len(TRUE_WORDS)) < len(TRUE_WORDS)
    else:
        true = _words_of_width(data[offsets[0] : offsets[-1]], width, present)
    if true is None:  # some cell is not a word
        return None
    if present.all():
        return Column(true, None)
    return None if f.required else Column(true & present, present)


def _one_width(lengths: np.ndarray, cell_valid: np.ndarray, present: np.ndarray) -> int | None:
    """The width of every present cell when they are all as wide, at most 4 bytes (oui/non, 1/0,
    vrai/faux), and no null cell (not ``cell_valid``) holds bytes; None otherwise."""
    if not present.any() or lengths[~cell_valid].any():
        return None
    width = int(lengths.max())
    if width > 4 or not ((lengths == width) | (lengths == 0)).all():
        return None
    return width


def _words_of_width(text: np.ndarray, width: int, present: np.ndarray) -> np.ndarray | None:
    """Whether each cell is one of TRUE_WORDS (False where missing), from ``text``, the bytes of the
    present cells, each ``width`` bytes, read as one integer; None when some cell is none of the
    words."""
    cells = text.reshape(-1, width)
    key = cells[:, 0].astype(np.uint32)
    for k in range(1, width):
        key = (key << np.uint32(8)) | cells[:, k]
    is_true = np.zeros(len(key), bool)
    known = np.zeros(len(key), bool)
    for word in (w for w in (*TRUE_WORDS, *FALSE_WORDS) if len(w) == width):
        hit = key == int.from_bytes(word.encode(), "big")
        known |= hit
        if word in TRUE_WORDS:
            is_true |= hit
    if not known.all():
        return None
    if len(key) == len(present):
        return is_true
    true = np.zeros(len(present), bool)
    true[present] = is_true
    return true


def _parse_numbers(f: Field, arr: pa.Array, ctx: _Ctx) -> tuple[np.ndarray, np.ndarray]:
    """Numbers from text or numeric columns, with a D102 for anything unparseable."""
    present = _present(arr)
    if _is_text(arr):
        parsed = formats.parse_numbers(arr)
        values, ok = parsed.values, parsed.ok
        for code, message, mask in parsed.ambiguous:
            ctx.report.add_rows(code, f.name, message, mask, arr)
            present = present & ~mask  # reported as ambiguous, not again as unreadable
    # typed columns: the values under the nulls are left as stored (every use below is masked by
    # ``ok``, and _finish fills them)
    elif f.kind is Kind.INT and arr.type in (pa.int8(), pa.int16(), pa.int32(), pa.uint8(), pa.uint16()):
        values = numbers(arr, None)  # integers as int32 holds them (but -2**31, whose opposite it does not)
        ok = present & (values != -(2**31)) if arr.type == pa.int32() else present
        _report_numbers(f, present & ~ok, arr, ctx)
        return values, ok
    elif pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_decimal(arr.type):
        values, ok = _floats(arr, None), present
    else:
        return np.zeros(len(arr), np.float64), _wrong_type(f, arr, ctx)
    ok = ok & np.isfinite(values)
    if f.kind is Kind.INT:
        ok &= (values == np.round(values)) & (np.abs(values) <= INT32_MAX)
    _report_numbers(f, present & ~ok, arr, ctx)
    return values, ok


def _report_numbers(f: Field, bad: np.ndarray, arr: pa.Array, ctx: _Ctx) -> None:
    what = "an integer" if f.kind is Kind.INT else "a number"
    ctx.report.add_rows("D102", f.name, f"value is not {what}", bad, arr)


def _convert_number(f: Field, arr: pa.Array, ctx: _Ctx) -> Column:
    values, ok = _parse_numbers(f, arr, ctx)
    if f.min is not None:
        below = ok & (values < f.min)
        ctx.report.add_rows("D104", f.name, f"value below the minimum {f.min:g}", below, arr)
    if f.max is not None:
        above = ok & (values > f.max)
        ctx.report.add_rows("D111", f.name, f"value above the maximum {f.max:g}", above, arr)
    return _finish(f, values, ok, arr, ctx)


def _convert_date(f: Field, arr: pa.Array, ctx: _Ctx) -> Column:
    present = _present(arr)
    if _is_text(arr):
        parsed = formats.parse_dates(arr)
        days, ok = parsed.values, parsed.ok
        for code, message, mask in parsed.ambiguous:
            ctx.report.add_rows(code, f.name, message, mask, arr)
            present = present & ~mask
        _report_bad(f, present & ~ok, arr, ctx, "a date (dd/mm/yyyy or yyyy-mm-dd)")
    elif pa.types.is_date(arr.type) or pa.types.is_timestamp(arr.type):
        days, ok = _typed_dates(arr)
        _report_bad(f, present & ~ok, arr, ctx, "a date (it has a time of day)")
    else:
        days, ok = np.zeros(len(arr), np.int64), _wrong_type(f, arr, ctx)
    if ctx.today is not None:
        after = ok & (days > ctx.today)
        ctx.report.add_rows("D105", f.name, "date after the computation date", after, arr)
    return _finish(f, days, ok, arr, ctx)


def _typed_dates(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Days since 1970 and where they are dates (present, no time of day); the days under the nulls
    are left as stored (the caller masks them)."""
    present = _present(arr)
    if pa.types.is_date64(arr.type):
        arr = arr.cast(pa.timestamp("ms"))
    if pa.types.is_date32(arr.type):
        return _ints(arr.view(pa.int32()), fill=None), present
    if arr.type.tz is not None:
        arr = pc.local_timestamp(arr)
    per_day = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}[arr.type.unit]
    ticks = _ints(arr.view(pa.int64()), fill=None)
    return ticks // per_day, present & (ticks % per_day == 0)


def _convert_category(f: Field, arr: pa.Array, ctx: _Ctx) -> Column:
    present = _present(arr)
    if not _is_text(arr):
        return _finish(f, np.full(len(arr), -1), _wrong_type(f, arr, ctx), arr, ctx)
    codes = pc.index_in(arr, value_set=strings(f.values))
    ok = _present(codes)
    bad = present & ~ok
    _report_unknown(f, bad, arr.filter(from_numpy(bad)), arr, ctx)
    return _finish(f, _ints(codes), ok, arr, ctx)


def _report_unknown(f: Field, bad_rows: np.ndarray, items: pa.Array, shown: pa.Array, ctx: _Ctx) -> None:
    """D103 for the rows with unknown values; the suggestion is for the most frequent one."""
    if not bad_rows.any():
        return
    counts = pc.value_counts(items)
    order = np.argsort(-numbers(counts.field("counts")), kind="stable")
    unknown = [counts.field("values")[int(i)].as_py() for i in order]
    hints = [(value, _suggest(value, f.values)) for value in unknown[:5]]
    listed = ", ".join(
        f"'{v}'" + (f" (did you mean '{h}'?)" if h and i else "") for i, (v, h) in enumerate(hints)
    )
    more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
    message = f"unknown value(s) {listed}{more}; allowed: {', '.join(f.values)}"
    ctx.report.add_rows("D103", f.name, message, bad_rows, shown, suggestion=hints[0][1])


def _suggest(value: str, allowed: tuple[str, ...]) -> str | None:
    lowered = {v.lower(): v for v in allowed}
    return lowered.get(value.lower()) or did_you_mean(value, allowed)


def _convert_commune(f: Field, arr: pa.Array, ctx: _Ctx) -> Column:
    present = _present(arr)
    if pa.types.is_floating(arr.type):  # pandas reads a code column with blanks as floats
        floats = _floats(arr)
        if (floats[present] == np.round(floats[present])).all():
            arr = pc.cast(arr, pa.int64(), safe=False)
    if not (_is_text(arr) or pa.types.is_integer(arr.type)):
        return _finish(f, np.full(len(arr), -1), _wrong_type(f, arr, ctx), arr, ctx)
    codes, ok = _commune_codes(arr)
    _report_bad(f, present & ~ok, arr, ctx, "an INSEE commune code (5 characters, e.g. 31555 or 2A004)")
    return _finish(f, codes, ok, arr, ctx)


def _commune_codes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Encoded INSEE codes (see catalogue.encode_commune) of a text or integer array."""
    if pa.types.is_integer(arr.type):
        values = _ints(arr)
        return values, _present(arr) & (values >= 0) & (values <= 99_999)
    digits = _mask(pc.match_substring_regex(arr, r"^\d{5}$"))
    if digits.all():  # the common case: five digits everywhere (Corsica's 2A/2B codes aside)
        return _ints(arr), digits
    upper = pc.utf8_upper(arr)
    ok = _mask(pc.match_substring_regex(upper, COMMUNE_RE))
    digits &= ok
    corsica_b = ok & _mask(pc.starts_with(upper, "2B"))
    whole = _ints(_only(digits, upper))
    rest = _ints(_only(ok & ~digits, pc.utf8_slice_codeunits(upper, 2)))
    codes = np.where(digits, whole, np.where(corsica_b, 201_000, 200_000) + rest)
    return codes, ok


# --- multi-valued kinds ---------------------------------------------------------------------------


def _split_items(f: Field, arr: pa.Array, ctx: _Ctx) -> tuple[pa.Array, np.ndarray] | None:
    """The items of every cell (';'-split text or lists), trimmed, with their row numbers."""
    if _is_text(arr):
        lists = pc.split_pattern(arr, ";")
    elif pa.types.is_list(arr.type):
        lists = arr
    else:
        _wrong_type(f, arr, ctx)
        return None
    items = pc.list_flatten(lists)
    rows = np.asarray(numbers(pc.list_parent_indices(lists)), np.int64)
    if pa.types.is_string(items.type) or pa.types.is_large_string(items.type):
        items = _trim_text(items.cast(pa.string()))
    keep = _present(items)
    return items.filter(from_numpy(keep)), rows[keep]


def _convert_set(f: Field, arr: pa.Array, ctx: _Ctx) -> Column:
    values = np.zeros(len(arr), np.uint64)
    split = _split_items(f, arr, ctx)
    if split is None:
        return Column(values, None)
    items, rows = split
    if not _is_text(items) and len(items):
        _wrong_type(f, arr, ctx)
        return Column(values, None)
    codes = pc.index_in(items.cast(pa.string()), value_set=strings(f.values))
    known = _present(codes)
    bad_rows = np.zeros(len(arr), bool)
    bad_rows[rows[~known]] = True
    _report_unknown(f, bad_rows, items.filter(from_numpy(~known)), arr, ctx)
    bits = np.left_shift(np.uint64(1), _ints(codes, np.uint64)[known])
    np.bitwise_or.at(values, rows[known], bits)
    return Column(values, None)


def _packed_communes(arr: pa.Array, width: int) -> np.ndarray | None:
    """The (rows, ``width``) code matrix (-1 padded) of a text column whose cells are all at most
    ``width`` five-digit codes joined by ``;`` (``31555;31003``, no spaces, no empty item; a cell may
    be empty or null), read from the bytes: a cell of c codes is 6c - 1 bytes, digits at 6j..6j+4 and
    a ``;`` at each 6j+5 between. None for any other column (then split, parsed and checked item by
    item)."""
    if not pa.types.is_string(arr.type):
        return None
    offsets, data = text_bytes(arr)
    lengths = np.diff(offsets)
    if arr.null_count and lengths[~valid(arr)].any():  # a null cell holding bytes
        return None
    counts, rest = np.divmod(lengths + 1, 6)
    if ((rest != 0) & (lengths != 0)).any() or (counts > width).any():
        return None
    filled = np.flatnonzero(counts)
    per_row = counts[filled]
    matrix = np.full((len(arr), width), -1, np.int32)
    if not len(filled):
        return matrix
    item = _ragged(offsets[filled], per_row, 6)  # where each code begins in the data
    digits = [data[item + k] - np.uint8(48) for k in range(5)]
    if any((d > 9).any() for d in digits):
        return None
    # every other byte of the cells is one of the separators' places, as many as the ';' there
    if np.count_nonzero(data[offsets[0] : offsets[-1]] == ord(";")) != len(item) - len(filled):
        return None
    codes = digits[0].astype(np.int32) * 10_000
    for k, scale in ((1, 1_000), (2, 100), (3, 10), (4, 1)):
        codes += digits[k] * np.int32(scale)
    matrix.reshape(-1)[_ragged(filled * width, per_row, 1)] = codes
    return matrix


def _ragged(base: np.ndarray, counts: np.ndarray, stride: int) -> np.ndarray:
    """``base[i] + stride * j`` for item j < ``counts[i]`` of each row i (every count >= 1), flattened
    row by row: the running sum of the steps between them (no index array repeated per item)."""
    base = base.astype(np.int64)
    step = np.full(int(counts.sum()), stride, np.int64)
    jump = base.copy()
    jump[1:] -= base[:-1] + stride * (counts[:-1] - 1)
    step[np.cumsum(counts) - counts] = jump
    return np.cumsum(step)


def _convert_communes(f: Field, arr: pa.Array, ctx: _Ctx) -> Column:
    packed = _packed_communes(arr, f.width)
    if packed is not None:
        return Column(packed, None)
    matrix = np.full((len(arr), f.width), -1, np.int32)
    split = _split_items(f, arr, ctx)
    if split is None:
        return Column(matrix, None)
    items, rows = split
    if not (_is_text(items) or pa.types.is_integer(items.type)):
        _wrong_type(f, arr, ctx)
        return Column(matrix, None)
    codes, ok = _commune_codes(items)
    bad = np.zeros(len(arr), bool)
    bad[rows[~ok]] = True
    _report_bad(f, bad, arr, ctx, "a list of INSEE commune codes separated by ';'")
    counts = np.bincount(rows, minlength=len(arr))
    message = f"more than {f.width} communes in a cell"
    ctx.report.add_rows("D110", f.name, message, counts > f.width, arr)
    rank = np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows]
    keep = rank < f.width
    matrix[rows[keep], rank[keep]] = np.where(ok, codes, -1)[keep]
    return Column(matrix, None)


CONVERTERS: dict[Kind, Callable[[Field, pa.Array, _Ctx], Column]] = {
    Kind.BOOL: _convert_bool,
    Kind.INT: _convert_number,
    Kind.FLOAT: _convert_number,
    Kind.MONEY: _convert_number,
    Kind.DATE: _convert_date,
    Kind.CATEGORY: _convert_category,
    Kind.SET: _convert_set,
    Kind.COMMUNE: _convert_commune,
    Kind.COMMUNES: _convert_communes,
}


# --------------------------------------------------------------------------------------------
# Back to Arrow
# --------------------------------------------------------------------------------------------


def _to_arrow_column(f: Field, col: Column, lists: bool) -> pa.Array:
    mask = None if col.valid is None else ~col.valid
    if f.kind is Kind.DATE:
        return from_numpy(col.values.astype(np.int32), mask).view(pa.date32())
    if f.kind is Kind.CATEGORY:
        codes = from_numpy(col.values.astype(np.int32), col.values < 0)
        return pc.take(strings(f.values), codes)
    if f.kind is Kind.COMMUNE:
        return _commune_strings(col.values, col.values < 0)
    if f.kind is Kind.SET:
        return _join(_set_lists(f, col.values), lists)
    if f.kind is Kind.COMMUNES:
        return _join(_communes_lists(col.values), lists)
    return from_numpy(col.values, mask)


def _join(lists: pa.Array, keep_lists: bool) -> pa.Array:
    return lists if keep_lists else pc.binary_join(lists, _SEMICOLON)


def _commune_strings(values: np.ndarray, missing: np.ndarray | None) -> pa.Array:
    codes = from_numpy(values.astype(np.int64), missing)
    plain = pc.utf8_lpad(pc.cast(codes, pa.string()), 5, "0")
    rest = pc.utf8_lpad(pc.cast(from_numpy(values.astype(np.int64) % 1000), pa.string()), 3, "0")
    department = pc.if_else(from_numpy(values >= 201_000), _2B, _2A)
    corsica = pc.binary_join_element_wise(department, rest, _EMPTY)
    return pc.if_else(from_numpy(values >= 200_000), corsica, plain)


def _set_lists(f: Field, values: np.ndarray) -> pa.Array:
    bits = np.zeros((len(values), len(f.values)), bool)
    for i in range(len(f.values)):
        bits[:, i] = ((values >> np.uint64(i)) & np.uint64(1)).astype(bool)
    rows, cols = np.nonzero(bits)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(values)))]).astype(np.int32)
    items = pc.take(strings(f.values), from_numpy(cols.astype(np.int32)))
    return pa.ListArray.from_arrays(from_numpy(offsets), items)


def _communes_lists(matrix: np.ndarray) -> pa.Array:
    rows, _ = np.nonzero(matrix >= 0)
    flat = matrix[matrix >= 0]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(matrix)))]).astype(np.int32)
    return pa.ListArray.from_arrays(from_numpy(offsets), _commune_strings(flat, None))

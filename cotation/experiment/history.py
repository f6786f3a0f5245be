"""Stage 7 (experiment): the allocation history: one row per allocation, as ``cotation simulate
--attributions`` writes it, ``--history`` (the back-test) and ``cotation bilan`` read it (CSV,
Parquet, a pandas DataFrame or an Arrow table).

Columns (CSV, UTF-8, header first; see docs/experimentation.md):

==================  ==========================================================================
numero_unique       the housed application
logement            the dwelling's identifier
date_attribution    the date of the committee's decision, YYYY-MM-DD
reservataire        the reservation holder of the dwelling (catalogue values; empty: unknown)
commune             the dwelling's commune (INSEE code)
qpv                 true / false: the dwelling is in a priority neighbourhood (empty: unknown)
financement         PLAI, PLUS, PLS, PLI
typologie           T1 ... T6
type_attribution    mutation (the household was a social tenant) or premier_acces
==================  ==========================================================================

Only ``numero_unique``, ``logement`` and ``date_attribution`` are required to read a history back;
the other columns describe the allocation for the annual review and the gestion en flux.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MAX_ROWS, DataError, DataProblem

COLUMNS = (
    "numero_unique",
    "logement",
    "date_attribution",
    "reservataire",
    "commune",
    "qpv",
    "financement",
    "typologie",
    "type_attribution",
)
REQUIRED = ("numero_unique", "logement", "date_attribution")
KINDS = ("mutation", "premier_acces")


@dataclass(frozen=True)
class History:
    """Allocations read back: parallel arrays, one entry per allocation, in the file's order."""

    application_ids: np.ndarray  # object (str)
    dwelling_ids: np.ndarray  # object (str)
    dates: tuple[datetime.date, ...]
    source: str

    def __len__(self) -> int:
        return len(self.application_ids)


def write_history(rows: dict[str, list[Any]], path: str | Path) -> None:
    """The allocations ``rows`` (one list per column of :data:`COLUMNS`) to a CSV file."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    arrays = [pa.array([None if v is None else str(v) for v in rows[c]], pa.string()) for c in COLUMNS]
    pacsv.write_csv(pa.Table.from_arrays(arrays, names=list(COLUMNS)), str(path))


@dataclass(frozen=True)
class Allocations:
    """An allocation history with every column of :data:`COLUMNS` (text; None where empty or absent)."""

    history: History
    columns: dict[str, list[str | None]]

    def __len__(self) -> int:
        return len(self.history)


def read_history(path: str | Path) -> History:
    """An allocation history from CSV or Parquet (or a pandas DataFrame / Arrow table); D163 (missing
    column, unreadable), D164 (a bad value), D180 (unsupported format), each with column and rows."""
    return read_allocations(path).history


def read_allocations(source: Any) -> Allocations:
    """Every column of an allocation history (see :func:`read_history` for the sources and errors)."""
    table, where = _table(source)
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise DataError(
            [
                DataProblem("D163", c, "missing required column of the allocation history", source=where)
                for c in missing
            ]
        )
    cols = {c: _texts(table.column(c)) for c in table.column_names if c in COLUMNS}
    problems = _check(cols, where)
    if problems:
        raise DataError(problems)
    history = History(
        np.array(cols["numero_unique"], dtype=object),
        np.array(cols["logement"], dtype=object),
        tuple(datetime.date.fromisoformat(str(d)) for d in cols["date_attribution"]),
        where,
    )
    n = len(history)
    return Allocations(history, {c: cols.get(c, [None] * n) for c in COLUMNS})


def _table(source: Any) -> tuple[Any, str]:
    """The source as an Arrow table, and how to name it in errors."""
    import pyarrow as pa

    if isinstance(source, pa.Table):
        return source, "<table Arrow>"
    if hasattr(source, "to_dict") and hasattr(source, "columns") and not isinstance(source, str | Path):
        return pa.Table.from_pandas(source, preserve_index=False), "<DataFrame>"
    if not isinstance(source, str | Path):
        raise DataError(
            [
                DataProblem(
                    "D180", "<attributions>", f"unsupported allocation history: {type(source).__name__}"
                )
            ]
        )
    p = Path(source)
    readers = {".csv": _read_csv, ".parquet": _read_parquet}
    if p.suffix.lower() not in readers:
        raise DataError(
            [
                DataProblem(
                    "D180", "<attributions>", "expected a .csv or .parquet allocation history", source=str(p)
                )
            ]
        )
    try:
        return readers[p.suffix.lower()](p), str(p)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(
            [
                DataProblem(
                    "D163", "<attributions>", f"cannot read the allocation history: {exc}", source=str(p)
                )
            ]
        ) from None


def _read_csv(p: Path) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    options = pacsv.ConvertOptions(column_types={c: pa.string() for c in COLUMNS}, strings_can_be_null=True)
    return pacsv.read_csv(str(p), convert_options=options)


def _read_parquet(p: Path) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(str(p))


def _texts(column: Any) -> list[str | None]:
    """A column as text: dates as YYYY-MM-DD, booleans as true/false, empty text as None."""
    out: list[str | None] = []
    for v in column.to_pylist():
        if v is None or (isinstance(v, float) and v != v):
            out.append(None)
        elif isinstance(v, bool):
            out.append("true" if v else "false")
        elif isinstance(v, datetime.datetime):
            out.append(v.date().isoformat())
        elif isinstance(v, datetime.date):
            out.append(v.isoformat())
        else:
            text = str(v).strip()
            out.append(text or None)
    return out


def _check(cols: dict[str, list[Any]], source: str) -> list[DataProblem]:
    problems = []
    for c in ("numero_unique", "logement", "date_attribution"):
        bad = [i for i, v in enumerate(cols[c]) if v is None or not str(v).strip()]
        if bad:
            problems.append(_problem("D164", c, "missing value", bad, cols[c], source))
    dates = cols["date_attribution"]
    bad_dates = [i for i, v in enumerate(dates) if v is not None and not _is_date(v)]
    if bad_dates:
        problems.append(
            _problem("D164", "date_attribution", "expected a date YYYY-MM-DD", bad_dates, dates, source)
        )
    if "type_attribution" in cols:
        kinds = cols["type_attribution"]
        bad_kinds = [i for i, v in enumerate(kinds) if v is not None and v not in KINDS]
        if bad_kinds:
            problems.append(
                _problem(
                    "D164",
                    "type_attribution",
                    f"expected one of {', '.join(KINDS)}",
                    bad_kinds,
                    kinds,
                    source,
                )
            )
    if "qpv" in cols:
        flags = cols["qpv"]
        bad_flags = [i for i, v in enumerate(flags) if v is not None and v.lower() not in ("true", "false")]
        if bad_flags:
            problems.append(_problem("D164", "qpv", "expected true or false", bad_flags, flags, source))
    return problems


def _is_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _problem(
    code: str, column: str, message: str, bad: list[int], values: list[Any], source: str
) -> DataProblem:
    shown = bad[:MAX_ROWS]
    return DataProblem(
        code,
        column,
        message,
        rows=tuple(f"line {i + 2}" for i in shown),
        values=tuple("" if values[i] is None else str(values[i]) for i in shown),
        count=len(bad),
        source=source,
    )

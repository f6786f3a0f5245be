"""Stage 7 (experiment): the allocation history: one row per allocation, as ``cotation simulate
--attributions`` writes it and ``--history`` (the back-test) reads it.

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


def read_history(path: str | Path) -> History:
    """An allocation history from CSV; D163 (missing column, unreadable) and D164 (a bad value),
    every problem with its column and rows."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    p = Path(path)
    try:
        options = pacsv.ConvertOptions(
            column_types={c: pa.string() for c in COLUMNS}, strings_can_be_null=True
        )
        table = pacsv.read_csv(str(p), convert_options=options)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(
            [
                DataProblem(
                    "D163", "<attributions>", f"cannot read the allocation history: {exc}", source=str(p)
                )
            ]
        ) from None
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise DataError(
            [
                DataProblem("D163", c, "missing required column of the allocation history", source=str(p))
                for c in missing
            ]
        )
    cols = {c: table.column(c).to_pylist() for c in table.column_names if c in COLUMNS}
    problems = _check(cols, str(p))
    if problems:
        raise DataError(problems)
    return History(
        np.array(cols["numero_unique"], dtype=object),
        np.array(cols["logement"], dtype=object),
        tuple(datetime.date.fromisoformat(d) for d in cols["date_attribution"]),
        str(p),
    )


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

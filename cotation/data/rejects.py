"""Stage 2 (data): a nightly batch that does not stop on one bad row: valid rows in, bad rows apart.

:func:`read_with_rejects` reads a source like :func:`~cotation.data.batch.read_applications`, but
a row with a problem (any row-level code: D102-D107, D110, D111, D122, D123) is set apart with its
reasons instead of failing the whole batch; every occurrence of a duplicated ``numero_unique``
(D106) is set apart too. A problem of the file or of a column (D101, D108, D109, D120, D121,
D126...) still fails it: no row could be trusted. ``len(batch) + len(rejects) == rows read``,
always (asserted).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DataError, DataProblem
from ..grid.catalogue import Catalogue
from .batch import Batch, load_table, read_applications, row_problems
from .buffers import from_numpy, strings

__all__ = ["Rejects", "read_with_rejects"]


@dataclass(frozen=True)
class Rejects:
    """The rows set apart: one row each, with its line, id, codes, columns and reasons, then its
    cells as read (so that the file can be fixed and read again)."""

    table: pa.Table
    rows_in: int

    def __len__(self) -> int:
        return self.table.num_rows


def read_with_rejects(
    source: Any,
    catalogue: Catalogue,
    *,
    date_calcul: datetime.date | None = None,
    encoding: str | None = None,
) -> tuple[Batch, Rejects]:
    """(the valid rows as a Batch, the rejected rows with their reasons)."""
    table, name = load_table(source, encoding)
    problems = row_problems(table, catalogue, date_calcul, name)
    fatal = [p for p in problems if p.rows is None and p.code != "D106"]
    if fatal:
        raise DataError([DataProblem(p.code, p.column, p.message, source=name) for p in fatal])
    reasons: list[list[str]] = [[] for _ in range(table.num_rows)]
    codes: list[list[str]] = [[] for _ in range(table.num_rows)]
    columns: list[list[str]] = [[] for _ in range(table.num_rows)]
    found = [(p.code, p.column, p.message, p.rows) for p in problems if p.rows is not None]
    found += _duplicates(table, catalogue)
    bad = np.zeros(table.num_rows, bool)
    for code, column, message, rows in found:
        bad[rows] = True
        for i in rows.tolist():
            reasons[i].append(f"{column}: [{code}] {message}")
            codes[i].append(code)
            columns[i].append(column)
    batch = read_applications(table.filter(from_numpy(~bad)), catalogue, date_calcul=date_calcul)
    batch.source = name
    rejected = np.flatnonzero(bad)
    rejects = _rejects_table(table, catalogue, rejected, codes, columns, reasons)
    assert len(batch) + rejects.num_rows == table.num_rows
    return batch, Rejects(rejects, table.num_rows)


def _duplicates(table: pa.Table, catalogue: Catalogue) -> list[tuple[str, str, str, np.ndarray]]:
    name = catalogue.id_field.name
    if name not in table.column_names:
        return []
    ids = pc.utf8_trim_whitespace(pc.cast(table.column(name).combine_chunks(), pa.string()))
    counts = pc.value_counts(ids.drop_null())
    many = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(many) == 0:
        return []
    rows = np.flatnonzero(
        np.asarray(pc.is_in(ids, value_set=many.field("values")).to_numpy(zero_copy_only=False), bool)
    )
    return [("D106", name, f"{name} appears on more than one row", rows)]


def _rejects_table(
    table: pa.Table,
    catalogue: Catalogue,
    rejected: np.ndarray,
    codes: list[list[str]],
    columns: list[list[str]],
    reasons: list[list[str]],
) -> pa.Table:
    take = from_numpy(rejected.astype(np.int64))
    out: dict[str, pa.Array] = {
        "ligne": from_numpy(rejected.astype(np.int64) + 1),
        "codes": strings([";".join(dict.fromkeys(codes[i])) for i in rejected]),
        "colonnes": strings([";".join(dict.fromkeys(columns[i])) for i in rejected]),
        "raisons": strings([" | ".join(reasons[i]) for i in rejected]),
    }
    for name in table.column_names:
        column = table.column(name).combine_chunks().take(take)
        out.setdefault(str(name), column if pa.types.is_string(column.type) else _as_text(column))
    return pa.table(out)


def _as_text(column: pa.Array) -> pa.Array:
    try:
        return pc.cast(column, pa.string())
    except pa.ArrowException:
        return strings([None if v is None else str(v) for v in column.to_pylist()])

"""Stage 2 (data): ``.xlsx`` workbooks in and out (the optional extra ``excel``).

Reading uses python-calamine (a Rust reader, fast on large sheets, no formula engine needed): the
first sheet, its first row as the header. Cells keep their type where it is lossless (numbers,
booleans, dates), so the readers of :mod:`cotation.data.batch` validate them like a typed frame;
an integral number is an integer (Excel stores every number as a float), a column mixing types
is read as text. Writing uses XlsxWriter (write-only, streaming, no dependency of its own):
French headers as given, bold and frozen, column widths fitted to the content, one sheet per
table. Without the extra installed, both say which extra to install (D125).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..errors import DataError, DataProblem

__all__ = ["read_xlsx", "write_xlsx"]

MAX_WIDTH = 60
SHEET_NAME_CHARS = 31


def _missing(what: str, package: str, path: Path | str) -> DataError:
    message = (
        f"{what} .xlsx files needs the optional extra 'excel' ({package}): pip install 'cotation[excel]'"
    )
    return DataError([DataProblem("D125", "<file>", message, source=str(path))])


def read_xlsx(path: Path) -> pa.Table:
    """The first sheet of a workbook as an Arrow table, one column per header cell."""
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:
        raise _missing("reading", "python-calamine", path) from None
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        rows = workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except Exception as exc:  # calamine's errors share no base class but Exception
        message = f"cannot read the workbook: {type(exc).__name__}: {exc}"
        raise DataError([DataProblem("D108", "<file>", message, source=str(path))]) from None
    if not rows:
        return pa.table({})
    names = [_header(cell, k) for k, cell in enumerate(rows[0])]
    body = rows[1:]
    while body and all(cell in ("", None) for cell in body[-1]):
        body.pop()  # trailing empty rows (formatted but blank)
    columns = [_column([row[k] if k < len(row) else None for row in body]) for k in range(len(names))]
    return pa.Table.from_arrays(columns, names=names)


def _header(cell: Any, k: int) -> str:
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    text = str(cell).strip() if cell not in (None, "") else ""
    return text or f"colonne_{k + 1}"


def _column(cells: list[Any]) -> pa.Array:
    """One column of cells: typed when every present cell has one type, else text."""
    values = [None if (c == "" or c is None) else c for c in cells]
    present = [v for v in values if v is not None]
    kinds = {type(v) for v in present}
    if kinds == {float} or kinds == {int, float} or kinds == {int}:
        if all(float(v).is_integer() for v in present):
            return pa.array([None if v is None else int(v) for v in values], pa.int64())
        return pa.array(values, pa.float64())
    if kinds == {bool}:
        return pa.array(values, pa.bool_())
    if kinds == {datetime.date}:
        return pa.array(values, pa.date32())
    if kinds and kinds <= {datetime.datetime, datetime.date}:
        return pa.array([_as_datetime(v) for v in values], pa.timestamp("us"))
    return pa.array([None if v is None else _text(v) for v in values], pa.string())


def _as_datetime(value: Any) -> Any:
    if value is None or isinstance(value, datetime.datetime):
        return value
    return datetime.datetime(value.year, value.month, value.day)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime) and value.time() == datetime.time():
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def write_xlsx(sheets: Mapping[str, pa.Table], path: Path | str) -> None:
    """Write each table to its own sheet: header bold and frozen, an autofilter, fitted widths."""
    try:
        import xlsxwriter
    except ImportError:
        raise _missing("writing", "XlsxWriter", path) from None
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    bold = workbook.add_format({"bold": True, "bg_color": "#DDDDDD", "border": 1})
    dates = workbook.add_format({"num_format": "dd/mm/yyyy"})
    used: set[str] = set()
    for name, table in sheets.items():
        sheet = workbook.add_worksheet(_sheet_name(name, used))
        _write_sheet(sheet, table, bold, dates)
    workbook.close()


def _sheet_name(name: str, used: set[str]) -> str:
    clean = "".join("_" if c in "[]:*?/\\" else c for c in name)[:SHEET_NAME_CHARS] or "feuille"
    candidate, k = clean, 2
    while candidate.lower() in used:
        suffix = f" ({k})"
        candidate, k = clean[: SHEET_NAME_CHARS - len(suffix)] + suffix, k + 1
    used.add(candidate.lower())
    return candidate


def _write_sheet(sheet: Any, table: pa.Table, bold: Any, dates: Any) -> None:
    names = [str(n) for n in table.column_names]
    columns = [table.column(k).to_pylist() for k in range(table.num_columns)]
    widths = [len(n) for n in names]
    for j, column in enumerate(columns):
        is_date = pa.types.is_date(table.schema.field(j).type)
        for value in column:
            widths[j] = max(widths[j], len(_text(value)) if value is not None else 0)
        sheet.set_column(j, j, min(MAX_WIDTH, widths[j] + 2), dates if is_date else None)
    sheet.write_row(0, 0, names, bold)
    for i in range(table.num_rows):
        for j, column in enumerate(columns):
            value = column[i]
            if value is None:
                continue
            if isinstance(value, datetime.date):
                sheet.write_datetime(i + 1, j, _as_datetime(value), dates)
            elif isinstance(value, list):
                sheet.write_string(i + 1, j, ";".join(str(v) for v in value))
            else:
                sheet.write(i + 1, j, value)
    sheet.freeze_panes(1, 0)
    if names:
        sheet.autofilter(0, 0, max(table.num_rows, 1), len(names) - 1)

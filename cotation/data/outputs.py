"""Stage 2 (data): tables out, each with its stamp: CSV (plain or French), Parquet, .xlsx, JSON Lines.

Every output says what made it: a :class:`Stamp` (grid id, version and hash, computation date,
package version, engine, ``verified_only``, the input file and its SHA-256 digest, the columns
ignored and the fields said absent, the time it was written). It goes into the Parquet schema
metadata, into a JSON sidecar ``FILE.meta.json`` next to a CSV or .xlsx file, as the first line
of JSON Lines (``{"stamp": {...}}``), and into the HTML pages (their caption).

The French dialect (``dialect="fr"``, or a file name ending in ``.fr.csv``) is what French Excel
opens in columns: ``;`` between cells, a UTF-8 BOM, decimal commas, dates as ``dd/mm/yyyy``,
booleans ``oui``/``non``, and French headers (:data:`FRENCH_HEADERS`: the same words in every
output of score, rank, position and explain).
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..version import __version__
from .buffers import strings

__all__ = [
    "DIALECTS",
    "FRENCH_HEADERS",
    "Stamp",
    "digest",
    "french_headers",
    "french_table",
    "json_lines",
    "write_output",
]

DIALECTS = ("plain", "fr")
#: The header of every output column whose name is not already French (one vocabulary).
FRENCH_HEADERS = {"rank": "rang", "tier": "palier", "flags": "priorites"}
SUFFIXES = (".csv", ".parquet", ".xlsx", ".json", ".jsonl")


@dataclass(frozen=True)
class Stamp:
    """What made an output (see the module docstring); ``as_dict`` gives strings only."""

    grid_id: str
    grid_version: str
    grid_hash: str
    date_calcul: str
    engine: str = ""
    verified_only: bool = False
    input: str = ""
    input_sha256: str = ""
    ignored_columns: tuple[str, ...] = ()
    absent_fields: tuple[str, ...] = ()
    package_version: str = __version__
    written_at: str = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    )

    def as_dict(self) -> dict[str, str]:
        out = {}
        for key, value in asdict(self).items():
            if isinstance(value, (tuple, list)):
                out[key] = ";".join(value)
            elif isinstance(value, bool):
                out[key] = "true" if value else "false"
            else:
                out[key] = str(value)
        return out


def digest(data: bytes | Path | str) -> str:
    """``sha256:<hex>`` of bytes or of a file's content."""
    h = hashlib.sha256()
    if isinstance(data, bytes):
        h.update(data)
    else:
        with open(data, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return "sha256:" + h.hexdigest()


def dialect_of(path: Path | str | None, dialect: str | None) -> str:
    """The dialect asked for, else ``fr`` for a ``.fr.csv`` file name, else ``plain``."""
    if dialect is not None:
        return dialect
    return "fr" if path is not None and str(path).lower().endswith(".fr.csv") else "plain"


def french_table(table: pa.Table) -> pa.Table:
    """The table as French text: decimal commas, dd/mm/yyyy dates, oui/non, French headers."""
    arrays = [_french_column(table.column(k).combine_chunks()) for k in range(table.num_columns)]
    names = [FRENCH_HEADERS.get(str(n), str(n)) for n in table.column_names]
    return pa.Table.from_arrays(arrays, names=names)


def french_headers(table: pa.Table) -> pa.Table:
    """The table with :data:`FRENCH_HEADERS` (values unchanged: .xlsx cells keep their types)."""
    return table.rename_columns([FRENCH_HEADERS.get(str(n), str(n)) for n in table.column_names])


def _french_column(arr: pa.Array) -> pa.Array:
    t = arr.type
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return pc.replace_substring(pc.cast(arr, pa.string()), ".", ",")
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return pc.strftime(pc.cast(arr, pa.timestamp("s")) if pa.types.is_date(t) else arr, "%d/%m/%Y")
    if pa.types.is_boolean(t):
        yes, no = strings(["oui", "non"])
        return pc.if_else(arr, yes, no)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pc.binary_join(arr, ";")
    return arr


def csv_bytes(table: pa.Table, dialect: str = "plain", encoding: str = "utf-8") -> bytes:
    """The table as CSV: plain (``,``, UTF-8, no BOM) or French (see the module docstring);
    ``encoding`` re-encodes the French text (e.g. ``cp1252``, as Windows software writes it)."""
    import pyarrow.csv as pacsv

    buffer = io.BytesIO()
    if dialect == "fr":
        pacsv.write_csv(french_table(table), buffer, pacsv.WriteOptions(delimiter=";"))
        text = buffer.getvalue()
        if encoding.replace("-", "").lower() in ("utf8", "utf8sig"):
            return b"\xef\xbb\xbf" + text
        return text.decode("utf-8").encode(encoding)
    pacsv.write_csv(table, buffer)
    return buffer.getvalue()


def json_lines(table: pa.Table, stamp: Stamp | None = None) -> str:
    """One JSON object per row (the stamp first, as ``{"stamp": {...}}``, when given)."""
    lines = [json.dumps({"stamp": stamp.as_dict()}, ensure_ascii=False)] if stamp is not None else []
    names = [str(n) for n in table.column_names]
    columns = [_json_values(table.column(k)) for k in range(table.num_columns)]
    for i in range(table.num_rows):
        row = {name: column[i] for name, column in zip(names, columns, strict=True)}
        lines.append(json.dumps(row, ensure_ascii=False))
    return "\n".join(lines) + ("\n" if lines else "")


def _json_values(column: pa.ChunkedArray) -> list[Any]:
    t = column.type
    if pa.types.is_date(t) or pa.types.is_timestamp(t):
        return [None if v is None else v.isoformat() for v in column.to_pylist()]
    return [v.item() if hasattr(v, "item") else v for v in column.to_pylist()]


def write_output(
    table: pa.Table,
    path: Path | str,
    stamp: Stamp | None = None,
    *,
    dialect: str | None = None,
    sheets: Mapping[str, pa.Table] | None = None,
) -> None:
    """Write ``table`` to ``path`` by its suffix (``-``: CSV on stdout, ``.json``/``.jsonl``: JSON
    Lines), with ``stamp`` as the module docstring says. For .xlsx, ``sheets`` (name -> table)
    replaces the single sheet."""
    text = str(path)
    chosen = dialect_of(path, dialect)
    if text == "-":
        out = csv_bytes(table, chosen)
        sys.stdout.buffer.write(out)
        sys.stdout.flush()
        return
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        meta = dict(table.schema.metadata or {})
        meta.update({k.encode(): v.encode() for k, v in (stamp.as_dict() if stamp else {}).items()})
        pq.write_table(table.replace_schema_metadata(meta), path)
        return
    if suffix in (".json", ".jsonl"):
        path.write_text(json_lines(table, stamp), encoding="utf-8")
        return
    if suffix == ".csv":
        path.write_bytes(csv_bytes(table, chosen))
    elif suffix == ".xlsx":
        from .excel import write_xlsx

        tables = dict(sheets) if sheets else {"resultats": table}
        write_xlsx({k: french_headers(v) for k, v in tables.items()}, path)
    else:
        raise ValueError(f"{path}: unsupported output suffix (expected one of {', '.join(SUFFIXES)})")
    if stamp is not None:
        sidecar(path).write_text(json.dumps(stamp.as_dict(), ensure_ascii=False, indent=2) + "\n", "utf-8")


def sidecar(path: Path) -> Path:
    """The JSON sidecar of an output file: ``FILE.meta.json``."""
    return path.with_name(path.name + ".meta.json")

"""The command line's inputs and outputs: stdin, encodings, absent fields, rejects, notes, stamps.

``cotation score|explain|position|rank|report`` read their applications through
:func:`read_input` (``-`` is stdin; ``--encoding``; ``--absent FIELD``; ``--rejects FILE`` for
score) and write their tables through :func:`write_result` (``-o -`` is stdout; ``.csv``,
``.parquet``, ``.xlsx``, ``.json``/``.jsonl``; ``--dialect fr``; the stamp of
:mod:`cotation.data.outputs`). The one-line note listing the ignored columns and the fields said
absent goes to stderr, and into the stamp.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data.batch import Batch, read_applications
from .data.outputs import DIALECTS, Stamp, digest, json_lines, write_output
from .grid.catalogue import Catalogue

__all__ = [
    "Input",
    "add_input_options",
    "add_output_options",
    "read_input",
    "stamp_html",
    "stamp_of",
    "write_result",
]

OUTPUT_SUFFIXES = (".csv", ".parquet", ".xlsx", ".json", ".jsonl")


@dataclass(frozen=True)
class Input:
    """An input read by the command line: its name and digest, the columns it accounted for."""

    name: str
    sha256: str
    ignored_columns: tuple[str, ...]
    absent_fields: tuple[str, ...]


def add_input_options(p: argparse.ArgumentParser, rejects: bool = False) -> None:
    p.add_argument(
        "--encoding",
        help="text encoding of a CSV input (default: detected: UTF-8 with or without BOM, or cp1252)",
    )
    p.add_argument(
        "--absent",
        action="append",
        default=[],
        metavar="FIELD",
        help="a field the grid reads that the data lacks on purpose (repeatable; recorded in the stamp)",
    )
    p.add_argument(
        "--mapping",
        metavar="FILE.yaml",
        help="rename the source's columns and values to the catalogue's (a YAML mapping file, or the "
        "name of a shipped one: sne)",
    )
    if rejects:
        p.add_argument(
            "--rejects",
            type=Path,
            metavar="FILE",
            help="score the valid rows and write each rejected row with its reasons to FILE (.csv)",
        )


def add_output_options(p: argparse.ArgumentParser, json_format: bool = True) -> None:
    if json_format:
        p.add_argument(
            "--format",
            choices=("table", "json"),
            default="table",
            help="stdout: an aligned table (default) or JSON Lines (the stamp first, then one row each)",
        )
    p.add_argument(
        "--dialect",
        choices=DIALECTS,
        help="CSV outputs: plain (',', UTF-8) or fr (';', BOM, decimal commas, French headers); "
        "default: fr for a name ending in .fr.csv",
    )


def output_path(text: str) -> Path:
    """An output path: ``-`` (stdout) or a name ending in one of OUTPUT_SUFFIXES."""
    path = Path(text)
    if text != "-" and path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the output must end in {', '.join(OUTPUT_SUFFIXES)} (or be '-' for stdout)"
        )
    return path


def read_input(
    path: Path, catalogue: Catalogue, day: datetime.date, args: argparse.Namespace | None
) -> tuple[Batch, Input]:
    """Read the applications at ``path`` (``-``: stdin, as CSV) with the options in ``args``."""
    encoding = getattr(args, "encoding", None)
    absent = tuple(getattr(args, "absent", None) or ())
    rejects = getattr(args, "rejects", None)
    name = str(path)
    if name == "-":
        data = sys.stdin.buffer.read()
        sha = digest(data)
        folder = Path(tempfile.mkdtemp(prefix="cotation-stdin-"))
        path = folder / "stdin.csv"
        path.write_bytes(data)
    else:
        sha = digest(path) if path.is_file() else ""
    if rejects is not None:
        batch = _read_with_rejects(path, catalogue, day, encoding, rejects)
    else:
        mapping = getattr(args, "mapping", None)
        batch = read_applications(path, catalogue, date_calcul=day, encoding=encoding, mapping=mapping)
    batch.source = name
    from .data.columns import columns_note

    note = columns_note(batch, absent)
    if note:
        print(note, file=sys.stderr)
    return batch, Input(name, sha, batch.ignored_columns, absent)


def _read_with_rejects(
    path: Path, catalogue: Catalogue, day: datetime.date, encoding: str | None, out: Path
) -> Batch:
    from .data.rejects import read_with_rejects

    batch, rejects = read_with_rejects(path, catalogue, date_calcul=day, encoding=encoding)
    write_output(rejects.table, out)
    print(
        f"{len(batch)} valid rows of {rejects.rows_in}; {len(rejects)} rejected with their reasons in {out}",
        file=sys.stderr,
    )
    return batch


def stamp_of(scores: Any, info: Input | None) -> Stamp:
    """The stamp of an output made from ``scores`` (or a Ranking) and the input ``info``."""
    return Stamp(
        grid_id=scores.grid_id,
        grid_version=scores.grid_version or "",
        grid_hash=scores.grid_hash,
        date_calcul=scores.date_calcul.isoformat(),
        engine=getattr(scores, "engine", ""),
        verified_only=bool(getattr(scores, "verified_only", False)),
        input=info.name if info else "",
        input_sha256=info.sha256 if info else "",
        ignored_columns=info.ignored_columns if info else (),
        absent_fields=info.absent_fields if info else (),
    )


def write_result(table: Any, path: Path, stamp: Stamp, args: argparse.Namespace) -> None:
    """Write a result table to ``path`` (see the module docstring)."""
    write_output(table, path, stamp, dialect=getattr(args, "dialect", None))


def stamp_html(page: str, stamp: Stamp) -> str:
    """An HTML page with its stamp as a printed footer (before ``</body>``, else at the end)."""
    from html import escape

    d = stamp.as_dict()
    version = f", version {d['grid_version']}" if d["grid_version"] else ""
    text = (
        f"Grille {d['grid_id']}{version} (empreinte {d['grid_hash'][:12]}), calcul au {d['date_calcul']}, "
        f"moteur {d['engine'] or '-'}, données {d['input'] or '-'} ({d['input_sha256'][:19] or '-'}), "
        f"cotation {d['package_version']}, écrit le {d['written_at']}"
    )
    footer = f'<footer class="cotation-stamp"><p>{escape(text)}</p></footer>'
    at = page.rfind("</body>")
    return page[:at] + footer + page[at:] if at >= 0 else page + footer


def print_json_lines(table: Any, stamp: Stamp) -> None:
    sys.stdout.write(json_lines(table, stamp))

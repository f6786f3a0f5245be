"""Stage 2 (data): every input column accounted for: the fields a grid reads must be in the data.

A field the grid reads that the source had no column for would score as missing on every row,
silently. :func:`require_fields` makes it an error (D124) naming the field and the source columns
closest to it (case, accents and punctuation aside, then by edit distance), unless the caller
says the field is absent on purpose (``absent``: ``--absent FIELD`` on the command line), which
the output's stamp records. :func:`columns_note` is the one line that lists the ignored columns.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from ..errors import DataError, DataProblem, did_you_mean
from ..grid.ir import Grid, reads
from .batch import Batch
from .formats import plain

__all__ = ["closest_columns", "columns_note", "fields_read", "plain", "require_fields"]

CLOSE_RATIO = 0.5
MAX_CLOSEST = 3


def fields_read(grid: Grid) -> set[str]:
    """The application fields the grid's scores read: its expressions (through variables) and its
    tie-breaks, the identifier aside. (The keys of similar demands, which default to the prelude's,
    only group the positions: a missing key groups every application together.)"""
    variables = {v.name: v for v in grid.variables}
    fields, _ = reads(grid.expressions(), variables)
    fields |= {t.field for t in grid.tie_break}
    return {name for name in fields if name in grid.catalogue} - {grid.catalogue.id_field.name}


def closest_columns(name: str, columns: Iterable[str]) -> list[str]:
    """The columns closest to field ``name``, best first: same plain name, one containing the other,
    then by similarity (at least ``CLOSE_RATIO``)."""
    target = plain(name)
    scored = []
    for column in columns:
        other = plain(column)
        if not other:
            continue
        score = difflib.SequenceMatcher(None, target, other).ratio()
        if other == target:
            score = 2.0
        elif other in target or target in other:
            score = max(score, 0.9)
        if score >= CLOSE_RATIO:
            scored.append((-score, column))
    return [column for _, column in sorted(scored)[:MAX_CLOSEST]]


def require_fields(batch: Batch, grid: Grid, absent: Iterable[str] = ()) -> None:
    """D124 for each field the grid reads that the batch's source had no column for, unless listed in
    ``absent``; an ``absent`` name that is not a field is D124 too (a typo would hide a field)."""
    said = list(dict.fromkeys(absent))
    problems = [_unknown_absent(name, grid) for name in said if name not in grid.catalogue]
    if batch.absent is not None:
        missing = sorted((fields_read(grid) & set(batch.absent)) - set(said))
        problems += [_absent_field(name, batch) for name in missing]
    if problems:
        raise DataError(problems)


def _absent_field(name: str, batch: Batch) -> DataProblem:
    close = closest_columns(name, batch.ignored_columns)
    near = f"; closest columns: {', '.join(repr(c) for c in close)}" if close else ""
    message = (
        f"the grid reads field '{name}' but the data has no such column{near}: rename or map the "
        f"column (--mapping), or say the field is absent on purpose (--absent {name}, absent=[...])"
    )
    return DataProblem("D124", name, message, suggestion=close[0] if close else None, source=batch.source)


def _unknown_absent(name: str, grid: Grid) -> DataProblem:
    hint = did_you_mean(name, grid.catalogue.names)
    message = f"'{name}' given as absent is not a field of the grid's catalogue"
    return DataProblem("D124", name, message, suggestion=hint)


def columns_note(batch: Batch, absent: Iterable[str] = ()) -> str | None:
    """One line listing the source columns ignored and the fields said absent (None if neither)."""
    parts = []
    if batch.ignored_columns:
        listed = ", ".join(batch.ignored_columns)
        parts.append(f"{len(batch.ignored_columns)} column(s) ignored (not fields): {listed}")
    said = list(dict.fromkeys(absent))
    if said:
        parts.append(f"field(s) absent on purpose: {', '.join(said)}")
    if not parts:
        return None
    where = f"{batch.source}: " if batch.source else ""
    return f"note: {where}" + "; ".join(parts)

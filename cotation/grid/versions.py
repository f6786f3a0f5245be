"""Stage 1 (grid): dated versions of a grid: the one in force on the computation date.

A grid's ``effective_from`` / ``effective_until`` (both included) say when it is in force. A folder
may hold several versions of a grid (one file each; ``*.tests.yaml`` test cases and ``kind: pool``
files are skipped; a version without ``effective_until`` ends the day before the next one starts):
:func:`grid_in_force` picks the one whose period covers ``date_calcul``.
Scoring a date that no version covers is an error naming every version and its period (D113), as is
a date that several versions of the folder cover (D114); ``force=True`` uses the file (or, in a
folder, the latest version that started before the date, else the earliest) and stamps the grid
(``Meta.out_of_force``, carried by ``Scores`` and ``Ranking`` into every output).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Callable
from pathlib import Path

from ..errors import DataError, DataProblem
from . import ir

__all__ = ["grid_in_force", "in_force", "load_versions", "period_text"]

_POOL = re.compile(r"^kind:\s*['\"]?pool\b", re.MULTILINE)


def in_force(grid: ir.Grid, day: datetime.date) -> bool:
    """Whether ``day`` lies in the grid's period (an open end never excludes)."""
    m = grid.meta
    return (m.effective_from is None or m.effective_from <= day) and (
        m.effective_until is None or day <= m.effective_until
    )


def period_text(grid: ir.Grid) -> str:
    m = grid.meta
    start = m.effective_from.isoformat() if m.effective_from else "…"
    end = m.effective_until.isoformat() if m.effective_until else "…"
    return f"'{m.id}' version {m.version or '-'} ({start} to {end}, {m.file})"


Loader = Callable[[Path], ir.Grid]  # cotation.api.load_grid: load, check and cache one file


def load_versions(path: str | Path, load_grid: Loader) -> tuple[ir.Grid, ...]:
    """The grid of a file, or every version in a folder (sorted by ``effective_from``)."""
    path = Path(path)
    if not path.is_dir():
        return (load_grid(path),)
    files = sorted(
        p
        for p in path.glob("*.yaml")
        if not p.name.endswith(".tests.yaml") and not _POOL.search(p.read_text(encoding="utf-8"))
    )
    grids = sorted((load_grid(p) for p in files), key=lambda g: g.meta.effective_from or datetime.date.min)
    return tuple(_closed(g, nxt) for g, nxt in zip(grids, [*grids[1:], None], strict=True))


def _closed(grid: ir.Grid, nxt: ir.Grid | None) -> ir.Grid:
    """A version without ``effective_until`` ends the day before the next version starts."""
    start = nxt.meta.effective_from if nxt is not None else None
    if grid.meta.effective_until is not None or start is None:
        return grid
    until = start - datetime.timedelta(days=1)
    return dataclasses.replace(grid, meta=dataclasses.replace(grid.meta, effective_until=until))


def grid_in_force(path: str | Path, day: datetime.date, load_grid: Loader, force: bool = False) -> ir.Grid:
    """The version of the grid at ``path`` (a file or a folder of versions) in force on ``day``,
    each file loaded with ``load_grid``."""
    grids = load_versions(path, load_grid)
    if not grids:
        raise DataError([_problem("D113", f"no grid file in {path}", day)])
    covering = [g for g in grids if in_force(g, day)]
    if len(covering) == 1:
        return covering[0]
    if len(covering) > 1:
        listed = "; ".join(period_text(g) for g in covering)
        raise DataError([_problem("D114", f"several versions are in force: {listed}", day)])
    if force:
        started = [g for g in grids if g.meta.effective_from is None or g.meta.effective_from <= day]
        chosen = started[-1] if started else grids[0]
        return dataclasses.replace(chosen, meta=dataclasses.replace(chosen.meta, out_of_force=True))
    listed = "; ".join(period_text(g) for g in grids)
    raise DataError(
        [
            _problem(
                "D113",
                f"no version of the grid is in force on {day.isoformat()}: {listed}",
                day,
                "add the version in force, compute on a date of a listed period, or pass "
                "--force-version to use it anyway (the outputs say so)",
            )
        ]
    )


def _problem(code: str, message: str, day: datetime.date, hint: str | None = None) -> DataProblem:
    text = message + (f"; {hint}" if hint else "")
    return DataProblem(code, "date_calcul", text, values=(day.isoformat(),))

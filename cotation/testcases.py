"""YAML test cases for grids: applications with the points, flags, tier and total they must get.

A test-case file names its grid (relative to the file), a computation date, optional defaults
merged under every application, and the cases::

    grid: exemple-metropole.yaml       # relative to this file
    date_calcul: 2026-01-01
    defaults:                          # merged under each case's application (optional)
      date_depot: 2022-01-01
      nb_personnes: 1
    cases:
      - name: Ménage DALO sans abri
        application: {dalo: true, situation_logement: sans_abri}
        expect:
          points: {dalo: 50, sans_abri: 17}   # only the listed breakdown columns are checked
          flags: [prio_dalo]                  # when given: the exact set of raised flags
          tier: 2                             # optional
          total: 187                          # optional

An application's ``numero_unique`` defaults to ``case-<n>`` (n counted from 1). All the
applications of a file are scored together through :meth:`cotation.data.batch.Batch.from_rows`; bad
values raise :class:`~cotation.errors.DataError` located at the line of their case (``file:line:col:
case 'name': error[D1xx] column ...``), and a failing case's report names its line. A malformed
file (unknown key, unknown column or flag, unknown field in an application) raises
:class:`~cotation.errors.TestCaseError` listing every problem with its ``file:line:col``; an
invalid grid raises :class:`~cotation.errors.GridError`.
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import api
from .data.batch import Batch
from .errors import Collector, DataError, TestCaseError, did_you_mean
from .grid import ir
from .grid.yamlio import Document, load_yaml
from .scoring.scores import Scores

__all__ = ["CaseReport", "CaseResult", "Difference", "format_report", "junit_xml", "run_cases"]

TOP_KEYS = ("grid", "date_calcul", "defaults", "cases", "logements")
CASE_KEYS = ("name", "application", "expect")
EXPECT_KEYS = ("points", "flags", "tier", "total", "rank", "position", "logements")
DWELLING_KEYS = ("eligible", "points", "rank")


@dataclass(frozen=True)
class Difference:
    """One expectation that did not hold: ``what`` is e.g. ``points[dalo]``, ``flags``, ``total``."""

    what: str
    expected: Any
    got: Any


@dataclass(frozen=True)
class CaseResult:
    name: str
    numero_unique: str
    differences: tuple[Difference, ...]
    where: str = ""  # file:line:col of the case in its test-case file

    @property
    def passed(self) -> bool:
        return not self.differences


@dataclass(frozen=True)
class CaseReport:
    """The results of one test-case file."""

    file: str
    grid_id: str
    date_calcul: datetime.date
    results: tuple[CaseResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def n_passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def n_failed(self) -> int:
        return len(self.results) - self.n_passed


@dataclass(frozen=True)
class _Case:
    name: str
    row: dict[str, Any]
    expect: dict[str, Any]
    where: str = ""  # file:line:col of the case


@dataclass(frozen=True)
class _Suite:
    file: Path
    grid: ir.Grid
    date_calcul: datetime.date
    cases: tuple[_Case, ...]
    dwellings: tuple[dict[str, Any], ...] = ()  # the file's 'logements' (rows of the dwelling catalogue)


# -- running ------------------------------------------------------------------------------------
def run_cases(path: str | Path, select: str | None = None) -> CaseReport:
    """Load the test-case file at ``path``, score its applications and compare with expectations.

    ``select``: report only the cases whose name contains it (case-insensitive); every application
    of the file is still scored, so ranks and positions do not depend on the selection."""
    suite = _load_suite(Path(path))
    try:
        batch = Batch.from_rows(
            [c.row for c in suite.cases],
            suite.grid.catalogue,
            date_calcul=suite.date_calcul,
            source=str(suite.file),
        )
    except DataError as exc:
        raise _data_problems(exc, suite.cases) from exc
    scores = api.score(suite.grid, batch, suite.date_calcul)
    pairs = _pairs(suite, batch, scores) if suite.dwellings else {}
    wanted = (select or "").casefold()
    results = tuple(
        CaseResult(
            c.name,
            str(c.row["numero_unique"]),
            _compare(c.expect, scores, i) + _compare_dwellings(c.expect, pairs, i),
            c.where,
        )
        for i, c in enumerate(suite.cases)
        if wanted in c.name.casefold()
    )
    return CaseReport(str(path), suite.grid.meta.id, suite.date_calcul, results)


def _data_problems(exc: DataError, cases: tuple[_Case, ...]) -> DataError:
    """The same problems, one per case, located at the line of the case: ``file:line:col: case
    'name': error[D1xx] column 'x': ...``."""
    by_id = {str(c.row["numero_unique"]): c for c in cases}
    out = []
    for p in exc.problems:
        mine = [(r, v) for r, v in zip(p.rows, p.values or ("",) * len(p.rows), strict=False) if r in by_id]
        if not mine:
            out.append(p)
        for r, v in mine:
            case = by_id[r]
            source = f"{case.where}: case '{case.name}'"
            out.append(
                dataclasses.replace(p, source=source, rows=(r,), values=(v,) if p.values else (), count=1)
            )
    return DataError(out)


def _compare(expect: dict[str, Any], scores: Scores, i: int) -> tuple[Difference, ...]:
    out = []
    for column, want in (expect.get("points") or {}).items():
        got = int(scores.breakdown[i, scores.column_ids.index(column)])
        if got != want:
            out.append(Difference(f"points[{column}]", want, got))
    if expect.get("flags") is not None:
        raised = sorted(f for k, f in enumerate(scores.flag_ids) if scores.flags[i, k])
        if set(raised) != set(expect["flags"]):
            out.append(Difference("flags", sorted(expect["flags"]), raised))
    checked = (
        ("tier", scores.tier),
        ("total", scores.total),
        ("rank", scores.rank),
        ("position", scores.position),
    )
    for key, values in checked:
        if key in expect and int(values[i]) != expect[key]:
            out.append(Difference(key, expect[key], int(values[i])))
    return tuple(out)


@dataclass(frozen=True)
class _Pair:
    """One application for one dwelling of the file: eligible, its rank among the eligible
    applications of the file, and the points of each match criterion."""

    eligible: bool
    rank: int
    points: dict[str, int]


def _pairs(suite: _Suite, batch: Batch, scores: Scores) -> dict[tuple[str, int], _Pair]:
    """Every (dwelling id, application row) of the file, ranked among all its applications."""
    from .data.batch import read_dwellings
    from .match.reference import pair_breakdown

    grid = suite.grid
    assert grid.match is not None
    dwellings = read_dwellings(_frame(suite.dwellings), grid.match.catalogue)
    ranking = api.rank(grid, batch, dwellings, len(batch), date_calcul=suite.date_calcul, engine="reference")
    out: dict[tuple[str, int], _Pair] = {}
    for m, ident in enumerate(dwellings.ids):
        rows = [int(r) for r in ranking.rows[m] if r >= 0]
        points = pair_breakdown(grid, batch, dwellings, m, rows, suite.date_calcul) if rows else None
        for r, row in enumerate(rows):
            assert points is not None
            detail = {c.id: int(points[k, r]) for k, c in enumerate(grid.match.criteria)}
            out[(str(ident), row)] = _Pair(True, r + 1, detail)
        for row in set(range(len(batch))) - set(rows):
            out[(str(ident), row)] = _Pair(False, 0, {})
    return out


def _frame(rows: tuple[dict[str, Any], ...]) -> Any:
    import pyarrow as pa

    names = list(dict.fromkeys(k for r in rows for k in r))
    return pa.table({n: pa.array([_cell(r.get(n)) for r in rows]) for n in names})


def _cell(value: Any) -> Any:
    return ";".join(map(str, value)) if isinstance(value, list) else value


def _compare_dwellings(
    expect: dict[str, Any], pairs: dict[tuple[str, int], _Pair], i: int
) -> tuple[Difference, ...]:
    out = []
    for ident, want in (expect.get("logements") or {}).items():
        got = pairs[(str(ident), i)]
        if "eligible" in want and bool(want["eligible"]) != got.eligible:
            out.append(Difference(f"logements[{ident}].eligible", bool(want["eligible"]), got.eligible))
        if "rank" in want and want["rank"] != got.rank:
            out.append(
                Difference(
                    f"logements[{ident}].rank", want["rank"], got.rank if got.eligible else "non éligible"
                )
            )
        for column, points in (want.get("points") or {}).items():
            have = got.points.get(column, 0)
            if have != points:
                out.append(Difference(f"logements[{ident}].points[{column}]", points, have))
    return tuple(out)


# -- report -------------------------------------------------------------------------------------
def format_report(report: CaseReport) -> str:
    """One line per case (✓ or ✗), the differences under each failing case, then a summary."""
    lines = [f"{report.file} (grille {report.grid_id}, calcul au {report.date_calcul.isoformat()})"]
    for r in report.results:
        where = f"  (ligne {r.where.rsplit(':', 2)[1]})" if r.where and not r.passed else ""
        lines.append(f"{'✓' if r.passed else '✗'} {r.name}{where}")
        lines += [f"    {d.what}: attendu {_show(d.expected)}, obtenu {_show(d.got)}" for d in r.differences]
    lines.append(f"{report.n_passed} passed, {report.n_failed} failed")
    return "\n".join(lines)


def junit_xml(reports: list[CaseReport | tuple[Path, str]]) -> str:
    """JUnit XML of test-case runs, one ``<testsuite>`` per file (a file that could not run is one
    ``<error>``): what CI servers read."""
    from xml.etree import ElementTree as ET

    root = ET.Element("testsuites", name="cotation test")
    for report in reports:
        if isinstance(report, tuple):
            path, message = report
            suite = ET.SubElement(root, "testsuite", name=str(path), tests="1", failures="0", errors="1")
            case = ET.SubElement(suite, "testcase", classname=str(path), name="(file)")
            ET.SubElement(case, "error", message=message.splitlines()[0] if message else "").text = message
            continue
        suite = ET.SubElement(
            root,
            "testsuite",
            name=report.file,
            tests=str(len(report.results)),
            failures=str(report.n_failed),
            errors="0",
            timestamp=report.date_calcul.isoformat(),
        )
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="grid", value=report.grid_id)
        for r in report.results:
            case = ET.SubElement(suite, "testcase", classname=f"{report.grid_id}", name=r.name, file=r.where)
            if not r.passed:
                text = "\n".join(
                    f"{d.what}: attendu {_show(d.expected)}, obtenu {_show(d.got)}" for d in r.differences
                )
                ET.SubElement(case, "failure", message=f"{len(r.differences)} différence(s)").text = text
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


# -- loading ------------------------------------------------------------------------------------
class _Problems:
    """Problems of one test-case file, collected then raised once as a TestCaseError."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.lines: list[str] = []

    def add(self, path: tuple[str | int, ...], message: str, hint: str | None = None) -> None:
        suffix = f" (did you mean '{hint}'?)" if hint else ""
        self.lines.append(f"{self.doc.span(path)}: {message}{suffix}")

    def raise_if_any(self) -> None:
        if self.lines:
            n = len(self.lines)
            summary = f"{n} problem{'s' if n > 1 else ''} in test-case file"
            raise TestCaseError("\n".join([*self.lines, summary]))


def _load_suite(path: Path) -> _Suite:
    doc = _read_document(path)
    problems = _Problems(doc)
    top = doc.value if isinstance(doc.value, dict) else {}
    if not isinstance(doc.value, dict):
        problems.add((), "a test-case file must be a mapping with keys grid, date_calcul and cases")
    _check_keys(problems, top, (), TOP_KEYS, required=("grid", "date_calcul", "cases"))
    day = _date(problems, top.get("date_calcul"))
    grid_name = top.get("grid")
    if "grid" in top and not isinstance(grid_name, str):
        problems.add(("grid",), "'grid' must be the path of a grid file, relative to this file")
    problems.raise_if_any()
    assert isinstance(grid_name, str)
    grid = api.load_grid(path.parent / grid_name)
    dwellings = _dwellings(problems, top.get("logements"), grid)
    cases = _cases(problems, top, grid)
    _check_dwelling_ids(problems, cases, dwellings)
    problems.raise_if_any()
    assert day is not None
    return _Suite(path, grid, day, cases, dwellings)


def _dwellings(problems: _Problems, raw: Any, grid: ir.Grid) -> tuple[dict[str, Any], ...]:
    if raw is None:
        return ()
    if grid.match is None:
        problems.add(("logements",), "'logements' needs a grid with a match part")
        return ()
    if not isinstance(raw, list) or not all(isinstance(d, dict) for d in raw):
        problems.add(("logements",), "'logements' must be a list of dwellings (mappings of field: value)")
        return ()
    names = grid.match.catalogue.names
    for k, d in enumerate(raw):
        for key in d:
            if key not in names:
                problems.add(
                    ("logements", k, key), f"unknown dwelling field '{key}'", did_you_mean(key, names)
                )
    return tuple(raw)


def _check_dwelling_ids(
    problems: _Problems, cases: tuple[_Case, ...], dwellings: tuple[dict[str, Any], ...]
) -> None:
    ids = [str(d.get("identifiant")) for d in dwellings]
    for k, c in enumerate(cases):
        for ident in c.expect.get("logements") or {}:
            if str(ident) not in ids:
                problems.add(
                    ("cases", k, "expect", "logements", ident),
                    f"unknown dwelling '{ident}' (the file's logements: {', '.join(ids) or 'none'})",
                    did_you_mean(str(ident), ids),
                )


def _read_document(path: Path) -> Document:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TestCaseError(f"{path}: cannot read the test-case file: {exc}") from exc
    errors = Collector()
    doc = load_yaml(text, str(path), errors)
    if errors.diagnostics or doc is None:
        raise TestCaseError("\n".join(d.render() for d in errors.diagnostics) or f"{path}: unreadable YAML")
    return doc


def _check_keys(
    problems: _Problems,
    mapping: dict[str, Any],
    path: tuple[str | int, ...],
    allowed: tuple[str, ...],
    required: tuple[str, ...] = (),
) -> None:
    for key in mapping:
        if key not in allowed:
            problems.add(
                (*path, key),
                f"unknown key '{key}' (allowed: {', '.join(allowed)})",
                did_you_mean(key, allowed),
            )
    for key in required:
        if key not in mapping:
            problems.add(path, f"missing key '{key}'")


def _date(problems: _Problems, value: Any) -> datetime.date | None:
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        if value is not None:
            problems.add(("date_calcul",), f"date_calcul must be a date YYYY-MM-DD, not {value!r}")
        return None


def _cases(problems: _Problems, top: dict[str, Any], grid: ir.Grid) -> tuple[_Case, ...]:
    defaults = top.get("defaults") or {}
    if not isinstance(defaults, dict):
        problems.add(("defaults",), "'defaults' must be a mapping of field: value")
        defaults = {}
    _check_fields(problems, defaults, ("defaults",), grid)
    raw = top.get("cases")
    if not isinstance(raw, list) or not raw:
        problems.add(("cases",), "'cases' must be a non-empty list of test cases")
        return ()
    return tuple(_case(problems, item, ("cases", k), k + 1, defaults, grid) for k, item in enumerate(raw))


def _case(
    problems: _Problems,
    item: Any,
    path: tuple[str | int, ...],
    number: int,
    defaults: dict[str, Any],
    grid: ir.Grid,
) -> _Case:
    if not isinstance(item, dict):
        problems.add(path, "a test case must be a mapping with keys name, application and expect")
        return _Case(f"case-{number}", {"numero_unique": f"case-{number}"}, {})
    _check_keys(problems, item, path, CASE_KEYS, required=("name", "expect"))
    application = item.get("application") or {}
    if not isinstance(application, dict):
        problems.add((*path, "application"), "'application' must be a mapping of field: value")
        application = {}
    _check_fields(problems, application, (*path, "application"), grid)
    expect = _expect(problems, item.get("expect"), (*path, "expect"), grid)
    row = {"numero_unique": f"case-{number}", **defaults, **application}
    return _Case(str(item.get("name", f"case-{number}")), row, expect, str(problems.doc.span(path)))


def _check_fields(
    problems: _Problems, row: dict[str, Any], path: tuple[str | int, ...], grid: ir.Grid
) -> None:
    names = grid.catalogue.names
    for key in row:
        if key not in names:
            problems.add((*path, key), f"unknown field '{key}'", did_you_mean(key, names))


def _expect(problems: _Problems, raw: Any, path: tuple[str | int, ...], grid: ir.Grid) -> dict[str, Any]:
    if not isinstance(raw, dict):
        if raw is not None:
            problems.add(path, "'expect' must be a mapping with keys among points, flags, tier, total")
        return {}
    _check_keys(problems, raw, path, EXPECT_KEYS)
    _check_points(problems, raw.get("points"), (*path, "points"), grid)
    _check_flags(problems, raw.get("flags"), (*path, "flags"), grid)
    for key in ("tier", "total", "rank", "position"):
        if key in raw and not _is_int(raw[key]):
            problems.add((*path, key), f"'{key}' must be an integer, not {raw[key]!r}")
    _check_dwelling_expect(problems, raw.get("logements"), (*path, "logements"), grid)
    return raw


def _check_dwelling_expect(problems: _Problems, raw: Any, path: tuple[str | int, ...], grid: ir.Grid) -> None:
    if raw is None:
        return
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        problems.add(path, "'logements' must map a dwelling id to {eligible, points, rank}")
        return
    columns = [c.id for c in grid.match.criteria] if grid.match else []
    for ident, want in raw.items():
        _check_keys(problems, want, (*path, ident), DWELLING_KEYS)
        if "rank" in want and not _is_int(want["rank"]):
            problems.add((*path, ident, "rank"), f"'rank' must be an integer, not {want['rank']!r}")
        for column in want.get("points") or {}:
            if column not in columns:
                problems.add(
                    (*path, ident, "points", column),
                    f"unknown match criterion '{column}'",
                    did_you_mean(str(column), columns),
                )


def _check_points(problems: _Problems, points: Any, path: tuple[str | int, ...], grid: ir.Grid) -> None:
    if points is None:
        return
    if not isinstance(points, dict):
        problems.add(path, "'points' must be a mapping of breakdown column: points")
        return
    columns = [c.id for c in grid.columns]
    for key, value in points.items():
        if key not in columns:
            problems.add((*path, key), f"unknown breakdown column '{key}'", did_you_mean(key, columns))
        elif not _is_int(value):
            problems.add((*path, key), f"points must be an integer, not {value!r}")


def _check_flags(problems: _Problems, flags: Any, path: tuple[str | int, ...], grid: ir.Grid) -> None:
    if flags is None:
        return
    if not isinstance(flags, list):
        problems.add(path, "'flags' must be a list of priority ids (an empty list: no flag raised)")
        return
    ids = [p.id for p in grid.priorities]
    for k, flag in enumerate(flags):
        if flag not in ids:
            problems.add((*path, k), f"unknown priority '{flag}'", did_you_mean(str(flag), ids))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

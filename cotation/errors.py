"""Errors raised by cotation.

The hierarchy is flat and small::

    CotationError                 base of everything raised on purpose
    ├── GridError                 a grid (YAML, expressions, types) is invalid: .diagnostics
    ├── DataError                 applications (or other input data) are invalid: .problems
    └── TestCaseError             a grid test-case file is itself malformed

Warnings (``W4xx``, :class:`GridWarning`) are not raised: ``cotation check`` prints them (see
:mod:`cotation.grid.lint`), and ``--strict`` turns them into a :class:`GridError`.

Every grid problem is a :class:`Diagnostic` with a stable code (``E101``...); every data problem
is a :class:`DataProblem` with a stable code (``D101``...). All problems of one input are
collected and raised once. ``docs/errors.md`` lists every code with a failing example.
"""

from __future__ import annotations

import difflib
import json
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from .source import Span

MAX_SHOWN = 20
MAX_ROWS = 10
MAX_QUOTE = 300  # characters of a message, a value or a source line quoted in an error

#: Every grid error code with its one-line meaning (docs/errors.md is checked against it).
GRID_CODES: dict[str, str] = {
    "E101": "YAML syntax error",
    "E102": "duplicate key in a YAML mapping",
    "E103": "YAML alias expansion over the limit, or a tag that is not plain data",
    "E104": "included file not found or unreadable",
    "E105": "include cycle",
    "E106": "grid file too large (alone or with its includes)",
    "E107": "YAML nested too deeply, or includes nested too deeply",
    "E108": "include outside the grid's folder and the allowed folders",
    "E109": "include that is not a regular file or not a grid file",
    "E111": "missing required key",
    "E112": "unknown key",
    "E113": "value of the wrong type or out of range",
    "E201": "expression syntax error",
    "E202": "unknown name (field, variable or keyword)",
    "E203": "unknown category value",
    "E204": "operand types do not fit the operator",
    "E205": "unknown function",
    "E206": "wrong number or types of function arguments",
    "E207": "a condition is not boolean",
    "E208": "points are not an integer",
    "E209": "variable defined in terms of itself, or before its inputs",
    "E210": "expression too long",
    "E211": "too many terms in one expression",
    "E212": "expression nested too deeply",
    "E213": "number literal out of range (an integer beyond 64 bits, a float beyond float64)",
    "E214": "expression nested too deeply through the variables it reads",
    "E301": "duplicate id",
    "E302": "reference to an unknown criterion, rubric or group",
    "E303": "a rubric or group that no criterion belongs to",
    "E304": "bands not in increasing order, or overlapping",
    "E305": "criterion declares no way, or several ways, to compute its points",
    "E306": "invalid tie-break",
    "E307": "invalid local field declaration",
    "E308": "minimum greater than maximum",
    "E309": "points not provably within 64-bit integers (an unbounded criterion or total)",
    "E310": "more than 64 priorities",
    "E311": "invalid match part (a match criterion in a rubric or group, a malformed typology table)",
    "E340": "too many criteria",
    "E360": "reservation holder not a value of logement.reservataire",
    "E361": "reservation holders declared without a match part",
    "E362": "reservation holder declared twice",
    "E363": "flow shares of the reservation holders add up to more than 100 %",
    "E364": "State flow share above the statutory 35 % (R441-5 CCH)",
}

#: Every grid warning code with its one-line meaning (static analysis, cotation.grid.lint).
WARNING_CODES: dict[str, str] = {
    "W401": "a condition that can never be met (its parts contradict each other)",
    "W402": "a rubric member that can never count (always beaten by another member)",
    "W403": "a condition or band that no value of the field's domain can meet",
    "W404": "a situation counted twice (a criterion and a priority's points on the same field)",
    "W405": "bands that leave a gap (values between two bands give 0 points)",
}

#: Every data error code with its one-line meaning.
DATA_CODES: dict[str, str] = {
    "D101": "missing required column",
    "D102": "value of the wrong type",
    "D103": "unknown category value",
    "D104": "value below the field minimum (a negative amount, a household of 0 persons)",
    "D105": "date after the computation date",
    "D106": "duplicate numero_unique",
    "D107": "missing value in a required column",
    "D108": "unreadable file or unsupported format",
    "D109": "unknown column that looks like a misspelt field",
    "D110": "too many values in a multi-valued cell",
    "D111": "value above the field maximum (an implausible amount, household size or duration)",
    "D112": "no income ceiling shipped for a dwelling's financing, zone and the year of date_calcul",
    "D113": "no version of the grid is in force on date_calcul",
    "D114": "several versions of the grid are in force on date_calcul",
    # issue 16 (French exports, Excel, mapping) and issue 20 point 3 (columns accounted for)
    "D120": "the file does not decode as text in its encoding (detected or given with --encoding)",
    "D121": "a cell over 1 MiB",
    "D122": "ambiguous date: a two-digit year or a month-first date",
    "D123": "ambiguous decimal separator: '.' in a column of decimal commas",
    "D124": "a field the grid reads has no column in the data",
    "D125": "an optional dependency is missing (the message names the extra to install)",
    "D126": "cannot tell the CSV delimiter from the header line",
    # issue 16 point 5: requests to `cotation serve`
    "D150": "a request to cotation serve that is not JSON of the expected shape",
    "D151": "a request to cotation serve over its size limits (body, batch or grid)",
    "D152": "a rank request to cotation serve whose grid has no match part",
    # -- experimentation (compare, simulate, back-test) --
    "D160": "no first-quartile threshold for the EPCI and year",
    "D161": "invalid objectives file",
    "D162": "invalid first-quartile threshold table",
    "D163": "allocation history unreadable or missing a required column",
    "D164": "invalid value in the allocation history",
    "D165": "allocation history names an application or dwelling absent from the files",
    "D166": "allocation dated before the application was filed",
    "D180": "allocation history in an unsupported format or of an unsupported type",
    "D181": "no allocation in the year of the annual review",
}

# -- cache and compile warnings (W450-W469) -------------------------------------------------------
#: Every cache and compile warning code with its one-line meaning: notes on stderr, never errors
#: (the scores are always those of a clean run). docs/errors.md documents each with an example.
CACHE_WARNING_CODES: dict[str, str] = {
    "W450": "a damaged, truncated or foreign cache entry was discarded and rebuilt",
    "W451": "the cache folder is not private to the user: it is not used",
    "W452": "compiling the kernels failed: scored with the reference engine (a bug to report)",
    "W453": "engine='auto' scored a grid too large to be worth compiling with the reference engine",
}


class CotationWarning(UserWarning):
    """A note of cotation with a stable code (``W450``...); ``str()`` is its one line of text."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(f"warning[{code}]: {message}")


_SAID: set[tuple[str, str]] = set()


def note(code: str, message: str, once: str | None = None) -> None:
    """Warn with ``code`` (a :class:`CotationWarning`; the CLI prints it as one line on stderr); with
    ``once``, at most once per process for ``(code, once)``."""
    assert code in CACHE_WARNING_CODES, code
    if once is not None:
        if (code, once) in _SAID:
            return
        _SAID.add((code, once))
    warnings.warn(CotationWarning(code, message), stacklevel=3)


#: Every error code of a column-mapping file (``--mapping``; cotation.data.mapping), reported like grid
#: errors (file, line, column, suggestion).
MAPPING_CODES: dict[str, str] = {
    "E130": "mapping file not found or unreadable",
    "E131": "mapping file of the wrong shape (an unknown key, a list or mapping of the wrong kind)",
    "E132": "mapping to a name that is not a field (or values listed for a field that has none)",
    "E133": "mapping to a value that the field does not allow",
    "E134": "two source columns mapped to the same field",
}


def quote(text: str, limit: int = MAX_QUOTE) -> str:
    """``text``, or its first ``limit`` characters and "..." with the length when it is longer."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to ``word``, or None when none is close enough."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


@dataclass(frozen=True)
class Diagnostic:
    """One grid problem, located in its source file."""

    code: str
    message: str
    span: Span
    criterion: str | None = None
    suggestion: str | None = None
    source_line: str | None = None
    source_start: int = 0  # where source_line starts in the file's line (a long line is quoted in part)
    subject: str = "criterion"  # what ``criterion`` names: criterion, variable, priority, field...

    def render(self) -> str:
        where = f" {self.subject} '{self.criterion}'" if self.criterion else ""
        hint = f" (did you mean '{self.suggestion}'?)" if self.suggestion else ""
        text = f"{self.span}: error[{self.code}]{where}: {self.message}{hint}"
        if self.source_line is not None:
            width = max(1, self.span.end_col - self.span.col) if self.span.end_line == self.span.line else 1
            lead = "..." if self.source_start else ""
            col = self.span.col - 1 - self.source_start + len(lead)
            width = max(1, min(width, len(lead) + len(self.source_line) - col))
            caret = " " * col + "^" * width
            text += f"\n    {lead}{self.source_line}\n    {caret}"
        return text

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["span"] = asdict(self.span)
        return out


@dataclass(frozen=True)
class GridWarning(Diagnostic):
    """A problem a grid may have on purpose (code ``W4xx``): rendered ``warning[CODE]``."""

    def render(self) -> str:
        return super().render().replace(": error[", ": warning[", 1)

    def as_error(self) -> Diagnostic:
        """The same record as an error (``cotation check --strict``)."""
        return Diagnostic(
            self.code, self.message, self.span, self.criterion, self.suggestion, self.source_line
        )


@dataclass(frozen=True)
class DataProblem:
    """One data problem: a column, a code, and the rows (ids) and values at fault."""

    code: str
    column: str
    message: str
    rows: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    count: int = 0
    suggestion: str | None = None
    source: str | None = None

    def render(self) -> str:
        where = f"{self.source}: " if self.source else ""
        text = f"{where}error[{self.code}] column '{self.column}': {self.message}"
        if self.suggestion:
            text += f" (did you mean '{self.suggestion}'?)"
        if self.rows:
            pairs = [
                f"{r}={v!r}" if v is not None else r
                for r, v in zip(self.rows, self.values or [None] * len(self.rows), strict=True)
            ]
            more = self.count - len(self.rows)
            text += "\n    rows: " + ", ".join(pairs) + (f", ... and {more} more" if more > 0 else "")
        return text

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class CotationError(Exception):
    """Base class of every error cotation raises on purpose."""


class GridError(CotationError):
    """A grid is invalid; ``diagnostics`` holds every problem found."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics = tuple(diagnostics)
        super().__init__(self.render())

    def render(self, limit: int = MAX_SHOWN) -> str:
        shown = [d.render() for d in self.diagnostics[:limit]]
        rest = len(self.diagnostics) - limit
        if rest > 0:
            shown.append(f"... and {rest} more errors")
        n = len(self.diagnostics)
        shown.append(f"{n} error{'s' if n != 1 else ''} in grid")
        return "\n".join(shown)

    def to_json(self) -> str:
        return json.dumps([d.to_dict() for d in self.diagnostics], ensure_ascii=False, indent=2)


class DataError(CotationError):
    """Input data are invalid; ``problems`` holds every problem found."""

    def __init__(self, problems: Sequence[DataProblem]):
        self.problems = tuple(problems)
        super().__init__(self.render())

    def render(self, limit: int = MAX_SHOWN) -> str:
        shown = [p.render() for p in self.problems[:limit]]
        rest = len(self.problems) - limit
        if rest > 0:
            shown.append(f"... and {rest} more problems")
        n = len(self.problems)
        shown.append(f"{n} problem{'s' if n != 1 else ''} in data")
        return "\n".join(shown)

    def to_json(self) -> str:
        return json.dumps([p.to_dict() for p in self.problems], ensure_ascii=False, indent=2)


class TestCaseError(CotationError):
    """A grid test-case file is malformed (not: a test case that fails)."""

    __test__ = False


@dataclass
class Collector:
    """Accumulates diagnostics during one stage; raise once at the end."""

    sources: object = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    subject: str = "criterion"  # what the ``criterion`` of the next errors names (the checker sets it)

    def error(
        self,
        code: str,
        span: Span,
        message: str,
        *,
        criterion: str | None = None,
        suggestion: str | None = None,
        subject: str | None = None,
    ) -> None:
        assert code in GRID_CODES or code in MAPPING_CODES, code
        line = self.sources.line(span.file, span.line) if self.sources is not None else None  # type: ignore[attr-defined]
        kind = subject or self.subject
        start = 0
        if line is not None and len(line) > MAX_QUOTE:  # a window of the line around the caret
            start = max(0, min(span.col - 1 - MAX_QUOTE // 3, len(line) - MAX_QUOTE))
            line = line[start : start + MAX_QUOTE] + ("..." if start + MAX_QUOTE < len(line) else "")
        hint = None if suggestion is None else quote(suggestion, 100)
        who = None if criterion is None else quote(criterion, 100)
        self.diagnostics.append(Diagnostic(code, quote(message), span, who, hint, line, start, kind))

    def raise_if_any(self) -> None:
        if self.diagnostics:
            ordered = sorted(self.diagnostics, key=lambda d: (d.span.file, d.span.line, d.span.col, d.code))
            raise GridError(ordered)

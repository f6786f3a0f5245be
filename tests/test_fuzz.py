"""Fuzzing in the suite: Hypothesis drives the YAML loader and the checker, the expression parser
and the data readers with random inputs and with mutations of the shipped grids and of generated
data. Anything raised other than the library's own located errors (GridError, ExprSyntaxError,
DataError) fails the test; so does a diagnostic without a location or an error that quotes without
bound. Example counts are modest (the profile of tests/conftest.py is derandomized)."""

from __future__ import annotations

import contextlib
import datetime
import functools
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cotation.api import parse_grid
from cotation.data.batch import read_applications, read_dwellings, write_applications
from cotation.data.generate import generate_applications, generate_dwellings
from cotation.errors import DataError, GridError
from cotation.grid.catalogue import default_catalogue
from cotation.grid.parser import ExprSyntaxError, parse
from cotation.grid.printer import show

ROOT = Path(__file__).resolve().parent.parent
GRIDS = sorted((ROOT / "grids").glob("*.yaml"))
SHIPPED = {p.name: p.read_text(encoding="utf-8") for p in GRIDS if not p.name.endswith(".tests.yaml")}
DAY = datetime.date(2026, 1, 1)
NASTY = [
    *":-[]{}&*!|>'\"#%@,?\n\t \\",
    "\n  ",
    "- ",
    ": ",
    "&a ",
    "*a",
    "!!python/object:os.system",
    "\ufeff",
]


# -- mutations -----------------------------------------------------------------------------------
@st.composite
def mutated(draw: st.DrawFn, text: str, alphabet: list[str]) -> str:
    """``text`` after a few random edits: deletions, insertions, duplicated or swapped lines."""
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "insert", "replace", "duplicate", "swap"]))
        at = draw(st.integers(0, max(len(text) - 1, 0)))
        if kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif kind in ("insert", "replace"):
            piece = "".join(draw(st.lists(st.sampled_from(alphabet) | st.text(max_size=3), max_size=6)))
            cut = at + (len(piece) if kind == "replace" else 0)
            text = text[:at] + piece + text[cut:]
        else:
            lines = text.split("\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            if kind == "duplicate":
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    return text


def check_located(error: GridError) -> None:
    assert error.diagnostics
    for d in error.diagnostics:
        assert d.span.line >= 1 and d.span.col >= 1, d
        assert len(d.message) < 1_000, d.message[:200]
    assert len(error.render()) < 100_000


def load_or_error(text: str, name: str) -> None:
    """Includes resolve from, and are confined to, the grids folder; with a catalogue given, the grid
    cache is not used (every example is checked)."""
    try:
        with contextlib.chdir(ROOT / "grids"):
            parse_grid(text, name, catalogue=default_catalogue())
    except GridError as exc:
        check_located(exc)


# -- the YAML loader and the checker -------------------------------------------------------------
@settings(max_examples=60)
@given(data=st.data(), name=st.sampled_from(sorted(SHIPPED)))
def test_mutated_shipped_grids_load_or_get_located_errors(data: st.DataObject, name: str) -> None:
    load_or_error(data.draw(mutated(SHIPPED[name], NASTY)), name)


@settings(max_examples=40)
@given(pieces=st.lists(st.sampled_from(NASTY) | st.text(max_size=4), max_size=80))
def test_random_text_is_a_grid_or_located_errors(pieces: list[str]) -> None:
    load_or_error("".join(pieces), "random.yaml")


# -- the expression parser -----------------------------------------------------------------------
VOCABULARY = [
    *("dalo", "nb_enfants", "ressources_mensuelles", "situation_logement", "date_depot", "logement.surface"),
    *("and", "or", "not", "in", "if", "else", "true", "false", "date_calcul"),
    *("+", "-", "*", "/", "//", "%", "<", "<=", ">", ">=", "==", "!=", "(", ")", "{", "}", "[", "]"),
    *(",", ".", "min(", "max(", "age(", "months_between(", "coalesce(", "present(", "date("),
    *('"sans_abri"', "'31555'", '"2024-01-01"', "0", "1", "2.5", "9223372036854775808", "1" * 30, "="),
]


@st.composite
def token_soup(draw: st.DrawFn) -> str:
    return " ".join(draw(st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=25)))


@settings(max_examples=150)
@given(text=token_soup() | st.text(max_size=60))
def test_the_parser_raises_only_located_syntax_errors(text: str) -> None:
    try:
        tree = parse(text)
    except ExprSyntaxError as exc:
        assert 0 <= exc.start <= max(exc.end, 1) <= len(text) + 1, (exc.start, exc.end, text)
        assert exc.code.startswith("E2") and len(exc.message) < 500
        return
    assert parse(show(tree)) == tree  # what parses prints back to itself


@settings(max_examples=60)
@given(when=token_soup())
def test_random_conditions_check_or_get_located_errors(when: str) -> None:
    quoted = when.replace("'", "''")
    text = f"id: f\ntitle: F\ncriteria:\n  - id: c\n    label: C\n    when: '{quoted}'\n    points: 1\n"
    load_or_error(text, "fuzz.yaml")


# -- the data readers ----------------------------------------------------------------------------
@functools.cache
def generated_csv(kind: str) -> str:
    folder = Path(tempfile.mkdtemp(prefix="cotation-fuzz-"))
    if kind == "applications":
        batch = generate_applications(8, seed=3, date_calcul=DAY)
        write_applications(batch, folder / "d.csv")
        return (folder / "d.csv").read_text(encoding="utf-8")
    write_applications(generate_dwellings(8, seed=3), folder / "l.csv")
    return (folder / "l.csv").read_text(encoding="utf-8")


CSV_NASTY = [",", ";", '"', "\n", "\r\n", "\x00", "é", "-1", "1e400", "NaN", "2024-13-45", "9" * 30, " "]


@settings(max_examples=50)
@given(data=st.data(), kind=st.sampled_from(["applications", "dwellings"]), raw=st.booleans())
def test_mutated_csv_reads_or_gets_data_errors(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, kind: str, raw: bool
) -> None:
    text = data.draw(mutated(generated_csv(kind), CSV_NASTY))
    path = tmp_path_factory.mktemp("csv") / "data.csv"
    payload = text.encode("utf-8", "surrogatepass")
    if raw:  # bytes that need not be UTF-8
        at = data.draw(st.integers(0, len(payload)))
        payload = payload[:at] + data.draw(st.binary(max_size=4)) + payload[at:]
    path.write_bytes(payload)
    try:
        if kind == "applications":
            read_applications(path, date_calcul=DAY)
        else:
            read_dwellings(path)
    except DataError as exc:
        assert exc.problems and all(p.code.startswith("D") and p.column is not None for p in exc.problems)
        assert len(exc.render()) < 200_000


@settings(max_examples=20)
@given(data=st.data())
def test_damaged_parquet_reads_or_gets_data_errors(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    folder = tmp_path_factory.mktemp("parquet")
    write_applications(generate_applications(8, seed=4, date_calcul=DAY), folder / "d.parquet")
    payload = bytearray((folder / "d.parquet").read_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(payload) - 1))
        payload[at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        payload = payload[: data.draw(st.integers(0, len(payload)))]
    (folder / "d.parquet").write_bytes(bytes(payload))
    try:
        read_applications(folder / "d.parquet", date_calcul=DAY)
    except DataError as exc:
        assert exc.problems

"""pytest-benchmark timings of the grid front end at and beyond its limits (issue 19):
an expression at the length and terms limits written over a thousand lines (its positions are a
binary search in a line-start index, linear in all; they were quadratic), the same at half the
size (the time should about halve), and the refusals of hostile expressions (a sum of 100 000 terms, 100 000
nested `not`), which must take milliseconds, not the seconds to minutes they took.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_grid_limits.py -q --benchmark-only``.
"""

from __future__ import annotations

import pytest

from cotation.api import parse_grid
from cotation.errors import GridError
from cotation.grid.catalogue import default_catalogue
from cotation.grid.limits import MAX_EXPRESSION_LENGTH, MAX_TERMS


def grid_with(items: int) -> str:
    """A condition ``nb_enfants in {...}`` of ``items`` values, one per line of a block scalar,
    each line padded so that the expression is ``items * 20`` characters long."""
    lines = "".join(f"      {i:>12},\n" for i in range(items - 1)) + f"      {items:>12}}}\n"
    head = "id: b\ntitle: B\ncriteria:\n  - id: c\n    label: C\n    when: |\n      nb_enfants in {\n"
    return f"{head}{lines}    points: 1\n"


def load(text: str) -> None:
    parse_grid(text, "bench.yaml", catalogue=default_catalogue())  # a catalogue: not the grid cache


def refuse(text: str) -> None:
    with pytest.raises(GridError):
        load(text)


@pytest.mark.parametrize("items", [MAX_TERMS // 2, MAX_TERMS - 1], ids=["half-the-limits", "at-the-limits"])
def test_long_multiline_expression(benchmark, items):  # type: ignore[no-untyped-def]
    text = grid_with(items)
    assert len(text) > items * 20 and items * 20 <= MAX_EXPRESSION_LENGTH
    benchmark(load, text)


@pytest.mark.parametrize(
    "when",
    [
        " + ".join(["nb_enfants"] * 100_000) + " > 3",
        "not " * 100_000 + "dalo",
        "+".join(["1"] * 5_000) + " > 3",
    ],
    ids=["sum-of-100000-terms", "100000-not", "sum-of-5000-terms"],
)
def test_refusing_a_hostile_expression(benchmark, when):  # type: ignore[no-untyped-def]
    text = f"id: b\ntitle: B\ncriteria:\n  - id: c\n    label: C\n    when: '{when}'\n    points: 1\n"
    benchmark(refuse, text)

"""The limits of cotation/grid/limits.py: each one refused beyond it with its code, located, the
limit in the message; at the limit, grids load and score the same on both engines; includes
confined; positions, quotes and decoding errors of issue 20."""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cotation import cli
from cotation.api import load_grid, parse_grid, score
from cotation.data.generate import generate_applications
from cotation.errors import GridError
from cotation.explain.trace import explain_text
from cotation.grid import limits
from cotation.grid.catalogue import default_catalogue
from cotation.grid.parser import parse
from cotation.grid.printer import dump, show
from cotation.grid.yamlio import Scalar
from cotation.source import Span

ROOT = Path(__file__).resolve().parent.parent
DAY = datetime.date(2026, 1, 1)
HEAD = "id: essai\ntitle: Essai\n"


def criterion(when: str, ident: str = "c") -> str:
    return f"  - id: {ident}\n    label: C\n    when: '{when}'\n    points: 5\n"


def grid_text(*criteria: str, variables: str = "") -> str:
    return HEAD + (f"variables:\n{variables}" if variables else "") + "criteria:\n" + "".join(criteria)


def first_error(text: str, name: str = "grille.yaml") -> tuple[str, int, int, str]:
    with pytest.raises(GridError) as info:
        parse_grid(text, name)
    d = info.value.diagnostics[0]
    return d.code, d.span.line, d.span.col, d.message


# -- the limits beyond which a grid is refused ---------------------------------------------------
def test_expression_too_long_is_E210_before_parsing() -> None:
    when = "nb_enfants > 1" + " " * limits.MAX_EXPRESSION_LENGTH
    code, line, col, message = first_error(grid_text(criterion(when)))
    assert (code, line, col) == ("E210", 6, 12)
    assert f"at most {limits.MAX_EXPRESSION_LENGTH}" in message


def test_too_many_terms_is_E211_at_the_first_term_beyond() -> None:
    when = "nb_enfants in {" + ",".join(["1"] * limits.MAX_TERMS) + "}"
    code, line, col, message = first_error(grid_text(criterion(when)))
    assert (code, line) == ("E211", 6)
    assert col == 12 + len("nb_enfants in {") + 2 * (limits.MAX_TERMS - 1)  # the 1 001st term
    assert f"at most {limits.MAX_TERMS}" in message


def test_a_sum_one_term_beyond_the_depth_is_E212() -> None:
    terms = limits.MAX_DEPTH + 1  # a chain of n terms is n - 1 levels, the comparison one more
    code, _, _, message = first_error(grid_text(criterion(" + ".join(["nb_enfants"] * terms) + " > 3")))
    assert code == "E212" and f"at most {limits.MAX_DEPTH}" in message and "101 levels" in message


@pytest.mark.parametrize(
    "when",
    [
        "(" * 101 + "dalo" + ")" * 101,
        "not " * 101 + "dalo",
        "-" * 101 + "nb_enfants > 1",
        " < ".join(["nb_enfants"] * 102),
        "nb_enfants if dalo else " * 101 + "1 > 0",
        "min(" + ", ".join(["nb_enfants"] * 102) + ") > 0",
        "nb_enfants > 1 or dalo and not nb_enfants == 1 + 2 * (" * 20 + "dalo" + ")" * 20,
    ],
    ids=["parentheses", "not", "minus", "comparisons", "conditionals", "arguments", "operators"],
)
def test_every_way_of_nesting_counts_against_the_depth(when: str) -> None:
    code, line, _, _ = first_error(grid_text(criterion(when)))
    assert (code, line) == ("E212", 6)


@pytest.mark.parametrize("literal", ["9223372036854775808", "1" + "0" * 40, "9" * 400 + ".0", "9" * 5000])
def test_numbers_beyond_64_bits_are_E213(literal: str) -> None:
    code, line, col, message = first_error(grid_text(criterion(f"nb_enfants > {literal}")))
    assert (code, line, col) == ("E213", 6, 25)
    assert len(message) < 200


def test_the_largest_integer_is_accepted() -> None:
    assert parse(str(limits.INT64_MAX)).value == limits.INT64_MAX  # type: ignore[union-attr]


def test_variables_nested_beyond_the_depth_through_them_are_E214() -> None:
    ones = " + 1" * 100  # a1: 100 levels; a2: 100 more above a1; a3: one more
    variables = f"  a1: nb_enfants{ones}\n  a2: a1{ones}\n  a3: a2 + 1\n"
    text = grid_text("  - {id: c, label: C, value: a3, per_unit: 1, max: 500}\n", variables=variables)
    code, line, col, message = first_error(text)
    assert (code, line, col) == ("E214", 6, 3)
    assert "a2: 200" in message and f"at most {limits.MAX_DEPTH_WITH_VARIABLES}" in message


def test_too_many_criteria_is_E340_at_the_first_one_beyond() -> None:
    many = "".join(
        f"  - {{id: c{i}, label: C, when: dalo, points: 1}}\n" for i in range(limits.MAX_CRITERIA + 1)
    )
    code, line, col, message = first_error(grid_text(many))
    assert (code, line, col) == ("E340", 4 + limits.MAX_CRITERIA, 5)
    assert f"at most {limits.MAX_CRITERIA}" in message


def test_a_grid_file_beyond_the_size_is_E106_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "grande.yaml"
    path.write_text(HEAD + "description: '" + "x" * limits.MAX_GRID_BYTES + "'\n")
    with pytest.raises(GridError) as info:
        load_grid(path)
    d = info.value.diagnostics[0]
    assert (d.code, d.span.line, d.span.col) == ("E106", 1, 1)
    assert str(limits.MAX_GRID_BYTES) in d.message
    code, *_ = first_error(HEAD + "description: '" + "x" * limits.MAX_GRID_BYTES + "'\n")
    assert code == "E106"


def test_includes_count_against_the_size_together(tmp_path: Path) -> None:
    part = "kind: pool\ndescription: '" + "x" * (limits.MAX_GRID_BYTES // 2) + "'\n"
    (tmp_path / "a.yaml").write_text(part)
    (tmp_path / "b.yaml").write_text(part)
    (tmp_path / "g.yaml").write_text(HEAD + "include: [a.yaml, b.yaml]\n")
    with pytest.raises(GridError) as info:
        load_grid(tmp_path / "g.yaml")
    d = info.value.diagnostics[0]
    assert (d.code, d.span.line, d.span.col) == ("E106", 3, 19)  # at the include that goes beyond
    assert "with its includes" in d.message


def test_yaml_nested_through_aliases_is_E107() -> None:
    text = HEAD + "a: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 20 + "*a" + "]" * 20 + "\n"
    code, line, _, message = first_error(text)
    assert (code, line) == ("E107", 3) and str(limits.MAX_YAML_DEPTH) in message  # inside the anchor


def test_yaml_at_the_depth_limit_loads_as_far_as_yaml_goes() -> None:
    text = HEAD + "a: " + "[" * (limits.MAX_YAML_DEPTH - 1) + "]" * (limits.MAX_YAML_DEPTH - 1) + "\n"
    code, *_ = first_error(text)
    assert code == "E112"  # the nesting is fine; 'a' is just not a key of the format


def test_includes_nested_too_deep_are_E107(tmp_path: Path) -> None:
    n = limits.MAX_INCLUDE_DEPTH + 1
    for i in range(n):
        (tmp_path / f"p{i}.yaml").write_text(f"kind: pool\ninclude: [p{i + 1}.yaml]\n")
    (tmp_path / f"p{n}.yaml").write_text("kind: pool\n")
    (tmp_path / "g.yaml").write_text(HEAD + "include: [p0.yaml]\n")
    with pytest.raises(GridError) as info:
        load_grid(tmp_path / "g.yaml")
    assert info.value.diagnostics[0].code == "E107"
    assert f"{limits.MAX_INCLUDE_DEPTH} files" in info.value.diagnostics[0].message


# -- at the limits: the grid loads and both engines agree ---------------------------------------
def at_the_limits() -> dict[str, str]:
    """Grids with expressions at each limit, by family (each compiles on its own: a kernel's
    compile time grows faster than its size)."""
    d = limits.MAX_DEPTH
    operators = [
        " + ".join(["nb_enfants"] * d) + " > 3",  # d - 1 levels of '+', one of '>'
        "not " * d + "dalo",
        "-" * (d - 1) + "nb_enfants < 0",
        " <= ".join(["nb_enfants"] * (d + 1)),
        "(" * d + "nb_enfants > 1" + ")" * d,
    ]
    items = "nb_enfants in {" + ", ".join(str(i) for i in range(limits.MAX_TERMS - 1)) + "}"
    ones = " + 1" * d
    variables = f"  a1: nb_enfants{ones}\n  a2: a1{ones}\n  m: min({', '.join(['nb_enfants'] * d)}, 2)\n"
    through = "  - {id: v, label: V, value: a2, per_unit: 1, min: 0, max: 1000}\n"
    through += "  - {id: m, label: M, value: m, per_unit: 3, min: 0, max: 10}\n"
    return {
        "operators": grid_text(*(criterion(w, f"c{i}") for i, w in enumerate(operators))),
        "terms": grid_text(criterion(items)),
        "variables": grid_text(through, variables=variables),
    }


@contextlib.contextmanager
def half_the_stack() -> Iterator[None]:
    """Python's recursion limit lowered to 500 frames above the caller (the default is 1 000): the
    limits must leave the deepest walk room to spare."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back  # type: ignore[assignment]
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 500)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


@pytest.mark.parametrize("family", ["operators", "terms", "variables"])
def test_a_grid_at_the_limits_scores_the_same_on_both_engines(family: str) -> None:
    batch = generate_applications(300, seed=19, date_calcul=DAY)
    with half_the_stack():  # loading, checking, code generation, Numba, both engines, explanations
        grid = parse_grid(at_the_limits()[family], f"{family}.yaml", catalogue=default_catalogue())
        ref = score(grid, batch, DAY, engine="reference")
        compiled = score(grid, batch, DAY, engine="compiled")
        text = explain_text(grid, ref, batch, str(ref.ids[0]))
    np.testing.assert_array_equal(ref.total, compiled.total)
    np.testing.assert_array_equal(np.asarray(ref.breakdown), np.asarray(compiled.breakdown))
    assert ref.total.max() > 0 and str(ref.ids[0]) in text  # the criteria do give points


def test_an_expression_at_the_depth_limit_round_trips_through_the_printer() -> None:
    deepest = [
        "(" * 100 + "a" + ")" * 100,
        " - ".join(["a"] * 101),
        "-" * 100 + "a",
        "a - (" * 99 + "a" + ")" * 99,
        "min(" * 100 + "a" + ", 1)" * 100,
        "a if b else " * 100 + "c",
    ]
    with half_the_stack():
        for text in deepest:
            tree = parse(text)
            assert parse(show(tree)) == tree and dump(tree)


# -- includes confined ---------------------------------------------------------------------------
POOL = "kind: pool\ncriteria:\n  - {id: dalo, label: DALO, when: dalo, points: 50}\n"


def make_grid(folder: Path, include: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "grille.yaml"
    path.write_text(HEAD + f"include: ['{include}']\n")
    return path


def include_error(path: Path, **kw: object) -> tuple[str, str]:
    with pytest.raises(GridError) as info:
        load_grid(path, **kw)  # type: ignore[arg-type]
    return info.value.diagnostics[0].code, info.value.render()


def test_an_include_below_the_grid_folder_loads(tmp_path: Path) -> None:
    (tmp_path / "pools").mkdir()
    (tmp_path / "pools" / "p.yaml").write_text(POOL)
    grid = load_grid(make_grid(tmp_path, "pools/p.yaml"))
    assert [c.id for c in grid.criteria] == ["dalo"]


def test_an_include_outside_is_E108_unless_its_folder_is_allowed(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "p.yaml").write_text(POOL)
    path = make_grid(tmp_path / "grid", "../shared/p.yaml")
    code, text = include_error(path)
    assert code == "E108" and "--include-dir" in text
    assert len(load_grid(path, include_dirs=[tmp_path / "shared"]).criteria) == 1
    code, _ = include_error(path)  # the cached grid, loaded with more allowed, is not returned
    assert code == "E108"
    assert cli.main(["check", str(path), "--include-dir", str(tmp_path / "shared")]) == 0
    assert cli.main(["check", str(path)]) == 1


def test_a_symlink_that_leads_outside_is_E108(tmp_path: Path) -> None:
    (tmp_path / "outside.yaml").write_text(POOL)
    (tmp_path / "grid").mkdir()
    os.symlink(tmp_path / "outside.yaml", tmp_path / "grid" / "p.yaml")
    assert include_error(make_grid(tmp_path / "grid", "p.yaml"))[0] == "E108"


def test_etc_passwd_is_refused_and_never_printed(tmp_path: Path) -> None:
    path = make_grid(tmp_path, "../../../../../../../../etc/passwd")
    code, text = include_error(path)
    assert code == "E108" and "root:" not in text
    code, text = include_error(path, include_dirs=["/etc"])
    assert code == "E109" and "root:" not in text and "not a grid file" in text


def test_dev_zero_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = make_grid(tmp_path, "/dev/zero")
    assert include_error(path)[0] == "E108"
    code, text = include_error(path, include_dirs=["/dev"])
    assert code == "E109" and "not a regular file" in text


@pytest.mark.parametrize(
    "content",
    ["password: hunter2\n", "\tsecret: [hunter2\n", "- hunter2\n", "hunter2\n", "\x00\x01hunter2"],
    ids=["mapping", "not-yaml", "list", "scalar", "binary"],
)
def test_a_file_that_is_not_a_grid_is_E109_and_never_quoted(tmp_path: Path, content: str) -> None:
    (tmp_path / "notes.txt").write_text(content)
    code, text = include_error(make_grid(tmp_path, "notes.txt"))
    assert code == "E109" and "hunter2" not in text, text
    assert text.splitlines()[0].startswith(f"{tmp_path / 'grille.yaml'}:3:11: error[E109]")


def test_an_empty_include_is_an_empty_pool(tmp_path: Path) -> None:
    (tmp_path / "vide.yaml").write_text("# rien encore\n")
    assert load_grid(make_grid(tmp_path, "vide.yaml")).criteria == ()


def test_an_include_that_is_a_grid_gets_its_errors_quoted(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "kind: pool\ncriteria:\n  - {id: dalo, label: DALO, when: dalo, pionts: 5}\n"
    )
    code, text = include_error(make_grid(tmp_path, "p.yaml"))
    assert code == "E112" and "pionts: 5" in text


# -- issue 20: positions, quotes, decoding -------------------------------------------------------
def naive_positions(scalar: Scalar, offset: int, text: str) -> tuple[int, int]:
    """The former definition (counts newlines from the start for every position)."""
    newlines = text.count("\n", 0, offset)
    if scalar.style in ("|", ">"):
        return scalar.span.line + 1 + newlines, scalar.indent + offset - (text.rfind("\n", 0, offset) + 1)
    if newlines == 0:
        return scalar.span.line, scalar.span.col + (1 if scalar.style in ("'", '"') else 0) + offset
    return scalar.span.line + newlines, scalar.indent + offset - (text.rfind("\n", 0, offset) + 1)


@pytest.mark.parametrize("style", [None, "'", '"', "|", ">"])
def test_the_position_index_gives_the_former_positions(style: str | None) -> None:
    text = "a\nbc\n\nd  e\nfgh"
    scalar = Scalar(Span("g.yaml", 7, 5, 9, 1), style, 7)
    at = scalar.locator(text)
    assert [at(i) for i in range(len(text) + 1)] == [
        naive_positions(scalar, i, text) for i in range(len(text) + 1)
    ]


def test_an_error_deep_in_a_long_block_expression_is_located() -> None:
    lines = ["nb_enfants"] + ["+ 1"] * 150
    block = "\n".join("      " + line for line in lines)
    text = HEAD + f"criteria:\n  - id: c\n    label: C\n    when: |\n{block}\n      > 1 $\n    points: 5\n"
    code, line, col, _ = first_error(text)
    assert (code, line, col) == ("E201", 7 + len(lines), 11)


def test_a_long_string_literal_is_quoted_in_part() -> None:
    when = 'situation_logement == "' + "x" * 19_000 + '"'
    with pytest.raises(GridError) as info:
        parse_grid(grid_text(criterion(when)), "g.yaml")
    rendered = info.value.render()
    assert len(rendered) < 2_000 and "(19000 characters)" in rendered and "(values: " in rendered
    assert rendered.splitlines()[2].strip().startswith("^")  # the caret under the quoted window


def test_a_latin1_grid_is_located_at_its_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("id: essai\ntitle: Grille d'essai\ndescription: Hébergé\n".encode("latin-1"))
    with pytest.raises(GridError) as info:
        load_grid(path)
    d = info.value.diagnostics[0]
    assert (d.code, d.span.line, d.span.col) == ("E104", 3, 15)
    assert "0xe9" in d.message and "UTF-8" in d.message


# -- docs ----------------------------------------------------------------------------------------
def test_grid_format_states_every_limit_with_its_code() -> None:
    doc = (ROOT / "docs" / "grid-format.md").read_text(encoding="utf-8")
    for limit in limits.LIMITS:
        row = re.search(rf"^\| {re.escape(limit.name)} \| ([^|]+) \| ([^|]+) \|", doc, flags=re.MULTILINE)
        assert row, f"docs/grid-format.md: no row for the limit '{limit.name}'"
        assert f"{limit.value:,}".replace(",", " ") in row[1] or str(limit.value) in row[1], row[0]
        assert limit.code in row[2], row[0]

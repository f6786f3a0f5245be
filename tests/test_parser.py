"""The expression parser against hand-checked golden files, plus round-trips and spans.

``fixtures/parser/cases.txt`` pairs expressions with the S-expression ``dump()`` of their tree;
``fixtures/parser/errors.txt`` pairs invalid expressions with the message and offsets expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from cotation.grid.parser import ExprSyntaxError, parse, tokenize
from cotation.grid.printer import dump, show
from cotation.grid.syntax import Binary, Call, Compare, Name, walk

GOLDEN = Path(__file__).parent / "fixtures" / "parser"


def read_blocks(path: Path) -> list[dict[str, str]]:
    """Blocks of ``key: value`` lines separated by blank lines; '#' lines are comments."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                blocks.append(current)
            current = {}
            continue
        key, _, value = line.partition(":")
        current[key] = value[1:] if value.startswith(" ") else value
    return blocks


@dataclass(frozen=True)
class SyntaxCase:
    expr: str
    error: str
    start: int
    end: int
    suggestion: str | None


def _syntax_case(block: dict[str, str]) -> SyntaxCase:
    start, end = (int(x) for x in block["at"].split("-"))
    return SyntaxCase(block["expr"], block["error"], start, end, block.get("suggestion"))


CASES = read_blocks(GOLDEN / "cases.txt")
ERRORS = [_syntax_case(b) for b in read_blocks(GOLDEN / "errors.txt")]


def test_golden_files_are_substantial() -> None:
    assert len(CASES) >= 40
    assert len(ERRORS) >= 20
    assert all(set(b) == {"expr", "dump"} for b in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["expr"].strip() for c in CASES])
def test_parse_matches_golden_dump(case: dict[str, str]) -> None:
    assert dump(parse(case["expr"])) == case["dump"]


@pytest.mark.parametrize("case", CASES, ids=[c["expr"].strip() for c in CASES])
def test_show_round_trips(case: dict[str, str]) -> None:
    tree = parse(case["expr"])
    text = show(tree)
    assert parse(text) == tree
    assert show(parse(text)) == text  # canonical text is a fixed point


@pytest.mark.parametrize("case", ERRORS, ids=[c.expr or "<empty>" for c in ERRORS])
def test_syntax_error_matches_golden(case: SyntaxCase) -> None:
    with pytest.raises(ExprSyntaxError) as info:
        parse(case.expr)
    exc = info.value
    assert case.error in exc.message
    assert (exc.start, exc.end) == (case.start, case.end)
    assert exc.suggestion == case.suggestion


def test_whitespace_only_is_empty() -> None:
    with pytest.raises(ExprSyntaxError, match="empty expression"):
        parse("   \t ")


# -- tokenizer -----------------------------------------------------------------------------------
def test_tokenizer_rejects_single_equals_and_suggests_double() -> None:
    with pytest.raises(ExprSyntaxError) as info:
        tokenize("nb_enfants = 3")
    assert info.value.suggestion == "=="
    assert (info.value.start, info.value.end) == (11, 12)


def test_tokenizer_kinds_and_offsets() -> None:
    toks = tokenize("not x<=1.5 or 'a'")
    assert [(t.kind, t.text, t.start, t.end) for t in toks] == [
        ("keyword", "not", 0, 3),
        ("name", "x", 4, 5),
        ("op", "<=", 5, 7),
        ("number", "1.5", 7, 10),
        ("keyword", "or", 11, 13),
        ("string", "'a'", 14, 17),
        ("end", "", 17, 17),
    ]


def test_keywords_are_not_names_but_prefixes_are() -> None:
    kinds = [t.kind for t in tokenize("in inside if iffy true truely")][:-1]
    assert kinds == ["keyword", "name", "keyword", "name", "keyword", "name"]


# -- spans ---------------------------------------------------------------------------------------
def _cols(node: object) -> tuple[int, int]:
    span = node.span  # type: ignore[attr-defined]
    assert span.line == span.end_line == 1
    return span.col, span.end_col


def test_spans_point_at_the_right_columns() -> None:
    #      123456789012345678901234567890
    text = "3 * coalesce(nb_enfant, 0) + 1"
    tree = parse(text)
    assert isinstance(tree, Binary) and tree.op == "+"
    assert _cols(tree) == (1, 31)
    product = tree.left
    assert isinstance(product, Binary) and _cols(product) == (1, 27)
    call = product.right
    assert isinstance(call, Call) and _cols(call) == (5, 27)
    name = call.args[0]
    assert isinstance(name, Name) and _cols(name) == (14, 23)
    assert text[name.span.col - 1 : name.span.end_col - 1] == "nb_enfant"


def test_span_of_every_name_covers_its_text() -> None:
    text = "a.b < 2 and (cc or not ddd) and e in {f, logement.surface}"
    for node in walk(parse(text)):
        if isinstance(node, Name):
            assert text[node.span.col - 1 : node.span.end_col - 1].replace(" ", "") == node.name


def test_compare_span_covers_the_chain() -> None:
    tree = parse("  0 < x <= 10")
    assert isinstance(tree, Compare)
    assert _cols(tree) == (3, 14)


def test_positions_map_is_applied() -> None:
    """A caller (the grid checker) maps offsets into a YAML file's lines and columns."""
    tree = parse("a + b", positions=lambda off: (7, 20 + off))
    assert isinstance(tree, Binary)
    assert (tree.span.line, tree.span.col, tree.span.end_col) == (7, 20, 25)
    assert (tree.right.span.line, tree.right.span.col) == (7, 24)


def test_spans_do_not_affect_equality() -> None:
    assert parse("a+b") == parse("  a   +   b")

"""Grid errors: one invalid grid per error code, and how problems are reported.

Every ``fixtures/errors/E*.yaml`` starts with a comment line stating what loading it must report::

    # expect: E203 7:52 criterion=heberge suggestion=heberge_parents

that is: the code, ``line:col`` of the first diagnostic, and optionally its criterion, its
suggestion, and ``file=`` (relative to the fixture folder) when it lies in an included file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from cotation.api import load_grid, parse_grid
from cotation.errors import DATA_CODES, GRID_CODES, MAPPING_CODES, Diagnostic, GridError
from cotation.grid import yamlio
from cotation.source import Span

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "errors"
DOCS = ROOT / "docs" / "errors.md"
EXPECT = re.compile(r"^# expect: (?P<code>E\d{3}) (?P<line>\d+):(?P<col>\d+)(?P<rest>( \w+=\S+)*)\s*$")


@dataclass(frozen=True)
class Expectation:
    path: Path
    code: str
    line: int
    col: int
    file: Path
    criterion: str | None = None
    suggestion: str | None = None


def read_expectation(path: Path) -> Expectation:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    m = EXPECT.match(first)
    assert m, f"{path.name}: first line must read '# expect: CODE LINE:COL [key=value ...]'"
    extra = dict(item.split("=", 1) for item in m["rest"].split())
    file = FIXTURES / extra["file"] if "file" in extra else path
    return Expectation(
        path,
        m["code"],
        int(m["line"]),
        int(m["col"]),
        file.resolve(),
        extra.get("criterion"),
        extra.get("suggestion"),
    )


EXPECTATIONS = [read_expectation(p) for p in sorted(FIXTURES.glob("*.yaml"))]
# Codes whose failing grid is too large to keep as a fixture (a limit of megabytes or thousands):
# tests/test_limits.py builds each one and checks its location; docs/errors.md shows how.
GENERATED = {"E106", "E210", "E211", "E340"}


def grid_error(path: Path) -> GridError:
    with pytest.raises(GridError) as info:
        load_grid(path)
    return info.value


def load_text_error(text: str) -> GridError:
    with pytest.raises(GridError) as info:
        parse_grid(text, "grille.yaml")
    return info.value


# -- one fixture per code ------------------------------------------------------------------------
@pytest.mark.parametrize("want", EXPECTATIONS, ids=[e.path.stem for e in EXPECTATIONS])
def test_fixture_reports_its_code_first(want: Expectation) -> None:
    first = grid_error(want.path).diagnostics[0]
    assert (first.code, first.span.line, first.span.col) == (want.code, want.line, want.col), first.render()
    assert Path(first.span.file).resolve() == want.file
    assert first.criterion == want.criterion
    if want.suggestion is not None:
        assert first.suggestion == want.suggestion


@pytest.mark.parametrize("want", EXPECTATIONS, ids=[e.path.stem for e in EXPECTATIONS])
def test_fixture_renders_location_source_line_and_caret(want: Expectation) -> None:
    first = grid_error(want.path).diagnostics[0]
    head, quoted, caret = first.render().splitlines()[:3]
    assert re.match(rf"^.+:{want.line}:{want.col}: error\[{want.code}\]", head), head
    assert head.startswith(f"{first.span.file}:")
    if want.criterion:
        assert re.search(
            rf" (criterion|variable|priority|field|rubric|group) '{re.escape(want.criterion)}': ", head
        )
    if want.suggestion:
        assert head.endswith(f"(did you mean '{want.suggestion}'?)")
    source = want.file.read_text(encoding="utf-8").splitlines()[want.line - 1]
    assert quoted == f"    {source}"
    assert caret.startswith("    " + " " * (want.col - 1) + "^")
    assert set(caret.strip()) == {"^"}


def test_every_grid_code_has_a_fixture() -> None:
    assert {e.code for e in EXPECTATIONS} | GENERATED == set(GRID_CODES)
    assert not {e.code for e in EXPECTATIONS} & GENERATED
    assert [e.path.stem for e in EXPECTATIONS] == [e.code for e in EXPECTATIONS]


# -- docs/errors.md ------------------------------------------------------------------------------
def _doc_sections() -> dict[str, str]:
    text = DOCS.read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.MULTILINE)[1:]
    return {part.split(" ", 1)[0]: "## " + part for part in parts}


@pytest.mark.parametrize("code", [*GRID_CODES, *DATA_CODES, *MAPPING_CODES])
def test_every_code_has_its_heading_in_docs(code: str) -> None:
    meaning = {**GRID_CODES, **DATA_CODES, **MAPPING_CODES}[code]
    assert f"\n## {code} — {meaning}\n" in DOCS.read_text(encoding="utf-8")


def test_docs_list_no_unknown_code() -> None:
    codes = [c for c in _doc_sections() if re.fullmatch(r"[ED]\d{3}", c)]
    assert set(codes) == set(GRID_CODES) | set(DATA_CODES) | set(MAPPING_CODES)
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("want", EXPECTATIONS, ids=[e.path.stem for e in EXPECTATIONS])
def test_docs_quote_the_fixture_and_its_message(want: Expectation) -> None:
    section = _doc_sections()[want.code]
    body = want.path.read_text(encoding="utf-8")
    assert f"```yaml\n{body}```" in section, f"docs/errors.md {want.code}: the example is not the fixture"
    assert f"error[{want.code}]" in section


def test_docs_document_cli_exit_codes() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for code in ("0", "1", "2", "3"):
        assert re.search(rf"^\| `?{code}`? \|", text, flags=re.MULTILINE), f"exit code {code}"


# -- suggestions ---------------------------------------------------------------------------------
HEAD = "id: essai\ntitle: Essai\n"

SUGGESTIONS = [
    ("E202", "nb_enfants", "criteria:\n  - {id: c, label: C, when: nb_enfant > 2, points: 1}\n"),
    ("E112", "label", "criteria:\n  - {id: c, lable: C, when: dalo, points: 1}\n"),
    ("E112", "criteria", "criterias:\n  - {id: c, label: C, when: dalo, points: 1}\n"),
    (
        "E203",
        "sans_abri",
        "criteria:\n  - {id: c, label: C, when: 'situation_logement == \"sans-abri\"', points: 1}\n",
    ),
    ("E203", "violences", "criteria:\n  - {id: c, label: C, when: '\"violence\" in motifs', points: 1}\n"),
    ("E205", "coalesce", "criteria:\n  - {id: c, label: C, points: 'coalesc(nb_enfants, 0)'}\n"),
    (
        "E205",
        "months_between",
        "criteria:\n  - {id: c, label: C, value: 'month_between(date_depot, date_calcul)', per_unit: 1}\n",
    ),
    ("E201", "==", "criteria:\n  - {id: c, label: C, when: 'nb_enfants = 2', points: 1}\n"),
    ("E201", "and", "criteria:\n  - {id: c, label: C, when: 'dalo && pdalhpd', points: 1}\n"),
    (
        "E302",
        "logement",
        "criteria:\n  - {id: c, label: C, when: dalo, points: 1, rubric: logment}\n"
        "  - {id: d, label: D, when: dalo, points: 1, rubric: logement}\n"
        "rubrics: [{id: logement, label: Logement}]\n",
    ),
    (
        "E306",
        "date_depot",
        "criteria:\n  - {id: c, label: C, when: dalo, points: 1}\ntie_break: [date_dépot asc]\n",
    ),
]


@pytest.mark.parametrize(("code", "hint", "body"), SUGGESTIONS, ids=[f"{c}-{h}" for c, h, _ in SUGGESTIONS])
def test_did_you_mean(code: str, hint: str, body: str) -> None:
    err = load_text_error(HEAD + body)
    found = [d for d in err.diagnostics if d.code == code]
    assert found, err.render()
    assert found[0].suggestion == hint
    assert f"(did you mean '{hint}'?)" in err.render()


def test_no_suggestion_when_nothing_is_close() -> None:
    err = load_text_error(HEAD + "criteria:\n  - {id: c, label: C, when: zzzqqq, points: 1}\n")
    assert [(d.code, d.suggestion) for d in err.diagnostics] == [("E202", None)]
    assert "did you mean" not in err.render()


# -- collecting ----------------------------------------------------------------------------------
MANY = (
    HEAD
    + """\
criteria:
  - {id: a, label: A, when: nb_enfant > 2, points: 1}
  - {id: b, label: B, when: dalo, points: "1.5"}
  - {id: c, label: C, when: 'situation_logement == "hotels"', points: 2}
  - {id: a, label: A bis, when: 'maxi(1, 2) > 0', points: 3}
  - {id: e, label: E, points: 5, min: 9, max: 1}
"""
)


def test_all_errors_are_reported_at_once_and_sorted() -> None:
    err = load_text_error(MANY)
    got = [(d.code, d.span.line, d.span.col, d.criterion) for d in err.diagnostics]
    assert got == [
        ("E202", 4, 29, "a"),
        ("E208", 5, 43, "b"),
        ("E203", 6, 52, "c"),
        ("E301", 7, 10, "a"),
        ("E205", 7, 34, "a"),
        ("E308", 8, 39, "e"),
    ]
    assert err.render().splitlines()[-1] == "6 errors in grid"


def test_shape_errors_stop_before_expressions_are_checked() -> None:
    """Stage 1 (YAML shape) errors are reported together; expressions wait for a valid shape."""
    err = load_text_error(MANY + "  - {id: f, label: F, points: 1, wieght: 2}\n  - {id: g, points: 1}\n")
    assert [d.code for d in err.diagnostics] == ["E112", "E111"]


def test_misspelt_required_key_reports_missing_and_unknown() -> None:
    err = load_text_error(HEAD + "criteria:\n  - {id: c, lable: C, when: dalo, points: 1}\n")
    assert [d.code for d in err.diagnostics] == ["E111", "E112"]
    assert "missing required key 'label'" in err.diagnostics[0].message


def test_rendering_is_capped() -> None:
    body = "criteria:\n" + "".join(f"  - {{id: c{i}, label: C, when: no{i}, points: 1}}\n" for i in range(30))
    err = load_text_error(HEAD + body)
    assert len(err.diagnostics) == 30
    lines = err.render(limit=5).splitlines()
    assert lines[-2:] == ["... and 25 more errors", "30 errors in grid"]
    assert sum(" error[E202]" in line for line in lines) == 5


def test_to_json_round_trips() -> None:
    err = load_text_error(MANY)
    records = json.loads(err.to_json())
    rebuilt = tuple(Diagnostic(**{**r, "span": Span(**r["span"])}) for r in records)
    assert rebuilt == err.diagnostics
    assert GridError(rebuilt).render() == err.render()
    assert {
        "code",
        "message",
        "span",
        "criterion",
        "suggestion",
        "source_line",
        "source_start",
        "subject",
    } == set(records[0])


# -- hostile YAML --------------------------------------------------------------------------------
def test_alias_bomb_is_refused_after_bounded_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """9**13 nodes once expanded: refused after building at most MAX_NODES of them (counted, not timed)."""
    built = [0]
    build = yaml.SafeLoader.construct_object

    def counting(self: yaml.SafeLoader, node: object, deep: bool = False) -> object:
        built[0] += 1
        return build(self, node, deep=deep)

    monkeypatch.setattr(yaml.SafeLoader, "construct_object", counting)
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 13)]
    err = load_text_error(HEAD + "\n".join(lines) + "\n")
    assert [d.code for d in err.diagnostics] == ["E103"]
    assert "aliases" in err.diagnostics[0].message
    assert 0 < built[0] <= yamlio.MAX_NODES  # expanding it would build 9**13 = 2.5e12 nodes


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object:os.system",
        '!!python/object/apply:os.system ["echo pwned"]',
        "!!python/name:os.system",
        "!!binary aGVsbG8=",
        "!custom x",
    ],
)
def test_tags_that_are_not_plain_data_are_refused(tag: str) -> None:
    err = load_text_error(HEAD + f"territory: {tag}\n")
    assert [d.code for d in err.diagnostics] == ["E103"]
    assert err.diagnostics[0].span.line == 3


def test_plain_tags_are_accepted() -> None:
    body = "territory: !!str 31555\ncriteria:\n  - {id: c, label: C, when: dalo, points: !!int 4}\n"
    grid = parse_grid(HEAD + body)
    assert grid.meta.territory == "31555"


def test_duplicate_keys_are_refused_at_any_depth() -> None:
    text = HEAD + "criteria:\n  - id: c\n    label: C\n    when: dalo\n    points: 1\n    points: 2\n"
    err = load_text_error(text)
    assert [(d.code, d.span.line, d.span.col) for d in err.diagnostics] == [("E102", 8, 5)]
    assert "duplicate key 'points' (the first one is at line 7)" in err.diagnostics[0].message


def test_empty_file_is_missing_id_and_title() -> None:
    err = load_text_error("")
    assert [d.code for d in err.diagnostics] == ["E111", "E111"]


def test_a_list_is_not_a_grid() -> None:
    err = load_text_error("- a\n- b\n")
    assert [d.code for d in err.diagnostics] == ["E113"]


# -- no cascades: one problem, one diagnostic --------------------------------------------------
def test_variable_cycle_is_reported_once() -> None:
    err = grid_error(FIXTURES / "E209.yaml")
    assert [d.code for d in err.diagnostics] == ["E209"]


def test_failed_variable_does_not_cascade() -> None:
    err = grid_error(FIXTURES / "E205.yaml")
    assert [d.code for d in err.diagnostics] == ["E205"]


@pytest.mark.parametrize(
    ("expr", "code"),
    [
        ("count(communes_souhaitees if dalo else communes_souhaitees) > 0", "E204"),
        ("count(coalesce(communes_souhaitees, communes_souhaitees)) > 0", "E206"),
    ],
)
def test_lists_of_communes_cannot_be_chosen_or_coalesced(expr: str, code: str) -> None:
    text = f'id: x\ntitle: y\ncriteria:\n  - {{id: a, label: A, when: "{expr}", points: 1}}\n'
    with pytest.raises(GridError) as info:
        parse_grid(text)
    assert [d.code for d in info.value.diagnostics] == [code]


YAML_FILES = sorted([*ROOT.glob("grids/*.yaml"), *ROOT.glob("tests/fixtures/**/*.yaml")])


def _composed(text: str, loader: type) -> list[tuple[object, ...]]:
    """Every node of ``text`` in document order: kind, tag, value, style, start and end."""
    import yaml

    out: list[tuple[object, ...]] = []

    def walk(node: yaml.Node) -> None:
        s, e = node.start_mark, node.end_mark
        value = node.value if isinstance(node, yaml.ScalarNode) else None
        out.append(
            (
                type(node).__name__,
                node.tag,
                value,
                getattr(node, "style", None) or None,
                s.line,
                s.column,
                e.line,
                e.column,
            )
        )
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                walk(child)
        elif isinstance(node, yaml.MappingNode):
            for key, child in node.value:
                walk(key)
                walk(child)

    root = yaml.compose(text, Loader=loader)
    if root is not None:
        walk(root)
    return out


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.name)
def test_libyaml_composes_what_the_python_parser_does(path: Path) -> None:
    """load_yaml composes with libyaml when PyYAML has it: the same nodes, at the same positions
    (accents included), as PyYAML's Python parser; a file either one rejects goes to the latter."""
    import yaml

    if getattr(yaml, "CSafeLoader", None) is None:
        pytest.skip("PyYAML without libyaml")
    text = path.read_text(encoding="utf-8")
    try:
        expected = _composed(text, yaml.SafeLoader)
    except yaml.YAMLError:
        return
    assert _composed(text, yaml.CSafeLoader) == expected


def test_syntax_errors_are_worded_by_the_python_parser() -> None:
    """libyaml words syntax errors its own way; the message is PyYAML's, whichever parser ran."""
    err = load_text_error(HEAD + "criteria:\n  - {id: a, label: b: c}\n")
    assert [d.code for d in err.diagnostics] == ["E101"]
    assert "expected ',' or '}', but got ':'" in err.diagnostics[0].message

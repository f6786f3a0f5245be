"""The documentation stays in sync with the code it describes."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from cotation.api import parse_grid
from cotation.grid.functions import FUNCTIONS
from cotation.grid.parser import GRAMMAR

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GRIDS = ROOT / "grids"
REBUILD = "run `python docs/build_docs.py` and commit the result"


def _build_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_docs", DOCS / "build_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _blocks(text: str, language: str) -> list[str]:
    """The contents of the fenced code blocks of ``language``."""
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.S | re.M)


def test_grammar_block_is_the_parser_grammar() -> None:
    text = (DOCS / "expressions.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    start = lines.index("```grammar")
    end = lines.index("```", start + 1)
    assert "\n".join(lines[start + 1 : end]) == GRAMMAR, (
        "copy cotation.grid.parser.GRAMMAR into docs/expressions.md"
    )


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_is_documented(name: str) -> None:
    text = (DOCS / "expressions.md").read_text(encoding="utf-8")
    assert re.search(rf"^\| `{name}\(", text, flags=re.M), f"document {name}() in docs/expressions.md"


def test_catalogue_doc_is_up_to_date() -> None:
    current = (DOCS / "catalogue.md").read_text(encoding="utf-8")
    assert current == _build_docs().render_catalogue(), f"docs/catalogue.md is out of date: {REBUILD}"


def test_schema_doc_is_up_to_date() -> None:
    current = (DOCS / "grid.schema.json").read_text(encoding="utf-8")
    assert current == _build_docs().render_schema(), f"docs/grid.schema.json is out of date: {REBUILD}"


def test_catalogue_doc_lists_every_field() -> None:
    from cotation.grid.catalogue import default_catalogue

    text = (DOCS / "catalogue.md").read_text(encoding="utf-8")
    for f in default_catalogue():
        assert f"### {f.name}\n" in text
        for value in f.values:
            assert f"| `{value}` |" in text


def test_shipped_grids_follow_the_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((DOCS / "grid.schema.json").read_text(encoding="utf-8"))
    for path in sorted(GRIDS.glob("*.yaml")):
        if path.name.endswith(".tests.yaml"):
            continue
        document = json.loads(json.dumps(yaml.safe_load(path.read_text(encoding="utf-8")), default=str))
        jsonschema.validate(document, schema)


@pytest.mark.parametrize("page", ["grid-format.md", "expressions.md", "architecture.md"])
def test_yaml_examples_are_valid_yaml(page: str) -> None:
    for block in _blocks((DOCS / page).read_text(encoding="utf-8"), "yaml"):
        yaml.safe_load(block)


def test_first_example_of_grid_format_is_a_valid_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    first = _blocks((DOCS / "grid-format.md").read_text(encoding="utf-8"), "yaml")[0]
    monkeypatch.chdir(GRIDS)  # its include resolves from the current directory
    grid = parse_grid(first, "docs/grid-format.md")
    assert [c.id for c in grid.criteria] == ["anciennete", "dalo"]


def test_build_docs_check_mode_passes() -> None:
    assert _build_docs().main(["--check"]) == 0, REBUILD

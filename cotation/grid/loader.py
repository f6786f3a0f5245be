"""Stage 1 (grid): read a grid file and its includes, and validate their shape with pydantic.

``load_grid_files`` returns every file of the grid (includes first, depth first, in declaration
order, each once) as a :class:`GridSource`; all problems are collected into one ``GridError``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import Collector, did_you_mean
from ..source import Sources, Span
from .cache import text_digest
from .model import GridFile
from .yamlio import Document, Path_, load_yaml

_UNION_TAGS = {
    "str",
    "int",
    "float",
    "bool",
    "Variable",
    "list[str]",
    "dict[str,str]",
    "none",
    "constrained-str",
}


@dataclass(frozen=True)
class GridSource:
    """One validated file of a grid."""

    path: str
    document: Document
    model: GridFile


@dataclass(frozen=True)
class LoadedGrid:
    """A grid's main file and the files it includes (includes first)."""

    main: GridSource
    files: tuple[GridSource, ...]
    sources: Sources
    read: tuple[tuple[str, str], ...] = ()  # (resolved path, SHA-256 of its text) of each file read

    @property
    def content_hash(self) -> str:
        """SHA-256 of the validated content of every file (layout and comments do not count)."""
        payload = [f.model.model_dump(mode="json", by_alias=True) for f in self.files]
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def load_grid_files(path: str | Path, errors: Collector) -> LoadedGrid | None:
    """Load ``path`` and its includes; record problems in ``errors``."""
    loader = _Loader(errors)
    main = loader.load(Path(path), chain=(), where=None)
    if main is None:
        return None
    return LoadedGrid(main, tuple(loader.order), loader.sources, tuple(loader.read.items()))


def load_grid_text(text: str, name: str, errors: Collector) -> LoadedGrid | None:
    """Load a grid from text (includes are resolved relative to the current directory)."""
    loader = _Loader(errors)
    main = loader.from_text(text, name, Path.cwd(), chain=())
    if main is None:
        return None
    return LoadedGrid(main, tuple(loader.order), loader.sources, tuple(loader.read.items()))


class _Loader:
    def __init__(self, errors: Collector):
        self.errors = errors
        self.sources = Sources()
        errors.sources = self.sources
        self.order: list[GridSource] = []
        self.seen: dict[Path, GridSource | None] = {}
        self.read: dict[str, str] = {}

    def load(self, path: Path, chain: tuple[Path, ...], where: Span | None) -> GridSource | None:
        resolved = path.resolve()
        if resolved in chain:
            names = " -> ".join(p.name for p in (*chain, resolved))
            self.errors.error("E105", where or Span(str(path), 1, 1, 1, 2), f"include cycle: {names}")
            return None
        if resolved in self.seen:
            return self.seen[resolved]
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.errors.error(
                "E104",
                where or Span(str(path), 1, 1, 1, 2),
                f"cannot read '{path}': {exc.strerror if isinstance(exc, OSError) else exc}",
            )
            return None
        self.read[str(resolved)] = text_digest(text)
        return self.from_text(text, str(path), resolved.parent, (*chain, resolved), resolved)

    def from_text(
        self, text: str, name: str, base: Path, chain: tuple[Path, ...], resolved: Path | None = None
    ) -> GridSource | None:
        self.sources.add(name, text)
        doc = load_yaml(text, name, self.errors)
        if doc is None:
            return None
        if not isinstance(doc.value, dict):
            self.errors.error(
                "E113", doc.span(()), "a grid file must be a mapping of keys (id, title, criteria...)"
            )
            return None
        model = self._validate(doc)
        if model is None:
            return None
        for i, include in enumerate(model.include):
            self.load(base / include, chain, doc.span(("include", i)))
        source = GridSource(name, doc, model)
        if resolved is not None:
            self.seen[resolved] = source
        self.order.append(source)
        return source

    def _validate(self, doc: Document) -> GridFile | None:
        try:
            return GridFile.model_validate(doc.value)
        except ValidationError as exc:
            self._report(doc, exc)
            return _without_labels(doc, exc)

    def _report(self, doc: Document, exc: ValidationError) -> None:
        seen: set[tuple[Path_, str]] = set()
        for details in exc.errors():
            err: dict[str, Any] = {**details}
            path = tuple(p for p in err["loc"] if p not in _UNION_TAGS and not str(p).startswith("function-"))
            kind = err["type"]
            if "str" in err["loc"] and "bool" in err["loc"]:
                err = {**err, "msg": "Expected an expression (text, a number, true or false)"}
            if (path, kind if kind in ("missing", "extra_forbidden") else "type") in seen:
                continue
            seen.add((path, kind if kind in ("missing", "extra_forbidden") else "type"))
            _REPORTERS.get(kind, _report_type)(self.errors, doc, path, err)


def _without_labels(doc: Document, exc: ValidationError) -> GridFile | None:
    """When the only shape errors are missing labels (E111, reported), the grid validated with its
    ids standing for the labels, so that the checker still reports every other error of the grid;
    None otherwise (the shape errors stop the check)."""
    import copy

    missing = [e["loc"] for e in exc.errors() if e["type"] == "missing" and e["loc"][-1:] == ("label",)]
    if len(missing) != len(exc.errors()):
        return None
    value = copy.deepcopy(doc.value)
    for loc in missing:
        parent: Any = value
        for key in loc[:-1]:
            parent = parent[key]
        parent["label"] = str(parent.get("id", "?"))
    try:
        return GridFile.model_validate(value)
    except ValidationError:
        return None


def _criterion_of(doc: Document, path: Path_) -> str | None:
    if (
        len(path) >= 2
        and path[0] in ("criteria", "priorities", "rubrics", "groups")
        and isinstance(path[1], int)
    ):
        item = doc.value.get(path[0], [])
        if isinstance(item, list) and path[1] < len(item) and isinstance(item[path[1]], dict):
            ident = item[path[1]].get("id")
            return str(ident) if ident is not None else None
    if len(path) >= 2 and path[0] in ("variables", "fields"):
        return str(path[1])
    return None


_SUBJECTS = {
    "variables": "variable",
    "fields": "field",
    "priorities": "priority",
    "rubrics": "rubric",
    "groups": "group",
}


def _subject_of(path: Path_) -> str:
    """What the record an error names is: a criterion, a variable, a priority..."""
    return _SUBJECTS.get(str(path[0]), "criterion") if path else "criterion"


def _report_missing(errors: Collector, doc: Document, path: Path_, err: dict[str, Any]) -> None:
    parent = path[:-1]
    errors.error(
        "E111",
        doc.span(parent),
        f"missing required key '{path[-1]}'" + _in(parent),
        criterion=_criterion_of(doc, path),
        subject=_subject_of(path),
    )


def _report_extra(errors: Collector, doc: Document, path: Path_, err: dict[str, Any]) -> None:
    allowed = _allowed_keys(path[:-1])
    errors.error(
        "E112",
        doc.key_span(path),
        f"unknown key '{path[-1]}'" + _in(path[:-1]) + _comma_hint(str(path[-1])),
        criterion=_criterion_of(doc, path),
        subject=_subject_of(path),
        suggestion=did_you_mean(str(path[-1]), allowed),
    )


_EXPRESSION_TAIL = re.compile(r"[()+\-*/<>=!\"']|\s")


def _comma_hint(key: str) -> str:
    """A key that looks like the rest of an expression: a comma split an unquoted expression of a
    one-line mapping ``{...}``, where YAML reads ``,`` as the end of the value."""
    if not _EXPRESSION_TAIL.search(key):
        return ""
    return (
        ": it looks like the end of an expression cut at a comma; in a one-line mapping {...} a ','"
        ' ends the value: quote the expression (value: "coalesce(x, 0) / y")'
    )


def _report_type(errors: Collector, doc: Document, path: Path_, err: dict[str, Any]) -> None:
    got = err.get("input")
    shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
    message = err["msg"][0].lower() + err["msg"][1:]
    errors.error(
        "E113",
        doc.span(path),
        f"'{'.'.join(map(str, path)) or 'grid'}': {message} (got {shown})",
        criterion=_criterion_of(doc, path),
        subject=_subject_of(path),
    )


_REPORTERS = {"missing": _report_missing, "extra_forbidden": _report_extra}


def _in(parent: Path_) -> str:
    return f" in '{'.'.join(map(str, parent))}'" if parent else ""


def _allowed_keys(parent: Path_) -> list[str]:
    """The keys allowed at ``parent``, from the models themselves (for did-you-mean)."""
    from . import model as m

    by_section: dict[str, type] = {
        "criteria": m.Criterion,
        "rubrics": m.Rubric,
        "groups": m.Group,
        "priorities": m.Priority,
        "fields": m.LocalField,
        "variables": m.Variable,
    }
    cls: type = m.GridFile
    if parent:
        cls = by_section.get(str(parent[0]), m.GridFile)
        if len(parent) >= 3 and parent[2] == "bands":
            cls = m.Band
        elif len(parent) >= 3 and parent[2] == "valid_for":
            cls = m.Validity
    return [f.alias or name for name, f in cls.model_fields.items()]  # type: ignore[attr-defined]


PRELUDE_NAME = "<cotation>/resources/prelude.yaml"


@functools.cache
def load_prelude() -> tuple[GridSource, str]:
    """The predefined variables and default tables shipped with cotation, and the prelude's text."""
    from importlib import resources

    text = resources.files("cotation").joinpath("resources/prelude.yaml").read_text(encoding="utf-8")
    errors = Collector(Sources())
    source = _Loader(errors).from_text(text, PRELUDE_NAME, Path.cwd(), chain=())
    errors.raise_if_any()
    assert source is not None
    return source, text

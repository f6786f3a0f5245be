"""Stage 1 (grid): safe YAML loading with source positions.

``load_yaml`` composes the YAML node graph with PyYAML's safe loader, then builds plain Python
values itself, so that it can (a) record the span of every key and value, (b) reject duplicate keys,
(c) bound alias expansion (billion-laughs documents) and (d) refuse any tag that is not plain data.
"""

from __future__ import annotations

import bisect
import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import Collector
from ..source import Span
from .limits import MAX_YAML_DEPTH

MAX_NODES = 200_000
Path_ = tuple[str | int, ...]

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


@dataclass(frozen=True)
class Scalar:
    """Where a string scalar sits in its file, to map offsets in its text to line and column."""

    span: Span
    style: str | None  # None (plain), "'", '"', '|' or '>'
    indent: int  # column (1-based) of the text on its continuation lines

    def positions(self, offset: int, text: str) -> tuple[int, int]:
        return self.locator(text)(offset)

    def locator(self, text: str) -> Callable[[int], tuple[int, int]]:
        """``offset -> (line, col)`` in the file for offsets in ``text``, the scalar's value: the
        newlines are found once, each position is a binary search (linear in all, not quadratic)."""
        breaks = [i for i, char in enumerate(text) if char == "\n"]
        block = self.style in ("|", ">")
        quote = 1 if self.style in ("'", '"') else 0

        def at(offset: int) -> tuple[int, int]:
            newlines = bisect.bisect_left(breaks, offset)  # newlines before offset
            last = breaks[newlines - 1] if newlines else -1
            if block:
                return self.span.line + 1 + newlines, self.indent + offset - (last + 1)
            if newlines == 0:
                return self.span.line, self.span.col + quote + offset
            return self.span.line + newlines, self.indent + offset - (last + 1)

        return at


@dataclass
class Document:
    """A loaded YAML file: its plain value and the spans of every path in it."""

    file: str
    value: Any
    spans: dict[Path_, Span] = field(default_factory=dict)
    key_spans: dict[Path_, Span] = field(default_factory=dict)
    scalars: dict[Path_, Scalar] = field(default_factory=dict)

    def span(self, path: Path_) -> Span:
        """The span of ``path``, or of its closest enclosing path."""
        while path not in self.spans and path:
            path = path[:-1]
        return self.spans.get(path, Span(self.file, 1, 1, 1, 2))

    def key_span(self, path: Path_) -> Span:
        return self.key_spans.get(path) or self.span(path)


class _Builder:
    def __init__(self, file: str, lines: list[str], errors: Collector):
        self.doc = Document(file, None)
        self.lines, self.errors = lines, errors
        self.count = 0
        self.constructor = yaml.SafeLoader("")

    def span(self, node: yaml.Node) -> Span:
        s, e = node.start_mark, node.end_mark
        return Span(self.doc.file, s.line + 1, s.column + 1, e.line + 1, e.column + 1)

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(self.span(node))
        if len(path) > MAX_YAML_DEPTH:  # nested through aliases: the text itself was checked
            raise _TooDeep(self.span(node))
        self.doc.spans[path] = self.span(node)
        if node.tag not in _PLAIN_TAGS:
            self.errors.error(
                "E103", self.span(node), f"tag {node.tag!r} is not allowed: grids hold plain data only"
            )
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        return self._scalar(node, path)

    def _scalar(self, node: yaml.ScalarNode, path: Path_) -> Any:
        value = self.constructor.construct_object(node, deep=True)
        if isinstance(value, datetime.datetime):
            value = value.date()
        if isinstance(value, str):
            self.doc.scalars[path] = Scalar(self.span(node), node.style or None, self._indent(node))
        return value

    def _indent(self, node: yaml.Node) -> int:
        line = node.start_mark.line + 1
        if line < len(self.lines):
            text = self.lines[line]
            return len(text) - len(text.lstrip(" ")) + 1
        return int(node.start_mark.column) + 1

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.errors.error("E113", self.span(key_node), "mapping keys must be plain strings")
                continue
            key = self.constructor.construct_object(key_node)
            key = str(key) if not isinstance(key, str) else key
            if key in out:
                self.errors.error(
                    "E102",
                    self.span(key_node),
                    f"duplicate key '{key}' (the first one is at line "
                    f"{self.doc.key_spans[(*path, key)].line})",
                )
                continue
            self.doc.key_spans[(*path, key)] = self.span(key_node)
            out[key] = self.build(value_node, (*path, key))
        return out


class _TooBig(Exception):
    def __init__(self, span: Span):
        self.span = span


class _TooDeep(_TooBig):
    pass


_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def too_deep(text: str, file: str) -> Span | None:
    """Where ``text`` nests more than MAX_YAML_DEPTH mappings and lists, or None. Read from the
    parser's events, which come without recursion, before anything composes the node graph
    (PyYAML's composer is recursive). libyaml refuses a document nested 1 000 deep before its
    first event: PyYAML's parser counts it then. A syntax error stops the count (the events before
    it were counted, and the composer stops there too, with its message)."""
    for loader in (_FAST_LOADER, yaml.SafeLoader):
        if loader is None:
            continue
        level = 0
        try:
            for event in yaml.parse(text, Loader=loader):
                if isinstance(event, _OPEN):
                    level += 1
                    if level > MAX_YAML_DEPTH:
                        mark = event.start_mark
                        return Span(file, mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 2)
                elif isinstance(event, _CLOSE):
                    level -= 1
            return None
        except yaml.YAMLError:
            continue
    return None


def _compose(text: str) -> yaml.Node | None:
    """The node graph of ``text``: by libyaml when PyYAML has it (ten times faster; the same nodes
    and positions, ``tests/test_errors.py`` checks it), else by PyYAML's Python parser, which also
    words the syntax errors (so that they read the same everywhere)."""
    if _FAST_LOADER is not None:
        try:
            return yaml.compose(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def load_plain(text: str) -> Any:
    """Plain data shipped with the package (no spans, no checks): by libyaml when PyYAML has it."""
    return yaml.load(text, Loader=_FAST_LOADER or yaml.SafeLoader)


def load_yaml(text: str, file: str, errors: Collector) -> Document | None:
    """Load one YAML document; problems go to ``errors`` (None when nothing usable was read)."""
    deep = too_deep(text, file)
    if deep is not None:
        errors.error("E107", deep, f"the YAML nests more than {MAX_YAML_DEPTH} mappings and lists deep")
        return None
    builder = _Builder(file, text.splitlines(), errors)
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        errors.error("E101", Span(file, line, col, line, col + 1), f"YAML syntax error: {exc.problem or exc}")
        return None
    except yaml.YAMLError as exc:
        errors.error("E101", Span(file, 1, 1, 1, 2), f"YAML error: {exc}")
        return None
    if node is None:
        builder.doc.value = {}
        return builder.doc
    try:
        builder.doc.value = builder.build(node, ())
    except _TooDeep as exc:
        errors.error(
            "E107", exc.span, f"the document nests more than {MAX_YAML_DEPTH} levels deep (aliases expanded)"
        )
        return None
    except _TooBig as exc:
        errors.error(
            "E103",
            exc.span,
            f"the document expands to more than {MAX_NODES} nodes (aliases expanded): refusing to load it",
        )
        return None
    return builder.doc

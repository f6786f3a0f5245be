"""Stage 1 (grid): read a grid file and its includes, and validate their shape with pydantic.

``load_grid_files`` returns every file of the grid (includes first, depth first, in declaration
order, each once) as a :class:`GridSource`; all problems are collected into one ``GridError``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import Collector, did_you_mean, quote
from ..source import Sources, Span
from .cache import text_digest
from .limits import MAX_GRID_BYTES, MAX_INCLUDE_DEPTH
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


def load_grid_files(
    path: str | Path, errors: Collector, include_dirs: Iterable[str | Path] = ()
) -> LoadedGrid | None:
    """Load ``path`` and its includes; record problems in ``errors``. Includes must lie below the
    grid's folder or one of ``include_dirs`` (see :class:`_Loader`)."""
    loader = _Loader(errors, Path(path).resolve().parent, include_dirs)
    main = loader.load(Path(path), chain=(), where=None)
    if main is None:
        return None
    return LoadedGrid(main, tuple(loader.order), loader.sources, tuple(loader.read.items()))


def load_grid_text(
    text: str,
    name: str,
    errors: Collector,
    include_dirs: Iterable[str | Path] = (),
    root: str | Path | None = None,
) -> LoadedGrid | None:
    """Load a grid from text (includes are resolved relative to, and confined to, ``root``: the
    current directory by default; or ``include_dirs``). An empty ``root`` allows no include."""
    base = Path(root).resolve() if root is not None else Path.cwd()
    loader = _Loader(errors, base, include_dirs)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_GRID_BYTES:
        errors.error("E106", Span(name, 1, 1, 1, 2), _too_large(size))
        return None
    loader.total = size
    main = loader.from_text(text, name, base, chain=())
    if main is None:
        return None
    return LoadedGrid(main, tuple(loader.order), loader.sources, tuple(loader.read.items()))


def _too_large(size: int, what: str = "the grid file") -> str:
    return f"{what} is {size} bytes or more, beyond the limit of {MAX_GRID_BYTES} bytes"


class _Loader:
    """Reads a grid and its includes. The main file is the caller's choice; an include must be a
    regular file below one of ``roots`` (the main file's folder and the folders allowed), within the
    size left of MAX_GRID_BYTES, and a grid: until a file is known to be a grid file (a YAML
    mapping with a key of the format), no error quotes its content."""

    def __init__(self, errors: Collector, root: Path | None = None, allowed: Iterable[str | Path] = ()):
        self.errors = errors
        self.sources = Sources()
        errors.sources = self.sources
        self.order: list[GridSource] = []
        self.seen: dict[Path, GridSource | None] = {}
        self.read: dict[str, str] = {}
        self.roots = tuple(r.resolve() for r in (root or Path.cwd(), *map(Path, allowed)))
        self.total = 0  # bytes read so far

    def load(self, path: Path, chain: tuple[Path, ...], where: Span | None) -> GridSource | None:
        resolved = path.resolve()
        at = where or Span(str(path), 1, 1, 1, 2)
        if where is not None and not self._allowed(path, resolved, at, len(chain)):
            return None
        if resolved in chain:
            names = " -> ".join(p.name for p in (*chain, resolved))
            self.errors.error("E105", at, f"include cycle: {names}")
            return None
        if resolved in self.seen:
            return self.seen[resolved]
        text = self._read(path, at, include=where is not None)
        if text is None:
            return None
        self.read[str(resolved)] = text_digest(text)
        return self.from_text(text, str(path), resolved.parent, (*chain, resolved), resolved, where)

    def _allowed(self, path: Path, resolved: Path, at: Span, depth: int) -> bool:
        """Whether an include may be read: below a root, a regular file, not too deep (else an error)."""
        if not any(resolved.is_relative_to(root) for root in self.roots):
            folders = ", ".join(f"'{r}'" for r in self.roots)
            self.errors.error(
                "E108",
                at,
                f"cannot include '{quote(str(resolved), 200)}': it is outside the grid's folder "
                f"(allowed: {folders}); allow its folder with --include-dir (include_dirs=[...])",
            )
            return False
        if depth > MAX_INCLUDE_DEPTH:
            self.errors.error("E107", at, f"includes nested more than {MAX_INCLUDE_DEPTH} files deep")
            return False
        try:
            regular = stat.S_ISREG(resolved.stat().st_mode)
        except OSError:
            return True  # not there: _read says so (E104)
        if not regular:
            self.errors.error(
                "E109", at, f"cannot include '{quote(str(path), 200)}': it is not a regular file"
            )
        return regular

    def _read(self, path: Path, at: Span, include: bool) -> str | None:
        """The text of ``path`` (UTF-8, universal newlines) read within the size left, else None."""
        left = MAX_GRID_BYTES - self.total
        try:
            with path.open("rb") as handle:
                data = handle.read(left + 1)
        except OSError as exc:
            self.errors.error("E104", at, f"cannot read '{quote(str(path), 200)}': {exc.strerror}")
            return None
        self.total += len(data)
        if len(data) > left:
            what = "the grid with its includes" if self.total > len(data) else "the grid file"
            self.errors.error("E106", at, _too_large(self.total, what) + f" ('{quote(str(path), 200)}')")
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._not_utf8(path, data, exc, at, include)
            return None
        return text.replace("\r\n", "\n").replace("\r", "\n")  # as open() reads text

    def _not_utf8(self, path: Path, data: bytes, exc: UnicodeDecodeError, at: Span, include: bool) -> None:
        """E104 at the line and column of the first byte that is not UTF-8."""
        line = data.count(b"\n", 0, exc.start) + 1
        begin = data.rfind(b"\n", 0, exc.start) + 1
        col = len(data[begin : exc.start].decode("utf-8", "replace")) + 1
        where = Span(str(path), line, col, line, col + 1)
        self.errors.error(
            "E104",
            where if not include else at,
            f"cannot read '{quote(str(path), 200)}': not UTF-8 (byte 0x{data[exc.start]:02x} at line "
            f"{line}, column {col}); save the file as UTF-8",
        )

    def from_text(
        self,
        text: str,
        name: str,
        base: Path,
        chain: tuple[Path, ...],
        resolved: Path | None = None,
        included_at: Span | None = None,
    ) -> GridSource | None:
        doc = self._document(text, name, included_at)
        if doc is None:
            return None
        model = self._validate(doc)
        if model is None:
            return None
        for i, item in enumerate(model.include):
            self.load(base / item, chain, doc.span(("include", i)))
        source = GridSource(name, doc, model)
        if resolved is not None:
            self.seen[resolved] = source
        self.order.append(source)
        return source

    def _document(self, text: str, name: str, included_at: Span | None) -> Document | None:
        """The YAML document of a grid file. An include's problems are only reported, with its lines
        quoted, once it is known to be a grid file; else one E109 that quotes nothing of it."""
        if included_at is None:
            self.sources.add(name, text)
            doc = load_yaml(text, name, self.errors)
        else:
            scratch = Collector()
            doc = load_yaml(text, name, scratch)
            if doc is None or not _looks_like_grid(doc.value):
                self._not_a_grid(name, scratch, included_at)
                return None
            self.sources.add(name, text)
            for d in scratch.diagnostics:
                self.errors.error(d.code, d.span, d.message, criterion=d.criterion, suggestion=d.suggestion)
        if doc is not None and not isinstance(doc.value, dict):
            self.errors.error(
                "E113", doc.span(()), "a grid file must be a mapping of keys (id, title, criteria...)"
            )
            return None
        return doc

    def _not_a_grid(self, name: str, scratch: Collector, at: Span) -> None:
        first = scratch.diagnostics[0] if scratch.diagnostics else None
        reason = (
            f"not valid YAML (error[{first.code}] at line {first.span.line}, column {first.span.col}; "
            f"`cotation check {quote(name, 200)}` shows it)"
            if first is not None
            else "not a mapping with a key of the grid format (criteria, variables, include...)"
        )
        self.errors.error("E109", at, f"cannot include '{quote(name, 200)}': it is not a grid file, {reason}")

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


def _looks_like_grid(value: Any) -> bool:
    """A mapping with at least one key of the grid format (or empty): a file meant to be a grid."""
    keys = {f.alias or n for n, f in GridFile.model_fields.items()}
    return isinstance(value, dict) and (not value or any(k in keys for k in value))


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
        and path[0] in ("criteria", "priorities", "rubrics", "groups", "reservataires")
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
        "reservataires": m.Reservataire,
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

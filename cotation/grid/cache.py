"""Stage 1 (grid): checked grids kept on disk: a new process loading an unchanged grid skips the YAML parser,
pydantic's validation and the checker (stages 1 to 3), about 0.1 s of imports and work, a fifth
of a warm start.

An entry is ``grids/<key>.grid`` in the cache directory (:mod:`cotation.cachedir`). ``key`` hashes
how the grid was asked for (the path as given and as resolved; or the text, its name and the
current directory, from which its includes resolve), the Python version and every file of the
cotation package, modules and data alike: a change of the code or of the catalogue makes new keys.

The entry is plain data, never code: UTF-8 JSON holding the SHA-256 of the text of every file the
load read (the grid and its includes), checked again before the entry is used, and the
:class:`cotation.grid.ir.Grid` as a flat table of nodes (:func:`encode`), each a tag and its values,
children referring to earlier rows: :func:`decode` rebuilds the grid row by row, constructing only
the IR's own classes (an allow-list; any other tag is a damaged entry). It is written and read
through :func:`cotation.cachedir.write_entry` and :func:`~cotation.cachedir.read_entry`: its
digest is kept apart from it (``<key>.grid.sha256``) and checked before use; a damaged, truncated
or foreign entry is discarded with a note (W450) and the grid loaded again; a stale one (its files
changed) is replaced silently. Only grids that loaded without error against the default catalogue
are kept, and only in a private cache folder (:func:`cotation.cachedir.private`).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import source
from ..cachedir import cache_directory, discard, private, read_entry, write_entry
from . import catalogue, ir

FORMAT = "cotation-grid 2"


def text_digest(text: str) -> str:
    """SHA-256 of a grid file's text as the loader reads it (UTF-8, universal newlines)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.cache
def _package_digest() -> str:
    """SHA-256 of the Python version and of every module and data file of the package."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(sys.version.encode("utf-8"))
    files = [*root.rglob("*.py"), *root.glob("resources/**/*.yaml"), *root.glob("resources/**/*.json")]
    for path in sorted(files):
        h.update(f"\0{path.relative_to(root).as_posix()}\0".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def file_key(path: str | Path) -> str:
    """The key of a grid loaded from ``path``."""
    return _key("file", str(path), str(Path(path).resolve()))


def text_key(text: str, name: str) -> str:
    """The key of a grid parsed from ``text`` named ``name`` (includes resolve from the cwd)."""
    return _key("text", name, str(Path.cwd()), text)


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join([_package_digest(), *parts]).encode("utf-8")).hexdigest()[:32]


def _entry(key: str) -> Path | None:
    """The entry of ``key``, None when the cache folder is not private to the user."""
    directory = cache_directory()
    if not (private(directory) and private(directory / "grids")):
        return None
    return directory / "grids" / f"{key}.grid"


def lookup(key: str) -> ir.Grid | None:
    """The grid kept under ``key`` if its entry is intact and every file it was read from unchanged,
    else None."""
    path = _entry(key)
    data = None if path is None else read_entry(path, "grid cache entry")
    if path is None or data is None:
        return None
    try:
        entry = json.loads(data.decode("utf-8"))
        if entry["format"] != FORMAT:
            return None
        read, grid = entry["read"], decode(entry["grid"])
        if not isinstance(grid, ir.Grid):
            raise TypeError("not a grid")
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError) as exc:
        discard(path, "grid cache entry", f"its content is not a grid ({type(exc).__name__})")
        return None
    for file, text_hash in read:
        try:
            if text_digest(Path(file).read_text(encoding="utf-8")) != text_hash:
                return None
        except (OSError, UnicodeDecodeError):
            return None
    return grid


def store(key: str, read: Iterable[tuple[str, str]], grid: ir.Grid) -> None:
    """Keep ``grid`` under ``key``, with the (path, text digest) of the files it was read from.
    Best effort: a cache that cannot be written only means loading again next time."""
    path = _entry(key)
    if path is None:
        return
    try:
        entry = {"format": FORMAT, "read": [list(r) for r in read], "grid": encode(grid)}
        write_entry(path, json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    except (OSError, TypeError, ValueError, RecursionError):
        pass


# -- the grid as plain data ------------------------------------------------------------------------
def _classes() -> dict[str, Any]:
    """Every class a grid is made of, by name: the only ones :func:`decode` constructs."""
    found = {
        name: cls
        for module in (ir, catalogue, source)
        for name, cls in vars(module).items()
        if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__
    }
    return {**found, "Kind": catalogue.Kind}


CLASSES = _classes()


def encode(root: object) -> list[list[Any]]:
    """``root`` as a table of rows ``[tag, value, ...]``, children before their parents; the last
    row is ``root``. A value is None, a bool, an int, a float, a str, or ``[k]``: the object of row
    k. Tags: a class of :data:`CLASSES` (its init fields in order), ``tuple``, ``date``. Iterative,
    so that a deep expression does not exhaust the stack; an object met twice is one row."""
    rows: list[list[Any]] = []
    index: dict[int, int] = {}
    stack: list[tuple[object, bool]] = [(root, False)]
    while stack:
        obj, ready = stack.pop()
        if id(obj) in index:
            continue
        parts = _parts(obj)
        if not ready:
            stack.append((obj, True))
            stack.extend((p, False) for p in reversed(parts) if not _atom(p) and id(p) not in index)
            continue
        index[id(obj)] = len(rows)
        rows.append([_tag(obj), *(p if _atom(p) else [index[id(p)]] for p in parts)])
    return rows


def _atom(x: object) -> bool:
    return x is None or (isinstance(x, bool | int | float | str) and not isinstance(x, enum.Enum))


def _tag(obj: object) -> str:
    if isinstance(obj, tuple):
        return "tuple"
    if isinstance(obj, datetime.date):
        return "date"
    name = type(obj).__name__
    if CLASSES.get(name) is not type(obj):
        raise TypeError(f"cannot keep a {type(obj).__qualname__} in the grid cache")
    return name


def _parts(obj: object) -> list[Any]:
    if isinstance(obj, tuple):
        return list(obj)
    if isinstance(obj, datetime.date):
        return [obj.isoformat()]
    if isinstance(obj, enum.Enum):
        return [obj.value]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init]
    if _atom(obj):
        return []
    raise TypeError(f"cannot keep a {type(obj).__qualname__} in the grid cache")


def decode(rows: list[list[Any]]) -> object:
    """The object of the last row of :func:`encode`'s table, rebuilt row by row."""
    built: list[object] = []
    for row in rows:
        tag, values = row[0], [v if not isinstance(v, list) else built[_ref(v, len(built))] for v in row[1:]]
        if tag == "tuple":
            built.append(tuple(values))
        elif tag == "date":
            built.append(datetime.date.fromisoformat(str(values[0])))
        else:
            built.append(CLASSES[tag](*values))  # KeyError: not a class of the grid
    return built[-1]


def _ref(value: list[Any], size: int) -> int:
    if len(value) != 1 or not isinstance(value[0], int) or not 0 <= value[0] < size:
        raise ValueError("a reference to no earlier row")
    return value[0]

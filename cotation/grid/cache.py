"""Stage 1 (grid): checked grids kept on disk: a new process loading an unchanged grid skips the YAML parser,
pydantic's validation and the checker (stages 1 to 3), about 0.1 s of imports and work, a fifth
of a warm start.

An entry is ``grids/<key>.grid`` in the cache directory (:mod:`cotation.cachedir`). ``key`` hashes
how the grid was asked for (the path as given and as resolved; or the text, its name and the
current directory, from which its includes resolve), the Python version and every file of the
cotation package, modules and data alike: a change of the code or of the catalogue makes new keys.
The entry holds the SHA-256 of the text of every file the load read (the grid and its includes),
checked again before the entry is used, then the pickled :class:`cotation.grid.ir.Grid`. Only grids
that loaded without error against the default catalogue are kept; a truncated, stale or
unreadable entry is ignored and replaced. Like the generated modules beside them, entries are
trusted code: the cache directory must be writable by its user only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pickle
import sys
from collections.abc import Iterable
from pathlib import Path

from ..cachedir import cache_directory, write_atomically
from . import ir

MAGIC = b"cotation-grid 1\n"


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


def _entry(key: str) -> Path:
    return cache_directory() / "grids" / f"{key}.grid"


def lookup(key: str) -> ir.Grid | None:
    """The grid kept under ``key`` if every file it was read from is unchanged, else None."""
    try:
        data = _entry(key).read_bytes()
        if not data.startswith(MAGIC):
            return None
        start = len(MAGIC) + 4
        size = int.from_bytes(data[len(MAGIC) : start], "little")
        read = json.loads(data[start : start + size])
        for path, digest in read:
            if text_digest(Path(path).read_text(encoding="utf-8")) != digest:
                return None
        grid = pickle.loads(data[start + size :])
    except Exception:  # unreadable, truncated, from another version of a class: load it again
        return None
    return grid if isinstance(grid, ir.Grid) else None


def store(key: str, read: Iterable[tuple[str, str]], grid: ir.Grid) -> None:
    """Keep ``grid`` under ``key``, with the (path, text digest) of the files it was read from.
    Best effort: a cache that cannot be written only means loading again next time."""
    header = json.dumps(list(read)).encode("utf-8")
    try:
        payload = pickle.dumps(grid, protocol=pickle.HIGHEST_PROTOCOL)
        path = _entry(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, MAGIC + len(header).to_bytes(4, "little") + header + payload)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        pass

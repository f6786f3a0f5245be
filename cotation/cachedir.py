"""The cache directory shared by the kernel cache (:mod:`cotation.scoring.compiled`) and the grid cache
(:mod:`cotation.grid.cache`), the one way files are written there (atomically), and the checks that
make it safe to read them back.

The directory is the ``cache_dir`` argument, else ``$COTATION_CACHE_DIR``, else ``~/.cache/cotation``.

Everything in it is, or becomes, code that cotation runs (generated modules, their bytecode, Numba's
machine code) or data that decides scores (checked grids). So:

- a folder is used only when it is :func:`private`: a directory owned by the user and writable by
  no one else (created with mode 0700 when absent); otherwise the cache is not used, said once
  (warning W451) with the command that fixes it;
- every entry is written with :func:`write_entry`: the file (mode 0600, atomically) and, apart from
  it, ``<file>.sha256``: the SHA-256 of its whole content. :func:`read_entry` gives the content back
  only when the digest matches and the file is the user's and not writable by others; a damaged,
  truncated or foreign entry is deleted, with a one-line note naming the cache folder (W450), and the
  caller rebuilds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from pathlib import Path

from .errors import note

DIGEST_SUFFIX = ".sha256"
_PRIVATE_MODE = 0o700


def cache_directory(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where generated modules are kept: the argument, $COTATION_CACHE_DIR, or ~/.cache/cotation."""
    chosen = cache_dir or os.environ.get("COTATION_CACHE_DIR") or Path.home() / ".cache" / "cotation"
    return Path(chosen).expanduser()


def write_atomically(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` through a temporary file (mode 0600) and ``os.replace``: a
    concurrent reader sees the old file or the new one, never a part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content.encode("utf-8") if isinstance(content, str) else content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def unsafe(st: os.stat_result, kind: str = "file") -> str | None:
    """Why a file or folder with this ``stat`` may not be trusted, or None: it must be the user's and
    not writable by the group or others."""
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"the {kind} belongs to uid {st.st_uid}, not to you (uid {os.getuid()})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"the {kind} is writable by others (mode {stat.filemode(st.st_mode)})"
    return None


def private(directory: Path) -> bool:
    """Whether ``directory`` may hold cotation's caches; created (mode 0700) when absent. When it may
    not (another owner, writable by the group or others, not a directory), warns once (W451)."""
    try:
        directory.mkdir(mode=_PRIVATE_MODE, parents=True, exist_ok=True)
        st = directory.stat()
    except OSError as exc:
        problem: str | None = f"it cannot be created or read ({exc.strerror or exc})"
    else:
        problem = unsafe(st, "folder") if stat.S_ISDIR(st.st_mode) else "it is not a folder"
    if problem is None:
        return True
    note(
        "W451",
        f"cache folder {directory} not used: {problem}; nothing is kept or read there, kernels are "
        "compiled in each process "
        f"(fix: `chown $USER {directory} && chmod go-w {directory}`, or set COTATION_CACHE_DIR to a "
        "folder of your own)",
        once=str(directory),
    )
    return False


def sidecar(path: Path) -> Path:
    """Where the digest of the entry ``path`` is kept, apart from it."""
    return path.with_name(path.name + DIGEST_SUFFIX)


def write_entry(path: Path, content: bytes) -> None:
    """Write the entry ``path`` and then its digest (both atomically, mode 0600)."""
    write_atomically(path, content)
    write_atomically(sidecar(path), digest(content))


def read_entry(path: Path, what: str) -> bytes | None:
    """The content of the entry ``path`` when it is intact and the user's; None when it is absent. A
    damaged, truncated or foreign entry (``what`` names it in the note) is deleted with a note
    (W450), and None returned: the caller rebuilds it."""
    try:
        content, st = read_own(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        discard(path, what, f"unreadable ({exc.strerror or exc})")
        return None
    problem = unsafe(st)
    if problem is None:
        try:
            kept = sidecar(path).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            kept = ""
        problem = None if kept == digest(content) else "its content does not match its digest"
    if problem is not None:
        discard(path, what, problem)
        return None
    return content


def read_own(path: Path) -> tuple[bytes, os.stat_result]:
    """The bytes of ``path`` (not through a symbolic link) and the ``stat`` of the file read."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        return fh.read(), os.fstat(fh.fileno())


def discard(path: Path, what: str, why: str) -> None:
    """Delete a bad entry and its digest, and say so once, naming the cache folder (W450)."""
    for p in (path, sidecar(path)):
        with contextlib.suppress(OSError):
            p.unlink(missing_ok=True)
    note("W450", f"{what} {path.name} in the cache folder {path.parent}: {why}; discarded and rebuilt")

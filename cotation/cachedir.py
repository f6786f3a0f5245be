"""The cache directory shared by the kernel cache (:mod:`cotation.scoring.compiled`) and the grid cache
(:mod:`cotation.grid.cache`), and the one way files are written there: atomically.

The directory is the ``cache_dir`` argument, else ``$COTATION_CACHE_DIR``, else ``~/.cache/cotation``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_directory(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where generated modules are kept: the argument, $COTATION_CACHE_DIR, or ~/.cache/cotation."""
    chosen = cache_dir or os.environ.get("COTATION_CACHE_DIR") or Path.home() / ".cache" / "cotation"
    return Path(chosen).expanduser()


def write_atomically(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` through a temporary file and ``os.replace``: a concurrent reader
    sees the old file or the new one, never a part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content.encode("utf-8") if isinstance(content, str) else content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

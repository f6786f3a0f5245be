"""Stage 6: build a grid's generated kernel with Numba, cached on disk, and score batches with it.

The source from :func:`cotation.codegen.generate_source` is written once to a content-addressed
module file ``cotation_grid_<key>.py`` in the cache directory, where ``key`` hashes the source, the
cotation and numba versions and the CPU name. The module is executed in its own namespace and its
functions are jitted with ``cache=True``, so Numba keeps the machine code next to it (``.nbi``
and ``.nbc`` files in ``__pycache__``) and a new process loads it instead of compiling again.
Files are written atomically (temporary file + ``os.replace``); a module file whose content does
not hash to its name, or that fails to execute, is rewritten.

The cache directory is the ``cache_dir`` argument, else ``$COTATION_CACHE_DIR``, else
``~/.cache/cotation``.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import sys
import tempfile
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llvmlite.binding
import numba
import numpy as np

from . import ir
from .catalogue import Kind
from .codegen import KernelSource, generate_source
from .dates import day_number
from .reference import rank_of
from .scores import Scores

MODULE_PREFIX = "cotation_grid_"
_LOADED: dict[Path, types.ModuleType] = {}


def cache_directory(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where generated modules are kept: the argument, $COTATION_CACHE_DIR, or ~/.cache/cotation."""
    chosen = cache_dir or os.environ.get("COTATION_CACHE_DIR") or Path.home() / ".cache" / "cotation"
    return Path(chosen).expanduser()


def module_key(text: str) -> str:
    """The name-giving hash of a generated module: its text, the versions and the CPU it targets."""
    from . import __version__  # at call time: the package is initialised by then

    cpu = numba.config.CPU_NAME or llvmlite.binding.get_host_cpu_name()
    salt = "\0".join([text, __version__, numba.__version__, cpu])
    return hashlib.sha256(salt.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True, eq=False)
class CompiledGrid:
    """A grid with its built kernel. ``source`` is the generated module text."""

    grid: ir.Grid
    kernel_source: KernelSource
    path: Path  # the module file in the cache directory
    kernel: Any = field(repr=False)  # the numba dispatcher

    @property
    def source(self) -> str:
        return self.kernel_source.text

    def score(self, batch: Any, date_calcul: datetime.date | str) -> Scores:
        """Score ``batch`` on ``date_calcul``; the same :class:`Scores` as the reference evaluator."""
        day = datetime.date.fromisoformat(date_calcul) if isinstance(date_calcul, str) else date_calcul
        grid, n = self.grid, len(batch)
        total, tier = np.zeros(n, np.int64), np.zeros(n, np.int64)
        flags = np.zeros((n, len(grid.priorities)), np.bool_)
        breakdown = np.zeros((n, len(grid.columns)), np.int64)
        met = np.zeros((n, len(grid.criteria)), np.bool_)
        self.kernel(*self._inputs(batch), np.int64(day_number(day)), total, flags, tier, breakdown, met, True)
        return Scores(grid.meta.id, grid.meta.version, grid.content_hash, day, batch.ids, total, breakdown,
                      grid.columns, met, flags, tuple(p.id for p in grid.priorities), tier,
                      rank_of(grid, batch, total, tier))

    def _inputs(self, batch: Any) -> list[np.ndarray]:
        values = [_values(batch, self.grid.catalogue[name].kind, name) for name in self.kernel_source.columns]
        masks = []
        for name in self.kernel_source.masks:
            valid = batch.column(name).valid
            present = np.ones(len(batch), np.bool_) if valid is None else valid
            masks.append(np.ascontiguousarray(present, np.bool_))
        return values + masks


def _values(batch: Any, kind: Kind, name: str) -> np.ndarray:
    values = batch.column(name).values
    if kind is Kind.SET:
        return np.ascontiguousarray(values, np.uint64)
    if kind is Kind.BOOL:
        return np.ascontiguousarray(values, np.bool_)
    return np.ascontiguousarray(values)


def compile_grid(grid: ir.Grid, cache_dir: str | os.PathLike[str] | None = None, *,
                 parallel: bool = True) -> CompiledGrid:
    """Generate, write (once) and load the kernel of ``grid``; Numba compiles it on the first score."""
    src = generate_source(grid, parallel=parallel)
    module = load_module(src.text, cache_directory(cache_dir))
    return CompiledGrid(grid, src, Path(str(module.__file__)), getattr(module, src.kernel))


def load_module(text: str, directory: Path) -> types.ModuleType:
    """The module of ``text`` from ``directory``, written there first if absent or damaged."""
    name = MODULE_PREFIX + module_key(text)
    path = (directory / f"{name}.py").resolve()
    if path in _LOADED:
        return _LOADED[path]
    directory.mkdir(parents=True, exist_ok=True)
    if not _intact(path, name):
        _write_atomically(path, text)
    try:
        module = _execute(name, path)
    except Exception:  # a damaged file that still hashes right cannot happen; be safe anyway
        _write_atomically(path, text)
        module = _execute(name, path)
    _LOADED[path] = module
    return module


def _intact(path: Path, name: str) -> bool:
    try:
        content = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return MODULE_PREFIX + module_key(content) == name


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _execute(name: str, path: Path) -> types.ModuleType:
    """Execute the module file in an explicit namespace; its functions keep ``path`` as their file."""
    text = path.read_text(encoding="utf-8")
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    try:
        exec(compile(text, str(path), "exec"), module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module

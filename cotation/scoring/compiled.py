"""Stage 6: build a grid's generated kernel with Numba, cached on disk, and score batches with it.

The source from :func:`cotation.codegen.score_source.generate_source` is written once to a content-addressed
module file ``cotation_grid_<key>.py`` in the cache directory, where ``key`` hashes the source, the
cotation and numba versions and the CPU name. The module is executed in its own namespace and its
functions are jitted with ``cache=True``, so Numba keeps the machine code next to it (``.nbi``
and ``.nbc`` files in ``__pycache__``) and a new process loads it instead of compiling again; the
module's own bytecode is kept next to it too (``<name>.<python>.code``, see :func:`_code`).
Files are written atomically (temporary file + ``os.replace``); a module file whose content does
not hash to its name, or that fails to execute, is rewritten.

The cache directory is the ``cache_dir`` argument, else ``$COTATION_CACHE_DIR``, else
``~/.cache/cotation``.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import importlib.util
import marshal
import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llvmlite.binding
import numba
import numpy as np

from ..grid import ir
from ..cachedir import cache_directory, write_atomically
from ..grid.catalogue import Kind
from ..codegen.score_source import CHUNK, TRACE_ROWS, KernelSource, generate_source
from ..dates import calendar_table, day_number
from .order import scores_rank
from .reference import positioning
from .scores import Lazy, Scores
from ..threads import threaded_map

MODULE_PREFIX = "cotation_grid_"
#: Below this many rows per thread, one thread scores everything (handing work over costs ~50 us).
MIN_ROWS_PER_THREAD = 16_384
MAX_CALENDAR_DAYS = 3_652_059  # 0001-01-01 .. 9999-12-31
_LOADED: dict[Path, types.ModuleType] = {}


#: LLVM gives up vectorising a loop that needs more than 8 runtime checks that its arrays do not
#: overlap (a store against each load); a row loop reads dozens of columns, so allow many. This is
#: a process-wide LLVM option: it only lets other Numba code vectorise more loops too.
LLVM_OPTIONS = ("-runtime-memory-check-threshold=4096", "-vectorize-memory-check-threshold=4096")
for _option in LLVM_OPTIONS:
    llvmlite.binding.set_option("", _option)


@functools.cache
def _helpers_hash() -> str:
    """The generated modules call cotation.codegen.helpers: a change there must not reuse old machine code."""
    return hashlib.sha256((Path(__file__).parent.parent / "codegen" / "helpers.py").read_bytes()).hexdigest()


def module_key(text: str) -> str:
    """The name-giving hash of a generated module: its text, the versions and the CPU it targets."""
    from .. import __version__  # at call time: the package is initialised by then

    cpu = numba.config.CPU_NAME or llvmlite.binding.get_host_cpu_name()
    salt = "\0".join([text, __version__, numba.__version__, cpu, _helpers_hash()])
    return hashlib.sha256(salt.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True, eq=False)
class CompiledGrid:
    """A grid with its built kernels. ``source`` is the generated module text.

    ``kernel`` computes total, flags and tier; ``breakdown_kernel`` also the breakdown and ``met``.
    Numba compiles each on its first call (or loads it from the disk cache), so scoring without
    ever reading ``Scores.breakdown`` never compiles the breakdown kernel.
    """

    grid: ir.Grid
    kernel_source: KernelSource
    path: Path  # the module file in the cache directory
    module: types.ModuleType = field(repr=False)
    parallel: bool = True  # split rows between numba.get_num_threads() threads

    @property
    def source(self) -> str:
        return self.kernel_source.text

    @property
    def is_cached(self) -> bool:
        """Whether Numba already keeps machine code of the total kernel for this module on disk."""
        return any(self.path.parent.glob(f"__pycache__/{self.path.stem}.{self.kernel_source.kernel}-*.nbi"))

    @property
    def kernel(self) -> Any:
        return getattr(self.module, self.kernel_source.kernel)

    @property
    def breakdown_kernel(self) -> Any:
        return getattr(self.module, self.kernel_source.breakdown_kernel)

    def score(self, batch: Any, date_calcul: datetime.date | str, *, breakdown: bool = False) -> Scores:
        """Score ``batch`` on ``date_calcul``; the same :class:`Scores` as the reference evaluator.

        The breakdown and ``met`` are computed when first read, or now with ``breakdown=True``.
        """
        day = datetime.date.fromisoformat(date_calcul) if isinstance(date_calcul, str) else date_calcul
        batch.check_dates(day)
        grid, today = self.grid, np.int64(day_number(day))
        inputs = self.arguments(batch, today)
        total, bits, tier = self._outputs(len(batch))
        details = Lazy(lambda: self._details(inputs, today, len(batch)))
        if breakdown:
            total, bits, tier = details.get()[2:]
        else:
            self._run(self.kernel, [*inputs, today, total, bits, tier], len(batch))
        ranks = Lazy(lambda: scores_rank(grid, batch, total, tier))
        return Scores(grid.meta.id, grid.meta.version, grid.content_hash, day, batch.ids, total, grid.columns,
                      tuple(p.id for p in grid.priorities), bits, tier,
                      details=Lazy.of(details.get()[:2]) if breakdown else Lazy(lambda: details.get()[:2]),
                      ranks=ranks, **positioning(grid, batch, day, ranks), engine="compiled")

    def trace(self, batch: Any, date_calcul: datetime.date) -> tuple[np.ndarray, ...]:
        """(rule, clipped, met), C x N: per criterion, the points of its rule when met, after its own
        min/max, and met (before rubrics and caps), from the generated ``trace_rows``."""
        today = np.int64(day_number(date_calcul))
        k, n = len(self.grid.criteria), len(batch)
        rule, clipped, met = np.empty((k, n), np.int64), np.empty((k, n), np.int64), np.empty((k, n), np.bool_)
        fn = getattr(self.module, TRACE_ROWS)
        self._run(fn, [*self.arguments(batch, today), today, rule, clipped, met], n)
        return rule, clipped, met

    def _outputs(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w = self.grid.widths
        return np.empty(n, w.total), np.empty(n, w.flags), np.empty(n, np.int8)

    def _details(self, inputs: list[np.ndarray], today: np.int64, n: int) -> tuple[np.ndarray, ...]:
        """(breakdown C x N, met K x N, total, flags, tier) from the breakdown kernel."""
        total, bits, tier = self._outputs(n)
        bd = np.empty((len(self.grid.columns), n), self.grid.widths.breakdown)
        met = np.empty((len(self.grid.criteria), n), np.bool_)
        self._run(self.breakdown_kernel, [*inputs, today, total, bits, tier, bd, met], n)
        return bd, met, total, bits, tier

    def _run(self, function: Any, args: list[Any], n: int) -> None:
        """``function(*args, start, stop)`` over rows 0..n-1, split between threads (it releases the GIL).

        Each row is computed independently, so results never depend on the number of threads.
        """
        threads = min(numba.get_num_threads() if self.parallel else 1, max(1, n // MIN_ROWS_PER_THREAD))
        if threads == 1:
            function(*args, 0, n)
            return
        step = -(-n // threads // CHUNK) * CHUNK
        cuts = [(s, min(s + step, n)) for s in range(0, n, step)]
        threaded_map(lambda cut: function(*args, *cut), cuts, threads)

    def arguments(self, batch: Any, today: np.int64) -> list[Any]:
        """Everything the kernels read for ``batch`` scored on day ``today``: inputs, the grid's point
        values, then the calendar."""
        return [*self.inputs(batch), self.points, *self.calendar(batch, int(today))]

    @property
    def points(self) -> tuple[np.int64, ...]:
        """The grid's point values, the kernels' ``points`` argument (``points[k]`` in the source)."""
        return tuple(np.int64(x) for x in self.kernel_source.parameters)

    def inputs(self, batch: Any) -> list[np.ndarray | None]:
        """The kernels' input arrays for ``batch``: values, then validity masks, ``None`` for a column
        without missing values: Numba compiles (and caches) a version of the kernel for each pattern
        of ``None``, in which those masks are the constant true and are never read."""
        values = [_values(batch, self.grid.catalogue[name], name) for name in self.kernel_source.columns]
        return values + [mask_of(batch, name) for name in self.kernel_source.masks]

    def calendar(self, batch: Any, today: int) -> tuple[np.ndarray, np.int64]:
        """The calendar table and its first day, covering ``today`` and every stored value of the
        date fields the kernels look up (missing ones included: the kernels read them too)."""
        lo = hi = today
        for name in self.kernel_source.calendar:
            values = batch.column(name).values
            if len(values):
                lo, hi = min(lo, int(values.min())), max(hi, int(values.max()))
        if hi - lo > MAX_CALENDAR_DAYS:
            raise ValueError(f"dates span {hi - lo} days, beyond the years 0001-9999")
        return calendar_table(lo, hi), np.int64(lo)


def mask_of(batch: Any, name: str) -> np.ndarray | None:
    """The validity mask of a column as a kernel reads it: ``None`` when every value is present."""
    valid = batch.column(name).valid
    return None if valid is None else np.ascontiguousarray(valid, np.bool_)


def _values(batch: Any, f: Any, name: str) -> np.ndarray:
    values = batch.column(name).values
    if f.kind is Kind.SET:
        return np.ascontiguousarray(values, np.uint64)
    if f.kind is Kind.BOOL:
        return np.ascontiguousarray(values, np.bool_)
    if f.kind is Kind.COMMUNES and values.shape[1] != f.width:
        raise ValueError(f"column '{name}' has {values.shape[1]} communes per row, the catalogue {f.width}")
    return np.ascontiguousarray(values).reshape(-1) if f.kind is Kind.COMMUNES else np.ascontiguousarray(values)


def compile_grid(grid: ir.Grid, cache_dir: str | os.PathLike[str] | None = None, *,
                 parallel: bool = True) -> CompiledGrid:
    """Generate, write (once) and load the kernels of ``grid``; Numba compiles each on its first call.

    ``parallel``: score slices of rows in ``numba.get_num_threads()`` threads (the kernels release
    the GIL). A prange driver would do the same but costs seconds of compilation (about 3 s for the
    example grid, more than the row function itself), hence plain threads.
    """
    def build() -> CompiledGrid:
        src = generate_source(grid)
        module = load_module(src.text, cache_directory(cache_dir))
        return CompiledGrid(grid, src, Path(str(module.__file__)), module, parallel)

    return ir.per_grid(_COMPILED, grid, build, str(cache_directory(cache_dir)), parallel)  # type: ignore[no-any-return]


_COMPILED: dict[Any, CompiledGrid] = {}  # per live grid object: the source is generated once


def load_module(text: str, directory: Path) -> types.ModuleType:
    """The module of ``text`` from ``directory``, written there first if absent or damaged."""
    name = MODULE_PREFIX + module_key(text)
    path = (directory / f"{name}.py").resolve()
    if path in _LOADED:
        return _LOADED[path]
    directory.mkdir(parents=True, exist_ok=True)
    if not _intact(path, name):
        write_atomically(path, text)
    try:
        module = _execute(name, path)
    except Exception:  # a damaged file that still hashes right cannot happen; be safe anyway
        write_atomically(path, text)
        module = _execute(name, path)
    _LOADED[path] = module
    return module


def _intact(path: Path, name: str) -> bool:
    try:
        content = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return MODULE_PREFIX + module_key(content) == name


def _execute(name: str, path: Path) -> types.ModuleType:
    """Execute the module file in an explicit namespace; its functions keep ``path`` as their file."""
    text = path.read_text(encoding="utf-8")
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    try:
        exec(_code(text, path), module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _code(text: str, path: Path) -> types.CodeType:
    """The code object of the module file: from its marshalled copy ``<name>.<python>.code`` when
    that was made by this Python from this very text (a header holds the bytecode magic and the
    text's hash: a truncated, stale or foreign copy is compiled again and replaced), else compiled
    (~12 ms for the example grid's 90 kB, a tenth of a warm start) and saved."""
    copy = path.with_name(f"{path.stem}.{sys.implementation.cache_tag}.code")
    header = importlib.util.MAGIC_NUMBER + hashlib.sha256(text.encode("utf-8")).digest()
    try:
        data = copy.read_bytes()
        if data.startswith(header):
            code = marshal.loads(data[len(header):])
            if isinstance(code, types.CodeType) and code.co_filename == str(path):
                return code
    except (OSError, EOFError, ValueError, TypeError):
        pass
    code = compile(text, str(path), "exec")
    with contextlib.suppress(OSError):  # a read-only cache still scores
        write_atomically(copy, header + marshal.dumps(code))
    return code

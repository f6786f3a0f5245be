"""Stage 4 (scoring): the compiled engine: a grid's generated kernels (:mod:`cotation.codegen.score_source`,
built by :mod:`cotation.codegen.build`) run over slices of rows in threads, into :class:`Scores`
identical to the reference evaluator's.
"""

from __future__ import annotations

import datetime
import os
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np

from ..cachedir import cache_directory
from ..codegen.build import KernelFailure, cached_functions, call_kernel, load_module, precompile
from ..codegen.score_source import (
    BREAKDOWN_OUTPUTS,
    BREAKDOWN_ROWS,
    CHUNK,
    OUTPUTS,
    ROWS,
    SCRATCH,
    TRACE_OUTPUTS,
    TRACE_ROWS,
    KernelSource,
    generate_source,
)
from ..data.batch import kernel_mask, kernel_values
from ..data.calendar import calendar_covering
from ..dates import day_number
from ..errors import note
from ..grid import ir
from ..threads import threaded_map
from .order import scores_rank
from .scores import Lazy, Scores

#: Below this many rows per thread, one thread scores everything (handing work over costs ~50 us).
MIN_ROWS_PER_THREAD = 16_384


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
        return self.cached(*(self.kernel_source.jitted or (self.kernel_source.kernel,)))

    @property
    def is_breakdown_cached(self) -> bool:
        """Whether Numba already keeps machine code of the breakdown kernel for this module on disk."""
        return self.cached(*(self.kernel_source.breakdown_jitted or (self.kernel_source.breakdown_kernel,)))

    def cached(self, *names: str) -> bool:
        """Whether Numba keeps machine code on disk for each of these jitted functions of the module."""
        return cached_functions(self.module, names)

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
        details = Lazy(lambda: self._details(inputs, today, len(batch), batch, day))
        try:
            if breakdown:
                total, bits, tier = details.get()[2:]
            else:
                args = [*inputs, today, total, bits, tier]
                self._prepare(ROWS, args)
                self._run(self.kernel, args, len(batch))
        except KernelFailure as exc:
            return self._reference(exc, batch, day)
        ranks = Lazy(lambda: scores_rank(grid, batch, total, tier))
        return Scores.of(
            grid,
            day,
            batch.held_ids(),
            total=total,
            flag_bits=bits,
            tier=tier,
            details=Lazy.of(details.get()[:2]) if breakdown else Lazy(lambda: details.get()[:2]),
            ranks=ranks,
            engine="compiled",
        )

    def trace(self, batch: Any, date_calcul: datetime.date) -> tuple[np.ndarray, ...]:
        """(rule, clipped, met), C x N: per criterion, the points of its rule when met, after its own
        min/max, and met (before rubrics and caps), from the generated ``trace_rows``."""
        today = np.int64(day_number(date_calcul))
        k, n = len(self.grid.criteria), len(batch)
        rule, clipped, met = (
            np.empty((k, n), np.int64),
            np.empty((k, n), np.int64),
            np.empty((k, n), np.bool_),
        )
        fn = getattr(self.module, TRACE_ROWS)
        try:
            args = [*self.arguments(batch, today), today, rule, clipped, met]
            self._prepare(TRACE_ROWS, args)
            self._run(fn, args, n)
        except KernelFailure as exc:
            from .reference import trace_points

            self._failed(exc)
            return trace_points(self.grid, batch, date_calcul)
        return rule, clipped, met

    def _failed(self, exc: KernelFailure) -> None:
        note(
            "W452",
            f"the kernels of grid '{self.grid.meta.id}' ({self.path}) failed to compile ({exc}); "
            "scored with the reference engine instead (same scores, slower): this is a bug, please "
            "report it",
            once=f"{self.path}",
        )

    def _reference(self, exc: KernelFailure, batch: Any, day: datetime.date) -> Scores:
        """The Scores of the reference evaluator, after a kernel failure (W452)."""
        from .reference import evaluate

        self._failed(exc)
        return evaluate(self.grid, batch, day)

    def _outputs(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w = self.grid.widths
        return np.empty(n, w.total), np.empty(n, w.flags), np.empty(n, np.int8)

    def _details(
        self, inputs: list[np.ndarray], today: np.int64, n: int, batch: Any, day: datetime.date
    ) -> tuple[np.ndarray, ...]:
        """(breakdown C x N, met K x N, total, flags, tier) from the breakdown kernel (from the
        reference evaluator if the kernel fails: W452)."""
        total, bits, tier = self._outputs(n)
        bd = np.empty((len(self.grid.columns), n), self.grid.widths.breakdown)
        met = np.empty((len(self.grid.criteria), n), np.bool_)
        try:
            args = [*inputs, today, total, bits, tier, bd, met]
            self._prepare(BREAKDOWN_ROWS, args)
            self._run(self.breakdown_kernel, args, n)
        except KernelFailure as exc:
            ref = self._reference(exc, batch, day)
            return ref.breakdown, ref.met, ref.total, ref.flag_bits, ref.tier
        return bd, met, total, bits, tier

    def _prepare(self, kernel: str, args: list[Any]) -> None:
        """A kernel that is a Python driver (a grid in pieces, a breakdown in two parts): compile the
        jitted pieces of ``kernel`` that are neither compiled in this process nor cached on disk, in
        several processes at once (:func:`cotation.codegen.build.precompile`);
        ``args`` are the driver's arguments but ``start, stop``. Their signatures are the types of
        the values the driver passes them (:data:`cotation.codegen.score_source.SCRATCH`)."""
        src = self.kernel_source
        entries = [e for e in src.piece_table if e.kernel == kernel]
        todo = [e for e in entries if not getattr(self.module, e.name).signatures]
        if len(todo) < 2 or self.cached(*(e.name for e in todo)):
            return
        outputs = {ROWS: OUTPUTS, BREAKDOWN_ROWS: BREAKDOWN_OUTPUTS, TRACE_ROWS: TRACE_OUTPUTS}[kernel]
        names = [*src.inputs, *outputs]
        typed = {name: numba.typeof(value) for name, value in zip(names, args, strict=True)}  # type: ignore[no-untyped-call]
        width = {"breakdown": self.grid.widths.breakdown}
        for name, (dtype, ndim) in SCRATCH.items():
            typed[name] = numba.types.Array(numba.from_dtype(np.dtype(width.get(dtype, dtype))), ndim, "C")
        integer = numba.typeof(0)  # type: ignore[no-untyped-call]
        typed.update(r0=integer, start=integer, stop=integer, b0=integer)
        if "breakdown" in typed:
            typed["bd"] = typed["breakdown"]
        jobs = [(e.name, tuple(typed[p] for p in (*e.params, "r0", "start", "stop")), e.cost) for e in todo]
        precompile(self.module, jobs)

    def _run(self, function: Any, args: list[Any], n: int) -> None:
        """``function(*args, start, stop)`` over rows 0..n-1, split between threads (it releases the GIL).

        Each row is computed independently, so results never depend on the number of threads. The
        first call of a kernel compiles it (or loads it from the cache) under
        :func:`cotation.codegen.build.call_kernel`: KernelFailure if it cannot.
        """
        threads = min(numba.get_num_threads() if self.parallel else 1, max(1, n // MIN_ROWS_PER_THREAD))
        if threads == 1:
            call_kernel(self.module, function, lambda: function(*args, 0, n))
            return
        step = -(-n // threads // CHUNK) * CHUNK
        cuts = [(s, min(s + step, n)) for s in range(0, n, step)]
        call_kernel(
            self.module, function, lambda: threaded_map(lambda cut: function(*args, *cut), cuts, threads)
        )

    def arguments(self, batch: Any, today: np.int64) -> list[Any]:
        """Everything the kernels read for ``batch`` scored on day ``today``: inputs, the grid's point
        values, then the calendar."""
        return [*self.inputs(batch), self.points, *self.calendar(batch, int(today))]

    @property
    def points(self) -> tuple[np.int64, ...] | np.ndarray:
        """The grid's point values, the kernels' ``points`` argument (``points[k]`` in the source): a
        tuple, or an int64 array for a grid compiled in pieces."""
        if self.kernel_source.pieces:
            return np.array(self.kernel_source.parameters, dtype=np.int64)
        return tuple(np.int64(x) for x in self.kernel_source.parameters)

    def inputs(self, batch: Any) -> list[np.ndarray | None]:
        """The kernels' input arrays for ``batch``: values, then validity masks, ``None`` for a column
        without missing values in a large batch: Numba compiles (and caches) a version of the kernel
        for each pattern of ``None``, in which those masks are the constant true and are never read.
        A small batch (:data:`~cotation.data.batch.MASKS_ALWAYS_BELOW`) passes every mask as an
        array: one version for all small batches."""
        values = [
            kernel_values(batch, self.grid.catalogue[name], name) for name in self.kernel_source.columns
        ]
        return values + [kernel_mask(batch, name) for name in self.kernel_source.masks]

    def calendar(self, batch: Any, today: int) -> tuple[np.ndarray, np.int64]:
        """The calendar table and its first day, covering ``today`` and every stored value of the
        date fields the kernels look up (missing ones included: the kernels read them too)."""
        return calendar_covering([batch.column(name).values for name in self.kernel_source.calendar], today)


def compile_grid(
    grid: ir.Grid, cache_dir: str | os.PathLike[str] | None = None, *, parallel: bool = True
) -> CompiledGrid:
    """Generate, write (once) and load the kernels of ``grid``; Numba compiles each on its first call.

    ``parallel``: score slices of rows in ``numba.get_num_threads()`` threads (the kernels release
    the GIL). A prange driver would do the same but costs seconds of compilation (about 3 s for the
    example grid, more than the row function itself), hence plain threads.
    """

    def build() -> CompiledGrid:
        src = generate_source(grid)
        module = load_module(src.text, cache_directory(cache_dir))
        return CompiledGrid(grid, src, Path(str(module.__file__)), module, parallel)

    return ir.per_grid(_COMPILED, grid, build, str(cache_directory(cache_dir)), parallel)


_COMPILED: dict[Any, CompiledGrid] = {}  # per live grid object: the source is generated once

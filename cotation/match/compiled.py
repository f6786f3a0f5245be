"""Stage 5 (match): the compiled pair engine: run a grid's generated pair kernel over dwellings, in threads.

The module of the pair kernel is written and cached like the scoring kernels
(:func:`cotation.scoring.compiled.load_module`: content-addressed file, Numba's own cache next to it). The
applications arrive sorted by the grid's tie-breaks (:class:`cotation.match.prepared.Prepared`), so a row
number is its tie-break rank. Dwellings are independent: slices of them run in threads (the kernel
releases the GIL) and the result does not depend on the number of threads. A batch assignment runs
serially, in the assignment order, because each dwelling removes its candidates from the next.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from ..cachedir import cache_directory
from ..codegen.build import call_kernel, load_module
from ..codegen.helpers import index_count, index_fill
from ..codegen.pair_source import PairSource, generate_pair_source
from ..data.batch import kernel_mask, kernel_values
from ..data.calendar import calendar_covering
from ..data.ceilings import ceiling_table
from ..dates import day_number
from ..grid import ir
from ..grid.functions import FINANCINGS, ZONES
from ..threads import threaded_map
from .prepared import DwellingResult, Prepared, dwelling_order

SLICES_PER_THREAD = 8  # dwellings differ in their number of candidates: slices taken by free threads
PARALLEL_INDEX_ROWS = 50_000  # from this many applications, the index and hoisted values are built in threads
MAJOR_FROM = 2  # dwellings per commune from which the candidates' columns are copied in their order


@dataclass
class CompiledPairs:
    """A grid's pair kernel, loaded (Numba compiles it on its first call, then caches it on disk)."""

    grid: ir.Grid
    source: PairSource
    module: Any
    parallel: bool = True

    @property
    def kernel(self) -> Any:
        return getattr(self.module, self.source.kernel)

    @property
    def is_cached(self) -> bool:
        """Whether Numba already keeps machine code of the pair kernel (and its per-application kernel)
        on disk (beside the module file, or under ``$NUMBA_CACHE_DIR``)."""
        from ..codegen.build import cached_functions

        src = self.source
        names = (src.kernel, src.app_kernel) if src.hoisted else (src.kernel,)
        return cached_functions(self.module, names)

    @property
    def threads(self) -> int:
        """Threads for the kernel and the per-pool preparation (Numba's setting; 1 when not parallel)."""
        return numba.get_num_threads() if self.parallel else 1

    def arguments(self, prep: Prepared) -> list[Any]:
        """Everything the kernel reads before its per-call arguments (order, taken, k, slice, outputs).

        What depends only on the applications (their columns, the hoisted values, the inverted index,
        the candidate-major copies) is computed once per pool and kept in ``pool.cache``."""
        grid, src = self.grid, self.source
        assert grid.match is not None
        app = self._applications(prep.pool)
        dw = prep.dwellings
        dvalues = [kernel_values(dw, grid.match.catalogue[n], n) for n in src.dwelling_columns]
        dmasks = [kernel_mask(dw, n) for n in src.dwelling_masks]
        plafonds = ceiling_table(prep.date_calcul.year, FINANCINGS, ZONES)
        dkey = self._dwelling_keys(prep, app["size"])
        app["calls"] = app.get("calls", 0) + 1
        major = app["calls"] > 1 or _revisited(dkey, src.indexed is not None)  # a reused pool keeps the copy
        per_app = self._major(prep.pool, app) if major else app["per_app"]
        nv, nm, nh = len(src.columns), len(src.masks), 2 * len(src.hoisted)
        ptr, rows, ranks, pos = app["index"]
        return [
            *per_app[: nv + nm],
            *dvalues,
            *dmasks,
            *per_app[nv + nm : nv + nm + nh],
            plafonds,
            np.int64(day_number(prep.date_calcul)),
            *per_app[-2:],
            np.int64(len(prep.batch)),
            ptr,
            None if major else rows,
            ranks,
            pos,
            dkey,
        ]  # cand None: columns in the candidates' order

    def _applications(self, pool: Any) -> dict[str, Any]:
        key = f"pairs:{id(self)}"
        if key not in pool.cache:
            grid, src, batch = self.grid, self.source, pool.batch
            values = [kernel_values(batch, grid.catalogue[n], n) for n in src.columns]
            masks = [kernel_mask(batch, n) for n in src.masks]
            hoisted = self._app_values(pool, np.int64(day_number(pool.date_calcul)))
            per_app = [
                None if a is None else np.ascontiguousarray(a)
                for a in (*values, *masks, *hoisted, pool.scores.total, pool.scores.tier)
            ]
            size, index = self._index(pool)
            pool.cache[key] = {"per_app": per_app, "size": size, "index": index}
        return pool.cache[key]

    def _major(self, pool: Any, app: dict[str, Any]) -> list[Any]:
        """The per-application inputs copied in the inverted index's order (computed once per pool)."""
        if "major" not in app:
            where = app["index"][1].astype(np.int64)  # NumPy converts narrower indices on every call
            n, src, per_app = len(pool.batch), self.source, app["per_app"]
            nv = len(src.columns) + len(src.masks) + len(src.hoisted)
            read = [True] * nv + list(src.hoisted_masks) + [True, True]  # hm_k never missing: unread
            copies = threaded_map(
                lambda a: _in_index_order(a, where, n),  # np.take releases the GIL
                [a if r else None for a, r in zip(per_app, read, strict=True)],
                self.threads,
            )
            app["major"] = [c if r else a for a, c, r in zip(per_app, copies, read, strict=True)]
        return app["major"]

    def _app_values(self, pool: Any, today: np.int64) -> list[np.ndarray]:
        """The application-level values of the pair expressions, computed once per application (in
        threads, over consecutive slices of the rows, from ``PARALLEL_INDEX_ROWS`` applications)."""
        src, batch, n = self.source, pool.batch, len(pool.batch)
        values = [np.empty(n, np.dtype(t.removeprefix("np."))) for t in src.hoisted]
        present = [np.empty(n, np.bool_) for _ in src.hoisted]
        if src.hoisted:
            inputs: list[np.ndarray | None] = [
                kernel_values(batch, self.grid.catalogue[c], c) for c in src.app_columns
            ]
            inputs += [kernel_mask(batch, c) for c in src.app_masks]
            cal, cal_lo = calendar_covering([batch.column(c).values for c in src.app_calendar], int(today))
            fn = getattr(self.module, src.app_kernel)
            threads = self.threads if n >= PARALLEL_INDEX_ROWS else 1
            cuts = [round(k * n / threads) for k in range(threads + 1)]  # each row on its own: any split
            call_kernel(
                self.module,
                fn,
                lambda: threaded_map(
                    lambda k: fn(*inputs, today, cal, cal_lo, *values, *present, cuts[k], cuts[k + 1]),
                    list(range(threads)),
                    threads,
                ),
            )
        return [*values, *present]

    def _index(self, pool: Any) -> tuple[int, tuple[np.ndarray, ...]]:
        """The inverted index by commune (CSR over commune codes: pointers, rows, tie-break ranks,
        wish positions) and the number of codes; without one, the rows in tie-break order."""
        index = self.source.indexed
        perm = np.ascontiguousarray(pool.perm, np.int32)
        if index is None:
            return 0, (np.zeros(1, np.int64), perm, np.zeros(0, np.int32), np.zeros(0, np.int8))
        field = self.grid.catalogue[index.field]
        lists = kernel_values(pool.batch, field, index.field)
        size = int(lists.max()) + 1 if len(lists) and lists.max() >= 0 else 1
        threads = self.threads if len(perm) >= PARALLEL_INDEX_ROWS else 1
        return size, commune_index(lists, field.width, perm, size, threads)

    def _dwelling_keys(self, prep: Prepared, size: int) -> np.ndarray:
        """Each dwelling's commune code in the index (-1: no candidate), or -1 without an index."""
        index = self.source.indexed
        if index is None:
            return np.full(len(prep.dwellings), -1, np.int64)
        col = prep.dwellings.column(index.dwelling_field)
        codes = col.values.astype(np.int64)
        ok = (codes >= 0) & (codes < size) & (col.valid if col.valid is not None else True)
        return np.where(ok, codes, -1)

    def run(self, prep: Prepared, k: int, assignment: str | None) -> tuple[DwellingResult, np.ndarray]:
        assert self.grid.match is not None
        m, f = len(prep.dwellings), len(self.grid.match.filters)
        args = self.arguments(prep)
        free = DwellingResult.empty(m, k, f)
        dkey = args[-1]
        self._parallel(args, np.argsort(dkey, kind="stable"), k, free)  # a commune's dwellings together
        _as_rows(free, prep.perm)
        if assignment is None:
            return free, np.arange(m)
        tier = prep.scores.tier.astype(np.int64)
        order = dwelling_order(assignment, free.rows, free.total, tier, prep.tie_rank)
        out = DwellingResult.empty(m, k, f)
        taken = np.zeros(len(prep.batch), np.bool_)  # by tie-break rank
        ordered = np.ascontiguousarray(order, np.int64)
        call_kernel(
            self.module,
            self.kernel,
            lambda: self.kernel(*args, ordered, taken, np.int64(k), 0, m, *_fields(out)),
        )
        _as_rows(out, prep.perm)
        return out, order

    def _parallel(self, args: list[Any], order: np.ndarray, k: int, out: DwellingResult) -> None:
        """The dwellings ``order`` in slices, each taken by the next free thread (dwellings differ in
        their number of candidates); each slice writes its own dwellings' outputs."""
        m = len(order)
        threads = min(self.threads, max(1, m))
        call = [*args, order, None, np.int64(k)]
        pieces = threads * SLICES_PER_THREAD if threads > 1 else 1
        cuts = sorted({round(i * m / pieces) for i in range(pieces + 1)})
        slices = list(itertools.pairwise(cuts)) or [(0, 0)]
        kernel = self.kernel
        call_kernel(
            self.module,
            kernel,
            lambda: threaded_map(lambda ab: kernel(*call, ab[0], ab[1], *_fields(out)), slices, threads),
        )


def commune_index(
    lists: np.ndarray, width: int, perm: np.ndarray, size: int, threads: int
) -> tuple[np.ndarray, ...]:
    """The inverted index by commune of a list-of-communes column (``width`` codes per row,
    flattened), rows visited in the order ``perm`` (the tie-break order). For commune code c,
    entries ``ptr[c]:ptr[c + 1]`` are the rows listing it, each once, in that order: ``rows[t]`` the
    row, ``ranks[t]`` its place in ``perm``, ``pos[t]`` where it lists c first (0 = first wish).

    The lists are first copied in tie-break order (one gather), so that both passes of the counting
    sort read them in sequence; each pass is split into ``threads`` consecutive slices of ``perm``:
    slice k fills each commune's entries after those of slices 0..k-1, so the index is the same
    whatever the number of threads."""
    n = len(perm)
    lists = np.take(lists.reshape(n, width), perm, axis=0).reshape(-1) if n else lists
    cuts = [round(k * n / threads) for k in range(threads + 1)]
    counts = np.zeros((threads, size), np.int64)
    w, s = np.int64(width), np.int64(size)
    slices = list(range(threads))
    threaded_map(lambda k: index_count(lists, w, s, cuts[k], cuts[k + 1], counts[k]), slices, threads)
    ptr = np.zeros(size + 1, np.int64)
    np.cumsum(counts.sum(axis=0), out=ptr[1:])
    starts = ptr[:-1] + np.cumsum(counts, axis=0) - counts  # where slice k starts in each commune
    entries = int(ptr[size])
    rows, ranks, pos = np.empty(entries, np.int32), np.empty(entries, np.int32), np.empty(entries, np.int8)
    threaded_map(
        lambda k: index_fill(lists, w, perm, s, cuts[k], cuts[k + 1], starts[k], rows, ranks, pos),
        slices,
        threads,
    )
    return ptr, rows, ranks, pos


def _in_index_order(a: np.ndarray | None, where: np.ndarray, n: int) -> np.ndarray | None:
    """``a`` (one value per application, or a flattened rows x width matrix) gathered in the order
    of the inverted index: entry t is the candidate ``where[t]``."""
    if a is None:
        return None
    if n and a.shape[0] != n:  # a list of communes, flattened: whole rows
        return np.take(a.reshape(n, -1), where, axis=0).reshape(-1)
    return np.take(a, where)


def _revisited(dkey: np.ndarray, indexed: bool) -> bool:
    """Whether the candidate lists are read often enough (several dwellings per commune, or without
    an index several dwellings) to pay for copying the application columns into the candidates'
    order first (a pool that ranks a second batch of dwellings makes the copy anyway: it is kept
    for the next batches)."""
    if not indexed:
        return len(dkey) >= MAJOR_FROM
    present = dkey[dkey >= 0]
    return len(present) >= MAJOR_FROM * max(1, len(np.unique(present)))


def _as_rows(out: DwellingResult, perm: np.ndarray) -> None:
    """The kernel keeps tie-break ranks: turn them into rows of the applications as given."""
    kept = out.rows >= 0
    out.rows[kept] = perm[out.rows[kept]]


def _fields(out: DwellingResult) -> tuple[np.ndarray, ...]:
    return out.rows, out.total, out.eligible, out.excluded, out.already


def compile_pairs(
    grid: ir.Grid, cache_dir: str | os.PathLike[str] | None = None, *, parallel: bool = True
) -> CompiledPairs:
    """Generate, write (once) and load the pair kernel of ``grid`` (which has a match part)."""

    def build() -> CompiledPairs:
        src = generate_pair_source(grid)
        return CompiledPairs(grid, src, load_module(src.text, cache_directory(cache_dir)), parallel)

    return ir.per_grid(_COMPILED, grid, build, str(cache_directory(cache_dir)), parallel)


_COMPILED: dict[Any, CompiledPairs] = {}  # per live grid object: the source is generated once

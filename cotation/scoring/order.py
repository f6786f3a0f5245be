"""Stable orders of applications by integer keys, then by id: the tie-break order of the pair engine
and the ranks of :class:`cotation.scoring.scores.Scores` from the compiled engine.

Each integer key becomes a digit (:func:`cotation.scoring.reference._digit`: its rank in the present
values' span, missing values last, descending keys reversed) and the digits are packed, most
significant first, into one non-negative int64 (None when they do not fit: the callers then use
the NumPy or Arrow definition). A least-significant-digit radix sort orders the packed key
(:func:`cotation.codegen.helpers._radix_order`, stable, one to four passes of at most 16 bits), and
runs of equal keys are sorted by id in code-point order, comparing the first 16 UTF-8 bytes of the
ids as two integers (:func:`cotation.codegen.helpers._sort_text_runs`). The results are tested equal to
:func:`cotation.scoring.reference.lexsort_order` and :func:`cotation.match.pool.arrow_tie_order`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..grid import ir
from .reference import _digit, _integer, pack_digits, rank_of, ranks_of_order

Key = tuple[np.ndarray, "np.ndarray | None", bool]  # (values, valid or None, descending)

# From this many rows the callers use the packed keys: below, NumPy and Arrow take a few
# milliseconds, while the first use of the Numba sorts on a machine compiles them (about 2 s, then
# cached on disk), which a notebook scoring a thousand applications should not pay.
PACKED_FROM = 50_000


def packed_order(n: int, keys: list[Key], ids: Any, ids_descending: bool = False) -> np.ndarray | None:
    """Rows ``0..n-1`` ordered by ``keys`` (most significant first), then by ``ids`` (unique
    strings, an Arrow array: :meth:`cotation.data.batch.Batch.id_strings`; None: then by row); None when
    the keys' digits do not pack into one int64, or the ids are not a ``string`` array (over 2 GB
    of them: ``large_string``)."""
    from ..codegen.helpers import _radix_order, _sort_text_runs, _text_words

    words = pack_digits(n, [_digit(values.astype(np.int64), valid, desc) for values, valid, desc in keys])
    if words is None or len(words) > 1:
        return None
    prefix, scale = words[0]
    order = np.empty(n, np.int64)
    ordered = _radix_order(prefix, np.int64(max(1, (scale - 1).bit_length())), order)
    if ids is None or n < 2:
        return order
    import pyarrow as pa

    if ids.type != pa.string():
        return None
    offsets = np.frombuffer(ids.buffers()[1], np.int32, n + 1, ids.offset * 4)
    data = ids.buffers()[2]
    data = np.frombuffer(data, np.uint8) if data is not None and data.size else np.zeros(1, np.uint8)
    w0, w1 = np.empty(n, np.uint64), np.empty(n, np.uint64)
    _text_words(offsets, data, w0, w1)
    k0, k1 = w0[order], w1[order]  # in the order's sequence: the run sorts read them contiguously
    _sort_text_runs(ordered, k0, k1, order, ids_descending, offsets, data)
    return order


def tie_keys(grid: ir.Grid, batch: Any) -> tuple[list[Key], bool | None] | None:
    """The grid's tie-breaks as integer keys up to the id, and the id's direction (None: no id
    key); None when a key before the id is not an integer column. Keys after the id never decide
    (ids are unique)."""
    keys: list[Key] = []
    id_field = grid.catalogue.id_field.name
    for tb in grid.tie_break:
        if tb.field == id_field:
            return keys, tb.descending
        col = batch.column(tb.field)
        if not _integer(col.values.dtype):
            return None
        keys.append((col.values, col.valid, tb.descending))
    return keys, None


def tie_order(grid: ir.Grid, batch: Any, *, packed_from: int = PACKED_FROM) -> np.ndarray | None:
    """The rows in the order of the grid's tie-breaks alone, or None: below ``packed_from`` rows,
    or when the keys do not pack (see :func:`tie_keys`)."""
    found = tie_keys(grid, batch) if len(batch) >= packed_from else None
    if found is None:
        return None
    keys, id_desc = found
    return packed_order(len(batch), keys, None if id_desc is None else batch.id_strings(), bool(id_desc))


def scores_rank(grid: ir.Grid, batch: Any, total: np.ndarray, tier: np.ndarray, *,
                packed_from: int = PACKED_FROM) -> np.ndarray:
    """:func:`cotation.scoring.reference.rank_of` (1 = best: tier, total, then the tie-breaks), by the
    packed keys when there are ``packed_from`` rows or more and the keys fit, else by the
    reference itself."""
    found = tie_keys(grid, batch) if len(total) >= packed_from else None
    order = None
    if found is not None:
        keys, id_desc = found
        keys = [(np.asarray(tier), None, True), (np.asarray(total), None, True), *keys]
        order = packed_order(len(total), keys, None if id_desc is None else batch.id_strings(), bool(id_desc))
    return rank_of(grid, batch, total, tier) if order is None else ranks_of_order(order)

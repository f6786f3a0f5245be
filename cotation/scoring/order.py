"""Stage 4 (scoring): every order of applications: the ranks of
:class:`~cotation.scoring.scores.Scores` (tier, total, then the grid's tie-breaks) and the
tie-break order alone (the pair engine's).

The definitions: one stable NumPy lexsort over every key and its missing flag (:func:`lexsort_order`,
any column type), and one Arrow multi-key sort for the tie-breaks (:func:`arrow_tie_order`). When
every key is an integer column or the id, faster equivalents, tested equal to them:

- :func:`rank_of` packs the keys as digits (:func:`digit`: the rank in the present values' span,
  missing values last, descending keys reversed) into one or two 63-bit words (:func:`pack_digits`)
  and sorts those, the ids by an Arrow sort;
- from ``PACKED_FROM`` rows, :func:`packed_order` packs the keys before the id into one int64,
  orders it by a least-significant-digit radix sort (:func:`cotation.codegen.helpers.radix_order`,
  stable, one to four passes of at most 16 bits), then sorts each run of equal keys by id in
  code-point order, comparing the first 16 UTF-8 bytes of the ids as two integers
  (:func:`cotation.codegen.helpers.sort_text_runs`): the compiled engine's ranks
  (:func:`scores_rank`) and the tie-break order (:func:`tie_order`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..grid import ir

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
    from ..codegen.helpers import radix_order, sort_text_runs, text_words

    words = pack_digits(n, [digit(values.astype(np.int64), valid, desc) for values, valid, desc in keys])
    if words is None or len(words) > 1:
        return None
    prefix, scale = words[0]
    order = np.empty(n, np.int64)
    ordered = radix_order(prefix, np.int64(max(1, (scale - 1).bit_length())), order)
    if ids is None or n < 2:
        return order
    import pyarrow as pa

    if ids.type != pa.string():
        return None
    offsets = np.frombuffer(ids.buffers()[1], np.int32, n + 1, ids.offset * 4)
    data = ids.buffers()[2]
    data = np.frombuffer(data, np.uint8) if data is not None and data.size else np.zeros(1, np.uint8)
    w0, w1 = np.empty(n, np.uint64), np.empty(n, np.uint64)
    text_words(offsets, data, w0, w1)
    k0, k1 = w0[order], w1[order]  # in the order's sequence: the run sorts read them contiguously
    sort_text_runs(ordered, k0, k1, order, ids_descending, offsets, data)
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
        if not integer_dtype(col.values.dtype):
            return None
        keys.append((col.values, col.valid, tb.descending))
    return keys, None


def packed_tie_order(grid: ir.Grid, batch: Any, *, packed_from: int = PACKED_FROM) -> np.ndarray | None:
    """The rows in the order of the grid's tie-breaks alone, or None: below ``packed_from`` rows,
    or when the keys do not pack (see :func:`tie_keys`)."""
    found = tie_keys(grid, batch) if len(batch) >= packed_from else None
    if found is None:
        return None
    keys, id_desc = found
    return packed_order(len(batch), keys, None if id_desc is None else batch.id_strings(), bool(id_desc))


def scores_rank(
    grid: ir.Grid, batch: Any, total: np.ndarray, tier: np.ndarray, *, packed_from: int = PACKED_FROM
) -> np.ndarray:
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


def tie_order(grid: ir.Grid, batch: Any) -> np.ndarray:
    """Rows in the order of the grid's tie-breaks only (the first row wins any tie): missing values
    last, ids in code-point order, as Python sorts strings. From ``order.PACKED_FROM`` rows, when the
    keys before the id are integer columns (dates, counts, codes), by packed keys and a radix sort
    (:func:`packed_tie_order`); otherwise by one Arrow multi-key sort
    (:func:`arrow_tie_order`, the definition, tested equal)."""
    if len(batch) == 0:
        return np.zeros(0, dtype=np.int64)
    order = packed_tie_order(grid, batch)
    return arrow_tie_order(grid, batch) if order is None else order


def arrow_tie_order(grid: ir.Grid, batch: Any) -> np.ndarray:
    """:func:`tie_order` by one Arrow sort over every key (any column type)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..data.buffers import from_numpy, values

    if len(batch) == 0:
        return np.zeros(0, dtype=np.int64)
    columns, keys = {}, []
    for j, tb in enumerate(grid.tie_break):
        if tb.field == grid.catalogue.id_field.name:
            columns[f"k{j}"] = batch.id_strings()
        else:
            col = batch.column(tb.field)
            columns[f"k{j}"] = from_numpy(col.values, None if col.valid is None else ~col.valid)
        keys.append((f"k{j}", "descending" if tb.descending else "ascending", "at_end"))
    return values(pc.sort_indices(pa.table(columns), sort_keys=keys)).astype(np.int64)


# -- the definitions: NumPy lexsort, digits packed into int64 words, Arrow's sort of the ids -----------------
def _string_ranks(ids: Any) -> np.ndarray:
    """The position of each id (an Arrow string array: ``Batch.id_strings()``) in sorted order (ids
    are unique: the readers reject duplicates).

    Code-point order, as Python sorts strings; Arrow's sort is ~3x faster than NumPy's on text."""
    import pyarrow.compute as pc

    from ..data.buffers import values

    order = values(pc.sort_indices(ids))
    ranks = np.empty(len(ids), dtype=np.int64)
    ranks[order] = np.arange(len(ids))
    return ranks


def rank_of(grid: ir.Grid, batch: object, total: np.ndarray, tier: np.ndarray) -> np.ndarray:
    """Rank (1 = best): tier desc, total desc, then the grid's tie-breaks (missing values last, then
    the row order)."""
    order = _composite_order(grid, batch, total, tier)
    return ranks_of_order(lexsort_order(grid, batch, total, tier) if order is None else order)


def ranks_of_order(order: np.ndarray) -> np.ndarray:
    """Rank (1 = first) of each row, from the rows in ranking order."""
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    return rank


_WORD = 2**62  # a composite key stays below this


def _composite_order(grid: ir.Grid, batch: object, total: np.ndarray, tier: np.ndarray) -> np.ndarray | None:
    """The order of :func:`lexsort_order` from one or two int64 keys, when every tie-break is an
    integer column or the id (None otherwise): each key becomes a digit ``0 <= code < radix`` (missing
    values the last digit), and the digits are packed most significant first into as few 63-bit
    words as they fit. Ranking 1M rows takes ~0.2 s instead of ~0.34 s with the lexsort (most of it
    is now the Arrow sort of the ids)."""
    n = len(total)
    if n == 0:
        return None
    id_field = grid.catalogue.id_field.name
    columns = {
        tb.field: batch.column(tb.field)  # type: ignore[attr-defined]
        for tb in grid.tie_break
        if tb.field != id_field
    }
    if not all(integer_dtype(col.values.dtype) for col in columns.values()):
        return None  # decided before the ids are sorted, so that they are never sorted twice
    digits = [digit(tier.astype(np.int64), None, True), digit(total.astype(np.int64), None, True)]
    unique = False  # a key that differs on every row: no tie is left for the row order to break
    for tb in grid.tie_break:
        if tb.field == id_field:
            ranks = _string_ranks(batch.id_strings())  # type: ignore[attr-defined]
            digits.append((n - 1 - ranks if tb.descending else ranks, n))
            unique = True
        else:
            col = columns[tb.field]
            digits.append(digit(col.values.astype(np.int64), col.valid, tb.descending))
    packed = pack_digits(n, digits)
    if packed is None:
        return None
    words = [word for word, _ in packed]
    if len(words) == 1:
        return np.argsort(words[0], kind="quicksort" if unique else "stable")
    return np.lexsort(words)  # stable; words least significant first


def pack_digits(n: int, digits: list[tuple[np.ndarray, int] | None]) -> list[tuple[np.ndarray, int]] | None:
    """Digits (``0 <= code < radix``, most significant first) packed into as few int64 words below
    ``_WORD`` as they fit: ``(word, scale)`` pairs, least significant word first, ``scale`` the
    product of the word's radixes. None when a digit is None (its key does not fit)."""
    present = [d for d in digits if d is not None]
    if len(present) < len(digits):
        return None
    words, word, scale = [], np.zeros(n, np.int64), 1
    for code, radix in reversed(present):  # least significant first
        if scale * radix >= _WORD:
            words.append((word, scale))
            word, scale = np.zeros(n, np.int64), 1
        word += code * np.int64(scale)
        scale *= radix
    words.append((word, scale))
    return words


def integer_dtype(dtype: np.dtype) -> bool:
    """Whether int64 holds every value of ``dtype`` exactly (booleans, signed and small unsigned)."""
    return dtype.kind in "ib" or (dtype.kind == "u" and dtype.itemsize < 8)


def digit(values: np.ndarray, valid: np.ndarray | None, descending: bool) -> tuple[np.ndarray, int] | None:
    """An integer key as a digit: its rank among the present values' span, missing values last."""
    present = values if valid is None else values[valid]
    lo, hi = (int(present.min()), int(present.max())) if len(present) else (0, 0)
    radix = hi - lo + 2  # the last digit: missing
    if radix >= _WORD:
        return None
    code = hi - values if descending else values - lo
    return (code if valid is None else np.where(valid, code, radix - 1)), radix


def lexsort_order(grid: ir.Grid, batch: object, total: np.ndarray, tier: np.ndarray) -> np.ndarray:
    """The ranking order by one stable NumPy lexsort over tier, total and every tie-break key and its
    missing flag: the definition (any column type), and the oracle of the composite keys."""
    keys: list[np.ndarray] = []
    for tb in reversed(grid.tie_break):
        if tb.field == grid.catalogue.id_field.name:
            key = _string_ranks(batch.id_strings())  # type: ignore[attr-defined]
            missing = np.zeros(len(key), dtype=bool)
        else:
            col = batch.column(tb.field)  # type: ignore[attr-defined]
            key = col.values.astype(np.float64)
            missing = ~col.valid if col.valid is not None else np.zeros(len(key), dtype=bool)
            key = np.where(missing, 0.0, key)  # a missing cell's stored value means nothing
        keys += [-key if tb.descending else key, missing]  # missing values sort last
    keys += [-total, -tier]
    return np.lexsort(keys) if len(total) else np.zeros(0, dtype=np.int64)

"""Stage 2 (data): Arrow <-> NumPy through the arrays' buffers, without pyarrow's pandas layer.

pyarrow converts Python and NumPy values through its pandas compatibility layer, which imports
pandas when it is installed: ``Array.to_numpy``, ``np.asarray(array)``, ``pa.array``, ``pa.scalar``,
``fill_null(0)`` and a Python scalar handed to a compute function (``pc.equal(a, "")``) all do. That
import costs about 0.15 s, a third of a warm start (new process, cached grid). The readers of
:mod:`cotation.data.batch` use these functions instead, so that reading a Parquet or CSV file and scoring
it never imports pandas (``tests/test_buffers.py`` checks it in a new process).

They handle the types the readers meet after normalisation: booleans, fixed-width integers and
floats (dates and timestamps through ``Array.view``), strings (from and to Python strings), and
the validity bitmap of any array, the offsets and bytes of a string array (:func:`text_bytes`,
from which the readers' fast paths check and parse whole columns); the writers
(``Scores.to_arrow``, ``Ranking.to_arrow``, ``Batch.to_arrow``, hence the CLI's outputs) use them too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = [
    "NO_IDS",
    "from_numpy",
    "held_ids",
    "made_ids",
    "null_scalar",
    "objects",
    "strings",
    "table",
    "text_bytes",
    "texts",
    "valid",
    "values",
]

OBJECT_SLICE = 1 << 16  # cells made into Python strings at a time (see objects)
NO_IDS = np.empty(0, object)  # the ``ids`` passed to a constructor when they are held as Arrow's
_NUMPY: dict[pa.DataType, type] = {
    pa.int8(): np.int8,
    pa.int16(): np.int16,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.uint8(): np.uint8,
    pa.uint16(): np.uint16,
    pa.uint32(): np.uint32,
    pa.uint64(): np.uint64,
    pa.float32(): np.float32,
    pa.float64(): np.float64,
}
_ARROW: dict[np.dtype, pa.DataType] = {np.dtype(v): k for k, v in _NUMPY.items()}
MAX_STRING_BYTES = 2**31 - 1  # what 32-bit offsets address


def bits(buffer: pa.Buffer, offset: int, n: int) -> np.ndarray:
    """``n`` bits of an Arrow bitmap (least significant bit first) from bit ``offset``, as booleans."""
    if n == 0:
        return np.zeros(0, np.bool_)
    raw = np.frombuffer(buffer, np.uint8, count=(offset + n + 7) // 8)
    return np.unpackbits(raw, count=offset + n, bitorder="little")[offset:].view(np.bool_)


def valid(arr: pa.Array) -> np.ndarray:
    """Where ``arr`` holds a value (not null), as a boolean NumPy array."""
    n, nulls = len(arr), arr.null_count
    if nulls == 0:
        return np.ones(n, np.bool_)
    if nulls == n:
        return np.zeros(n, np.bool_)
    return bits(arr.buffers()[0], arr.offset, n)


def values(arr: pa.Array, fill: int | float | bool | None = 0) -> np.ndarray:
    """The values of a boolean or fixed-width numeric array, nulls as ``fill`` (a read-only view of
    the Arrow memory when there are no nulls). ``fill=None``: the values as stored, also under the
    nulls, where Arrow leaves them undefined (a view still): for callers that mask the null cells
    themselves, one pass over the column less."""
    t, n = arr.type, len(arr)
    if pa.types.is_boolean(t):
        out = bits(arr.buffers()[1], arr.offset, n)  # a copy
    elif t in _NUMPY:
        dtype = np.dtype(_NUMPY[t])
        out = np.zeros(0, dtype)
        if n:
            out = np.frombuffer(arr.buffers()[1], dtype, n, arr.offset * dtype.itemsize)
        out.flags.writeable = False  # a view: Arrow data is immutable
    else:
        raise TypeError(f"no NumPy values for Arrow type {t}")
    if fill is None or not arr.null_count:
        return out
    return np.where(valid(arr), out, fill).astype(out.dtype, copy=False)


def text_bytes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of a ``string`` array: cell ``i`` is ``bytes[offsets[i]:offsets[i + 1]]``
    (read-only views of the Arrow memory; ``len(arr) + 1`` offsets)."""
    if not pa.types.is_string(arr.type):
        raise TypeError(f"no text bytes for Arrow type {arr.type}")
    _, offsets_buffer, data_buffer = arr.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int32, len(arr) + 1, arr.offset * 4)
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    return offsets, data


def from_numpy(data: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """A one-dimensional boolean or fixed-width numeric NumPy array as an Arrow array, null where
    ``missing`` is true."""
    data = np.ascontiguousarray(data)
    n = len(data)
    validity = None
    if missing is not None and missing.any():
        validity = pa.py_buffer(np.packbits(~np.asarray(missing, np.bool_), bitorder="little"))
    if data.dtype == np.bool_:
        packed = pa.py_buffer(np.packbits(data, bitorder="little"))
        return pa.Array.from_buffers(pa.bool_(), n, [validity, packed])
    if data.dtype not in _ARROW:
        raise TypeError(f"no Arrow type for NumPy dtype {data.dtype}")
    return pa.Array.from_buffers(_ARROW[data.dtype], n, [validity, pa.py_buffer(data)])


def strings(items: Sequence[str | None] | np.ndarray) -> pa.Array:
    """Python strings (a list or an object or unicode array; None for null) as an Arrow string
    array, as fast as ``pa.array`` on ASCII text (one join, one encode); ``large_string`` (64-bit
    offsets) beyond ``MAX_STRING_BYTES`` of text, where ``pa.array`` would make a chunked array."""
    cells: list[Any] = items.tolist() if isinstance(items, np.ndarray) else list(items)
    missing = None
    try:
        text = "".join(cells)
    except TypeError:  # a None (or not a string: then the second join raises)
        missing = np.fromiter((s is None for s in cells), np.bool_, len(cells))
        cells = ["" if s is None else s for s in cells]
        text = "".join(cells)
    if text.isascii():
        data = text.encode("ascii")
        lengths = np.fromiter(map(len, cells), np.int64, len(cells))
    else:
        encoded = [s.encode("utf-8") for s in cells]
        data = b"".join(encoded)
        lengths = np.fromiter(map(len, encoded), np.int64, len(cells))
    large = len(data) > MAX_STRING_BYTES
    offsets = np.zeros(len(cells) + 1, np.int64 if large else np.int32)
    np.cumsum(lengths, out=offsets[1:], dtype=offsets.dtype)
    validity = pa.py_buffer(np.packbits(~missing, bitorder="little")) if missing is not None else None
    buffers = [validity, pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.large_string() if large else pa.string(), len(cells), buffers)


def null_scalar(type_: pa.DataType) -> pa.Scalar:
    """A null scalar of ``type_``."""
    return pa.nulls(1, type_)[0]


def texts(arr: pa.Array, fill: str = "") -> list[str]:
    """The cells of a string array as Python strings, nulls as ``fill``."""
    items = arr.to_pylist()
    return [fill if s is None else s for s in items] if arr.null_count else items


def objects(arr: pa.Array, fill: str = "") -> np.ndarray:
    """:func:`texts` as a NumPy object array (how batches hold their ids). Made in slices of
    OBJECT_SLICE cells: making Python strings holds the GIL, and between slices the other threads
    get it back (reading a file, the conversions of the other columns go on meanwhile)."""
    out = np.empty(len(arr), object)
    for start in range(0, len(arr), OBJECT_SLICE):
        out[start : start + OBJECT_SLICE] = texts(arr.slice(start, OBJECT_SLICE), fill)
    return out


def held_ids(instance: Any) -> Any:
    """The ids of a ``Batch`` or ``Scores`` as held: its ``ids`` once made, else the Arrow string
    array ``_id_strings`` they are made from on first use (:func:`made_ids`)."""
    held = instance.__dict__
    return held["ids"] if "ids" in held else held["_id_strings"]


def made_ids(instance: Any, name: str) -> np.ndarray:
    """``__getattr__`` of ``Batch`` and ``Scores``: ``ids``, when held as Arrow strings (an instance
    without ``ids`` in its ``__dict__``), made once into a read-only object array and kept."""
    held = instance.__dict__
    if name != "ids" or "_id_strings" not in held or held["_id_strings"] is None:
        raise AttributeError(f"'{type(instance).__name__}' object has no attribute '{name}'")
    ids = objects(held["_id_strings"])
    ids.flags.writeable = False
    held["ids"] = ids
    return ids


def table(columns: Mapping[str, np.ndarray]) -> pa.Table:
    """A table of one-dimensional NumPy columns: object or unicode arrays of strings become string
    columns, the others :func:`from_numpy` (what ``pa.table(columns)`` makes, without pandas)."""
    arrays = [strings(v) if v.dtype.kind in "OU" else from_numpy(v) for v in columns.values()]
    return pa.Table.from_arrays(arrays, names=list(columns))

"""Stage 2 (data): text as French office software writes it: encodings, delimiters, dates, numbers.

Exports of housing-office software and of the SNE tools are ``;``-separated, with decimal commas,
``dd/mm/yyyy`` dates and often cp1252 text. This module reads them without guessing:

* **Encoding** (:func:`decode`): UTF-8 with or without BOM, UTF-16 with a BOM, else cp1252 (which
  covers latin-1 as French software writes it), when every non-ASCII character it decodes to is
  one French text uses. A file that is neither, or that does not decode in the ``encoding`` the
  caller gave, is an error (D120) naming the line, the column and the byte, never mis-decoded.
* **Delimiter** (:func:`delimiter`): ``,``, ``;`` or tab, the most frequent in the header line; a
  tie is an error (D126).
* **Cells over 1 MiB** (pyarrow's block size) are an error (D121) naming the row and the column.
* **Dates** (:func:`parse_dates`): ISO ``yyyy-mm-dd`` and French ``dd/mm/yyyy`` (one column may mix
  both), each optionally followed by a midnight time (``00:00`` or ``00:00:00``). A two-digit year
  or a month-first date (``12/31/2024``) is ambiguous: D122, saying how to write it.
* **Numbers** (:func:`parse_numbers`): ``.`` or ``,`` as decimal separator, spaces (also no-break
  and narrow no-break spaces) between thousands, ``.`` between thousands only before a decimal
  comma (``1.234,50``). A column with decimal commas in which a cell holds a ``.`` (``1.234``:
  1234 or 1.234?) is ambiguous: D123.

Every parser works on whole Arrow columns (``pyarrow.compute``), never cell by cell.
"""

from __future__ import annotations

import codecs
import csv
import os
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DataError, DataProblem
from .buffers import from_numpy, null_scalar, text_bytes, valid
from .buffers import values as numbers

__all__ = [
    "Decoded",
    "Parsed",
    "decode",
    "delimiter",
    "parse_dates",
    "parse_numbers",
    "plain",
    "read_csv_bytes",
    "read_csv_file",
]

FILE_COLUMN = "<file>"
BLOCK_BYTES = 1 << 20  # pyarrow's CSV block: no row (hence no cell) may be longer
STREAM_FROM_BYTES = 1 << 26  # a UTF-8 CSV file this big is checked piece by piece, then read by Arrow
STREAM_BYTES = 1 << 24  # ... in pieces of this size
UTF8_BOM = codecs.BOM_UTF8
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# The non-ASCII characters French text holds; cp1252 decoding to anything else is not French text.
FRENCH = frozenset(
    "àâäçéèêëîïôöùûüÿœæÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆ«»€°„…•·²³µ§ñÑáíóúÁÍÓÚãõÃÕøØåÅß÷±¼½¾©®™¨ªº¹"
    "\u2019\u2018\u201c\u201d\u2013\u2014\u00d7\u00b4\u00b8\u00a0\u202f"  # quotes, dashes, x, accents, spaces
)
DELIMITERS = (",", ";", "\t")
MIDNIGHT_RE = r"[ T]00:00(:00(\.0+)?)?$"
ISO_RE = r"^(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})$"
FRENCH_RE = r"^(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})$"
SHORT_YEAR_RE = r"^\d{1,2}/\d{1,2}/\d{2}$"
DOT_NUMBER_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
# decimal comma, optional thousands separated by spaces (or by '.' when a decimal comma follows)
COMMA_NUMBER_RE = r"^[+-]?(\d+(,\d+)?|\d{1,3}([ \x{a0}\x{202f}]\d{3})+(,\d+)?|\d{1,3}(\.\d{3})+,\d+)$"


def plain(name: str) -> str:
    """``name`` without case, accents, spaces or punctuation: ``Date_Dépôt`` -> ``datedepot``."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in decomposed if c.isalnum())


# --------------------------------------------------------------------------------------------
# Bytes -> UTF-8 text
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decoded:
    """A file's bytes re-encoded as UTF-8 without BOM, and the encoding they were read in."""

    data: bytes
    encoding: str  # 'utf-8', 'utf-8-sig', 'utf-16', 'cp1252' or what the caller gave
    start: int = 0  # where the text begins in ``data`` (after a UTF-8 BOM, not copied away)


def decode(data: bytes, source: str, encoding: str | None = None) -> Decoded:
    """``data`` as UTF-8: in ``encoding`` when given, else detected (see the module docstring)."""
    if encoding is not None:
        return _decode_as(data, source, _codec_name(encoding, source))
    if data.startswith(UTF8_BOM):
        return Decoded(_utf8(data, source, len(UTF8_BOM)), "utf-8-sig", len(UTF8_BOM))
    if data.startswith(UTF16_BOMS):
        return _decode_as(data, source, "utf-16")
    try:
        if not data.isascii():  # ASCII is UTF-8: no decoded copy of the text
            data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Decoded(_cp1252(data, source, exc), "cp1252")
    _refuse_binary(data, source)
    return Decoded(data, "utf-8")


def _codec_name(encoding: str, source: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise _problem(
            "D120", FILE_COLUMN, f"unknown encoding '{encoding}' (try utf-8, cp1252 or latin-1)", source
        ) from None


def _decode_as(data: bytes, source: str, codec: str) -> Decoded:
    if codec in ("utf-8", "utf-8-sig"):
        skip = len(UTF8_BOM) if data.startswith(UTF8_BOM) else 0
        return Decoded(_utf8(data, source, skip), codec, skip)
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise _undecodable(data, source, exc, f"is not {codec}", "give the file's --encoding") from None
    return Decoded(text.lstrip("\ufeff").encode("utf-8"), codec)


def _utf8(data: bytes, source: str, offset: int) -> bytes:
    """``data`` when its bytes from ``offset`` are UTF-8 (not copied: ``offset`` skips a BOM)."""
    try:
        if not _ascii(data, offset):
            codecs.utf_8_decode(memoryview(data)[offset:], "strict", True)
    except UnicodeDecodeError as exc:
        hint = "--encoding cp1252 if the file comes from Windows software"
        raise _undecodable(data[offset:], source, exc, "is not UTF-8", hint, offset) from None
    _refuse_binary(data[offset:] if offset and b"\x00" in data else data, source)
    return data


def _ascii(data: bytes, offset: int) -> bool:
    """Whether the bytes of ``data`` from ``offset`` are ASCII (without copying them)."""
    if not offset:
        return data.isascii()
    return bool(len(data) <= offset or np.frombuffer(data, np.uint8, offset=offset).max() < 128)


def _cp1252(data: bytes, source: str, utf8_error: UnicodeDecodeError) -> bytes:
    """The text of a file that is not UTF-8, when it is French text in cp1252 (or latin-1)."""
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = ""
    odd = sorted({c for c in text if c >= "\x80" and c not in FRENCH}) if text else ["?"]
    if odd:
        hint = "give the file's --encoding (utf-8, cp1252, latin-1, mac_roman, cp850...)"
        raise _undecodable(data, source, utf8_error, "is neither UTF-8 nor French text in cp1252", hint)
    _refuse_binary(data, source)
    return text.encode("utf-8")


def _refuse_binary(data: bytes, source: str) -> None:
    at = data.find(b"\x00")
    if at >= 0:
        line, _ = _line_of(data, at)
        message = (
            f"NUL byte at line {line}: not a text file (a UTF-16 file without BOM, or a binary file); "
            "export it as CSV in UTF-8, or give its --encoding"
        )
        raise _problem("D120", FILE_COLUMN, message, source)


def _undecodable(
    data: bytes, source: str, exc: UnicodeDecodeError, what: str, hint: str, offset: int = 0
) -> DataError:
    """D120 at the first bad byte: its line, the column it falls in, the byte."""
    at = exc.start
    line, start = _line_of(data, at)
    header = data[: data.find(b"\n")] if b"\n" in data else data
    names = _header_names(header.decode("latin-1").lstrip("\ufeff\xef\xbb\xbf"))
    sep = delimiter_of(header.decode("latin-1"))
    index = data[start:at].decode("latin-1").count(sep) if sep else 0
    column = names[index] if index < len(names) else FILE_COLUMN
    snippet = data[start : min(len(data), at + 20)].split(b"\n")[0].decode("latin-1")
    message = (
        f"the file {what}: byte 0x{data[at]:02x} at line {line}, byte {at + offset} of the file "
        f"(column '{column}'); {hint}"
    )
    rows = (f"ligne {line - 1}",) if line > 1 else ("en-tête",)
    return DataError([DataProblem("D120", column, message, rows, (snippet,), 1, None, source)])


def _line_of(data: bytes, at: int) -> tuple[int, int]:
    """(1-based line number, offset of that line's start) of byte ``at``."""
    return data.count(b"\n", 0, at) + 1, data.rfind(b"\n", 0, at) + 1


def _header_names(line: str) -> list[str]:
    sep = delimiter_of(line) or ","
    return next(csv.reader([line.rstrip("\r\n")], delimiter=sep), [])


# --------------------------------------------------------------------------------------------
# UTF-8 text -> an Arrow table of text columns
# --------------------------------------------------------------------------------------------


def delimiter_of(header: str) -> str | None:
    """The most frequent of ``,``, ``;`` and tab in ``header`` (None when tied or absent)."""
    counts = sorted(((header.count(d), d) for d in DELIMITERS), reverse=True)
    if counts[0][0] == 0 or counts[0][0] == counts[1][0]:
        return None
    return counts[0][1]


def delimiter(header: str, source: str) -> str:
    """The delimiter of a CSV file from its header line; D126 when it cannot be told."""
    found = delimiter_of(header)
    if found is not None:
        return found
    if not any(d in header for d in DELIMITERS):
        return ","  # a single column
    counts = ", ".join(f"{d!r} {header.count(d)}" for d in DELIMITERS)
    message = (
        f"cannot tell the delimiter from the header line ({counts}): use one of ',', ';' or tab "
        "between column names, and quote names that contain another"
    )
    raise _problem("D126", FILE_COLUMN, message, source)


def read_csv_file(path: str, source: str, encoding: str | None = None) -> pa.Table:
    """A CSV file as an Arrow table with every column as text: :func:`decode`, then
    :func:`read_csv_bytes`. A big file of UTF-8 text is checked piece by piece, then read by Arrow
    from the file (its bytes are never all in memory next to the table); any other file (or a problem
    found) goes through :func:`decode`, which says what is wrong."""
    start = _streamed_utf8(path, encoding)
    if start is None:
        with open(path, "rb") as file:
            held = [decode(file.read(), source, encoding)]
        return _read_csv(held, source)
    with open(path, "rb") as file:
        file.seek(start)
        first = file.readline()
    stream = pa.input_stream(path)
    stream.read(start)  # the BOM

    def whole() -> bytes:
        with open(path, "rb") as file:
            return file.read()[start:]

    return _arrow_csv(stream, first, source, whole)


def _streamed_utf8(path: str, encoding: str | None) -> int | None:
    """Where the text of a file of at least STREAM_FROM_BYTES begins (after a UTF-8 BOM) when it is
    UTF-8 (as :func:`decode` would read it, without a NUL byte) and its first line is shorter than a
    block; None otherwise (then :func:`decode` reads it, and reports any problem)."""
    if encoding is not None and _codec_name(encoding, path) not in ("utf-8", "utf-8-sig"):
        return None
    if os.path.getsize(path) < STREAM_FROM_BYTES:
        return None
    check = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as file:
        piece = file.read(STREAM_BYTES)
        if piece.startswith(UTF16_BOMS) and not piece.startswith(UTF8_BOM):
            return None
        start = len(UTF8_BOM) if piece.startswith(UTF8_BOM) else 0
        if b"\n" not in piece[start : start + BLOCK_BYTES]:
            return None
        piece = piece[start:]
        try:
            while piece:
                if b"\x00" in piece:
                    return None
                if not piece.isascii():
                    check.decode(piece)
                piece = file.read(STREAM_BYTES)
            check.decode(b"", True)
        except UnicodeDecodeError:
            return None
    return start


def read_csv_bytes(data: bytes, source: str, start: int = 0) -> pa.Table:
    """A UTF-8 CSV file (bytes from ``start``: after any BOM) as an Arrow table with every column as
    text."""
    return _read_csv([Decoded(data, "utf-8", start)], source)


def _read_csv(held: list[Decoded], source: str) -> pa.Table:
    """:func:`read_csv_bytes` of the one text in ``held``, taken out of it: when no one else holds
    its bytes, they are released as soon as Arrow has read them."""
    decoded = held.pop()
    data, start = decoded.data, decoded.start
    del decoded
    end = data.find(b"\n", start)
    first = data[start:] if end < 0 else data[start:end]
    body = pa.py_buffer(data)
    reader = pa.BufferReader(body.slice(start) if start else body)  # no copy of the bytes after a BOM
    del body
    held_data = [data]
    del data

    def whole() -> bytes:
        return held_data[0][start:]

    try:
        return _arrow_csv(reader, first, source, whole, held_data)
    finally:
        held_data.clear()


def _arrow_csv(
    stream: pa.NativeFile,
    first: bytes,
    source: str,
    whole: Callable[[], bytes],
    release: list[bytes] | None = None,
) -> pa.Table:
    """The CSV text of ``stream`` (UTF-8, no BOM), whose first line is ``first``, as string columns
    (chunked as Arrow read them); ``whole()`` gives the text again (for a D121 error); ``release`` is
    emptied once Arrow has read the text."""
    import pyarrow.csv as pacsv

    header = first.decode("utf-8")
    if not header.strip():
        raise _problem("D108", FILE_COLUMN, "cannot read the file: empty file: no header line", source)
    sep = delimiter(header, source)
    names = next(csv.reader([header.rstrip("\r\n")], delimiter=sep))
    # binary, not string: the bytes are UTF-8 already (checked by decode or _streamed_utf8; a cell of
    # UTF-8 text split at ASCII delimiters is UTF-8), so Arrow need not validate them again
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.binary()),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    parse = pacsv.ParseOptions(delimiter=sep)
    read = pacsv.ReadOptions(block_size=BLOCK_BYTES)
    try:
        table = pacsv.read_csv(stream, read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        if "straddl" in str(exc):
            raise _big_cell(whole(), names, sep, source) from None
        raise
    finally:
        stream.close()
    if release is not None:
        release.clear()
    _check_cell_sizes(table, source)
    columns = [
        pa.chunked_array([chunk.view(pa.string()) for chunk in column.chunks], pa.string())
        for column in table.columns
    ]
    return pa.Table.from_arrays(columns, names=table.column_names)


def _check_cell_sizes(table: pa.Table, source: str) -> None:
    """D121 for every column holding a cell over BLOCK_BYTES (the first such row named)."""
    problems = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if all(_text_size(chunk) <= BLOCK_BYTES for chunk in column.chunks):  # no cell can be bigger
            continue
        lengths = numbers(pc.binary_length(column.combine_chunks()), 0)
        big = np.flatnonzero(lengths > BLOCK_BYTES)
        if len(big):
            row = int(big[0])
            message = (
                f"a cell of {int(lengths[row])} bytes (cells are limited to 1 MiB): check the export "
                "(an unclosed quote joins many rows into one cell)"
            )
            rows = tuple(f"ligne {int(i) + 1}" for i in big[:10])
            problems.append(DataProblem("D121", str(name), message, rows, (), len(big), None, source))
    if problems:
        raise DataError(problems)


def _text_size(chunk: pa.Array) -> int:
    """The bytes of text a binary or string chunk holds (from its first and last offsets)."""
    if len(chunk) == 0:
        return 0
    offsets = np.frombuffer(chunk.buffers()[1], np.int32, len(chunk) + 1, chunk.offset * 4)
    return int(offsets[-1]) - int(offsets[0])


def _big_cell(data: bytes, names: list[str], sep: str, source: str) -> DataError:
    """D121 at the first line longer than the block: its row and its longest cell's column."""
    raw = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(raw == ord("\n"))
    starts = np.concatenate([[0], ends + 1])
    stops = np.concatenate([ends, [len(data)]])
    long = np.flatnonzero(stops - starts > BLOCK_BYTES)
    line = int(long[0]) if len(long) else 0
    cells = data[starts[line] : stops[line]].split(sep.encode())
    index = int(np.argmax([len(c) for c in cells]))
    column = names[index] if index < len(names) else FILE_COLUMN
    size = len(cells[index])
    message = (
        f"a cell of {size} bytes at line {line + 1} (column '{column}'): cells are limited to 1 MiB; "
        "check the export (an unclosed quote joins many rows into one cell)"
    )
    return DataError([DataProblem("D121", column, message, (f"ligne {line}",), (), 1, None, source)])


def _problem(code: str, column: str, message: str, source: str) -> DataError:
    return DataError([DataProblem(code, column, message, source=source)])


# --------------------------------------------------------------------------------------------
# Cells -> values
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    """Values parsed from a text column: ``ok`` where a cell was read, and the ambiguous cells,
    each (code, message, mask), which are not ok either."""

    values: np.ndarray
    ok: np.ndarray
    ambiguous: tuple[tuple[str, str, np.ndarray], ...] = ()


def _mask(arr: pa.Array) -> np.ndarray:
    return numbers(arr, False)


def _only(ok: np.ndarray, arr: pa.Array) -> pa.Array:
    return pc.if_else(from_numpy(ok), arr, null_scalar(arr.type))


def _ints(arr: pa.Array) -> np.ndarray:
    return np.asarray(numbers(pc.cast(arr, pa.int64(), safe=False)), np.int64)


def parse_numbers(arr: pa.Array) -> Parsed:
    """Numbers of a text column, with ``.`` or ``,`` as decimal separator (see the module docstring)."""
    plain = _plain_decimals(arr)
    if plain is not None:  # the common case, told from the bytes: -?digits, one separator for the column
        return Parsed(plain, valid(arr))
    dot = _mask(pc.match_substring_regex(arr, DOT_NUMBER_RE))
    if dot.sum() == len(arr) - arr.null_count:  # the common case: every cell a plain number
        return Parsed(
            np.asarray(numbers(pc.cast(_only(dot, arr), pa.float64(), safe=False)), np.float64), dot
        )
    comma = ~dot & _mask(pc.match_substring_regex(arr, COMMA_NUMBER_RE))
    values = np.asarray(numbers(pc.cast(_only(dot, arr), pa.float64(), safe=False)), np.float64)
    ambiguous: tuple[tuple[str, str, np.ndarray], ...] = ()
    if comma.any():
        french = pc.replace_substring_regex(_only(comma, arr), r"[ .\x{a0}\x{202f}]", "")
        french = pc.replace_substring(french, ",", ".")
        values = np.where(comma, numbers(pc.cast(french, pa.float64(), safe=False)), values)
        decimal_comma = comma & _mask(pc.match_substring(arr, ","))
        has_dot = dot & _mask(pc.match_substring(arr, "."))
        if decimal_comma.any() and has_dot.any():
            example = arr[int(np.flatnonzero(decimal_comma)[0])].as_py()
            message = (
                f"'.' in a column whose other numbers have a decimal comma (e.g. '{example}'): "
                "'1.234' could be 1234 or 1.234; write every number of the column with a decimal comma "
                "and no '.' (or every one with a '.' decimal point)"
            )
            ambiguous = (("D123", message, has_dot),)
            dot = dot & ~has_dot
    return Parsed(values, dot | comma, ambiguous)


def _plain_decimals(arr: pa.Array) -> np.ndarray | None:
    """The numbers of a text column whose present cells all read ``-?\\d+`` or ``-?\\d+S\\d+``, with one
    decimal separator S (``.`` or ``,``) for the whole column, from its bytes (nulls as 0): a subset
    of what :func:`parse_numbers` reads, to the same values, with no ambiguity. None otherwise."""
    if not pa.types.is_string(arr.type) or len(arr) == arr.null_count:
        return None
    offsets, data = text_bytes(arr)
    lengths = np.diff(offsets)
    present = valid(arr)
    if (lengths[~present] != 0).any() or (lengths[present] == 0).any():
        return None
    text = data[offsets[0] : offsets[-1]]
    digit = (text - np.uint8(48)) <= 9
    first = np.zeros(len(text) + 1, bool)  # the first byte of a cell (and the end of the text)
    first[offsets[:-1][present] - offsets[0]] = True
    first[-1] = True
    minus = text == ord("-")
    separators = [c for c in (ord("."), ord(",")) if (text == c).any()]
    if len(separators) > 1 or (minus & ~first[:-1]).any():
        return None
    sep = text == separators[0] if separators else np.zeros(len(text), bool)
    if not (digit | minus | sep).all():
        return None
    at = np.flatnonzero(sep)  # a separator between two digits of its cell (two in a cell fail the cast)
    if len(at) and (first[at].any() or first[at + 1].any() or not (digit[at - 1] & digit[at + 1]).all()):
        return None
    cells = arr
    if separators == [ord(",")]:  # the same cells with '.' for ','
        points = data.copy()
        points[at + offsets[0]] = ord(".")
        validity, offsets_buffer, _ = arr.buffers()
        buffers = [validity, offsets_buffer, pa.py_buffer(points)]
        cells = pa.Array.from_buffers(pa.string(), len(arr), buffers, arr.null_count, arr.offset)
    try:
        return np.asarray(numbers(pc.cast(cells, pa.float64())), np.float64)
    except pa.ArrowInvalid:  # a lone '-', or two separators in a cell
        return None


def parse_dates(arr: pa.Array) -> Parsed:
    """Days since 1970-01-01 of a text column of ISO or dd/mm/yyyy dates (see the module docstring)."""
    if _mask(pc.match_substring_regex(arr, r"^\d{4}-\d{2}-\d{2}$")).sum() == len(arr) - arr.null_count:
        return _iso_days(arr)  # the common case: every cell an ISO date
    text = pc.replace_substring_regex(arr, MIDNIGHT_RE, "")
    iso = _fields(text, ISO_RE)
    french = _fields(text, FRENCH_RE)
    year = np.where(iso.ok, iso.year, french.year)
    month = np.where(iso.ok, iso.month, french.month)
    day = np.where(iso.ok, iso.day, french.day)
    ok = iso.ok | french.ok
    days, real = _days(year, month, day, ok)
    ambiguous = []
    short = _mask(pc.match_substring_regex(text, SHORT_YEAR_RE))
    if short.any():
        message = "two-digit year (19.. or 20..?): write dates as dd/mm/yyyy or yyyy-mm-dd"
        ambiguous.append(("D122", message, short))
    swapped = french.ok & ~real & (french.month > 12) & (french.day <= 12)
    if swapped.any():
        message = (
            "month-first date (mm/dd/yyyy, as US software writes it): French dates are dd/mm/yyyy; "
            "export the dates as dd/mm/yyyy or yyyy-mm-dd"
        )
        ambiguous.append(("D122", message, swapped))
    return Parsed(days, ok & real, tuple(ambiguous))


def _iso_days(arr: pa.Array) -> Parsed:
    """Days of a column of ISO dates only (no regex groups: slices)."""
    ok = numbers(pc.is_valid(arr), False) if len(arr) else np.zeros(0, bool)
    year, month, day = (
        _ints(pc.utf8_slice_codeunits(arr, a, b)) if len(arr) else np.zeros(0, np.int64)
        for a, b in ((0, 4), (5, 7), (8, 10))
    )
    days, real = _days(year, month, day, np.asarray(ok, bool))
    return Parsed(days, real)


@dataclass(frozen=True)
class _Ymd:
    ok: np.ndarray
    year: np.ndarray
    month: np.ndarray
    day: np.ndarray


def _fields(text: pa.Array, pattern: str) -> _Ymd:
    parts = pc.extract_regex(text, pattern)
    ok = numbers(pc.is_valid(parts), False) if len(text) else np.zeros(0, bool)
    return _Ymd(
        np.asarray(ok, bool),
        *(_ints(pc.struct_field(parts, name)) if len(text) else np.zeros(0, np.int64) for name in "ymd"),
    )


def _days(
    year: np.ndarray, month: np.ndarray, day: np.ndarray, ok: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(days since the epoch, whether the date exists) of year/month/day columns."""
    real = ok & (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
    months = np.where(real, (year - 1970) * 12 + month - 1, 0).astype("datetime64[M]")
    dates = months.astype("datetime64[D]") + np.where(real, day - 1, 0)
    real &= dates.astype("datetime64[M]") == months
    return dates.astype(np.int64), real

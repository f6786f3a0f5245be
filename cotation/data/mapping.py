"""Stage 2 (data): a source's column names and values renamed to the catalogue's (``--mapping``).

A mapping file is YAML::

    source: Export de l'outil X          # what the mapping is for (free text)
    columns:                              # source column -> catalogue field
      Numéro unique: numero_unique
      Date de dépôt: date_depot
    values:                               # per field: source value -> catalogue value
      situation_logement:
        Hébergé chez un tiers: heberge_tiers
    ignore: [Commentaire]                 # source columns dropped on purpose (not reported)

:func:`load_mapping` checks it against the catalogue (E130-E134, located in the file, with a
suggestion); :func:`apply_mapping` renames the columns of an Arrow table and recodes the listed
values (whole columns at once; a value absent from the list is kept, so that the reader reports
it if the field does not allow it). Columns neither mapped, nor fields, nor ignored are listed as
ignored by the readers, once. ``cotation/resources/mappings/`` holds the shipped mapping files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import Collector, did_you_mean
from ..grid.catalogue import Catalogue, Kind
from ..grid.yamlio import load_yaml
from ..source import Sources, Span
from .buffers import from_numpy, strings
from .buffers import values as numbers

__all__ = ["SHIPPED", "Mapping", "apply_mapping", "load_mapping"]

SHIPPED = Path(__file__).resolve().parent.parent / "resources" / "mappings"
KEYS = ("source", "columns", "values", "ignore")


@dataclass(frozen=True)
class Mapping:
    """A checked mapping: source column -> field, per field source value -> value, columns ignored."""

    file: str
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    source: str = ""


def load_mapping(path: str | Path, catalogue: Catalogue) -> Mapping:
    """Read and check a mapping file (a name of a shipped one, e.g. ``sne``, works too); GridError
    lists every problem (E101-E103 for the YAML itself, E130-E134)."""
    path = _resolve(Path(path))
    errors, sources = Collector(), Sources()
    errors.sources = sources
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        errors.error("E130", Span(name, 1, 1, 1, 2), f"cannot read the mapping file: {exc}")
        errors.raise_if_any()
        raise AssertionError("unreachable") from None
    sources.add(name, text)
    doc = load_yaml(text, name, errors)
    errors.raise_if_any()
    assert doc is not None
    mapping = _check(doc, catalogue, errors)
    errors.raise_if_any()
    return mapping


def _resolve(path: Path) -> Path:
    shipped = SHIPPED / f"{path.name}.yaml"
    return shipped if not path.exists() and path.suffix == "" and shipped.is_file() else path


def _check(doc: Any, catalogue: Catalogue, errors: Collector) -> Mapping:
    value = doc.value
    if not isinstance(value, dict):
        errors.error("E131", doc.span(()), "a mapping file is a YAML mapping with keys " + ", ".join(KEYS))
        return Mapping(doc.file)
    for key in value:
        if key not in KEYS:
            errors.error(
                "E131", doc.key_span((key,)), f"unknown key '{key}'", suggestion=did_you_mean(str(key), KEYS)
            )
    columns = _names(doc, "columns", errors)
    seen: dict[str, str] = {}
    for source, target in columns.items():
        if target not in catalogue:
            hint = did_you_mean(target, catalogue.names)
            errors.error("E132", doc.span(("columns", source)), f"'{target}' is not a field", suggestion=hint)
        elif target in seen:
            message = f"columns '{seen[target]}' and '{source}' are both mapped to field '{target}'"
            errors.error("E134", doc.span(("columns", source)), message)
        seen.setdefault(target, source)
    values: dict[str, dict[str, str]] = {}
    raw_values = value.get("values") or {}
    if not isinstance(raw_values, dict):
        errors.error("E131", doc.span(("values",)), "'values' maps a field to a mapping of values")
        raw_values = {}
    for name, table in raw_values.items():
        values[str(name)] = _values(doc, str(name), table, catalogue, errors)
    ignore = value.get("ignore") or []
    if not isinstance(ignore, list) or not all(isinstance(x, str) for x in ignore):
        errors.error("E131", doc.span(("ignore",)), "'ignore' is a list of column names")
        ignore = []
    return Mapping(doc.file, columns, values, tuple(ignore), str(value.get("source") or ""))


def _names(doc: Any, key: str, errors: Collector) -> dict[str, str]:
    table = doc.value.get(key) or {}
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        errors.error("E131", doc.span((key,)), f"'{key}' maps each source column to a field name")
        return {}
    return {str(k): v for k, v in table.items()}


def _values(doc: Any, name: str, table: Any, catalogue: Catalogue, errors: Collector) -> dict[str, str]:
    f = catalogue.get(name)
    if f is None or f.kind not in (Kind.CATEGORY, Kind.SET):
        what = "not a field" if f is None else f"a {f.kind.value} field, not a category or a set"
        hint = did_you_mean(name, catalogue.names) if f is None else None
        errors.error("E132", doc.key_span(("values", name)), f"'{name}' is {what}", suggestion=hint)
        return {}
    if not isinstance(table, dict):
        errors.error("E131", doc.span(("values", name)), f"values of '{name}': a mapping source -> value")
        return {}
    out = {}
    for source, target in table.items():
        if str(target) not in f.values:
            message = f"'{target}' is not a value of '{name}' (allowed: {', '.join(f.values)})"
            span = doc.span(("values", name, source))
            errors.error("E133", span, message, suggestion=did_you_mean(str(target), f.values))
        out[str(source)] = str(target)
    return out


def apply_mapping(table: pa.Table, mapping: Mapping) -> pa.Table:
    """``table`` with the mapped columns renamed, their values recoded, the ignored columns dropped."""
    keep = [n for n in table.column_names if n not in set(mapping.ignore)]
    table = table.select(keep)
    names = [mapping.columns.get(str(n), str(n)) for n in table.column_names]
    table = table.rename_columns(names)
    for name, recode in mapping.values.items():
        if name in names and recode:
            k = names.index(name)
            table = table.set_column(k, name, _recode(table.column(k).combine_chunks(), recode))
    return table


def _recode(arr: pa.Array, recode: dict[str, str]) -> pa.Array:
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    keys, targets = strings(list(recode)), strings(list(recode.values()))
    if len(arr) and pc.max(pc.list_value_length(pc.split_pattern(arr, ";"))).as_py() not in (None, 1):
        items = pc.split_pattern(arr, ";")
        flat = pc.utf8_trim_whitespace(pc.list_flatten(items))
        mapped = _lookup(flat, keys, targets)
        lists = pa.ListArray.from_arrays(items.offsets, mapped, mask=pc.is_null(items))
        return pc.binary_join(lists, strings([";"])[0])
    return _lookup(pc.utf8_trim_whitespace(arr), keys, targets)


def _lookup(arr: pa.Array, keys: pa.Array, targets: pa.Array) -> pa.Array:
    index = pc.index_in(arr, value_set=keys)
    found = numbers(pc.is_valid(index), False)
    return pc.if_else(from_numpy(found), pc.take(targets, index), arr)

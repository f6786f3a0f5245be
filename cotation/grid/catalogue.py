"""Stage 1 (grid): the field catalogue: every field an application may carry, with its type, unit and label.

The catalogue is data (``cotation/resources/catalogue.yaml``), rendered in ``docs/catalogue.md``. A grid
may extend it with local fields (``fields:`` in the grid). Each field has a *kind* that fixes both
its type in expressions and its storage in a :class:`~cotation.data.batch.Batch`:

========== ============================== ==========================================
kind       in expressions                 storage (one NumPy array per field)
========== ============================== ==========================================
bool       bool                           ``bool``
int        int                            ``int32``
float      float                          ``float64``
money      float (euros)                  ``float64``
date       date                           ``int32`` days since 1970-01-01
category   one value of ``values``        ``int8`` code (index in ``values``), -1 missing
set        subset of ``values``           ``uint64`` bit mask (bit i = values[i])
commune    a commune code                 ``int32`` encoded INSEE code, -1 missing
communes   ordered list of commune codes  ``int32[n, width]`` padded with -1
id         (not usable in expressions)    ``object`` (str)
========== ============================== ==========================================

Optional fields also carry a validity mask; a missing value is never replaced by a default.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any


class Kind(str, enum.Enum):  # noqa: UP042 (a StrEnum would change str() of members, used in messages)
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    MONEY = "money"
    DATE = "date"
    CATEGORY = "category"
    SET = "set"
    COMMUNE = "commune"
    COMMUNES = "communes"
    ID = "id"


DEFAULT_COMMUNES_WIDTH = 8


@dataclass(frozen=True)
class Field:
    """One field of an application."""

    name: str
    kind: Kind
    label: str
    description: str
    unit: str | None = None
    values: tuple[str, ...] = ()
    value_labels: tuple[str, ...] = ()
    required: bool = False
    min: float | None = None
    max: float | None = None
    width: int = DEFAULT_COMMUNES_WIDTH
    local: bool = False

    def code_of(self, value: str) -> int:
        """The integer code of a category/set value (its index in ``values``)."""
        return self.values.index(value)

    def label_of(self, value: str) -> str:
        return self.value_labels[self.values.index(value)] if self.value_labels else value


@dataclass(frozen=True)
class Catalogue:
    """An ordered, immutable collection of fields."""

    fields: tuple[Field, ...]
    _by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.name: f for f in self.fields})

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> Field:
        return self._by_name[name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def get(self, name: str) -> Field | None:
        return self._by_name.get(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def id_field(self) -> Field:
        return next(f for f in self.fields if f.kind is Kind.ID)

    def extend(self, extra: tuple[Field, ...]) -> Catalogue:
        """A new catalogue with ``extra`` (local fields) appended."""
        return Catalogue(self.fields + extra)


def field_from_dict(name: str, raw: dict[str, Any], *, local: bool = False) -> Field:
    """Build a :class:`Field` from its YAML mapping (shared by the catalogue and grids)."""
    values_raw = raw.get("values") or {}
    if isinstance(values_raw, dict):
        values = tuple(str(k) for k in values_raw)
        labels = tuple(str(v) for v in values_raw.values())
    else:
        values = tuple(str(v) for v in values_raw)
        labels = values
    return Field(
        name=name,
        kind=Kind(raw["type"]),
        label=str(raw.get("label", name)),
        description=str(raw.get("description", "")),
        unit=raw.get("unit"),
        values=values,
        value_labels=labels,
        required=bool(raw.get("required", False)),
        min=raw.get("min"),
        max=raw.get("max"),
        width=int(raw.get("width", DEFAULT_COMMUNES_WIDTH)),
        local=local,
    )


@cache
def default_catalogue() -> Catalogue:
    """The catalogue shipped with cotation (``cotation/resources/catalogue.yaml``)."""
    return _shipped("resources/catalogue.yaml")


@cache
def dwelling_catalogue() -> Catalogue:
    """The fields of a dwelling (``cotation/resources/logements.yaml``), read as ``logement.<name>``
    in grids."""
    return _shipped("resources/logements.yaml")


def _shipped(name: str) -> Catalogue:
    """A catalogue file of the package."""
    from .yamlio import load_plain  # here: a grid from the grid cache never needs YAML

    raw = load_plain(resources.files("cotation").joinpath(name).read_text(encoding="utf-8"))
    return Catalogue(tuple(field_from_dict(name, spec) for name, spec in raw["fields"].items()))


def encode_commune(code: str) -> int:
    """Encode an INSEE commune code ('75056', '2A004', '97411') as a non-negative int.

    Digits-only codes map to their value; Corsican '2A'/'2B' codes map to 200000/201000 + rest.
    Raises ValueError for anything else.
    """
    code = code.strip()
    if len(code) != 5:
        raise ValueError(code)
    head, rest = code[:2].upper(), code[2:]
    if not rest.isdigit():
        raise ValueError(code)
    if head == "2A":
        return 200_000 + int(rest)
    if head == "2B":
        return 201_000 + int(rest)
    if not head.isdigit():
        raise ValueError(code)
    return int(code)

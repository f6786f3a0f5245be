"""Stage 2 (data): income ceilings (*plafonds de ressources*) of French social housing, from dated
tables.

A household may rent a social dwelling only if its annual taxable income (*revenu fiscal de
référence* N-2, of all its members) does not exceed the ceiling of the dwelling's financing
(PLAI, PLUS, PLS), for its zone (Paris and neighbouring communes, rest of Île-de-France, other
regions) and its household category (1..6, then an amount per extra person).

The ceilings change every 1 January by arrêté. They are **data, never code**: each year is a table
in ``cotation/resources/plafonds.yaml`` with its legal source, and this module only reads, validates and
indexes those tables. A table may be derived from another financing of the same year
(``derive: {de: PLUS, coefficient: 1.30}`` for PLS); derived values are rounded to the nearest euro,
halves up, with exact decimal arithmetic.

Lookups never guess: :func:`require` raises :class:`MissingCeilingError` for a (financing, year,
zone) that is not shipped, and :func:`ceiling_table` marks such cells with ``-1``. A territory that
has the arrêté of a missing year supplies it in a file of the same format named by the environment
variable ``COTATION_PLAFONDS``: its tables add to the shipped ones (replacing the same financing,
year and zone), and the stamp of every score (``tables_digest``) changes with them.

>>> row = require(2026, "PLUS", "autres")
>>> row.values[:2]
(23403, 31254)
>>> ceiling(row.values, category=6, extra_persons=1)
66866
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import yaml

__all__ = [
    "CeilingRow",
    "MissingCeilingError",
    "ceiling",
    "ceiling_table",
    "load_ceilings",
    "require",
    "tables_digest",
    "years",
]

N_VALUES = 7  # categories 1..6, then the amount per extra person
SUPPLEMENT_ENV = "COTATION_PLAFONDS"  # a ceilings file whose tables add to (or replace) the shipped ones
_DEFAULT = "resources/plafonds.yaml"


@dataclass(frozen=True)
class CeilingRow:
    """The ceilings of one financing, year and zone.

    ``values`` holds 7 amounts in euros per year: categories 1..6, then the amount per extra person.
    """

    financing: str
    year: int
    zone: str
    values: tuple[int, ...]
    source: str


class MissingCeilingError(Exception):
    """No ceiling is shipped for a (financing, year, zone); the message lists what is shipped."""

    def __init__(self, financing: str, year: int, zone: str, shipped: str = "none") -> None:
        self.financing = financing
        self.year = year
        self.zone = zone
        self.shipped = shipped
        super().__init__(
            f"aucun plafond de ressources {financing} pour {year} en zone {zone!r} "
            f"(no income ceiling shipped for {financing}, year {year}, zone {zone!r}); "
            f"tables shipped for {financing}: {shipped}; "
            f"supply the year's table (with its arrêté) in a file named by ${SUPPLEMENT_ENV}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.financing, self.year, self.zone, self.shipped))


# --------------------------------------------------------------------------------------------------
# Loading and validation


def load_ceilings(path: str | Path | None = None) -> tuple[CeilingRow, ...]:
    """Read, validate and expand a ceilings file (default: the one shipped with cotation).

    Raises :class:`ValueError`, naming the file and the table, when the file is malformed.
    """
    if path is None:
        return _load_default()
    path = Path(path)
    return _parse(path.read_text(encoding="utf-8"), str(path))


@cache
def tables_digest() -> str:
    """SHA-256 of the validated ceiling tables shipped with cotation (every financing, year, zone
    and amount): part of the digest that stamps scores (``Scores.tables_digest``)."""
    import hashlib

    rows = [(r.financing, r.year, r.zone, list(r.values)) for r in _load_default()]
    return hashlib.sha256(repr(sorted(rows)).encode("utf-8")).hexdigest()


@cache
def _load_default() -> tuple[CeilingRow, ...]:
    text = resources.files("cotation").joinpath(_DEFAULT).read_text(encoding="utf-8")
    shipped = _parse(text, f"cotation/{_DEFAULT}")
    extra = os.environ.get(SUPPLEMENT_ENV)
    return shipped if not extra else _supplemented(shipped, load_ceilings(extra))


def _supplemented(shipped: Sequence[CeilingRow], extra: Sequence[CeilingRow]) -> tuple[CeilingRow, ...]:
    """The shipped rows, those of (financing, year, zone) given in ``extra`` replaced, plus the rest
    of ``extra``: a territory supplies a year's table (with its arrêté) without editing the package."""
    given = {(r.financing, r.year, r.zone) for r in extra}
    return (*(r for r in shipped if (r.financing, r.year, r.zone) not in given), *extra)


def _parse(text: str, where: str) -> tuple[CeilingRow, ...]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: expected a mapping with keys 'zones' and 'tables'")
    zones = _known_zones(doc.get("zones"), where)
    tables = doc.get("tables")
    if not isinstance(tables, list) or not tables:
        raise ValueError(f"{where}: 'tables' must be a non-empty list")
    direct = [_direct_rows(t, i, zones, where) for i, t in enumerate(tables, 1)]
    rows = [r for rs in direct if rs is not None for r in rs]
    for i, table in enumerate(tables, 1):
        if direct[i - 1] is None:
            rows.extend(_derived_rows(table, rows, f"{where}: table {i}"))
    _check_unique(rows, where)
    return tuple(rows)


def _known_zones(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(z, str) for z in value):
        raise ValueError(f"{where}: 'zones' must be a non-empty list of zone names")
    if len(set(value)) != len(value):
        raise ValueError(f"{where}: 'zones' lists a zone twice: {value}")
    return tuple(value)


def _header(table: object, where: str) -> tuple[str, int, str]:
    if not isinstance(table, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(table).__name__}")
    financing, year, source = table.get("financement"), table.get("annee"), table.get("source")
    if not isinstance(financing, str) or not financing:
        raise ValueError(f"{where}: 'financement' must be a non-empty string, got {financing!r}")
    if not _is_int(year):
        raise ValueError(f"{where} ({financing}): 'annee' must be an integer, got {year!r}")
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"{where} ({financing} {year}): 'source' (the legal text) is required")
    if ("zones" in table) == ("derive" in table):
        raise ValueError(f"{where} ({financing} {year}): give exactly one of 'zones' and 'derive'")
    return financing, year, source


def _direct_rows(table: object, index: int, zones: tuple[str, ...], where: str) -> list[CeilingRow] | None:
    """The rows of a table that lists its values; None for a derived table."""
    financing, year, source = _header(table, f"{where}: table {index}")
    assert isinstance(table, dict)
    if "derive" in table:
        return None
    here = f"{where}: table {index} ({financing} {year})"
    cells = table["zones"]
    if not isinstance(cells, dict) or not cells:
        raise ValueError(f"{here}: 'zones' must map zone names to lists of {N_VALUES} amounts")
    return [_row(financing, year, zone, vals, source, zones, here) for zone, vals in cells.items()]


def _row(
    financing: str, year: int, zone: object, values: object, source: str, zones: Sequence[str], here: str
) -> CeilingRow:
    if zone not in zones:
        raise ValueError(f"{here}: unknown zone {zone!r} (known zones: {', '.join(zones)})")
    assert isinstance(zone, str)
    if not isinstance(values, list) or len(values) != N_VALUES:
        raise ValueError(
            f"{here}, zone {zone!r}: expected {N_VALUES} amounts (categories 1..6, then per extra "
            f"person), got {values!r}"
        )
    if not all(_is_int(v) and v > 0 for v in values):
        raise ValueError(f"{here}, zone {zone!r}: amounts must be positive integers, got {values!r}")
    return CeilingRow(financing, year, zone, tuple(values), source)


def _derived_rows(table: dict[str, Any], rows: Sequence[CeilingRow], here: str) -> list[CeilingRow]:
    """Rows of a ``derive: {de: X, coefficient: c}`` table: X's rows of the same year times c."""
    financing, year, source = table["financement"], table["annee"], table["source"]
    here = f"{here} ({financing} {year})"
    spec = table["derive"]
    if not isinstance(spec, dict) or set(spec) != {"de", "coefficient"}:
        raise ValueError(f"{here}: 'derive' must be {{de: <financement>, coefficient: <number>}}")
    base, coef = spec["de"], spec["coefficient"]
    if isinstance(coef, bool) or not isinstance(coef, int | float) or coef <= 0:
        raise ValueError(f"{here}: derive coefficient must be a positive number, got {coef!r}")
    bases = [r for r in rows if r.financing == base and r.year == year]
    if not bases:
        raise ValueError(f"{here}: derives from {base!r} {year}, which is not listed in the file")
    factor = Decimal(str(coef))
    return [
        CeilingRow(financing, year, r.zone, tuple(_scale(v, factor) for v in r.values), source) for r in bases
    ]


def _scale(value: int, factor: Decimal) -> int:
    """``value * factor`` rounded to the nearest euro, halves up (exact decimal arithmetic)."""
    return int((Decimal(value) * factor).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _check_unique(rows: Iterable[CeilingRow], where: str) -> None:
    seen: set[tuple[str, int, str]] = set()
    for r in rows:
        key = (r.financing, r.year, r.zone)
        if key in seen:
            raise ValueError(f"{where}: {r.financing} {r.year} zone {r.zone!r} is given twice")
        seen.add(key)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------------
# Lookups


def _rows(rows: Sequence[CeilingRow] | None) -> Sequence[CeilingRow]:
    return load_ceilings() if rows is None else rows


def _index(rows: Iterable[CeilingRow]) -> Mapping[tuple[str, int, str], CeilingRow]:
    return {(r.financing, r.year, r.zone): r for r in rows}


def years(financing: str, rows: Sequence[CeilingRow] | None = None) -> tuple[int, ...]:
    """The years for which at least one zone is shipped for ``financing``, sorted."""
    return tuple(sorted({r.year for r in _rows(rows) if r.financing == financing}))


def require(year: int, financing: str, zone: str, rows: Sequence[CeilingRow] | None = None) -> CeilingRow:
    """The ceilings of (financing, year, zone); :class:`MissingCeilingError` when not shipped."""
    rows = _rows(rows)
    found = _index(rows).get((financing, year, zone))
    if found is None:
        raise MissingCeilingError(financing, year, zone, _shipped(financing, rows))
    return found


def _shipped(financing: str, rows: Sequence[CeilingRow]) -> str:
    """What is shipped for a financing, e.g. ``2022 (all zones), 2025 (paris_limitrophes)``.

    "all zones" means every zone that appears anywhere in ``rows``.
    """
    all_zones = {r.zone for r in rows}
    parts = []
    for year in years(financing, rows):
        zones = [r.zone for r in rows if r.financing == financing and r.year == year]
        parts.append(f"{year} (all zones)" if set(zones) == all_zones else f"{year} ({', '.join(zones)})")
    return ", ".join(parts) or "none"


def ceiling_table(
    year: int,
    financings: Sequence[str],
    zones: Sequence[str],
    rows: Sequence[CeilingRow] | None = None,
) -> np.ndarray:
    """An ``int64`` array of shape ``(len(financings), len(zones), 7)`` for one year.

    Cell ``[f, z, :]`` holds the 7 amounts of ``(financings[f], year, zones[z])``, or ``-1`` everywhere
    when that combination is not shipped (including an unknown financing or zone name). The caller
    decides whether a ``-1`` cell is an error.
    """
    index = _index(_rows(rows))
    table = np.full((len(financings), len(zones), N_VALUES), -1, dtype=np.int64)
    for f, financing in enumerate(financings):
        for z, zone in enumerate(zones):
            row = index.get((financing, year, zone))
            if row is not None:
                table[f, z, :] = row.values
    return table


def ceiling(values: Sequence[int] | np.ndarray, category: int, extra_persons: int) -> int:
    """The ceiling, in euros per year, of a household of ``category`` with ``extra_persons``.

    ``values`` are the 7 amounts of one row (categories 1..6, then per extra person), e.g.
    ``CeilingRow.values`` or a cell ``ceiling_table(...)[f, z]``. The result is
    ``values[category - 1] + extra_persons * values[6]``, where a category below 1 counts as 1, one
    above 6 as 6, and a negative ``extra_persons`` as 0. Raises :class:`ValueError` when ``values``
    does not hold 7 amounts or holds a ``-1`` (not shipped) cell.

    >>> ceiling((10, 20, 30, 40, 50, 60, 5), category=7, extra_persons=2)
    70
    """
    if len(values) != N_VALUES:
        raise ValueError(f"expected {N_VALUES} ceiling amounts, got {len(values)}")
    amounts = [int(v) for v in values]
    if min(amounts) < 0:
        raise ValueError("these ceilings are not shipped (-1 cell from ceiling_table)")
    return amounts[min(max(category, 1), 6) - 1] + max(extra_persons, 0) * amounts[6]

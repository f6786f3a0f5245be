"""Income ceilings (plafonds de ressources): the shipped tables, the lookups, the loader's errors."""

from __future__ import annotations

import doctest
import pickle
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pytest

import cotation.data.ceilings
from cotation.data.ceilings import (
    CeilingRow,
    MissingCeilingError,
    ceiling,
    ceiling_table,
    load_ceilings,
    require,
    years,
)

ZONES = ("paris_limitrophes", "ile_de_france", "autres")

# PLUS 2026, copied from /work/shared/domain.md § 4 (arrêté du 19/12/2025 via OpenFisca-France).
PLUS_2026 = {
    "paris_limitrophes": (26920, 40233, 52740, 62968, 74919, 84304, 9394),
    "ile_de_france": (26920, 40233, 48362, 57930, 68577, 77171, 8598),
    "autres": (23403, 31254, 37584, 45374, 53376, 60156, 6710),
}


def half_up(value: int, coefficient: str = "1.30") -> int:
    return int((Decimal(value) * Decimal(coefficient)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --- the shipped data --------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ZONES)
def test_plus_2026_matches_domain_table(zone: str) -> None:
    assert require(2026, "PLUS", zone).values == PLUS_2026[zone]


@pytest.mark.parametrize(
    ("zone", "index", "expected"),
    [
        ("autres", 0, 23403),
        ("autres", 5, 60156),
        ("autres", 6, 6710),
        ("ile_de_france", 2, 48362),
        ("paris_limitrophes", 3, 62968),
    ],
)
def test_plus_2026_cells(zone: str, index: int, expected: int) -> None:
    assert require(2026, "PLUS", zone).values[index] == expected


def test_plus_2025_cells() -> None:
    assert require(2025, "PLUS", "paris_limitrophes").values[-1] == 9313
    assert require(2025, "PLUS", "ile_de_france").values[2] == 47944
    assert require(2025, "PLUS", "autres").values[4] == 52915


@pytest.mark.parametrize("zone", ZONES)
def test_pls_2026_is_plus_times_1_30(zone: str) -> None:
    plus = require(2026, "PLUS", zone).values
    pls = require(2026, "PLS", zone).values
    assert pls == tuple(round(v * 1.3) for v in plus)  # no half in 2026: same as half-up
    assert pls == tuple(half_up(v) for v in plus)


@pytest.mark.parametrize("zone", ZONES)
def test_pls_2025_is_plus_times_1_30_halves_up(zone: str) -> None:
    plus = require(2025, "PLUS", zone).values
    assert require(2025, "PLS", zone).values == tuple(half_up(v) for v in plus)


def test_pls_2025_half_is_rounded_up_not_to_even() -> None:
    # 39 885 x 1.30 = 51 850.5: half up gives 51 851 (Python's round() would give 51 850).
    assert require(2025, "PLS", "paris_limitrophes").values[1] == 51851
    assert require(2025, "PLS", "autres").values[4] == 68790  # 52 915 x 1.30 = 68 789.5


def test_plai_2022_is_complete() -> None:
    assert require(2022, "PLAI", "autres").values[1] == 16939
    paris = (13378, 21805, 28582, 31287, 37218, 41884, 4666)
    idf = (13378, 21805, 26210, 28779, 34071, 38339, 4270)
    assert require(2022, "PLAI", "paris_limitrophes").values == paris
    assert require(2022, "PLAI", "ile_de_france").values == idf


def test_plai_2025_covers_paris_only() -> None:
    paris = (14683, 23931, 31369, 34338, 40847, 45968, 5121)
    assert require(2025, "PLAI", "paris_limitrophes").values == paris
    for zone in ("ile_de_france", "autres"):
        with pytest.raises(MissingCeilingError):
            require(2025, "PLAI", zone)


def test_years_shipped() -> None:
    assert years("PLUS") == (2025, 2026)
    assert years("PLS") == (2025, 2026)
    assert years("PLAI") == (2022, 2025)
    assert years("PLI") == ()


def test_every_row_is_sane() -> None:
    rows = load_ceilings()
    assert len({(r.financing, r.year, r.zone) for r in rows}) == len(rows) == 3 + 3 + 3 + 3 + 3 + 1
    for r in rows:
        assert r.source.strip()
        assert len(r.values) == 7
        assert list(r.values[:6]) == sorted(r.values[:6]), r  # a larger household never has a lower ceiling


def test_default_file_is_cached() -> None:
    assert load_ceilings() is load_ceilings()


# --- ceiling() ---------------------------------------------------------------------------------

VALUES = PLUS_2026["autres"]


@pytest.mark.parametrize("category", range(1, 7))
def test_ceiling_categories_1_to_6(category: int) -> None:
    assert ceiling(VALUES, category, 0) == VALUES[category - 1]


def test_ceiling_extra_persons() -> None:
    assert ceiling(VALUES, 6, 1) == 60156 + 6710
    assert ceiling(VALUES, 6, 3) == 60156 + 3 * 6710
    assert ceiling(VALUES, 7, 2) == 60156 + 2 * 6710  # categories above 6 count as 6
    assert ceiling(VALUES, 0, 0) == 23403  # below 1 counts as 1
    assert ceiling(VALUES, 2, -4) == 31254  # negative extra persons count as 0


def test_ceiling_accepts_a_table_cell() -> None:
    table = ceiling_table(2026, ("PLUS",), ("autres",))
    result = ceiling(table[0, 0], 6, 1)
    assert result == 66866 and type(result) is int


def test_ceiling_rejects_a_missing_cell() -> None:
    with pytest.raises(ValueError, match="not shipped"):
        ceiling(ceiling_table(2026, ("PLAI",), ("autres",))[0, 0], 1, 0)
    with pytest.raises(ValueError, match="7"):
        ceiling((1, 2, 3), 1, 0)


# --- ceiling_table() ---------------------------------------------------------------------------


def test_ceiling_table_shape_and_missing_cells() -> None:
    financings = ("PLAI", "PLUS", "PLS", "PLI")
    table = ceiling_table(2026, financings, ZONES)
    assert table.shape == (4, 3, 7) and table.dtype == np.int64
    assert (table[0] == -1).all()  # PLAI 2026 not shipped
    assert (table[3] == -1).all()  # no PLI table
    assert tuple(table[1, 2]) == PLUS_2026["autres"]
    assert (table[2] > table[1]).all()


def test_ceiling_table_partial_year_and_unknown_zone() -> None:
    table = ceiling_table(2025, ("PLAI",), ("paris_limitrophes", "autres", "lune"))
    assert tuple(table[0, 0]) == (14683, 23931, 31369, 34338, 40847, 45968, 5121)
    assert (table[0, 1:] == -1).all()


# --- MissingCeilingError -----------------------------------------------------------------------


def test_missing_ceiling_error_names_financing_year_zone() -> None:
    with pytest.raises(MissingCeilingError) as info:
        require(2026, "PLAI", "autres")
    err = info.value
    assert (err.financing, err.year, err.zone) == ("PLAI", 2026, "autres")
    assert str(err) == (
        "aucun plafond de ressources PLAI pour 2026 en zone 'autres' "
        "(no income ceiling shipped for PLAI, year 2026, zone 'autres'); "
        "tables shipped for PLAI: 2022 (all zones), 2025 (paris_limitrophes); "
        "supply the year's table (with its arrêté) in a file named by $COTATION_PLAFONDS"
    )


def test_a_supplied_table_adds_to_the_shipped_ones(tmp_path, monkeypatch) -> None:
    """$COTATION_PLAFONDS names a file of the same format: its tables fill the missing cells (and
    replace the same financing, year and zone); the stamp digest changes with them."""
    import cotation.data.ceilings as ceilings

    before = ceilings.tables_digest()
    extra = tmp_path / "plafonds-2026.yaml"
    extra.write_text(
        "zones: [paris_limitrophes, ile_de_france, autres]\n"
        "tables:\n"
        "  - financement: PLAI\n"
        "    annee: 2026\n"
        "    source: Arrêté local (exemple de test)\n"
        "    zones:\n"
        "      autres: [1, 2, 3, 4, 5, 6, 7]\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("COTATION_PLAFONDS", str(extra))
    ceilings._load_default.cache_clear()
    ceilings.tables_digest.cache_clear()
    try:
        assert require(2026, "PLAI", "autres").values == (1, 2, 3, 4, 5, 6, 7)
        assert require(2026, "PLUS", "autres").values[0] == 23403  # the shipped tables stay
        assert ceilings.tables_digest() != before
    finally:
        monkeypatch.delenv("COTATION_PLAFONDS")
        ceilings._load_default.cache_clear()
        ceilings.tables_digest.cache_clear()
    assert ceilings.tables_digest() == before


def test_missing_ceiling_error_for_an_unknown_financing() -> None:
    with pytest.raises(MissingCeilingError, match="tables shipped for PLI: none"):
        require(2026, "PLI", "autres")


def test_missing_ceiling_error_pickles() -> None:
    err = pickle.loads(pickle.dumps(MissingCeilingError("PLAI", 2026, "autres", "2022 (all zones)")))
    assert (err.financing, err.year, err.zone) == ("PLAI", 2026, "autres")
    assert "2022 (all zones)" in str(err)


def test_custom_rows() -> None:
    rows = (CeilingRow("X", 2030, "autres", (1, 2, 3, 4, 5, 6, 1), "test"),)
    assert require(2030, "X", "autres", rows).values[0] == 1
    assert years("X", rows) == (2030,)
    assert ceiling_table(2030, ("X", "PLUS"), ("autres",), rows)[1, 0, 0] == -1


# --- malformed files ---------------------------------------------------------------------------

GOOD = """
zones: [paris_limitrophes, ile_de_france, autres]
tables:
  - financement: PLUS
    annee: 2026
    source: "test"
    zones:
      autres: [1, 2, 3, 4, 5, 6, 1]
  - financement: PLS
    annee: 2026
    source: "test"
    derive: {de: PLUS, coefficient: 1.5}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plafonds.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads_and_derives(tmp_path: Path) -> None:
    rows = load_ceilings(write(tmp_path, GOOD))
    pls = next(r for r in rows if r.financing == "PLS")
    assert pls.values == (2, 3, 5, 6, 8, 9, 2)  # 1.5 -> 2, 4.5 -> 5, 7.5 -> 8: halves up


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("[1, 2, 3, 4, 5, 6, 1]", "[1, 2, 3, 4, 5, 6]", "expected 7 amounts"),
        ("[1, 2, 3, 4, 5, 6, 1]", "[1, 2, 3, 4, 5, 6, 0]", "positive integers"),
        ("[1, 2, 3, 4, 5, 6, 1]", "[1, 2, 3, 4, 5, 6.5, 1]", "positive integers"),
        ("autres: [", "lune: [", "unknown zone 'lune'"),
        ('annee: 2026\n    source: "test"\n    zones', 'annee: deux\n    source: "test"\n    zones', "annee"),
        ("de: PLUS", "de: PLAI", "derives from 'PLAI' 2026"),
        ("coefficient: 1.5", "coefficient: -1", "positive number"),
        ('source: "test"\n    zones', "zones", "source"),
        ("financement: PLS\n    annee: 2026", "financement: PLUS\n    annee: 2026", "given twice"),
        ("tables:", "tables: []\nx:", "tables"),
        ("zones: [paris_limitrophes, ile_de_france, autres]", "zones: autres", "'zones' must be"),
        ("coefficient: 1.5}", "coefficient: 1.5}\n    zones: {}", "exactly one"),
        ("zones:\n      autres", "derive: {de: PLUS}\n    zones_:\n      autres", "derive"),
    ],
)
def test_malformed_file_raises_value_error(tmp_path: Path, old: str, new: str, match: str) -> None:
    assert old in GOOD
    with pytest.raises(ValueError, match=match):
        load_ceilings(write(tmp_path, GOOD.replace(old, new, 1)))


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "zones: [a\n"])
def test_not_a_ceilings_document(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValueError, match=r"plafonds\.yaml"):
        load_ceilings(write(tmp_path, text))


def test_docstring_examples_run() -> None:
    result = doctest.testmod(cotation.data.ceilings)
    assert result.attempted > 0 and result.failed == 0


def test_generated_plai_dwellings_are_ranked_where_ceilings_are_known() -> None:
    """generate_dwellings(date_calcul=...) makes PLAI dwellings when the PLAI ceilings of the zone and
    year are known (Paris 2025), and they are ranked (no D112); none where they are not (2026)."""
    import datetime

    from cotation.api import load_grid, rank
    from cotation.data.generate import generate_applications, generate_dwellings

    day = datetime.date(2025, 6, 1)
    grid = load_grid(Path(__file__).resolve().parents[1] / "grids" / "exemple-metropole.yaml")
    dwellings = generate_dwellings(30, seed=2, zone="paris_limitrophes", date_calcul=day)
    financing = dwellings.to_pandas()["financement"]
    assert (financing == "PLAI").sum() > 0
    applications = generate_applications(300, seed=2, date_calcul=day, catalogue=grid.catalogue)
    ranking = rank(grid, applications, dwellings, 3, date_calcul=day, engine="reference")
    plai = [m for m in range(len(ranking)) if financing.iloc[m] == "PLAI"]
    assert any((ranking.rows[m] >= 0).any() for m in plai)
    later = generate_dwellings(30, seed=2, zone="autres", date_calcul=datetime.date(2026, 1, 1))
    assert "PLAI" not in set(later.to_pandas()["financement"])

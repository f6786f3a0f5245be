"""The annual allocation review (issue 15): every figure on a ten-allocation history counted by hand,
small cells hidden, no application number published, the history read from CSV, Parquet or a
DataFrame, ``simulate --attributions`` then ``bilan`` on generated data, the page in a real browser."""

from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import cotation
from cotation.cli import main
from cotation.data.batch import Batch
from cotation.errors import DataError
from cotation.experiment.bilan import bilan
from cotation.experiment.bilan_page import suppressed
from cotation.experiment.history import COLUMNS, read_allocations
from cotation.experiment.objectives import LEGAL_OBJECTIVES, Objectives

ROOT = Path(__file__).resolve().parent.parent
GRID = ROOT / "examples" / "gestion-en-flux.yaml"
OBJ = Objectives("Essai", None, LEGAL_OBJECTIVES, threshold=10000.0, threshold_source="seuil des essais")
# id, persons, adults, children < 14, monthly resources, DALO, disability, born, filed
# resources per UC (x 12 / UC): 6000 7200 8400 9600 12000 14400 18000 21600 24000 30000 36000 48000
# -> with the threshold 10 000: quartile 1 for N01-N04; median (6th) 14 400, third quartile (9th) 24 000:
#    quartile 2 N05, N06; quartile 3 N07-N09; quartile 4 N10-N12.
APPS = [
    ("N01", 1, 1, 0, 500, True, False, "2002-06-01", "2024-10-15"),
    ("N02", 1, 1, 0, 600, True, False, "1995-01-01", "2024-06-10"),
    ("N03", 3, 1, 2, 1120, True, False, "1990-01-01", "2024-01-05"),  # UC 1.6
    ("N04", 1, 1, 0, 800, False, True, "1980-01-01", "2022-04-01"),
    ("N05", 1, 1, 0, 1000, False, False, "1975-01-01", "2019-05-20"),
    ("N06", 5, 2, 3, 2880, False, False, "1985-01-01", "2024-11-11"),  # UC 2.4
    ("N07", 1, 1, 0, 1500, False, False, "1960-01-01", "2023-05-07"),
    ("N08", 1, 1, 0, 1800, False, False, "1968-01-01", "2025-05-09"),
    ("N09", 2, 2, 0, 3000, False, False, "1950-01-01", "2020-01-10"),  # UC 1.5
    ("N10", 2, 2, 0, 3750, False, False, "1999-01-01", "2023-08-30"),  # UC 1.5
    ("N11", 1, 1, 0, 3000, False, False, "2004-01-01", "2025-09-01"),
    ("N12", 1, 1, 0, 4000, False, False, "1970-01-01", "2015-01-01"),
]
HISTORY = [
    ("N01", "L01", "2025-01-15", "prefet", "31555", "false", "PLAI", "T1", "premier_acces"),
    ("N02", "L02", "2025-02-10", "prefet", "31555", "true", "PLAI", "T2", "premier_acces"),
    ("N03", "L03", "2025-03-05", "prefet", "31069", "false", "PLUS", "T3", "mutation"),
    ("N04", "L04", "2025-04-01", "action_logement", "31069", "false", "PLUS", "T2", "premier_acces"),
    ("N05", "L05", "2025-05-20", "action_logement", "31555", "true", "PLUS", "T2", "premier_acces"),
    ("N06", "L06", "2025-06-11", "commune", "31555", "true", "PLUS", "T5", "mutation"),
    ("N07", "L07", "2025-07-07", "bailleur", "31555", "true", "PLS", "T1", "premier_acces"),
    ("N08", "L08", "2025-09-09", "bailleur", "31069", "false", "PLUS", "T2", "premier_acces"),
    ("N09", "L09", "2025-10-10", "bailleur", "31555", None, "PLUS", "T3", "premier_acces"),
    ("N10", "L10", "2025-11-30", "commune", "31555", "false", "PLS", "T3", "mutation"),
]


def _apps() -> Batch:
    rows = []
    for ident, persons, adults, kids, money, dalo, handicap, born, filed in APPS:
        rows.append(
            {
                "numero_unique": ident,
                "date_depot": filed,
                "nb_personnes": persons,
                "nb_adultes": adults,
                "nb_enfants": persons - adults,
                "nb_enfants_moins_14": kids,
                "ressources_mensuelles": money,
                "dalo": dalo,
                "handicap_menage": handicap,
                "date_naissance_demandeur": born,
                "situation_logement": "locataire_prive",
            }
        )
    return Batch.from_rows(rows)


def _history(rows: list[tuple[Any, ...]] = HISTORY) -> Any:
    import pandas as pd

    return pd.DataFrame([dict(zip(COLUMNS, r, strict=True)) for r in rows])


@pytest.fixture(scope="module")
def grid() -> Any:
    return cotation.load_grid(GRID, include_dirs=[ROOT / "grids"])


@pytest.fixture(scope="module")
def review(grid: Any) -> Any:
    return bilan(grid, _apps(), _history(), objectives=OBJ, secret=1)


def test_volumes_and_breakdowns_counted_by_hand(review: Any) -> None:
    (y,) = review.years
    assert (y.year, y.allocations) == (2025, 10)
    s = y.sections
    assert s["commune"] == {"31069": 3, "31555": 7}
    assert s["qpv"] == {"En QPV": 4, "Hors QPV": 5, "Non renseigné": 1}
    assert s["reservataire"] == {
        "Action Logement": 2,
        "Bailleur": 3,
        "Communes": 2,
        "Contingent préfectoral (État)": 3,
    }
    assert s["financement"] == {"PLAI": 2, "PLS": 2, "PLUS": 6}
    assert s["typologie"] == {"T1": 2, "T2": 4, "T3": 3, "T5": 1}
    assert s["type_attribution"] == {"Mutation (déjà locataire HLM)": 3, "Premier accès": 7}


def test_profile_of_the_housed_and_of_the_demand_by_hand(review: Any) -> None:
    h, d = review.years[0].housed, review.demand
    assert review.demand_count == 12
    assert h["composition"] == {"1 personne": 6, "2 personnes": 2, "3 personnes": 1, "5 personnes et plus": 1}
    assert d["composition"] == {"1 personne": 8, "2 personnes": 2, "3 personnes": 1, "5 personnes et plus": 1}
    # ages at the allocation date (housed) and on 31 December 2025 (demand)
    assert h["age"] == {
        "moins de 25 ans": 1,
        "25 à 39 ans": 3,
        "40 à 54 ans": 3,
        "55 à 64 ans": 1,
        "65 ans et plus": 2,
    }
    assert d["age"] == {
        "moins de 25 ans": 2,
        "25 à 39 ans": 3,
        "40 à 54 ans": 3,
        "55 à 64 ans": 2,
        "65 ans et plus": 2,
    }
    assert h["quartile"] == {"Quartile 1": 4, "Quartile 2": 2, "Quartile 3": 3, "Quartile 4": 1}
    assert d["quartile"] == {"Quartile 1": 4, "Quartile 2": 2, "Quartile 3": 3, "Quartile 4": 3}
    assert h["dalo"] == {"Non": 7, "Oui": 3} and d["dalo"] == {"Non": 9, "Oui": 3}
    assert h["publics_prioritaires"] == {"Non": 6, "Oui": 4}  # DALO N01-N03, disability N04
    assert d["publics_prioritaires"] == {"Non": 8, "Oui": 4}
    assert h["anciennete"] == {
        "moins de 6 mois": 2,
        "6 à 11 mois": 2,
        "12 à 23 mois": 1,
        "2 à 5 ans": 3,
        "5 ans et plus": 2,
    }
    assert d["anciennete"] == {
        "moins de 6 mois": 1,
        "6 à 11 mois": 1,
        "12 à 23 mois": 4,
        "2 à 5 ans": 3,
        "5 ans et plus": 3,
    }


def test_cia_objectives_and_flow_shares_by_hand(review: Any) -> None:
    shares = {(s.objective, s.group): (s.count, s.of, s.met) for s in review.years[0].objectives.shares}
    assert shares == {
        ("publics_prioritaires", ""): (4, 10, True),
        ("publics_prioritaires", "action_logement"): (1, 2, True),
        ("publics_prioritaires", "bailleur"): (0, 3, False),
        ("publics_prioritaires", "commune"): (0, 2, False),
        ("publics_prioritaires", "prefet"): (3, 3, True),
        # outside QPV: N01 (q1), N03 (q1), N04 (q1), N08 (q3), N10 (q4); N09's QPV is unknown
        ("premier_quartile_hors_qpv", ""): (3, 5, True),
        # in QPV: N02 (q1), N05 (q2), N06 (q2), N07 (q3)
        ("autres_quartiles_en_qpv", ""): (3, 4, True),
    }
    flows = [(f.holder, f.count, f.of, f.target, f.met) for f in review.years[0].flows]
    assert flows == [
        ("prefet", 3, 10, 0.30, True),
        ("action_logement", 2, 10, 0.20, True),
        ("commune", 2, 10, 0.15, True),
        ("bailleur", 3, 10, None, None),
    ]


def test_year_on_year(grid: Any) -> None:
    extra = ("N12", "L99", "2024-06-01", "prefet", "31069", "false", "PLUS", "T2", "premier_acces")
    two = bilan(grid, _apps(), _history([*HISTORY, extra]), objectives=OBJ, secret=1)
    assert [(y.year, y.allocations) for y in two.years] == [(2024, 1), (2025, 10)]
    assert two.years[0].sections["reservataire"] == {"Contingent préfectoral (État)": 1}
    page = two.to_html()
    assert "2024 : nombre" in page and "2025 : part" in page
    one = bilan(grid, _apps(), _history([*HISTORY, extra]), annee=2024, objectives=OBJ, secret=1)
    assert [y.year for y in one.years] == [2024]


def test_small_cells_are_hidden_and_no_application_number_is_published(grid: Any) -> None:
    assert suppressed({"a": 7, "b": 3}, 5) == {"a", "b"}  # one hidden: the next smallest too
    assert suppressed({"a": 7, "b": 3, "c": 2}, 5) == {"b", "c"}
    assert suppressed({"a": 7, "b": 5}, 5) == set()
    published = bilan(grid, _apps(), _history(), objectives=OBJ)
    assert published.secret == 5
    data = published.to_dict()
    communes = data["annees"][0]["repartitions"]["commune"]
    assert [(c["modalite"], c["nombre"], c["secret"]) for c in communes] == [
        ("31069", None, True),
        ("31555", None, True),
    ]
    page, text, table = published.to_html(), published.to_json(), published.to_csv()
    assert "&lt; 5" in page and "Secret statistique" in page
    assert ",31069,,,True" in table
    for ident, *_ in APPS:
        assert ident not in page and ident not in text and ident not in table


def test_the_page_says_what_made_it(review: Any) -> None:
    page = review.to_html()
    for needle in (
        "Bilan annuel des attributions 2025",
        "exemple-flux",
        "version 2026.1",
        "seuil des essais",
        "Publics prioritaires (DALO et L441-1) — réservataire prefet",
        "Premier quartile, hors QPV",
        "Trois autres quartiles, en QPV",
        "non atteint",
        "Parts du flux par réservataire",
        "<svg",
        "@page{size:A4",
    ):
        assert needle in page, needle


def test_history_from_csv_parquet_and_dataframe(tmp_path: Path) -> None:
    frame = _history()
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.to_parquet(tmp_path / "a.parquet")
    for source in (tmp_path / "a.csv", tmp_path / "a.parquet", frame):
        got = read_allocations(source)
        assert (
            len(got) == 10
            and got.columns["qpv"][8] is None
            and got.columns["reservataire"][3] == "action_logement"
        )
    bad = frame.copy()
    bad.loc[[2, 5], "date_attribution"] = "2025-13-01"
    with pytest.raises(DataError) as err:
        read_allocations(bad)
    assert "D164" in str(err.value) and "date_attribution" in str(err.value) and "line 4" in str(err.value)
    with pytest.raises(DataError, match="D180"):
        read_allocations(tmp_path / "a.xlsx")
    with pytest.raises(DataError, match="D181"):
        bilan(
            cotation.load_grid(GRID, include_dirs=[ROOT / "grids"]),
            _apps(),
            frame,
            annee=2023,
            objectives=OBJ,
        )


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_simulate_then_bilan_on_generated_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    day = datetime.date(2026, 1, 1)
    grid = cotation.load_grid(GRID, include_dirs=[ROOT / "grids"])
    apps = cotation.generate_applications(300, seed=4, date_calcul=day, catalogue=grid.catalogue)
    cotation.write_applications(apps, tmp_path / "demandes.csv")
    cotation.write_applications(
        cotation.generate_dwellings(24, seed=4, vacancies_from=day), tmp_path / "logements.csv"
    )
    d, dw, a = (str(tmp_path / n) for n in ("demandes.csv", "logements.csv", "a.csv"))
    inc = ["--include-dir", str(ROOT / "grids")]
    sim = ["simulate", str(GRID), d, dw, *inc, "--date", "2026-01-01", "--engine", "reference", "--orienter"]
    assert main([*sim, "--attributions", a, "-o", str(tmp_path / "s.html")]) == 0
    simulated = (tmp_path / "s.html").read_text(encoding="utf-8")
    assert "Parts du flux par réservataire" in simulated and "Contingent préfectoral (État)" in simulated
    history = read_allocations(a)
    assert len(history) > 0 and None not in history.columns["reservataire"]  # every vacancy oriented
    assert main(["bilan", str(GRID), d, a, *inc, "-o", str(tmp_path / "bilan.html")]) == 0
    other = str(ROOT / "grids" / "exemple-metropole.yaml")  # --include-dir reaches compare too
    assert (
        main(["compare", str(GRID), other, d, *inc, "--engine", "reference", "-o", str(tmp_path / "c.json")])
        == 0
    )
    assert main(["bilan", str(GRID), d, a, *inc, "-o", str(tmp_path / "bilan.csv")]) == 0
    page = (tmp_path / "bilan.html").read_text(encoding="utf-8")
    for holder in ("Contingent préfectoral (État)", "Action Logement", "Communes", "Bailleur"):
        assert holder in page, holder
    assert "Premier quartile, hors QPV" in page and "Trois autres quartiles, en QPV" in page
    ids = set(apps.ids.tolist())
    assert not any(i in page for i in ids)
    assert main(["bilan", str(GRID), d, a, *inc, "-o", str(tmp_path / "bilan.xlsx")]) == 2
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine: the review is not rendered in a browser")
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            (tmp_path / "bilan.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Bilan annuel des attributions" in done.stdout and "<svg" in done.stdout

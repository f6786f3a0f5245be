"""Stage 7 (experiment): rank correlations, objectives, simulation, back-test, comparison, pages, CLI.

The CLI and browser tests run the reference engine (no compilation); one test checks that the
compiled engine simulates the same allocations.

The tiny stock below is counted by hand: 6 applications wishing the same commune, 4 dwellings over
2 months; the grid gives 100 points to DALO, ties go to the oldest demand.
"""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cotation
from cotation.cli import main
from cotation.errors import DataError
from cotation.experiment import objectives as obj
from cotation.experiment.history import read_history, write_history
from cotation.experiment.simulate import add_months, vacancy_months
from cotation.experiment.stats import average_ranks, kendall, spearman
from cotation.scoring.reference import Env

ROOT = Path(__file__).resolve().parent.parent
DAY = datetime.date(2026, 1, 1)
MINI = """
id: mini
title: Mini
version: "1"
criteria:
  - {id: dalo, label: DALO, when: dalo, points: 100}
match:
  filters:
    - {id: commune, label: Commune souhaitée, when: logement.commune in communes_souhaitees}
"""
MINI_B = MINI.replace("id: mini\n", "id: mini-b\n").replace("points: 100}", "points: 0}")


def _app(i: int, dalo: bool, monthly: int, filed: str) -> dict[str, Any]:
    return {
        "numero_unique": f"A{i}",
        "date_depot": filed,
        "nb_personnes": 1,
        "nb_adultes": 1,
        "date_naissance_demandeur": "1980-01-01",
        "ressources_mensuelles": monthly,
        "situation_logement": "locataire_hlm" if i == 2 else "locataire_prive",
        "communes_souhaitees": "31555",
        "dalo": dalo,
    }


APPS = [
    _app(1, True, 500, "2020-01-01"),  # 6 000 € / UC / year: first quartile; DALO
    _app(2, False, 3000, "2015-01-01"),  # 36 000
    _app(3, False, 600, "2016-01-01"),  # 7 200: first quartile
    _app(4, False, 2000, "2017-01-01"),  # 24 000
    _app(5, False, 800, "2018-01-01"),  # 9 600
    _app(6, False, 1500, "2019-01-01"),  # 18 000
]


def _dw(i: int, qpv: bool, holder: str, free: str) -> dict[str, Any]:
    return {
        "identifiant": f"L{i}",
        "commune": "31555",
        "zone": "autres",
        "typologie": "T2",
        "pieces": 2,
        "loyer": 400,
        "financement": "PLUS",
        "qpv": qpv,
        "reservataire": holder,
        "date_liberation": free,
    }


DWELLINGS = [
    _dw(1, False, "prefet", "2026-01-10"),
    _dw(2, True, "bailleur", "2026-01-20"),
    _dw(3, False, "prefet", "2026-02-05"),
    _dw(4, True, "bailleur", "2026-02-15"),
]
THRESHOLD = obj.Objectives("Essai", None, obj.LEGAL_OBJECTIVES, threshold=8000.0, threshold_source="test")


@pytest.fixture(scope="module")
def stock() -> tuple[Any, Any, Any]:
    grid = cotation.parse_grid(MINI, "mini.yaml")
    apps = cotation.Batch.from_rows(APPS, grid.catalogue, date_calcul=DAY)
    dws = cotation.Batch.from_rows(DWELLINGS, cotation.dwelling_catalogue())
    return grid, apps, dws


# -- statistics -------------------------------------------------------------------------------------


def test_rank_correlations_by_hand() -> None:
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert kendall([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(2 / 3)
    # ties: ranks (1, 2.5, 2.5, 4) and (1, 2, 3.5, 3.5): rho = 3.75 / 4.5; C = 4, D = 0, one tie each: 4 / 5
    assert average_ranks([1, 2, 2, 3]).tolist() == [1, 2.5, 2.5, 4]
    assert spearman([1, 2, 2, 3], [1, 2, 3, 3]) == pytest.approx(3.75 / 4.5)
    assert kendall([1, 2, 2, 3], [1, 2, 3, 3]) == pytest.approx(0.8)
    assert kendall([3, 2, 1], [1, 2, 3]) == pytest.approx(-1.0)
    assert np.isnan(kendall([1, 1, 1], [1, 2, 3])) and np.isnan(spearman([2, 2], [1, 2]))


def test_kendall_equals_counting_pairs() -> None:
    rng = np.random.default_rng(7)
    for _ in range(30):
        n = int(rng.integers(2, 40))
        a, b = rng.integers(0, 6, n), rng.integers(0, 6, n)
        s = np.sign(a[:, None] - a[None, :]) * np.sign(b[:, None] - b[None, :])
        iu = np.triu_indices(n, 1)
        c, d = int((s[iu] > 0).sum()), int((s[iu] < 0).sum())
        ta, tb = int((a[:, None] == a[None, :])[iu].sum()), int((b[:, None] == b[None, :])[iu].sum())
        n0 = n * (n - 1) // 2
        want = (c - d) / np.sqrt((n0 - ta) * (n0 - tb)) if ta < n0 and tb < n0 else np.nan
        assert kendall(a, b) == pytest.approx(want, nan_ok=True)


def test_vacancy_months() -> None:
    rows = [
        {**DWELLINGS[0], "identifiant": f"V{i}", "date_liberation": d}
        for i, d in enumerate([None, "2026-03-31", None, "2025-12-31", None, "2026-04-01", None])
    ]
    dws = cotation.Batch.from_rows(rows, cotation.dwelling_catalogue())
    firsts = tuple(add_months(DAY, i) for i in range(4))  # 3 months: January to March
    # dated: March, before the period (-1), after it (-1); the 4 undated spread: months 0, 0, 1, 2
    assert vacancy_months(dws, firsts).tolist() == [0, 2, 0, -1, 1, -1, 2]


def test_add_months_follows_article_641() -> None:
    assert add_months(datetime.date(2026, 1, 31), 1) == datetime.date(2026, 2, 28)
    assert add_months(datetime.date(2026, 11, 15), 3) == datetime.date(2027, 2, 15)


# -- objectives and quartiles ---------------------------------------------------------------------------


def test_quartiles_and_resources_per_uc(stock: Any) -> None:
    _, apps, _ = stock
    rpu = obj.resources_per_uc(apps)
    assert rpu.tolist() == [6000, 36000, 7200, 24000, 9600, 18000]
    assert obj.quartiles(rpu, 8000.0).tolist()[0::2] == [1, 1, 2]
    assert (obj.quartiles(rpu, 8000.0) > 1).sum() == 4


def test_resources_per_uc_is_the_predefined_variable() -> None:
    grid = cotation.parse_grid(
        "id: uc\ntitle: UC\ncriteria:\n"
        "  - {id: uc, label: UC, when: ressources_annuelles_uc > 9000, points: 1}\n"
    )
    apps = cotation.generate_applications(300, seed=5, date_calcul=DAY, catalogue=grid.catalogue)
    env = Env(grid, apps, DAY).compute(list(grid.variables))
    got = env.vars["ressources_annuelles_uc"]
    assert got.ok.all() and np.allclose(obj.resources_per_uc(apps), got.v, rtol=1e-12)


def test_shipped_threshold_and_missing_year_is_d160() -> None:
    rows = obj.load_thresholds()
    assert obj.require_threshold("CA Vichy", 2020, rows).amount == 6488
    with pytest.raises(DataError) as exc:
        obj.Objectives("Vichy", None, obj.LEGAL_OBJECTIVES, epci="CA Vichy").first_quartile(2026, None)  # type: ignore[arg-type]
    p = exc.value.problems[0]
    assert p.code == "D160" and "'CA Vichy'" in p.message and "2026" in p.message and "2020" in p.message
    with pytest.raises(DataError) as exc:
        obj.require_threshold("CA Vichi", 2020, rows)
    assert exc.value.problems[0].suggestion == "CA Vichy"


def test_objectives_file(tmp_path: Path) -> None:
    good = tmp_path / "cia.yaml"
    good.write_text(
        "territoire: Essai\ndate: 2026-01-01\nseuil_premier_quartile: {montant: 8000, source: arrêté test}\n"
        "objectifs:\n  autres_quartiles_en_qpv: {minimum: 0.6, fondement: CIA de 2024}\n",
        encoding="utf-8",
    )
    o = obj.load_objectives(good)
    assert o.get("autres_quartiles_en_qpv").minimum == 0.6 and o.get("publics_prioritaires").minimum == 0.25
    assert o.first_quartile(2026, None).amount == 8000  # type: ignore[arg-type]
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "territoire: Essai\nobjectifs:\n  publics_prioritaires: {minimum: 25}\nepic: x\n", encoding="utf-8"
    )
    with pytest.raises(DataError) as exc:
        obj.load_objectives(bad)
    got = {(p.code, p.column, p.source) for p in exc.value.problems}
    assert ("D161", "objectifs.publics_prioritaires.minimum", f"{bad}:3:26") in got
    assert ("D161", "epic", f"{bad}:4:1") in got


# -- the simulation, counted by hand ---------------------------------------------------------------------


def test_tiny_stock_simulation_by_hand(stock: Any) -> None:
    grid, apps, dws = stock
    sim = cotation.simulate(
        grid, apps, dws, date_debut=DAY, months=2, objectives=THRESHOLD, engine="reference"
    )
    run = sim.runs[0]
    got = [(a.month, str(apps.ids[a.application]), str(dws.ids[a.dwelling])) for a in run.replay.allocations]
    # one applicant, one proposal: each dwelling's 3 candidates are proposed for it alone. Month 0:
    # L1 gets A1 (DALO), A2, A3 (oldest demands) and houses A1; L2 gets A4, A5, A6 and houses A4.
    # Month 1: pending A2, A3, A5, A6: L3 houses A2, L4 gets what is left after L3's 3: A6.
    assert got == [(0, "A1", "L1"), (0, "A4", "L2"), (1, "A2", "L3"), (1, "A6", "L4")]
    p = run.period
    assert (p.share("publics_prioritaires").count, p.share("publics_prioritaires").of) == (1, 4)
    assert p.share("publics_prioritaires", "prefet").share == 0.5
    bailleur = p.share("publics_prioritaires", "bailleur")
    assert (bailleur.share, bailleur.met, bailleur.gap) == (0.0, False, -0.25)
    q1 = p.share("premier_quartile_hors_qpv")
    assert (q1.count, q1.of, q1.met, q1.gap) == (1, 2, True, 0.25)  # A1 below 8 000 € per UC, A2 not
    assert (p.share("autres_quartiles_en_qpv").count, p.share("autres_quartiles_en_qpv").of) == (2, 2)
    assert [f.allocations for f in run.per_month] == [2, 2]
    assert p.waiting_months[0] == pytest.approx((DAY - datetime.date(2020, 1, 1)).days / 30.436875, abs=0.01)
    rows = sim.history()
    assert rows["type_attribution"] == ["premier_acces", "premier_acces", "mutation", "premier_acces"]
    assert rows["qpv"] == ["false", "true", "false", "true"] and rows["reservataire"][1] == "bailleur"


def test_two_grids_side_by_side(stock: Any) -> None:
    grid, apps, dws = stock
    grid_b = cotation.parse_grid(MINI_B, "mini-b.yaml")
    sim = cotation.simulate(
        grid, apps, dws, date_debut=DAY, months=2, objectives=THRESHOLD, compare=grid_b, engine="reference"
    )
    a, b = (r.replay for r in sim.runs)
    assert (a.grid_id, b.grid_id) == ("mini", "mini-b")
    # without DALO points, B ranks by seniority only: month 0, L1 gets A2 A3 A4 (houses A2), L2 gets
    # A5 A6 A1 (houses A5); month 1, L3 gets A3 A4 A6 (houses A3), L4 what is left: A1
    assert [str(apps.ids[x.application]) for x in b.allocations] == ["A2", "A5", "A3", "A1"]
    holder = sim.runs[1].period.share("publics_prioritaires", "bailleur")
    assert (holder.count, holder.of) == (1, 2) and sim.runs[1].period.share("publics_prioritaires").count == 1
    page = sim.to_html()
    assert page.count("mini-b : part") == 2 and "mini : part" in page  # objectives and holders tables
    assert [g["grille"] for g in json.loads(sim.to_json())["grilles"]] == ["mini", "mini-b"]


def test_one_candidate_per_dwelling(stock: Any) -> None:
    grid, apps, dws = stock
    sim = cotation.simulate(
        grid, apps, dws, date_debut=DAY, months=2, objectives=THRESHOLD, k=1, engine="reference"
    )
    got = [(str(apps.ids[a.application]), str(dws.ids[a.dwelling])) for a in sim.runs[0].replay.allocations]
    assert got == [("A1", "L1"), ("A2", "L2"), ("A3", "L3"), ("A4", "L4")]  # by points, then seniority


def test_refusals_feed_the_refusal_fields(stock: Any) -> None:
    grid, apps, dws = stock
    sim = cotation.simulate(
        grid,
        apps,
        dws,
        date_debut=DAY,
        months=2,
        objectives=THRESHOLD,
        refusal=0.5,
        seed=3,
        engine="reference",
    )
    again = cotation.simulate(
        grid,
        apps,
        dws,
        date_debut=DAY,
        months=2,
        objectives=THRESHOLD,
        refusal=0.5,
        seed=3,
        engine="reference",
    )
    r = sim.runs[0].replay
    assert [(a.application, a.dwelling) for a in r.allocations] == [
        (a.application, a.dwelling) for a in again.runs[0].replay.allocations
    ]
    assert r.refusals == sum(a.refusals for a in r.allocations) + 0 or r.unallocated > 0


def test_history_round_trip_and_backtest(stock: Any, tmp_path: Path) -> None:
    grid, apps, dws = stock
    sim = cotation.simulate(
        grid, apps, dws, date_debut=DAY, months=2, objectives=THRESHOLD, engine="reference"
    )
    path = tmp_path / "attributions.csv"
    write_history(sim.history(), path)
    back = read_history(path)
    assert back.application_ids.tolist() == ["A1", "A4", "A2", "A6"]
    again = cotation.simulate(
        grid, apps, dws, date_debut=DAY, months=2, objectives=THRESHOLD, history=path, engine="reference"
    )
    bt = again.backtests[0]
    # each dwelling ranked alone on the allocation's date: L2's A4 comes after A1, A2, A3 (all pending
    # on 1 January); on 1 February A1 and A4 are housed: L3's A2 is first, L4's A6 after A2, A3, A5
    assert [d.rank for d in bt.decisions] == [1, 4, 1, 4]
    assert bt.top3 == 0.5 and dict(bt.distribution())["4 à 10"] == 2
    assert [d.numero_unique for d in bt.disagreements()] == ["A4", "A6"]


SMALL = """
id: petite
title: Petite grille
criteria:
  - {id: dalo, label: DALO, when: dalo, points: 100}
  - {id: anciennete, label: Ancienneté, value: "months_between(date_depot, date_calcul)", per_unit: 1}
  - id: refus
    label: Refus d'une proposition dans les 12 derniers mois
    when: coalesce(months_between(date_dernier_refus, date_calcul) < 12, false)
    value: coalesce(nb_refus_propositions, 0)
    per_unit: -10
    min: -30
match:
  filters:
    - {id: commune, label: Commune souhaitée, when: logement.commune in communes_souhaitees}
    - {id: taille, label: Taille adaptée, when: adequation_logement >= 0}
  criteria:
    - {id: premier, label: Premier souhait, when: rang_commune == 1, points: 20}
"""


@pytest.mark.parametrize(
    ("body", "code", "column", "rows"),
    [
        ("numero_unique,date_attribution\nA1,2026-01-01\n", "D163", "logement", ()),
        (
            "numero_unique,logement,date_attribution\nA1,L1,2026-01-01\nA2,L2,2026-13-01\n",
            "D164",
            "date_attribution",
            ("line 3",),
        ),
        ("numero_unique,logement,date_attribution,qpv\nA1,L1,2026-01-01,oui\n", "D164", "qpv", ("line 2",)),
        ("numero_unique,logement,date_attribution\nA9,L1,2026-01-01\n", "D165", "numero_unique", ("line 2",)),
        ("numero_unique,logement,date_attribution\nA1,L7,2026-01-01\n", "D165", "logement", ("line 2",)),
        (
            "numero_unique,logement,date_attribution\nA1,L1,2019-06-01\n",
            "D166",
            "date_attribution",
            ("line 2",),
        ),
    ],
)
def test_history_errors_name_column_and_rows(
    stock: Any, tmp_path: Path, body: str, code: str, column: str, rows: tuple[str, ...]
) -> None:
    grid, apps, dws = stock
    path = tmp_path / "attributions.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(DataError) as exc:
        cotation.simulate(
            grid, apps, dws, date_debut=DAY, months=1, objectives=THRESHOLD, history=path, engine="reference"
        )
    p = exc.value.problems[0]
    assert (p.code, p.column, p.rows, p.source) == (code, column, rows, str(path))


def test_compiled_and_reference_simulations_agree() -> None:
    # a small grid with a refusal criterion (compiles in seconds): the refusals drawn in month 1
    # change the ranks of month 2 in both engines alike
    grid = cotation.parse_grid(SMALL, "petite.yaml")
    apps = cotation.generate_applications(400, seed=11, date_calcul=DAY, catalogue=grid.catalogue)
    dws = cotation.generate_dwellings(40, seed=11, vacancies_from=DAY, vacancy_months=3)
    runs = [
        cotation.simulate(grid, apps, dws, date_debut=DAY, months=3, refusal=0.3, seed=2, engine=e)
        .runs[0]
        .replay
        for e in ("reference", "compiled")
    ]
    key = [[(a.month, a.application, a.dwelling, a.refusals) for a in r.allocations] for r in runs]
    assert key[0] == key[1] and len(key[0]) > 10 and runs[0].refusals == runs[1].refusals > 0


# -- the comparison ---------------------------------------------------------------------------------------


def test_comparison(stock: Any) -> None:
    grid, apps, _ = stock
    grid_b = cotation.parse_grid(MINI_B, "mini-b.yaml")
    c = cotation.compare(grid, grid_b, apps, date_calcul=DAY, top=2, engine="reference", objectives=THRESHOLD)
    # A: A1 first (DALO), then by seniority A2 A3 A4 A5 A6; B: A2 A3 A4 A5 A6 A1
    frame = c.to_pandas()
    assert frame["rang_a"].tolist() == [1, 2, 3, 4, 5, 6] and frame["rang_b"].tolist() == [6, 1, 2, 3, 4, 5]
    assert c.spearman == pytest.approx(spearman([1, 2, 3, 4, 5, 6], [6, 1, 2, 3, 4, 5]))
    assert c.top_churn == 0.5  # A's top 2 = A1, A2; B's = A2, A3
    assert c.a.priority == 0.5 and c.b.priority == 0.0
    assert c.a.quartiles[0] == 0.5 and c.b.quartiles[0] == 0.5  # A1 / A3 are in the first quartile
    assert c.a.mean_points["dalo"] == pytest.approx(100 / 6) and c.b.mean_points["dalo"] == 0
    assert c.losers[0].numero_unique == "A1" and c.losers[0].criteria == (("dalo", "DALO", 100, 0),)
    assert json.loads(c.to_json())["grilles"][1]["grille"] == "mini-b"
    assert c.histogram_a.sum() == c.histogram_b.sum() == 6 and "<svg" in c._repr_html_()


# -- the command line and the pages in a browser -------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("experiment")
    grid = cotation.load_grid(ROOT / "grids" / "exemple-metropole.yaml")
    cotation.write_applications(
        cotation.generate_applications(300, seed=4, date_calcul=DAY, catalogue=grid.catalogue),
        out / "demandes.csv",
    )
    cotation.write_applications(
        cotation.generate_dwellings(24, seed=4, vacancies_from=DAY), out / "logements.csv"
    )
    return out


def test_cli_compare_and_simulate(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g1, g2 = str(ROOT / "grids" / "exemple-metropole.yaml"), str(ROOT / "grids" / "toulouse-like.yaml")
    d, dw = str(files / "demandes.csv"), str(files / "logements.csv")
    assert (
        main(
            [
                "compare",
                g1,
                g2,
                d,
                "--date",
                "2026-01-01",
                "--engine",
                "reference",
                "-o",
                str(files / "cmp.html"),
            ]
        )
        == 0
    )
    assert "<svg" in (files / "cmp.html").read_text(encoding="utf-8")
    sim = ["simulate", g1, d, dw, "--date", "2026-01-01", "--engine", "reference"]
    assert main([*sim, "-o", str(files / "sim.html"), "--attributions", str(files / "attr.csv")]) == 0
    page = (files / "sim.html").read_text(encoding="utf-8")
    assert "Publics prioritaires" in page and "Premier quartile, hors QPV" in page and "atteint" in page
    assert "exemple-metropole" in page and "2026-01-01" in page
    assert (
        main([*sim, "-o", str(files / "bt.json"), "--history", str(files / "attr.csv"), "--months", "2"]) == 0
    )
    figures = json.loads((files / "bt.json").read_text(encoding="utf-8"))
    assert figures["retro_tests"][0]["attributions"] == 24 and figures["retro_tests"][0]["part_top3"] > 0.5
    capsys.readouterr()
    assert main([*sim, "-o", str(files / "x.html"), "--compare", g2]) == 1  # no match part: a user error
    assert "has no match part" in capsys.readouterr().err
    cia = files / "cia.yaml"
    cia.write_text("territoire: Vichy\nepci: CA Vichy\n", encoding="utf-8")
    assert main([*sim, "-o", str(files / "x.html"), "--objectifs", str(cia)]) == 1
    assert "error[D160]" in capsys.readouterr().err


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine: the pages are not rendered in a browser"
)
def test_pages_open_in_a_headless_browser(files: Path) -> None:
    g1 = str(ROOT / "grids" / "exemple-metropole.yaml")
    d, dw = str(files / "demandes.csv"), str(files / "logements.csv")
    assert (
        main(
            [
                "compare",
                g1,
                g1,
                d,
                "--date",
                "2026-01-01",
                "--engine",
                "reference",
                "-o",
                str(files / "c.html"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "simulate",
                g1,
                d,
                dw,
                "--date",
                "2026-01-01",
                "--engine",
                "reference",
                "--months",
                "3",
                "-o",
                str(files / "s.html"),
            ]
        )
        == 0
    )
    for name, want in (("c.html", "<svg"), ("s.html", "Objectifs sur la période")):
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
                f"--user-data-dir={files / ('profile-' + name)}",
                "--dump-dom",
                (files / name).as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert want in done.stdout


def test_add_months_agrees_with_the_grid_function() -> None:
    """The simulation's month steps and the grid's ``add_months`` are the same arithmetic."""
    from cotation.data.calendar import add_months as add_months_column
    from cotation.dates import day_number, from_day_number

    days = np.arange(day_number(datetime.date(2023, 12, 25)), day_number(datetime.date(2025, 3, 5)))
    for n in (-13, -1, 0, 1, 2, 12, 25):
        column = add_months_column(days.astype(np.int32), np.full(len(days), n, np.int32))
        assert [from_day_number(int(d)) for d in column] == [
            add_months(from_day_number(int(d)), n) for d in days
        ]


def test_priority_publics_load_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped pool is included from the package's resources, not from the working directory
    (a grid given as text is confined to the current folder)."""
    from cotation.experiment import publics

    publics._publics_grid.cache_clear()
    monkeypatch.chdir(tmp_path)
    assert publics._publics_grid().priorities

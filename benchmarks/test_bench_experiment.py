"""pytest-benchmark timing of a simulated year: 1 000 vacancies over 50 000 applications, the
shipped example grid, compiled engine, committee refusing 20 % of proposals (cotation simulate).

Run alone: ``.venv/bin/python -m pytest benchmarks/test_bench_experiment.py -q --benchmark-only``;
the time per simulated month is printed (``extra_info["s_per_month"]``).
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

import cotation

DAY = datetime.date(2026, 1, 1)
MONTHS = 12
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def year() -> tuple[object, object, object]:
    grid = cotation.load_grid(ROOT / "grids" / "exemple-metropole.yaml")
    apps = cotation.generate_applications(50_000, seed=1, date_calcul=DAY, catalogue=grid.catalogue)
    dws = cotation.generate_dwellings(1_000, seed=1, vacancies_from=DAY, vacancy_months=MONTHS)
    cotation.simulate(grid, apps, dws, date_debut=DAY, months=1, refusal=0.2)  # compile outside the timing
    return grid, apps, dws


def test_simulated_year(benchmark, year):
    grid, apps, dws = year

    def run():
        return cotation.simulate(grid, apps, dws, date_debut=DAY, months=MONTHS, refusal=0.2, seed=1)

    sim = benchmark.pedantic(run, rounds=1, iterations=1)
    assert sim.runs[0].period.allocations > 900
    benchmark.extra_info["s_per_month"] = benchmark.stats.stats.mean / MONTHS
    mean = benchmark.stats.stats.mean
    print(f"\nsimulated year: {mean:.2f} s, {mean / MONTHS:.3f} s per month")

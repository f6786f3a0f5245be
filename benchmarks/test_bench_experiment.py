"""pytest-benchmark timing of a simulated year: 1 000 vacancies over 50 000 applications, the
shipped example grid, compiled engine, committee refusing 20 % of proposals (benchmarks/simulate.py).

Run alone: ``.venv/bin/python -m pytest benchmarks/test_bench_experiment.py -q --benchmark-only -s``;
the time per simulated month is printed and kept in ``extra_info["s_per_month"]``.
"""

from __future__ import annotations

import pytest

from benchmarks.simulate import MONTHS, YearCase


@pytest.fixture(scope="module")
def year() -> YearCase:
    return YearCase.make()  # compiles outside the timing


def test_simulated_year(benchmark, year):
    sim = benchmark.pedantic(year.run, rounds=1, iterations=1)
    assert sim.runs[0].period.allocations > 900
    mean = benchmark.stats.stats.mean
    benchmark.extra_info["s_per_month"] = mean / MONTHS
    print(f"\nsimulated year: {mean:.2f} s, {mean / MONTHS:.3f} s per month")

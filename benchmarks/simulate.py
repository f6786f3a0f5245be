"""A simulated year (``cotation simulate``): 1 000 vacancies over 50 000 applications, the shipped
example grid, compiled engine, the committee refusing 20 % of proposals; the time per simulated month.

Run: ``python -m benchmarks.simulate [--vacancies 1000] [--applications 50000]`` (part of ``make bench``);
prints one JSON object. The pytest-benchmark version is ``benchmarks/test_bench_experiment.py``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cotation

DAY = datetime.date(2026, 1, 1)
MONTHS = 12
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class YearCase:
    """The grid, applications and dwellings of a simulated year, compiled outside the timing."""

    grid: Any
    apps: Any
    dwellings: Any

    @classmethod
    def make(cls, vacancies: int = 1_000, applications: int = 50_000) -> YearCase:
        grid = cotation.load_grid(ROOT / "grids" / "exemple-metropole.yaml")
        apps = cotation.generate_applications(applications, seed=1, date_calcul=DAY, catalogue=grid.catalogue)
        dws = cotation.generate_dwellings(vacancies, seed=1, vacancies_from=DAY, vacancy_months=MONTHS)
        case = cls(grid, apps, dws)
        cotation.simulate(
            grid, apps, dws.take(range(min(vacancies, 50))), date_debut=DAY, months=1, refusal=0.2
        )
        return case

    def run(self) -> Any:
        return cotation.simulate(
            self.grid, self.apps, self.dwellings, date_debut=DAY, months=MONTHS, refusal=0.2, seed=1
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.simulate", description=__doc__)
    parser.add_argument("--vacancies", type=int, default=1_000)
    parser.add_argument("--applications", type=int, default=50_000)
    args = parser.parse_args(argv)
    case = YearCase.make(args.vacancies, args.applications)
    start = time.perf_counter()
    sim = case.run()
    seconds = time.perf_counter() - start
    out = {
        "simulate": {
            "months": MONTHS,
            "vacancies": args.vacancies,
            "applications": args.applications,
            "allocations": sim.runs[0].period.allocations,
            "total_s": round(seconds, 3),
            "s_per_month": round(seconds / MONTHS, 4),
        }
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

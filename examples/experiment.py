"""Compare two variants of a grid, then simulate a year of allocations against the legal objectives.

Run: python examples/experiment.py [FOLDER]  (writes comparaison.html and simulation.html there,
default a new temporary folder)
"""

from __future__ import annotations

import datetime
import sys
import tempfile
from pathlib import Path

import cotation

ROOT = Path(__file__).resolve().parent.parent
DAY = datetime.date(2026, 1, 1)


def main() -> None:
    grid = cotation.load_grid(ROOT / "grids" / "exemple-metropole.yaml")
    # a variant: seniority capped at 60 points (5 years) instead of 120, to see what the grid owes to it
    text = (ROOT / "grids" / "exemple-metropole.yaml").read_text(encoding="utf-8")
    text = text.replace("id: exemple-metropole", "id: exemple-variante", 1)
    text = text.replace("per_unit: 1\n    max: 120", "per_unit: 1\n    max: 60", 1)
    pool = ROOT / "grids" / "publics-prioritaires.yaml"  # includes resolve from the current directory
    text = text.replace("include: [publics-prioritaires.yaml]", f'include: ["{pool}"]', 1)
    variant = cotation.parse_grid(text, "variante.yaml")
    applications = cotation.generate_applications(2_000, seed=1, date_calcul=DAY, catalogue=grid.catalogue)
    dwellings = cotation.generate_dwellings(120, seed=1, vacancies_from=DAY)
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="cotation-experiment-"))
    out.mkdir(parents=True, exist_ok=True)

    comparison = cotation.compare(grid, variant, applications, date_calcul=DAY, top=100)
    (out / "comparaison.html").write_text(comparison.to_html(), encoding="utf-8")
    print(f"Spearman {comparison.spearman:.3f}, Kendall {comparison.kendall:.3f}")

    simulation = cotation.simulate(
        grid, applications, dwellings, date_debut=DAY, months=12, refusal=0.2, seed=1
    )
    (out / "simulation.html").write_text(simulation.to_html(), encoding="utf-8")
    period = simulation.runs[0].period
    for objective in ("publics_prioritaires", "premier_quartile_hors_qpv", "autres_quartiles_en_qpv"):
        share = period.share(objective)
        print(
            f"{objective}: {share.count}/{share.of} (minimum {share.minimum:.0%}): "
            f"{'met' if share.met else 'not met'}"
        )
    print(f"pages in {out}")


if __name__ == "__main__":
    main()

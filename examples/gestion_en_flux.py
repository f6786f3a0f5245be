"""Gestion en flux and the annual review: a year simulated under a grid with reservation holders,
the vacancies without a holder oriented by flow share, then the bilan annuel of those allocations.

Run: python examples/gestion_en_flux.py [FOLDER]  (writes simulation.html, attributions.csv and
bilan.html there, default a new temporary folder)
"""

from __future__ import annotations

import datetime
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import cotation

ROOT = Path(__file__).resolve().parent.parent
DAY = datetime.date(2026, 1, 1)


def main() -> None:
    grid = cotation.load_grid(
        ROOT / "examples" / "gestion-en-flux.yaml", include_dirs=[ROOT / "grids"]
    )  # it includes the example grid, from the grids/ folder
    generated = cotation.generate_applications(600, seed=2, date_calcul=DAY, catalogue=grid.catalogue)
    applications = generated.to_arrow().to_pandas()
    rng = np.random.default_rng(2)  # a third of the households work for a firm paying the PEEC
    applications["salarie_entreprise_cotisante"] = rng.random(len(applications)) < 1 / 3
    applications["agent_public"] = rng.random(len(applications)) < 0.05
    dwellings = cotation.generate_dwellings(40, seed=2, vacancies_from=DAY).to_arrow().to_pandas()
    dwellings["reservataire"] = None  # every vacancy oriented by the convention's flow shares
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="cotation-flux-"))
    out.mkdir(parents=True, exist_ok=True)

    simulation = cotation.simulate(grid, applications, dwellings, date_debut=DAY, months=12, orient=True)
    (out / "simulation.html").write_text(simulation.to_html(), encoding="utf-8")
    for flow in simulation.runs[0].flows:
        target = "—" if flow.target is None else f"{flow.target:.0%}"
        print(f"{flow.holder}: {flow.count}/{flow.of} allocations (flow share {target})")

    history = pd.DataFrame(simulation.history())  # the allocation history format
    history.to_csv(out / "attributions.csv", index=False)
    review = cotation.bilan(grid, applications, history, annee=2026)
    (out / "bilan.html").write_text(review.to_html(), encoding="utf-8")
    year = review.years[-1]
    print(f"bilan {year.year}: {year.allocations} allocations")
    for share in year.objectives.shares:
        verdict = "met" if share.met else "not met"
        print(f"{share.objective} {share.group or 'all'}: {share.count}/{share.of}: {verdict}")
    print(f"pages in {out}")


if __name__ == "__main__":
    main()

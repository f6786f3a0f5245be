"""From files to a committee's shortlist, with the public API only.

    python examples/score_and_rank.py [OUT_DIR]

Writes a CSV of generated applications and a CSV of vacant dwellings (stand-ins for an office's
exports), reads them back, scores the applications with the example grid, explains the best one
in French, writes the scores (Parquet, stamped with the grid and the date), and ranks the three
best candidates of each dwelling.
"""

from __future__ import annotations

import datetime
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

import cotation

GRID = Path(__file__).resolve().parent.parent / "grids" / "exemple-metropole.yaml"
DAY = datetime.date(2026, 1, 1)


def main(out: Path) -> None:
    grid = cotation.load_grid(GRID)
    demandes, logements = out / "demandes.csv", out / "logements.csv"
    generated = cotation.generate_applications(2_000, seed=7, date_calcul=DAY, catalogue=grid.catalogue)
    cotation.write_applications(generated, demandes)  # with the grid's local fields
    cotation.write_applications(cotation.generate_dwellings(5, seed=3), logements)

    applications = cotation.read_applications(demandes, grid.catalogue, date_calcul=DAY)
    scores = cotation.score(grid, applications, DAY)
    pq.write_table(scores.to_arrow(), out / "scores.parquet")  # the grid and date in its metadata
    print(f"{len(scores)} demandes cotées, grille {scores.grid_id} version {scores.grid_version}, au {DAY}")
    best = str(scores.ids[scores.order()[0]])
    print(cotation.explain_text(grid, scores, applications, best))

    ranking = cotation.rank(grid, applications, logements, 3, date_calcul=DAY, assignment="given")
    for dwelling in ranking.dwelling_ids:
        shortlist = ", ".join(c["numero_unique"] for c in ranking.candidates(str(dwelling)))
        print(f"logement {dwelling} : {shortlist or 'aucun candidat'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="cotation-exemple-")))

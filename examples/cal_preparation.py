"""Preparing an allocation committee (CAL): a French office export in, committee sheets out.

    python examples/cal_preparation.py [OUT_DIR]

The office's export is what French software writes: ``;``-separated, decimal commas,
``dd/mm/yyyy`` dates, cp1252 text (here generated, then written that way). It is read as it is,
scored with the example grid, and the three best candidates of each vacant dwelling are compared
criterion by criterion: one .xlsx workbook with a sheet per dwelling (French headers, frozen,
fitted widths) and one printable HTML page per dwelling, each with its stamp (grid, version,
date, input digest) beside it.
"""

from __future__ import annotations

import datetime
import sys
import tempfile
from pathlib import Path

import pyarrow as pa

import cotation

GRID = Path(__file__).resolve().parent.parent / "grids" / "exemple-metropole.yaml"
DAY = datetime.date(2026, 1, 1)


def main(out: Path) -> None:
    grid = cotation.load_grid(GRID)
    export, logements = out / "export_demandes.csv", out / "logements.csv"
    generated = cotation.generate_applications(1_500, seed=21, date_calcul=DAY, catalogue=grid.catalogue)
    cotation.write_applications(generated, export, dialect="fr", encoding="cp1252")
    cotation.write_applications(cotation.generate_dwellings(4, seed=8), logements)

    applications = cotation.read_applications(export, grid.catalogue, date_calcul=DAY)  # cp1252 detected
    dwellings = cotation.read_dwellings(logements, grid.match.catalogue if grid.match else None)
    scores = cotation.score(grid, applications, DAY)
    ranking = cotation.rank(grid, applications, dwellings, 3, date_calcul=DAY, assignment="given")
    stamp = cotation.Stamp(
        grid_id=grid.meta.id,
        grid_version=grid.meta.version or "",
        grid_hash=grid.content_hash,
        date_calcul=DAY.isoformat(),
        engine=scores.engine,
        input=export.name,
    )

    sheets: dict[str, pa.Table] = {}
    for dwelling in (str(d) for d in ranking.dwelling_ids):
        if not ranking.candidates(dwelling):
            print(f"logement {dwelling} : aucun candidat")
            continue
        view = cotation.committee_view(grid, ranking, scores, applications, dwellings, dwelling)
        sheets[dwelling] = pa.table({k: [str(v) for v in vs] for k, vs in view.table().items()})
        (out / f"cal_{dwelling}.html").write_text(cotation.committee_html(view), encoding="utf-8")
        print(f"logement {dwelling} : {', '.join(view.candidates)}")
    cotation.write_output(ranking.to_arrow(), out / "cal.xlsx", stamp, sheets=sheets)
    print(f"{len(scores)} demandes lues ({export.name}, cp1252), {len(sheets)} fiches : {out / 'cal.xlsx'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="cotation-cal-")))

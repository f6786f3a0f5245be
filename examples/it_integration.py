"""An IT system calling cotation: applications as JSON or a DataFrame in, JSON out.

    python examples/it_integration.py [OUT_DIR]

A landlord's system hands over its applications as JSON records (here generated, with ids that
keep their leading zeros) or as a pandas / polars DataFrame; cotation scores them and answers in
JSON Lines: the stamp first (grid, version, hash, date, engine, digest of the input), then one
object per application, best first. A record that cannot be read does not stop the batch: it is
set apart with its reasons (``read_with_rejects``), and the counts add up.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import pyarrow as pa

import cotation

GRID = Path(__file__).resolve().parent.parent / "grids" / "exemple-metropole.yaml"
DAY = datetime.date(2026, 1, 1)


def incoming_records(grid: cotation.Grid) -> list[dict[str, object]]:
    """What the IT system sends: JSON records, one of them broken."""
    batch = cotation.generate_applications(300, seed=5, date_calcul=DAY, catalogue=grid.catalogue)
    records = json.loads(json.dumps(batch.to_arrow().to_pylist(), default=str))
    records[7]["nb_personnes"] = "beaucoup"
    return records


def main(out: Path) -> None:
    grid = cotation.load_grid(GRID)
    payload = json.dumps(incoming_records(grid), ensure_ascii=False)
    records = json.loads(payload)
    table = pa.Table.from_pylist([{k: None if v is None else str(v) for k, v in r.items()} for r in records])
    batch, rejects = cotation.read_with_rejects(table, grid.catalogue, date_calcul=DAY)
    scores = cotation.score(grid, batch, DAY)
    stamp = cotation.Stamp(
        grid_id=scores.grid_id,
        grid_version=scores.grid_version or "",
        grid_hash=scores.grid_hash,
        date_calcul=DAY.isoformat(),
        engine=scores.engine,
        input="payload.json",
        input_sha256="sha256:" + hashlib.sha256(payload.encode()).hexdigest(),
    )
    best_first = scores.to_arrow().take(pa.array(scores.order()))
    cotation.write_output(best_first, out / "scores.jsonl", stamp)
    cotation.write_output(rejects.table, out / "rejets.jsonl")
    frame = scores.to_pandas()  # the same scores as a DataFrame, for the IT system's own tables
    print(f"{len(records)} demandes reçues : {len(batch)} cotées, {len(rejects)} rejetée(s)")
    print(f"meilleure demande : {frame.sort_values('rank').iloc[0]['numero_unique']}")
    print(f"réponse : {out / 'scores.jsonl'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="cotation-si-")))

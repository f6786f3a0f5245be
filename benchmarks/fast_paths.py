"""The bytes fast paths of the text readers, one by one (issue 18, target 2: the French CSV).

Reads the French-dialect file of ``benchmarks.read`` (``generate_applications(n, seed=1)``, ``;``,
decimal commas, dd/mm/yyyy, oui/non) as text columns once, then times each fast path on its columns,
best of ``repeats`` (the best, not the median: these are CPU-bound NumPy passes of a few to a hundred
milliseconds, and the best is what moves least on a shared machine):

* ``communes_ms``: ``batch._packed_communes`` of ``communes_souhaitees``;
* ``decimals_ms``: ``formats._plain_decimals`` of the four money and surface columns, summed;
* ``booleans_ms``: ``batch._plain_bools`` of every boolean column, summed.

``--convert FILE`` (a Parquet or CSV file of applications, e.g. ``benchmarks.read``'s) times instead
every column's conversion (``batch._convert_column`` of the column as the reader hands it over, best
of ``repeats``: ``columns_ms``, sorted, and ``columns_total_ms``), the ids' checks (``ids_ms``), and
the whole read against pyarrow's (``read_applications`` and ``pyarrow.parquet.read_table`` or
``pyarrow.csv.read_csv``, alternated, medians: ``read_s``, ``pyarrow_s``, ``read_over_pyarrow``).

``--root`` imports ``cotation`` from another checkout (a worktree of an older commit), for an A/B
in one command each: ``python -m benchmarks.fast_paths --root /tmp/old``.

    python -m benchmarks.fast_paths [--n 1000000] [--repeats 15] [--file a.fr.csv] [--root DIR]
    python -m benchmarks.fast_paths --convert a.parquet [--repeats 5] [--root DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

DECIMALS = ("ressources_mensuelles", "loyer_actuel", "surface_actuelle", "revenu_fiscal_reference")


def best_ms(call: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def measure(path: Path, repeats: int) -> dict[str, Any]:
    from cotation.data import batch, formats
    from cotation.grid.catalogue import Kind

    table = formats.read_csv_file(str(path), str(path))
    catalogue = batch.default_catalogue()
    communes = batch._normalise(table.column("communes_souhaitees"))
    width = catalogue["communes_souhaitees"].width
    decimals = [batch._normalise(table.column(name)) for name in DECIMALS]
    booleans = [
        (f, table.column(f.name).combine_chunks())
        for f in catalogue
        if f.kind is Kind.BOOL and f.name in table.column_names
    ]
    return {
        "rows": table.num_rows,
        "repeats": repeats,
        "cotation": str(Path(batch.__file__).parent.parent),
        "communes_ms": round(best_ms(lambda: batch._packed_communes(communes, width), repeats), 2),
        "decimals_ms": round(sum(best_ms(partial(formats._plain_decimals, a), repeats) for a in decimals), 2),
        "booleans_ms": round(
            sum(best_ms(partial(batch._plain_bools, f, a), repeats) for f, a in booleans), 2
        ),
        "boolean_columns": len(booleans),
    }


def convert(path: Path, repeats: int) -> dict[str, Any]:
    """Each column's conversion, the ids' checks and the whole read of ``path`` (see the docstring)."""
    import datetime
    import statistics

    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from cotation.data import batch
    from cotation.data.batch import read_applications
    from cotation.dates import day_number
    from cotation.grid.catalogue import Kind

    day = datetime.date(2026, 1, 1)
    catalogue = batch.default_catalogue()
    raw, _ = batch._load_columns(path, None, catalogue)  # the columns as the reader gets them
    columns = {name: raw.read(i) for i, name in enumerate(raw.names)}

    def one(f: Any) -> None:
        ctx = batch._Ctx(batch._Report(str(path)), raw.rows, day_number(day))
        batch._convert_column(f, columns[f.name], ctx)

    def ids() -> None:
        ctx = batch._Ctx(batch._Report(str(path)), raw.rows, day_number(day))
        id_field = catalogue.id_field
        batch._convert_ids(id_field, batch._normalise(columns[id_field.name], False), ctx)

    fields = [f for f in catalogue if f.kind is not Kind.ID and f.name in columns]
    per_column = {f.name: round(best_ms(partial(one, f), repeats), 2) for f in fields}
    peer = pq.read_table if path.suffix == ".parquet" else pacsv.read_csv
    ours_s, peer_s = [], []
    read_applications(path, catalogue, date_calcul=day)
    for _ in range(repeats):
        t0 = time.perf_counter()
        peer(path)
        t1 = time.perf_counter()
        read_applications(path, catalogue, date_calcul=day)
        peer_s.append(t1 - t0)
        ours_s.append(time.perf_counter() - t1)
    ours, theirs = statistics.median(ours_s), statistics.median(peer_s)
    return {
        "file": str(path),
        "rows": raw.rows,
        "repeats": repeats,
        "cotation": str(Path(batch.__file__).parent.parent),
        "columns_ms": dict(sorted(per_column.items(), key=lambda kv: -kv[1])),
        "columns_total_ms": round(sum(per_column.values()), 1),
        "ids_ms": round(best_ms(ids, repeats), 2),
        "read_s": round(ours, 3),
        "pyarrow_s": round(theirs, 3),
        "read_over_pyarrow": round(ours / theirs, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--file", type=Path, help="an existing French-dialect file (else one is written)")
    parser.add_argument("--root", type=Path, help="import cotation from this checkout")
    parser.add_argument("--convert", type=Path, help="time every column's conversion of this file")
    args = parser.parse_args(argv)
    if args.root is not None:
        sys.path.insert(0, str(args.root.resolve()))
    if args.convert is not None:
        print(json.dumps(convert(args.convert, args.repeats), indent=2))
        return
    if args.file is not None:
        print(json.dumps(measure(args.file, args.repeats), indent=2))
        return
    from benchmarks.read import _files

    with tempfile.TemporaryDirectory() as work:
        path = _files(Path(work), args.n)["csv_fr"]
        print(json.dumps(measure(path, args.repeats), indent=2))


if __name__ == "__main__":
    main()

"""The bytes fast paths of the text readers, one by one (issue 18, target 2: the French CSV).

Reads the French-dialect file of ``benchmarks.read`` (``generate_applications(n, seed=1)``, ``;``,
decimal commas, dd/mm/yyyy, oui/non) as text columns once, then times each fast path on its columns,
best of ``repeats`` (the best, not the median: these are CPU-bound NumPy passes of a few to a hundred
milliseconds, and the best is what moves least on a shared machine):

* ``communes_ms``: ``batch._packed_communes`` of ``communes_souhaitees``;
* ``decimals_ms``: ``formats._plain_decimals`` of the four money and surface columns, summed;
* ``booleans_ms``: ``batch._plain_bools`` of every boolean column, summed.

``--root`` imports ``cotation`` from another checkout (a worktree of an older commit), for an A/B
in one command each: ``python -m benchmarks.fast_paths --root /tmp/old``.

    python -m benchmarks.fast_paths [--n 1000000] [--repeats 15] [--file a.fr.csv] [--root DIR]
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


def _best_ms(call: Callable[[], Any], repeats: int) -> float:
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
        "communes_ms": round(_best_ms(lambda: batch._packed_communes(communes, width), repeats), 2),
        "decimals_ms": round(
            sum(_best_ms(partial(formats._plain_decimals, a), repeats) for a in decimals), 2
        ),
        "booleans_ms": round(
            sum(_best_ms(partial(batch._plain_bools, f, a), repeats) for f, a in booleans), 2
        ),
        "boolean_columns": len(booleans),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--file", type=Path, help="an existing French-dialect file (else one is written)")
    parser.add_argument("--root", type=Path, help="import cotation from this checkout")
    args = parser.parse_args(argv)
    if args.root is not None:
        sys.path.insert(0, str(args.root.resolve()))
    if args.file is not None:
        print(json.dumps(measure(args.file, args.repeats), indent=2))
        return
    from benchmarks.read import _files

    with tempfile.TemporaryDirectory() as work:
        path = _files(Path(work), args.n)["csv_fr"]
        print(json.dumps(measure(path, args.repeats), indent=2))


if __name__ == "__main__":
    main()

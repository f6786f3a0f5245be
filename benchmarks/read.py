"""Reading at Arrow speed (issue 18, target 2): the `read` key of the summary.

``generate_applications(n, seed=1)`` written with the library's own writer to Parquet, to plain CSV
and to the French-office dialect (``;``, BOM, decimal commas, dd/mm/yyyy, oui/non); the grid
``grids/exemple-metropole.yaml``. Timed in one process, round robin (each round starting one callable
later), median of ``repeats`` after a warm-up:

* ``pyarrow_parquet``: ``pyarrow.parquet.read_table(path)``; ``ours_parquet``:
  ``cotation.read_applications(path, grid.catalogue, date_calcul=...)`` (read and validate);
* ``pyarrow_csv``: ``pyarrow.csv.read_csv(path)`` (its type inference), ``ours_csv``; the same for the
  French file (``pyarrow_csv_fr`` with ``delimiter=";"``, ``ours_csv_fr``);
* ``ours_end_to_end``: read the Parquet file, score it with the breakdown with the compiled engine,
  write scores and breakdown to Parquet with the CLI's writer (``cotation score ... -o x.parquet``);
  ``pyarrow_end_to_end``: ``read_table`` of the same input and ``write_table`` of the same output table.

Peak memory: ``VmHWM`` of a new process that does one of them (not ``ru_maxrss``: see the README).
Verified before timing: our Parquet batch is the table pyarrow reads (``Batch.to_arrow``), our CSV
batches equal it, pyarrow reads the same number of CSV rows, and the end-to-end outputs are equal.

    python -m benchmarks.read [--n 1000000] [--repeats 5]    # prints the same object as the summary's key
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "grids" / "exemple-metropole.yaml"
DAY = datetime.date(2026, 1, 1)
TARGETS = {"read_over_pyarrow_max": 1.5, "end_to_end_over_pyarrow_max": 2.5, "rss_over_before_max": 1.0}
# peak RSS (MB) of `ours_*` at 1M rows before issue 18's work (main of 2026-12-02, same command): the
# target says memory must not grow
RSS_BEFORE_MB = {"ours_parquet": 648.8, "ours_csv": 988.9, "ours_csv_fr": 1294.2}

# one measured thing per new process: its peak resident size
_RSS = """
import datetime, json, cotation
import pyarrow.parquet as pq, pyarrow.csv as pacsv
path, what = {path!r}, {what!r}
if what.startswith("ours"):
    grid = cotation.load_grid({grid!r})
    cotation.read_applications(path, grid.catalogue, date_calcul=datetime.date.fromisoformat({day!r}))
elif what == "pyarrow_parquet":
    pq.read_table(path)
else:
    pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter={sep!r}))
status = open("/proc/self/status").read()
print(json.dumps(int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1]) / 1024))
"""


def _median_round_robin(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of each callable, round robin, each round starting one callable later."""
    names = list(calls)
    for name in names:  # warm-up
        calls[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v) for name, v in times.items()}


def _peak_rss_mb(path: Path, what: str, sep: str = ",") -> float:
    code = _RSS.format(path=str(path), what=what, grid=str(EXAMPLE), day=DAY.isoformat(), sep=sep)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return round(float(out.stdout), 1)


def _files(work: Path, n: int) -> dict[str, Path]:
    from cotation.data.batch import write_applications
    from cotation.data.generate import generate_applications

    batch = generate_applications(n, seed=1)
    files = {"parquet": work / "a.parquet", "csv": work / "a.csv", "csv_fr": work / "a.fr.csv"}
    write_applications(batch, files["parquet"])
    write_applications(batch, files["csv"])
    write_applications(batch, files["csv_fr"], dialect="fr")
    return files


def _verify(files: dict[str, Path], grid: Any) -> dict[str, str]:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    import cotation

    expected = pq.read_table(files["parquet"]).combine_chunks()
    for key in ("parquet", "csv", "csv_fr"):
        ours = cotation.read_applications(files[key], grid.catalogue, date_calcul=DAY)
        if not ours.to_arrow().select(expected.column_names).equals(expected):
            raise SystemExit(f"read: our batch from {key} differs from pyarrow's Parquet table")
    for key, sep in (("csv", ","), ("csv_fr", ";")):
        rows = pacsv.read_csv(files[key], parse_options=pacsv.ParseOptions(delimiter=sep)).num_rows
        if rows != expected.num_rows:
            raise SystemExit(f"read: pyarrow reads {rows} rows from {key}, {expected.num_rows} expected")
    return {
        "ours_parquet": "Batch.to_arrow() equals pyarrow.parquet.read_table",
        "ours_csv": "Batch.to_arrow() equals the Parquet table",
        "ours_csv_fr": "Batch.to_arrow() equals the Parquet table",
        "pyarrow_csv": "same number of rows",
    }


def run(n: int = 1_000_000, repeats: int = 5) -> dict[str, Any]:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    import cotation
    from cotation import cli

    work = Path(tempfile.mkdtemp(prefix="cotation-read-"))
    files = _files(work, n)
    grid = cotation.load_grid(EXAMPLE)
    verified = _verify(files, grid)
    ours_out, peer_out = work / "scores.parquet", work / "peer.parquet"

    def ours_end_to_end() -> None:
        batch = cotation.read_applications(files["parquet"], grid.catalogue, date_calcul=DAY)
        # the generator has no column for the grid's `suivi_travailleur_social`: absent on purpose
        absent = list(batch.absent or ())
        scores = cotation.score(grid, batch, DAY, engine="compiled", breakdown=True, absent=absent)
        cli.write_scores(scores, ours_out)

    ours_end_to_end()  # compiles the kernels (or loads them) and makes the output the peer writes
    output = pq.read_table(ours_out)

    def pyarrow_end_to_end() -> None:
        pq.read_table(files["parquet"])
        pq.write_table(output, peer_out)

    pyarrow_end_to_end()
    if not pq.read_table(peer_out).equals(output):
        raise SystemExit("read: pyarrow's end-to-end output differs from ours")
    verified["pyarrow_end_to_end"] = "writes the same table as ours_end_to_end"
    fr = pacsv.ParseOptions(delimiter=";")
    calls: dict[str, Callable[[], Any]] = {
        "pyarrow_parquet": lambda: pq.read_table(files["parquet"]),
        "ours_parquet": lambda: cotation.read_applications(files["parquet"], grid.catalogue, date_calcul=DAY),
        "pyarrow_csv": lambda: pacsv.read_csv(files["csv"]),
        "ours_csv": lambda: cotation.read_applications(files["csv"], grid.catalogue, date_calcul=DAY),
        "pyarrow_csv_fr": lambda: pacsv.read_csv(files["csv_fr"], parse_options=fr),
        "ours_csv_fr": lambda: cotation.read_applications(files["csv_fr"], grid.catalogue, date_calcul=DAY),
        "pyarrow_end_to_end": pyarrow_end_to_end,
        "ours_end_to_end": ours_end_to_end,
    }
    seconds = _median_round_robin(calls, repeats)
    rss = {
        "pyarrow_parquet": _peak_rss_mb(files["parquet"], "pyarrow_parquet"),
        "ours_parquet": _peak_rss_mb(files["parquet"], "ours_parquet"),
        "pyarrow_csv": _peak_rss_mb(files["csv"], "pyarrow_csv"),
        "ours_csv": _peak_rss_mb(files["csv"], "ours_csv"),
        "pyarrow_csv_fr": _peak_rss_mb(files["csv_fr"], "pyarrow_csv_fr", ";"),
        "ours_csv_fr": _peak_rss_mb(files["csv_fr"], "ours_csv_fr"),
    }
    for path in work.iterdir():
        path.unlink()
    work.rmdir()
    ratio = {
        "parquet_over_pyarrow": seconds["ours_parquet"] / seconds["pyarrow_parquet"],
        "csv_over_pyarrow": seconds["ours_csv"] / seconds["pyarrow_csv"],
        "csv_fr_over_pyarrow": seconds["ours_csv_fr"] / seconds["pyarrow_csv_fr"],
        "end_to_end_over_pyarrow": seconds["ours_end_to_end"] / seconds["pyarrow_end_to_end"],
        "parquet_rss_over_pyarrow": rss["ours_parquet"] / rss["pyarrow_parquet"],
        "csv_rss_over_pyarrow": rss["ours_csv"] / rss["pyarrow_csv"],
        "csv_fr_rss_over_pyarrow": rss["ours_csv_fr"] / rss["pyarrow_csv_fr"],
    }
    return {
        "n": n,
        "repeats": repeats,
        "targets": TARGETS,
        "verified": verified,
        "s": {k: round(v, 3) for k, v in seconds.items()},
        "peak_rss_mb": rss,
        "rss_before_mb": RSS_BEFORE_MB,
        "ratios": {k: round(v, 2) for k, v in ratio.items()},
        "checks": _checks(ratio, rss),
    }


def _checks(ratio: dict[str, float], rss: dict[str, float]) -> dict[str, Any]:
    """Each target with [measured, met]; memory: ours against the figure before the work."""
    most, e2e = TARGETS["read_over_pyarrow_max"], TARGETS["end_to_end_over_pyarrow_max"]
    out: dict[str, Any] = {
        f"read.{key}": [round(ratio[key], 2), ratio[key] <= most]
        for key in ("parquet_over_pyarrow", "csv_over_pyarrow", "csv_fr_over_pyarrow")
    }
    e2e_ratio = ratio["end_to_end_over_pyarrow"]
    out["read.end_to_end_over_pyarrow"] = [round(e2e_ratio, 2), e2e_ratio <= e2e]
    for key, before in RSS_BEFORE_MB.items():
        if before:
            grown = rss[key] / before
            out[f"read.{key}_rss_over_before"] = [round(grown, 2), grown <= TARGETS["rss_over_before_max"]]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    out = run(args.n, args.repeats)
    out["elapsed_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

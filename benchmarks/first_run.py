"""First run against warm run of the commands a user meets first (issue 18, target 1): the `first_run` key.

Each command runs as a new `python -m cotation ...` process. Cold: a fresh, empty COTATION_CACHE_DIR
(the kernel modules and Numba's machine code live under it; NUMBA_CACHE_DIR unset), one per
measurement; for the demo and the first compiled score of bench-40, also as on a fresh install: the
machine code of the jitted helpers (``cotation/codegen/__pycache__/helpers.*``) set aside first.
Warm: the same command with a cache folder filled beforehand with every kernel the command could
use (total, breakdown, trace and pair kernels, compiled by a separate process), median of 3.
`make demo`'s compile split: the demo's own step timings, cold minus warm, per step.

    python -m benchmarks.first_run [--n 2000]        # prints the same object as the summary's key
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "grids" / "exemple-metropole.yaml"
DAY = "2026-01-01"
DWELLINGS = 5
TARGETS = {"cold_over_warm_max": 3.0, "first_compiled_score_40_s_max": 3.0, "demo_compile_s_max": 10.0}

# fills a cache folder with every kernel of the example grid that a command could use
_FILL = """
import datetime, cotation
from cotation.explain import trace as t
from cotation.scoring.compiled import compile_grid
g = cotation.load_grid({grid!r})
b = cotation.read_applications({apps!r}, g.catalogue, date_calcul=datetime.date.fromisoformat({day!r}))
d = datetime.date.fromisoformat({day!r})
s = cotation.score(g, b, d, engine="compiled", breakdown=True)
t.TRACE_COMPILED_FROM = 1
t.traces(g, s, b, [str(s.ids[0])])
cotation.rank(g, b, cotation.read_dwellings({dws!r}, g.match.catalogue), 3, date_calcul=d, engine="compiled")
"""

# the first compiled score of the 40-criterion bench grid, in a fresh process with an empty cache
_FIRST_40 = """
import datetime, time, cotation
from cotation.data.generate import generate_applications
from cotation.scoring.compiled import compile_grid
g = cotation.load_grid({path!r})
b = generate_applications(1000, seed=1)
t0 = time.perf_counter()
compile_grid(g).score(b, datetime.date(2026, 1, 1))
print(time.perf_counter() - t0)
"""


def _env(cache: Path) -> dict[str, str]:
    """Numba's machine code goes next to the kernel modules, under ``cache`` (no NUMBA_CACHE_DIR)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    return {**env, "COTATION_CACHE_DIR": str(cache)}


def _run(args: list[str], cache: Path) -> tuple[float, str]:
    """Wall seconds and stdout of ``args`` in a new process with ``cache`` as its caches."""
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=_env(cache))
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, proc.stdout


def _commands(apps: Path, dws: Path, numero: str, out: Path) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "cotation"]
    base = [str(EXAMPLE), str(apps), "--date", DAY]
    return {
        "score": [*cli, "score", *base, "-o", str(out / "scores.parquet")],
        "explain": [*cli, "explain", *base, "--id", numero],
        "position": [*cli, "position", *base],
        "rank": [*cli, "rank", str(EXAMPLE), str(apps), str(dws), "-k", "3", "--date", DAY],
    }


def _cold_warm(args: list[str], fresh: Any, warm_cache: Path) -> dict[str, Any]:
    cold, _ = _run(args, fresh())
    warm = statistics.median(_run(args, warm_cache)[0] for _ in range(3))
    return {"cold_s": round(cold, 3), "warm_s": round(warm, 3), "cold_over_warm": round(cold / warm, 2)}


def _steps(text: str) -> dict[str, float]:
    """The demo's step timings ("  label   1.234 s" lines after "timings:")."""
    part = text.split("\ntimings:\n", 1)[1]
    return {m[1].strip(): float(m[2]) for m in re.finditer(r"^  (.+?)\s+([0-9.]+) s$", part, re.M)}


def _fresh_install(work: Path) -> int:
    """Set aside the machine code Numba keeps of ``cotation.codegen.helpers`` (the jitted helpers every
    kernel calls, cached next to the package once per install), as on a fresh clone: the next run
    compiles them again and caches them anew. Returns how many files were moved."""
    folder = ROOT / "cotation" / "codegen" / "__pycache__"
    aside = work / f"helpers-{time.time_ns()}"
    aside.mkdir()
    files = [p for p in folder.glob("helpers.*") if p.suffix in (".nbi", ".nbc")]
    for path in files:
        path.rename(aside / path.name)
    return len(files)


def _demo(fresh: Any, work: Path, n: int) -> dict[str, Any]:
    args = [sys.executable, "-m", "cotation", "demo", "--n", str(n), "--date", DAY]
    cache = fresh()
    _fresh_install(work)
    cold, cold_out = _run([*args, "--out", str(work / "demo-cold")], cache)
    warm, warm_out = _run([*args, "--out", str(work / "demo-warm")], cache)  # kernels cached by the cold run
    c, w = _steps(cold_out), _steps(warm_out)
    split = {k: round(max(c[k] - w.get(k, 0.0), 0.0), 3) for k in c}
    return {
        "n": n,
        "cold_s": round(cold, 3),
        "warm_s": round(warm, 3),
        "cold_over_warm": round(cold / warm, 2),
        "compile_s": round(sum(split.values()), 3),  # cold minus warm, summed over the demo's steps
        "compile_split_s": {k: v for k, v in split.items() if v >= 0.05},
    }


def _first_40(fresh: Any, work: Path) -> float:
    from benchmarks.summary import grid_yaml, spec_40

    path = work / "bench-40.yaml"
    path.write_text(grid_yaml(spec_40(), salt="first-run"), encoding="utf-8")
    _fresh_install(work)
    _, out = _run([sys.executable, "-c", _FIRST_40.format(path=str(path))], fresh())
    return round(float(out.split()[-1]), 3)


def run(n: int = 2000, demo_n: int = 5000) -> dict[str, Any]:
    from cotation.data.batch import write_applications
    from cotation.data.generate import generate_applications, generate_dwellings

    work = Path(tempfile.mkdtemp(prefix="cotation-first-run-"))
    count = iter(range(10**6))

    def fresh() -> Path:
        path = work / f"cache-{next(count)}"
        path.mkdir()
        return path

    from cotation import load_grid

    apps, dws = work / "apps.parquet", work / "logements.csv"
    batch = generate_applications(n, seed=1, catalogue=load_grid(EXAMPLE).catalogue)
    write_applications(batch, apps)
    write_applications(generate_dwellings(DWELLINGS, seed=2), dws)
    warm = fresh()
    _run([sys.executable, "-c", _FILL.format(grid=str(EXAMPLE), apps=str(apps), dws=str(dws), day=DAY)], warm)
    load = os.getloadavg()[0]
    out: dict[str, Any] = {
        "n": n,
        "dwellings": DWELLINGS,
        "targets": TARGETS,
        "commands": {
            name: _cold_warm(args, fresh, warm)
            for name, args in _commands(apps, dws, str(batch.ids[0]), work).items()
        },
    }
    out["demo"] = _demo(fresh, work, demo_n)
    out["first_compiled_score_40_s"] = _first_40(fresh, work)
    out["load_1min"] = [round(load, 2), round(os.getloadavg()[0], 2)]  # before and after
    worst = max(c["cold_over_warm"] for c in out["commands"].values())
    out["checks"] = {
        "cold_over_warm": [worst, worst <= TARGETS["cold_over_warm_max"]],
        **{
            f"{name}.cold_over_warm": [
                c["cold_over_warm"],
                c["cold_over_warm"] <= TARGETS["cold_over_warm_max"],
            ]
            for name, c in out["commands"].items()
        },
        "first_compiled_score_40_s": [
            out["first_compiled_score_40_s"],
            out["first_compiled_score_40_s"] < TARGETS["first_compiled_score_40_s_max"],
        ],
        "demo_compile_s": [
            out["demo"]["compile_s"],
            out["demo"]["compile_s"] < TARGETS["demo_compile_s_max"],
        ],
    }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="applications (default: 2000)")
    ap.add_argument("--demo-n", type=int, default=5000, help="applications of the demo (default: 5000)")
    args = ap.parse_args(argv)
    print(json.dumps(run(args.n, args.demo_n), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

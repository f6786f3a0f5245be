"""Where the example grid's total kernel spends its time: variants of its generated source, side by side.

The fused total kernel of ``grids/exemple-metropole.yaml`` (``score_rows``, as
``cotation.codegen.score_source.generate_source`` writes it) is compiled next to variants of its own
text, each with one kind of work removed or done another way, and all are timed over the same
generated rows on one thread (best of ``repeats``, ``rounds`` rounds, the variants alternated):

* ``base``: the generated text;
* ``no_calendar``: the five calendar look-ups replaced by the raw day numbers (wrong results: it
  only tells what the gathers cost);
* ``no_communes_scan``: ``commune_travail in communes_souhaitees`` replaced by one comparison (wrong
  results, the same purpose);
* ``communes_column_major``: the communes matrix passed column-major (8 contiguous loads a row);
* ``computed_calendar``: the calendar entries computed by :func:`packed_day` instead of looked up.

The last two give the base's results, which is checked before timing.

    python -m benchmarks.kernel_variants [--n 1000000] [--repeats 11] [--rounds 4]
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np

from benchmarks.fast_paths import best_ms

ROOT = Path(__file__).resolve().parent.parent
U = np.uint32


@numba.njit(error_model="numpy", nogil=True, inline="always")
def packed_day(day: int) -> int:
    """The calendar entry of a day (``cotation.data.calendar.calendar_table``) by Hinnant's
    ``civil_from_days`` in unsigned 32-bit arithmetic (days from 0001-01-01 on)."""
    z = np.uint32(day + 719468)
    era = z // U(146097)
    doe = z - era * U(146097)
    yoe = (doe - doe // U(1460) + doe // U(36524) - doe // U(146096)) // U(365)
    doy = doe - (U(365) * yoe + yoe // U(4) - yoe // U(100))
    mp = (U(5) * doy + U(2)) // U(153)
    d = doy - (U(153) * mp + U(2)) // U(5) + U(1)
    jan = mp >= U(10)
    m = mp - U(9) if jan else mp + U(3)
    y = yoe + era * U(400) + (U(1) if jan else U(0))
    nxt = yoe + U(1)
    leap = ((nxt & U(3)) == U(0)) & ((nxt % U(100) != U(0)) | (nxt == U(400)))
    end = (U(153) * (mp + U(1)) + U(2)) // U(5) if mp < U(11) else U(365) + (U(1) if leap else U(0))
    last = doy + U(1) == end
    return np.int64((((y * U(12) + m - U(1)) * U(32) + d) * U(2)) + (U(1) if last else U(0)))


@numba.njit(error_model="numpy", nogil=True)
def _all_days(lo: int, out: np.ndarray) -> None:
    for i in range(out.shape[0]):
        out[i] = packed_day(lo + i)


def check_packed_day() -> int:
    """Days of 0001-9999 where :func:`packed_day` differs from the calendar table (0 expected)."""
    from cotation.data.calendar import calendar_table

    lo, hi = -719162, 2932896  # 0001-01-01 .. 9999-12-31
    out = np.empty(hi - lo + 1, np.int64)
    _all_days(lo, out)
    return int(np.count_nonzero(out != calendar_table(lo, hi)))


def variants(body: str) -> dict[str, str]:
    """The kernel's text and its variants, keyed by name (see the module docstring)."""
    out = {"base": body}
    lookups = re.findall(r"        for i0 in range\(s, e\):  # calendar entries of \w+\n.*\n", body)
    assert len(lookups) == 5, "the example grid reads five dates through the calendar"
    raw = body
    for loop in lookups:
        raw = raw.replace(loop, "")
    out["no_calendar"] = re.sub(r"kb_(\w+)\[i - us\]", r"c_\1[i]", raw)
    scan = re.search(r"h_15 = \(\(c_communes_souhaitees.*\n", body)
    assert scan is not None
    out["no_communes_scan"] = body.replace(scan.group(0), "h_15 = f_commune_travail == 31555\n")
    item = r"c_communes_souhaitees\[i \* np\.uint64\(8\) \+ np\.uint64\((\d)\)\]"
    column_major = re.sub(item, r"c_communes_souhaitees[np.uint64(\1) * n_rows + i]", body)
    out["communes_column_major"] = column_major.replace(
        "today, total, flags, tier, start, stop):", "today, total, flags, tier, start, stop, n_rows):"
    )
    lookup = r"cal\[np\.uint64\((c_\w+)\[i0\] - cal_lo\)\]"
    out["computed_calendar"] = re.sub(lookup, r"packed_day(\1[i0])", body)
    return out


def run(n: int, repeats: int, rounds: int) -> dict[str, Any]:
    import cotation
    from cotation.codegen.score_source import generate_source
    from cotation.dates import day_number
    from cotation.scoring.compiled import compile_grid

    grid = cotation.load_grid(ROOT / "grids" / "exemple-metropole.yaml")
    batch = cotation.generate_applications(n, seed=1, catalogue=grid.catalogue)
    compiled = compile_grid(grid)
    today = np.int64(day_number(datetime.date(2026, 1, 1)))
    args = [*compiled.arguments(batch, today), today]
    text = generate_source(grid).text
    head, rest = text.split("@numba.njit", 1)
    body = ("@numba.njit" + rest.split("\n@numba.njit")[0]).replace("cache=True", "cache=False")
    where = list(compiled.kernel_source.columns).index("communes_souhaitees")
    transposed = list(args)
    transposed[where] = np.ascontiguousarray(args[where].reshape(n, -1).T).reshape(-1)
    names = {"packed_day": packed_day}
    kernels: dict[str, Callable[..., None]] = {}
    for name, source in variants(body).items():
        exec(compile(head + source.replace("def score_rows(", f"def k_{name}("), name, "exec"), names)
        kernels[name] = names[f"k_{name}"]

    def call(name: str, outs: tuple[np.ndarray, ...]) -> None:
        if name == "communes_column_major":
            kernels[name](*transposed, *outs, 0, n, np.uint64(n))
        else:
            kernels[name](*args, *outs, 0, n)

    outs = (np.zeros(n, np.int64), np.zeros(n, np.uint64), np.zeros(n, np.int8))
    expected = None
    for name in kernels:
        call(name, outs)  # compiles
        if name in ("base", "communes_column_major", "computed_calendar"):
            if expected is None:
                expected = [o.copy() for o in outs]
            assert all(np.array_equal(a, b) for a, b in zip(expected, outs, strict=True)), name
    ms = {name: [round(best_ms(lambda k=name: call(k, outs), repeats), 2)] for name in kernels}
    for _ in range(rounds - 1):
        for name in kernels:
            ms[name].append(round(best_ms(lambda k=name: call(k, outs), repeats), 2))
    return {"n": n, "repeats": repeats, "rounds": rounds, "threads": 1, "ms": ms}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--check-calendar", action="store_true", help="check packed_day on 0001-9999")
    args = parser.parse_args(argv)
    if args.check_calendar:
        print(json.dumps({"packed_day_mismatches": check_packed_day()}))
        return
    print(json.dumps(run(args.n, args.repeats, args.rounds), indent=2))


if __name__ == "__main__":
    main()

"""The path of a grid through the package on one warm ``cotation.score`` call (compiled engine).

``python -m benchmarks.call_path [--lazy]`` prints the cotation modules a call visits, in order, and
every call that goes back into a module already on the call stack (other than the caller's own).
``--lazy`` also reads ``rank``, ``position`` and ``breakdown``, which are computed on first read.
Run it from the repository root; the grid is compiled (or loaded) before the traced call.
"""

from __future__ import annotations

import datetime
import sys
import types
from typing import Any

import cotation

DAY = datetime.date(2026, 1, 1)


def _module(frame: types.FrameType) -> str | None:
    name = str(frame.f_globals.get("__name__", ""))
    return name if name.startswith("cotation") and not name.startswith("cotation_grid_") else None


def trace_path(lazy: bool) -> tuple[list[str], list[str]]:
    grid = cotation.load_grid("grids/exemple-metropole.yaml")
    batch = cotation.generate_applications(2000, seed=7, date_calcul=DAY)
    cotation.score(grid, batch, DAY)  # compile or load once: the traced call is the warm path
    visited: list[str] = []
    back: list[str] = []
    stack: list[str | None] = []

    def profile(frame: types.FrameType, event: str, arg: Any) -> None:
        if event == "call":
            module, caller = _module(frame), (stack[-1] if stack else None)
            if module is not None and module not in visited:
                visited.append(module)
            if module is not None and module != caller and module in stack:
                back.append(f"{caller} -> {module} ({frame.f_code.co_name})")
            stack.append(module if module is not None else caller)
        elif event == "return" and stack:
            stack.pop()

    sys.setprofile(profile)
    scores = cotation.score(grid, batch, DAY)
    if lazy:
        _ = scores.rank, scores.position, scores.breakdown
    sys.setprofile(None)
    return visited, back


def main() -> None:
    visited, back = trace_path("--lazy" in sys.argv[1:])
    print(f"{len(visited)} modules: " + " -> ".join(m.removeprefix("cotation.") for m in visited))
    print(f"{len(back)} calls back into a module already on the stack")
    for line in back:
        print("  " + line)


if __name__ == "__main__":
    main()

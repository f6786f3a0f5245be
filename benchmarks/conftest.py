"""Fixtures of the pytest-benchmark suite (not part of `make test`: testpaths is tests/ only).

Run: ``.venv/bin/python -m pytest benchmarks -q --benchmark-only``.
"""

from __future__ import annotations

import pytest

from benchmarks.summary import Case, generate_applications, grid_40, spec_40

N = 100_000


@pytest.fixture(scope="session")
def case_40(tmp_path_factory) -> Case:
    """The generated 40-criterion grid over N applications, peers verified against the kernel."""
    case = Case(
        "bench-40",
        grid_40(),
        spec_40(),
        generate_applications(N, seed=1),
        str(tmp_path_factory.mktemp("cotation-cache")),
    )
    case.kernel(True)  # compile outside the timings
    case.verify()
    case.floor(False)
    return case

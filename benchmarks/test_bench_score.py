"""pytest-benchmark timings at N = 100 000 on the generated 40-criterion grid.

The JSON summary with the ratios and targets is ``python -m benchmarks.summary``; these are the
same callables, for pytest-benchmark's statistics and ``--benchmark-compare``.
"""

from __future__ import annotations


def test_kernel_total_flags(benchmark, case_40):
    benchmark(case_40.kernel, False)


def test_kernel_breakdown(benchmark, case_40):
    benchmark(case_40.kernel, True)


def test_floor_total_flags(benchmark, case_40):
    benchmark(case_40.floor, False)


def test_polars_peer_total_flags(benchmark, case_40):
    result = benchmark(case_40.peer, "polars", False)
    assert result.height == case_40.n

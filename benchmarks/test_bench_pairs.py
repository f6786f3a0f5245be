"""pytest-benchmark timings of workload (b) at M x N = 500 x 50 000, k = 10 (benchmarks/pairs.py).

The JSON summary with the ratios and targets is ``python -m benchmarks.pairs`` (or the ``pairs`` key
of ``python -m benchmarks.summary``); these are the same callables, verified against cotation.rank.
"""

from __future__ import annotations

import pytest

from benchmarks.pairs import PairCase


@pytest.fixture(scope="session")
def pair_case() -> PairCase:
    case = PairCase(500, 50_000, cross=False)  # compiles (or loads) the kernels
    case.verify()
    return case


def test_pair_kernel(benchmark, pair_case):
    result = benchmark(pair_case.pair_kernel)
    assert result.rows.shape == (500, 10)


def test_rank_call(benchmark, pair_case):
    ranking = benchmark(pair_case.rank_call)
    assert len(ranking) == 500


def test_polars_peer(benchmark, pair_case):
    benchmark(pair_case.peers["polars"])

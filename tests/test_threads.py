"""The shared thread pool: results in input order whatever the threads do, errors not lost."""

from __future__ import annotations

import threading
import time

import pytest

from cotation.threads import threaded_map


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_threaded_map_keeps_the_order_of_items(threads: int) -> None:
    items = list(range(40))

    def slow_square(x: int) -> int:
        time.sleep(0.001 * (x % 3))  # unequal costs: threads finish out of order
        return x * x

    assert threaded_map(slow_square, items, threads) == [x * x for x in items]


def test_threaded_map_uses_several_threads_and_the_caller() -> None:
    seen: set[int] = set()
    barrier = threading.Barrier(2, timeout=10)

    def record(_: int) -> None:
        seen.add(threading.get_ident())
        barrier.wait()  # two items run at the same time, or this times out

    threaded_map(record, [0, 1], 2)
    assert len(seen) == 2 and threading.get_ident() in seen


def test_threaded_map_raises_the_first_error_after_every_worker_stopped() -> None:
    done: list[int] = []

    def fail_on_three(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        done.append(x)
        return x

    with pytest.raises(ValueError, match="three"):
        threaded_map(fail_on_three, list(range(8)), 2)
    assert 3 not in done
    assert threaded_map(fail_on_three, [], 2) == []

"""Shared test configuration: Hypothesis profiles and a private kernel cache.

``ci`` (the default) is derandomized, so that every run explores the same examples; ``dev`` draws
fresh random examples and more of them. Choose with ``HYPOTHESIS_PROFILE=dev pytest ...``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=500, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True, scope="session")
def _private_kernel_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Compiled kernels go to a cache private to this test session, never the user's ~/.cache."""
    old = os.environ.get("COTATION_CACHE_DIR")
    os.environ["COTATION_CACHE_DIR"] = str(tmp_path_factory.mktemp("kernel-cache"))
    yield
    if old is None:
        del os.environ["COTATION_CACHE_DIR"]
    else:
        os.environ["COTATION_CACHE_DIR"] = old

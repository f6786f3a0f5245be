"""Shared test configuration: Hypothesis profiles.

``ci`` (the default) is derandomized, so that every run explores the same examples; ``dev`` draws
fresh random examples and more of them. Choose with ``HYPOTHESIS_PROFILE=dev pytest ...``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=500, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

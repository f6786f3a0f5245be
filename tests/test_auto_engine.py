"""engine="auto" (issue 18): small work with empty caches never waits for Numba, and gives exactly the
compiled engine's results on both sides of every threshold (scores, breakdown, ranks, rankings, traces)."""

from __future__ import annotations

import datetime
from pathlib import Path

import numba
import numpy as np
import pytest

from cotation import api
from cotation.codegen.score_source import TRACE_ROWS
from cotation.data.batch import write_applications
from cotation.data.generate import generate_applications, generate_dwellings
from cotation.explain import trace as trace_module
from cotation.match import pool as pool_module
from cotation.match.compiled import compile_pairs
from cotation.scoring import engine as engine_module
from cotation.scoring.compiled import compile_grid
from cotation.scoring.scores import Scores

DAY = datetime.date(2026, 1, 1)
GRID = """
id: essai-auto
title: Essai du moteur auto
criteria:
  - {id: dalo, label: DALO, when: dalo, points: 50}
  - {id: anciennete, label: Ancienneté, value: "months_between(date_depot, date_calcul)", per_unit: 1,
     max: 60}
priorities:
  - {id: p_dalo, label: DALO, legal_basis: L441-2-3 CCH, when: dalo, tier: 1}
match:
  filters:
    - {id: commune, label: Commune souhaitée, when: "logement.commune in communes_souhaitees"}
  criteria:
    - {id: premier, label: Premier souhait, when: "rang_commune == 1", points: 30}
"""
needs_jit = pytest.mark.skipif(
    numba.config.DISABLE_JIT, reason="nothing is compiled with NUMBA_DISABLE_JIT=1"
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COTATION_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _same_scores(a: Scores, b: Scores) -> None:
    for name in ("total", "flag_bits", "tier", "rank", "breakdown", "met", "position"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


@needs_jit
def test_auto_scores_equal_compiled_on_both_sides_of_the_threshold(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = api.parse_grid(GRID, "essai-auto.yaml")
    batch = generate_applications(200, seed=3)
    compiled = compile_grid(grid)
    below = api.score(grid, batch, DAY, engine="auto")
    assert below.engine == "reference" and not compiled.is_cached  # nothing compiled below the threshold
    monkeypatch.setattr(engine_module, "AUTO_COMPILED_FROM", 100)
    above = api.score(grid, batch, DAY, engine="auto")
    assert above.engine == "compiled" and compiled.is_cached
    reference = api.score(grid, batch, DAY, engine="reference")
    forced = api.score(grid, batch, DAY, engine="compiled")
    for scores in (below, above, reference):
        _same_scores(scores, forced)
    monkeypatch.setattr(engine_module, "AUTO_COMPILED_FROM", 10**9)
    cached = api.score(grid, batch, DAY, engine="auto")  # the kernel is cached: compiled, any size
    assert cached.engine == "compiled"
    _same_scores(cached, forced)


@needs_jit
def test_auto_with_breakdown_waits_for_no_breakdown_kernel(cache: Path) -> None:
    grid = api.parse_grid(GRID, "essai-auto.yaml")
    batch = generate_applications(150, seed=4)
    compiled = compile_grid(grid)
    total_only = api.score(grid, batch, DAY, engine="compiled")  # the total kernel alone is cached
    assert compiled.is_cached and not compiled.is_breakdown_cached
    with_breakdown = api.score(grid, batch, DAY, engine="auto", breakdown=True)
    assert with_breakdown.engine == "reference" and not compiled.is_breakdown_cached
    _same_scores(with_breakdown, total_only)  # total_only compiles its breakdown kernel here
    assert compiled.is_breakdown_cached
    assert api.score(grid, batch, DAY, engine="auto", breakdown=True).engine == "compiled"


@needs_jit
def test_auto_rank_equals_compiled_on_both_sides_of_the_threshold(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = api.parse_grid(GRID, "essai-auto.yaml")
    apps, dws = generate_applications(300, seed=5), generate_dwellings(6, seed=6)
    pairs = compile_pairs(grid)
    below = api.rank(grid, apps, dws, 3, date_calcul=DAY, engine="auto")
    assert not pairs.is_cached  # ranked by the reference: the pair kernel was never compiled
    monkeypatch.setattr(pool_module, "AUTO_PAIRS_COMPILED_FROM", 300 * 6)
    above = api.rank(grid, apps, dws, 3, date_calcul=DAY, engine="auto", assignment="given")
    assert pairs.is_cached
    forced = api.rank(grid, apps, dws, 3, date_calcul=DAY, engine="compiled")
    forced_given = api.rank(grid, apps, dws, 3, date_calcul=DAY, engine="compiled", assignment="given")
    reference = api.rank(grid, apps, dws, 3, date_calcul=DAY, engine="reference")
    for a, b in ((below, forced), (reference, forced), (above, forced_given)):
        for name in ("rows", "application_ids", "tier", "total", "eligible", "excluded"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name


@needs_jit
def test_a_few_traces_never_compile_and_equal_the_compiled_trace(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = api.parse_grid(GRID, "essai-auto.yaml")
    batch = generate_applications(120, seed=7)
    scores = api.score(grid, batch, DAY, engine="compiled")
    ids = [str(i) for i in scores.ids[:5]]
    few = trace_module.traces(grid, scores, batch, ids)
    assert not compile_grid(grid).cached(TRACE_ROWS)
    monkeypatch.setattr(trace_module, "TRACE_COMPILED_FROM", 1)
    compiled = trace_module.traces(grid, scores, batch, ids)
    assert compile_grid(grid).cached(TRACE_ROWS)
    assert few == compiled


@needs_jit
def test_cli_explain_and_position_with_empty_caches_compile_nothing(cache: Path, tmp_path: Path) -> None:
    from cotation.cli import main

    (tmp_path / "g.yaml").write_text(GRID, encoding="utf-8")
    apps = generate_applications(300, seed=8)
    write_applications(apps, tmp_path / "apps.csv")
    numero = str(apps.ids[0])
    base = [str(tmp_path / "g.yaml"), str(tmp_path / "apps.csv"), "--date", DAY.isoformat()]
    assert main(["explain", *base, "--id", numero]) == 0
    assert main(["position", *base]) == 0
    assert main(["score", *base]) == 0
    assert not list(cache.rglob("*.nbi"))  # no machine code: Numba never ran


_NUMBA_CACHE_CODE = """
import datetime, json
from cotation import api
from cotation.data.generate import generate_applications
from cotation.scoring.compiled import compile_grid
grid = api.parse_grid({grid!r}, "essai-auto.yaml")
batch = generate_applications(200, seed=3)
before = compile_grid(grid).is_cached
scores = api.score(grid, batch, datetime.date(2026, 1, 1), engine="auto")
if not before:
    api.score(grid, batch, datetime.date(2026, 1, 1), engine="compiled")
print(json.dumps({{"before": before, "after": compile_grid(grid).is_cached, "engine": scores.engine}}))
"""


@needs_jit
def test_auto_sees_machine_code_kept_under_numba_cache_dir(tmp_path: Path) -> None:
    """With $NUMBA_CACHE_DIR set, Numba keeps machine code there, not beside the module: auto looks
    where Numba does, so a second process scores compiled without compiling again."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, COTATION_CACHE_DIR=str(tmp_path / "cache"), NUMBA_CACHE_DIR=str(tmp_path / "nb"))
    runs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", _NUMBA_CACHE_CODE.format(grid=GRID)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    first, second = runs
    assert (first["before"], first["after"], first["engine"]) == (False, True, "reference")
    assert (second["before"], second["engine"]) == (True, "compiled")
    assert any((tmp_path / "nb").rglob("*.nbi"))  # the machine code is where Numba was told to keep it

"""Large grids compile in pieces, in several processes (issue 19, point 3).

The pieces of a large grid are whole components of criteria linked by rubrics and groups (a piece
applies its own rubrics and caps), packed with those that read the same fields; the pieces a kernel
needs are shared between this process and worker processes that write Numba's disk cache, which this
process then loads. The scores always equal the reference evaluator's, whoever compiled what.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numba
import numpy as np
import pytest

from cotation.api import parse_grid
from cotation.codegen import build, score_source
from cotation.data.generate import generate_applications
from cotation.scoring import compiled as compiled_module
from cotation.scoring.compiled import compile_grid
from cotation.scoring.reference import evaluate, trace_points

DATE = datetime.date(2026, 1, 1)
needs_jit = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: nothing compiles")

GRID = """id: essai-pieces
title: Essai des morceaux
variables:
  anciennete_mois: months_between(date_depot, date_calcul)
criteria:
  - {id: anciennete, label: Ancienneté, value: anciennete_mois, per_unit: 1, max: 60}
  - {id: dalo, label: DALO, when: dalo, points: 50}
  - {id: sans_abri, label: Sans abri, when: 'situation_logement == "sans_abri"', points: 17, rubric: logement}
  - {id: enfants, label: Enfants, value: nb_enfants, per_unit: 3, max: 9, group: urgence}
  - {id: violences, label: Violences, when: '"violences" in motifs', points: 20, group: urgence}
  - {id: tiers, label: Tiers, when: 'situation_logement == "heberge_tiers"', points: 4, rubric: logement}
  - {id: expulsion, label: Expulsion, when: menace_expulsion, points: 20, group: urgence}
  - {id: grossesse, label: Grossesse, when: grossesse, points: 5}
  - {id: handicap, label: Handicap, when: handicap_menage, points: 8, group: sante}
  - {id: adapte, label: Adapté, when: besoin_logement_adapte, points: 6, group: sante}
  - {id: pdalhpd, label: PDALHPD, when: pdalhpd, points: 9}
rubrics: [{id: logement, label: Logement}]
groups:
  - {id: urgence, label: Urgence, max: 30}
  - {id: sante, label: Santé, max: 10}
priorities:
  - {id: p_dalo, label: DALO, legal_basis: L441-1 CCH, when: dalo, tier: 2}
  - {id: p_pdalhpd, label: PDALHPD, legal_basis: L441-1 CCH, when: pdalhpd, points: 40, tier: 1}
tie_break: [date_depot asc, numero_unique asc]
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("COTATION_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(score_source, "PIECES_FROM", 1)
    monkeypatch.setattr(score_source, "PIECE", 4)
    monkeypatch.setattr(score_source, "BLOCK", 64)  # several blocks, a partial last one


def test_a_piece_holds_whole_rubrics_and_groups(small_pieces: None) -> None:
    grid = parse_grid(GRID, "grille.yaml")
    plan = score_source._total_plan(grid)
    assert sorted(j for piece in plan for j in piece.criteria) == list(range(len(grid.criteria)))
    for piece in plan:
        for r in piece.rubrics:
            assert set(grid.rubrics[r].members) <= set(piece.criteria)
        for g in piece.groups:
            assert set(grid.groups[g].members) <= set(piece.criteria)
    assert sorted(g for piece in plan for g in piece.groups) == list(range(len(grid.groups)))
    assert sorted(r for piece in plan for r in piece.rubrics) == list(range(len(grid.rubrics)))
    # 11 criteria in 7 components (the rubric, urgence and sante whole): 3 pieces of about 4 criteria
    assert len(plan) == 3 and max(len(piece.criteria) for piece in plan) <= 5


def test_two_pieces_at_least_so_that_two_processes_compile_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(score_source, "PIECES_FROM", 1)
    grid = parse_grid(GRID, "grille.yaml")  # 11 criteria, PIECE is 100
    assert len(score_source._total_plan(grid)) == 2


def test_shares_balance_the_work_and_give_the_caller_a_head_start() -> None:
    costs = [500, 480, 470, 460, 30]
    parts = build.shares(costs, 2)
    assert sorted(k for part in parts for k in part) == list(range(len(costs)))
    ends = [sum(build.PIECE_S + build.COST_S * costs[k] for k in part) for part in parts]
    ends[1] += build.WORKER_START_S
    assert abs(ends[0] - ends[1]) <= build.PIECE_S + build.COST_S * max(costs)
    assert build.shares([10], 4) == [[0], [], [], []]  # one job: no other process


@needs_jit
def test_pieces_compiled_by_workers_are_loaded_and_score_as_the_reference(
    cache: Path, small_pieces: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COTATION_COMPILE_WORKERS", "2")
    grid = parse_grid(GRID, "grille.yaml")
    batch = generate_applications(500, seed=3)
    compiled = compile_grid(grid)
    src = compiled.kernel_source
    total_pieces = [e.name for e in src.piece_table if e.kernel == score_source.ROWS]
    assert len(total_pieces) == 4  # three criteria pieces and the finish
    scores, ref = compiled.score(batch, DATE), evaluate(grid, batch, DATE)
    for name in ("total", "flag_bits", "tier", "breakdown", "met"):
        mine, want = getattr(scores, name), getattr(ref, name)
        assert mine.dtype == want.dtype and np.array_equal(mine, want), name
    for mine, want in zip(compiled.trace(batch, DATE), trace_points(grid, batch, DATE), strict=True):
        assert np.array_equal(mine, want)
    # every piece is on disk, and the pieces this process did not compile came from the cache
    missing = [e.name for e in src.piece_table if not compiled.cached(e.name)]
    assert not missing, sorted(p.name for p in compiled.path.parent.glob("__pycache__/*"))
    hits = [getattr(compiled.module, name).stats.cache_hits for name in total_pieces]
    assert any(sum(h.values()) for h in hits), "no piece came from a worker"


@needs_jit
def test_a_worker_that_fails_leaves_the_piece_to_the_call(
    cache: Path, small_pieces: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COTATION_COMPILE_WORKERS", "2")
    monkeypatch.setattr(build, "_WORKER", "raise SystemExit(3)")
    grid = parse_grid(GRID, "grille.yaml")
    batch = generate_applications(300, seed=4)
    scores = compile_grid(grid).score(batch, DATE)
    assert scores.engine == "compiled"
    assert np.array_equal(scores.total, evaluate(grid, batch, DATE).total)


def test_one_process_compiles_everything_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COTATION_COMPILE_WORKERS", "1")
    assert build.compile_workers() == 1
    started: list[object] = []
    monkeypatch.setattr(build, "_start_worker", lambda *a: started.append(a))

    class Fn:
        def __init__(self) -> None:
            self.signatures: list[object] = []

        def compile(self, sig: object) -> None:
            self.signatures.append(sig)

    class Module:
        a, b = Fn(), Fn()

    build.precompile(Module, [("a", (), 10), ("b", (), 20)])  # type: ignore[arg-type]
    assert started == [] and Module.a.signatures == [()] and Module.b.signatures == [()]


@needs_jit
def test_a_worker_keeps_what_other_processes_compiled_while_it_started(
    cache: Path, small_pieces: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files this process writes are listed in the manifest only after the call: a worker that
    started later must not take them for damaged ones (it did, and deleted them)."""
    monkeypatch.setenv("COTATION_COMPILE_WORKERS", "1")
    grid = parse_grid(GRID, "grille.yaml")
    batch = generate_applications(200, seed=5)
    compiled = compile_grid(grid)
    args = [*compiled.arguments(batch, np.int64(20454)), np.int64(20454)]
    total, bits, tier = compiled._outputs(len(batch))
    monkeypatch.setattr(compiled_module, "precompile", lambda module, jobs: jobs_seen.extend(jobs))
    jobs_seen: list[tuple[str, tuple[object, ...], int]] = []
    compiled._prepare(score_source.ROWS, [*args, total, bits, tier])
    first, *others = jobs_seen
    getattr(compiled.module, first[0]).compile(first[1])  # this process: written, not yet listed
    assert compiled.cached(first[0])
    proc = build._start_worker(compiled.module, [job[:2] for job in others])
    assert proc is not None
    assert proc[0].wait(timeout=300) == 0
    assert compiled.cached(*(job[0] for job in jobs_seen))

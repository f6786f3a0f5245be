"""Caches that check and repair themselves (issue 20) and kernels that never fail a user (issue 19).

Each kind of cache file (grid entry, generated module, bytecode, Numba's index and machine code, the
manifest of Numba's files) is truncated, replaced by random bytes and bit-flipped at several offsets:
the next run gives the scores of a clean run, exits 0 and says, in one line naming the cache folder,
that it discarded and rebuilt the entry (W450). A cache folder others can write is not used (W451).
A kernel that cannot be compiled falls back to the reference engine (W452). Large grids compile in
pieces, whose scores equal the reference evaluator's.
"""

from __future__ import annotations

import datetime
import os
import pickle
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np
import pytest

from cotation.api import load_grid, parse_grid
from cotation.cachedir import digest, sidecar
from cotation.codegen import build, score_source
from cotation.data.batch import write_applications
from cotation.data.generate import generate_applications
from cotation.errors import CACHE_WARNING_CODES, CotationWarning
from cotation.scoring.compiled import compile_grid
from cotation.scoring.reference import evaluate, trace_points

ROOT = Path(__file__).resolve().parent.parent
DATE = datetime.date(2026, 1, 1)
GRID = """id: essai-cache
title: Essai des caches
variables:
  anciennete_mois: months_between(date_depot, date_calcul)
criteria:
  - {id: anciennete, label: Ancienneté, value: anciennete_mois, per_unit: 1, max: 60}
  - {id: dalo, label: DALO, when: dalo, points: 50}
  - {id: sans_abri, label: Sans abri, when: 'situation_logement == "sans_abri"', points: 17, rubric: logement}
  - {id: tiers, label: Tiers, when: 'situation_logement == "heberge_tiers"', points: 4, rubric: logement}
  - {id: violences, label: Violences, when: '"violences" in motifs', points: 20, group: urgence}
  - {id: expulsion, label: Expulsion, when: menace_expulsion, points: 20, group: urgence}
  - {id: enfants, label: Enfants, value: nb_enfants, per_unit: 3, max: 9}
rubrics: [{id: logement, label: Logement}]
groups: [{id: urgence, label: Urgence, max: 30}]
priorities:
  - {id: p_dalo, label: DALO, legal_basis: L441-1 CCH, when: dalo, tier: 2}
  - {id: p_pdalhpd, label: PDALHPD, legal_basis: L441-1 CCH, when: pdalhpd, points: 40, tier: 1}
tie_break: [date_depot asc, numero_unique asc]
"""


def damages(data: bytes) -> dict[str, bytes]:
    """Truncated, randomised, and one bit flipped at the start, a third, two thirds and the end."""
    rng = random.Random(len(data))
    out = {"truncated": data[: len(data) // 2], "random": bytes(rng.randrange(256) for _ in data)}
    for name, at in (("flip-start", 0), ("flip-third", len(data) // 3), ("flip-2/3", 2 * len(data) // 3)):
        out[name] = data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1 :]
    out["flip-end"] = data[:-1] + bytes([data[-1] ^ 0x01])
    return out


def test_every_warning_code_is_documented() -> None:
    text = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    for code, meaning in CACHE_WARNING_CODES.items():
        assert f"\n## {code} — {meaning}\n" in text


# -- in-process: the grid cache and the bytecode ------------------------------------------------------
@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COTATION_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "grille.yaml").write_text(GRID, encoding="utf-8")
    return tmp_path / "cache"


def test_damaged_grid_entries_are_rebuilt(cache: Path) -> None:
    path = cache.parent / "grille.yaml"
    clean = load_grid(path)
    (entry,) = (cache / "grids").glob("*.grid")
    data = entry.read_bytes()
    for name, damaged in [*damages(data).items(), ("digest", None)]:
        if damaged is None:  # the digest itself damaged
            sidecar(entry).write_text("0" * 64)
        else:
            entry.write_bytes(damaged)
        with pytest.warns(CotationWarning, match=rf"W450.*cache folder {cache / 'grids'}"):
            again = load_grid(path)
        assert again == clean and repr(again) == repr(clean), name
        assert entry.read_bytes() == data and sidecar(entry).read_text() == digest(data)


def test_the_grid_cache_runs_no_code(cache: Path) -> None:
    """A planted pickle with a matching digest is data that is not a grid: discarded, never run."""
    path = cache.parent / "grille.yaml"
    clean = load_grid(path)
    (entry,) = (cache / "grids").glob("*.grid")
    witness = cache.parent / "ran"

    class Planted:
        def __reduce__(self) -> tuple[Callable[..., object], tuple[str]]:
            return (os.system, (f"touch {witness}",))

    planted = pickle.dumps(Planted())
    entry.write_bytes(planted)
    sidecar(entry).write_text(digest(planted))
    with pytest.warns(CotationWarning, match="W450.*not a grid"):
        assert load_grid(path) == clean
    assert not witness.exists()


def test_damaged_bytecode_is_rebuilt(tmp_path: Path) -> None:
    text, path = "X = 41\nY = X + 1\n", tmp_path / "m.py"
    path.write_text(text, encoding="utf-8")
    build._code(text, path)
    (copy,) = tmp_path.glob("m.*.code")
    data = copy.read_bytes()
    for name, damaged in damages(data).items():
        copy.write_bytes(damaged)
        with pytest.warns(CotationWarning, match=f"W450.*bytecode.*cache folder {tmp_path}"):
            code = build._code(text, path)
        namespace: dict[str, object] = {}
        exec(code, namespace)
        assert namespace["Y"] == 42, name
        assert copy.read_bytes() == data


def test_a_folder_others_can_write_is_not_used(cache: Path) -> None:
    cache.mkdir(parents=True)
    cache.chmod(0o777)
    with pytest.warns(CotationWarning, match=r"W451.*not used.*writable by others.*chmod go-w") as said:
        grid = parse_grid(GRID, "grille.yaml")
        load_grid(cache.parent / "grille.yaml")
    assert len([w for w in said if "W451" in str(w.message)]) == 1  # said once
    assert list(cache.iterdir()) == []  # nothing kept, nothing read
    assert grid.criteria


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing is compiled with NUMBA_DISABLE_JIT=1")
def test_a_kernel_that_fails_falls_back_to_the_reference(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = parse_grid(GRID, "grille.yaml")
    batch = generate_applications(200, seed=4)
    compiled = compile_grid(grid)

    def broken(*args: object) -> None:
        raise numba.core.errors.TypingError("a compiler bug")

    monkeypatch.setattr(compiled.module, compiled.kernel_source.kernel, broken)
    monkeypatch.setattr(compiled.module, compiled.kernel_source.breakdown_kernel, broken)
    with pytest.warns(CotationWarning, match="W452.*reference engine.*bug"):
        scores = compiled.score(batch, DATE)
    ref = evaluate(grid, batch, DATE)
    assert scores.engine == "reference"
    assert np.array_equal(scores.total, ref.total) and np.array_equal(scores.breakdown, ref.breakdown)


# -- large grids, in pieces -----------------------------------------------------------------------------
@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing is compiled with NUMBA_DISABLE_JIT=1")
def test_a_grid_in_pieces_scores_as_the_reference(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(score_source, "PIECES_FROM", 1)
    monkeypatch.setattr(score_source, "PIECE", 3)
    monkeypatch.setattr(score_source, "BLOCK", 64)  # several blocks, a partial last one
    grid = parse_grid(GRID, "grille.yaml")
    src = score_source.generate_source(grid)
    assert src.pieces and "criteria_piece_2" in src.text and "def score_rows" in src.text
    batch = generate_applications(1000, seed=5)
    compiled = compile_grid(grid)
    assert isinstance(compiled.points, np.ndarray)
    scores, ref = compiled.score(batch, DATE), evaluate(grid, batch, DATE)
    for name in ("total", "flag_bits", "tier", "breakdown", "met"):
        mine, want = getattr(scores, name), getattr(ref, name)
        assert mine.dtype == want.dtype and np.array_equal(mine, want), name
    for mine, want in zip(compiled.trace(batch, DATE), trace_points(grid, batch, DATE), strict=True):
        assert np.array_equal(mine, want)


# -- across processes: the generated module and Numba's files -------------------------------------------
def score(cache: Path, work: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["COTATION_CACHE_DIR"] = str(cache)
    out = work / "out.csv"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "cotation", "score", str(work / "grille.yaml"), str(work / "apps.csv")]
    done = subprocess.run(
        [*cmd, "--date", DATE.isoformat(), "--engine", "compiled", "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing is compiled with NUMBA_DISABLE_JIT=1")
def test_damaged_kernel_files_are_rebuilt(tmp_path: Path) -> None:
    (tmp_path / "grille.yaml").write_text(GRID, encoding="utf-8")
    write_applications(generate_applications(300, seed=6), tmp_path / "apps.csv")
    cache = tmp_path / "cache"
    first = score(cache, tmp_path)
    assert "warning" not in first.stderr, first.stderr
    clean = (tmp_path / "out.csv").read_bytes()
    pycache = cache / "__pycache__"
    kinds = {
        "index": sorted(pycache.glob("*.score_rows-*.nbi"))[0],
        "machine code": sorted(pycache.glob("*.score_rows-*.nbc"))[0],
        "manifest": next(pycache.glob("*.sha256")),
        "module": next(cache.glob("cotation_grid_*.py")),
    }
    plan = {"index": list(damages(b"x" * 64)), "machine code": list(damages(b"x" * 64))}
    for kind, path in kinds.items():
        for how in plan.get(kind, ["truncated", "flip-third"]):
            data = path.read_bytes()
            path.write_bytes(damages(data)[how])
            done = score(cache, tmp_path)
            assert (tmp_path / "out.csv").read_bytes() == clean, (kind, how)
            folder = pycache if kind != "module" else cache
            said = [line for line in done.stderr.splitlines() if "W450" in line]
            assert said and f"cache folder {folder}" in said[0], (kind, how, done.stderr)
            assert len(said) == 1 and "internal error" not in done.stderr
            assert path.exists()
    quiet = score(cache, tmp_path)  # repaired: the next run is a clean warm start
    assert "warning" not in quiet.stderr and (tmp_path / "out.csv").read_bytes() == clean


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing is compiled with NUMBA_DISABLE_JIT=1")
def test_a_world_writable_cache_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "grille.yaml").write_text(GRID, encoding="utf-8")
    write_applications(generate_applications(100, seed=7), tmp_path / "apps.csv")
    score(tmp_path / "clean", tmp_path)
    clean = (tmp_path / "out.csv").read_bytes()
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o777)
    done = score(cache, tmp_path)
    said = [line for line in done.stderr.splitlines() if "W451" in line]
    assert len(said) == 1 and str(cache) in said[0] and "chmod go-w" in said[0]
    assert list(cache.iterdir()) == [] and (tmp_path / "out.csv").read_bytes() == clean


def test_auto_says_when_a_large_grid_is_not_worth_compiling(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cotation import api
    from cotation.scoring import engine

    monkeypatch.setattr(score_source, "PIECES_FROM", 5)
    monkeypatch.setattr(engine, "AUTO_COMPILED_FROM", 50)
    grid = parse_grid(GRID, "grille.yaml")
    batch = generate_applications(100, seed=8)
    with pytest.warns(CotationWarning, match="W453.*7 criteria.*reference engine"):
        scores = api.score(grid, batch, DATE, engine="auto")
    assert scores.engine == "reference"
    assert np.array_equal(scores.total, evaluate(grid, batch, DATE).total)

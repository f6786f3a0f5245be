"""The compiled engine (cotation.codegen.score_source + cotation.scoring.compiled) against the reference
evaluator.

Every comparison is exact: totals, breakdown, met, flags, tier and rank, dtypes and shapes included.
Grids come from an inline grid using every feature, and from Hypothesis (random conditions, rules,
rubrics, groups and priorities); data from the synthetic generator and from small random batches
with missing optional values. The cache tests run ``compile_grid`` in fresh subprocesses.
"""

from __future__ import annotations

import ast
import datetime
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from cotation.api import load_grid, parse_grid
from cotation.cachedir import cache_directory
from cotation.codegen.build import load_module, module_key
from cotation.codegen.score_source import generate_source
from cotation.data import batch as batch_module
from cotation.data.batch import Batch
from cotation.data.calendar import months_between
from cotation.data.generate import generate_applications
from cotation.errors import CotationWarning, GridError
from cotation.scoring.compiled import MIN_ROWS_PER_THREAD, compile_grid
from cotation.scoring.reference import evaluate
from cotation.scoring.scores import Scores

ROOT = Path(__file__).resolve().parents[1]
TODAY = datetime.date(2026, 1, 1)

GRID = """
id: essai-noyau
title: Grille d'essai du noyau compilé
version: "2026.1"
variables:
  anciennete_mois: months_between(date_depot, date_calcul)
  taux_effort: {expr: "coalesce(loyer_actuel, 0) / ressources_mensuelles", label: Taux d'effort}
  surface_par_personne: surface_actuelle / nb_personnes
criteria:
  - {id: anciennete, label: Ancienneté, value: anciennete_mois, per_unit: 2, max: 240}
  - {id: renouvellement, label: Renouvellement, value: "days_between(date_renouvellement, date_calcul)",
     per_unit: 1, unit: 30.5, min: 0, max: 24}
  - {id: dalo, label: DALO, when: dalo, points: 50}
  - id: effort
    label: Taux d'effort
    value: taux_effort
    bands: [{to: 0.1, points: -2}, {from: 0.3, to: 0.4, points: 5}, {from: 0.4, points: 10}]
  - id: suroccupation
    label: Suroccupation
    value: surface_par_personne
    bands: [{to: 9, points: 15}, {from: 9, to: 12, points: 8}]
    rubric: logement
  - {id: sans_abri, label: Sans abri, when: 'situation_logement == "sans_abri"', points: 17,
     rubric: logement, group: situation}
  - {id: heberge, label: Hébergé, when: 'situation_logement in {"heberge_tiers", "heberge_parents"}',
     points: 8, rubric: logement, group: situation}
  - {id: indigne, label: Habitat indigne, when: habitat_indigne, points: 8, rubric: logement,
     group: situation}
  - {id: violences, label: Violences, when: '"violences" in motifs and nb_enfants > 0', points: 20,
     group: situation}
  - {id: enfants, label: Enfants, points: "3 * coalesce(nb_enfants, 0)", max: 12, rubric: famille}
  - {id: isole, label: Parent isolé, when: parent_isole, points: 6, rubric: famille}
  - {id: refus, label: Refus, when: nb_refus_propositions > 0, points: "-10 * nb_refus_propositions",
     min: -30, valid_for: {since: date_dernier_refus, months: 12}}
  - id: motifs_multiples
    label: Plusieurs motifs
    value: count(motifs)
    bands: [{from: 2, to: 4, points: 3}, {from: 4, points: 6}]
  - {id: toulouse, label: Toulouse souhaitée, when: '"31555" in communes_souhaitees', points: 4}
  - {id: premier_voeu, label: Premier voeu au travail,
     when: first(communes_souhaitees) == commune_travail, points: 6, group: divers}
  - {id: senior, label: Senior, points: 7, group: divers,
     when: age(date_naissance_demandeur) >= 65 or not present(date_naissance_codemandeur)}
  - {id: parite, label: Parité, group: divers,
     points: "nb_personnes % 2 * 3 - (nb_adultes - 3) // 2 + (-7) % 3"}
  - {id: ressources, label: Ressources, value: ressources_mensuelles / nb_personnes, per_unit: -1, unit: 250,
     min: -8}
  - {id: arrondis, label: Arrondis, group: divers,
     points: "round(coalesce(surface_actuelle, 0) / 7) - floor(coalesce(loyer_actuel, 0) / 301)
              + ceil(ressources_mensuelles / 997) + round(-2.5)"}
  - {id: conditionnel, label: Conditionnel, group: divers,
     points: "(5 if nb_enfants >= 2 else 1) if present(nb_enfants) else -1"}
  - {id: trajet, label: Trajet, when: temps_trajet_travail > 45 or pieces_actuelles < 2, points: 3}
  - {id: flottants, label: Flottants,
     value: "coalesce(surface_actuelle, 1.5) % 7.5 - surface_actuelle // 4.5",
     bands: [{to: 0, points: 1}, {from: 0, to: 3.25, points: 2}, {from: 3.25, points: 4}]}
  - {id: reste, label: Reste à vivre, when: not (loyer_actuel > 500 and dalo),
     value: "max(ressources_mensuelles - coalesce(loyer_actuel, 0), 0) / nb_personnes / 30",
     bands: [{to: 10, points: 10}, {from: 10, to: 20, points: 5}]}
rubrics:
  - {id: logement, label: Logement actuel}
  - {id: famille, label: Famille}
groups:
  - {id: situation, label: Situation, max: 30}
  - {id: divers, label: Divers, min: 0, max: 10}
priorities:
  - {id: prio_dalo, label: DALO, legal_basis: L441-2-3 CCH, when: dalo, tier: 2}
  - {id: prio_violences, label: Violences, legal_basis: L441-1 CCH,
     when: 'violences_couple or "violences" in motifs', points: 100, tier: 1}
  - {id: prio_sans_abri, label: Sans abri, legal_basis: L441-1 CCH,
     when: 'situation_logement == "sans_abri" and not dalo', points: 30}
  - {id: prio_vide, label: Jamais, legal_basis: aucun, when: "false", points: 5, tier: 3}
tie_break: [date_depot asc, numero_unique asc]
"""

ALWAYS_MET = {"anciennete", "enfants", "parite", "ressources", "arrondis", "conditionnel"}
FIELDS = ("total", "flag_bits", "breakdown", "met", "flags", "tier", "rank")


def assert_same(got: Scores, want: Scores) -> None:
    assert got.columns == want.columns and got.flag_ids == want.flag_ids
    assert (got.grid_id, got.grid_hash, got.date_calcul) == (want.grid_id, want.grid_hash, want.date_calcul)
    assert np.array_equal(got.ids, want.ids)
    for name in FIELDS:
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        bad = np.argwhere(a != b)
        first = tuple(bad[0]) if len(bad) else ()
        assert len(bad) == 0, f"{name} differs at {bad[:5].tolist()}: {a[first]} != {b[first]}"


@pytest.fixture(scope="module")
def grid() -> Any:
    return parse_grid(GRID, "essai-noyau.yaml")


@pytest.fixture(scope="module")
def compiled(grid: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return compile_grid(grid, tmp_path_factory.mktemp("kernels"))


# -- (a) the full grid over synthetic applications ------------------------------------------
@pytest.mark.parametrize(("seed", "day"), [(1, TODAY), (7, datetime.date(2025, 3, 31)), (11, TODAY)])
@pytest.mark.parametrize("masks", ["arrays", "none when complete"])
def test_generated_applications(
    compiled: Any, grid: Any, seed: int, day: datetime.date, masks: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if masks != "arrays":  # as a large batch would be: no mask for a column without missing values
        monkeypatch.setattr(batch_module, "MASKS_ALWAYS_BELOW", 0)
    batch = generate_applications(5000, seed=seed, date_calcul=day)
    assert_same(compiled.score(batch, day), evaluate(grid, batch, day))


def test_rows_over_many_chunks_and_a_partial_last_one(
    grid: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernels work by chunks of CHUNK rows (16 384): with small chunks, a batch spans many of
    them, the last one partial, in each of two threads, and scores exactly as the reference."""
    from cotation.codegen import score_source

    monkeypatch.setattr(score_source, "CHUNK", 97)
    small = compile_grid(grid, tmp_path)
    assert "CHUNK = 97" in small.source
    batch = generate_applications(2 * MIN_ROWS_PER_THREAD + 1234, seed=5)
    want = evaluate(grid, batch, TODAY)
    assert_same(small.score(batch, TODAY, breakdown=True), want)
    totals = small.score(batch, TODAY)
    assert np.array_equal(totals.total, want.total) and np.array_equal(totals.flag_bits, want.flag_bits)


def test_every_criterion_is_exercised(compiled: Any, grid: Any) -> None:
    scores = compiled.score(generate_applications(5000, seed=1), TODAY)
    conditional = [j for j, c in enumerate(grid.criteria) if c.id not in ALWAYS_MET]
    assert scores.met.any(axis=0).all() and (~scores.met[:, conditional]).any(axis=0).all()
    assert scores.flags[:, :3].any(axis=0).all() and scores.tier.max() == 2


def test_empty_and_single_row(compiled: Any, grid: Any) -> None:
    batch = generate_applications(3, seed=5)
    empty = batch.take(np.zeros(0, np.int64))
    assert_same(compiled.score(empty, TODAY), evaluate(grid, empty, TODAY))
    one = batch.take(np.array([1]))
    assert_same(compiled.score(one, TODAY), evaluate(grid, one, TODAY))


def test_totals_without_breakdown(compiled: Any, grid: Any) -> None:
    """score() runs the total kernel only; the breakdown kernel runs when the breakdown is read."""
    batch = generate_applications(500, seed=2)
    lazy = compiled.score(batch, TODAY)
    assert not lazy.details.ready
    eager = compiled.score(batch, TODAY, breakdown=True)
    assert eager.details.ready
    for name in ("total", "flag_bits", "tier"):
        assert np.array_equal(getattr(lazy, name), getattr(eager, name)), name
    assert_same(lazy, eager)
    assert lazy.details.ready


def test_outputs_are_narrow_and_criterion_major(compiled: Any, grid: Any) -> None:
    scores = compiled.score(generate_applications(300, seed=2), TODAY)
    assert (scores.total.dtype, scores.tier.dtype, scores.flag_bits.dtype) == (
        np.dtype(grid.widths.total),
        np.int8,
        np.dtype(grid.widths.flags),
    )
    assert scores.breakdown.dtype == np.dtype(grid.widths.breakdown)
    assert scores.breakdown.T.flags.c_contiguous and scores.met.T.flags.c_contiguous
    assert np.array_equal(scores.total, scores.breakdown.sum(axis=1))


def shipped_grids() -> list[Path]:
    paths = [p for p in sorted((ROOT / "grids").glob("*.yaml")) if not p.name.endswith(".tests.yaml")]
    return [p for p in paths if yaml.safe_load(p.read_text(encoding="utf-8")).get("kind") != "pool"]


@pytest.mark.parametrize("path", shipped_grids(), ids=lambda p: p.name)
def test_shipped_grids(path: Path, tmp_path: Path) -> None:
    grid = load_grid(path)
    compiled = compile_grid(grid, tmp_path, parallel=False)
    batch = generate_applications(5000, seed=8, catalogue=grid.catalogue)
    assert_same(compiled.score(batch, TODAY), evaluate(grid, batch, TODAY))


# -- (c) row order, (d) threads ---------------------------------------------------------------
def test_row_order_independence(compiled: Any) -> None:
    batch = generate_applications(3000, seed=3)
    perm = np.random.default_rng(0).permutation(len(batch))
    whole, shuffled = compiled.score(batch, TODAY), compiled.score(batch.take(perm), TODAY)
    for name in FIELDS:
        assert np.array_equal(getattr(shuffled, name), getattr(whole, name)[perm]), name


def test_thread_count_does_not_matter(compiled: Any) -> None:
    batch = generate_applications(2 * MIN_ROWS_PER_THREAD + 999, seed=4)  # an uneven split in two threads
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = compiled.score(batch, TODAY)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = compiled.score(batch, TODAY)
        assert numba.config.NUMBA_NUM_THREADS < 2 or len(batch) >= 2 * MIN_ROWS_PER_THREAD
    finally:
        numba.set_num_threads(before)
    for name in FIELDS:
        assert np.array_equal(getattr(one, name), getattr(two, name)), name


# -- the generated source -----------------------------------------------------------------------
def test_source_is_readable_and_deterministic(compiled: Any, grid: Any) -> None:
    text = compiled.source
    head = text.split("\nimport numba", 1)[0]
    assert "'essai-noyau'" in head and grid.content_hash not in head  # structure only: points are arguments
    assert compiled.kernel_source.grid_hash == grid.content_hash
    for j, c in enumerate(grid.criteria):
        assert f"#   [{j}] {c.id}: " in head
    assert "[3] effort: bands taux_effort" in head
    assert "fastmath" not in text and 'error_model="numpy"' in text
    assert generate_source(grid).text == text
    compile(text, "<kernel>", "exec")
    assert "numba.prange" not in text and "parallel=" not in text  # threads split the rows


@pytest.mark.parametrize("module", ["emit", "score_source", "pair_source"])
def test_codegen_does_not_import_numba(module: str) -> None:
    tree = ast.parse((ROOT / "cotation" / "codegen" / f"{module}.py").read_text(encoding="utf-8"))
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in imported if m.split(".")[0] in ("numba", "llvmlite")]


def test_cache_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COTATION_CACHE_DIR", str(tmp_path / "env"))
    assert cache_directory(tmp_path / "arg") == tmp_path / "arg"
    assert cache_directory() == tmp_path / "env"
    monkeypatch.delenv("COTATION_CACHE_DIR")
    assert cache_directory() == Path.home() / ".cache" / "cotation"


def test_module_is_content_addressed(tmp_path: Path) -> None:
    text = "X = 1\n"
    module = load_module(text, tmp_path)
    path = Path(module.__file__ or "")
    assert path.name == f"cotation_grid_{module_key(text)}.py" and path.read_text() == text
    assert load_module(text, tmp_path) is module and module.X == 1
    assert not list(tmp_path.glob("*.tmp"))


def test_module_bytecode_is_kept_and_never_trusted_blindly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The module's code object is marshalled next to it; a truncated copy, or one of another text,
    is compiled again and replaced."""
    from cotation.codegen import build as kernel

    text, path = "X = 41\nY = X + 1\n", tmp_path / "m.py"
    path.write_text(text, encoding="utf-8")
    first = kernel._code(text, path)
    (copy,) = tmp_path.glob("m.*.code")
    compiled = []
    monkeypatch.setattr(kernel, "compile", lambda *a: compiled.append(a) or compile(*a), raising=False)
    again = kernel._code(text, path)
    assert compiled == [] and again.co_code == first.co_code and again.co_filename == str(path)
    namespace: dict[str, Any] = {}
    exec(again, namespace)
    assert namespace["Y"] == 42
    data = copy.read_bytes()
    copy.write_bytes(data[: len(data) - 5])  # truncated
    with pytest.warns(CotationWarning, match="W450"):
        assert kernel._code(text, path).co_code == first.co_code and len(compiled) == 1
    assert copy.read_bytes() == data  # replaced
    other = "X = 1\nY = 2\n"
    code = kernel._code(other, path)  # the text changed: the copy is stale
    assert len(compiled) == 2 and code.co_consts != first.co_consts
    exec(code, namespace)
    assert namespace["Y"] == 2


# -- (e) the on-disk cache, across processes ---------------------------------------------------
SCRIPT = """
import datetime, json, sys
from cotation.api import load_grid, parse_grid
from cotation.data.generate import generate_applications
from cotation.scoring.compiled import compile_grid
grid = parse_grid(open(sys.argv[1], encoding="utf-8").read(), "essai-noyau.yaml")
compiled = compile_grid(grid)
scores = compiled.score(generate_applications(300, seed=9), datetime.date(2026, 1, 1))
stats = compiled.kernel.stats
print(json.dumps({"path": str(compiled.path), "hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values()), "total": scores.total.tolist()}))
"""


def run_fresh(grid_file: Path, cache: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["COTATION_CACHE_DIR"] = str(cache)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(grid_file)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="nothing is compiled with NUMBA_DISABLE_JIT=1")
def test_cache_across_processes(tmp_path: Path, grid: Any) -> None:
    grid_file, cache = tmp_path / "essai-noyau.yaml", tmp_path / "cache"
    grid_file.write_text(GRID, encoding="utf-8")
    first = run_fresh(grid_file, cache)
    module = Path(first["path"])
    assert module.parent == cache.resolve() and first["misses"] >= 1 and first["hits"] == 0
    index = sorted(cache.rglob("*.nbi"))
    assert index and sorted(cache.rglob("*.nbc"))
    stamps = {p: p.stat().st_mtime_ns for p in [module, *index]}
    text = module.read_text(encoding="utf-8")

    second = run_fresh(grid_file, cache)
    assert second["path"] == first["path"] and second["total"] == first["total"]
    assert second["hits"] >= 1 and second["misses"] == 0  # loaded, not compiled
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing rewritten
    assert sorted(cache.glob("*.py")) == [module]

    module.write_text(text[: len(text) // 2], encoding="utf-8")  # a damaged module file
    third = run_fresh(grid_file, cache)
    assert module.read_text(encoding="utf-8") == text  # detected and rewritten
    assert third["path"] == first["path"] and third["total"] == first["total"]


# -- (b) Hypothesis: random grids over random small batches -------------------------------------
INT_FIELDS = ("nb_personnes", "nb_adultes", "nb_enfants", "nb_refus_propositions", "temps_trajet_travail")
FLOAT_FIELDS = ("ressources_mensuelles", "loyer_actuel", "surface_actuelle")
BOOL_FIELDS = ("dalo", "parent_isole", "grossesse", "handicap_menage")
DATE_FIELDS = ("date_depot", "date_dernier_refus", "date_naissance_demandeur", "date_renouvellement")
CATEGORIES = {
    "situation_logement": ("sans_abri", "hotel", "heberge_tiers", "locataire_prive"),
    "situation_familiale": ("celibataire", "marie", "divorce"),
    "typologie_souhaitee": ("T1", "T2", "T3"),
}
SETS = {"motifs": ("violences", "handicap", "trop_cher", "sante"), "typologies_acceptees": ("T1", "T2", "T3")}
COMMUNES = ("31555", "31069", "31044")
CMP = ("<", "<=", ">", ">=", "==", "!=")
IN = st.sampled_from(["in", "not in"])
INT_FUNCTIONS = (
    "months_between(date_depot, date_calcul)",
    "age(date_naissance_demandeur)",
    "days_between(date_dernier_refus, date_calcul)",
    "count(motifs)",
    "count(communes_souhaitees)",
    "years_between(date_naissance_demandeur, date_depot)",
    "coalesce(nb_enfants, 1)",
    "(date_calcul - date_depot)",
)
COMMUNE_TESTS = (
    "first(communes_souhaitees) == commune_travail",
    "commune_travail in communes_souhaitees",
    'first(communes_souhaitees) != "31555"',
    'commune_travail == "31069"',
)


def fmt(template: str, *parts: Any) -> Any:
    """A strategy of ``template`` filled with one draw of each part."""
    return st.tuples(*parts).map(lambda drawn: template.format(*drawn))


def call(name: Any, args: Any) -> Any:
    return st.tuples(name, args).map(lambda p: f"{p[0]}({', '.join(p[1])})")


def quoted_list(values: tuple[str, ...]) -> Any:
    return st.lists(st.sampled_from(values), max_size=3, unique=True).map(
        lambda vs: "{" + ", ".join(f'"{v}"' for v in vs) + "}"
    )


def expressions(with_vars: bool) -> tuple[Any, Any, Any]:
    """Strategies of (int, float, bool) expression texts, with the variables vi, vf, vb as leaves or not."""
    present = [f"present({f})" for f in (*INT_FIELDS, *FLOAT_FIELDS, *DATE_FIELDS)]
    bool_leaf = st.one_of(
        st.sampled_from(BOOL_FIELDS),
        st.sampled_from(["true", "false", *present]),
        *([st.just("vb")] if with_vars else []),
    )
    int_leaf = st.one_of(
        st.sampled_from(INT_FIELDS),
        st.integers(0, 12).map(str),
        st.sampled_from(INT_FUNCTIONS),
        *([st.just("vi")] if with_vars else []),
    )
    float_leaf = st.one_of(
        st.sampled_from(FLOAT_FIELDS),
        st.sampled_from(["0.5", "2.25", "10.0", "0.3", "7.5"]),
        *([st.just("vf")] if with_vars else []),
    )

    def ints(inner: Any) -> Any:
        return st.one_of(
            fmt("({} {} {})", inner, st.sampled_from(["+", "-", "*", "//", "%"]), inner),
            fmt("(-{})", inner),
            fmt("abs({})", inner),
            fmt("clip({}, {}, {})", inner, inner, inner),
            call(st.sampled_from(["min", "max"]), st.lists(inner, min_size=2, max_size=3)),
            fmt("({} if {} else {})", inner, bool_leaf, inner),
            fmt("{}({})", st.sampled_from(["round", "floor", "ceil"]), float_leaf),
        )

    int_expr = st.recursive(int_leaf, ints, max_leaves=4)

    def floats(inner: Any) -> Any:
        either = st.one_of(inner, int_expr)
        return st.one_of(
            fmt("({} {} {})", either, st.sampled_from(["+", "-", "*", "/", "//", "%"]), inner),
            fmt("({} / {})", int_expr, int_expr),
            fmt("(-{})", inner),
            fmt("min({}, {})", inner, either),
            fmt("clip({}, {}, {})", inner, either, inner),
            fmt("({} if {} else {})", inner, bool_leaf, either),
            fmt("coalesce({}, {})", st.sampled_from(FLOAT_FIELDS), either),
        )

    float_expr = st.recursive(float_leaf, floats, max_leaves=4)
    number = st.one_of(int_expr, float_expr)
    category = st.sampled_from(sorted(CATEGORIES))
    set_field = st.sampled_from(sorted(SETS))
    atoms = st.one_of(
        bool_leaf,
        fmt("{} {} {}", int_expr, st.sampled_from(CMP), int_expr),
        fmt("{} {} {}", number, st.sampled_from(CMP), number),
        category.flatmap(
            lambda f: fmt(f + ' {} "{}"', st.sampled_from(["==", "!="]), st.sampled_from(CATEGORIES[f]))
        ),
        category.flatmap(lambda f: fmt(f + " {} {}", IN, quoted_list(CATEGORIES[f]))),
        set_field.flatmap(lambda f: fmt('"{}" {} ' + f, st.sampled_from(SETS[f]), IN)),
        fmt('"{}" {} communes_souhaitees', st.sampled_from(COMMUNES), IN),
        st.sampled_from(COMMUNE_TESTS),
        fmt(
            '{} {} date("{}")',
            st.sampled_from(DATE_FIELDS),
            st.sampled_from(CMP),
            st.dates(datetime.date(1950, 1, 1), TODAY),
        ),
        fmt(
            "{} + {} {} date_calcul",
            st.sampled_from(DATE_FIELDS),
            st.integers(-400, 400),
            st.sampled_from(CMP),
        ),
    )

    def logic(inner: Any) -> Any:
        return st.one_of(
            fmt("({} {} {})", inner, st.sampled_from(["and", "or"]), inner),
            fmt("(not {})", inner),
            fmt("({} if {} else {})", inner, inner, inner),
        )

    return int_expr, float_expr, st.recursive(atoms, logic, max_leaves=4)


BASE_INT, BASE_FLOAT, BASE_BOOL = expressions(with_vars=False)
INT_EXPR, FLOAT_EXPR, BOOL_EXPR = expressions(with_vars=True)


def maybe(draw: Any, key: str, values: Any) -> dict[str, Any]:
    """``{key: value}`` half of the time, else nothing."""
    return {key: draw(values)} if draw(st.booleans()) else {}


@st.composite
def bands(draw: Any) -> list[dict[str, Any]]:
    cuts = sorted(
        draw(
            st.lists(
                st.sampled_from([-50, -1, 0, 0.3, 1, 2.5, 9, 12, 100, 1000]),
                min_size=1,
                max_size=4,
                unique=True,
            )
        )
    )
    edges = [None if draw(st.booleans()) else cuts[0], *cuts[1:], None if draw(st.booleans()) else cuts[-1]]
    out = [
        {
            **({"from": lo} if lo is not None else {}),
            **({"to": hi} if hi is not None else {}),
            "points": draw(st.integers(-5, 20)),
        }
        for lo, hi in itertools.pairwise(edges)
        if lo is None or hi is None or lo < hi
    ]
    return out or [{"points": 1}]


@st.composite
def criteria(draw: Any, j: int) -> dict[str, Any]:
    c: dict[str, Any] = {"id": f"c{j}", "label": f"Critère {j}"}
    kind = draw(st.sampled_from(["points", "per_unit", "bands"]))
    if kind == "points":
        c["points"] = draw(st.one_of(st.integers(-20, 50), INT_EXPR))
    else:
        c["value"] = draw(st.one_of(INT_EXPR, FLOAT_EXPR))
    if kind == "per_unit":
        c.update(per_unit=draw(st.integers(-3, 5)), unit=draw(st.sampled_from([1, 2, 12, 0.5, 2.5, 30.5])))
    if kind == "bands":
        c["bands"] = draw(bands())
    c |= maybe(draw, "when", BOOL_EXPR) | maybe(draw, "min", st.integers(-30, 10))
    c |= maybe(draw, "max", st.integers(10, 60)) | maybe(draw, "rubric", st.sampled_from(["r1", "r2"]))
    c |= maybe(draw, "group", st.sampled_from(["g1", "g2"]))
    if draw(st.integers(0, 3)) == 0:
        c["valid_for"] = {"since": draw(st.sampled_from(DATE_FIELDS)), "months": draw(st.integers(1, 36))}
    return c


@st.composite
def grids(draw: Any) -> str:
    """The YAML text of a random grid (valid, except that its points may be unbounded: E309)."""
    crits = [draw(criteria(j)) for j in range(draw(st.integers(1, 5)))]
    prios = [
        {
            "id": f"p{j}",
            "label": f"Priorité {j}",
            "legal_basis": "L441-1",
            "when": draw(BOOL_EXPR),
            **maybe(draw, "points", st.integers(-5, 40)),
            **maybe(draw, "tier", st.integers(1, 3)),
        }
        for j in range(draw(st.integers(0, 3)))
    ]
    groups = [
        {
            "id": g,
            "label": g,
            **maybe(draw, "min", st.integers(-10, 5)),
            **maybe(draw, "max", st.integers(5, 40)),
        }
        for g in sorted({c["group"] for c in crits if "group" in c})
    ]
    rubrics = [{"id": r, "label": r} for r in sorted({c["rubric"] for c in crits if "rubric" in c})]
    tie_break = draw(
        st.sampled_from(
            [["date_depot asc"], ["ressources_mensuelles desc", "date_depot asc"], ["loyer_actuel asc"]]
        )
    )
    grid = {
        "id": "hypothese",
        "title": "Grille aléatoire",
        "variables": {"vi": draw(BASE_INT), "vf": draw(BASE_FLOAT), "vb": draw(BASE_BOOL)},
        "criteria": crits,
        "rubrics": rubrics,
        "groups": groups,
        "priorities": prios,
        "tie_break": tie_break,
    }
    return yaml.safe_dump(grid, allow_unicode=True, sort_keys=False)


def optional(values: Any) -> Any:
    return st.one_of(st.none(), values)


def iso(lo: datetime.date, hi: datetime.date) -> Any:
    return st.dates(lo, hi).map(datetime.date.isoformat)


ROW = st.fixed_dictionaries(
    {
        "date_depot": iso(datetime.date(2000, 1, 1), TODAY),
        "nb_personnes": st.integers(1, 8),
        "nb_adultes": st.integers(1, 3),
        "date_naissance_demandeur": iso(datetime.date(1940, 1, 1), TODAY),
        "ressources_mensuelles": st.sampled_from([0, 450.5, 1200, 2500.25, 999.99, 3000]),
        "situation_logement": st.sampled_from(CATEGORIES["situation_logement"]),
    },
    optional={
        "nb_enfants": optional(st.integers(0, 5)),
        "nb_refus_propositions": optional(st.integers(0, 3)),
        "temps_trajet_travail": optional(st.integers(0, 120)),
        "loyer_actuel": optional(st.sampled_from([0, 350, 612.4, 1500])),
        "surface_actuelle": optional(st.sampled_from([0, 9, 18.5, 45, 70.25])),
        **{f: optional(st.booleans()) for f in BOOL_FIELDS},
        **{
            f: optional(iso(datetime.date(1950, 1, 1), TODAY))
            for f in ("date_dernier_refus", "date_renouvellement")
        },
        "situation_familiale": optional(st.sampled_from(CATEGORIES["situation_familiale"])),
        "typologie_souhaitee": optional(st.sampled_from(CATEGORIES["typologie_souhaitee"])),
        **{f: st.lists(st.sampled_from(v), unique=True).map(";".join) for f, v in SETS.items()},
        "communes_souhaitees": st.lists(st.sampled_from(COMMUNES), unique=True).map(";".join),
        "commune_travail": optional(st.sampled_from(COMMUNES)),
    },
)


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(text=grids(), rows=st.lists(ROW, max_size=50), seed=st.integers(0, 1000))
def test_random_grids(
    text: str, rows: list[dict[str, Any]], seed: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each example compiles a serial kernel (about a second), hence few examples and no shrinking.

    A drawn grid whose points the checker cannot bound within 64-bit integers is refused (E309, as
    tests/test_errors.py checks) and has nothing to compare: another example is drawn instead."""
    try:
        grid = parse_grid(text, "hypothese.yaml")
    except GridError as exc:
        assume(not all(d.code == "E309" for d in exc.diagnostics))
        raise
    compiled = compile_grid(grid, tmp_path_factory.getbasetemp() / "hypothesis", parallel=False)
    numbered = [{"numero_unique": f"A{i:03d}", **row} for i, row in enumerate(rows)]
    batch = Batch.from_rows(numbered, date_calcul=TODAY)
    assert_same(compiled.score(batch, TODAY), evaluate(grid, batch, TODAY))
    many = generate_applications(400, seed=seed)
    small_batches, batch_module.MASKS_ALWAYS_BELOW = batch_module.MASKS_ALWAYS_BELOW, 0
    try:  # as a large batch: masks of columns without missing values are None (the kernel's own version)
        assert_same(compiled.score(many, TODAY), evaluate(grid, many, TODAY))
    finally:
        batch_module.MASKS_ALWAYS_BELOW = small_batches


def test_helpers(compiled: Any) -> None:
    """The scalar helpers of the generated module against NumPy and cotation.data.calendar."""
    module = load_module(compiled.source, compiled.path.parent)
    rng = np.random.default_rng(1)
    high = rng.integers(0, 2, 300, dtype=np.uint64) << np.uint64(63)
    bits = rng.integers(0, 2**63, 300, dtype=np.uint64) | high
    bits = np.concatenate([bits, np.array([0, 1, 2**63, 2**64 - 1], dtype=np.uint64)])
    assert [module._popcount(x) for x in bits] == np.bitwise_count(bits).astype(np.int64).tolist()
    a, b = rng.integers(-200_000, 200_000, 2000), rng.integers(-200_000, 200_000, 2000)
    assert [module._months_between(x, y) for x, y in zip(a, b, strict=True)] == months_between(a, b).tolist()
    below_half = 0.49999999999999994
    halves = np.array([-2.5, -1.5, -0.5, -0.0, 0.5, 1.5, 2.5, below_half, -below_half, 1e15])
    expected = (np.sign(halves) * np.floor(np.abs(halves) + 0.5)).astype(np.int64)
    assert [module._round_half_away(x) for x in halves] == expected.tolist()


def test_grids_differing_only_in_points_share_one_compiled_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A grid author trying other points reuses the cached kernel (same module file and object);
    each grid's own values reach it as arguments, and both score as the reference does."""
    example = ROOT / "grids" / "exemple-metropole.yaml"
    monkeypatch.chdir(example.parent)
    text = example.read_text(encoding="utf-8")
    before = parse_grid(text, str(example))
    after = parse_grid(
        text.replace("points: 17", "points: 30", 1)
        .replace("max: 120", "max: 12", 1)
        .replace("points: 40", "points: 45", 1),
        str(example),
    )
    a, b = compile_grid(before, tmp_path), compile_grid(after, tmp_path)
    assert a.path == b.path and a.module is b.module and a.source == b.source
    assert list(a.points) != list(b.points)
    batch = generate_applications(400, seed=11, date_calcul=TODAY, catalogue=before.catalogue)
    totals = []
    for grid, compiled in ((before, a), (after, b)):
        scores = compiled.score(batch, TODAY, breakdown=True)
        ref = evaluate(grid, batch, TODAY)
        assert np.array_equal(scores.total, ref.total)
        assert np.array_equal(scores.breakdown, ref.breakdown)
        assert np.array_equal(scores.flags, ref.flags)
        totals.append(scores.total)
    assert not np.array_equal(*totals)  # the edit changed scores, not the kernel

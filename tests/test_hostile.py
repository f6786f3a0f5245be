"""A corpus of hostile grids (issue 19's "Why"), each a copy of the example grid with one change,
run through the command line in a subprocess bounded by ``resource`` limits (30 s of CPU, 2 GiB of
address space): each gets a located error with its code and exit 1, or, for the large valid grids,
exit 0 and scores equal to the reference engine's; never exit 3 (internal error), never a crash."""

from __future__ import annotations

import csv
import datetime
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cotation.api import load_grid, score
from cotation.data.batch import read_applications, write_applications
from cotation.data.generate import generate_applications

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "grids" / "exemple-metropole.yaml"
CPU_S, MEMORY = 30, 2 * 1024**3
DAY = datetime.date(2026, 1, 1)


def bounded() -> None:  # in the child, before exec
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_S, CPU_S))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def run(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COTATION_CACHE_DIR": str(cwd / "cache")}
    return subprocess.run(
        [sys.executable, "-m", "cotation", *map(str, argv)],
        cwd=cwd,
        env=env,
        preexec_fn=bounded,
        capture_output=True,
        text=True,
        timeout=2 * CPU_S,
        check=False,
    )


def with_criterion(when: str) -> str:
    """The example grid with one more criterion whose condition is ``when``."""
    text = EXAMPLE.read_text(encoding="utf-8")
    extra = f"criteria:\n  - id: hostile\n    label: Hostile\n    when: '{when}'\n    points: 1\n"
    return text.replace("criteria:\n", extra, 1)


def with_include(path: str) -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    return text.replace(
        "include: [publics-prioritaires.yaml]", f"include: [publics-prioritaires.yaml, '{path}']"
    )


def with_top(extra: str) -> str:
    return EXAMPLE.read_text(encoding="utf-8") + extra


def with_criteria(n: int) -> str:
    many = "".join(
        f"  - {{id: gen_{i}, label: Critère {i}, when: 'nb_enfants >= {i % 7} and dalo', points: {i % 5}}}\n"
        for i in range(n)
    )
    return EXAMPLE.read_text(encoding="utf-8").replace("criteria:\n", "criteria:\n" + many, 1)


# name -> (the grid's text, extra arguments, the code of the error)
REFUSED: dict[str, tuple[Callable[[], str], tuple[str, ...], str]] = {
    "200 nested parentheses": (lambda: with_criterion("(" * 200 + "dalo" + ")" * 200), (), "E212"),
    "100 000 not": (lambda: with_criterion("not " * 100_000 + "dalo"), (), "E210"),
    "a sum of 5 000 terms": (lambda: with_criterion("+".join(["1"] * 5_000) + " > 3"), (), "E211"),
    "a sum of 100 000 terms": (
        lambda: with_criterion(" + ".join(["nb_enfants"] * 100_000) + " > 3"),
        (),
        "E210",
    ),
    "a chain of 10 000 comparisons": (lambda: with_criterion("<".join(["1"] * 10_000)), (), "E211"),
    "100 000 unary minus": (lambda: with_criterion("-" * 100_000 + "nb_enfants > 1"), (), "E210"),
    "a 10 MB expression": (lambda: with_criterion("nb_enfants > 1" + " + 1" * 2_500_000), (), "E106"),
    "YAML nested 5 000 deep": (lambda: with_top("x: " + "[" * 5_000 + "]" * 5_000 + "\n"), (), "E107"),
    "YAML nested 2 000 deep in blocks": (
        lambda: with_top("x:\n" + "".join(" " * i + "- \n" for i in range(1, 2_000))),
        (),
        "E107",
    ),
    "include /dev/zero": (lambda: with_include("/dev/zero"), (), "E108"),
    "include /dev/zero, /dev allowed": (lambda: with_include("/dev/zero"), ("--include-dir", "/dev"), "E109"),
    "include ../../../../etc/passwd": (
        lambda: with_include("../../../../../../../../etc/passwd"),
        (),
        "E108",
    ),
    "include /etc/passwd, /etc allowed": (
        lambda: with_include("/etc/passwd"),
        ("--include-dir", "/etc"),
        "E109",
    ),
    "an integer beyond 64 bits": (lambda: with_criterion("nb_enfants > " + "1" + "0" * 40), (), "E213"),
    "a 1 MB string literal": (
        lambda: with_criterion('situation_logement == "' + "x" * 1_000_000 + '"'),
        (),
        "E210",
    ),
    "a latin-1 grid": (lambda: with_top("# Hébergé\n"), (), "E104"),
    "3 000 criteria": (lambda: with_criteria(3_000), (), "E340"),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the grids folder, three levels below the root (so that ../.. stays inside /)."""
    out = tmp_path_factory.mktemp("hostile") / "a" / "b" / "c"
    shutil.copytree(ROOT / "grids", out)
    batch = generate_applications(200, seed=19, date_calcul=DAY, catalogue=load_grid(EXAMPLE).catalogue)
    write_applications(batch, out / "demandes.csv")
    write_applications(generate_applications(200, seed=20, date_calcul=DAY), out / "simples.csv")
    return out


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_hostile_grid_gets_its_located_error_within_bounds(name: str, folder: Path) -> None:
    build, extra, code = REFUSED[name]
    path = folder / f"hostile-{abs(hash(name))}.yaml"
    text = build()
    path.write_bytes(text.encode("latin-1", "replace") if "latin-1" in name else text.encode("utf-8"))
    done = run("check", path, *extra, cwd=folder)
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    first = done.stderr.splitlines()[0]
    assert f"error[{code}]" in first and first.startswith(f"{path}:"), first[:500]
    assert len(done.stderr) < 5_000  # quotes are capped
    assert "root:" not in done.stderr and "Traceback" not in done.stderr


def reference_totals(grid_path: Path, data: Path) -> dict[str, int]:
    grid = load_grid(grid_path)
    batch = read_applications(data, grid.catalogue, date_calcul=DAY)
    scores = score(grid, batch, DAY, engine="reference")
    return dict(zip(scores.ids.tolist(), scores.total.tolist(), strict=True))


def totals_of(path: Path) -> dict[str, int]:
    with path.open(encoding="utf-8") as handle:
        return {row["numero_unique"]: int(row["total"]) for row in csv.DictReader(handle)}


def small(when: str) -> str:
    """A grid of one criterion (the compiled engine compiles it in a few seconds)."""
    return f"id: petite\ntitle: Petite\ncriteria:\n  - {{id: c, label: C, when: '{when}', points: 3}}\n"


# name -> (the grid's text, the engine, the applications)
LARGE_VALID: dict[str, tuple[Callable[[], str], str, str]] = {
    "a sum and a chain at the depth limit": (
        lambda: small(
            " + ".join(["nb_enfants"] * 99) + " > 3 and " + " <= ".join(["0"] + ["nb_enfants"] * 50)
        ),
        "compiled",
        "simples.csv",
    ),
    "1 000 criteria": (lambda: with_criteria(1_000), "reference", "demandes.csv"),
}


@pytest.mark.parametrize("name", list(LARGE_VALID))
def test_a_large_valid_grid_scores_as_the_reference_within_bounds(name: str, folder: Path) -> None:
    build, engine, data = LARGE_VALID[name]
    path = folder / f"large-{abs(hash(name))}.yaml"
    path.write_text(build(), encoding="utf-8")
    out = folder / f"scores-{abs(hash(name))}.csv"
    done = run("score", path, data, "--date", DAY.isoformat(), "--engine", engine, "-o", out, cwd=folder)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    totals = totals_of(out)
    assert totals == reference_totals(path, folder / data) and max(totals.values()) > 0

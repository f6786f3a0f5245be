"""The public API is explicit: __all__ lists exactly what cotation exports."""

from __future__ import annotations

import subprocess
import sys

import cotation


def test_all_names_exist() -> None:
    for name in cotation.__all__:
        assert hasattr(cotation, name), name


def test_all_is_sorted_and_unique() -> None:
    assert list(cotation.__all__) == sorted(set(cotation.__all__))


def test_public_names_are_exactly_all() -> None:
    public = {n for n in dir(cotation) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(cotation, n)).__name__ == "module"}
    assert public - modules == set(cotation.__all__) - {"__version__"}


def test_names_are_those_of_their_modules() -> None:
    """``import cotation`` is lazy (PEP 562): each name is its module's object, imported on first use."""
    from cotation import api
    from cotation.data import batch as data
    from cotation.match import pool as ranking

    assert cotation.score is api.score and cotation.Batch is data.Batch and cotation.Pool is ranking.Pool
    try:
        cotation.nothing_here  # noqa: B018
    except AttributeError as exc:
        assert "no attribute 'nothing_here'" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_import_is_cheap() -> None:
    """``import cotation`` imports none of the heavy dependencies (a warm start pays only for what
    it uses); ``from cotation import score`` brings what scoring needs, still without numba."""
    code = (
        "import sys, cotation; heavy = ('numba', 'numpy', 'pyarrow', 'pydantic', 'yaml'); "
        "first = sorted(m for m in heavy if m in sys.modules); "
        "from cotation import score; print(first, 'numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] False"


def test_flag_labels_join_each_rows_raised_flags() -> None:
    import datetime

    import numpy as np

    day = datetime.date(2026, 1, 1)
    from pathlib import Path

    grid = cotation.load_grid(Path(__file__).resolve().parent.parent / "grids" / "exemple-metropole.yaml")
    scores = cotation.score(grid, cotation.generate_applications(3000, seed=5, date_calcul=day), day)
    expected = [";".join(f for f, on in zip(scores.flag_ids, row, strict=True) if on) for row in scores.flags]
    assert scores.flag_labels().tolist() == expected
    assert any(";" in label for label in expected)  # several flags on one row are covered
    assert scores.flag_labels()[np.zeros(0, dtype=int)].shape == (0,)

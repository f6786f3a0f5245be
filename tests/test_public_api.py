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
    public = {n for n in vars(cotation) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(cotation, n)).__name__ == "module"}
    assert public - modules == set(cotation.__all__) - {"__version__"}


def test_import_does_not_import_numba() -> None:
    code = "import sys, cotation; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


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

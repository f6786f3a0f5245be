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

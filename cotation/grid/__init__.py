"""Stage 1 (grid): the grid, from YAML text to the checked, typed IR (``ir.Grid``).

Nothing here imports NumPy or Numba (``tests/test_architecture.py``)."""

"""Stage 1: the grid, from YAML text to the checked, typed IR (``ir.Grid``). Nothing here imports NumPy."""

"""Stage 1 (grid): The grid, from YAML text to the checked, typed IR (``ir.Grid``). Nothing here imports NumPy."""

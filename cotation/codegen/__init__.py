"""Stage 3: the IR written as Python source for Numba (scoring and pair kernels), and building it."""

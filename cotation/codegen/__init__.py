"""Stage 3 (codegen): The IR written as Python source for Numba (scoring and pair kernels), and building it."""

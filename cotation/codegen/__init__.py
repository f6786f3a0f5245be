"""Stage 3 (codegen): the IR as Python source for Numba (scoring and pair kernels), and its build."""

"""numba kernels: module-level @njit functions taking arrays and scalars only (no mfrec imports).

Each kernel has a slow NumPy / plain-Python twin used by the tests (see the kernel's docstring).
"""

"""numba kernels: module-level @njit functions taking arrays and scalars only (no mfrec imports).

Each kernel has a slow NumPy / plain-Python twin, kept with the tests (tests/reference_*.py),
not in the runtime package.
"""

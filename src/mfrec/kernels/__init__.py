"""numba kernels: module-level @njit functions taking arrays and scalars only (no mfrec imports).

Each kernel has a slow NumPy / plain-Python twin, kept with the tests (tests/reference_*.py),
not in the runtime package.
"""
from __future__ import annotations

from typing import Iterator


def compiled_kernels() -> Iterator[tuple]:
    """Yield ("module.name", dispatcher) for every numba dispatcher of mfrec.kernels' modules (imports them).

    For the checks on the kernels' compile options and signatures (tests, mfrec.warmup's tests).
    """
    import importlib
    import pkgutil

    from numba.core.registry import CPUDispatcher

    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name, obj in vars(module).items():
            if isinstance(obj, CPUDispatcher):
                yield f"{info.name}.{name}", obj

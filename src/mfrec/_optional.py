"""Optional dependencies: import them by name, or fail with the extra that installs them.

The core of mfrec needs only NumPy, SciPy, numba and pandas. The rest comes with extras
(``pyproject.toml``): ``cli`` (typer, rich), ``report`` (matplotlib), ``serve`` (FastAPI,
uvicorn), ``distributed`` (dask, pyarrow).
"""
from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtraError


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module``, or raise MissingExtraError: "<feature> needs <package>: pip install 'mfrec[<extra>]'"."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing_extra(exc, extra, feature) from exc


def missing_extra(exc: ImportError, extra: str, feature: str) -> MissingExtraError:
    """Return the error for a failed import of an optional dependency (``raise missing_extra(...) from exc``)."""
    package = (exc.name or "a dependency").split(".")[0]
    return MissingExtraError(f"{feature} needs {package}, which is not installed; install it with: "
                             f"pip install 'mfrec[{extra}]'")

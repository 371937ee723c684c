"""The dtypes of a CSR matrix at a kernel boundary, in one place.

Int64 row pointers, int32 column indices, float32 values, each C-contiguous. Every caller of a kernel that reads a CSR
matrix converts with these helpers (never an ad-hoc ``astype``), so each kernel is compiled for
one signature and never sees a wrapped index. Plain NumPy (no numba); no copy when an array
already has the right dtype and layout.
"""
from __future__ import annotations

import numpy as np

INDPTR_DTYPE = np.int64
INDICES_DTYPE = np.int32
DATA_DTYPE = np.float32
_INDEX_MAX = np.iinfo(INDICES_DTYPE).max


def csr_structure(indptr, indices) -> tuple:
    """Convert a CSR structure to (indptr int64, indices int32), C-contiguous.

    Parameters
    ----------
    indptr, indices : array_like
        The row pointers and column indices.

    Returns
    -------
    tuple of ndarray
        (indptr, indices), copies only where the dtype or layout differs.

    Raises
    ------
    ValueError
        When a column index does not fit in int32 (it would wrap silently otherwise).
    """
    indices = np.asarray(indices)
    if indices.dtype != INDICES_DTYPE and indices.size and int(indices.max()) > _INDEX_MAX:
        raise ValueError(f"column index {int(indices.max())} does not fit the kernels' int32 indices")
    return (np.ascontiguousarray(indptr, dtype=INDPTR_DTYPE),
            np.ascontiguousarray(indices, dtype=INDICES_DTYPE))


def kernel_csr(matrix) -> tuple:
    """Return (indptr int64, indices int32, data float32) of a scipy CSR matrix, C-contiguous."""
    indptr, indices = csr_structure(matrix.indptr, matrix.indices)
    return indptr, indices, np.ascontiguousarray(matrix.data, dtype=DATA_DTYPE)

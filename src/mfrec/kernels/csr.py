"""The types of the arrays at a kernel boundary, in one place.

Int64 row pointers, int32 column indices, float32 values, each C-contiguous and read-only. Every caller of a
kernel that reads a CSR matrix converts with these helpers (never an ad-hoc ``astype``), so each
kernel is compiled for one signature and never sees a wrapped index. Read-only too, because numba
types a read-only array apart from a writable one and would compile a kernel once for each (the
model's read-only factor views beside a fresh copy: seconds of first use); :func:`read_only` does
the same for the other inputs a kernel only reads. Plain NumPy (no numba); no copy when an array
already has the right dtype and layout.
"""
from __future__ import annotations

import numpy as np

INDPTR_DTYPE = np.int64
INDICES_DTYPE = np.int32
DATA_DTYPE = np.float32
_INDEX_MAX = np.iinfo(INDICES_DTYPE).max


def read_only(array, dtype=None) -> np.ndarray:
    """Return ``array`` as a C-contiguous, read-only ndarray (of ``dtype`` if given).

    Parameters
    ----------
    array : array_like
        An input the kernel only reads.
    dtype : numpy dtype, optional
        The dtype the kernel takes.

    Returns
    -------
    ndarray
        A read-only view, of a copy only where the dtype or layout differs; the caller's array
        keeps its own flags.
    """
    view = np.ascontiguousarray(array, dtype=dtype).view()
    view.flags.writeable = False
    return view


def csr_structure(indptr, indices) -> tuple:
    """Convert a CSR structure to (indptr int64, indices int32), C-contiguous.

    Parameters
    ----------
    indptr, indices : array_like
        The row pointers and column indices.

    Returns
    -------
    tuple of ndarray
        (indptr, indices), read-only, copies only where the dtype or layout differs.

    Raises
    ------
    ValueError
        When a column index does not fit in int32 (it would wrap silently otherwise).
    """
    indices = np.asarray(indices)
    if indices.dtype != INDICES_DTYPE and indices.size and int(indices.max()) > _INDEX_MAX:
        raise ValueError(f"column index {int(indices.max())} does not fit the kernels' int32 indices")
    return read_only(indptr, INDPTR_DTYPE), read_only(indices, INDICES_DTYPE)


def kernel_csr(matrix) -> tuple:
    """Return (indptr int64, indices int32, data float32) of a scipy CSR matrix, C-contiguous and read-only."""
    indptr, indices = csr_structure(matrix.indptr, matrix.indices)
    return indptr, indices, read_only(matrix.data, DATA_DTYPE)

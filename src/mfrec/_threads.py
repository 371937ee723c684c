"""Thread control for numba kernels."""
from __future__ import annotations

import contextlib

import numba


@contextlib.contextmanager
def numba_threads(n_threads: int):
    """Run numba parallel regions with ``n_threads`` threads (0 = all cores) inside the block."""
    previous = numba.get_num_threads()
    wanted = numba.config.NUMBA_NUM_THREADS if n_threads == 0 else min(n_threads, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(max(1, wanted))
    try:
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(previous)

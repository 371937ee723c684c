"""Thread control for numba kernels."""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import numba
from threadpoolctl import threadpool_limits


def max_threads() -> int:
    """Return the most threads numba's parallel regions can use (``NUMBA_NUM_THREADS``, all cores by default)."""
    return int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]  # set at import by numba


@contextlib.contextmanager
def numba_threads(n_threads: int) -> Iterator[int]:
    """Run numba parallel regions with ``n_threads`` threads (0 = all cores) inside the block; yield that number."""
    previous = numba.get_num_threads()
    wanted = max_threads() if n_threads == 0 else min(n_threads, max_threads())
    numba.set_num_threads(max(1, wanted))
    try:
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(previous)


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run BLAS single-threaded in the block (threadpoolctl), for kernels that call BLAS from their own threads.

    An OpenBLAS with its own thread pool keeps its workers spinning for about 0.1 s after each
    call; a numba kernel run in that window shares the cores with them (measured: the ranking
    metrics kernel ran 2x slower after each batch's matrix product). The limit is process-wide
    and OpenBLAS raises a thread count again only when asked from the main thread (a limit set
    in another thread would stay for the whole process), so the limit is set only in the main
    thread; elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # numba's np.dot calls SciPy's BLAS, which loads with scipy.linalg: load it now, or the limit
    # (which applies to the libraries loaded when it is set) would miss it on the first call
    import scipy.linalg.cython_blas  # noqa: F401
    with threadpool_limits(limits=1, user_api="blas"):
        yield

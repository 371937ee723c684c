"""Thread control for the kernels: how many threads, and the loop that runs a kernel's tasks on them.

The kernels are compiled without numba's ``parallel=True``: a kernel that works on independent
tasks (blocks of users, Hogwild blocks of SGD steps) takes a task range ``(first, stop, ...)`` and
:func:`parallel_for` runs pieces of that range on Python threads, side by side, since every kernel
releases the GIL (``nogil=True``). That costs the same at run time as a ``prange`` loop (the
work of a piece is milliseconds, the hand-off microseconds) but much less to compile: numba's
parallel lowering added 1-2 s of first use per kernel (benchmarks/results/first_use.md), and two
threads of one process may run kernels at once (numba's default workqueue threading layer
refuses concurrent parallel regions).
"""
from __future__ import annotations

import contextlib
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, Optional

import numba
from threadpoolctl import threadpool_limits

#: pieces of a task range per thread: enough for a thread slowed down by another process to take
#: fewer pieces (the pieces are handed out in order, as threads become free) ...
PIECES_PER_THREAD = 4

_local = threading.local()   # this thread's kernel_threads setting
_pool: Optional[ThreadPoolExecutor] = None
_pool_lock = threading.Lock()


def _forget_pool_in_child() -> None:
    """In a forked child the pool's threads do not exist: start a new pool on the next loop."""
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_in_child)


def max_threads() -> int:
    """Return the most threads a kernel can use: ``NUMBA_NUM_THREADS``, all cores by default."""
    return int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]  # set at import by numba


def current_threads() -> int:
    """Return the threads :func:`parallel_for` uses in this thread now (set by :func:`kernel_threads`)."""
    return getattr(_local, "n_threads", max_threads())


@contextlib.contextmanager
def kernel_threads(n_threads: int) -> Iterator[int]:
    """Run the kernels' parallel loops with ``n_threads`` threads (0 = all cores) inside the block; yield that number.

    The setting belongs to the calling thread (two threads may use different ones at once).
    """
    previous = current_threads()
    _local.n_threads = max(1, max_threads() if n_threads == 0 else min(n_threads, max_threads()))
    try:
        yield _local.n_threads
    finally:
        _local.n_threads = previous


def _executor() -> ThreadPoolExecutor:
    """Return the process's kernel thread pool (created on first use; the calling thread is one more)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, max_threads() - 1), thread_name_prefix="mfrec-kernel")
        return _pool


def parallel_for(task_kernel: Callable, n_tasks: int, *args, piece: Optional[int] = None) -> None:
    """Run ``task_kernel(first, stop, *args)`` over tasks 0..n_tasks-1, in pieces on :func:`current_threads` threads.

    The pieces are contiguous task ranges handed out in order to whichever thread is free, the
    calling thread included, so the work is balanced dynamically. The tasks must be independent
    (or, as Hogwild's blocks, tolerate running side by side). With one thread, one task, or
    when called from inside a piece, the kernel runs once over the whole range in the calling
    thread. An exception in a piece is
    raised here once every thread has stopped.

    Parameters
    ----------
    task_kernel : callable
        A kernel taking the task range first..stop-1 then ``args``.
    n_tasks : int
        The number of tasks.
    *args
        Passed on to every call.
    piece : int, optional
        Tasks per piece; by default the range is cut into PIECES_PER_THREAD pieces per thread.
    """
    # a loop started from inside a piece runs in that thread: its helpers could wait forever in
    # the queue behind the pool threads that wait for them
    n_threads = 1 if getattr(_local, "in_piece", False) else min(current_threads(), n_tasks)
    if n_threads <= 1:
        if n_tasks > 0:
            task_kernel(0, n_tasks, *args)
        return
    if piece is None:
        piece = -(-n_tasks // (n_threads * PIECES_PER_THREAD))
    n_pieces = -(-n_tasks // piece)
    counter = itertools.count()   # next() is atomic under the GIL: each piece is taken once
    failed = threading.Event()    # set by the first failing piece: the others take no new piece

    def work() -> None:
        _local.in_piece = True
        try:
            while True:
                p = next(counter)
                if p >= n_pieces or failed.is_set():
                    return
                try:
                    task_kernel(p * piece, min(n_tasks, (p + 1) * piece), *args)
                except BaseException:
                    failed.set()
                    raise
        finally:
            _local.in_piece = False

    helpers: list = []
    error: Optional[BaseException] = None
    try:
        for _ in range(min(n_threads, n_pieces) - 1):
            try:
                helpers.append(_executor().submit(work))
            except RuntimeError:  # the pool is shut down (interpreter exit): this thread does the rest
                break
        work()
    except BaseException as exc:  # Ctrl-C included: no new piece is taken; re-raised below
        failed.set()
        error = exc
    for helper in helpers:
        if helper.cancel():       # still queued (behind another caller's loop): nothing left for it
            continue
        try:
            helper.result()
        except BaseException as exc:
            failed.set()
            error = error or exc
    if error is not None:
        raise error


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

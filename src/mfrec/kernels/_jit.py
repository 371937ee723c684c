"""The one ``@njit`` option set of every mfrec kernel.

Decorate with ``@kernel``, or ``@kernel(exact=True)`` for the kernels that rank and compare scores
(tests/test_faults.py checks).

No kernel is compiled with numba's ``parallel=True``: the parallel loops are Python threads
running a kernel over pieces of a task range (``mfrec._threads.parallel_for``), which is as fast
and much cheaper to compile.

First use is numba compiling every kernel a job calls (benchmarks/bench_first_use.py lists each
one's cost), so the kernels keep to a few patterns that numba compiles once instead of again:

- Counters passed to another kernel start as ``np.int64(0)``, never ``0``: numba types a literal
  0 as ``Literal[int](0)`` on its first pass and compiles the callee for that type too.
- Arguments have one type per call site: indices cast to int64 where int32 and int64 meet, and
  read-only inputs passed read-only (``kernels.csr.read_only``: numba types a read-only array
  apart from a writable one).
- No assignment of an array to an array slice (``a[i] = b[j]`` with rows): numba compiles the
  formatting of its shape-mismatch message, about 2 s; copy element by element.
- No ``ndarray.sort``: its quicksort is four functions to compile; ``_heap_sort`` in
  ranking_metrics.py is one.

- ``cache=True``: compiled code is kept on disk, so a fresh process does not recompile.
- ``nogil=True``: the GIL is released, so Python threads may run kernels side by side (SVD's
  Hogwild threads, the server).
- ``error_model="numpy"``: division by zero gives inf/NaN as in NumPy instead of raising, so no
  Python-exception check blocks vectorization of the inner loops.
- ``fastmath=FASTMATH``, LLVM's fast-math flags as numba passes them: "reassoc" (re-associate
  sums, so dot-product reductions vectorize), "contract" (fused multiply-add), "arcp" (x / y as
  x * (1 / y)) and "nsz" (ignore the sign of zero). Deliberately absent: "nnan" and "ninf", which
  let the compiler assume that no value is NaN or inf and so delete the very checks (and the NaN
  propagation) that detect a diverging fit; and "afn" (approximate exp/log), so losses are
  computed with the real functions. ``fastmath=True`` would turn all of them on.
- ``exact=True`` (the ranking-metric and top-k kernels): no fast-math at all. Their input scores
  may hold inf and NaN by contract and their counts must equal the NumPy definitions exactly; even
  the flags above broke that (tests/test_fused_ranking.py, infinite scores: every reciprocal rank
  came out as ~0), and their loops compare rather than sum, so nothing is lost.
"""
from __future__ import annotations

from numba import njit

FASTMATH = {"reassoc", "contract", "arcp", "nsz"}  # a set: numba takes no frozenset

def kernel(fn=None, *, exact: bool = False):
    """Compile ``fn`` with numba.njit and the options above: ``@kernel`` or ``@kernel(exact=True)``.

    Parameters
    ----------
    fn : callable or None, default None
        The function (bare ``@kernel``), or None when called with options.
    exact : bool, default False
        No fast-math at all (the ranking and top-k kernels).

    Returns
    -------
    callable
        The compiled kernel, or the decorator when ``fn`` is None.
    """
    decorate = njit(cache=True, nogil=True, error_model="numpy", fastmath=False if exact else FASTMATH)
    return decorate if fn is None else decorate(fn)

"""The one ``@njit`` option set of every mfrec kernel.

Decorate with ``@kernel``, or ``@kernel(parallel=True)`` for a kernel with a ``prange`` loop (and
only those), or ``exact=True`` for the kernels that rank and compare scores (tests/test_faults.py
checks).

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

def kernel(fn=None, *, parallel: bool = False, exact: bool = False):
    """Compile ``fn`` with numba.njit and the options above: ``@kernel`` or ``@kernel(parallel=True, exact=False)``.

    Parameters
    ----------
    fn : callable or None, default None
        The function (bare ``@kernel``), or None when called with options.
    parallel : bool, default False
        For kernels with a ``prange`` loop.
    exact : bool, default False
        No fast-math at all (the ranking and top-k kernels).

    Returns
    -------
    callable
        The compiled kernel, or the decorator when ``fn`` is None.
    """
    decorate = njit(cache=True, nogil=True, error_model="numpy", fastmath=False if exact else FASTMATH,
                    parallel=parallel)
    return decorate if fn is None else decorate(fn)

"""The one ``@njit`` option set of every mfrec kernel.

Decorate with ``@kernel``, or ``@kernel(exact=True)`` for the kernels that rank and compare scores
(tests/test_faults.py checks); add ``inner=True`` for a kernel that only other kernels call.

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
- No ``np.zeros``: ``np.empty`` then ``a[:] = 0``. numba compiles np.zeros as three functions
  (np.zeros, an np.empty for a dtype object, a fill), once per signature and per caller's flag
  set (numba keys its library functions' cache on the calling kernel's flags). Without it the
  first-use job compiles 27 of numba's library functions instead of 42 (1.1 s instead of 1.8 s
  of their own compile time, on a 2-core AMD EPYC).

- No wrappers nobody calls. numba compiles two wrappers with every function by default, a CPython
  one (unboxing each argument from a Python object) and a C one (for use as a C function pointer).
  mfrec never takes a kernel's C address, so no kernel has the C wrapper; and an ``inner`` kernel
  (one that only other kernels call, like a ranking row or an SGD step) has no CPython wrapper
  either. Together about a fifth of first use (the first-use job on a 2-core AMD EPYC: 11.7-12.8 s
  of numba compile events with both wrappers everywhere, 9.3-9.5 s without). A Python call to an inner kernel
  (tests, a REPL) still works: :class:`InnerKernel` compiles a separate, uncached twin with the
  wrapper on first such call (tests/test_threads.py checks that no model's job makes one, and
  tests/test_jit.py that a kernel is inner exactly when only kernels call it).

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

import threading

from numba import config, njit
from numba.core.registry import CPUDispatcher

FASTMATH = {"reassoc", "contract", "arcp", "nsz"}  # a set: numba takes no frozenset

#: "module.name" of each inner kernel that a Python caller made compile its twin, in order
PYTHON_TWINS: list = []
_twin_lock = threading.Lock()


class InnerKernel(CPUDispatcher):
    """A kernel compiled without its CPython wrapper, for other kernels to call.

    numba would jump to the missing wrapper if Python called the compiled code, so a call from
    Python goes instead to a twin: the same function compiled with the wrapper, not cached (the
    cache index would not tell the two apart), made on the first such call and recorded in
    PYTHON_TWINS.
    """

    def __call__(self, *args, **kwargs):
        twin = self.__dict__.get("_twin")
        if twin is None:
            with _twin_lock:
                twin = self.__dict__.get("_twin")
                if twin is None:
                    options = {k: v for k, v in self.targetoptions.items()
                               if k not in ("no_cpython_wrapper", "nopython")}  # njit sets nopython
                    twin = self.__dict__["_twin"] = njit(**options)(self.py_func)
                    PYTHON_TWINS.append(f"{self.py_func.__module__}.{self.py_func.__qualname__}")
        return twin(*args, **kwargs)


def kernel(fn=None, *, exact: bool = False, inner: bool = False):
    """Compile ``fn`` with numba.njit and the options above: ``@kernel``, ``@kernel(exact=True, inner=True)``.

    Parameters
    ----------
    fn : callable or None, default None
        The function (bare ``@kernel``), or None when called with options.
    exact : bool, default False
        No fast-math at all (the ranking and top-k kernels).
    inner : bool, default False
        Only other kernels call it: compiled without the CPython wrapper (an :class:`InnerKernel`).

    Returns
    -------
    callable
        The compiled kernel, or the decorator when ``fn`` is None.
    """
    options = dict(nogil=True, error_model="numpy", fastmath=False if exact else FASTMATH, no_cfunc_wrapper=True)

    def decorate(func):
        if not inner or config.DISABLE_JIT:
            return njit(cache=True, **options)(func)
        dispatcher = InnerKernel(py_func=func, locals={},
                                 targetoptions={"nopython": True, "boundscheck": None, "no_cpython_wrapper": True,
                                                **options})
        dispatcher.enable_caching()
        return dispatcher

    return decorate if fn is None else decorate(fn)

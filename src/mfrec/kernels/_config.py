"""The one fast-math policy of every mfrec kernel.

LLVM's fast-math flags, as numba passes them: "reassoc" (re-associate sums, so dot-product
reductions vectorize), "contract" (fused multiply-add), "arcp" (x / y as x * (1 / y)) and "nsz"
(ignore the sign of zero). Deliberately absent: "nnan" and "ninf", which let the compiler assume
that no value is NaN or inf and so delete the very checks (and the NaN propagation) that detect a
diverging fit; and "afn" (approximate exp/log), so losses are computed with the real functions.
``fastmath=True`` would turn all of them on: no kernel uses it (tests/test_faults.py checks).
"""

FASTMATH = {"reassoc", "contract", "arcp", "nsz"}  # a set: numba takes no frozenset

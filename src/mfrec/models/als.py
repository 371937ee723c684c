"""Alternating least squares for implicit feedback (iALS).

Hu, Koren & Volinsky 2008, with the conjugate-gradient solver of Takacs, Pilaszy & Tikk 2011 and
the unobserved weight and frequency-scaled regularization of Rendle, Krichene, Zhang & Koren 2021.
The maths is stated in :mod:`mfrec.kernels.als`.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._threads import max_threads, kernel_threads
from ..errors import DataError, InvalidParameterError, TrainingDivergedError
from ..kernels import als as kernels
from ..kernels.csr import csr_structure
from ..params import Boolean, Integer, Options, Real, ScoreSafeStd
from .base import FLOAT32_MAX, Recommender
from .training import initial_factors

CONFIDENCE_SCALINGS = ("linear", "log")
REGULARIZATION_SCALINGS = ("none", "frequency")
SOLVERS = ("cg", "cholesky")

#: Tuned hyperparameter sets, usable as ``ALS.preset(name, **overrides)``. Chosen on MovieLens-1M
#: (ratings >= 4) by validation NDCG@10 on a per-user 20% split carved from the benchmark's
#: training set (never its test set); grid and numbers in benchmarks/results/als.md.
#: "ml-1m" = the defaults with 128 factors (192 or 256 factors gave no further gain).
PRESETS: dict = {
    "ml-1m": dict(factors=128, iterations=15, regularization=0.015, alpha=1.5, unobserved_weight=0.4,
                  regularization_scaling="frequency", regularization_exponent=1.0, solver="cg", cg_steps=3),
    # NCF's ML-1M protocol (every rating a positive, 99 sampled negatives; mfrec.ncf): chosen by
    # validation HR@10 / NDCG@10 on a leave-latest-out protocol carved from NCF's training file
    # (test files never read): 0.7510 / 0.4694 with nu = 0.75, lambda 0.07 and 30 iterations,
    # against 0.7485 / 0.4671 for nu = 1, lambda 0.012, 20 iterations; 50 iterations, lambda
    # 0.055 / 0.085, alpha 0.5 / 1.0, alpha0 0.15 / 0.35 and Rendle et al.'s ML-1M setting (192 f)
    # gave no more. Grid and test figures: benchmarks/results/ncf.md. Every parameter set, so
    # default changes do not move it.
    "ncf": dict(factors=256, iterations=30, regularization=0.07, alpha=0.75, confidence="linear", epsilon=1.0,
                unobserved_weight=0.25, regularization_scaling="frequency", regularization_exponent=0.75,
                solver="cg", cg_steps=3, init_std=0.01),
}


class ALS(Recommender):
    r"""Matrix factorization for implicit feedback by alternating least squares (iALS).

    Hu, Koren & Volinsky (2008, ICDM) with the CG solver of Takacs, Pilaszy & Tikk (2011) and the
    unobserved weight and frequency-scaled regularization of Rendle et al. (2021); score ``x_u . y_i``.

    Parameters
    ----------
    factors : int, default 64
    iterations : int, default 15
        ALS iterations, each one user and one item half step.
    regularization : float > 0, default 0.015
        lambda, the L2 weight (scaled per row with regularization_scaling="frequency").
    alpha : float >= 0, default 1.5
        Confidence slope: c = 1 + alpha * r, or 1 + alpha * log(1 + r / epsilon).
    confidence : {"linear", "log"}, default "linear"
    epsilon : float > 0, default 1.0
    unobserved_weight : float >= 0, default 0.4
        alpha0, the weight of unobserved cells (1: the original HKV model).
    regularization_scaling : {"none", "frequency"}, default "frequency"
        Constant lambda, or lambda * (n_u + alpha0 * n_items)^nu per row (Rendle et al.).
    regularization_exponent : float >= 0, default 1.0
        nu of the frequency scaling (ignored for "none").
    solver : {"cg", "cholesky"}, default "cg"
        Warm-started conjugate gradient (fast, approximate) or an exact Cholesky solve.
    cg_steps : int, default 3
        Conjugate-gradient steps per row and half step (solver="cg").
    init_std : float > 0, default 0.01
    seed : int or None, default None
    threads : int, default 0
        0 = all cores; the result does not depend on the thread count (reproducible with a seed).
    calculate_loss : bool, default False

    Attributes
    ----------
    user_factors_, item_factors_ : ndarray of float32, shapes (n_users, k) and (n_items, k)
        x_u and y_i; ``loss_history_`` holds each iteration's loss and validation figures.

    Notes
    -----
    Maths: :mod:`mfrec.kernels.als`. Presets (``PRESETS``), tuning, benchmark: benchmarks/results/als.md.
    """

    feedback = "implicit"
    name = "als"
    #: set by :func:`mfrec.distributed.fit` only: how the cluster job ran (blocks, workers, timings)
    distributed_info_: dict
    _bias_names = ()
    PRESETS = PRESETS

    def __init__(self, *, factors: int = 64, iterations: int = 15, regularization: float = 0.015,
                 alpha: float = 1.5, confidence: str = "linear", epsilon: float = 1.0,
                 unobserved_weight: float = 0.4, regularization_scaling: str = "frequency",
                 regularization_exponent: float = 1.0, solver: str = "cg", cg_steps: int = 3,
                 init_std: float = 0.01, seed=None, threads: int = 0, calculate_loss: bool = False):
        self.factors = factors
        self.iterations = iterations
        self.regularization = regularization
        self.alpha = alpha
        self.confidence = confidence
        self.epsilon = epsilon
        self.unobserved_weight = unobserved_weight
        self.regularization_scaling = regularization_scaling
        self.regularization_exponent = regularization_exponent
        self.solver = solver
        self.cg_steps = cg_steps
        self.init_std = init_std
        self.seed = seed
        self.threads = threads
        self.calculate_loss = calculate_loss

    # ------------------------------------------------------------------ parameters
    #: the valid values of each hyperparameter (mfrec.params): checked by fit, shown by `mfrec models`
    _parameter_constraints = {
        "factors": Integer(1),
        "iterations": Integer(1),
        "regularization": Real(0, None, closed="neither"),
        "alpha": Real(0, None, closed="left"),
        "confidence": Options(*CONFIDENCE_SCALINGS),
        "epsilon": Real(0, None, closed="neither"),
        "unobserved_weight": Real(0, None, closed="left"),
        "regularization_scaling": Options(*REGULARIZATION_SCALINGS),
        "regularization_exponent": Real(0, None, closed="left"),
        "solver": Options(*SOLVERS),
        "cg_steps": Integer(1),
        "init_std": ScoreSafeStd(),
        "seed": [None, Integer(0)],
        "threads": Integer(0),
        "calculate_loss": Boolean(),
    }

    def _memory_needed(self, interactions) -> int:
        """Estimate the bytes a fit allocates beyond the training data it is given (docs/memory.md).

        * factors X, Y (float32) and the copies made when the fit ends (ranking vectors):
          8 k (n_users + n_items);
        * the two orientations of :meth:`_prepare`: 12 nnz (CG: float32 confidences of the user
          side, int32 indices + float32 confidences of the transpose), 28 nnz with the exact
          solver or the loss (float64 confidences too);
        * per-row arrays (indptr int64, lambdas float64 + float32): 28 (n_users + n_items);
        * the k x k Gramian and its copies (24 k^2), one k x k float64 system per thread for
          Cholesky, float64 copies of the factors when the loss is computed.
        """
        k = int(self.factors)
        rows = interactions.n_users + interactions.n_items
        need64 = self.solver == "cholesky" or bool(self.calculate_loss)
        needed = 8 * k * rows + (28 if need64 else 12) * interactions.nnz + 28 * rows + 24 * k * k
        if self.solver == "cholesky":
            threads = int(self.threads) or max_threads()
            needed += 8 * k * k * min(threads, max_threads())
        if self.calculate_loss:
            needed += 8 * k * rows
        return needed

    # ------------------------------------------------------------------ maths helpers
    def _confidences(self, values: np.ndarray) -> np.ndarray:
        """Compute c = 1 + alpha * r (linear) or 1 + alpha * log(1 + r / epsilon) (log), float64."""
        values = np.asarray(values, dtype=np.float64)
        if self.confidence == "log":
            return 1.0 + self.alpha * np.log1p(values / self.epsilon)
        return 1.0 + self.alpha * values

    def _row_regularization(self, counts: np.ndarray, n_other: int) -> np.ndarray:
        """Compute lambda per row: constant, or lambda * (n_row + alpha0 * n_other)^nu (frequency)."""
        counts = np.asarray(counts, dtype=np.float64)
        if self.regularization_scaling == "frequency":
            return self.regularization * (counts + self.unobserved_weight * n_other) ** self.regularization_exponent
        return np.full(len(counts), float(self.regularization))

    def _gram(self, Y: np.ndarray) -> np.ndarray:
        """Compute alpha0 * Y^T Y in float64 (numba, one thread: no BLAS threads during training)."""
        return kernels.gram(Y, float(self.unobserved_weight))

    def _half_step(self, side: _Side, X: np.ndarray, Y: np.ndarray, exact: bool) -> None:
        """Recompute every row of X (in place) against the fixed Y (equations: :mod:`mfrec.kernels.als`)."""
        self._solve_rows(side, X, Y, self._gram(Y), exact)

    def _solve_rows(self, side: _Side, X: np.ndarray, Y: np.ndarray, gram: np.ndarray, exact: bool) -> None:
        """Solve the rows of a half step given ``gram`` = alpha0 Y^T Y of the *whole* other side.

        ``Y`` needs only the rows that ``side.indices`` point to (mfrec.distributed passes a block's
        gathered rows, renumbered), so the same kernels serve one machine and a cluster.
        """
        alpha0 = float(self.unobserved_weight)
        if exact:
            failed = kernels.als_half_step_cholesky(side.indptr, side.indices, side.conf, X, Y, gram, alpha0, side.reg)
            if failed:  # cannot happen with regularization > 0, but never hide it
                raise TrainingDivergedError(f"ALS: {failed} row systems were not positive definite "
                                            "(NaN/inf factors?); try stronger regularization")
        else:  # the CG kernel works in float32, as the factors
            kernels.als_half_step_cg(side.indptr, side.indices, side.conf32, X, Y, gram.astype(np.float32),
                                     np.float32(alpha0), side.reg32, int(self.cg_steps))

    def _objective(self, users: _Side, items: _Side, X: np.ndarray, Y: np.ndarray) -> float:
        """Compute L(X, Y) of :mod:`mfrec.kernels.als`, by the Gramian trick."""
        alpha0 = float(self.unobserved_weight)
        X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
        data = kernels.observed_loss_terms(users.indptr, users.indices, users.conf, X, Y, alpha0)
        data += alpha0 * float(np.sum(kernels.gram(X, 1.0) * kernels.gram(Y, 1.0)))
        penalty = users.reg @ np.einsum("ij,ij->i", X64, X64) + items.reg @ np.einsum("ij,ij->i", Y64, Y64)
        return float(data + penalty)

    def _prepare(self, interactions, float64=None) -> tuple:
        """(users, items): the CSR arrays of both orientations with confidences and lambdas.

        Memory (nnz stored entries): the user side reuses the training matrix's column indices
        and adds the float32 confidences (4 nnz bytes); the item side is the transpose, built
        once by scipy (int32 indices + float32 confidences, 8 nnz). Float64 confidences (12 nnz
        more over both sides) exist only for the exact solver or the loss, which use them
        (``float64=None``), or when ``float64=True`` is asked for.
        Nothing of size nnz is allocated in between (confidences are computed in chunks).
        """
        m = interactions.matrix
        values = m.data
        self._check_values(values)
        need64 = (self.solver == "cholesky" or bool(self.calculate_loss)) if float64 is None else bool(float64)
        n_users, n_items = m.shape
        conf = self._confidences_chunked(values, np.float64 if need64 else np.float32)
        users = _Side.from_arrays(m.indptr, m.indices, conf, self._row_regularization(np.diff(m.indptr), n_items),
                                  float64=need64)
        conf_t = sp.csr_matrix((conf, m.indices, m.indptr), shape=m.shape).T.tocsr()  # csr -> csc arrays
        del conf
        conf_t.sort_indices()  # already sorted by construction; checked without a copy
        items = _Side(conf_t, self._row_regularization(np.diff(conf_t.indptr), n_users), float64=need64)
        return users, items

    def _check_values(self, values: np.ndarray) -> None:
        """Check for positive finite values whose confidences fit float32.

        Only max and min are computed: no temporaries of the data's size unless something is wrong.
        """
        lo, hi = (values.min(), values.max()) if len(values) else (1.0, 1.0)
        if not (lo > 0 and np.isfinite(hi)):  # NaN makes min() NaN, which fails "> 0"
            bad = np.flatnonzero(~(values > 0) | ~np.isfinite(values))
            raise DataError(f"ALS needs positive finite interaction values (counts or confidences); "
                            f"found {values[bad[0]]!r} in {len(bad)} entries")
        top = float(self._confidences(np.array([hi]))[0])  # c(r) increases with r (alpha >= 0)
        if top > FLOAT32_MAX:
            raise DataError(f"ALS: the confidences 1 + alpha * value (alpha={self.alpha}) "
                            f"reach {top:.3g}, "
                            "beyond the float32 range; scale the interaction values down or lower alpha")

    def _confidences_chunked(self, values: np.ndarray, dtype) -> np.ndarray:
        """Compute :meth:`_confidences` of ``values`` stored as ``dtype``, a chunk at a time.

        Computed in float64 per chunk, so float32 results equal float64 ones rounded, without an
        nnz float64 array.
        """
        out = np.empty(len(values), dtype=dtype)
        for start in range(0, len(values), _CHUNK):
            out[start:start + _CHUNK] = self._confidences(values[start:start + _CHUNK])
        return out

    # ------------------------------------------------------------------ training
    def _fit(self, interactions, validation, monitor):
        users, items = self._prepare(interactions)
        n_users, n_items = interactions.shape
        X, Y = self._initial_factors(n_users, n_items, self.seed)
        self.user_factors_, self.item_factors_ = X, Y
        exact = self.solver == "cholesky"
        with kernel_threads(int(self.threads)):
            for epoch in range(1, int(self.iterations) + 1):
                self._half_step(users, X, Y, exact)
                metrics = {}
                if self.calculate_loss:
                    metrics["loss_after_users"] = self._objective(users, items, X, Y)
                self._half_step(items, Y, X, exact)
                if self.calculate_loss:
                    metrics["loss"] = self._objective(users, items, X, Y)
                if monitor.report(epoch, **metrics):
                    break

    def _initial_factors(self, n_users: int, n_items: int, seed) -> tuple:
        """Draw (X, Y): Normal(0, init_std^2) float32 draws, all user rows then all item rows.

        One generator seeded with ``seed`` (mfrec.distributed draws the same numbers).
        """
        k = int(self.factors)
        rng = np.random.default_rng(seed)
        X = initial_factors(rng, n_users, k, self.init_std)
        Y = initial_factors(rng, n_items, k, self.init_std)
        return X, Y

    # ------------------------------------------------------------------ fold-in
    def _fold_in(self, item_index, values):
        """Fold in a new user: one exact solve of the user equations against the fixed item factors."""
        item_index = np.asarray(item_index, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        if np.any(~(values > 0)):
            raise InvalidParameterError("recommend_new_user(): values must be positive (counts or confidences)")
        uniq, inverse = np.unique(item_index, return_inverse=True)
        summed = np.bincount(inverse, weights=values)  # repeated items add up their values
        Y = np.ascontiguousarray(self.item_factors_, dtype=np.float32)
        reg = self._row_regularization(np.array([len(uniq)]), Y.shape[0])[0]
        conf = self._confidences(summed)
        if not np.all(np.isfinite(conf)) or np.any(conf > FLOAT32_MAX):
            raise DataError(f"recommend_new_user(): the confidences 1 + alpha * value (alpha={self.alpha}) reach "
                            f"{conf.max():.3g}, beyond the float32 range; give smaller values")
        x = kernels.solve_one_row(uniq.astype(np.int32), conf, Y, self._gram(Y),
                                  float(self.unobserved_weight), float(reg))
        if not np.all(np.isfinite(x)) or np.any(np.abs(x) > FLOAT32_MAX):
            raise DataError(f"recommend_new_user(): the fold-in system has no finite solution for these values "
                            f"(largest confidence {conf.max():.3g}); give smaller values")
        return x.astype(np.float32), None


#: entries per chunk when confidences are computed (8 MB of float64 temporaries)
_CHUNK = 1 << 20


class _Side:
    """One orientation of the training matrix for a half step.

    CSR arrays (indptr int64, indices int32, shared with the input when already int32),
    confidences c and per-row lambdas in float32 (CG solver) and, with ``float64=True``, in
    float64 (exact solver, loss).
    """

    def __init__(self, conf_csr: sp.csr_matrix, reg: np.ndarray, *, float64: bool = True):
        self._set(conf_csr.indptr, conf_csr.indices, conf_csr.data, reg, float64)

    @classmethod
    def from_arrays(cls, indptr, indices, conf, reg, *, float64: bool = True) -> _Side:
        side = cls.__new__(cls)
        side._set(indptr, indices, conf, reg, float64)
        return side

    def _set(self, indptr, indices, conf, reg, float64: bool) -> None:
        self.indptr, self.indices = csr_structure(indptr, indices)
        self.conf = np.asarray(conf, dtype=np.float64) if float64 else None
        self.reg = np.asarray(reg, dtype=np.float64)
        self.conf32 = np.asarray(conf, dtype=np.float32)
        self.reg32 = self.reg.astype(np.float32)

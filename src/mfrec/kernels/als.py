"""numba kernels of implicit-feedback ALS (Hu, Koren & Volinsky 2008; Rendle et al. 2021).

The maths of :class:`mfrec.models.ALS`, stated once here (the class docstring links to it).

Data and confidences
--------------------
Each stored entry (u, i) of the implicit Interactions is an observed interaction with value
r_ui > 0 (1 for binary data, or a count/confidence such as those made by
``Interactions.to_implicit(confidence=...)``). Its preference is p_ui = 1 and its confidence

    c_ui = 1 + alpha * r_ui                      (confidence="linear", HKV 2008 eq. 6)
    c_ui = 1 + alpha * log(1 + r_ui / epsilon)   (confidence="log",    HKV 2008 eq. 7)

Every unobserved cell has preference 0 and weight alpha0 = ``unobserved_weight`` (alpha0 = 1 is
Hu, Koren & Volinsky's model; Rendle et al. 2021 tune it, usually below 1). The original HKV
model is ``unobserved_weight=1, regularization_scaling="none"``.

Objective
---------
With users x_u, items y_i and k = ``factors``:

    L(X, Y) = sum_{(u,i) observed} c_ui (1 - x_u.y_i)^2 + alpha0 sum_{(u,i) unobserved} (x_u.y_i)^2
              + sum_u lambda_u |x_u|^2 + sum_i lambda_i |y_i|^2

with lambda_u = lambda = ``regularization`` (regularization_scaling="none"), or the
frequency-scaled regularization of Rendle et al. 2021 (regularization_scaling="frequency",
nu = ``regularization_exponent``):

    lambda_u = lambda * (n_u + alpha0 * n_items)^nu,   lambda_i = lambda * (n_i + alpha0 * n_users)^nu

where n_u, n_i are the numbers of observed entries of user u and item i. With alpha0 = 0 and
nu = 1 this is the weighted-lambda regularization lambda * n_u of ALS-WR (Zhou et al. 2008).

Rendle et al. write the data term as sum_observed (1 - s)^2 + alpha0 sum_all s^2 (s = x_u.y_i):
on an observed cell (1 - s)^2 + alpha0 s^2 = (1 + alpha0) (s - 1/(1 + alpha0))^2 + const, a
weight 1 + alpha0 and a target scaled by a constant, which only rescales X Y^T (and lambda).
So their model is this one with alpha = alpha0 on binary data, up to that rescaling.

Half steps
----------
Each iteration does two half steps: all x_u with Y fixed, then all y_i with X fixed. One *half
step* recomputes every row ``x_u`` of ``X`` (users, or items when the roles are swapped) against
the fixed other side ``Y``: setting the gradient in x_u to zero gives the weighted least-squares
equations (HKV 2008 eq. 4)

    A_u x_u = b_u
    A_u = alpha0 * Y^T Y + sum_{i in I_u} (c_ui - alpha0) y_i y_i^T + lambda_u I
          (= Y^T C_u Y + lambda_u I with C_u = diag of the row's weights)
    b_u = sum_{i in I_u} c_ui y_i                   (= Y^T C_u p_u; p_ui = 1 on observed cells)

and symmetrically y_i = (alpha0 X^T X + sum_{u in U_i} (c_ui - alpha0) x_u x_u^T + lambda_i I)^{-1}
sum_{u in U_i} c_ui x_u, where ``I_u`` are the stored entries of row u of the CSR matrix
(``indptr``, ``indices``) and ``conf`` holds c_ui aligned with them. The caller passes
``gram = alpha0 * Y^T Y`` (float64, computed once per half step by :func:`gram`, outside the
parallel loop), so each row costs O(n_u k^2 + k^3) (Cholesky) instead of O(n_items k^2) (the
paper's speed-up), or O(steps * (n_u k + k^2)) with conjugate gradient.
``solver="cholesky"`` (:func:`als_half_step_cholesky`) solves each system exactly; each exact
half step minimises L over one side, so L never increases. ``solver="cg"``
(:func:`als_half_step_cg`) runs ``cg_steps`` conjugate-gradient iterations from the current x_u,
never forming A_u (Takacs, Pilaszy & Tikk 2011). The small solves and the Gramian are written
out here: no BLAS call runs in a half step, so BLAS threads cannot oversubscribe the cores.

Rows are processed in blocks of BLOCK, pieces of consecutive blocks on the threads of
``mfrec._threads.parallel_for``, so scratch memory is allocated once per piece, not once per
row. Every row's solve is sequential and depends only on its inputs, so results are bit-for-bit
identical for any thread count.

Loss and fold-in
----------------
With ``calculate_loss=True`` every iteration reports ``loss`` (L after the item half step) and
``loss_after_users`` (L after the user half step), computed with the Gramian trick
sum_{all cells} (x_u.y_i)^2 = trace((X^T X)(Y^T Y)) (:func:`observed_loss_terms` adds the stored
cells) in O(nnz k + (n_users + n_items) k^2). A new user's vector (fold-in,
:func:`solve_one_row`) is one exact solve of the user equations above against the fixed item
factors (no bias).

References
----------
Hu, Koren & Volinsky (2008), Collaborative Filtering for Implicit Feedback Datasets, ICDM.
Takacs, Pilaszy & Tikk (2011), Applications of the Conjugate Gradient Method for Implicit
Feedback Collaborative Filtering, RecSys.
Rendle, Krichene, Zhang & Koren (2021), Revisiting the Performance of iALS on Item
Recommendation Benchmarks, arXiv:2110.14037 (RecSys 2022 reproducibility track).
Zhou, Wilkinson, Schreiber & Pan (2008), Large-Scale Parallel Collaborative Filtering for the
Netflix Prize, AAIM (weighted-lambda regularization).

NumPy twins: tests/reference_als.py.
"""
from __future__ import annotations

import numpy as np

from .._threads import parallel_for
from ._jit import kernel

BLOCK = 64  # rows per parallel work unit


@kernel(inner=True)
def _cholesky_solve_inplace(a, b, k):
    """Solve a x = b in place for symmetric positive definite ``a`` (k x k, float64).

    Only the lower triangle of ``a`` is read and it is overwritten by the Cholesky factor L;
    ``b`` becomes x. Returns False if ``a`` is not numerically positive definite.

    NumPy: L = np.linalg.cholesky(a); x = solve(L.T, solve(L, b))
    """
    for j in range(k):
        s = a[j, j]
        for m in range(j):
            s -= a[j, m] * a[j, m]
        if not s > 0.0:
            return False
        d = np.sqrt(s)
        a[j, j] = d
        for i in range(j + 1, k):
            t = a[i, j]
            for m in range(j):
                t -= a[i, m] * a[j, m]
            a[i, j] = t / d
    # forward substitution L z = b
    for i in range(k):
        t = b[i]
        for m in range(i):
            t -= a[i, m] * b[m]
        b[i] = t / a[i, i]
    # back substitution L^T x = z
    for i in range(k - 1, -1, -1):
        t = b[i]
        for m in range(i + 1, k):
            t -= a[m, i] * b[m]
        b[i] = t / a[i, i]
    return True


@kernel(inner=True)
def _build_system(start, end, indices, conf, Y, gram, alpha0, reg, a, b, yrow, k):
    """Fill a (lower triangle) and b for one row; a, b, yrow are float64 scratch.

    NumPy: Yu = Y[indices[start:end]]; c = conf[start:end]
           a = gram + (Yu.T * (c - alpha0)) @ Yu + reg * I ;  b = Yu.T @ c
    """
    for i in range(k):
        for j in range(i + 1):
            a[i, j] = gram[i, j]
        a[i, i] += reg
        b[i] = 0.0
    for p in range(start, end):
        it = indices[p]
        c = conf[p]
        w = c - alpha0
        for f in range(k):
            yrow[f] = Y[it, f]
        for i in range(k):
            wy = w * yrow[i]
            b[i] += c * yrow[i]
            for j in range(i + 1):
                a[i, j] += wy * yrow[j]


def als_half_step_cholesky(indptr, indices, conf, X, Y, gram, alpha0, reg):
    """Make an exact half step: X[u] = A_u^{-1} b_u for every row u (see the module docstring).

    Parameters
    ----------
    indptr, indices : ndarray
        The CSR structure of this side (int64, int32).
    conf : ndarray of float64
        c_ui of each stored entry.
    X : ndarray of float32, shape (n_rows, k)
        The rows to recompute, in place.
    Y : ndarray of float32
        The fixed other side.
    gram : ndarray of float64, shape (k, k)
        alpha0 * Y^T Y of the whole other side.
    alpha0 : float
        The unobserved weight.
    reg : ndarray of float64
        lambda_u per row.

    Returns
    -------
    int
        The number of rows whose system was not positive definite (those rows are set to zero);
        0 in normal use.
    """
    n_blocks = (X.shape[0] + BLOCK - 1) // BLOCK
    failures = np.zeros(n_blocks, dtype=np.int64)
    parallel_for(_cholesky_blocks, n_blocks, indptr, indices, conf, X, Y, gram, alpha0, reg, failures)
    return int(failures.sum())


@kernel
def _cholesky_blocks(first, stop, indptr, indices, conf, X, Y, gram, alpha0, reg, failures):
    """Solve the rows of blocks first..stop-1 of :func:`als_half_step_cholesky`; count failures per block."""
    n_rows, k = X.shape
    a = np.empty((k, k), dtype=np.float64)
    b = np.empty(k, dtype=np.float64)
    yrow = np.empty(k, dtype=np.float64)
    for blk in range(first, stop):
        for u in range(blk * BLOCK, min((blk + 1) * BLOCK, n_rows)):
            _build_system(indptr[u], indptr[u + 1], indices, conf, Y, gram, alpha0, reg[u], a, b, yrow, k)
            if _cholesky_solve_inplace(a, b, k):
                for f in range(k):
                    X[u, f] = b[f]
            else:
                failures[blk] += 1
                for f in range(k):
                    X[u, f] = 0.0


@kernel(inner=True)
def _apply_a(start, end, indices, conf, Y, gram, alpha0, reg, v, out, k):
    """Compute out = A_u v without forming A_u (float32 throughout: this is the hot loop).

    NumPy: Yu = Y[indices[start:end]]; out = gram @ v + reg * v + Yu.T @ ((conf - alpha0) * (Yu @ v))
    """
    for i in range(k):
        t = reg * v[i]
        for j in range(k):
            t += gram[i, j] * v[j]
        out[i] = t
    for p in range(start, end):
        y = Y[indices[p]]
        d = np.float32(0.0)
        for f in range(k):
            d += y[f] * v[f]
        d *= conf[p] - alpha0
        for f in range(k):
            out[f] += d * y[f]


def als_half_step_cg(indptr, indices, conf, X, Y, gram, alpha0, reg, steps):
    """Make an approximate half step: ``steps`` CG iterations per row from the current X[u] (in place).

    The arguments are those of :func:`als_half_step_cholesky`, but conf, gram, alpha0 and reg are
    float32 here (the caller converts), like X and Y; ``steps`` is ``cg_steps``.
    """
    n_blocks = (X.shape[0] + BLOCK - 1) // BLOCK
    parallel_for(_cg_blocks, n_blocks, indptr, indices, conf, X, Y, gram, alpha0, reg, steps)


@kernel
def _cg_blocks(first, stop, indptr, indices, conf, X, Y, gram, alpha0, reg, steps):
    """Update the rows of blocks first..stop-1 of :func:`als_half_step_cg`."""
    n_rows, k = X.shape
    r = np.empty(k, dtype=np.float32)
    p = np.empty(k, dtype=np.float32)
    ap = np.empty(k, dtype=np.float32)
    for blk in range(first, stop):
        for u in range(blk * BLOCK, min((blk + 1) * BLOCK, n_rows)):
            # steps CG iterations on A_u x = b_u, warm-started from x = X[u] (in place): Takacs,
            # Pilaszy & Tikk 2011 ("Applications of the conjugate gradient method for implicit
            # feedback collaborative filtering"): a few CG steps from the previous factors suffice.
            # Vectors are float32 (as the factors); the scalars of the recurrence are float64.
            # Written inside the row loop, not as a function: each level of calls costs numba a
            # compile of its own on first use (_jit.py).
            start, end, reg_u, x = indptr[u], indptr[u + 1], reg[u], X[u]
            # r = b - A x = sum_i (c_i - (c_i - alpha0) y_i.x) y_i - gram x - reg x
            for i in range(k):
                t = -reg_u * x[i]
                for j in range(k):
                    t -= gram[i, j] * x[j]
                r[i] = t
            for q in range(start, end):
                y = Y[indices[q]]
                c = conf[q]
                d = np.float32(0.0)
                for f in range(k):
                    d += y[f] * x[f]
                w = c - (c - alpha0) * d
                for f in range(k):
                    r[f] += w * y[f]
            rs_old = 0.0
            for f in range(k):
                p[f] = r[f]
                rs_old += np.float64(r[f]) * r[f]
            for _ in range(steps):
                if rs_old < 1e-30:
                    break
                _apply_a(start, end, indices, conf, Y, gram, alpha0, reg_u, p, ap, k)
                pap = 0.0
                for f in range(k):
                    pap += np.float64(p[f]) * ap[f]
                if not pap > 0.0:
                    break
                step = np.float32(rs_old / pap)
                rs_new = 0.0
                for f in range(k):
                    x[f] += step * p[f]
                    r[f] -= step * ap[f]
                    rs_new += np.float64(r[f]) * r[f]
                beta = np.float32(rs_new / rs_old)
                for f in range(k):
                    p[f] = r[f] + beta * p[f]
                rs_old = rs_new


def observed_loss_terms(indptr, indices, conf, X, Y, alpha0):
    """Sum c (1 - x_u.y_i)^2 - alpha0 (x_u.y_i)^2 over the stored cells, in float64.

    Added to alpha0 * trace((X^T X)(Y^T Y)) (= alpha0 * sum over *all* cells of (x_u.y_i)^2) this
    gives the data term of the objective without visiting the unobserved cells (Gramian trick).
    Partial sums per block are added in a fixed order, so the result does not depend on threads.
    NumPy: s = (X[u] * Y[i]).sum(1) per stored (u, i); (conf * (1 - s)**2 - alpha0 * s**2).sum()
    """
    n_blocks = (X.shape[0] + BLOCK - 1) // BLOCK
    partial = np.zeros(n_blocks, dtype=np.float64)
    parallel_for(_loss_blocks, n_blocks, indptr, indices, conf, X, Y, alpha0, partial)
    return float(partial.sum())   # pairwise, in block order: the same whatever the threads


@kernel
def _loss_blocks(first, stop, indptr, indices, conf, X, Y, alpha0, partial):
    """Fill partial[blk] with the observed loss terms of each block first..stop-1 of :func:`observed_loss_terms`."""
    n_rows, k = X.shape
    for blk in range(first, stop):
        total = 0.0
        for u in range(blk * BLOCK, min((blk + 1) * BLOCK, n_rows)):
            for q in range(indptr[u], indptr[u + 1]):
                it = indices[q]
                s = 0.0
                for f in range(k):
                    s += np.float64(X[u, f]) * np.float64(Y[it, f])
                total += conf[q] * (1.0 - s) * (1.0 - s) - alpha0 * s * s
        partial[blk] = total


@kernel
def gram(Y, scale):
    """Compute scale * Y^T Y as a float64 (k, k) array, on one thread.

    NumPy: scale * (Y.astype(np.float64).T @ Y). Written out (rank-4 updates of the lower
    triangle, summed in float32 over 256 rows, then in float64) because a multithreaded BLAS call
    here, between two parallel loops of the kernels, oversubscribes a busy machine: for 6038 x
    128 float64 factors OpenBLAS took 0.3 s with its default threads instead of 3 ms on one
    thread, on a loaded 2-core machine. One pass costs O(n k^2 / 2).
    """
    n, k = Y.shape
    total = np.empty((k, k), dtype=np.float64)
    total[:] = 0  # not np.zeros: see _jit.py
    acc = np.empty((k, k), dtype=np.float32)
    acc[:] = 0  # not np.zeros: see _jit.py
    r = 0
    while r < n:
        end = min(n, r + 256)
        while r + 4 <= end:
            y0 = Y[r]
            y1 = Y[r + 1]
            y2 = Y[r + 2]
            y3 = Y[r + 3]
            for i in range(k):
                a0, a1, a2, a3 = y0[i], y1[i], y2[i], y3[i]
                row = acc[i]
                for j in range(i + 1):
                    row[j] += a0 * y0[j] + a1 * y1[j] + a2 * y2[j] + a3 * y3[j]
            r += 4
        while r < end:
            y0 = Y[r]
            for i in range(k):
                a0 = y0[i]
                row = acc[i]
                for j in range(i + 1):
                    row[j] += a0 * y0[j]
            r += 1
        for i in range(k):
            for j in range(i + 1):
                total[i, j] += acc[i, j]
                acc[i, j] = 0.0
    out = np.empty((k, k), dtype=np.float64)
    for i in range(k):
        for j in range(i + 1):
            out[i, j] = scale * total[i, j]
            out[j, i] = out[i, j]
    return out


@kernel
def solve_one_row(items, conf, Y, gram, alpha0, reg):
    """Solve one row exactly (fold-in of a new user), by the equations of a half step.

    Parameters
    ----------
    items : ndarray of int32
        The row's item indices.
    conf : ndarray of float64
        Their confidences.
    Y, gram, alpha0, reg
        As in :func:`als_half_step_cholesky`, ``reg`` the row's lambda (a float).

    Returns
    -------
    ndarray of float64, length k
        x; NaNs when the system is not positive definite (the caller reports it; a zero vector
        would pass for a valid, if useless, answer).
    """
    k = Y.shape[1]
    a = np.empty((k, k), dtype=np.float64)
    b = np.empty(k, dtype=np.float64)
    yrow = np.empty(k, dtype=np.float64)
    _build_system(0, len(items), items, conf, Y, gram, alpha0, reg, a, b, yrow, k)
    if not _cholesky_solve_inplace(a, b, k):
        return np.full(k, np.nan, dtype=np.float64)
    return b

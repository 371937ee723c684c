"""Slow, dense NumPy twins of the ALS kernels (:mod:`mfrec.kernels.als`), for tests only.

They build the full confidence matrix C and preference matrix P (users x items) and solve the
weighted least-squares problem of each row directly, with no Gramian trick:

    x_u = (Y^T C_u Y + lambda_u I)^{-1} Y^T C_u p_u,     C_u = diag(C[u, :])

with C[u, i] = c_ui on observed cells and alpha0 elsewhere, P[u, i] = 1 on observed cells and 0
elsewhere (Hu, Koren & Volinsky 2008, eq. 4, with the unobserved weight alpha0 of Rendle et al.
2021; alpha0 = 1 is the original paper).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def dense_weights(conf_csr: sp.csr_matrix, alpha0: float):
    """(C, P) dense float64 matrices from a CSR matrix of confidences c_ui on observed cells."""
    m = sp.csr_matrix(conf_csr)
    observed = np.zeros(m.shape, dtype=bool)
    observed[m.nonzero()] = True
    C = np.full(m.shape, float(alpha0))
    C[observed] = np.asarray(m.toarray(), dtype=np.float64)[observed]
    P = observed.astype(np.float64)
    return C, P


def solve_rows_dense(C: np.ndarray, P: np.ndarray, Y: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Exact minimiser of sum_i C[u,i] (P[u,i] - x_u.y_i)^2 + reg[u] |x_u|^2 for every row u."""
    Y = np.asarray(Y, dtype=np.float64)
    k = Y.shape[1]
    X = np.empty((C.shape[0], k))
    for u in range(C.shape[0]):
        A = Y.T @ (C[u][:, None] * Y) + reg[u] * np.eye(k)
        b = Y.T @ (C[u] * P[u])
        X[u] = np.linalg.solve(A, b)
    return X


def objective_dense(C, P, X, Y, reg_rows, reg_cols) -> float:
    """sum C (P - X Y^T)^2 + sum_u reg_rows[u] |x_u|^2 + sum_i reg_cols[i] |y_i|^2."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    E = P - X @ Y.T
    return float((C * E * E).sum() + (reg_rows * (X * X).sum(1)).sum() + (reg_cols * (Y * Y).sum(1)).sum())


def cg_dense(A: np.ndarray, b: np.ndarray, x0: np.ndarray, steps: int) -> np.ndarray:
    """Plain conjugate gradient on A x = b from x0 (the textbook algorithm the kernel follows)."""
    x = np.asarray(x0, dtype=np.float64).copy()
    r = b - A @ x
    p = r.copy()
    rs = r @ r
    for _ in range(steps):
        if rs < 1e-30:
            break
        ap = A @ p
        step = rs / (p @ ap)
        x += step * p
        r -= step * ap
        rs_new = r @ r
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x

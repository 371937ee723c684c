"""Slow NumPy twin of mfrec.kernels.bpr, used by the tests to check the numba kernels.

It implements the equations of Rendle et al. (2009) as written in the kernel's module docstring,
vectorised per step, with no numba and no sharing of code with the kernel.
"""
from __future__ import annotations

import numpy as np


def triple_objective(w_u, h_i, h_j, b_i, b_j, reg, reg_bias):
    """l_uij = -ln sigma(x_uij) + reg/2 (|w_u|^2 + |h_i|^2 + |h_j|^2) + reg_bias/2 (b_i^2 + b_j^2),
    with x_uij = b_i - b_j + w_u . (h_i - h_j); float64."""
    w_u, h_i, h_j = (np.asarray(a, dtype=np.float64) for a in (w_u, h_i, h_j))
    x = float(b_i) - float(b_j) + w_u @ (h_i - h_j)
    return (np.logaddexp(0.0, -x) + 0.5 * reg * (w_u @ w_u + h_i @ h_i + h_j @ h_j)
            + 0.5 * reg_bias * (float(b_i) ** 2 + float(b_j) ** 2))


def triple_gradient(w_u, h_i, h_j, b_i, b_j, reg, reg_bias):
    """Analytic gradient of triple_objective: (d/dw_u, d/dh_i, d/dh_j, d/db_i, d/db_j)."""
    w_u, h_i, h_j = (np.asarray(a, dtype=np.float64) for a in (w_u, h_i, h_j))
    x = float(b_i) - float(b_j) + w_u @ (h_i - h_j)
    z = 1.0 / (1.0 + np.exp(x))  # sigma(-x) = -d(-ln sigma(x))/dx
    return (-z * (h_i - h_j) + reg * w_u, -z * w_u + reg * h_i, z * w_u + reg * h_j,
            -z + reg_bias * float(b_i), z + reg_bias * float(b_j))


def reference_triples(triples, user_factors, item_factors, item_biases, lr, reg, reg_bias):
    """SGD over the (n, 3) triples in order, updating the float32 arrays in place: each step
    subtracts lr * triple_gradient (all parts from the values before the step). Returns the same
    stats as the kernel's bpr_triples: (loss sum, penalty sum, correctly ordered count, count)."""
    stats = np.zeros(4)
    for u, i, j in np.asarray(triples):
        w_u = user_factors[u].astype(np.float64)
        h_i = item_factors[i].astype(np.float64)
        h_j = item_factors[j].astype(np.float64)
        b_i, b_j = float(item_biases[i]), float(item_biases[j])
        x = b_i - b_j + w_u @ (h_i - h_j)
        total = triple_objective(w_u, h_i, h_j, b_i, b_j, reg, reg_bias)
        log_loss = np.logaddexp(0.0, -x)
        g_u, g_i, g_j, g_bi, g_bj = triple_gradient(w_u, h_i, h_j, b_i, b_j, reg, reg_bias)
        user_factors[u] = w_u - lr * g_u
        item_factors[i] = h_i - lr * g_i
        item_factors[j] = h_j - lr * g_j
        item_biases[i] = b_i - lr * g_bi
        item_biases[j] = b_j - lr * g_bj
        stats += (log_loss, total - log_loss, float(x > 0), 1.0)
    return stats


def reference_draw_negative(positives, n_items, rng):
    """A uniform negative by the textbook rule: draw uniformly, re-draw while positive
    (None when every item is positive)."""
    positives = set(np.asarray(positives).tolist())
    if len(positives) >= n_items:
        return None
    while True:
        j = int(rng.integers(n_items))
        if j not in positives:
            return j

"""Slow NumPy twin of :mod:`mfrec.kernels.svd_sgd`, written for clarity; used by the tests only.

Same model, loss and updates as the kernel (see its module docstring), one rating at a time in
float32, the factor updates written as vector operations.
"""
from __future__ import annotations

import numpy as np

from mfrec.kernels.sampling import splitmix64_next


def sgd_epoch_reference(users, items, ratings, global_mean, user_biases, item_biases, user_factors,
                        item_factors, learning_rate, bias_learning_rate, regularization, bias_regularization):
    """One single-thread SGD epoch over the entries in array order; updates the arrays in place, returns the sum of
    squared errors measured before each step."""
    f32 = np.float32
    mu, lr, lr_b = f32(global_mean), f32(learning_rate), f32(bias_learning_rate)
    reg, reg_b = f32(regularization), f32(bias_regularization)
    sse = 0.0
    for idx in range(len(ratings)):
        u, i = users[idx], items[idx]
        p_old = user_factors[u].copy()
        q_old = item_factors[i].copy()
        err = f32(ratings[idx] - (mu + user_biases[u] + item_biases[i] + f32(p_old @ q_old)))
        sse += float(err) ** 2
        user_biases[u] += lr_b * (err - reg_b * user_biases[u])
        item_biases[i] += lr_b * (err - reg_b * item_biases[i])
        user_factors[u] = p_old + lr * (err * q_old - reg * p_old)
        item_factors[i] = q_old + lr * (err * p_old - reg * q_old)
    return sse


def sample_loss(rating, global_mean, user_bias, item_bias, p, q, regularization, bias_regularization):
    """The per-sample loss whose half-gradient the SGD step follows (float64):
    l = (r - mu - b_u - b_i - p.q)^2 + reg (|p|^2 + |q|^2) + reg_b (b_u^2 + b_i^2)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    err = rating - (global_mean + user_bias + item_bias + p @ q)
    return err ** 2 + regularization * (p @ p + q @ q) + bias_regularization * (user_bias ** 2 + item_bias ** 2)


def predict_reference(users, items, global_mean, user_biases, item_biases, user_factors, item_factors, low, high):
    """Clipped predictions mu + b_u + b_i + p_u . q_i of the given pairs."""
    dots = np.einsum("ij,ij->i", user_factors[users].astype(np.float64), item_factors[items].astype(np.float64))
    return np.clip(global_mean + user_biases[users] + item_biases[items] + dots, low, high)


def user_blocked_order_reference(indptr, user_order, seed):
    """The visiting order (CSR positions) of svd_sgd.user_blocked_shuffle, with Python integers: users
    in ``user_order``, each user's CSR entries shuffled by Fisher-Yates with splitmix64 numbers."""
    state = np.uint64(seed)
    out = []
    for u in user_order:
        block = list(range(int(indptr[u]), int(indptr[u + 1])))
        for j in range(len(block) - 1, 0, -1):
            state, bits = splitmix64_next(np.uint64(state))  # the kernel's generator
            r = bits % (j + 1)
            block[j], block[r] = block[r], block[j]
        out.extend(block)
    return np.array(out, dtype=np.int64)

"""Slow NumPy twin of :mod:`mfrec.kernels.warp`, for the tests: the same WARP epoch written plainly
(one positive at a time, float64 arithmetic, the maths of the kernel's docstring line by line).

It draws its random numbers with the same generator as the kernel (``sampling.rand_int`` called
from Python), in the same order, so that on one block (one
thread) it makes the same choices as :func:`mfrec.kernels.warp.warp_epoch` and its factors agree up
to float32 rounding.
"""
from __future__ import annotations

import numpy as np

from mfrec.kernels.sampling import rand_int


def weight_table(n_items: int, harmonic: bool) -> np.ndarray:
    """L(r) for r = 0 .. max(n_items, 2) - 1: ln(1 + r) or H_r = sum_{t=1..r} 1/t."""
    r = np.arange(max(n_items, 2), dtype=np.float64)
    if harmonic:
        return np.concatenate([[0.0], np.cumsum(1.0 / r[1:])])
    return np.log1p(r)


def rank_estimate(n_items: int, trials: int) -> int:
    """max(1, floor((n_items - 1) / N))."""
    return max(1, (n_items - 1) // trials)


def choose_k_os_positive(indptr, indices, P, Q, b, u, i, k_os, k_os_rank, state):
    """i and k_os - 1 random positives of u; the one ranked k_os_rank-th by score (stable)."""
    row = indices[indptr[u]:indptr[u + 1]]
    cand = [i]
    for _ in range(k_os - 1):
        state, r = rand_int(np.uint64(state), len(row))
        cand.append(int(row[r]))
    scores = np.array([P[u] @ Q[c] + b[c] for c in cand])
    return state, cand[int(np.argsort(-scores, kind="stable")[k_os_rank - 1])]


def warp_epoch(indptr, indices, users, items, P, Q, b, GP, GQ, Gb, state, n_items, *,
               learning_rate, regularization, margin, max_sampled, max_loss, max_norm, adagrad, k_os=1,
               k_os_rank=1, harmonic=False, update_items=True):
    """One sequential epoch over the positives (users[n], items[n]) in that order, updating float32
    P, Q, b, GP, GQ, Gb in place.
    Returns (state, sum of losses, number of updates, number of trials, list of (u, i, j, N, w))."""
    weights = weight_table(n_items, harmonic)
    log = []
    loss_sum, n_updates, n_trials = 0.0, 0, 0
    for u, i in zip(users.tolist(), items.tolist()):
        if k_os > 1:
            state, i = choose_k_os_positive(indptr, indices, P, Q, b, u, i, k_os, k_os_rank, state)
        p_u = P[u].astype(np.float64)
        x_ui = p_u @ Q[i] + b[i]
        trials, j, x_uj = 0, -1, 0.0
        positives = set(indices[indptr[u]:indptr[u + 1]].tolist())
        while trials < max_sampled:
            state, cand = rand_int(np.uint64(state), n_items)
            trials += 1
            x_uj = p_u @ Q[cand] + b[cand]
            if x_uj > x_ui - margin and int(cand) not in positives:
                j = int(cand)
                break
        n_trials += trials
        if j < 0:
            continue
        w = min(float(np.float32(weights[rank_estimate(n_items, trials)])), max_loss)
        loss_sum += w * (margin - x_ui + x_uj)
        n_updates += 1
        log.append((u, i, j, trials, w))
        q_i, q_j = Q[i].astype(np.float64), Q[j].astype(np.float64)
        grads = {("P", u): w * (q_j - q_i) + regularization * p_u}
        if update_items:
            grads[("Q", i)] = -w * p_u + regularization * q_i
            grads[("Q", j)] = w * p_u + regularization * q_j
            grads[("b", i)] = -w + regularization * float(b[i])
            grads[("b", j)] = w + regularization * float(b[j])
        params = {"P": P, "Q": Q, "b": b}
        accums = {"P": GP, "Q": GQ, "b": Gb}
        for (name, row), g in grads.items():
            if adagrad:
                accums[name][row] += g * g
                params[name][row] -= learning_rate * g / np.sqrt(accums[name][row].astype(np.float64))
            else:
                params[name][row] -= learning_rate * g
        if max_norm > 0:
            for name, row in grads:
                if name != "b":
                    norm = np.linalg.norm(params[name][row].astype(np.float64))
                    if norm > max_norm:
                        params[name][row] *= max_norm / norm
    return state, loss_sum, n_updates, n_trials, log

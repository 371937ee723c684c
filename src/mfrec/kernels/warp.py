"""numba kernels for WARP, the Weighted Approximate-Rank Pairwise loss.

Weston, Bengio & Usunier 2011, "WSABIE", with the k-order-statistic variant (Weston, Yee & Weiss
2013) and LightFM's practical choices (Kula 2015).

The maths of :class:`mfrec.models.WARP`, stated once here (the class docstring links to it).

Model and objective
-------------------
Score x_ui = p_u . q_i + b_i (user factors P, item factors Q, item biases b; a user bias would
not change a user's ranking, so there is none). Objective (Weston, Bengio & Usunier 2011,
"WSABIE: Scaling up to large vocabulary image annotation", IJCAI): for each positive (u, i),
with rank_i(u) = number of negatives j (items u has not interacted with) such that
x_uj > x_ui - margin,

    sum_(u,i) L(rank_i(u)) * mean_{j violating} |margin - x_ui + x_uj|_+

(plus reg/2 (|p_u|^2 + |q_i|^2 + |q_j|^2 + b_i^2 + b_j^2) for each sampled triple), where L
grows like a logarithm, so errors at the top of a user's list cost the most.
``rank_weight="harmonic"`` uses the paper's L(r) = sum_{t=1..r} 1/t; ``"log"`` uses
L(r) = ln(1 + r) (LightFM uses ln r). Both are clipped at ``max_loss``. LightFM (Kula 2015,
"Metadata embeddings for user and item cold-start recommendations") is the best-known
implementation; its defaults are max_sampled=10, adagrad, learning_rate=0.05, no
regularization, L(r) = ln r, MAX_LOSS = 10.

One step
--------
For a training positive (u, i):

1. k-OS (Weston, Yee & Weiss 2013, "Learning to rank recommendations with the k-order statistic
   loss", RecSys; only when ``k_os`` = K > 1): draw K - 1 more positives of u uniformly (with
   replacement), score the K candidates and keep the one of rank ``k_os_rank`` (1 = best scored,
   K = worst, the default); it replaces i. k_os = 1 is plain WARP.
2. Rank estimate (the "approximate rank" of WARP): draw items j uniformly from the whole
   catalogue, one trial at a time, until the first violating negative: x_uj > x_ui - margin and
   j not a positive of u (binary search in u's sorted CSR row, done only for violating draws),
   or until ``max_sampled`` trials. Every draw counts as a trial, a draw that hits a positive of
   u included (as in LightFM), so N is geometric with success probability m / n_items,
   m = number of violating negatives, and E[N] = n_items / m. N = number of trials, the
   violating one included. No violation within the cap: no update (the positive is ranked high
   enough, or its rank is below the resolution of the cap).
3. Rank estimate r = max(1, floor((n_items - 1) / N)); weight w = min(L(r), max_loss), with L the
   table passed in ``weights`` (``rank_weight_table``): log, L(r) = ln(1 + r), or harmonic,
   L(r) = sum_{t=1..r} 1/t.
4. Per-sample loss l = w * (margin - x_ui + x_uj) > 0; gradients (s = w):
       g_u = s (q_j - q_i) + reg p_u        g_i = -s p_u + reg q_i        g_j = s p_u + reg q_j
       g_bi = -s + reg b_i                  g_bj = s + reg b_j
   all taken at the values before the step. Update, per coordinate, with
   lr_t = learning_rate * lr_decay^(epoch - 1):
       sgd:      theta <- theta - lr_t g
       adagrad:  G <- G + g^2, theta <- theta - lr_t g / sqrt(G)   (G starts at 1, as in LightFM)
   then, when max_norm > 0, each updated factor row is rescaled to norm <= max_norm (WSABIE's
   constraint, used instead of or with reg).

Epochs (mfrec.models.warp)
--------------------------
``sampling="pair"`` (as LightFM): an epoch visits every stored (user, item) entry once, in a
fresh random order, so the objective above weights each user by their number of positives.
``sampling="user"``: an epoch is as many draws (with replacement) of a uniform user among those
with positives, then a uniform one of that user's positives, i.e. the objective becomes
sum_u (1/n_u) sum_{i in I_u} ..., every user weighted equally, as ranking metrics averaged over
users weight them (as BPR's ``sampling="user"``). Stored values are not used as weights (every
entry is one positive). Factors start as N(0, init_std^2), biases at 0. ``threads=0`` runs
lock-free "Hogwild" SGD (Niu et al. 2011) on all cores: an epoch is cut into 64 blocks of
positives, each with its own xorshift64* random stream, handed to the threads one at a time, so
the draws do not depend on the number of threads (as in BPR); ``threads=1`` is sequential and
reproducible bit for bit for a given ``seed``. Per epoch the model reports ``loss`` (mean of l
over the updates), ``mean_trials`` (mean N per positive, counting ``max_sampled`` for positives
without a violation) and ``update_fraction`` (the share of positives that got an update), plus
``val_ndcg@10`` and ``val_recall@10`` when ``fit`` is given ``validation`` interactions
(``Recommender.validation_metrics``: scored with the training items excluded; costs one
evaluation per epoch).

Arrays
------
``indptr``/``indices`` the users x items CSR structure (sorted, unique indices per row),
``users``/``items`` the int32 user and item of each training positive in visiting order (the
caller shuffles them: sequential reads here are faster than reads through an index permutation),
``P``/``Q`` float32 (n, k) factors, ``b`` float32 item biases, ``GP``/``GQ``/``Gb`` the Adagrad
accumulators (same shapes, unused with sgd), ``states`` the uint64 random streams (one per block),
``stats`` float64 (n_blocks, 3): sum of losses, number of updates, number of trials.

The slow NumPy twin used by the tests is tests/reference_warp.py.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._threads import parallel_for
from ._jit import kernel
from .sampling import contains_sorted, rand_int


class WarpParams(NamedTuple):
    """The scalar hyperparameters of a WARP epoch (numba passes a NamedTuple of scalars as one argument).

    Build it with :meth:`make`, which fixes each field's type: a field typed int here and float
    there would compile the kernels twice.
    """

    learning_rate: float
    regularization: float
    margin: float
    max_sampled: int
    max_loss: float
    max_norm: float        # 0: no norm constraint
    adagrad: bool          # False: plain SGD
    k_os: int
    k_os_rank: int
    update_items: bool     # False: item factors and biases frozen (fold-in)

    @classmethod
    def make(cls, *, learning_rate, regularization, margin, max_sampled, max_loss, max_norm, adagrad, k_os,
             k_os_rank, update_items) -> WarpParams:
        """Build the tuple with each field converted to its type (max_norm None becomes 0.0)."""
        return cls(float(learning_rate), float(regularization), float(margin), int(max_sampled), float(max_loss),
                   float(max_norm or 0.0), bool(adagrad), int(k_os), int(k_os_rank), bool(update_items))


@kernel
def rank_weight_table(n_items, harmonic):
    """Tabulate L(r) for r = 0 .. max(n_items, 2) - 1, float32: ln(1 + r), or the harmonic number H_r.

    NumPy: ``np.log1p(np.arange(n))`` or ``np.r_[0, np.cumsum(1 / np.arange(1, n))]``.
    """
    n = max(n_items, 2)
    table = np.empty(n, dtype=np.float32)
    table[:] = 0  # not np.zeros: see _jit.py
    acc = 0.0
    for r in range(1, n):
        if harmonic:
            acc += 1.0 / r
            table[r] = acc
        else:
            table[r] = np.log1p(np.float64(r))
    return table


@kernel(inner=True)
def rank_estimate(n_items, trials):
    """Estimate the rank r = max(1, floor((n_items - 1) / N)) from N >= 1 sampling trials."""
    r = (n_items - 1) // trials
    return r if r >= 1 else 1


@kernel(inner=True)
def _score(P, Q, b, u, i):
    """Score x_ui = P[u] @ Q[i] + b[i]."""
    s = np.float32(0.0)
    for f in range(P.shape[1]):
        s += P[u, f] * Q[i, f]
    return s + b[i]


@kernel(inner=True)
def _clip_row_norm(M, row, max_norm):
    """Rescale M[row] to norm <= max_norm: M[row] *= min(1, max_norm / |M[row]|)."""
    sq = np.float32(0.0)
    for f in range(M.shape[1]):
        sq += M[row, f] * M[row, f]
    if sq > max_norm * max_norm:
        scale = np.float32(max_norm / np.sqrt(sq))
        for f in range(M.shape[1]):
            M[row, f] *= scale


@kernel(inner=True)
def _adagrad_row(M, G, row, vec, coef, reg, lr):
    """Make an Adagrad step on M[row] with gradient g = coef * vec + reg * M[row].

    G[row] += g**2; M[row] -= lr * g / np.sqrt(G[row]).
    """
    for f in range(M.shape[1]):
        g = coef * vec[f] + reg * M[row, f]
        acc = G[row, f] + g * g
        G[row, f] = acc
        M[row, f] -= lr * g / np.sqrt(acc)


@kernel(inner=True)
def _sgd_row(M, row, vec, coef, reg, lr):
    """Make an SGD step on M[row] with gradient g = coef * vec + reg * M[row]: M[row] -= lr * g."""
    for f in range(M.shape[1]):
        M[row, f] -= lr * (coef * vec[f] + reg * M[row, f])


@kernel(inner=True)
def _k_os_positive(indptr, indices, P, Q, b, u, i, k_os, k_os_rank, cand, cand_scores, state):
    """Choose the positive by k-OS: i plus k_os - 1 positives of u drawn uniformly (with replacement).

    Returns (state, the candidate ranked k_os_rank-th by score, best = 1; ties go to the earlier
    candidate). NumPy: ``cand[np.argsort(-scores, kind='stable')[k_os_rank - 1]]``.
    """
    start = indptr[u]
    n_pos = indptr[u + 1] - start
    cand[0] = i
    for c in range(1, k_os):
        state, r = rand_int(state, n_pos)
        cand[c] = indices[start + r]
    for c in range(k_os):
        cand_scores[c] = _score(P, Q, b, u, cand[c])
    for c in range(k_os):
        above = 0  # candidates ranked before c
        for d in range(k_os):
            if cand_scores[d] > cand_scores[c] or (cand_scores[d] == cand_scores[c] and d < c):
                above += 1
        if above == k_os_rank - 1:
            return state, cand[c]
    return state, i  # not reached


@kernel(inner=True)
def warp_step(indptr, indices, u, i, P, Q, b, GP, GQ, Gb, weights, state, n_items, params, diff, p_old):
    """Make one WARP step for the positive (u, i) (already chosen); the maths is in the module docstring.

    Parameters
    ----------
    indptr, indices, P, Q, b, GP, GQ, Gb, state, n_items
        As in the module docstring ("Arrays"); ``state`` is this block's xorshift64* state.
    u, i : int
        The positive.
    weights : ndarray of float32
        L(r) by r (:func:`rank_weight_table`).
    params : WarpParams
        The hyperparameters.
    diff, p_old : ndarray of float32
        Scratch vectors of length k.

    Returns
    -------
    tuple
        (state, trials N, loss, updated).
    """
    margin = params.margin
    max_sampled = params.max_sampled
    max_loss = params.max_loss
    max_norm = params.max_norm
    update_items = params.update_items
    x_ui = _score(P, Q, b, u, i)
    trials = 0
    j = -1
    x_uj = np.float32(0.0)
    start = indptr[u]
    stop = indptr[u + 1]
    while trials < max_sampled:
        state, cand = rand_int(state, n_items)  # uniform over all items; every draw is a trial
        trials += 1
        x_uj = _score(P, Q, b, u, cand)
        # margin violated by a negative (membership is only looked up for violating draws)
        if x_uj > x_ui - margin and not contains_sorted(indices, start, stop, cand):
            j = cand
            break
    if j < 0:
        return state, trials, 0.0, False
    w = weights[rank_estimate(n_items, trials)]
    if w > max_loss:
        w = np.float32(max_loss)
    loss = np.float64(w) * (np.float64(margin) - np.float64(x_ui) + np.float64(x_uj))
    lr = np.float32(params.learning_rate)
    reg = np.float32(params.regularization)
    for f in range(P.shape[1]):  # old values: diff = q_j - q_i, p_old = p_u
        diff[f] = Q[j, f] - Q[i, f]
        p_old[f] = P[u, f]
    # g_u = w (q_j - q_i) + reg p_u;  g_i = -w p_u + reg q_i;  g_j = w p_u + reg q_j
    if params.adagrad:
        _adagrad_row(P, GP, u, diff, w, reg, lr)
        if update_items:
            _adagrad_row(Q, GQ, i, p_old, -w, reg, lr)
            _adagrad_row(Q, GQ, j, p_old, w, reg, lr)
            gbi = reg * b[i] - w
            gbj = reg * b[j] + w
            Gb[i] += gbi * gbi
            Gb[j] += gbj * gbj
            b[i] -= lr * gbi / np.sqrt(Gb[i])
            b[j] -= lr * gbj / np.sqrt(Gb[j])
    else:
        _sgd_row(P, u, diff, w, reg, lr)
        if update_items:
            _sgd_row(Q, i, p_old, -w, reg, lr)
            _sgd_row(Q, j, p_old, w, reg, lr)
            b[i] -= lr * (reg * b[i] - w)
            b[j] -= lr * (reg * b[j] + w)
    if max_norm > 0:
        _clip_row_norm(P, u, max_norm)
        if update_items:
            _clip_row_norm(Q, i, max_norm)
            _clip_row_norm(Q, j, max_norm)
    return state, trials, loss, True


def warp_epoch(indptr, indices, users, items, P, Q, b, GP, GQ, Gb, weights, states, stats, n_items, params):
    """Run one epoch over the positives (users[n], items[n]), n = 0, 1, ..., in len(states) blocks.

    The contiguous blocks run in parallel: block t on its own thread with random stream states[t]
    (Hogwild!, Niu et al. 2011: threads update shared rows without locks). With one block the
    epoch is sequential and reproducible bit for bit.

    Parameters
    ----------
    indptr, indices, users, items, P, Q, b, GP, GQ, Gb, states, stats, n_items
        As in the module docstring ("Arrays"); P, Q, b, the accumulators and ``states`` are
        updated in place, stats[t] receives (sum of losses, number of updates, number of
        trials) of block t.
    weights : ndarray of float32
        L(r) by r (:func:`rank_weight_table`).
    params : WarpParams
        The hyperparameters.
    """
    parallel_for(_warp_blocks, states.shape[0], indptr, indices, users, items, P, Q, b, GP, GQ, Gb, weights, states,
                 stats, n_items, params, piece=1)


@kernel
def _warp_blocks(first, stop, indptr, indices, users, items, P, Q, b, GP, GQ, Gb, weights, states, stats, n_items,
                 params):
    """Run blocks first..stop-1 of :func:`warp_epoch`: block t makes the steps over its span of positives."""
    n_blocks = states.shape[0]
    n = users.shape[0]
    k_os = params.k_os
    k_os_rank = params.k_os_rank
    cand = np.empty(max(k_os, 1), dtype=np.int64)
    cand_scores = np.empty(max(k_os, 1), dtype=np.float32)
    diff = np.empty(P.shape[1], dtype=np.float32)
    p_old = np.empty(P.shape[1], dtype=np.float32)
    for t in range(first, stop):
        state = states[t]
        loss_sum = 0.0
        n_updates = 0
        n_trials = 0
        for m in range(t * n // n_blocks, (t + 1) * n // n_blocks):
            u = np.int64(users[m])   # int64 like the sampled negatives, so each row update (P[u],
            i = np.int64(items[m])   # Q[i], Q[j]) is compiled for one index type
            if k_os > 1:
                state, i = _k_os_positive(indptr, indices, P, Q, b, u, i, k_os, k_os_rank, cand, cand_scores,
                                          state)
            state, trials, loss, updated = warp_step(indptr, indices, u, i, P, Q, b, GP, GQ, Gb, weights, state,
                                                     n_items, params, diff, p_old)
            n_trials += trials
            if updated:
                n_updates += 1
                loss_sum += loss
        states[t] = state
        stats[t, 0] = loss_sum
        stats[t, 1] = n_updates
        stats[t, 2] = n_trials

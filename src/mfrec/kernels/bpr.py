"""numba kernels of BPR: Bayesian Personalized Ranking by SGD.

Rendle, Freudenthaler, Gantner & Schmidt-Thieme 2009, UAI, "BPR: Bayesian Personalized Ranking
from Implicit Feedback", algorithm LearnBPR. The maths of :class:`mfrec.models.BPR`, stated once
here (the class docstring links to it).

Model and objective
-------------------
The score of item i for user u is x_ui = b_i + w_u . h_i (user factors w_u, item factors h_i,
item bias b_i; no user bias: it cancels in every pairwise difference). BPR-Opt is the
log-likelihood that every user ranks each of their positive items i above each non-positive
item j, with a Gaussian prior (L2) on the parameters. For a triple (u, i, j) with i a positive
of user u and j a negative (an item u did not interact with), the score difference and the
per-triple objective minimised are

    x_uij = x_ui - x_uj = (b_i - b_j) + w_u . (h_i - h_j)
    l_uij = -ln sigma(x_uij) + reg/2 (|w_u|^2 + |h_i|^2 + |h_j|^2) + reg_bias/2 (b_i^2 + b_j^2)

(sigma(x) = 1 / (1 + e^-x); reg = ``regularization``, reg_bias = ``bias_regularization``).

SGD step
--------
With z = sigma(-x_uij) = 1 - sigma(x_uij) and lr = eta_e = ``learning_rate * lr_decay ** (e - 1)``
in epoch e (e = 1, 2, ...), one SGD step is

    w_u <- w_u + lr (z (h_i - h_j) - reg w_u)
    h_i <- h_i + lr (z w_u         - reg h_i)
    h_j <- h_j + lr (-z w_u        - reg h_j)
    b_i <- b_i + lr (z  - reg_bias b_i)
    b_j <- b_j + lr (-z - reg_bias b_j)

all right-hand sides using the values before the step. Factors are float32 and so is the
arithmetic of the factor loops; sigma, the loss and the biases are computed in float64.
Initialisation (mfrec.models.bpr): factors ~ N(0, init_std^2), biases 0.
The slow NumPy twin is tests/reference_bpr.py.

Sampling
--------
An epoch is ``samples_per_epoch`` steps (default: the number of positive pairs). Triples are
drawn with mfrec.kernels.sampling. The positive pair (u, i) is drawn with replacement:

* ``sampling="user"`` (SAMPLE_USER): a uniform user, then a uniform item among that user's
  positives. Every user gets the same expected number of steps, which matches ranking metrics
  averaged over users.
* ``sampling="pair"`` (SAMPLE_PAIR): uniformly over all positive pairs, as LearnBPR draws from
  D_S (and as implicit and LightFM do); active users get proportionally more steps.

The negative j is drawn uniformly over all items and drawn again while it is a positive of u
(binary search in u's sorted row; a direct uniform pick among the non-positives after 32 failed
draws, :func:`~mfrec.kernels.sampling.sample_negative`), so j is uniform over u's non-positives
and never a positive. Only "eligible" users are drawn: users with at least one positive and at
least one negative. Users without positives, and users who interacted with every item (they
have no negative), are never drawn; their factors keep their initial values.

Order of the steps. Within a block of n steps the n positives are an i.i.d. sample as above,
visited in sorted order: each draw is a position in [0, 1) along the epoch's list of eligible
users (for SAMPLE_PAIR, their positive pairs laid end to end), and the block draws the order
statistics of n uniform positions directly, largest first, shifted by a random offset
(:func:`~mfrec.kernels.sampling.next_sorted_position`, Bentley & Saxe 1980). The set of triples
has the same distribution as n independent draws; only the order of the steps differs. A user's
steps in a block come one after another, and the next user's row and factors usually lie next
to the previous one's (mfrec.models.bpr shuffles the list every epoch in runs of 64 consecutive
users), so only the two item rows of a step are random reads from memory. On data of ML-20M's
shape (44M interactions, 138k users) a step took 330 ns instead of 850 ns on one thread
(benchmarks/results/scale.md); ML-1M's figures did not change (benchmarks/results/bpr.md).

``negative_candidates = m > 1`` draws m such negatives and keeps the one the model currently
scores highest (:func:`hardest_negative`, "dynamic negative sampling", Zhang, Chen, Wang & Yu
2013, SIGIR): the loss is unchanged, but j is then no longer uniform, and each step costs m - 1
extra dot products. m = 1 is plain BPR.

Threads and monitoring
----------------------
An epoch (:func:`bpr_epoch`) is cut into 64 blocks of steps (``SAMPLE_BLOCKS`` of
mfrec.models.bpr), each drawing its triples from its own random stream (seeded from ``seed``),
so the triples do not depend on the number of threads. ``threads=0`` runs the blocks on all
cores, handed out one at a time, and the threads update the shared parameters without locks
("Hogwild", Recht, Re, Wright & Niu 2011); the order of the updates then varies, and so do the
results, slightly, between runs. ``threads=1`` is bit-for-bit reproducible for a given ``seed``.
After every epoch the model reports ``loss`` (the mean of l_uij over the epoch's sampled
triples, each evaluated just before its step), ``log_loss`` (the mean of -ln sigma(x_uij) alone)
and ``correct_pair_fraction`` (the share of sampled triples with x_ui > x_uj); NaN/inf stops
training with TrainingDivergedError (lower the learning rate). The factors are visible on the
model during training, so a callback can evaluate it and raise StopTraining;
``fit(validation=...)`` adds ``val_ndcg@10`` and ``val_recall@10`` to every epoch's figures
(``Recommender.validation_metrics``); BPR does no early stopping itself.

Fold-in
-------
A new user's vector (:func:`bpr_fold_in`) starts at 0 and gets ``epochs`` epochs of
max(n_items_of_user, 50) SGD steps of the update of w_u above (item factors and biases frozen,
the same learning-rate schedule), with random streams fixed by ``seed`` (0 when None), so the
result is deterministic.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._threads import parallel_for
from ._jit import kernel
from .sampling import next_sorted_position, rand_float, rand_int, row_of_entry, sample_negative

SAMPLE_PAIR = 0   # (u, i) uniform over the eligible positive pairs
SAMPLE_USER = 1   # u uniform over the eligible users, then i uniform over u's positives


class BprParams(NamedTuple):
    """The scalar settings of a BPR epoch (numba passes a NamedTuple of scalars as one argument).

    Build it with :meth:`make`, which fixes each field's type (one compiled signature).
    """

    learning_rate: float
    regularization: float
    bias_regularization: float
    n_samples: int      # SGD steps in the epoch
    mode: int           # SAMPLE_PAIR or SAMPLE_USER
    n_candidates: int   # negatives drawn per step, the best-scored kept (1: uniform)

    @classmethod
    def make(cls, *, learning_rate, regularization, bias_regularization, n_samples, mode, n_candidates) -> BprParams:
        """Build the tuple with each field converted to its type (float rates, int counts and mode)."""
        return cls(float(learning_rate), float(regularization), float(bias_regularization), int(n_samples),
                   int(mode), int(n_candidates))


@kernel(inner=True)
def softplus_neg(x):
    """Compute -ln sigma(x) = ln(1 + e^-x) without overflow."""
    if x > 0.0:
        return np.log1p(np.exp(-x))
    return -x + np.log1p(np.exp(x))


@kernel(inner=True)
def sigmoid_neg(x):
    """Compute sigma(-x) = 1 / (1 + e^x) without overflow."""
    if x >= 0.0:
        e = np.exp(-x)
        return e / (1.0 + e)
    return 1.0 / (1.0 + np.exp(x))


@kernel(inner=True)
def bpr_step(u, i, j, user_factors, item_factors, item_biases, lr, reg, reg_bias):
    """Make one SGD step on the triple (u, i, j) (equations in the module docstring), in place.

    The factor loops run in float32 (the factors' type, twice the SIMD width of float64); the
    scalar parts (sigma, loss, biases) in float64.

    Parameters
    ----------
    u, i, j : int
        The user, the positive item and the negative item.
    user_factors, item_factors, item_biases : ndarray of float32
        The model, updated in place.
    lr, reg, reg_bias : float
        The learning rate and the regularization weights.

    Returns
    -------
    tuple of float
        (x_uij, -ln sigma(x_uij), regularization term), evaluated before the step.
    """
    k = user_factors.shape[1]
    x32 = item_biases[i] - item_biases[j]
    sq = np.float32(0.0)
    for f in range(k):  # x = b_i - b_j + w_u @ (h_i - h_j); sq = w_u @ w_u + h_i @ h_i + h_j @ h_j
        wu = user_factors[u, f]
        hi = item_factors[i, f]
        hj = item_factors[j, f]
        x32 += wu * (hi - hj)
        sq += wu * wu + hi * hi + hj * hj
    x = np.float64(x32)
    bi = np.float64(item_biases[i])
    bj = np.float64(item_biases[j])
    penalty = 0.5 * reg * np.float64(sq) + 0.5 * reg_bias * (bi * bi + bj * bj)
    loss = softplus_neg(x)
    z = sigmoid_neg(x)
    z32 = np.float32(z)
    lr32 = np.float32(lr)
    reg32 = np.float32(reg)
    for f in range(k):  # the three factor updates, all from the values before the step
        wu = user_factors[u, f]
        hi = item_factors[i, f]
        hj = item_factors[j, f]
        user_factors[u, f] = wu + lr32 * (z32 * (hi - hj) - reg32 * wu)
        item_factors[i, f] = hi + lr32 * (z32 * wu - reg32 * hi)
        item_factors[j, f] = hj + lr32 * (-z32 * wu - reg32 * hj)
    item_biases[i] = bi + lr * (z - reg_bias * bi)
    item_biases[j] = bj + lr * (-z - reg_bias * bj)
    return x, loss, penalty


@kernel(inner=True)
def draw_triple(indptr, indices, eligible_users, eligible_cum, mode, n_items, position, state):
    """Draw the training triple (u, i, j) at ``position``; j is uniform over u's non-positives.

    Parameters
    ----------
    indptr, indices : ndarray
        The users x items CSR structure (sorted column indices per row).
    eligible_users : ndarray of int64
        Users with >= 1 positive and >= 1 negative.
    eligible_cum : ndarray of int64
        Cumulative row lengths of those users (length len(eligible_users) + 1, starts at 0).
    mode : int
        SAMPLE_PAIR: ``position`` picks the positive pair (the eligible pairs laid end to end, in
        user order). SAMPLE_USER: it picks the eligible user, then i is drawn uniformly among
        that user's positives.
    n_items : int
        Number of items.
    position : float
        Uniform in [0, 1) (from :func:`~mfrec.kernels.sampling.next_sorted_position`).
    state : uint64
        The xorshift64* state (for i in SAMPLE_USER mode, and for j).

    Returns
    -------
    tuple
        (new_state, u, i, j).
    """
    n_rows = eligible_users.shape[0]
    if mode == SAMPLE_PAIR:
        total = eligible_cum[n_rows]
        p = min(np.int64(position * total), total - 1)
        r = row_of_entry(eligible_cum, p)  # NumPy: searchsorted(eligible_cum, p, "right") - 1
        u = eligible_users[r]
        i = indices[indptr[u] + (p - eligible_cum[r])]
    else:
        u = eligible_users[min(np.int64(position * n_rows), n_rows - 1)]
        state, p = rand_int(state, indptr[u + 1] - indptr[u])
        i = indices[indptr[u] + p]
    state, j = sample_negative(indptr, indices, u, n_items, state)
    return state, np.int64(u), np.int64(i), j


@kernel(inner=True)
def hardest_negative(indptr, indices, u, j, n_candidates, user_factors, item_factors, item_biases, n_items, state):
    """Pick the best-scored of j and n_candidates - 1 further uniform negatives of u.

    Dynamic negative sampling (Zhang et al. 2013, SIGIR, "Optimizing Top-N Collaborative Filtering
    via Dynamic Negative Item Sampling"): the negative with the highest current score
    x_uj = b_j + w_u . h_j. Returns (new_state, j).
    NumPy: ``cands[np.argmax(item_biases[cands] + item_factors[cands] @ user_factors[u])]``.
    """
    k = user_factors.shape[1]
    best = j
    best_score = np.float64(item_biases[j])
    for f in range(k):
        best_score += np.float64(user_factors[u, f]) * np.float64(item_factors[j, f])
    for _ in range(n_candidates - 1):
        state, c = sample_negative(indptr, indices, u, n_items, state)
        score = np.float64(item_biases[c])
        for f in range(k):
            score += np.float64(user_factors[u, f]) * np.float64(item_factors[c, f])
        if score > best_score:
            best_score = score
            best = c
    return state, best


@kernel
def draw_triples(indptr, indices, eligible_users, eligible_cum, mode, n_items, n, state):
    """Draw n triples exactly as one block of bpr_epoch draws them, in its order (for tests and the reference).

    Returns (new_state, triples), the triples an int64 array (n, 3).
    """
    out = np.empty((n, 3), dtype=np.int64)
    state, offset = rand_float(state)
    v = 1.0
    for s in range(n):
        state, v, position = next_sorted_position(state, v, n - s, offset)
        state, u, i, j = draw_triple(indptr, indices, eligible_users, eligible_cum, mode, n_items, position, state)
        out[s, 0] = u
        out[s, 1] = i
        out[s, 2] = j
    return state, out


@kernel
def bpr_triples(triples, user_factors, item_factors, item_biases, lr, reg, reg_bias):
    """Make SGD steps on the given triples (n, 3) in order, single thread.

    Returns a float64 array (loss sum, penalty sum, correctly ordered count, count).
    """
    stats = np.empty(4, dtype=np.float64)
    stats[:] = 0  # not np.zeros: see _jit.py
    for s in range(triples.shape[0]):
        x, loss, penalty = bpr_step(triples[s, 0], triples[s, 1], triples[s, 2], user_factors,
                                    item_factors, item_biases, lr, reg, reg_bias)
        stats[0] += loss
        stats[1] += penalty
        stats[2] += 1.0 if x > 0.0 else 0.0
        stats[3] += 1.0
    return stats


def bpr_epoch(indptr, indices, eligible_users, eligible_cum, user_factors, item_factors, item_biases, params,
              states, stats):
    """Run one epoch of params.n_samples SGD steps in len(states) blocks, lock-free in parallel (Hogwild).

    ``params``: a :class:`BprParams`. Block b does its share of the steps (n_samples split as
    evenly as possible, block 0 first), drawing them from its own random stream states[b]
    (updated in place), and updates the shared factors without locks; the blocks are handed one
    at a time to whichever thread is free (``mfrec._threads.parallel_for``), so that a thread
    slowed down by other processes does less. The triples drawn depend only on the streams, not
    on the number of threads; with one thread the epoch is deterministic. stats (n_blocks, 4) float64 receives per
    block (sum of -ln sigma(x_uij), sum of penalties, number of x_uij > 0, number of steps). A
    block stops early when x_uij is not finite (divergence), so its loss sum becomes NaN.
    n_candidates > 1 replaces the uniform negative by the best-scored of n_candidates uniform
    negatives (hardest_negative).
    """
    parallel_for(_bpr_blocks, states.shape[0], indptr, indices, eligible_users, eligible_cum, user_factors,
                 item_factors, item_biases, params, states, stats, piece=1)


@kernel
def _bpr_blocks(first, stop, indptr, indices, eligible_users, eligible_cum, user_factors, item_factors, item_biases,
                params, states, stats):
    """Run blocks first..stop-1 of :func:`bpr_epoch`."""
    n_blocks = states.shape[0]
    n_items = item_factors.shape[0]
    n_samples = params.n_samples
    mode = params.mode
    n_candidates = params.n_candidates
    lr = params.learning_rate
    reg = params.regularization
    reg_bias = params.bias_regularization
    for t in range(first, stop):
        begin = (n_samples * t) // n_blocks
        end = (n_samples * (t + 1)) // n_blocks
        state = states[t]
        loss_sum = 0.0
        penalty_sum = 0.0
        correct = 0.0
        count = 0.0
        state, offset = rand_float(state)
        v = 1.0
        for s in range(begin, end):
            state, v, position = next_sorted_position(state, v, end - s, offset)
            state, u, i, j = draw_triple(indptr, indices, eligible_users, eligible_cum, mode, n_items, position,
                                         state)
            if n_candidates > 1:
                state, j = hardest_negative(indptr, indices, u, j, n_candidates, user_factors, item_factors,
                                            item_biases, n_items, state)
            x, loss, penalty = bpr_step(u, i, j, user_factors, item_factors, item_biases, lr, reg, reg_bias)
            loss_sum += loss
            penalty_sum += penalty
            count += 1.0
            if x > 0.0:
                correct += 1.0
            if not np.isfinite(x):
                loss_sum = np.nan
                break
        states[t] = state
        stats[t, 0] = loss_sum
        stats[t, 1] = penalty_sum
        stats[t, 2] = correct
        stats[t, 3] = count


@kernel
def bpr_fold_in(positives, item_factors, item_biases, user_vector, n_steps, lr, reg, state):
    """Fold in one new user: n_steps SGD steps on the user's vector only (item factors and biases frozen).

    i is uniform over ``positives`` (sorted unique item indices), j uniform over the other items;
    the same update as bpr_step restricted to w_u. Returns the new random state; user_vector
    (float32) is updated in place. Needs len(positives) < n_items.
    """
    n_items = item_factors.shape[0]
    k = item_factors.shape[1]
    n_pos = positives.shape[0]
    indptr = np.empty(2, dtype=np.int64)
    indptr[:] = 0  # not np.zeros: see _jit.py
    indptr[1] = n_pos
    for _ in range(n_steps):
        state, p = rand_int(state, n_pos)
        i = positives[p]
        state, j = sample_negative(indptr, positives, 0, n_items, state)
        x = np.float64(item_biases[i]) - np.float64(item_biases[j])
        for f in range(k):
            x += np.float64(user_vector[f]) * (np.float64(item_factors[i, f]) - np.float64(item_factors[j, f]))
        z = sigmoid_neg(x)
        for f in range(k):
            wu = np.float64(user_vector[f])
            diff = np.float64(item_factors[i, f]) - np.float64(item_factors[j, f])
            user_vector[f] = wu + lr * (z * diff - reg * wu)
    return state

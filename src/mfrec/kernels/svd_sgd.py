"""numba kernels for biased matrix factorization trained by SGD (Funk 2006; Koren, Bell, Volinsky 2009).

The maths of :class:`mfrec.models.SVD`, stated once here (the class docstring links to it).

Model and objective
-------------------
The model of Funk (2006, "Netflix Update: Try This at Home") in the biased form of Koren, Bell
and Volinsky (2009, "Matrix Factorization Techniques for Recommender Systems", IEEE Computer
42(8), eq. 4-5), often called "SVD" although no singular value decomposition is computed:

    r_hat(u, i) = mu + b_u + b_i + p_u . q_i

with mu the mean training rating, b_u, b_i user and item biases and p_u, q_i vectors of
k = ``factors`` dimensions. Training minimizes over the set K of training ratings

    J = sum_{(u,i) in K} (r_ui - r_hat(u,i))^2 + reg (|p_u|^2 + |q_i|^2) + reg_b (b_u^2 + b_i^2)

(reg = ``regularization``, reg_b = ``bias_regularization``, None meaning reg).

SGD step
--------
One SGD step on the rating r of (u, i), with e = r - r_hat(u, i) computed before the step:

    b_u += lr_b * (e - reg_b * b_u)
    b_i += lr_b * (e - reg_b * b_i)
    p_u += lr * (e * q_i - reg * p_u)
    q_i += lr * (e * p_u_old - reg * q_i)      (p_u_old: p_u before this step)

These are steps along minus one half of the gradient of the rating's term of J, the per-sample loss
    l(u, i) = e^2 + reg * (|p_u|^2 + |q_i|^2) + reg_b * (b_u^2 + b_i^2)
(the factor 2 is absorbed into the learning rates, as in Koren et al. 2009, eq. 5); lr =
``learning_rate``, lr_b = ``bias_learning_rate`` (None meaning lr).

Epochs (mfrec.models.svd)
-------------------------
Every epoch visits the ratings in a fresh random order: ``shuffle="users"``
(:func:`user_blocked_shuffle`) takes the users in a random order, each user's ratings in a
random order, one user after the other; ``shuffle="ratings"`` applies a uniform random
permutation of all ratings (:func:`gather_entries`). Both are SGD on the same objective. After
epoch t (1-based) both learning rates are multiplied by ``lr_decay``, so epoch t uses
lr * lr_decay**(t-1). mu is fixed, biases start at 0, factors at N(0, init_std^2). Everything
is float32.

Each epoch's record in ``loss_history_``: ``loss`` = J / |K| (its squared-error part is what
:func:`sgd_epoch` accumulates during the epoch, each error measured just before its step; its
regularization part is computed at the end of the epoch), ``train_rmse`` (the square root of
that running mean squared error, no extra pass) and, when validation data are given,
``val_rmse`` (clipped predictions, after the epoch). Training stops with
:class:`~mfrec.errors.TrainingDivergedError` (model left unfitted) when the loss turns NaN/inf
or the training RMSE exceeds 10 times the width of the rating scale: lower the learning rate.
With ``early_stopping_rounds`` and ``fit(train, validation=valid)``, training stops when the
validation RMSE has not improved for that many epochs and keeps the factors of the best epoch
(``best_epoch_``, ``best_val_rmse_``); None trains all epochs (``val_rmse`` is still recorded
every epoch). Predictions (:func:`predict_pairs`) are clipped to the training data's
``rating_scale`` (else to the lowest and highest training rating); ranking uses the unclipped
score.

Ranking by exposure (``ranking="blend"``)
-----------------------------------------
A model of ratings alone says how much a user would like an item if they watched it, not
whether they would pick it. With ``ranking="blend"`` (the default) fit also trains an implicit
ALS (``EXPOSURE_PARAMS`` of mfrec.models.svd: 64 factors, 15 iterations) on *which* items each
user rated (all ratings, value 1), factors x_u, y_i (``exposure_user_factors_``,
``exposure_item_factors_``), and ``recommend`` / ``evaluate_ranking`` rank by

    s_ui = x_u . y_i + w * (r_hat(u, i) - mu - b_u)         (w = ``ranking_weight``)

(mu and b_u do not change a user's order, so the model scores x_u . y_i + w (b_i + p_u . q_i):
ranking vectors [x_u, w p_u, w] and [y_i, q_i, b_i]). ``recommend`` then returns these scores,
not ratings; ``predict`` and RMSE are unchanged. A new user's exposure vector is folded in by
the ALS fold-in (all given items, value 1). ``ranking="rating"`` ranks by r_hat(u, i) itself.

Threads (Hogwild)
-----------------
``threads=1``: one thread, bit-for-bit reproducible with a seed. ``threads=0`` (numba's thread
count) or n > 1: lock-free "Hogwild!" updates (Niu et al. 2011): the epoch's shuffled entries
are cut into n contiguous pieces (one stream per thread, mostly disjoint users with
shuffle="users") and n Python threads run the GIL-free :func:`sgd_epoch` on them at once,
sharing the bias and factor arrays without locks. About as accurate, not reproducible bit for
bit (concurrent updates race).

Fold-in of a new user
---------------------
``SVD._fold_in`` (NumPy, not a kernel) solves exactly for the bias and factors of a new user that
minimize the user's part of J with mu, item biases and item factors fixed: a ridge regression of
r - mu - b_i on [1, q_i] with penalty n_u * diag(reg_b, reg, ..., reg) (each of the user's n_u
ratings carries the regularization term once, as in J). SGD on the same objective would converge
to this solution; the solve gets there in one step.

Arrays
------
``users``/``items`` int32 indices and ``ratings`` float32 of the training entries, in the order
the epoch visits them (a per-epoch permutation: :func:`user_blocked_shuffle`, or a uniform
permutation applied by :func:`gather_entries`; reading them sequentially is faster than through
an index array), ``user_biases``/``item_biases`` float32 vectors and
``user_factors``/``item_factors`` float32 (n, k) matrices updated in place. All arithmetic is
float32; the squared error is accumulated in float64.

The slow NumPy twin used by the tests is tests/reference_svd.py.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._threads import parallel_for
from ._jit import kernel
from .sampling import splitmix64_next


class SgdParams(NamedTuple):
    """The scalars of an SVD epoch (numba passes a NamedTuple of scalars as one argument).

    Build it with :meth:`make`, which fixes each field's type (one compiled signature).
    """

    global_mean: float
    learning_rate: float
    bias_learning_rate: float
    regularization: float
    bias_regularization: float

    @classmethod
    def make(cls, *, global_mean, learning_rate, bias_learning_rate, regularization, bias_regularization) -> SgdParams:
        """Build the tuple with every field converted to float (mu, lr, lr_b, reg, reg_b)."""
        return cls(float(global_mean), float(learning_rate), float(bias_learning_rate), float(regularization),
                   float(bias_regularization))


@kernel
def sgd_epoch(users, items, ratings, user_biases, item_biases, user_factors, item_factors, params):
    """Run SGD steps over the entries in array order, updating the biases and factors in place.

    Deterministic: same inputs, same outputs. ``nogil``: several Python threads may run it at once
    on different slices of an epoch's entries, sharing the bias and factor arrays without locks
    (Hogwild!, Niu et al. 2011).

    Parameters
    ----------
    users, items, ratings : ndarray
        The entries in visiting order (int32, int32, float32; see the module docstring).
    user_biases, item_biases, user_factors, item_factors : ndarray of float32
        The model, updated in place.
    params : SgdParams
        mu, the learning rates and the regularization weights.

    Returns
    -------
    float
        The sum of squared errors, each measured just before its step.
    """
    mu = np.float32(params.global_mean)
    lr = np.float32(params.learning_rate)
    lr_b = np.float32(params.bias_learning_rate)
    reg = np.float32(params.regularization)
    reg_b = np.float32(params.bias_regularization)
    k = user_factors.shape[1]
    sse = 0.0
    for n in range(len(ratings)):
        u = users[n]
        i = items[n]
        dot = np.float32(0.0)
        for f in range(k):  # dot = P[u] @ Q[i]
            dot += user_factors[u, f] * item_factors[i, f]
        err = ratings[n] - (mu + user_biases[u] + item_biases[i] + dot)
        sse += np.float64(err) * np.float64(err)
        user_biases[u] += lr_b * (err - reg_b * user_biases[u])
        item_biases[i] += lr_b * (err - reg_b * item_biases[i])
        for f in range(k):  # P[u], Q[i] = P[u] + lr*(e*Q[i] - reg*P[u]), Q[i] + lr*(e*P[u]_old - reg*Q[i])
            pf = user_factors[u, f]
            qf = item_factors[i, f]
            user_factors[u, f] = pf + lr * (err * qf - reg * pf)
            item_factors[i, f] = qf + lr * (err * pf - reg * qf)
    return sse


def predict_pairs(users, items, global_mean, user_biases, item_biases, user_factors, item_factors, low, high):
    """Predict the ratings of the (users[n], items[n]) pairs, clipped to [low, high].

    Parameters
    ----------
    users, items : ndarray of int32
        The pairs.
    global_mean : float
        mu.
    user_biases, item_biases, user_factors, item_factors : ndarray of float32
        The fitted model.
    low, high : float
        The clipping range (the rating scale).

    Returns
    -------
    ndarray of float32
        One prediction per pair.
    """
    out = np.empty(len(users), dtype=np.float32)
    parallel_for(_predict_range, len(users), users, items, global_mean, user_biases, item_biases, user_factors,
                 item_factors, low, high, out)
    return out


@kernel
def _predict_range(first, stop, users, items, global_mean, user_biases, item_biases, user_factors, item_factors,
                   low, high, out):
    """Fill out[first:stop] for :func:`predict_pairs`."""
    k = user_factors.shape[1]
    mu = np.float32(global_mean)
    for n in range(first, stop):
        u = users[n]
        i = items[n]
        dot = np.float32(0.0)
        for f in range(k):
            dot += user_factors[u, f] * item_factors[i, f]
        value = mu + user_biases[u] + item_biases[i] + dot
        out[n] = min(max(value, np.float32(low)), np.float32(high))  # np.clip(value, low, high)


@kernel
def user_blocked_shuffle(indptr, items, ratings, user_order, seed, out_users, out_items, out_ratings):
    """Write the CSR entries in a visiting order grouped by user (``shuffle="users"``).

    The entries of row u are indptr[u]:indptr[u+1] of ``items``/``ratings``; they are written to
    ``out_users``/``out_items``/``out_ratings`` with the users in ``user_order``, each user's
    entries in a random order (Fisher-Yates driven by sampling.splitmix64_next from ``seed``).
    Visiting one user's ratings in a row keeps p_u in cache, which makes an epoch several times
    faster than a uniform shuffle of all ratings.

    NumPy equivalent: order = np.concatenate([rng.permutation(np.arange(indptr[u], indptr[u + 1]))
    for u in user_order]); out_items, out_ratings = items[order], ratings[order]; out_users = the
    row of each entry (tests/reference_svd.py: user_blocked_order_reference computes the same order).
    """
    state = np.uint64(seed)
    pos = 0
    for u in user_order:
        start = indptr[u]
        count = indptr[u + 1] - start
        for j in range(count):
            out_users[pos + j] = u
            out_items[pos + j] = items[start + j]
            out_ratings[pos + j] = ratings[start + j]
        for j in range(count - 1, 0, -1):  # Fisher-Yates: swap entry pos+j with a random pos+r, r <= j
            state, bits = splitmix64_next(state)
            r = np.int64(bits % np.uint64(j + 1))
            item, rating = out_items[pos + j], out_ratings[pos + j]
            out_items[pos + j], out_ratings[pos + j] = out_items[pos + r], out_ratings[pos + r]
            out_items[pos + r], out_ratings[pos + r] = item, rating
        pos += count


@kernel
def gather_entries(order, users, items, ratings, out_users, out_items, out_ratings):
    """Gather the entries in the given order (``shuffle="ratings"``).

    NumPy: out_users, out_items, out_ratings = users[order], items[order], ratings[order].
    """
    for n in range(len(order)):
        idx = order[n]
        out_users[n] = users[idx]
        out_items[n] = items[idx]
        out_ratings[n] = ratings[idx]

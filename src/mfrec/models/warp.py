"""WARP: matrix factorization trained with the Weighted Approximate-Rank Pairwise loss.

The maths is stated in :mod:`mfrec.kernels.warp`.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..params import Integer, Options, Real, ScoreSafeStd
from .._threads import kernel_threads
from ..kernels.csr import csr_structure
from ..kernels.sampling import seed_streams
from ..kernels.warp import WarpParams, rank_weight_table, warp_epoch
from .base import Recommender
from .training import check_finite, initial_factors

#: Tuned settings, chosen on a validation split carved from the training part (never the test
#: set); see benchmarks/results/warp.md for how and what they give. "ml-1m": MovieLens-1M,
#: ratings >= 4 as positives (validation NDCG@10 0.2148 after 60 epochs vs 0.2078 for the
#: defaults; more epochs / max_sampled 30-100 gained at most 0.004 more at 1.7-3x the trials).
PRESETS: dict = {
    "ml-1m": dict(factors=128, epochs=60, learning_rate=0.05, regularization=0.7, max_sampled=10),
    # NCF's ML-1M protocol (every rating a positive, 99 sampled negatives; mfrec.ncf): validation
    # HR@10 / NDCG@10 0.7460 / 0.4625 on a leave-latest-out protocol carved from NCF's training file
    # (test files never read); regularization 0.4 / 0.55 gave 0.7474 / 0.7440, 0.3 fell to 0.7323,
    # 0.1 to 0.6881, and 256 factors (reg 0.3) to 0.7046; max_sampled 30 cost 3x for no gain at
    # reg 0.3 / 0.7. 2026-12-03, at reg 0.45, two runs each: max_sampled 20 0.7518 / 0.7482
    # against 10's 0.7482 / 0.7450 (+0.0034, NDCG +0.003); 15 0.7462, 25 0.7472, 40 0.7482.
    # Grid and test figures: benchmarks/results/ncf.md. Every parameter set explicitly.
    "ncf": dict(factors=128, epochs=60, learning_rate=0.05, regularization=0.45, max_norm=None, max_sampled=20,
                rank_weight="log", margin=1.0, max_loss=10.0, learning_schedule="adagrad", k_os=1,
                k_os_rank=None, lr_decay=1.0, init_std=0.01, sampling="pair"),
}

RANK_WEIGHTS = ("log", "harmonic")
SCHEDULES = ("adagrad", "sgd")
SAMPLINGS = ("pair", "user")


class WARP(Recommender):
    r"""Matrix factorization for implicit feedback trained with the WARP loss.

    Weston, Bengio & Usunier (2011, "WSABIE", IJCAI), with the k-OS variant of Weston, Yee & Weiss
    (2013) and LightFM's practical choices (Kula 2015). Score ``x_ui = p_u . q_i + b_i``.

    Parameters
    ----------
    factors : int, default 64
    epochs : int, default 30
    learning_rate : float, default 0.05
    regularization : float >= 0, default 0.5
        L2 weight applied to the updated rows at each step.
    max_norm : float or None, default None
    max_sampled : int, default 10
        Cap on the number of sampling trials per positive.
    rank_weight : {"log", "harmonic"}, default "log"
    margin : float > 0, default 1.0
    max_loss : float > 0, default 10.0
        Cap on the per-sample weight L(r).
    learning_schedule : {"adagrad", "sgd"}, default "adagrad"
    k_os : int >= 1, default 1
        Positives drawn per step for k-OS (1 = plain WARP).
    k_os_rank : int in [1, k_os] or None, default None
        Which order statistic k-OS keeps (None: k_os, the worst-scored).
    lr_decay : float in (0, 1], default 1.0
    init_std : float > 0, default 0.01
    sampling : {"pair", "user"}, default "pair"
        Each epoch visits every positive once, or draws a uniform user then one of their items.
    seed : int or None, default None
    threads : int, default 0
        0 = all cores (Hogwild), 1 = sequential and reproducible.

    Attributes
    ----------
    user_factors_, item_factors_, item_biases_ : ndarray of float32
        p_u, q_i, b_i; ``loss_history_``: loss, mean_trials, update_fraction per epoch.

    Notes
    -----
    Maths: :mod:`mfrec.kernels.warp`. Presets (``PRESETS``), tuning, benchmark: benchmarks/results/warp.md.
    """

    name = "warp"
    _bias_names = ("item_biases_",)
    feedback = "implicit"
    PRESETS = PRESETS

    def __init__(self, *, factors: int = 64, epochs: int = 30, learning_rate: float = 0.05,
                 regularization: float = 0.5, max_norm: Optional[float] = None, max_sampled: int = 10,
                 rank_weight: str = "log", margin: float = 1.0, max_loss: float = 10.0,
                 learning_schedule: str = "adagrad", k_os: int = 1, k_os_rank: Optional[int] = None,
                 lr_decay: float = 1.0, init_std: float = 0.01, sampling: str = "pair",
                 seed: Optional[int] = None, threads: int = 0):
        self.factors = factors
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.max_norm = max_norm
        self.max_sampled = max_sampled
        self.rank_weight = rank_weight
        self.margin = margin
        self.max_loss = max_loss
        self.learning_schedule = learning_schedule
        self.k_os = k_os
        self.k_os_rank = k_os_rank
        self.lr_decay = lr_decay
        self.init_std = init_std
        self.sampling = sampling
        self.seed = seed
        self.threads = threads

    #: the valid values of each hyperparameter (mfrec.params): checked by fit, shown by `mfrec models`
    _parameter_constraints = {
        "factors": Integer(1),
        "epochs": Integer(1),
        "learning_rate": Real(0, None, closed="neither"),
        "regularization": Real(0, None, closed="left"),
        "max_norm": [None, Real(0, None, closed="neither")],
        "max_sampled": Integer(1),
        "rank_weight": Options(*RANK_WEIGHTS),
        "margin": Real(0, None, closed="neither"),
        "max_loss": Real(0, None, closed="neither"),
        "learning_schedule": Options(*SCHEDULES),
        "k_os": Integer(1),
        "k_os_rank": [None, Integer(1, high="k_os")],
        "lr_decay": Real(0, 1, closed="right"),
        "init_std": ScoreSafeStd(),
        "sampling": Options(*SAMPLINGS),
        "seed": [None, Integer(0)],
        "threads": Integer(0),
    }

    # ------------------------------------------------------------------ training
    def _fit(self, interactions, validation, monitor):
        n_users, n_items = interactions.shape
        k = int(self.factors)
        rng = np.random.default_rng(self.seed)
        P = initial_factors(rng, n_users, k, self.init_std)
        Q = initial_factors(rng, n_items, k, self.init_std)
        b = np.zeros(n_items, dtype=np.float32)
        users, items, _ = interactions.to_coo()
        matrix = interactions.matrix
        # the in-training arrays, so that the validation metrics and a callback see the model
        self.user_factors_, self.item_factors_, self.item_biases_ = P, Q, b
        with kernel_threads(self.threads):
            states = seed_streams(_stream_seed(rng), SAMPLE_BLOCKS)  # one random stream per block
            for epoch, stats in self._train(matrix.indptr, matrix.indices, users, items, P, Q, b, states, rng,
                                            update_items=True):
                check_finite(self, {"user_factors_": P, "item_factors_": Q, "item_biases_": b}, epoch=epoch,
                             hint=f"try a lower learning_rate (now {self.learning_rate}) or a max_norm")
                if monitor.report(epoch, **stats):
                    break

    def _train(self, indptr, indices, users, items, P, Q, b, states, rng, *, update_items, epochs=None):
        """Run the epochs, yielding (epoch, metrics dict) after each one."""
        adagrad = self.learning_schedule == "adagrad"
        GP = np.ones_like(P) if adagrad else np.zeros((0, 0), np.float32)
        GQ = np.ones_like(Q) if adagrad and update_items else np.zeros((0, 0), np.float32)
        Gb = np.ones_like(b) if adagrad and update_items else np.zeros(0, np.float32)
        n_items = Q.shape[0]
        weights = rank_weight_table(n_items, self.rank_weight == "harmonic")
        stats = np.zeros((len(states), 3), dtype=np.float64)
        k_os_rank = self.k_os if self.k_os_rank is None else self.k_os_rank
        indptr, indices = csr_structure(indptr, indices)
        hyper = dict(regularization=self.regularization, margin=self.margin, max_sampled=self.max_sampled,
                     max_loss=self.max_loss, max_norm=self.max_norm, adagrad=adagrad, k_os=self.k_os,
                     k_os_rank=k_os_rank, update_items=update_items)
        for epoch in range(1, (epochs or self.epochs) + 1):
            if self.sampling == "user":
                epoch_users, epoch_items = user_uniform_positives(indptr, indices, len(items), rng)
            else:
                order = rng.permutation(len(items))  # this epoch's visiting order
                epoch_users, epoch_items = users[order], items[order]
            lr = self.learning_rate * self.lr_decay ** (epoch - 1)
            warp_epoch(indptr, indices, epoch_users, epoch_items, P, Q, b, GP, GQ, Gb, weights, states, stats,
                       n_items, WarpParams.make(learning_rate=lr, **hyper))
            loss_sum, n_updates, n_trials = stats.sum(axis=0)
            yield epoch, {"loss": loss_sum / max(n_updates, 1.0), "mean_trials": n_trials / len(items),
                          "update_fraction": n_updates / len(items)}

    def _fold_in(self, item_index, values):
        """Fold in a new user: WARP epochs on the user's vector alone, the items frozen.

        ``epochs`` epochs, as in training, seeded by ``seed``, sequential. The values are ignored
        (every item is a positive).
        """
        items = np.unique(np.asarray(item_index, dtype=np.int32))
        rng = np.random.default_rng(self.seed)
        P = initial_factors(rng, 1, self.item_factors_.shape[1], self.init_std)
        indptr = np.array([0, len(items)], dtype=np.int64)
        users = np.zeros(len(items), dtype=np.int32)
        Q, b = self.item_factors_, self.item_biases_
        with kernel_threads(1):
            states = seed_streams(_stream_seed(rng), 1)
            for _ in self._train(indptr, items, users, items, P, Q, b, states, rng, update_items=False):
                pass
        check_finite(self, {"the user vector": P}, what="fold-in", hint="try a lower learning_rate")
        return P[0], None


#: blocks of positives per epoch, each with its own random stream, handed to the threads one at a
#: time (dynamic scheduling); fixed, so the random draws do not depend on the thread count
SAMPLE_BLOCKS = 64


def user_uniform_positives(indptr: np.ndarray, indices: np.ndarray, n: int, rng: np.random.Generator):
    """Draw ``n`` positives with replacement: a uniform user with a stored entry, then one of its entries.

    Parameters
    ----------
    indptr, indices : ndarray
        The users x items CSR structure.
    n : int
        Number of positives to draw.
    rng : numpy.random.Generator
        The source of the draws.

    Returns
    -------
    users, items : ndarray of int32
        The drawn (user, item) positives, as warp_epoch reads them.
    """
    degree = np.diff(indptr)
    active = np.flatnonzero(degree > 0)
    users = active[rng.integers(0, len(active), size=n)]
    entries = indptr[users] + rng.integers(0, degree[users])
    return users.astype(np.int32), indices[entries].astype(np.int32)


def _stream_seed(rng: np.random.Generator) -> int:
    """Draw a seed for the per-thread streams from the model's generator."""
    return int(rng.integers(0, 2**63 - 1))


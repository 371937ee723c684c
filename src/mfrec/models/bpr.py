"""BPR: Bayesian Personalized Ranking for implicit feedback (Rendle et al. 2009).

The maths is stated in :mod:`mfrec.kernels.bpr`.
"""
from __future__ import annotations

import numpy as np

from .. import _threads
from ..errors import DataError
from ..kernels import bpr as kernels
from ..kernels.csr import csr_structure
from ..kernels.sampling import seed_streams
from ..params import Integer, Options, Real, ScoreSafeStd
from .base import Recommender
from .training import initial_factors

SAMPLING_MODES = {"pair": kernels.SAMPLE_PAIR, "user": kernels.SAMPLE_USER}

#: hyperparameters tuned on a validation split carved from a data set's training part (never its
#: test set); BPR.preset(name) builds a model with them. See benchmarks/results/bpr.md.
PRESETS: dict = {
    # validation NDCG@10 0.2148 / 0.2129 (seeds 1 / 2) against 0.2052 for the defaults and 0.1119
    # for popularity, on a per-user 80/20 validation split of the ML-1M protocol's training set
    "ml-1m": dict(factors=128, epochs=150, learning_rate=0.1, lr_decay=0.98, regularization=0.01,
                  bias_regularization=0.01, init_std=0.1, sampling="user", negative_candidates=1),
    # NCF's ML-1M protocol (every rating a positive, 99 sampled negatives; mfrec.ncf): validation
    # HR@10 / NDCG@10 0.7424 / 0.4612 (256 f) on a leave-latest-out protocol carved from NCF's training file
    # (test files never read), against 0.7273 / 0.4471 with 128 factors and uniform negatives;
    # dynamic negative sampling (best of 3) did most of the gain, best of 6 was worse (0.7184).
    # 384 factors: 0.7475 / 0.4647 (kept); 150 epochs (256 f) 0.7422 / 0.4641, regularization
    # 0.015 / 0.02 (256 f) 0.7399 / 0.7326. 384 f, lr_decay 0.96: 0.7517 / 0.4683 (kept), against
    # 0.99 / 0.98 / 0.97 / 0.95: 0.7407 / 0.7488 / 0.7508 / 0.7502; 512 f 0.7440, best of 2 / 4
    # negatives 0.7437 / 0.7392, regularization 0.012 0.7470 (all at lr_decay 0.98).
    # Grid and test figures: benchmarks/results/ncf.md. Every parameter set explicitly.
    "ncf": dict(factors=384, epochs=100, learning_rate=0.1, lr_decay=0.96, regularization=0.01,
                bias_regularization=0.01, init_std=0.1, samples_per_epoch=None, sampling="user",
                negative_candidates=3),
}

#: blocks of SGD steps per epoch, each with its own random stream, handed to the threads one at a
#: time (dynamic scheduling); fixed, so the sampled triples do not depend on the thread count
SAMPLE_BLOCKS = 64

#: consecutive eligible users kept together when an epoch's user order is shuffled (_shuffled_users)
USER_CHUNK = 64

#: SGD steps per fold-in epoch for a new user: max(number of the user's items, this)
FOLD_IN_MIN_STEPS = 50


class BPR(Recommender):
    r"""Bayesian Personalized Ranking: matrix factorization trained by SGD on a pairwise loss.

    Rendle, Freudenthaler, Gantner & Schmidt-Thieme (2009, "BPR: Bayesian Personalized Ranking
    from Implicit Feedback", UAI; algorithm LearnBPR). Score :math:`x_{ui} = b_i + w_u \cdot h_i`.

    Parameters
    ----------
    factors : int, default 64
    epochs : int, default 100
    learning_rate : float, default 0.1
        SGD step size eta of the first epoch.
    regularization : float, default 0.015
        lambda, the L2 weight of the user and item factors.
    bias_regularization : float, default 0.01
        lambda_b, the L2 weight of the item biases.
    lr_decay : float in (0, 1], default 0.98
        Learning-rate multiplier per epoch.
    init_std : float >= 0, default 0.1
        Standard deviation of the initial factors.
    samples_per_epoch : int or None, default None
        SGD steps per epoch (None: the number of positive pairs).
    sampling : {"user", "pair"}, default "user"
        The positive (u, i): a uniform user then one of their items, or a uniform pair.
    negative_candidates : int >= 1, default 1
        Negatives drawn per step, the best-scored kept (1: uniform, plain BPR).
    seed : int or None, default None
    threads : int, default 0
        0 = all cores (Hogwild, not reproducible bit for bit), 1 = one thread (reproducible).

    Attributes
    ----------
    user_factors_, item_factors_, item_biases_ : ndarray of float32
        w_u, h_i and b_i (set during training too, so a callback can evaluate the model).
    loss_history_ : list of dict
        Per epoch: loss, log_loss, correct_pair_fraction (and the validation figures).

    Notes
    -----
    Maths: :mod:`mfrec.kernels.bpr`. Presets (``PRESETS``), tuning, benchmark: benchmarks/results/bpr.md.
    """

    name = "bpr"
    _bias_names = ("item_biases_",)
    feedback = "implicit"
    PRESETS = PRESETS

    def __init__(self, *, factors: int = 64, epochs: int = 100, learning_rate: float = 0.1,
                 regularization: float = 0.015, bias_regularization: float = 0.01, lr_decay: float = 0.98,
                 init_std: float = 0.1, samples_per_epoch=None, sampling: str = "user",
                 negative_candidates: int = 1, seed=None, threads: int = 0):
        self.factors = factors
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.bias_regularization = bias_regularization
        self.lr_decay = lr_decay
        self.init_std = init_std
        self.samples_per_epoch = samples_per_epoch
        self.sampling = sampling
        self.negative_candidates = negative_candidates
        self.seed = seed
        self.threads = threads

    #: the valid values of each hyperparameter (mfrec.params): checked by fit, shown by `mfrec models`
    _parameter_constraints = {
        "factors": Integer(1),
        "epochs": Integer(1),
        "learning_rate": Real(0, None, closed="neither"),
        "regularization": Real(0, None, closed="left"),
        "bias_regularization": Real(0, None, closed="left"),
        "lr_decay": Real(0, 1, closed="right"),
        "init_std": ScoreSafeStd(allow_zero=True),
        "samples_per_epoch": [None, Integer(1)],
        "sampling": Options(*SAMPLING_MODES),
        "negative_candidates": Integer(1),
        "seed": [None, Integer(0)],
        "threads": Integer(0),
    }

    # ------------------------------------------------------------------ training
    def _fit(self, interactions, validation, monitor):
        matrix = interactions.matrix
        indptr, indices = csr_structure(matrix.indptr, matrix.indices)  # sorted column indices per row
        eligible, eligible_cum = _eligible_users(indptr, matrix.shape[1])
        n_samples = int(eligible_cum[-1]) if self.samples_per_epoch is None else int(self.samples_per_epoch)
        rng = np.random.default_rng(self.seed)
        user_factors, item_factors, item_biases = self._initial_parameters(rng, *matrix.shape)
        stream_seed = None if self.seed is None else int(rng.integers(2 ** 63))
        # expose the (in-training) arrays so that a callback can evaluate the model
        self.user_factors_, self.item_factors_, self.item_biases_ = user_factors, item_factors, item_biases

        mode = SAMPLING_MODES[self.sampling]
        candidates = int(self.negative_candidates)
        reg, reg_bias = float(self.regularization), float(self.bias_regularization)
        states = seed_streams(stream_seed, SAMPLE_BLOCKS)  # one random stream per block of steps
        order_rng = np.random.default_rng(stream_seed)      # the users' order of each epoch
        eligible_degrees = np.diff(eligible_cum)
        stats = np.zeros((SAMPLE_BLOCKS, 4))
        with _threads.kernel_threads(self.threads):
            for epoch in range(1, self.epochs + 1):
                params = kernels.BprParams.make(learning_rate=self._learning_rate(epoch), regularization=reg,
                                                bias_regularization=reg_bias, n_samples=n_samples, mode=mode,
                                                n_candidates=candidates)
                users, users_cum = _shuffled_users(eligible, eligible_degrees, order_rng)
                kernels.bpr_epoch(indptr, indices, users, users_cum, user_factors, item_factors, item_biases,
                                  params, states, stats)
                log_loss, penalty, correct, count = stats.sum(axis=0)
                count = max(count, 1.0)
                if monitor.report(epoch, loss=(log_loss + penalty) / count, log_loss=log_loss / count,
                                  correct_pair_fraction=correct / count):
                    break

    def _initial_parameters(self, rng, n_users: int, n_items: int):
        """Factors ~ N(0, init_std^2) (users first, then items, from ``rng``), item biases 0; float32."""
        k = int(self.factors)
        user_factors = initial_factors(rng, n_users, k, self.init_std)
        item_factors = initial_factors(rng, n_items, k, self.init_std)
        return user_factors, item_factors, np.zeros(n_items, dtype=np.float32)

    def _learning_rate(self, epoch: int) -> float:
        """eta_e = learning_rate * lr_decay ** (e - 1), epochs counted from 1."""
        return float(self.learning_rate) * float(self.lr_decay) ** (epoch - 1)

    # ------------------------------------------------------------------ fold-in
    def _fold_in(self, item_index, values):
        """Fold in a new user's w_u from their items, with item factors and biases frozen.

        The procedure is stated in :mod:`mfrec.kernels.bpr` (Fold-in); ``values`` are ignored
        (implicit feedback: every given item is a positive).
        """
        positives = np.unique(np.asarray(item_index, dtype=np.int64))
        n_items, k = self.item_factors_.shape
        user_vector = np.zeros(k, dtype=np.float32)
        if len(positives) >= n_items:  # no negative item: nothing to rank against
            return user_vector, None
        state = seed_streams(0 if self.seed is None else self.seed, 1)[0]
        steps = max(len(positives), FOLD_IN_MIN_STEPS)
        for epoch in range(1, self.epochs + 1):
            state = np.uint64(kernels.bpr_fold_in(positives, self.item_factors_, self.item_biases_, user_vector,
                                                  steps, self._learning_rate(epoch), float(self.regularization),
                                                  state))
        return user_vector, None


def _shuffled_users(eligible: np.ndarray, degrees: np.ndarray, rng: np.random.Generator):
    """Return the eligible users (row lengths ``degrees``) in an epoch's random order, and their row-length sums.

    An epoch's blocks visit their draws in sorted order along this list (mfrec.kernels.bpr,
    Sampling); the draws themselves stay uniform whatever the order. The order shuffles runs of
    USER_CHUNK consecutive eligible users and keeps each run in increasing order: a step then
    finds the next user's factors and CSR row next to the previous one's in memory, which the
    CPU prefetches (single thread at 44M interactions: 330 ns per step, against 480 ns for a
    shuffle of single users and 290 ns for no shuffle; benchmarks/results/scale.md).
    """
    n = len(eligible)
    starts = rng.permutation(-(-n // USER_CHUNK)) * USER_CHUNK
    order = (starts[:, None] + np.arange(USER_CHUNK)).ravel()
    order = order[order < n]
    return eligible[order], _row_length_sums(degrees[order])


def _eligible_users(indptr: np.ndarray, n_items: int):
    """Return the users that can be sampled (>= 1 positive and >= 1 negative) and their row-length sums.

    Both int64, as the kernels expect: the user indices, and the cumulative sum of their row
    lengths (starting at 0).
    """
    degree = np.diff(indptr)
    eligible = np.flatnonzero((degree > 0) & (degree < n_items)).astype(np.int64)
    if len(eligible) == 0:
        raise DataError("BPR needs at least one user with both interacted and non-interacted items "
                        "(here every user has either no item or every item)")
    return eligible, _row_length_sums(degree[eligible])


def _row_length_sums(lengths: np.ndarray) -> np.ndarray:
    """Return the int64 cumulative sums of ``lengths``, starting at 0 (the kernels' ``eligible_cum``)."""
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

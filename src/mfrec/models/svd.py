"""Biased matrix factorization of explicit ratings trained by SGD ("SVD", Funk 2006; Koren et al. 2009)."""
from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._threads import numba_threads
from ..errors import ModelFileError
from ..kernels import svd_sgd as kernels
from ..kernels.csr import kernel_csr
from ..params import Integer, Options, Real, ScoreSafeStd
from .base import Recommender
from .training import diverged, initial_factors

SHUFFLES = ("users", "ratings")
RANKINGS = ("blend", "rating")
#: the exposure model of ranking="blend": an implicit ALS of which items each user rated
EXPOSURE_PARAMS = dict(factors=64, iterations=15)

#: Tuned hyperparameter sets, used by :meth:`SVD.preset`. See benchmarks/results/svd.md for how
#: they were chosen (on a validation split carved from the training set, never the test set).
PRESETS = {
    # ML-1M: the best validation RMSE of the tuning runs (0.8412 at epoch 40; 300 and 500 factors
    # did not beat 200). The library defaults are the same with 100 factors (validation 0.8422).
    "ml-1m": dict(factors=200, epochs=40, learning_rate=0.02, regularization=0.05, bias_learning_rate=None,
                  bias_regularization=0.01, lr_decay=0.95, init_std=0.01, shuffle="users"),
    # Surprise's SVD defaults, for like-for-like comparisons.
    "surprise": dict(factors=100, epochs=20, learning_rate=0.005, regularization=0.02,
                     bias_learning_rate=None, bias_regularization=None, lr_decay=1.0, init_std=0.1,
                     shuffle="users"),
}


class SVD(Recommender):
    r"""Biased matrix factorization of explicit ratings, trained by stochastic gradient descent.

    The model of Funk (2006, "Netflix Update: Try This at Home") in the biased form of Koren, Bell
    and Volinsky (2009, "Matrix Factorization Techniques for Recommender Systems", IEEE Computer
    42(8), eq. 4-5), often called "SVD" although no singular value decomposition is computed:

        r_hat(u, i) = mu + b_u + b_i + p_u . q_i

    with mu the mean training rating, b_u, b_i user and item biases and p_u, q_i vectors of
    ``factors`` dimensions. Training minimizes over the set K of training ratings

        J = sum_{(u,i) in K} (r_ui - r_hat(u,i))^2 + reg (|p_u|^2 + |q_i|^2) + reg_b (b_u^2 + b_i^2)

    by SGD: every epoch visits the ratings in a fresh random order (see ``shuffle``) and, for
    each, with e = r_ui - r_hat(u, i) computed first,

        b_u <- b_u + lr_b (e - reg_b b_u)
        b_i <- b_i + lr_b (e - reg_b b_i)
        p_u <- p_u + lr (e q_i - reg p_u)
        q_i <- q_i + lr (e p_u - reg q_i)        (p_u: its value before this step)

    i.e. a step along minus half the gradient of the rating's term of J (Koren et al. absorb the
    factor 2 into the learning rate). After epoch t (1-based) the learning rates are multiplied by
    ``lr_decay``, so epoch t uses lr * lr_decay**(t-1). mu is fixed, biases start at 0, factors
    at N(0, init_std^2). Everything is float32.

    Parameters (keyword only)
    -------------------------
    factors : int
        Dimension k of p_u and q_i.
    epochs : int
        Passes over the training ratings (the maximum when early stopping is on).
    learning_rate : float
        lr, the step size of the factor updates.
    regularization : float
        reg, the L2 weight of the factors.
    bias_learning_rate : float or None
        lr_b, the step size of the bias updates; None = learning_rate.
    bias_regularization : float or None
        reg_b, the L2 weight of the biases; None = regularization.
    lr_decay : float in (0, 1]
        Multiplies both learning rates after every epoch (1 = constant rate).
    init_std : float
        Standard deviation of the initial factors.
    shuffle : "users" or "ratings"
        How each epoch's random order is drawn. "users" (default): the users in a random order,
        each user's ratings in a random order, one user after the other; "ratings": a uniform
        random permutation of all ratings. Both are SGD on the same objective and gave the same
        accuracy on ML-1M (benchmarks/results/svd.md), but "users" keeps p_u in the CPU cache
        while the user's ratings are visited and makes an epoch 2.5-4 times faster. (Surprise
        visits the ratings grouped by user too, in the same order every epoch.)
    early_stopping_rounds : int or None
        With ``fit(train, validation=valid)``: stop when the validation RMSE has not improved for
        this many epochs and keep the factors of the best epoch (``best_epoch_``). None = train
        all epochs (the validation RMSE is still recorded every epoch).
    ranking : "blend" or "rating"
        What ``recommend`` and ``evaluate_ranking`` rank by. A model of ratings alone says how
        much a user would like an item if they watched it, not whether they would pick it: ranked
        by predicted rating, the top of every list is rarely rated films with a few high ratings
        (on ML-1M, NDCG@10 0.072 in ``mfrec compare``, below popularity's 0.178). "blend"
        (default) adds the exposure part Cremonesi, Koren and Turrin (2010, "Performance of
        recommender algorithms on top-N recommendation tasks") found missing: fit also trains an
        implicit ALS (``EXPOSURE_PARAMS``: 64 factors, 15 iterations) on *which* items each user
        rated (all ratings, value 1), factors x_u, y_i (``exposure_user_factors_``,
        ``exposure_item_factors_``), and ranks by

            s_ui = x_u . y_i + ranking_weight * (r_hat(u, i) - mu - b_u)

        (mu and b_u do not change a user's order). ``recommend`` then returns these scores, not
        ratings; ``predict`` and RMSE are unchanged. "rating" ranks by r_hat(u, i) itself.
    ranking_weight : float >= 0
        w above: how much one rating point counts against the exposure score. 0.2 was the best
        of 0-0.5 on a validation split carved from ``mfrec compare``'s training set (ML-1M,
        benchmarks/results/similars.md).
    seed : int or None
        Seeds the initial factors and the per-epoch shuffles.
    threads : int
        1 (default) = one thread, bit-for-bit reproducible with a seed. 0 = all cores (numba's
        thread count), or n > 1 threads: lock-free "Hogwild!" updates (Niu et al. 2011): the
        epoch's shuffled entries are cut into n contiguous pieces (one stream per thread, mostly
        disjoint users with shuffle="users") and n Python threads run the GIL-free kernel on them
        at once, sharing the bias and factor arrays without locks. About as accurate, not
        reproducible bit for bit (concurrent updates race), and faster only when cores are free.
        The default is 1 because one thread already fits ML-1M (100 factors x 20 epochs) in about
        a second, reproducible results are what a student or a benchmark needs by default, and on
        a busy machine the extra threads gain nothing (benchmarks/results/svd.md); pass threads=0
        for speed on large data and idle cores.

    Fitted attributes: ``global_mean_`` (float), ``user_biases_``, ``item_biases_`` (float32
    vectors), ``user_factors_``, ``item_factors_`` (float32 (n, k)), ``loss_history_``: one dict
    per epoch with ``loss`` (J / |K|: its squared-error part is accumulated during the epoch, each
    error measured just before its step, its regularization part at the end of the epoch),
    ``train_rmse`` (the square root of that running mean squared error, no extra pass) and, when
    validation data are given, ``val_rmse`` (clipped predictions, after the epoch). With early
    stopping: ``best_epoch_``, ``best_val_rmse_``.

    Predictions are clipped to the training data's ``rating_scale`` (else to the lowest and
    highest training rating); ``recommend`` ranks by the unclipped score. Training stops with
    :class:`~mfrec.errors.TrainingDivergedError` (model left unfitted) when the loss turns NaN/inf
    or the training RMSE exceeds 10 times the width of the rating scale: lower the learning rate.

    Fold-in of a new user (``recommend_new_user(items, ratings)``) solves exactly for the user's
    bias and factors that minimize the user's part of J with mu, item biases and item factors
    fixed: a ridge regression of r - mu - b_i on [1, q_i] with penalty n_u * diag(reg_b, reg, ...)
    (each of the user's n_u ratings carries the regularization term once, as in J). SGD on the
    same objective would converge to this solution; the solve gets there in one step.

    The defaults come from tuning on ML-1M (a validation split carved from the training set,
    benchmarks/results/svd.md): test RMSE 0.835 on the random 90/10 split, where Surprise's SVD
    scores 0.864 with its defaults. The small ``init_std`` matters most; Surprise's 0.1 is worse.
    ``SVD.preset(name)`` returns a model with a tuned hyperparameter set (``PRESETS``): "ml-1m"
    (200 factors, test RMSE 0.833) or "surprise" (Surprise's defaults, for comparisons).
    """

    feedback = "explicit"
    name = "svd"
    PRESETS = PRESETS
    #: predict() clips to the rating scale, recommend() ranks by the raw score
    clips_predictions = True
    _extra_scalars = ("best_epoch_", "best_val_rmse_")
    _extra_arrays = ("exposure_user_factors_", "exposure_item_factors_")

    def __init__(self, *, factors: int = 100, epochs: int = 40, learning_rate: float = 0.02,
                 regularization: float = 0.05, bias_learning_rate=None, bias_regularization=0.01,
                 lr_decay: float = 0.95, init_std: float = 0.01, shuffle: str = "users",
                 early_stopping_rounds=None, ranking: str = "blend", ranking_weight: float = 0.2,
                 seed=None, threads: int = 1):
        self.factors = factors
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.bias_learning_rate = bias_learning_rate
        self.bias_regularization = bias_regularization
        self.lr_decay = lr_decay
        self.init_std = init_std
        self.shuffle = shuffle
        self.early_stopping_rounds = early_stopping_rounds
        self.ranking = ranking
        self.ranking_weight = ranking_weight
        self.seed = seed
        self.threads = threads

    # ------------------------------------------------------------------ parameters
    #: the valid values of each hyperparameter (mfrec.params): checked by fit, shown by `mfrec models`
    _parameter_constraints = {
        "factors": Integer(1),
        "epochs": Integer(1),
        "learning_rate": Real(0, None, closed="neither"),
        "regularization": Real(0, None, closed="left"),
        "bias_learning_rate": [None, Real(0, None, closed="neither")],
        "bias_regularization": [None, Real(0, None, closed="left")],
        "lr_decay": Real(0, 1, closed="right"),
        "init_std": ScoreSafeStd(),
        "shuffle": Options(*SHUFFLES),
        "early_stopping_rounds": [None, Integer(1)],
        "ranking": Options(*RANKINGS),
        "ranking_weight": Real(0, None, closed="left"),
        "seed": [None, Integer(0)],
        "threads": Integer(0),
    }

    def _rates(self):
        """(lr, lr_b, reg, reg_b) with the None defaults resolved."""
        lr = float(self.learning_rate)
        lr_b = lr if self.bias_learning_rate is None else float(self.bias_learning_rate)
        reg = float(self.regularization)
        reg_b = reg if self.bias_regularization is None else float(self.bias_regularization)
        return lr, lr_b, reg, reg_b

    # ------------------------------------------------------------------ training
    def _fit(self, interactions, validation, monitor):
        indptr, items, ratings = kernel_csr(interactions.matrix)
        users = np.ascontiguousarray(interactions.to_coo()[0], dtype=np.int32)  # the row of each entry
        rng = np.random.default_rng(self.seed)
        k = self.factors
        self.global_mean_ = float(ratings.mean(dtype=np.float64))
        self.user_biases_ = np.zeros(interactions.n_users, dtype=np.float32)
        self.item_biases_ = np.zeros(interactions.n_items, dtype=np.float32)
        self.user_factors_ = initial_factors(rng, interactions.n_users, k, self.init_std)
        self.item_factors_ = initial_factors(rng, interactions.n_items, k, self.init_std)

        user_counts = np.bincount(users, minlength=interactions.n_users).astype(np.float64)
        item_counts = np.bincount(items, minlength=interactions.n_items).astype(np.float64)
        low, high = self._clip_range()
        explode_rmse = 10.0 * max(high - low, 1.0)
        lr, lr_b, reg, reg_b = self._rates()
        # the monitor adds val_rmse (validation_metrics) to each epoch's record; early stopping reads it
        early = self.early_stopping_rounds if validation is not None and validation.nnz else None
        best = None  # (val_rmse, epoch, arrays) of the best epoch when early stopping
        # this epoch's entries in visiting order
        epoch_users, epoch_items, epoch_ratings = np.empty_like(users), np.empty_like(items), np.empty_like(ratings)

        with numba_threads(self.threads) as n_threads, _thread_pool(n_threads) as pool:
            for epoch in range(1, self.epochs + 1):
                if self.shuffle == "users":
                    kernels.user_blocked_shuffle(indptr, items, ratings, rng.permutation(interactions.n_users),
                                                 int(rng.integers(0, 2 ** 63 - 1)), epoch_users, epoch_items,
                                                 epoch_ratings)
                else:
                    kernels.gather_entries(rng.permutation(len(ratings)), users, items, ratings, epoch_users,
                                           epoch_items, epoch_ratings)
                decay = self.lr_decay ** (epoch - 1)
                state = (self.user_biases_, self.item_biases_, self.user_factors_, self.item_factors_,
                         kernels.SgdParams.make(global_mean=self.global_mean_, learning_rate=lr * decay,
                                                bias_learning_rate=lr_b * decay, regularization=reg,
                                                bias_regularization=reg_b))
                sse = _sgd_epoch(pool, n_threads, (epoch_users, epoch_items, epoch_ratings), state)
                train_rmse = float(np.sqrt(sse / len(ratings)))
                if not np.isfinite(sse) or train_rmse > explode_rmse:
                    raise diverged(self, f"training RMSE {train_rmse:.4g}", epoch=epoch, hint=(
                        f"lower the learning_rate (now {self.learning_rate}"
                        + ("" if self.bias_learning_rate is None else f", bias_learning_rate {self.bias_learning_rate}")
                        + ") or raise the regularization"))
                penalty = (reg * (user_counts @ _row_sq_norms(self.user_factors_)
                                  + item_counts @ _row_sq_norms(self.item_factors_))
                           + reg_b * (user_counts @ np.square(self.user_biases_, dtype=np.float64)
                                      + item_counts @ np.square(self.item_biases_, dtype=np.float64)))
                metrics = {"loss": (sse + penalty) / len(ratings), "train_rmse": train_rmse}
                stop = monitor.report(epoch, **metrics)
                if early is not None:
                    val_rmse = self.loss_history_[-1]["val_rmse"]
                    if best is None or val_rmse < best[0]:
                        best = (val_rmse, epoch, self._snapshot())
                    elif epoch - best[1] >= early:
                        stop = True
                if stop:
                    break
        if best is not None:
            self.best_val_rmse_, self.best_epoch_ = float(best[0]), int(best[1])
            (self.user_biases_, self.item_biases_, self.user_factors_, self.item_factors_) = best[2]
        if self.ranking == "blend":
            exposure = self._exposure_model().fit(interactions.to_implicit(threshold=None), show_progress=False)
            self.exposure_user_factors_ = exposure.user_factors_
            self.exposure_item_factors_ = exposure.item_factors_

    def _check_loaded(self) -> None:
        super()._check_loaded()
        users, items = (getattr(self, n, None) for n in self._extra_arrays)
        if (users is None) != (items is None):
            raise ModelFileError("the file holds only one of exposure_user_factors_ / exposure_item_factors_")
        if users is not None and items is not None and (
                users.ndim != 2 or items.ndim != 2 or users.shape[1] != items.shape[1]
                or users.shape[0] != self.interactions_.n_users
                or items.shape[0] != self.interactions_.n_items):
            raise ModelFileError(f"exposure factors of shapes {users.shape} / {items.shape} do not match the "
                                 f"training data ({self.interactions_.n_users} users x "
                                 f"{self.interactions_.n_items} items)")

    def _exposure_model(self):
        """The ALS behind ranking="blend" (unfitted; its factors are this model's exposure_*)."""
        from .als import ALS
        return ALS(**EXPOSURE_PARAMS, seed=self.seed, threads=self.threads)

    def _snapshot(self):
        return (self.user_biases_.copy(), self.item_biases_.copy(), self.user_factors_.copy(),
                self.item_factors_.copy())

    def validation_metrics(self, validation) -> dict:
        """``val_rmse``: the RMSE of the clipped predictions on the validation ratings (none
        when there are no validation ratings)."""
        if validation.nnz == 0:
            return {}
        u, i, r = validation.to_coo()
        pred = self.predict_indices(u, i)
        return {"val_rmse": float(np.sqrt(np.mean(np.square(pred - np.asarray(r, dtype=np.float64)))))}

    # ------------------------------------------------------------------ queries
    def _clip_range(self):
        """(low, high): the declared rating scale of the training data, else its min/max rating."""
        inter = self.interactions_
        if inter.rating_scale is not None:
            low, high = inter.rating_scale
        else:
            data = inter.matrix.data
            low, high = data.min(), data.max()
        return float(low), float(high)

    def predict_indices(self, user_index, item_index):
        low, high = self._clip_range()
        return kernels.predict_pairs(np.ascontiguousarray(user_index, dtype=np.int32),
                                     np.ascontiguousarray(item_index, dtype=np.int32), self.global_mean_,
                                     self.user_biases_, self.item_biases_, self.user_factors_,
                                     self.item_factors_, low, high)

    # Ranking (recommend, evaluate_ranking) with ranking="blend" scores
    #     s_ui = x_u . y_i + w (b_i + p_u . q_i)
    # (x, y: the exposure factors; w: ranking_weight), which orders items as
    # x_u . y_i + w (r_hat(u, i) - mu - b_u) does: the ranking vectors are [x_u, w p_u, w] and
    # [y_i, q_i, b_i]. See the class docstring.
    def _blends(self) -> bool:
        return self.ranking == "blend" and getattr(self, "exposure_item_factors_", None) is not None

    def _user_vectors(self, user_index=None):
        if not self._blends():
            return super()._user_vectors(user_index)
        idx = slice(None) if user_index is None else user_index
        return self._blend_user_vector(self.exposure_user_factors_[idx], self.user_factors_[idx])

    def _blend_user_vector(self, exposure, factors):
        w = np.float32(self.ranking_weight)
        return np.hstack([exposure, w * factors, np.full((len(factors), 1), w, dtype=np.float32)]).astype(np.float32)

    def _item_vectors(self):
        if not self._blends():
            return super()._item_vectors()
        cached = getattr(self, "_item_vectors_cache", None)
        if cached is not None:
            return cached
        vectors = np.hstack([self.exposure_item_factors_, self.item_factors_,
                             self.item_biases_[:, None]]).astype(np.float32)
        if not getattr(self, "_training", False):
            self._item_vectors_cache = vectors
        return vectors

    def _new_user_vector(self, item_index, values):
        if not self._blends():
            return super()._new_user_vector(item_index, values)
        factors, _ = self._fold_in(item_index, values)
        exposure = self._exposure_model()
        exposure.item_factors_ = self.exposure_item_factors_
        exposure_vector, _ = exposure._fold_in(item_index, np.ones(len(item_index)))
        return self._blend_user_vector(exposure_vector[None, :], np.asarray(factors, dtype=np.float32)[None, :])

    def _fold_in(self, item_index, values):
        """Exact ridge solve for a new user's (bias, factors); see the class docstring."""
        lr, lr_b, reg, reg_b = self._rates()
        q = self.item_factors_[item_index].astype(np.float64)
        target = values.astype(np.float64) - self.global_mean_ - self.item_biases_[item_index]
        design = np.hstack([np.ones((len(item_index), 1)), q])          # [1, q_i]
        penalty = len(item_index) * np.r_[reg_b, np.full(q.shape[1], reg)]
        penalty = np.maximum(penalty, 1e-9)                               # keeps the system solvable
        gram = design.T @ design + np.diag(penalty)
        solution = np.linalg.solve(gram, design.T @ target)
        return solution[1:].astype(np.float32), np.float32(solution[0])


def _sgd_epoch(pool, n_threads, entries, state) -> float:
    """One epoch: the single-thread kernel on all entries, or (Hogwild) on ``n_threads``
    contiguous slices of them run by as many threads at once, sharing the model arrays."""
    if pool is None:
        return kernels.sgd_epoch(*entries, *state)
    n = len(entries[0])
    bounds = [c * n // n_threads for c in range(n_threads + 1)]
    futures = [pool.submit(kernels.sgd_epoch, *(a[start:stop] for a in entries), *state)
               for start, stop in zip(bounds[:-1], bounds[1:])]
    return float(sum(f.result() for f in futures))


@contextlib.contextmanager
def _thread_pool(n_threads: int):
    """A pool of n_threads Python threads (the kernel releases the GIL), or None for one thread."""
    if n_threads <= 1:
        yield None
        return
    with ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="mfrec-svd") as pool:
        yield pool


def _row_sq_norms(matrix) -> np.ndarray:
    """|x_r|^2 of each row, in float64."""
    m = matrix.astype(np.float64)
    return np.einsum("ij,ij->i", m, m)

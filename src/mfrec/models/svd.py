"""Biased matrix factorization of explicit ratings trained by SGD ("SVD", Funk 2006; Koren et al. 2009).

The maths (and the blended ranking score) is stated in :mod:`mfrec.kernels.svd_sgd`.
"""
from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._threads import kernel_threads
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

    Funk (2006) in the biased form of Koren, Bell & Volinsky (2009, IEEE Computer 42(8)), often
    called "SVD": ``r_hat(u, i) = mu + b_u + b_i + p_u . q_i``, clipped to the rating scale. With
    ``ranking="blend"`` lists rank by ``x_u . y_i + ranking_weight * (r_hat(u, i) - mu - b_u)``.

    Parameters
    ----------
    factors : int, default 100
    epochs : int, default 40
    learning_rate : float, default 0.02
    regularization : float, default 0.05
    bias_learning_rate : float or None, default None
        Step size of the bias updates (None: learning_rate).
    bias_regularization : float or None, default 0.01
        L2 weight of the biases (None: regularization).
    lr_decay : float in (0, 1], default 0.95
        Both learning rates are multiplied by it after every epoch (1: constant).
    init_std : float, default 0.01
        Standard deviation of the initial factors.
    shuffle : {"users", "ratings"}, default "users"
        Each epoch's order: users in a random order, each user's ratings shuffled; or all ratings.
    early_stopping_rounds : int or None, default None
        With ``fit(validation=...)``: stop after this many epochs without a better ``val_rmse``.
    ranking : {"blend", "rating"}, default "blend"
        Rank by the blend above (x, y: an implicit ALS of which items were rated) or by r_hat.
    ranking_weight : float >= 0, default 0.2
        The weight of one rating point against the exposure score x_u . y_i.
    seed : int or None, default None
    threads : int, default 1
        1: reproducible bit for bit; 0 (all cores) or n > 1: lock-free Hogwild threads.

    Attributes
    ----------
    user_factors_, item_factors_, user_biases_, item_biases_ : ndarray of float32
        p_u, q_i, b_u, b_i; ``global_mean_`` is mu, ``loss_history_`` the per-epoch figures.

    Notes
    -----
    Maths: :mod:`mfrec.kernels.svd_sgd`. Presets (``PRESETS``), tuning, benchmark: benchmarks/results/svd.md.
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

        with kernel_threads(self.threads) as n_threads, _thread_pool(n_threads) as pool:
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
        """Build the ALS behind ranking="blend" (unfitted; its factors are this model's exposure_*)."""
        from .als import ALS
        return ALS(**EXPOSURE_PARAMS, seed=self.seed, threads=self.threads)

    def _snapshot(self):
        return (self.user_biases_.copy(), self.item_biases_.copy(), self.user_factors_.copy(),
                self.item_factors_.copy())

    def validation_metrics(self, validation) -> dict:
        """Compute ``val_rmse``, the RMSE of the clipped predictions on the validation ratings.

        Parameters
        ----------
        validation : Interactions
            Held-out ratings in the training id space.

        Returns
        -------
        dict
            ``{"val_rmse": float}``, or an empty dict when there are no validation ratings.
        """
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
        """Predict the ratings of (user index, item index) pairs, clipped to the rating scale.

        Parameters
        ----------
        user_index, item_index : ndarray of int
            Internal indices, of equal length.

        Returns
        -------
        ndarray of float32
            One predicted rating per pair.
        """
        low, high = self._clip_range()
        return kernels.predict_pairs(np.ascontiguousarray(user_index, dtype=np.int32),
                                     np.ascontiguousarray(item_index, dtype=np.int32), self.global_mean_,
                                     self.user_biases_, self.item_biases_, self.user_factors_,
                                     self.item_factors_, low, high)

    # Ranking (recommend, evaluate_ranking) with ranking="blend" scores
    #     s_ui = x_u . y_i + w (b_i + p_u . q_i)
    # (x, y: the exposure factors; w: ranking_weight), which orders items as
    # x_u . y_i + w (r_hat(u, i) - mu - b_u) does: the ranking vectors are [x_u, w p_u, w] and
    # [y_i, q_i, b_i]. See mfrec.kernels.svd_sgd (Ranking by exposure).
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
        """Solve exactly for a new user's (factors, bias) by ridge regression (:mod:`mfrec.kernels.svd_sgd`)."""
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
    """Run one epoch and return its sum of squared errors.

    The single-thread kernel on all entries, or (Hogwild) on ``n_threads`` contiguous slices of
    them run by as many threads at once, sharing the model arrays.
    """
    if pool is None:
        return kernels.sgd_epoch(*entries, *state)
    n = len(entries[0])
    bounds = [c * n // n_threads for c in range(n_threads + 1)]
    futures = [pool.submit(kernels.sgd_epoch, *(a[start:stop] for a in entries), *state)
               for start, stop in zip(bounds[:-1], bounds[1:])]
    return float(sum(f.result() for f in futures))


@contextlib.contextmanager
def _thread_pool(n_threads: int):
    """Yield a pool of n_threads Python threads (the kernel releases the GIL), or None for one thread."""
    if n_threads <= 1:
        yield None
        return
    with ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="mfrec-svd") as pool:
        yield pool


def _row_sq_norms(matrix) -> np.ndarray:
    """Compute |x_r|^2 of each row, in float64."""
    m = matrix.astype(np.float64)
    return np.einsum("ij,ij->i", m, m)

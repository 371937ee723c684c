"""The model contract shared by every mfrec model: parameters, the fit template, the queries.

A model subclasses :class:`Recommender`, stores its hyperparameters in ``__init__`` (keyword
arguments only, nothing else: scikit-learn's rule), declares their valid values once in
``_parameter_constraints`` (:mod:`mfrec.params`) and trains in ``_fit``. Everything else lives
here, so all models behave the same way; the epochs' monitor and the divergence checks are in
:mod:`mfrec.models.training`, the model file in :mod:`mfrec.persistence`, the list of models in
:mod:`mfrec.models.catalog`.

The protocol other modules use (evaluation, export, the CLI, mfrec.distributed) is public:

- ``param_names()``, ``get_params(deep=True)``, ``set_params(**p)``, ``check_params()``;
- ``fit(...)``, ``is_fitted``, ``require_fitted()``, ``n_epochs()``;
- ``score_users(user_index)``: all item scores of the given user indices (what ranking uses);
- ``ranking_vectors()``: the (user, item) vectors whose dot products those scores are, for the
  kernels that score blocks themselves (evaluation); None for a model scored otherwise;
- ``predict_indices(user_index, item_index)``: the scores of (user, item) index pairs;
- ``validation_metrics(validation)``: the per-epoch figures reported with ``fit(validation=)``;
- ``recommend``, ``recommend_new_user``, ``similar_items``, ``similar_users``, ``predict``
  (raw ids in, raw ids out), ``save(path)`` and ``load(path)``.

A subclass implements ``_fit(interactions, validation, monitor)`` and, where the algorithm
allows, ``_fold_in(item_index, values)``; it may override the vector layer below.

Scores are dot products of a user vector and an item vector. A model provides factors and
optional biases; this class folds the biases into the vectors:
``[mu + b_u, 1, p_u] . [1, b_i, q_i] = mu + b_u + b_i + p_u . q_i``.
"""
from __future__ import annotations

import abc
import inspect
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import numpy as np
import scipy.sparse as sp

from .. import _memory, params as constraints
from ..data.interactions import Interactions
from ..errors import DataError, InvalidParameterError, NotFittedError
from ..ids import IdMap
from ..kernels.csr import read_only
from ..params import FLOAT32_MAX
from ..retrieval import normalize_rows, top_k
from ..similarity import SIMILARITIES, ItemSimilarity
from .training import (Callback, StopTraining, TrainingMonitor, check_finite, diverged, divergence_hint,
                       scores_fit_float32)

__all__ = ["Recommender", "StopTraining", "Callback", "FLOAT32_MAX"]

#: the k of the validation metrics that implicit models report with fit(validation=...)
VALIDATION_K = 10


class Recommender(abc.ABC):
    """Base class of mfrec models.

    See the module docstring of :mod:`mfrec.models.base` for the contract: a subclass stores its
    hyperparameters in ``__init__``, declares their valid values in ``_parameter_constraints`` and
    trains in ``_fit``; fitting, the queries and persistence are defined here.
    """

    #: the data this model trains on: "explicit" (ratings) or "implicit" (positives/confidences)
    feedback = "implicit"
    #: name used in the CLI and tables (the model list is mfrec.models.catalog.MODELS)
    name = "base"
    #: named hyperparameter sets, e.g. {"ml-1m": {...}}: tuned presets documented by each model
    PRESETS: dict = {}
    #: the valid values of each ``__init__`` parameter (see mfrec.params); checked by fit
    _parameter_constraints: dict = {}
    #: False for models without epochs (Popularity): fit(validation=...) is refused
    iterative = True
    #: fitted array attributes saved in model files (besides factors/biases known to the base)
    _extra_arrays: tuple = ()
    #: fitted scalar attributes saved in model files
    _extra_scalars: tuple = ()
    #: the bias vectors this model fits (besides user_factors_/item_factors_): part of the
    #: allow-list of arrays that load() restores
    _bias_names: tuple = ("user_biases_", "item_biases_")

    # The fitted state, set by fit() or load() and absent before (declarations for the type
    # checker only: no class attribute is created, so ``getattr(self, name, None)`` still tells).
    interactions_: Interactions
    user_ids_: IdMap
    item_ids_: IdMap
    user_factors_: np.ndarray
    item_factors_: np.ndarray
    item_biases_: np.ndarray
    loss_history_: list[dict]
    _item_vectors_cache: Optional[np.ndarray]

    # ------------------------------------------------------------------ parameters
    @classmethod
    def param_names(cls) -> list:
        """Return the hyperparameters' names: the keyword arguments of ``__init__``, in order.

        Returns
        -------
        list of str
            The parameter names (empty for a model without hyperparameters).
        """
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self, deep: bool = True) -> dict:
        """Return the hyperparameters as a dict (scikit-learn's contract).

        Parameters
        ----------
        deep : bool, default True
            Accepted for ``sklearn.base.clone``; mfrec models hold no nested estimators, so it
            changes nothing.

        Returns
        -------
        dict
            Parameter name -> current value, for every name of :meth:`param_names`.
        """
        return {name: getattr(self, name) for name in self.param_names()}

    def set_params(self, **params) -> Recommender:
        """Set hyperparameters by name (scikit-learn's contract); nothing is validated until fit.

        Parameters
        ----------
        **params
            New values, by parameter name.

        Returns
        -------
        Recommender
            ``self``.

        Raises
        ------
        InvalidParameterError
            When a name is not one of :meth:`param_names`.
        """
        valid = self.param_names()
        for key, value in params.items():
            if key not in valid:
                raise InvalidParameterError(f"{type(self).__name__} has no parameter {key!r} "
                                            f"(parameters: {', '.join(valid)})")
            setattr(self, key, value)
        return self

    def check_params(self) -> None:
        """Validate the hyperparameters against ``_parameter_constraints``.

        Raises
        ------
        InvalidParameterError
            A ValueError naming the first invalid parameter and its valid values.
        """
        constraints.validate(self._parameter_constraints, self.get_params())

    @classmethod
    def preset(cls, name: str, **overrides) -> Recommender:
        """Build a model with the named preset's hyperparameters, then ``overrides``.

        Parameters
        ----------
        name : str
            A key of the class's ``PRESETS``, e.g. ``"ml-1m"``.
        **overrides
            Hyperparameters that replace the preset's, e.g. ``ALS.preset("ml-1m", threads=1)``.

        Returns
        -------
        Recommender
            An unfitted model of this class.

        Raises
        ------
        InvalidParameterError
            When the class has no preset ``name``.
        """
        if name not in cls.PRESETS:
            known = ", ".join(sorted(cls.PRESETS)) or "none"
            raise InvalidParameterError(f"{cls.__name__} has no preset {name!r} (presets: {known})")
        return cls(**{**cls.PRESETS[name], **overrides})

    from_preset = preset

    def __repr__(self) -> str:
        """Show the class and the hyperparameters that differ from the defaults, e.g. ``ALS(factors=128)``."""
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = {k: v for k, v in self.get_params().items()
                   if k not in defaults or not _same_value(v, defaults[k])}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # ------------------------------------------------------------------ training
    def fit(self, interactions: Interactions, *, validation: Optional[Interactions] = None,
            callback: Optional[Callback] = None, show_progress: bool = False) -> Recommender:
        """Train from scratch on ``interactions``.

        The fit is atomic: on any failure (Ctrl-C included) the model is left as it was before.
        The per-epoch figures are kept in ``loss_history_``.

        Parameters
        ----------
        interactions : Interactions
            The training data, of the model's feedback kind (explicit ratings for SVD, implicit
            feedback for the ranking models).
        validation : Interactions or None, default None
            Same id space as ``interactions`` or raw-id compatible: after every epoch the model's
            :meth:`validation_metrics` on these data are added to the epoch's figures
            (``val_rmse`` for rating models, ``val_ndcg@10`` and ``val_recall@10`` for ranking
            models), e.g. to stop from a callback; SVD also stops early on them
            (``early_stopping_rounds``). Models without epochs refuse it.
        callback : callable or None, default None
            ``callback(epoch, metrics)`` after every epoch, with a dict of floats (always "loss"
            when the model computes it, plus model-specific figures); it may raise StopTraining.
        show_progress : bool, default False
            Show a progress bar (needs the ``cli`` extra, rich).

        Returns
        -------
        Recommender
            ``self``, fitted.

        Raises
        ------
        DataError
            Empty data, data of the wrong kind, or validation data that do not fit.
        InvalidParameterError
            An invalid hyperparameter or callback, or ``validation`` for a model without epochs.
        TrainingDivergedError
            When the loss, the factors or the scores become NaN/inf or overflow float32.
        InsufficientMemoryError
            When the fit would not fit in the available memory (before anything is allocated).
        """
        if not isinstance(interactions, Interactions):
            raise DataError(f"fit() needs an mfrec Interactions object, got {type(interactions).__name__}")
        if interactions.nnz == 0:
            raise DataError("fit(): the training data are empty")
        if self.feedback == "explicit" and not interactions.is_explicit:
            raise DataError(f"{type(self).__name__} trains on explicit ratings; these interactions are implicit")
        if self.feedback == "implicit" and interactions.is_explicit:
            raise DataError(f"{type(self).__name__} trains on implicit feedback; convert ratings first, e.g. "
                            "interactions.to_implicit(threshold=4)")
        self.check_params()
        if validation is not None:
            if not self.iterative:
                raise InvalidParameterError(f"{type(self).__name__} has no epochs to validate: fit it without "
                                            "validation= and evaluate it afterwards")
            validation = self._check_validation(validation, interactions)
        if callback is not None and not callable(callback):
            raise InvalidParameterError(f"callback must be callable, got {type(callback).__name__}")
        self._check_memory(interactions)
        # Atomic fit: train into a cleared model; on any failure (Ctrl-C included) put back
        # exactly what was there before (the previous fit, or nothing).
        previous = self._fitted_state()
        self._clear_fitted()
        monitor = None
        try:
            self.interactions_ = interactions
            self.user_ids_ = interactions.user_ids
            self.item_ids_ = interactions.item_ids
            self.loss_history_ = []
            monitor = TrainingMonitor(self, callback, show_progress, validation)
            start = time.perf_counter()
            self._training, self._item_vectors_cache = True, None
            self._fit(interactions, validation, monitor)
            self._training = False
            self._item_vectors_cache = None
            self.fit_time_ = time.perf_counter() - start
            self.trained_at_ = datetime.now(timezone.utc).isoformat(timespec="seconds")
            self._check_finite_model()
        except BaseException:
            self._restore_state(previous)
            raise
        finally:
            self._training = False
            if monitor is not None:
                monitor.close()
        return self

    @abc.abstractmethod
    def _fit(self, interactions: Interactions, validation: Optional[Interactions],
             monitor: TrainingMonitor) -> None:
        """Train on ``interactions`` (checked, non-empty, of this model's feedback kind).

        Set the fitted arrays (``user_factors_``, ``item_factors_``, biases) and call
        ``monitor.report(epoch, **metrics)`` after every epoch, stopping when it returns True.
        ``validation`` is already in the training id space; the monitor evaluates it.
        """

    def validation_metrics(self, validation: Interactions) -> dict:
        """Compute the figures ``fit(validation=...)`` adds to every epoch, from the current factors.

        Parameters
        ----------
        validation : Interactions
            Held-out interactions in the training id space.

        Returns
        -------
        dict
            ``val_ndcg@10`` and ``val_recall@10`` (all-item ranking, training items excluded).
        """
        from ..evaluation.evaluate import model_ranking_metrics
        threads = getattr(self, "threads", 0)
        scores = model_ranking_metrics(self, self.interactions_.matrix, validation.matrix, VALIDATION_K,
                                       threads=int(threads) if isinstance(threads, (int, np.integer)) else 0)
        return {f"val_ndcg@{VALIDATION_K}": scores[f"ndcg@{VALIDATION_K}"],
                f"val_recall@{VALIDATION_K}": scores[f"recall@{VALIDATION_K}"]}

    def _check_validation(self, validation, interactions: Interactions) -> Interactions:
        """Return validation data in the training id space, of a kind this model can score."""
        if not isinstance(validation, Interactions):
            raise DataError(f"validation must be an mfrec Interactions object, got {type(validation).__name__} "
                            "(build one with Interactions.from_dataframe)")
        if self.feedback == "explicit" and not validation.is_explicit:
            raise DataError(f"{type(self).__name__} validates on explicit ratings; the validation "
                            "interactions are implicit")
        if not (validation.user_ids is interactions.user_ids and validation.item_ids is interactions.item_ids):
            validation, _ = validation.align_to(interactions)
        return validation

    def _memory_needed(self, interactions: Interactions) -> int:
        """Estimate the bytes a fit allocates.

        Roughly ``_factor_copies`` float32 copies of the user and item vectors (factors + 2 bias
        columns) and ~32 bytes of per-epoch arrays per training entry.
        """
        k = getattr(self, "factors", 0)
        k = int(k) if isinstance(k, (int, np.integer)) else 0
        rows = interactions.n_users + interactions.n_items
        return rows * (k + 2) * 4 * self._factor_copies + 32 * interactions.nnz

    #: float32 copies of all factors a fit holds at once (model + workspace), see _memory_needed
    _factor_copies = 2

    def _check_memory(self, interactions: Interactions) -> None:
        needed = self._memory_needed(interactions)
        hint = "lower factors" if hasattr(self, "factors") else ""
        shown = f"factors={self.factors}, " if hasattr(self, "factors") else ""
        _memory.check_available(needed, f"{type(self).__name__}({shown}{interactions.n_users:,} users x "
                                        f"{interactions.n_items:,} items) fit", hint)

    def _fitted_state(self) -> dict:
        """Return everything fit() sets: public attributes ending in "_" plus the score cache."""
        state = {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")}
        state["_item_vectors_cache"] = getattr(self, "_item_vectors_cache", None)
        return state

    def _restore_state(self, state: dict) -> None:
        self._clear_fitted()
        for key, value in state.items():
            setattr(self, key, value)

    def n_epochs(self) -> Optional[int]:
        """Return the number of epochs or iterations, for progress bars.

        Returns
        -------
        int or None
            The ``epochs`` or ``iterations`` hyperparameter; None when the model has neither.
        """
        for name in ("epochs", "iterations"):
            if hasattr(self, name):
                return getattr(self, name)
        return None

    def _clear_fitted(self) -> None:
        for key in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, key)
        self._item_vectors_cache = None

    def _check_finite_model(self) -> None:
        """Refuse a fit whose factors are NaN/inf, or so large that scores overflow float32."""
        check_finite(self, self.fitted_arrays())
        fits, user_norm, item_norm = scores_fit_float32(self._user_vectors(), self._item_vectors())
        if not fits:
            raise diverged(self, "the fitted factors are so large that scores overflow float32: largest user "
                                 f"vector norm {user_norm:.3g}, item {item_norm:.3g}")

    @property
    def is_fitted(self) -> bool:
        """Whether the model was fitted (or loaded)."""
        return hasattr(self, "item_ids_")

    def require_fitted(self) -> None:
        """Check that the model is fitted.

        Raises
        ------
        NotFittedError
            When :meth:`fit` (or :meth:`load`) has not run yet.
        """
        if not self.is_fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit() first")

    def fitted_arrays(self) -> dict:
        """Return the fitted arrays present (factors, biases, the model's extra arrays).

        Returns
        -------
        dict of str to ndarray
            Attribute name -> array, for the arrays that are set.
        """
        names = ("user_factors_", "item_factors_", "user_biases_", "item_biases_") + tuple(self._extra_arrays)
        return {n: getattr(self, n) for n in names if getattr(self, n, None) is not None}

    # ------------------------------------------------------------------ vectors
    # Subclasses set item_factors_ (n_items, k) and user_factors_ (n_users, k), and optionally
    # item_biases_, user_biases_ and global_mean_.
    def _user_parts(self, factors, biases):
        parts = []
        has_mean = getattr(self, "global_mean_", None) is not None
        if biases is not None or has_mean:
            bias = np.zeros(len(factors), dtype=np.float32) if biases is None else biases
            parts.append((bias + (self.global_mean_ if has_mean else 0.0))[:, None])
        if getattr(self, "item_biases_", None) is not None:
            parts.append(np.ones((len(factors), 1), dtype=np.float32))
        if not parts:  # no bias to fold in: the factors themselves (internal callers only read them)
            return factors.astype(np.float32, copy=False)
        parts.append(factors)
        return np.hstack(parts).astype(np.float32, copy=False)

    def _user_vectors(self, user_index=None) -> np.ndarray:
        """Return the ranking vectors of users (biases folded in), all users or the given indices."""
        idx = slice(None) if user_index is None else user_index
        biases = getattr(self, "user_biases_", None)
        return self._user_parts(self.user_factors_[idx], None if biases is None else biases[idx])

    def _item_vectors(self) -> np.ndarray:
        """Return the ranking vectors of all items (biases folded in), matching _user_vectors."""
        cached = getattr(self, "_item_vectors_cache", None)
        if cached is not None:
            return cached
        parts = []
        n = self.item_factors_.shape[0]
        if getattr(self, "user_biases_", None) is not None or getattr(self, "global_mean_", None) is not None:
            parts.append(np.ones((n, 1), dtype=np.float32))
        if getattr(self, "item_biases_", None) is not None:
            parts.append(self.item_biases_[:, None])
        parts.append(self.item_factors_)
        vectors = np.hstack(parts).astype(np.float32, copy=False)
        if not getattr(self, "_training", False):  # factors change in place while training
            self._item_vectors_cache = vectors
        return vectors

    def ranking_vectors(self) -> Optional[tuple[np.ndarray, np.ndarray]]:
        """Return the vectors whose dot products are the ranking scores, for kernels that score by themselves.

        ``score_users(idx)`` equals ``user_vectors[idx] @ item_vectors.T``. A subclass that
        overrides :meth:`score_users` gets None here unless it overrides this method too, so its
        own scores are the ones evaluated.

        Returns
        -------
        tuple of ndarray or None
            (user_vectors (n_users, d), item_vectors (n_items, d)), float32, biases folded in;
            read-only views (they may share memory with the model).
        """
        if type(self).score_users is not Recommender.score_users:
            return None
        return read_only(self._user_vectors()), read_only(self._item_vectors())

    def score_users(self, user_index: np.ndarray) -> np.ndarray:
        """Score all items for the given user indices (what ranking and evaluation use).

        Parameters
        ----------
        user_index : ndarray of int
            Internal user indices (rows of the training matrix).

        Returns
        -------
        ndarray of float32, shape (len(user_index), n_items)
            The ranking scores.
        """
        return self._user_vectors(user_index) @ self._item_vectors().T

    def predict_indices(self, user_index: np.ndarray, item_index: np.ndarray) -> np.ndarray:
        """Score (user index, item index) pairs.

        Parameters
        ----------
        user_index, item_index : ndarray of int
            Internal indices, of equal length.

        Returns
        -------
        ndarray of float32
            One score per pair (rating models: predicted ratings).
        """
        u = self._user_vectors(user_index)
        v = self._item_vectors()[item_index]
        return np.einsum("ij,ij->i", u, v).astype(np.float32)

    def _similarity_vectors(self, which: str):
        """Return (query vectors, candidate vectors) whose dot product is the similarity of two items.

        ``which`` is "item" or "user". By default unit-norm factors, i.e. cosine similarity,
        biases excluded.
        """
        factors = self.item_factors_ if which == "item" else self.user_factors_
        unit = normalize_rows(factors)
        return unit, unit

    # ------------------------------------------------------------------ public queries
    def recommend(self, users, n: int = 10, *, exclude_seen: bool = True, items=None, exclude=None):
        """Recommend the top-n items for one user or a batch of users (raw ids).

        Parameters
        ----------
        users : raw user id or sequence of raw user ids
            Users of the training data.
        n : int, default 10
            Items per user; fewer come back when exclusions leave fewer candidates.
        exclude_seen : bool, default True
            Drop each user's training items.
        items : sequence of raw item ids or None, default None
            Restrict the candidates to these items.
        exclude : sequence of raw item ids or None, default None
            Remove these items for everyone.

        Returns
        -------
        tuple of (ndarray, ndarray) or list of such tuples
            One user: (item_ids, scores), best first; a list/array of users: one pair per user.

        Raises
        ------
        NotFittedError
            Before fit.
        UnknownIdError
            For a user or item id that is not in the training data.
        InvalidParameterError
            When ``n`` is not a positive integer.
        """
        single, idx, scores = self._recommend_indices(users, n, exclude_seen, items, exclude)
        return self._package(idx, scores, self.item_ids_, single)

    def recommend_arrays(self, users, n: int = 10, *, exclude_seen: bool = True, items=None,
                         exclude=None) -> tuple[np.ndarray, np.ndarray]:
        """Recommend the top-n items for a batch of users as two 2-D arrays (raw ids, scores).

        The same lists as :meth:`recommend`, without a Python tuple per user: row r holds user
        ``users[r]``'s items, best first, padded where exclusions leave fewer than n candidates.

        Parameters
        ----------
        users : raw user id or sequence of raw user ids
            Users of the training data (one id gives one row).
        n : int, default 10
            Columns: items per user.
        exclude_seen : bool, default True
            Drop each user's training items.
        items : sequence of raw item ids or None, default None
            Restrict the candidates to these items.
        exclude : sequence of raw item ids or None, default None
            Remove these items for everyone.

        Returns
        -------
        item_ids : ndarray, shape (n_users, min(n, n_items))
            Raw item ids (the training data's dtype); padded slots hold -1 (integer ids) or ""
            (string ids).
        scores : ndarray of float32, same shape
            Their scores; -inf in the padded slots (``np.isfinite(scores)`` marks the real ones).

        Raises
        ------
        NotFittedError
            Before fit.
        UnknownIdError
            For a user or item id that is not in the training data.
        InvalidParameterError
            When ``n`` is not a positive integer.
        """
        _, idx, scores = self._recommend_indices(users, n, exclude_seen, items, exclude)
        raw = self.item_ids_.raw
        item_ids = np.full(idx.shape, -1 if raw.dtype.kind in "iu" else "", dtype=raw.dtype)
        valid = idx >= 0
        item_ids[valid] = raw[idx[valid]]
        return item_ids, scores

    def _recommend_indices(self, users, n, exclude_seen, items, exclude):
        """Return (one user given, top item indices (-1 padded), scores) of :meth:`recommend`."""
        self.require_fitted()
        single, user_index = self._lookup(users, self.user_ids_)
        n = _check_n(n)
        allowed = None if items is None else self.item_ids_.indices(_as_list(items))
        banned = None if exclude is None else self.item_ids_.indices(_as_list(exclude))
        idx, scores = top_k(self._user_vectors(user_index), self._item_vectors(), n,
                            exclude=self.interactions_.matrix if exclude_seen else None,
                            exclude_rows=user_index, allowed_items=allowed, banned_items=banned)
        return single, idx, scores

    def similar_items(self, items, n: int = 10, *, min_interactions: int = 0, similarity: str = "shrunk"):
        """Find the n items most similar to each given item, itself excluded.

        A model without item factors (Popularity) has its own similarity.

        Parameters
        ----------
        items : raw item id or sequence of raw item ids
            The query items.
        n : int, default 10
            Neighbours per item.
        min_interactions : int, default 0
            Keep only neighbours with at least that many training interactions.
        similarity : {"shrunk", "cosine"}, default "shrunk"
            "shrunk": cosine of the whitened item factors, shrunk by the number of users the two
            items share (:mod:`mfrec.similarity`); "cosine": plain cosine of the item factors.

        Returns
        -------
        tuple of (ndarray, ndarray) or list of such tuples
            One item: (item_ids, similarities), most similar first; a sequence: one pair per item.

        Raises
        ------
        NotFittedError
            Before fit.
        UnknownIdError
            For an item id that is not in the training data.
        InvalidParameterError
            For an unknown ``similarity``, a bad ``n`` or ``min_interactions``.
        """
        if similarity not in SIMILARITIES:
            raise InvalidParameterError(f"similarity must be one of {', '.join(SIMILARITIES)}; got {similarity!r}")
        self.require_fitted()
        if similarity == "cosine" or self.item_factors_.shape[1] == 0:  # no factors: Popularity's own
            return self._similar(items, n, "item", min_interactions)
        self.require_fitted()
        single, index = self._lookup(items, self.item_ids_)
        n = _check_n(n)
        allowed = self._min_interactions_filter(min_interactions, "item")
        idx, scores = self._item_similarity().top(index, n, allowed)
        return self._package(idx, scores, self.item_ids_, single)

    def _item_similarity(self) -> ItemSimilarity:
        """Return the default item similarity, built once per fitted state (factors and training data)."""
        # keyed by the arrays themselves (identity), not their id(): a freed array's id can be
        # reused by the next fit's factors, which would serve a stale similarity
        factors, matrix = self.item_factors_, self.interactions_.matrix
        cached = getattr(self, "_item_similarity_cache", None)
        if cached is None or cached[0] is not factors or cached[1] is not matrix:
            cached = (factors, matrix, ItemSimilarity(factors, matrix))
            if not getattr(self, "_training", False):
                self._item_similarity_cache = cached
        return cached[2]

    def similar_users(self, users, n: int = 10, *, min_interactions: int = 0):
        """Find the n users most similar to each given user (cosine of user factors), itself excluded.

        Parameters
        ----------
        users : raw user id or sequence of raw user ids
            The query users.
        n : int, default 10
            Neighbours per user.
        min_interactions : int, default 0
            Keep only neighbours with at least that many training interactions.

        Returns
        -------
        tuple of (ndarray, ndarray) or list of such tuples
            One user: (user_ids, similarities), most similar first; a sequence: one pair per user.

        Raises
        ------
        NotFittedError
            Before fit.
        UnknownIdError
            For a user id that is not in the training data.
        """
        return self._similar(users, n, "user", min_interactions)

    def _similar(self, raw_ids, n, which, min_interactions=0):
        self.require_fitted()
        ids = self.item_ids_ if which == "item" else self.user_ids_
        single, index = self._lookup(raw_ids, ids)
        n = _check_n(n)
        allowed = self._min_interactions_filter(min_interactions, which)
        queries, candidates = self._similarity_vectors(which)
        idx, scores = top_k(queries[index], candidates, n, self_items=index, allowed_items=allowed)
        return self._package(idx, scores, ids, single)

    def _min_interactions_filter(self, min_interactions, which: str):
        """Return the indices of the items (or users) with >= min_interactions training interactions, or None."""
        if isinstance(min_interactions, bool) or not isinstance(min_interactions, (int, np.integer)) \
                or min_interactions < 0:
            raise InvalidParameterError(f"min_interactions must be a non-negative integer, got {min_interactions!r}")
        if min_interactions == 0:
            return None
        matrix = self.interactions_.matrix
        counts = self.interactions_.item_counts() if which == "item" else np.diff(matrix.indptr)
        return np.flatnonzero(counts >= min_interactions)

    def predict(self, users, items):
        """Score (user, item) pairs given as raw ids.

        Parameters
        ----------
        users, items : raw id or sequence of raw ids
            Two scalars, or two sequences of equal length.

        Returns
        -------
        float or ndarray of float32
            Rating models: predicted ratings; ranking models: ranking scores. A float for two
            scalars.

        Raises
        ------
        NotFittedError
            Before fit.
        UnknownIdError
            For an id that is not in the training data.
        InvalidParameterError
            When the two sequences differ in length.
        """
        self.require_fitted()
        single_u, u = self._lookup(users, self.user_ids_)
        single_i, i = self._lookup(items, self.item_ids_)
        if len(u) != len(i):
            raise InvalidParameterError(f"predict() got {len(u)} users but {len(i)} items")
        out = self.predict_indices(u, i)
        return float(out[0]) if single_u and single_i else out

    def recommend_new_user(self, items, values=None, n: int = 10, *, exclude_seen: bool = True):
        """Recommend for a user who was not in training (fold-in).

        The user's vector is folded in against the fixed item factors (each model's fold-in is
        described with its maths in :mod:`mfrec.kernels`).

        Parameters
        ----------
        items : sequence of raw item ids
            Items the user interacted with (at least one).
        values : sequence of float or None, default None
            Their ratings (explicit models) or confidences (weighted implicit models); None: 1 each.
        n : int, default 10
            Items to return.
        exclude_seen : bool, default True
            Drop the given items from the list.

        Returns
        -------
        tuple of (ndarray, ndarray)
            (item_ids, scores), best first.

        Raises
        ------
        InvalidParameterError
            No items, values that are not finite numbers or do not match the items.
        TrainingDivergedError
            When the folded-in vector is not finite or its scores overflow float32.
        NotImplementedError
            For a model without fold-in.
        """
        self.require_fitted()
        n = _check_n(n)
        item_index = self.item_ids_.indices(_as_list(items))
        if len(item_index) == 0:
            raise InvalidParameterError("recommend_new_user() needs at least one item")
        if values is None:
            vals: np.ndarray = np.ones(len(item_index), dtype=np.float32)
        else:
            try:
                vals = np.asarray(values, dtype=np.float64).ravel()
            except (TypeError, ValueError):
                raise InvalidParameterError(f"recommend_new_user(): values must be numbers, got {values!r}") from None
            if len(vals) != len(item_index):
                raise InvalidParameterError(f"recommend_new_user() got {len(item_index)} items but {len(vals)} values")
            if not np.all(np.isfinite(vals)):
                raise InvalidParameterError("recommend_new_user(): values contain NaN/inf")
            if np.any(np.abs(vals) > FLOAT32_MAX):
                raise InvalidParameterError(f"recommend_new_user(): value {vals[np.abs(vals) > FLOAT32_MAX][0]:g} "
                                            f"is beyond the float32 range (|x| <= {FLOAT32_MAX:.3g})")
            vals = vals.astype(np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            vector = np.asarray(self._new_user_vector(item_index, vals), dtype=np.float32)
        if not np.all(np.isfinite(vector)) or not scores_fit_float32(vector, self._item_vectors())[0]:
            raise diverged(self, "the folded-in user vector is not finite or its scores overflow float32",
                           what="fold-in", hint=f"the values given are too large (or {divergence_hint(self)})")
        seen = sp.csr_matrix((np.ones(len(item_index)), item_index, [0, len(item_index)]),
                             shape=(1, len(self.item_ids_)))
        idx, scores = top_k(vector, self._item_vectors(), n, exclude=seen if exclude_seen else None,
                            exclude_rows=np.array([0]))
        return self._package(idx, scores, self.item_ids_, True)

    def _new_user_vector(self, item_index: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Return the (1, d) ranking vector of a new user, matching _item_vectors (from _fold_in)."""
        factors, bias = self._fold_in(item_index, values)
        return self._user_parts(np.asarray(factors, dtype=np.float32)[None, :],
                                None if bias is None else np.array([bias], dtype=np.float32))

    def _fold_in(self, item_index: np.ndarray, values: np.ndarray):
        """Return (user_factors 1-D, user_bias or None) for a new user; item factors stay fixed."""
        raise NotImplementedError(f"{type(self).__name__} does not support fold-in")

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _lookup(raw, ids: IdMap):
        single = np.ndim(raw) == 0
        return single, ids.indices([raw] if single else _as_list(raw))

    @staticmethod
    def _package(idx, scores, ids: IdMap, single: bool):
        rows = []
        for r in range(idx.shape[0]):
            valid = idx[r] >= 0
            rows.append((ids.to_raw(idx[r][valid]), scores[r][valid]))
        return rows[0] if single else rows

    # ------------------------------------------------------------------ persistence
    def save(self, path) -> Path:
        """Save the model to ``path``: arrays and a JSON header, no pickle (:mod:`mfrec.persistence`).

        Parameters
        ----------
        path : str or Path
            The file; ``.npz`` is added if missing.

        Returns
        -------
        Path
            The file written.
        """
        from .. import persistence
        return persistence.save_model(self, path)

    @classmethod
    def load(cls, path) -> Recommender:
        """Load a model saved by :meth:`save`.

        Nothing in the file is trusted (:func:`mfrec.persistence.load_model`).

        Parameters
        ----------
        path : str or Path
            A model file.

        Returns
        -------
        Recommender
            The fitted model; ``Recommender.load`` accepts any model class, ``SVD.load`` (etc.)
            only its own.

        Raises
        ------
        ModelFileError
            When the file is not a valid mfrec model file, or holds another class.
        """
        from .. import persistence
        return persistence.load_model(path, None if cls is Recommender else cls)

    def _check_loaded(self) -> None:
        """Check the loaded arrays' shapes against the training matrix and ``factors`` (called by load).

        A model with extra arrays checks them too.
        """
        from ..errors import ModelFileError
        n_users, n_items = self.interactions_.shape
        items, users = getattr(self, "item_factors_", None), getattr(self, "user_factors_", None)
        if items is None or items.ndim != 2 or items.shape[0] != n_items:
            raise ModelFileError(f"item factors missing or not of shape ({n_items}, k)")
        if users is None or users.ndim != 2 or users.shape[0] != n_users:
            raise ModelFileError(f"user factors missing or not of shape ({n_users}, k)")
        if users.shape[1] != items.shape[1]:
            raise ModelFileError(f"user factors have {users.shape[1]} columns but item factors {items.shape[1]}")
        k = getattr(self, "factors", None)
        if k is not None and items.shape[1] != k:
            raise ModelFileError(f"factors have {items.shape[1]} columns but the model has factors={k}")
        for name, n in (("user_biases_", n_users), ("item_biases_", n_items)):
            value = getattr(self, name, None)
            if value is not None and value.shape != (n,):
                raise ModelFileError(f"{name} has shape {value.shape}, expected ({n},)")


def _same_value(a, b) -> bool:
    """Whether a parameter equals its default (NaN equals NaN; arrays never count as equal)."""
    try:
        same = a is b or (type(a) is type(b) and a == b)
        if not same and isinstance(a, float) and isinstance(b, float):
            same = np.isnan(a) and np.isnan(b)
        return bool(same)
    except (TypeError, ValueError):
        return False


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise InvalidParameterError(f"n must be a positive integer, got {n!r}")
    return int(n)


def _as_list(values) -> list:
    if isinstance(values, (str, bytes)) or np.ndim(values) == 0:
        return [values]
    return list(np.asarray(values).ravel().tolist()) if not isinstance(values, list) else values

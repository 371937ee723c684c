"""The model contract shared by every mfrec model.

A model subclasses :class:`Recommender`, stores its hyperparameters in ``__init__`` (keyword
arguments only, nothing else: scikit-learn's rule), validates them in ``_check_params`` and trains
in ``_fit``. Everything else (recommend, similar items/users, predict, fold-in, save/load,
callbacks, loss history, divergence checks) lives here, so all models behave the same way.

Scores are dot products of a user vector and an item vector. A model provides factors and
optional biases; this class folds the biases into the vectors:
``[mu + b_u, 1, p_u] . [1, b_i, q_i] = mu + b_u + b_i + p_u . q_i``.
"""
from __future__ import annotations

import inspect
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import scipy.sparse as sp

from .. import _memory, persistence
from ..data.interactions import Interactions
from ..errors import DataError, InvalidParameterError, ModelFileError, NotFittedError, TrainingDivergedError
from ..ids import IdMap
from ..retrieval import normalize_rows, top_k
from ..similarity import SIMILARITIES, ItemSimilarity

MODEL_REGISTRY: dict[str, type] = {}

#: the largest finite float32; scores, factors and values beyond it are inf in the kernels
FLOAT32_MAX = float(np.finfo(np.float32).max)

Callback = Callable[[int, dict], None]


class StopTraining(Exception):
    """Raise from a callback to end training after the current epoch (the model stays fitted)."""


class Recommender:
    """Base class of mfrec models. See the module docstring for the contract."""

    #: the data this model trains on: "explicit" (ratings) or "implicit" (positives/confidences)
    feedback = "implicit"
    #: name used in model files, the CLI and tables
    name = "base"
    #: named hyperparameter sets, e.g. {"ml-1m": {...}}: tuned presets documented by each model
    PRESETS: dict = {}
    #: fitted array attributes saved in model files (besides factors/biases known to the base)
    _extra_arrays: tuple = ()
    #: fitted scalar attributes saved in model files
    _extra_scalars: tuple = ()
    #: the bias vectors this model fits (besides user_factors_/item_factors_): part of the
    #: allow-list of arrays that load() restores
    _bias_names: tuple = ("user_biases_", "item_biases_")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        MODEL_REGISTRY[cls.__name__] = cls

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def get_params(self) -> dict:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> "Recommender":
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise InvalidParameterError(f"{type(self).__name__} has no parameter {key!r} (parameters: {', '.join(valid)})")
            setattr(self, key, value)
        return self

    @classmethod
    def preset(cls, name: str, **overrides) -> "Recommender":
        """A model with the named preset's hyperparameters (see PRESETS), then ``overrides``,
        e.g. ``ALS.preset("ml-1m", threads=1)``."""
        if name not in cls.PRESETS:
            known = ", ".join(sorted(cls.PRESETS)) or "none"
            raise InvalidParameterError(f"{cls.__name__} has no preset {name!r} (presets: {known})")
        return cls(**{**cls.PRESETS[name], **overrides})

    from_preset = preset

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_params(self) -> None:
        """Validate hyperparameters; subclasses raise ValueError naming the parameter."""

    # ------------------------------------------------------------------ training
    def fit(self, interactions: Interactions, *, validation: Optional[Interactions] = None,
            callback: Optional[Callback] = None, show_progress: bool = False) -> "Recommender":
        """Train from scratch on ``interactions``; returns self.

        callback(epoch, metrics) is called after every epoch with a dict of floats (always "loss"
        when the model computes it, plus model-specific figures); it may raise StopTraining.
        ``validation`` (same id space as ``interactions`` or raw-id compatible) enables early
        stopping for models that support it. The per-epoch dicts are kept in ``loss_history_``.
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
        self._check_params()
        if validation is not None:
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
            monitor = TrainingMonitor(self, callback, show_progress)
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

    def _check_validation(self, validation, interactions: Interactions) -> Interactions:
        """Validation data in the training id space, of a kind this model can score."""
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
        """Bytes a fit allocates, roughly: ``_factor_copies`` float32 copies of the user and item
        vectors (factors + 2 bias columns) and ~32 bytes of per-epoch arrays per training entry."""
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
        """Everything fit() sets: public attributes ending in "_" plus the score cache."""
        state = {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")}
        state["_item_vectors_cache"] = getattr(self, "_item_vectors_cache", None)
        return state

    def _restore_state(self, state: dict) -> None:
        self._clear_fitted()
        for key, value in state.items():
            setattr(self, key, value)

    def _fit(self, interactions: Interactions, validation: Optional[Interactions], monitor: "TrainingMonitor"):
        raise NotImplementedError

    def _n_epochs(self) -> Optional[int]:
        """Number of epochs/iterations, for progress bars (None if unknown)."""
        for name in ("epochs", "iterations"):
            if hasattr(self, name):
                return getattr(self, name)
        return None

    def _clear_fitted(self) -> None:
        for key in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, key)
        self._item_vectors_cache = None

    def _check_finite_model(self) -> None:
        """Refuse a fit whose factors are NaN/inf, or so large that scores overflow float32
        (|u . v| <= |u| |v|, Cauchy-Schwarz, over the largest user and item vectors)."""
        for name, arr in self._fitted_arrays().items():
            if not np.all(np.isfinite(arr)):
                raise TrainingDivergedError(
                    f"{type(self).__name__}: training diverged ({name} contains NaN/inf); {self._divergence_hint()}")
        with np.errstate(over="ignore", invalid="ignore"):
            user_norm = _max_row_norm(self._user_vectors())
            item_norm = _max_row_norm(self._item_vectors())
            bound = user_norm * item_norm
        if not np.isfinite(bound) or bound > FLOAT32_MAX:
            raise TrainingDivergedError(
                f"{type(self).__name__}: the fitted factors are so large that scores overflow float32 "
                f"(largest user vector norm {user_norm:.3g}, item {item_norm:.3g}); {self._divergence_hint()}")

    def _divergence_hint(self) -> str:
        """Which hyperparameters to change, with their current values."""
        named = [f"{p} (now {getattr(self, p)!r})" for p in ("learning_rate", "init_std")
                 if getattr(self, p, None) is not None]
        return ("lower " + " or ".join(named) + " or raise the regularization") if named else \
            "check the training data"

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "item_ids_")

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit() first")

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
        parts.append(factors)
        return np.hstack(parts).astype(np.float32, copy=False)

    def _user_vectors(self, user_index=None) -> np.ndarray:
        """Ranking vectors of users (biases folded in), all users or the given indices."""
        idx = slice(None) if user_index is None else user_index
        biases = getattr(self, "user_biases_", None)
        return self._user_parts(self.user_factors_[idx], None if biases is None else biases[idx])

    def _item_vectors(self) -> np.ndarray:
        """Ranking vectors of all items (biases folded in), matching _user_vectors."""
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

    def _score_users(self, user_index: np.ndarray) -> np.ndarray:
        """Scores of all items for the given user indices, shape (len(user_index), n_items)."""
        return self._user_vectors(user_index) @ self._item_vectors().T

    def _predict_indices(self, user_index: np.ndarray, item_index: np.ndarray) -> np.ndarray:
        u = self._user_vectors(user_index)
        v = self._item_vectors()[item_index]
        return np.einsum("ij,ij->i", u, v).astype(np.float32)

    def _similarity_vectors(self, which: str):
        """(query vectors, candidate vectors) whose dot product is the similarity of two items
        (or users): by default unit-norm factors, i.e. cosine similarity, biases excluded."""
        factors = self.item_factors_ if which == "item" else self.user_factors_
        unit = normalize_rows(factors)
        return unit, unit

    # ------------------------------------------------------------------ public queries
    def recommend(self, users, n: int = 10, *, exclude_seen: bool = True, items=None, exclude=None):
        """Top-n items for one user or a batch of users (raw ids).

        One user gives (item_ids, scores) arrays, best first; a list/array of users gives a list
        of such pairs. exclude_seen drops the user's training items; ``items`` restricts the
        candidates to these raw item ids; ``exclude`` removes these raw item ids for everyone.
        Fewer than n items come back when exclusions leave fewer candidates.
        """
        self._require_fitted()
        single, user_index = self._lookup(users, self.user_ids_)
        n = _check_n(n)
        allowed = None if items is None else self.item_ids_.indices(_as_list(items))
        banned = None if exclude is None else self.item_ids_.indices(_as_list(exclude))
        idx, scores = top_k(self._user_vectors(user_index), self._item_vectors(), n,
                            exclude=self.interactions_.matrix if exclude_seen else None,
                            exclude_rows=user_index, allowed_items=allowed, banned_items=banned)
        return self._package(idx, scores, self.item_ids_, single)

    def similar_items(self, items, n: int = 10, *, min_interactions: int = 0, similarity: str = "shrunk"):
        """The n items most similar to each given item, itself excluded.

        ``similarity="shrunk"`` (default): cosine of the whitened item factors, shrunk by the
        number of users the two items share (:mod:`mfrec.similarity`); ``"cosine"``: plain
        cosine of the item factors. ``min_interactions`` keeps only neighbours with at least that
        many training interactions. A model without item factors (Popularity) has its own similarity."""
        if similarity not in SIMILARITIES:
            raise InvalidParameterError(f"similarity must be one of {', '.join(SIMILARITIES)}; got {similarity!r}")
        self._require_fitted()
        if similarity == "cosine" or self.item_factors_.shape[1] == 0:  # no factors: Popularity's own
            return self._similar(items, n, "item", min_interactions)
        self._require_fitted()
        single, index = self._lookup(items, self.item_ids_)
        n = _check_n(n)
        allowed = self._min_interactions_filter(min_interactions, "item")
        idx, scores = self._item_similarity().top(index, n, allowed)
        return self._package(idx, scores, self.item_ids_, single)

    def _item_similarity(self) -> ItemSimilarity:
        """The default item similarity, built once per fitted state (factors and training data)."""
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
        """The n users most similar to each given user (cosine of user factors), itself excluded."""
        return self._similar(users, n, "user", min_interactions)

    def _similar(self, raw_ids, n, which, min_interactions=0):
        self._require_fitted()
        ids = self.item_ids_ if which == "item" else self.user_ids_
        single, index = self._lookup(raw_ids, ids)
        n = _check_n(n)
        allowed = self._min_interactions_filter(min_interactions, which)
        queries, candidates = self._similarity_vectors(which)
        idx, scores = top_k(queries[index], candidates, n, self_items=index, allowed_items=allowed)
        return self._package(idx, scores, ids, single)

    def _min_interactions_filter(self, min_interactions, which: str):
        """Indices of the items (or users) with >= min_interactions training interactions, or None."""
        if isinstance(min_interactions, bool) or not isinstance(min_interactions, (int, np.integer)) \
                or min_interactions < 0:
            raise InvalidParameterError(f"min_interactions must be a non-negative integer, got {min_interactions!r}")
        if min_interactions == 0:
            return None
        matrix = self.interactions_.matrix
        counts = self.interactions_.item_counts() if which == "item" else np.diff(matrix.indptr)
        return np.flatnonzero(counts >= min_interactions)

    def predict(self, users, items):
        """Scores of (user, item) pairs given as raw ids (scalars, or two equal-length sequences).
        Rating models return predicted ratings; ranking models return ranking scores."""
        self._require_fitted()
        single_u, u = self._lookup(users, self.user_ids_)
        single_i, i = self._lookup(items, self.item_ids_)
        if len(u) != len(i):
            raise InvalidParameterError(f"predict() got {len(u)} users but {len(i)} items")
        out = self._predict_indices(u, i)
        return float(out[0]) if single_u and single_i else out

    def recommend_new_user(self, items, values=None, n: int = 10, *, exclude_seen: bool = True):
        """Recommend for a user who was not in training, from the raw ids of items they interacted
        with (and their ratings or confidences for explicit/weighted models): the user's vector
        is folded in against the fixed item factors. Returns (item_ids, scores)."""
        self._require_fitted()
        n = _check_n(n)
        item_index = self.item_ids_.indices(_as_list(items))
        if len(item_index) == 0:
            raise InvalidParameterError("recommend_new_user() needs at least one item")
        if values is None:
            vals = np.ones(len(item_index), dtype=np.float32)
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
            scale = _max_row_norm(vector) * _max_row_norm(self._item_vectors())
        if not np.all(np.isfinite(vector)) or not np.isfinite(scale) or scale > FLOAT32_MAX:
            raise TrainingDivergedError(f"{type(self).__name__}: the folded-in user vector is not finite or its "
                                        "scores overflow float32; the values given are too large (or "
                                        f"{self._divergence_hint()})")
        seen = sp.csr_matrix((np.ones(len(item_index)), item_index, [0, len(item_index)]),
                             shape=(1, len(self.item_ids_)))
        idx, scores = top_k(vector, self._item_vectors(), n, exclude=seen if exclude_seen else None,
                            exclude_rows=np.array([0]))
        return self._package(idx, scores, self.item_ids_, True)

    def _new_user_vector(self, item_index: np.ndarray, values: np.ndarray) -> np.ndarray:
        """(1, d) ranking vector of a new user, matching _item_vectors (from _fold_in)."""
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
    def _fitted_arrays(self) -> dict:
        names = ("user_factors_", "item_factors_", "user_biases_", "item_biases_") + tuple(self._extra_arrays)
        return {n: getattr(self, n) for n in names if getattr(self, n, None) is not None}

    def save(self, path) -> Path:
        """Save to ``path`` (.npz added if missing): arrays + JSON header, no pickle."""
        self._require_fitted()
        inter = self.interactions_
        arrays = {f"fitted:{k}": v for k, v in self._fitted_arrays().items()}
        arrays.update({"train:indptr": inter.matrix.indptr, "train:indices": inter.matrix.indices,
                       "train:data": inter.matrix.data, "ids:user": self.user_ids_.raw,
                       "ids:item": self.item_ids_.raw})
        meta = inter.item_metadata
        meta_cols = []
        if meta is not None:
            aligned = meta.reindex(self.item_ids_.raw)
            for col in aligned.columns:
                values = aligned[col]
                if values.dtype.kind in "iuf":
                    arrays[f"meta:{col}"] = values.to_numpy()
                else:
                    arrays[f"meta:{col}"] = values.fillna("").astype(str).to_numpy().astype(str)
                meta_cols.append(col)
        scalars = {"global_mean_": getattr(self, "global_mean_", None), "fit_time_": getattr(self, "fit_time_", None),
                   "trained_at_": getattr(self, "trained_at_", None)}
        scalars.update({k: getattr(self, k, None) for k in self._extra_scalars})
        header = {
            "model_class": type(self).__name__,
            "mfrec_version": _version(),
            "params": _jsonable_params(self.get_params()),
            "attributes": {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in scalars.items()},
            "loss_history": _jsonable(self.loss_history_),
            "interactions": {"kind": inter.kind, "rating_scale": inter.rating_scale,
                             "shape": list(inter.shape), "metadata_columns": meta_cols},
        }
        return persistence.write_archive(path, header, arrays)

    @classmethod
    def load(cls, path) -> "Recommender":
        """Load a model saved by :meth:`save`. ``Recommender.load`` accepts any model class;
        ``SVD.load`` (etc.) refuses a file holding another class.

        Nothing in the file is trusted: every array's shape, dtype, finiteness and index range is
        checked, and only the class's own fitted arrays and scalars (an allow-list) are restored,
        so a damaged or crafted file fails here with a ModelFileError, never later."""
        header, arrays = persistence.read_archive(path)
        class_name = header.get("model_class")
        model_cls = MODEL_REGISTRY.get(class_name) if isinstance(class_name, str) else None
        if model_cls is None:
            raise ModelFileError(f"{path}: unknown model class {class_name!r}")
        if cls is not Recommender and model_cls is not cls:
            raise ModelFileError(f"{path} holds a {class_name} model, not a {cls.__name__}")
        try:
            model = model_cls._from_archive(header, arrays)
        except ModelFileError as exc:
            raise ModelFileError(f"{path}: {exc}") from None
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise ModelFileError(f"{path}: the model file is incomplete or corrupted "
                                 f"({type(exc).__name__}: {exc})") from None
        return model

    @classmethod
    def _from_archive(cls, header: dict, arrays: dict) -> "Recommender":
        params = header.get("params")
        if not isinstance(params, dict) or not set(params) <= set(cls._param_names()):
            raise ModelFileError(f"the parameters {params!r} are not those of {cls.__name__}")
        model = cls(**params)
        try:
            model._check_params()
        except InvalidParameterError as exc:
            raise ModelFileError(f"bad hyperparameter in the file: {exc}") from None
        info = header.get("interactions")
        if not isinstance(info, dict):
            raise ModelFileError("the header has no interactions section")
        user_ids = IdMap(_array(arrays, "ids:user", kinds="iuU", ndim=1), kind="user")
        item_ids = IdMap(_array(arrays, "ids:item", kinds="iuU", ndim=1), kind="item")
        shape = info.get("shape")
        if shape != [len(user_ids), len(item_ids)]:
            raise ModelFileError(f"matrix shape {shape!r} does not match {len(user_ids)} user and "
                                 f"{len(item_ids)} item ids")
        matrix = _checked_csr(arrays, len(user_ids), len(item_ids))
        kind, scale = info.get("kind"), info.get("rating_scale")
        if kind not in ("explicit", "implicit"):
            raise ModelFileError(f"unknown interactions kind {kind!r}")
        if scale is not None and not (isinstance(scale, list) and len(scale) == 2
                                      and all(_is_finite_number(v) for v in scale) and scale[0] < scale[1]):
            raise ModelFileError(f"bad rating scale {scale!r}")
        meta = None
        columns = info.get("metadata_columns") or []
        if columns:
            import pandas as pd
            meta = pd.DataFrame({c: _array(arrays, f"meta:{c}", kinds="iufU", shape=(len(item_ids),),
                                        finite=False)  # metadata may be missing (NaN year)
                                 for c in columns}, index=pd.Index(item_ids.raw, name="item"))
        model.interactions_ = Interactions(matrix, user_ids, item_ids, item_metadata=meta, kind=kind,
                                           rating_scale=scale)
        model.user_ids_, model.item_ids_ = user_ids, item_ids
        allowed_arrays = set(model._fitted_array_names())
        for key, value in arrays.items():
            if key.startswith("fitted:"):
                name = key[len("fitted:"):]
                if name not in allowed_arrays:
                    raise ModelFileError(f"unexpected array {key!r} for {cls.__name__}")
                if value.dtype != np.float32:
                    raise ModelFileError(f"array {key!r} has dtype {value.dtype}, expected float32")
                if not np.all(np.isfinite(value)):
                    raise ModelFileError(f"array {key!r} contains NaN/inf")
                setattr(model, name, value)
            elif not key.startswith(("train:", "ids:", "meta:")):
                raise ModelFileError(f"unexpected array {key!r}")
        allowed_scalars = {"global_mean_", "fit_time_", "trained_at_", *cls._extra_scalars}
        attributes = header.get("attributes", {})
        if not isinstance(attributes, dict):
            raise ModelFileError("the header's attributes are not a mapping")
        for key, value in attributes.items():
            if key not in allowed_scalars:
                raise ModelFileError(f"unexpected attribute {key!r} for {cls.__name__}")
            if value is None:
                continue
            if key == "trained_at_":  # an ISO date string (shown by mfrec serve)
                if not isinstance(value, str) or len(value) > 40:
                    raise ModelFileError(f"attribute {key!r} = {value!r} is not a date")
                setattr(model, key, value)
                continue
            if key == "global_mean_" and cls.feedback != "explicit":
                raise ModelFileError(f"unexpected attribute {key!r} for {cls.__name__}")
            if not _is_finite_number(value):
                raise ModelFileError(f"attribute {key!r} = {value!r} is not a finite number")
            setattr(model, key, value)
        history = header.get("loss_history", [])
        if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
            raise ModelFileError("the loss history is not a list of records")
        model.loss_history_ = history
        model._item_vectors_cache = None
        model._check_loaded()
        return model

    def _fitted_array_names(self) -> tuple:
        """The fitted arrays a model file of this class may hold (the allow-list of load)."""
        return ("user_factors_", "item_factors_") + tuple(self._bias_names) + tuple(self._extra_arrays)

    def _check_loaded(self) -> None:
        """Shapes of the loaded fitted arrays against the training matrix and ``factors``."""
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


def _array(arrays: dict, key: str, *, kinds: str, ndim: Optional[int] = None, shape=None,
           finite: bool = True) -> np.ndarray:
    """A stored array of one of the dtype kinds, with the given ndim/shape (and finite values)."""
    if key not in arrays:
        raise ModelFileError(f"array {key!r} is missing")
    value = arrays[key]
    if value.dtype.kind not in kinds:
        raise ModelFileError(f"array {key!r} has dtype {value.dtype}")
    if (ndim is not None and value.ndim != ndim) or (shape is not None and value.shape != tuple(shape)):
        raise ModelFileError(f"array {key!r} has shape {value.shape}")
    if finite and value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        raise ModelFileError(f"array {key!r} contains NaN/inf")
    return value


def _checked_csr(arrays: dict, n_users: int, n_items: int) -> sp.csr_matrix:
    """The training matrix, after checking that indptr/indices/data form a valid CSR matrix."""
    indptr = _array(arrays, "train:indptr", kinds="iu", shape=(n_users + 1,))
    indices = _array(arrays, "train:indices", kinds="iu", ndim=1)
    data = _array(arrays, "train:data", kinds="f", shape=indices.shape)
    if indptr[0] != 0 or indptr[-1] != len(indices) or np.any(np.diff(indptr) < 0):
        raise ModelFileError("train:indptr is not a valid row pointer")
    if len(indices) and (indices.min() < 0 or indices.max() >= n_items):
        raise ModelFileError(f"train:indices holds item indices outside [0, {n_items})")
    if np.any(np.abs(data) > FLOAT32_MAX):
        raise ModelFileError("train:data holds values beyond the float32 range")
    return sp.csr_matrix((data.astype(np.float32), indices.astype(np.int32), indptr.astype(np.int64)),
                         shape=(n_users, n_items))


def _is_finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))


class TrainingMonitor:
    """Collects per-epoch metrics: loss history, callback, progress bar, divergence check."""

    def __init__(self, model: Recommender, callback: Optional[Callback], show_progress: bool):
        self.model = model
        self.callback = callback
        self.stopped = False
        self._progress = None
        if show_progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            self._progress = Progress(TextColumn(f"[bold]{model.name}[/bold]"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn("{task.fields[info]}"), transient=True)
            self._progress.start()
            self._task = self._progress.add_task("fit", total=model._n_epochs(), info="")

    def report(self, epoch: int, **metrics) -> bool:
        """Record one epoch; returns True when training should stop (callback raised StopTraining).
        Raises TrainingDivergedError when the loss is NaN/inf."""
        clean = {k: float(v) for k, v in metrics.items()}
        loss = clean.get("loss")
        if loss is not None and not np.isfinite(loss):
            raise TrainingDivergedError(
                f"{type(self.model).__name__}: training diverged at epoch {epoch} (loss = {loss}); "
                "try a lower learning rate or stronger regularization")
        self.model.loss_history_.append({"epoch": epoch, **clean})
        if self._progress is not None:
            info = "  ".join(f"{k}={v:.4g}" for k, v in clean.items())
            self._progress.update(self._task, completed=epoch, info=info)
        if self.callback is not None:
            try:
                self.callback(epoch, dict(clean))
            except StopTraining:
                self.stopped = True
        return self.stopped

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _max_row_norm(vectors: np.ndarray) -> float:
    """Largest Euclidean row norm, in float64 (no overflow for float32 input)."""
    if vectors.size == 0:
        return 0.0
    v = np.asarray(vectors, dtype=np.float64)
    return float(np.sqrt(np.max(np.einsum("ij,ij->i", v, v))))


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise InvalidParameterError(f"n must be a positive integer, got {n!r}")
    return int(n)


def _as_list(values) -> list:
    if isinstance(values, (str, bytes)) or np.ndim(values) == 0:
        return [values]
    return list(np.asarray(values).ravel().tolist()) if not isinstance(values, list) else values


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj


def _jsonable_params(params: dict) -> dict:
    """Hyperparameters as plain JSON values: NumPy scalars become Python ones."""
    out = {}
    for key, value in params.items():
        if isinstance(value, (np.bool_, np.integer, np.floating, np.str_)):
            value = value.item()
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise InvalidParameterError(f"cannot save parameter {key}={value!r}: model files hold numbers, strings, "
                                        "booleans or None")
        out[key] = value
    return out


def _version() -> str:
    from .. import __version__
    return __version__

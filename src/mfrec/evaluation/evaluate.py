"""Evaluation of fitted models: the fast ranking path and the rating metrics.

:func:`ranking_metrics` scores every item for every test user in batches (``score_fn``), then a
parallel numba kernel (:mod:`mfrec.kernels.ranking_metrics`) ranks each user's candidates
(training items excluded) and computes the per-user metrics. For a model
(:func:`evaluate_ranking`, :func:`model_ranking_metrics`) whose scores are dot products of its
ranking vectors, the kernel scores blocks of up to 64 users itself, with a single-threaded BLAS in each
of its threads: no batch of scores goes through memory and no BLAS thread pool competes with the
kernel (issue 14: 1.63x the bare BLAS scoring at 44M interactions, against 3.1x before). The
metric definitions are in :mod:`mfrec.evaluation.metrics`.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Union

import numpy as np
import scipy.sparse as sp

from .._threads import kernel_threads, single_threaded_blas
from ..data.interactions import Interactions
from ..errors import DataError, InvalidParameterError
from ..kernels.csr import csr_structure, read_only
from ..kernels.ranking_metrics import METRIC_COLUMNS, ranking_metrics_batch, ranking_metrics_dot
from ..kernels.top_k import dot_block_rows
from ..params import Integer, check
from ..retrieval import default_batch
from .names import per_user_metric_names
from .metrics import mae, rmse

__all__ = ["ranking_metrics", "evaluate_ranking", "evaluate_ratings"]

ScoreFn = Callable[[np.ndarray], np.ndarray]


def _check_k(k) -> int:
    return int(check("k", k, Integer(1)))


def _as_csr(matrix, name: str) -> sp.csr_matrix:
    if not sp.issparse(matrix):
        raise DataError(f"{name} must be a scipy sparse users x items matrix, got {type(matrix).__name__}")
    csr = sp.csr_matrix(matrix)
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()  # also sorts indices; values do not matter, only which pairs are stored
    return csr


def _metric_names(k: int) -> list:
    return per_user_metric_names(k)


def ranking_metrics(score_fn: Union[ScoreFn, tuple[np.ndarray, np.ndarray]], train_matrix, test_matrix, k: int = 10, *,
                    batch_size: Optional[int] = None, users=None, per_user: bool = False,
                    threads: int = 0) -> dict:
    """Compute ranking metrics of any scorer, averaged over the users with at least one test item.

    Definitions: :mod:`mfrec.evaluation.metrics`.

    Parameters
    ----------
    score_fn : callable or tuple of two ndarrays
        ``score_fn(user_index int64 array) -> (len(user_index), n_items) float scores``; or
        ``(user_vectors, item_vectors)`` of shapes (n_users, d) and (n_items, d), whose dot
        products are the scores, computed inside the kernel in float32 blocks of up to 64 users
        (faster: no batch of scores goes through memory; float64 vectors are cast to float32
        before the product). Scores are used as float32 (float64 scores from ``score_fn`` are
        cast, which can create ties); NaN scores raise ValueError.
    train_matrix, test_matrix : scipy sparse matrix, users x items
        Same shape. Stored entries are the interactions (values are ignored). Training items are
        excluded from each user's ranking (as if scored -inf); test items that are also training
        items are ignored.
    k : int, default 10
        Positive; clipped to the number of items (key names use the clipped K).
    batch_size : int, optional
        Users scored per call of score_fn (default: about 16M scores per batch); not used with vectors.
    users : array-like of int, optional
        User indices to restrict the evaluation to (those without a test item are still skipped).
    per_user : bool, default False
        Also return ``"per_user"``: a dict of arrays aligned with ``["per_user"]["user"]``
        (the evaluated user indices), for significance tests. AUC is NaN for a user without any
        negative candidate.
    threads : int, default 0
        Numba threads (0 = all cores).

    Returns
    -------
    dict
        "precision@K", "recall@K", "ndcg@K", "map@K", "hit_rate@K", "mrr" (full ranking, not cut
        at K), "auc" (ties count 1/2; mean over users where it is defined), "coverage@K", "users"
        (number evaluated), "k" (the clipped K) and "test_pairs_in_train" (test entries of
        evaluated users ignored because they are training items).

    Raises
    ------
    InvalidParameterError
        When ``score_fn`` is neither callable nor a pair of vectors, ``k`` is not a positive int, or
        scores are NaN.
    DataError
        When the matrices' shapes differ or the catalogue is empty.
    """
    k = _check_k(k)
    vectors: Optional[tuple] = None
    scorer: Optional[ScoreFn] = None
    if isinstance(score_fn, tuple) and len(score_fn) == 2:
        vectors = score_fn
    elif callable(score_fn):
        scorer = score_fn
    else:
        raise InvalidParameterError("score_fn must be callable or a (user_vectors, item_vectors) tuple, "
                                    f"got {type(score_fn).__name__}")
    return _ranking_metrics(scorer, vectors, train_matrix, test_matrix, k, batch_size=batch_size, users=users,
                            per_user=per_user, threads=threads)


def _ranking_metrics(score_fn: Optional[ScoreFn], vectors: Optional[tuple], train_matrix, test_matrix, k: int, *,
                     batch_size: Optional[int], users, per_user: bool, threads: int) -> dict:
    """Compute :func:`ranking_metrics` from ``score_fn``, or from ``vectors`` = (user vectors, item vectors).

    With vectors, the scores are their dot products, computed block by block inside the kernel
    (:func:`mfrec.kernels.ranking_metrics.ranking_metrics_dot`); ``batch_size`` is not used.
    ``k`` is already checked (a positive int).
    """
    train = _as_csr(train_matrix, "train_matrix")
    test = _as_csr(test_matrix, "test_matrix")
    if train.shape != test.shape:
        raise DataError(f"train_matrix has shape {train.shape} but test_matrix has shape {test.shape}")
    n_users, n_items = test.shape
    if n_items == 0:
        raise DataError("the catalogue is empty (0 items)")
    k = min(k, n_items)
    if batch_size is None:
        batch_size = default_batch(n_items)
    else:
        check("batch_size", batch_size, Integer(1))
    evaluated, overlap = _users_to_evaluate(train, test, users)

    metrics = np.empty((len(evaluated), len(METRIC_COLUMNS)), dtype=np.float64)
    top = np.empty((len(evaluated), k), dtype=np.int32)
    train_indptr, train_indices = csr_structure(train.indptr, train.indices)
    test_indptr, test_indices = csr_structure(test.indptr, test.indices)
    bad = np.zeros(len(evaluated), dtype=np.uint8)
    with kernel_threads(threads):
        if vectors is not None:
            user_vectors, item_vectors = (np.asarray(v, dtype=np.float32) for v in vectors)
            if user_vectors.shape[0] != n_users or item_vectors.shape[0] != n_items \
                    or user_vectors.shape[1] != item_vectors.shape[1]:
                raise DataError(f"ranking vectors of shapes {user_vectors.shape} and {item_vectors.shape} do not "
                                f"match a {n_users} x {n_items} matrix")
            with single_threaded_blas():
                ranking_metrics_dot(read_only(user_vectors), read_only(item_vectors.T), read_only(evaluated),
                                    train_indptr, train_indices, test_indptr, test_indices, k,
                                    dot_block_rows(n_items), metrics, top, bad)
            source = "the model's scores are"
        else:
            assert score_fn is not None
            for start in range(0, len(evaluated), batch_size):
                idx = evaluated[start:start + batch_size]
                scores = _batch_scores(score_fn, idx, n_items)
                ranking_metrics_batch(scores, idx, train_indptr, train_indices, test_indptr, test_indices, k,
                                      metrics[start:start + len(idx)],
                                      top[start:start + len(idx)], bad[start:start + len(idx)])
                if bad[start:start + len(idx)].any():
                    break
            source = "score_fn returned"
    if bad.any():
        user = int(evaluated[np.flatnonzero(bad)[0]])
        raise InvalidParameterError(f"{source} NaN scores for user index {user}")

    names = _metric_names(k)
    result: dict[str, Any] = {name: float(metrics[:, c].mean()) for c, name in enumerate(names[:-1])}
    auc_values = metrics[:, -1]
    defined = ~np.isnan(auc_values)
    result["auc"] = float(auc_values[defined].mean()) if defined.any() else float("nan")
    covered = np.zeros(n_items, dtype=bool)
    covered[top[top >= 0]] = True
    result[f"coverage@{k}"] = float(covered.mean())
    result["users"] = int(len(evaluated))
    result["k"] = k
    result["test_pairs_in_train"] = overlap
    if per_user:
        result["per_user"] = {"user": evaluated, **{name: metrics[:, c].copy() for c, name in enumerate(names)},
                              f"top@{k}": top}
    return result


def _users_to_evaluate(train: sp.csr_matrix, test: sp.csr_matrix, users) -> tuple[np.ndarray, int]:
    """Find the users to evaluate.

    Users (int64 indices) with at least one test item that is not a training item, and the
    number of test entries of those users that are training items.
    """
    n_users = test.shape[0]
    n_test = np.diff(test.indptr)
    in_train = _structural_overlap(train, test)
    eligible = (n_test - in_train) > 0
    if users is not None:
        chosen = np.unique(np.asarray(users).ravel())
        if chosen.dtype.kind not in "iu":
            raise InvalidParameterError(f"users must be integer user indices, got dtype {chosen.dtype}")
        if len(chosen) and (chosen[0] < 0 or chosen[-1] >= n_users):
            bad = chosen[0] if chosen[0] < 0 else chosen[-1]
            raise InvalidParameterError(f"users: index {int(bad)} is out of range for {n_users} users")
        mask = np.zeros(n_users, dtype=bool)
        mask[chosen] = True
        eligible &= mask
    evaluated = np.flatnonzero(eligible).astype(np.int64)
    if len(evaluated) == 0:
        raise DataError("no user to evaluate: no (selected) user has a test item outside their training items")
    return evaluated, int(in_train[evaluated].sum())


def _structural(csr: sp.csr_matrix) -> sp.csr_matrix:
    return sp.csr_matrix((np.ones(csr.nnz, dtype=np.float32), csr.indices, csr.indptr), shape=csr.shape)


def _structural_overlap(train: sp.csr_matrix, test: sp.csr_matrix) -> np.ndarray:
    """Per user, the number of test pairs that are also training pairs (stored zeros count)."""
    both = _structural(test).multiply(_structural(train)).tocsr()
    return np.diff(both.indptr).astype(np.int64)


def _batch_scores(score_fn: ScoreFn, idx: np.ndarray, n_items: int) -> np.ndarray:
    scores: Any = score_fn(idx)  # an array, or a sparse matrix from a user-supplied scorer
    if sp.issparse(scores):
        scores = scores.toarray()
    scores = np.asarray(scores)
    if scores.shape != (len(idx), n_items):
        raise InvalidParameterError(f"score_fn returned shape {scores.shape} for {len(idx)} users; "
                         f"expected ({len(idx)}, {n_items})")
    if scores.dtype.kind not in "fiub":
        raise InvalidParameterError(f"score_fn returned non-numeric scores (dtype {scores.dtype})")
    return np.ascontiguousarray(scores, dtype=np.float32)


# ---------------------------------------------------------------------- model evaluation
def _aligned_test(model, test) -> tuple[Interactions, int, int]:
    """Return the test set in the model's id maps, with the number of dropped entries and users."""
    model.require_fitted()
    if not isinstance(test, Interactions):
        raise DataError(f"test must be an mfrec Interactions object, got {type(test).__name__}")
    if test.nnz == 0:
        raise DataError("the test set is empty (no interactions)")
    if test.user_ids is model.user_ids_ and test.item_ids is model.item_ids_:
        return test, 0, 0
    rows_with_entries = np.flatnonzero(np.diff(test.matrix.indptr) > 0)
    known = model.user_ids_.indices(test.user_ids.raw[rows_with_entries], missing="ignore")
    dropped_users = int((known < 0).sum())
    aligned, dropped = test.align_to(model.interactions_)
    if aligned.nnz == 0:
        raise DataError(f"none of the {test.nnz} test interactions has a user and an item known to the model")
    return aligned, dropped, dropped_users


def model_ranking_metrics(model, train_matrix, test_matrix, k: int = 10, *, batch_size: Optional[int] = None,
                          per_user: bool = False, threads: int = 0) -> dict:
    """Compute :func:`ranking_metrics` of a fitted model over index-space matrices.

    Models whose scores are dot products (``model.ranking_vectors()`` exists and is not None) are
    scored inside the ranking kernel; others through ``model.score_users``.

    Parameters
    ----------
    model : Recommender
        A fitted model.
    train_matrix, test_matrix : scipy sparse matrix, users x items
        In the model's index space: the items excluded from each ranking, and the relevant ones.
    k : int, default 10
        The cut-off.
    batch_size : int, optional
        Users per call of ``score_users`` (not used with ranking vectors).
    per_user : bool, default False
        Also return the per-user metrics.
    threads : int, default 0
        Numba threads (0 = all cores).

    Returns
    -------
    dict
        The metrics of :func:`ranking_metrics`.
    """
    ranking_vectors = getattr(model, "ranking_vectors", None)
    vectors = ranking_vectors() if ranking_vectors is not None else None
    return ranking_metrics(model.score_users if vectors is None else vectors, train_matrix, test_matrix, k,
                           batch_size=batch_size, per_user=per_user, threads=threads)


def evaluate_ranking(model, test: Interactions, k: int = 10, *, exclude: Optional[Interactions] = None,
                     batch_size: Optional[int] = None, per_user: bool = False, threads: int = 0) -> dict:
    """Compute ranking metrics of a fitted model on held-out interactions (see :func:`ranking_metrics`).

    Every item is scored for every user with a test item; the model's training interactions
    (``model.interactions_``) are excluded from the ranking. ``test`` is an Interactions; when its
    id maps are not the model's it is aligned to them, and test pairs whose user or item the model
    does not know are dropped and counted in "dropped_test_pairs" (and "dropped_test_users": test
    users unknown to the model). Any stored test entry counts as relevant: convert ratings first
    (e.g. ``test.to_implicit(4)``) to count only liked items.

    Parameters
    ----------
    model : Recommender
        A fitted model.
    test : Interactions
        The held-out interactions.
    k : int, default 10
        The cut-off.
    exclude : Interactions, optional
        Replaces the training interactions as the items removed from each user's ranking (e.g.
        all rated training items, when the model trained only on the liked ones); it is aligned
        to the model's id maps like ``test``.
    batch_size : int, optional
        Users scored at once (see :func:`ranking_metrics`).
    per_user : bool, default False
        Also return the per-user metrics (see :func:`ranking_metrics`).
    threads : int, default 0
        Numba threads (0 = all cores).

    Returns
    -------
    dict
        The metrics of :func:`ranking_metrics`, plus "dropped_test_pairs" and "dropped_test_users".

    Raises
    ------
    DataError
        When the test set is empty (after alignment).
    NotFittedError
        When the model is not fitted.
    """
    k = _check_k(k)
    aligned, dropped, dropped_users = _aligned_test(model, test)
    excluded = model.interactions_.matrix
    if exclude is not None:
        excluded = _aligned_test(model, exclude)[0].matrix
    result = model_ranking_metrics(model, excluded, aligned.matrix, k, batch_size=batch_size,
                                   per_user=per_user, threads=threads)
    result["dropped_test_pairs"] = dropped
    result["dropped_test_users"] = dropped_users
    return result


def evaluate_ratings(model, test: Interactions, *, clip: bool = False) -> dict:
    """Compute RMSE and MAE of a fitted model's predictions on explicit test ratings.

    Parameters
    ----------
    model : Recommender
        A fitted rating model (``feedback == "explicit"``).
    test : Interactions
        Explicit test ratings.
    clip : bool, default False
        Clip the predictions to the training rating scale (when declared) before scoring.

    Returns
    -------
    dict
        rmse, mae, n, dropped_test_pairs: n is the number of test ratings scored, after dropping
        pairs whose user or item the model does not know.

    Raises
    ------
    InvalidParameterError
        When the model is a ranking model, or predicts a non-finite value.
    DataError
        When ``test`` is not explicit Interactions, or empty after alignment.
    """
    if getattr(model, "feedback", None) != "explicit":
        raise InvalidParameterError(
            f"evaluate_ratings(): {type(model).__name__} is a ranking model; its scores are not predicted "
            "ratings, so RMSE/MAE would mean nothing (use evaluate_ranking)")
    if not isinstance(test, Interactions):
        raise DataError(f"evaluate_ratings() needs an mfrec Interactions test set, got {type(test).__name__}")
    if not test.is_explicit:
        raise DataError("evaluate_ratings() needs explicit test ratings; this test set is implicit "
                        "(use evaluate_ranking for implicit feedback)")
    aligned, dropped, dropped_users = _aligned_test(model, test)
    users, items, ratings = aligned.to_coo()
    predictions = np.empty(len(ratings), dtype=np.float64)
    step = 1 << 18
    for start in range(0, len(ratings), step):
        stop = start + step
        predictions[start:stop] = model.predict_indices(users[start:stop], items[start:stop])
    if not np.all(np.isfinite(predictions)):
        bad = int(np.flatnonzero(~np.isfinite(predictions))[0])
        user, item = aligned.user_ids.raw[users[bad]].item(), aligned.item_ids.raw[items[bad]].item()
        raise InvalidParameterError(f"{type(model).__name__} predicted {predictions[bad]} for user "
                                    f"{user!r}, item {item!r}")
    scale = model.interactions_.rating_scale
    if clip and scale is not None:
        np.clip(predictions, scale[0], scale[1], out=predictions)
    return {"rmse": rmse(ratings, predictions), "mae": mae(ratings, predictions), "n": int(len(ratings)),
            "dropped_test_pairs": dropped, "dropped_test_users": dropped_users}

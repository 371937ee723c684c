"""Adapters for the anchor libraries (Surprise, implicit, LightFM), scored by mfrec's own metric code.

The anchors live only here, imported lazily, and only in the separate benchmark environment
(/work/anchors-venv, see benchmarks/README.md): mfrec itself never imports them. Each adapter takes
mfrec ``Interactions`` from a :mod:`common` protocol split, trains the anchor on exactly the same
training entries, and hands back what mfrec's evaluation needs:

* :func:`surprise_svd` returns RMSE/MAE computed by :func:`mfrec.evaluation.rmse` / ``mae`` on
  Surprise's predictions for the test pairs;
* :func:`implicit_als`, :func:`implicit_bpr`, :func:`lightfm_warp` return
  ``(user_vectors, item_vectors, fit_time)`` whose dot products are the anchor's scores; pass them
  to :func:`evaluate_vectors`, which calls :func:`mfrec.evaluation.ranking_metrics` (the same
  ranking code as ``evaluate_ranking`` for mfrec models: same candidates, same tie rule).

When a library is not importable an adapter raises :class:`AnchorMissing`; :func:`run_anchor`
turns that into ``None`` plus a message, so a script skips absent anchors and says which ran.
``fit_time`` is wall-clock seconds of the library's fit call only (data conversion excluded).
"""
from __future__ import annotations

import contextlib
import importlib
import os
import time
from typing import Callable, Optional

import numpy as np
import scipy.sparse as sp


__all__ = ["AnchorMissing", "anchor_versions", "run_anchor", "surprise_svd", "surprise_svd_vectors", "implicit_als",
           "implicit_bpr", "lightfm_warp", "vector_score_fn", "evaluate_vectors"]

_PACKAGES = {"surprise": "scikit-surprise", "implicit": "implicit", "lightfm": "lightfm"}


class AnchorMissing(ImportError):
    """An anchor library is not installed in this environment."""


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise AnchorMissing(f"anchor library {_PACKAGES.get(top, top)!r} is not importable ({exc}); "
                            "install it in the benchmark venv, see benchmarks/README.md") from exc


def anchor_versions() -> dict:
    """{"surprise": version or None, "implicit": ..., "lightfm": ...}: which anchors can run here."""
    out = {}
    for module in _PACKAGES:
        try:
            out[module] = getattr(importlib.import_module(module), "__version__", "unknown")
        except ImportError:
            out[module] = None
    return out


def run_anchor(fn: Callable, *args, verbose: bool = True, **kwargs):
    """``fn(*args, **kwargs)``, or None (with a printed note) when its library is missing."""
    try:
        return fn(*args, **kwargs)
    except AnchorMissing as exc:
        if verbose:
            print(f"[anchor skipped] {fn.__name__}: {exc}")
        return None


def _threads(threads: int) -> int:
    """mfrec's convention (0 = all cores) as an explicit count."""
    if threads < 0:
        raise ValueError(f"threads must be >= 0, got {threads}")
    return threads if threads > 0 else (os.cpu_count() or 1)


@contextlib.contextmanager
def _single_thread_blas():
    """BLAS limited to one thread inside the block (implicit asks for it: its own threads run the
    solves, and a multithreaded BLAS under them oversubscribes the cores)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _csr(train) -> sp.csr_matrix:
    """users x items float32 CSR of an mfrec Interactions (or a scipy matrix)."""
    matrix = train.matrix if hasattr(train, "matrix") else train
    return sp.csr_matrix(matrix, dtype=np.float32)


# ---------------------------------------------------------------------- explicit: Surprise
def surprise_svd(train, test, **params) -> dict:
    """Surprise's biased SVD (``surprise.SVD``) trained on the training ratings, scored on the
    test pairs with mfrec's :func:`~mfrec.evaluation.rmse` / :func:`~mfrec.evaluation.mae`.

    ``train``/``test`` are explicit mfrec Interactions in the same id maps (a protocol split);
    Surprise sees dense indices as its raw ids. ``params`` go to ``surprise.SVD`` (its defaults:
    n_factors=100, n_epochs=20, lr_all=0.005, reg_all=0.02); ``random_state`` defaults to 42.

    Returns dict(fit_time, rmse, mae, rmse_unclipped, mae_unclipped, n, impossible): rmse/mae use
    Surprise's own clipping to the rating scale (its default, as a Surprise user sees them);
    the unclipped pair uses its raw estimates; ``impossible`` counts test pairs Surprise could
    not personalize (unknown user/item: it then predicts the global mean).
    """
    surprise = _require("surprise")
    import pandas as pd
    from mfrec.evaluation import mae, rmse

    if train.user_ids is not test.user_ids and len(train.user_ids) != len(test.user_ids):
        raise ValueError("test must use train's id maps (use a protocol split or test.align_to(train))")
    u, i, r = train.to_coo()
    scale = train.rating_scale or (float(r.min()), float(r.max()))
    frame = pd.DataFrame({"user": u.astype(np.int64), "item": i.astype(np.int64), "rating": r.astype(np.float64)})
    data = surprise.Dataset.load_from_df(frame, surprise.Reader(rating_scale=tuple(scale)))
    trainset = data.build_full_trainset()
    params.setdefault("random_state", 42)
    algo = surprise.SVD(**params)
    start = time.perf_counter()
    algo.fit(trainset)
    fit_time = time.perf_counter() - start

    tu, ti, tr = test.to_coo()
    raw = np.empty(len(tr), dtype=np.float64)
    impossible = 0
    for n, (user, item) in enumerate(zip(tu.tolist(), ti.tolist())):
        pred = algo.predict(user, item, clip=False)
        raw[n] = pred.est
        impossible += bool(pred.details.get("was_impossible", False))
    clipped = np.clip(raw, scale[0], scale[1])
    return {"fit_time": fit_time, "rmse": rmse(tr, clipped), "mae": mae(tr, clipped),
            "rmse_unclipped": rmse(tr, raw), "mae_unclipped": mae(tr, raw), "n": int(len(tr)),
            "impossible": impossible}


def surprise_svd_vectors(train, **params):
    """Surprise's SVD fitted on ``train``'s ratings; returns ``(user_factors p_u, item_factors
    q_i, fit_time)`` in ``train``'s dense index order (for similar items: Surprise has no
    similar-items call for SVD, so cosine of q_i is what a user would compute). Rows of users or
    items Surprise did not see stay zero. ``params`` as for :func:`surprise_svd`."""
    surprise = _require("surprise")
    import pandas as pd

    u, i, r = train.to_coo()
    scale = train.rating_scale or (float(r.min()), float(r.max()))
    frame = pd.DataFrame({"user": u.astype(np.int64), "item": i.astype(np.int64), "rating": r.astype(np.float64)})
    trainset = surprise.Dataset.load_from_df(frame, surprise.Reader(rating_scale=tuple(scale))).build_full_trainset()
    params.setdefault("random_state", 42)
    algo = surprise.SVD(**params)
    start = time.perf_counter()
    algo.fit(trainset)
    fit_time = time.perf_counter() - start
    users = np.zeros((train.n_users, algo.pu.shape[1]), dtype=np.float32)
    items = np.zeros((train.n_items, algo.qi.shape[1]), dtype=np.float32)
    for inner in range(trainset.n_users):
        users[trainset.to_raw_uid(inner)] = algo.pu[inner]
    for inner in range(trainset.n_items):
        items[trainset.to_raw_iid(inner)] = algo.qi[inner]
    return users, items, fit_time


# ---------------------------------------------------------------------- implicit library
def implicit_als(train, factors: int = 64, regularization: float = 0.01, alpha: float = 1.0,
                 iterations: int = 15, threads: int = 0, seed: Optional[int] = 42, **kw):
    """implicit's ``AlternatingLeastSquares`` (CPU, conjugate gradient by default) on ``train``.

    implicit >= 0.5 fits on a users x items CSR; its confidence is ``alpha * value`` (so with 0/1
    data and alpha=1 every observed cell has confidence 1 beyond the unobserved cells' weight).
    Extra ``kw`` (use_cg, use_native, calculate_training_loss, dtype) go to the constructor.
    BLAS is held to one thread during the fit, as implicit recommends.

    Returns ``(user_vectors, item_vectors, fit_time)``; scores are ``user_vectors @ item_vectors.T``.
    """
    _require("implicit")
    als = _require("implicit.cpu.als")
    with _single_thread_blas():  # implicit checks the BLAS threads when the model is built
        model = als.AlternatingLeastSquares(factors=factors, regularization=regularization, alpha=alpha,
                                            iterations=iterations, num_threads=_threads(threads),
                                            random_state=seed, **kw)
        return _fit_implicit(model, _csr(train))


def implicit_bpr(train, factors: int = 100, learning_rate: float = 0.01, regularization: float = 0.01,
                 iterations: int = 100, threads: int = 0, seed: Optional[int] = 42, **kw):
    """implicit's ``BayesianPersonalizedRanking`` (CPU) on ``train`` (defaults = implicit's).

    implicit keeps the item bias inside the factors: its vectors have factors + 1 columns, the
    last one being the item bias on the item side and a constant 1 on the user side. The vectors
    are returned as they are, so their dot products are exactly implicit's scores.
    ``kw`` (verify_negative_samples, dtype) go to the constructor.

    Returns ``(user_vectors, item_vectors, fit_time)``.
    """
    _require("implicit")
    bpr = _require("implicit.cpu.bpr")
    with _single_thread_blas():
        model = bpr.BayesianPersonalizedRanking(factors=factors, learning_rate=learning_rate,
                                                regularization=regularization, iterations=iterations,
                                                num_threads=_threads(threads), random_state=seed, **kw)
        return _fit_implicit(model, _csr(train))


def _fit_implicit(model, user_items: sp.csr_matrix):
    with _single_thread_blas():
        start = time.perf_counter()
        model.fit(user_items, show_progress=False)
        fit_time = time.perf_counter() - start
    users = np.asarray(model.user_factors)
    items = np.asarray(model.item_factors)
    if users.shape[0] != user_items.shape[0] or items.shape[0] != user_items.shape[1]:
        raise RuntimeError(f"implicit returned {users.shape} user and {items.shape} item factors for a "
                           f"{user_items.shape} matrix (orientation mix-up?)")
    return users, items, fit_time


# ---------------------------------------------------------------------- LightFM
def lightfm_warp(train, no_components: int = 64, learning_rate: float = 0.05, epochs: int = 30,
                 threads: int = 0, loss: str = "warp", seed: Optional[int] = 42, **kw):
    """LightFM (pure collaborative filtering: no features) with ``loss`` ("warp" by default;
    "bpr", "warp-kos", "logistic" also work) on ``train``'s positive entries.

    ``kw`` go to the ``LightFM`` constructor (learning_schedule="adagrad", max_sampled=10,
    item_alpha=0, user_alpha=0 are its defaults). LightFM's score is
    ``u.v + b_u + b_i``; the biases are folded into the returned vectors as
    ``[u, b_u, 1] . [v, 1, b_i]``, so dot products are exactly LightFM's scores.

    Returns ``(user_vectors, item_vectors, fit_time)`` (float32).
    """
    _require("lightfm")
    from lightfm import LightFM

    interactions = _csr(train).tocoo()
    model = LightFM(no_components=no_components, learning_rate=learning_rate, loss=loss,
                    random_state=seed, **kw)
    start = time.perf_counter()
    model.fit(interactions, epochs=epochs, num_threads=_threads(threads))
    fit_time = time.perf_counter() - start
    user_bias, user_emb = model.get_user_representations()
    item_bias, item_emb = model.get_item_representations()
    ones_u = np.ones((len(user_bias), 1), dtype=np.float32)
    ones_i = np.ones((len(item_bias), 1), dtype=np.float32)
    users = np.hstack([user_emb, user_bias[:, None], ones_u]).astype(np.float32)
    items = np.hstack([item_emb, ones_i, item_bias[:, None]]).astype(np.float32)
    return users, items, fit_time


# ---------------------------------------------------------------------- scoring
def vector_score_fn(user_vectors: np.ndarray, item_vectors: np.ndarray) -> Callable:
    """``score_fn(user_index) -> user_vectors[user_index] @ item_vectors.T`` (float32)."""
    users = np.ascontiguousarray(user_vectors, dtype=np.float32)
    items_t = np.ascontiguousarray(np.asarray(item_vectors, dtype=np.float32).T)

    def score_fn(idx: np.ndarray) -> np.ndarray:
        return users[idx] @ items_t

    return score_fn


def evaluate_vectors(user_vectors, item_vectors, train, test, k: int = 10, threads: int = 0) -> dict:
    """Ranking metrics of anchor vectors with mfrec's :func:`~mfrec.evaluation.ranking_metrics`:
    the same candidates (training items excluded), tie rule and definitions as
    ``evaluate_ranking`` for an mfrec model. ``train``/``test``: Interactions (or CSR) in the same
    id maps, e.g. a protocol split."""
    from mfrec.evaluation import ranking_metrics

    train_m, test_m = _csr(train), _csr(test)
    if user_vectors.shape[0] != train_m.shape[0] or item_vectors.shape[0] != train_m.shape[1]:
        raise ValueError(f"vectors {user_vectors.shape} / {item_vectors.shape} do not match the "
                         f"{train_m.shape} training matrix")
    return ranking_metrics(vector_score_fn(user_vectors, item_vectors), train_m, test_m, k, threads=threads)

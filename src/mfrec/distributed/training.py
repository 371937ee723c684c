"""Client side of the cluster ALS: builds the task graph, one half step at a time.

Per half step (update side A against the fixed side B), as Spark MLlib's ALS does:
  1. the Gram term alpha0 B^T B by reduction: one k x k partial per block of B, summed;
  2. for every pair (block j of B, block b of A), block j sends the rows block b's
     interactions need (``take_rows``; Spark's out-block), and nothing else;
  3. each block of A solves its rows with the single-machine kernels (``solve_block``).
Factor blocks and in-blocks stay on the workers as futures; the client sees only id maps, the
final factors and (``keep_interactions=True``) the training matrix, once at the end.
"""
from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Optional, cast

import numpy as np
import scipy.sparse as sp

from ..data.interactions import Interactions
from ..errors import DataError, MfrecError
from ..ids import IdMap
from ..models.als import ALS
from ..models.training import TrainingMonitor, check_finite
from . import blocks as B
from .source import as_dask_frame


class DistributedFitError(MfrecError, RuntimeError):
    """The cluster could not finish the fit (workers lost too often, no workers, no client)."""


def fit(model: ALS, source, *, client=None, user_col: str = "user", item_col: str = "item",
        value_col: Optional[str] = None, blocks: Optional[int] = None, threads: int = 0,
        keep_interactions: bool = True, init: str = "global", callback=None, show_progress: bool = False) -> ALS:
    """Train ``model`` (an :class:`mfrec.ALS`, its hyperparameters as set) on a Dask cluster.

    source: a folder or glob of Parquet files, or a ``dask.dataframe``, with columns ``user_col``,
        ``item_col`` and optionally ``value_col`` (positive counts/confidences r_ui; without it
        every interaction counts 1). Repeated (user, item) pairs add up their values.
    client: a ``dask.distributed.Client`` (default: the current one).
    blocks: blocks per side (default: the number of workers); users and items are hashed into
        blocks by dense index modulo ``blocks``.
    threads: kernel threads per block solve (0 = the worker's thread count).
    keep_interactions: gather the training matrix to the client at the end (needed to exclude
        seen items in ``recommend``, for evaluation and in model files). With False the model
        keeps an empty matrix of the right shape, so the client never holds the interactions.
    init: "global" draws the initial factors as the single-machine ALS does (one generator, all
        users then all items; one task holds both sides once, fine up to some 10M rows);
        "blocks" draws each block's factors from its own generator (seed, side, block), so no task
        holds a whole side; the model is then not the local one's twin, but as good.
    callback, show_progress: as in ``Recommender.fit``.

    Returns the fitted model itself: an ordinary ALS (recommend, save, load as usual). With a
    seed, its factors equal the single-machine fit's on the same data up to floating-point
    summation order (same initial draws, same kernels). ``model.distributed_info_`` records the
    blocking and the factor rows sent per iteration.
    """
    if not isinstance(model, ALS):
        raise DataError(f"mfrec.distributed.fit() trains an mfrec.ALS, got {type(model).__name__}")
    model.check_params()
    if model.calculate_loss:
        raise ValueError("mfrec.distributed.fit() does not compute the loss; use calculate_loss=False")
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 0:
        raise ValueError(f"threads must be a non-negative integer, got {threads!r}")
    client = _client(client)
    workers = sorted(client.scheduler_info()["workers"])
    if not workers:
        raise DistributedFitError("mfrec.distributed.fit(): the Dask cluster has no workers")
    n_blocks = len(workers) if blocks is None else blocks
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, (int, np.integer)) or n_blocks < 1:
        raise ValueError(f"blocks must be a positive integer, got {blocks!r}")
    if init not in ("global", "blocks"):
        raise ValueError(f"init must be 'global' or 'blocks', got {init!r}")
    columns = [user_col, item_col] + ([value_col] if value_col is not None else [])
    frame, where = as_dask_frame(source, columns)

    # a seed drawn here (not on workers) keeps reruns after a lost worker identical
    seed = model.seed if model.seed is not None else int(cast(int, np.random.SeedSequence().entropy) % (2 ** 63))
    params = {**model.get_params(), "seed": seed}
    model._clear_fitted()
    model.loss_history_ = []
    start = time.perf_counter()
    monitor = TrainingMonitor(model, callback, show_progress)
    job = _Job(client, workers, int(n_blocks), params, int(threads), init)
    try:
        job.build(frame, where, user_col, item_col, value_col)
        model._training, model._item_vectors_cache = True, None
        job.train(monitor)
        X, Y = job.factors()
        inter = job.interactions(keep_interactions)
    except MfrecError:
        model._clear_fitted()
        raise
    except (Exception, asyncio.CancelledError) as exc:  # lost workers, closed client, ...
        model._clear_fitted()
        raise DistributedFitError(f"mfrec.distributed.fit(): the cluster computation failed "
                                  f"({type(exc).__name__}: {exc}); no model was fitted") from exc
    finally:
        model._training = False
        monitor.close()
        job.release()
    model.interactions_, model.user_ids_, model.item_ids_ = inter, inter.user_ids, inter.item_ids
    model.user_factors_, model.item_factors_ = X, Y
    model._item_vectors_cache = None
    model.fit_time_ = time.perf_counter() - start
    model.distributed_info_ = job.info()
    model._check_finite_model()
    return model


def _client(client):
    try:
        from distributed import get_client
    except ImportError:
        raise DistributedFitError("mfrec.distributed needs Dask: pip install 'mfrec[distributed]'") from None
    if client is not None:
        return client
    try:
        return get_client()
    except ValueError:
        raise DistributedFitError("mfrec.distributed.fit(): no Dask client; pass client=Client(...)") from None


class _Job:
    """The futures of one fit: in-blocks, out-block requests and factor blocks of both sides."""

    #: up to this many blocks per side, each solve sums the partial Grams itself (one task hop
    #: less per half step); beyond, a tree of tasks reduces them first
    GRAMS_PER_SOLVE = 8

    def __init__(self, client, workers, n_blocks, params, threads, init="global"):
        self.client, self.workers, self.n_blocks, self.init = client, workers, n_blocks, init
        self.params, self.threads = params, threads
        self.alpha0 = float(params["unobserved_weight"])
        self.k = int(params["factors"])

    def submit(self, func, *args, hint: Optional[int] = None):
        """Submit a task; ``hint`` = block number, a soft wish to run on worker hint % n_workers."""
        if hint is None:
            return self.client.submit(func, *args)
        return self.client.submit(func, *args, workers=[self.workers[hint % len(self.workers)]],
                                  allow_other_workers=True)

    def _tree(self, func, futures, split_every: int = 8):
        """Reduce futures with func(*group) in a tree of tasks (at least one call)."""
        futures = list(futures)
        while True:
            futures = [self.submit(func, *futures[i:i + split_every]) for i in range(0, len(futures), split_every)]
            if len(futures) == 1:
                return futures[0]

    # ------------------------------------------------------------------ blocks
    def build(self, frame, where, user_col, item_col, value_col):
        """Global id maps (sorted raw ids, as IdMap.from_values does), then the in-blocks."""
        client, nb = self.client, self.n_blocks
        parts = client.compute(frame.to_delayed())
        names = [f"{where} (partition {p})" for p in range(len(parts))]
        ids = [self.submit(B.partition_ids, part, user_col, item_col, name) for part, name in zip(parts, names)]
        user_ids = self._tree(partial(B.merge_ids, "user"), [self.submit(B.pick, f, 0) for f in ids])
        item_ids = self._tree(partial(B.merge_ids, "item"), [self.submit(B.pick, f, 1) for f in ids])
        users_raw, items_raw = client.gather([user_ids, item_ids])
        if users_raw is None or items_raw is None:
            raise DataError(f"{where}: the data set is empty (no interactions)")
        self.user_map, self.item_map = IdMap(users_raw, kind="user"), IdMap(items_raw, kind="item")
        self.n_users, self.n_items = len(users_raw), len(items_raw)
        splits = [self.submit(B.split_partition, part, user_ids, item_ids, user_col, item_col, value_col, nb, nb, name)
                  for part, name in zip(parts, names)]
        self.user_blocks = [self.submit(B.build_in_block, b, nb, self.n_users, self.n_items, nb, self.params,
                                        *[self.submit(B.pick, s, 0, b) for s in splits], hint=b) for b in range(nb)]
        self.item_blocks = [self.submit(B.build_in_block, j, nb, self.n_items, self.n_users, nb, self.params,
                                        *[self.submit(B.pick, s, 1, j) for s in splits], hint=j + 1) for j in range(nb)]
        # out-block requests: needed_u[b][j] = rows of item block j that user block b needs
        self.needed_u = [[self.submit(B.needed_rows, ub, j) for j in range(nb)] for ub in self.user_blocks]
        self.needed_i = [[self.submit(B.needed_rows, ib, b) for b in range(nb)] for ib in self.item_blocks]
        sizes = client.gather([[self.submit(len, f) for f in row] for row in self.needed_u + self.needed_i])
        self.rows_to_users = int(sum(map(sum, sizes[:nb])))
        self.rows_to_items = int(sum(map(sum, sizes[nb:])))
        seed = self.params["seed"]
        if self.init == "blocks":
            self.X = [self.submit(B.initial_block_factors, self.params, seed, 0, b,
                                  B.n_block_rows(b, nb, self.n_users), hint=b) for b in range(nb)]
            self.Y = [self.submit(B.initial_block_factors, self.params, seed, 1, j,
                                  B.n_block_rows(j, nb, self.n_items), hint=j + 1) for j in range(nb)]
        else:
            init = self.submit(B.initial_factors, self.params, seed, self.n_users, self.n_items, nb, nb)
            self.X = [self.submit(B.pick, init, 0, b) for b in range(nb)]
            self.Y = [self.submit(B.pick, init, 1, j) for j in range(nb)]

    # ------------------------------------------------------------------ training
    def _half_step(self, dst_blocks, dst_factors, src_factors, needed, hint_offset):
        grams = [self.submit(B.block_gram, f) for f in src_factors]
        if len(grams) > self.GRAMS_PER_SOLVE:  # many blocks: reduce in a tree, one k x k per solve
            grams = [self._tree(partial(B.sum_grams, 1.0), grams)]
        new = []
        for b, (blk, factors) in enumerate(zip(dst_blocks, dst_factors)):
            received = [self.submit(B.take_rows, src, needed[b][j]) for j, src in enumerate(src_factors)]
            new.append(self.submit(B.solve_block, self.params, self.threads, len(grams), blk, factors, *grams,
                                   *received, hint=b + hint_offset))
        return new

    def train(self, monitor):
        """Submit every iteration at once, then report them in order.

        Submit every iteration at once (the scheduler runs them as soon as their inputs exist,
        with no round trip to the client in between), then report them in order.
        """
        from distributed import wait
        epochs = []
        X, Y = self.X, self.Y
        for _ in range(int(self.params["iterations"])):
            X = self._half_step(self.user_blocks, X, Y, self.needed_u, 0)
            Y = self._half_step(self.item_blocks, Y, X, self.needed_i, 1)
            epochs.append((X, Y))
        del X, Y
        for epoch in range(1, len(epochs) + 1):
            self.X, self.Y = epochs[epoch - 1]
            epochs[epoch - 1] = None  # later iterations hold what they need; let the rest go
            wait(self.X + self.Y)
            for f in self.X + self.Y:
                if f.status == "error":
                    f.result()  # raises the task's exception here
            if monitor.report(epoch):
                self.client.cancel([f for pair in epochs[epoch:] for side in pair for f in side])
                break

    def factors(self) -> tuple:
        """Gather the factor blocks and interleaved back into global row order."""
        nb = self.n_blocks
        xs, ys = self.client.gather([self.X, self.Y])
        X = np.empty((self.n_users, self.k), dtype=np.float32)
        Y = np.empty((self.n_items, self.k), dtype=np.float32)
        for b in range(nb):
            X[b::nb], Y[b::nb] = xs[b], ys[b]
        check_finite("ALS on the cluster", {"user factors": X, "item factors": Y},
                     hint="try stronger regularization")
        return X, Y

    def interactions(self, keep: bool) -> Interactions:
        shape = (self.n_users, self.n_items)
        if not keep:
            matrix = sp.csr_matrix(shape, dtype=np.float32)
        else:
            parts = self.client.gather([self.submit(B.block_entries, ub) for ub in self.user_blocks])
            rows = np.concatenate([p[0] for p in parts])
            cols = np.concatenate([p[1] for p in parts])
            vals = np.concatenate([p[2] for p in parts])
            matrix = sp.csr_matrix((vals, (rows, cols)), shape=shape, dtype=np.float32)
            matrix.sort_indices()
        return Interactions(matrix, self.user_map, self.item_map, kind="implicit")

    def info(self) -> dict:
        """Blocking and planned traffic per iteration (factor rows sent between blocks)."""
        rows = self.rows_to_users + self.rows_to_items
        return {"workers": len(self.workers), "user_blocks": self.n_blocks, "item_blocks": self.n_blocks,
                "init": self.init,
                "item_rows_sent_per_iteration": self.rows_to_users,
                "user_rows_sent_per_iteration": self.rows_to_items,
                "factor_bytes_sent_per_iteration": rows * self.k * 4,
                "gram_bytes_per_iteration": 2 * self.n_blocks * self.k * self.k * 8}

    def release(self):
        """Drop every future so the workers free the blocks."""
        for name in ("user_blocks", "item_blocks", "needed_u", "needed_i", "X", "Y"):
            if hasattr(self, name):
                delattr(self, name)

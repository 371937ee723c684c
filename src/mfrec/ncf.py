"""The NCF evaluation protocol (He et al. 2017, "Neural Collaborative Filtering", WWW).

As used for its ML-1M table: leave-latest-out per user, every rating a positive, the held-out item ranked
among 99 sampled negatives, HR@10 and NDCG@10.

* :func:`official_protocol` reads NCF's own test files (``ncf-ml-1m/ml-1m.test.rating`` and
  ``.test.negative``) and rebuilds its training file from ``ml-1m/ratings.dat``
  (:mod:`mfrec.data.ncf`); scores then compare with the published table.
* :func:`protocol_from_ratings` builds the same kind of protocol from any ratings: every rating a
  positive, each user's latest timed rating held out (:func:`mfrec.data.split.leave_one_out_mask`;
  a random one when the data have no timestamps), 99 seeded negatives per test pair.
* :meth:`SampledProtocol.with_negatives` redraws the negatives of the same test pairs (seeded), to
  check that a result does not depend on one draw; :meth:`SampledProtocol.validation` carves a
  validation protocol out of the training set alone (for tuning without looking at the test set).

Seeded negatives are drawn uniformly without replacement among the items the user has no rating
of (training or test); NCF's own file sometimes lists the test item among its negatives (156 of
6,040 lines), which :mod:`mfrec.evaluation.sampled` handles as NCF's code does by default.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
import scipy.sparse as sp

from .data import ncf as ncf_files
from .data.interactions import Interactions
from .data.locations import search_dirs
from .errors import DataError, DatasetNotAvailableError, InvalidParameterError
from .evaluation.sampled import KRICHENE_RENDLE_NOTE, evaluate_sampled
from .ids import IdMap

__all__ = ["SampledProtocol", "official_protocol", "protocol_from_ratings", "find_official_files",
           "training_interactions", "sample_negatives", "KRICHENE_RENDLE_NOTE", "OFFICIAL_FOLDER"]

OFFICIAL_FOLDER = "ncf-ml-1m"


@dataclass(frozen=True)
class SampledProtocol:
    """A training set and test pairs, each with its own negatives.

    Parameters
    ----------
    train : Interactions
        Implicit (value 1); its id maps cover the whole catalogue, so items seen only in test
        pairs or negatives are known (with no training entry).
    users, items : numpy.ndarray of int
        Raw ids (train's id maps), one test pair per row.
    negatives : numpy.ndarray of int, shape (n_pairs, n_negatives)
        Raw item ids.
    description : str, default ""
        How the protocol was made.
    """

    train: Interactions
    users: np.ndarray
    items: np.ndarray
    negatives: np.ndarray
    description: str = ""

    @property
    def n_pairs(self) -> int:
        """Number of test pairs."""
        return len(self.users)

    def test_interactions(self) -> Interactions:
        """Return the test pairs as an Interactions with train's id maps (for full-ranking metrics).

        Returns
        -------
        Interactions
            Implicit, one entry per distinct test pair.
        """
        u = self.train.user_ids.indices(self.users)
        i = self.train.item_ids.indices(self.items)
        m = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, i)), shape=self.train.shape)
        m.sum_duplicates()
        m.data[:] = 1.0
        return Interactions(m, self.train.user_ids, self.train.item_ids, kind="implicit")

    def with_negatives(self, seed: int, n_negatives: Optional[int] = None) -> SampledProtocol:
        """Return the same training set and test pairs with a fresh seeded draw of negatives.

        A negative is never an item of the user's training entries or the test item itself.

        Parameters
        ----------
        seed : int
            Seeds the draw (:func:`sample_negatives`).
        n_negatives : int, optional
            Negatives per pair (default: as many as now).

        Returns
        -------
        SampledProtocol
            The protocol with the new negatives.
        """
        n = self.negatives.shape[1] if n_negatives is None else n_negatives
        negatives = sample_negatives(self.train, self.users, self.items, n, seed)
        return replace(self, negatives=negatives,
                       description=f"{self.description}; negatives redrawn (seed {seed}, {n} per pair)")

    def validation(self, seed: int = 0, n_negatives: Optional[int] = None) -> SampledProtocol:
        """Return a validation protocol carved from ``train`` only.

        Per user, the latest remaining timed entry (leave-latest-out; a random one without
        timestamps) is held out with its own seeded negatives; the rest is the validation
        protocol's training set. The test pairs and their negatives are never read.

        Parameters
        ----------
        seed : int, default 0
            Seeds the tie-breaking and the negatives.
        n_negatives : int, optional
            Negatives per pair (default: as many as the test pairs have).

        Returns
        -------
        SampledProtocol
            The validation protocol.

        Raises
        ------
        DataError
            When no user has two or more training entries.
        """
        n = self.negatives.shape[1] if n_negatives is None else n_negatives
        inner = _leave_latest_out(self.train, n, seed, what="validation carved from the training set")
        return replace(inner, description=f"{inner.description} (of: {self.description})")

    def evaluate(self, model, k: int = 10, *, duplicates: str = "collapse", ties: str = "ncf",
                 full_ranking: bool = True, threads: int = 0) -> dict:
        """Compute sampled HR@k, NDCG@k, MRR of a model fitted on ``train``.

        See :func:`mfrec.evaluation.sampled.evaluate_sampled`; with ``full_ranking``, the
        full-catalogue ranking metrics of the same test pairs are added, prefixed "full_"
        (training items excluded, :func:`mfrec.evaluation.evaluate_ranking`).

        Parameters
        ----------
        model : Recommender
            Fitted on ``train``.
        k : int, default 10
            The cut-off.
        duplicates : {"collapse", "keep"}, default "collapse"
            As :func:`~mfrec.evaluation.sampled.evaluate_sampled`.
        ties : {"ncf", "pessimistic", "optimistic"}, default "ncf"
            As :func:`~mfrec.evaluation.sampled.evaluate_sampled`.
        full_ranking : bool, default True
            Add the full-catalogue metrics.
        threads : int, default 0
            Threads of the full ranking (0 = all cores).

        Returns
        -------
        dict
            The metrics by name.
        """
        out = evaluate_sampled(model, self.users, self.items, self.negatives, k, duplicates=duplicates, ties=ties)
        if full_ranking:
            from .evaluation import evaluate_ranking
            full = evaluate_ranking(model, self.test_interactions(), k=k, threads=threads)
            for key in (f"ndcg@{k}", f"hit_rate@{k}", f"recall@{k}", "mrr"):
                if key in full:
                    out[f"full_{key}"] = full[key]
        return out


# ---------------------------------------------------------------------- building
def training_interactions(users, items, timestamps, n_users: int, n_items: int,
                          source: str = "training set") -> Interactions:
    """Build implicit Interactions (value 1) over raw ids 0..n_users-1 x 0..n_items-1.

    Parameters
    ----------
    users, items : array-like of int
        The pairs, in NCF's dense ids.
    timestamps : array-like of float
        One per pair (NaN = missing).
    n_users, n_items : int
        The id ranges.
    source : str, default "training set"
        Named in error messages.

    Returns
    -------
    Interactions
        Implicit, with the timestamps (None when all are missing).

    Raises
    ------
    DataError
        When an id exceeds the ranges, or a (user, item) pair is repeated (naming it).
    """
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    ts = np.asarray(timestamps, dtype=np.float64)
    if len(users) and (users.max() >= n_users or items.max() >= n_items):
        raise DataError(f"{source}: ids exceed {n_users} users x {n_items} items")
    key = users * n_items + items
    order = np.argsort(key, kind="stable")
    repeated = np.flatnonzero(np.diff(key[order]) == 0)
    if len(repeated):
        p = order[repeated[0]]
        raise DataError(f"{source}: user {users[p]} has item {items[p]} more than once")
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=n_users), out=indptr[1:])
    m = sp.csr_matrix((np.ones(len(users), dtype=np.float32), items[order].astype(np.int32), indptr),
                      shape=(n_users, n_items))
    m.has_sorted_indices = True
    stamps = ts[order] if not np.isnan(ts).all() else None
    return Interactions(m, IdMap(np.arange(n_users), kind="user"), IdMap(np.arange(n_items), kind="item"),
                        timestamps=stamps, kind="implicit")


def sample_negatives(train: Interactions, users, items, n_negatives: int, seed) -> np.ndarray:
    """Draw negatives uniformly without replacement, per pair.

    The candidates are the items that are neither in the user's training entries nor the pair's
    own item. Exactly uniform: every catalogue item gets a uniform random key, excluded items get
    key 2, and the ``n_negatives`` smallest keys win (``numpy.random.default_rng(seed)``).

    Parameters
    ----------
    train : Interactions
        The training set (its id maps hold the raw ids below).
    users, items : array-like
        Raw ids of the test pairs.
    n_negatives : int
        Negatives per pair (positive).
    seed : int or None
        Seeds ``numpy.random.default_rng``.

    Returns
    -------
    numpy.ndarray of int64, shape (n_pairs, n_negatives)
        Raw item ids.

    Raises
    ------
    InvalidParameterError
        When ``n_negatives`` is not a positive integer.
    DataError
        When a user has fewer than ``n_negatives`` items left to sample from.
    """
    if isinstance(n_negatives, bool) or not isinstance(n_negatives, (int, np.integer)) or n_negatives < 1:
        raise InvalidParameterError(f"n_negatives must be a positive integer, got {n_negatives!r}")
    rng = np.random.default_rng(seed)
    u = train.user_ids.indices(np.asarray(users))
    i = train.item_ids.indices(np.asarray(items))
    m = train.matrix
    n_items = train.n_items
    available = n_items - np.diff(m.indptr)[u] - 1 + m[u, i].A1.astype(bool)  # minus seen and the pair's item
    short = np.flatnonzero(available < n_negatives)
    if len(short):
        j = int(short[0])
        raise DataError(f"user {users[j]} has only {available[j]} items left to sample {n_negatives} negatives from")
    out = np.empty((len(u), n_negatives), dtype=np.int64)
    batch = max(1, (1 << 22) // max(n_items, 1))
    for start in range(0, len(u), batch):
        rows = u[start:start + batch]
        keys = rng.random((len(rows), n_items))
        seen = m[rows]
        keys[np.repeat(np.arange(len(rows)), np.diff(seen.indptr)), seen.indices] = 2.0
        keys[np.arange(len(rows)), i[start:start + batch]] = 2.0
        pick = np.argpartition(keys, n_negatives - 1, axis=1)[:, :n_negatives]
        # file order of the draw: by key, so the list does not depend on argpartition's internals
        pick = np.take_along_axis(pick, np.argsort(np.take_along_axis(keys, pick, axis=1), axis=1), axis=1)
        out[start:start + batch] = pick
    return train.item_ids.to_raw(out.ravel()).reshape(out.shape).astype(np.int64)


def _leave_latest_out(inter: Interactions, n_negatives: int, seed, what: str) -> SampledProtocol:
    from .data.split import leave_one_out_mask
    by = "time" if inter.has_timestamps else "random"
    mask, untimed = leave_one_out_mask(inter, by=by, seed=seed, min_train=1)
    if not mask.any():
        raise DataError(f"{what}: no user has two or more interactions to hold one out")
    m = inter.matrix
    entry_users = np.repeat(np.arange(inter.n_users), np.diff(m.indptr))
    users = inter.user_ids.to_raw(entry_users[mask])
    items = inter.item_ids.to_raw(m.indices[mask])
    train = inter.select(~mask)
    negatives = sample_negatives(train, users, items, n_negatives, seed)
    held = int(mask.sum())
    how = ("latest timed entry per user (entries without a timestamp never held out"
           f"{'; ' + format(untimed, ',') + ' untimed entries' if untimed else ''})" if by == "time"
           else "a random entry per user (no timestamps)")
    return SampledProtocol(train, users, items, negatives,
                           f"{what}: {held:,} test pairs, {how}, {n_negatives} negatives per pair (seed {seed})")


def protocol_from_ratings(data: Interactions, *, seed: int = 0, n_negatives: int = ncf_files.N_NEGATIVES,
                          source: str = "ratings") -> SampledProtocol:
    """Build NCF's protocol from any ratings.

    Every entry is a positive (value 1); per user the latest timed entry is held out
    (:func:`~mfrec.data.split.leave_one_out_mask`; a random entry when there are no timestamps;
    users with one entry stay in train), with 99 seeded negatives per pair.

    Parameters
    ----------
    data : Interactions
        Explicit or implicit.
    seed : int, default 0
        Seeds the tie-breaking and the negatives.
    n_negatives : int, default 99
        Negatives per pair.
    source : str, default "ratings"
        Named in the description.

    Returns
    -------
    SampledProtocol
        The protocol.

    Raises
    ------
    DataError
        When no user has two or more entries.
    """
    inter = data.to_implicit(threshold=None) if data.is_explicit else data
    m = inter.matrix
    inter = Interactions(sp.csr_matrix((np.ones_like(m.data), m.indices, m.indptr), shape=m.shape),
                         inter.user_ids, inter.item_ids, timestamps=inter.timestamps,
                         item_metadata=inter.item_metadata, kind="implicit")
    return _leave_latest_out(inter, n_negatives, seed, what=f"NCF-style protocol built from {source}")


def find_official_files(data_dir=None) -> Optional[dict]:
    """Find NCF's test files and ML-1M's ratings.dat.

    Parameters
    ----------
    data_dir : str or Path, optional
        Searched first, then $MFREC_DATA_DIR, then mfrec's cache folder (each as ``ncf-ml-1m/``
        and ``ml-1m/``).

    Returns
    -------
    dict or None
        The paths under "test_rating", "test_negative" and "ratings_dat"; None when any of the
        three is missing.
    """
    for folder in search_dirs(data_dir):
        ncf = folder / OFFICIAL_FOLDER
        paths = {"test_rating": ncf / ncf_files.TEST_RATING, "test_negative": ncf / ncf_files.TEST_NEGATIVE,
                 "ratings_dat": folder / "ml-1m" / "ratings.dat"}
        if all(p.is_file() for p in paths.values()):
            return paths
    return None


def official_protocol(data_dir=None, *, negatives_seed: Optional[int] = None) -> SampledProtocol:
    """Load NCF's ML-1M protocol from its own files.

    The training file is rebuilt from ratings.dat (:func:`mfrec.data.ncf.build_ncf_training`);
    the 6,040 test pairs come with their 99 listed negatives.

    Parameters
    ----------
    data_dir : str or Path, optional
        Where to look first (see :func:`find_official_files`).
    negatives_seed : int, optional
        A seeded redraw of 99 negatives for the same pairs instead of the listed ones.

    Returns
    -------
    SampledProtocol
        The protocol.

    Raises
    ------
    DatasetNotAvailableError
        When the files are not found (the message lists where it looked).
    DataError
        When the files disagree with each other or a line is malformed.
    """
    paths = find_official_files(data_dir)
    if paths is None:
        where = ", ".join(str(p) for p in search_dirs(data_dir))
        raise DatasetNotAvailableError(f"NCF's ML-1M files ({OFFICIAL_FOLDER}/{ncf_files.TEST_RATING}, "
                                       f"{OFFICIAL_FOLDER}/{ncf_files.TEST_NEGATIVE} and ml-1m/ratings.dat) "
                                       f"were not found in {where}")
    train_r, movie_ids = ncf_files.build_ncf_training(paths["ratings_dat"], paths["test_rating"])
    users, items, negatives = ncf_files.read_ncf_negatives(paths["test_negative"])
    test = ncf_files.read_ncf_ratings(paths["test_rating"])
    if len(test) != len(users) or not ((test.users == users).all() and (test.items == items).all()):
        raise DataError(f"{paths['test_negative']}: its (user,item) pairs do not match "
                        f"{paths['test_rating']} line by line")
    n_users = int(max(train_r.users.max(), users.max())) + 1
    n_items = len(movie_ids)
    if negatives.max() >= n_items:
        raise DataError(f"{paths['test_negative']}: negative item {negatives.max()} is not among the "
                        f"{n_items} items of {paths['ratings_dat']}")
    train = training_interactions(train_r.users, train_r.items, train_r.timestamps, n_users, n_items,
                                  source=str(paths["ratings_dat"]))
    protocol = SampledProtocol(train, users, items, negatives,
                               f"NCF ML-1M files ({paths['test_rating'].parent}): {len(users):,} test pairs, "
                               f"{negatives.shape[1]} listed negatives each; training file rebuilt from "
                               f"{paths['ratings_dat']} ({train.nnz:,} ratings)")
    return protocol if negatives_seed is None else protocol.with_negatives(negatives_seed)


# ---------------------------------------------------------------------- the command line's entry
def load_protocol(dataset: str = "ml-1m", *, data_dir=None, negatives_seed: Optional[int] = None,
                  log=None) -> SampledProtocol:
    """Return the protocol ``mfrec evaluate/compare --protocol ncf`` uses.

    For ML-1M (``dataset`` "ml-1m" or "1m"): NCF's official files when they are found
    (:func:`find_official_files`), their listed negatives, or a seeded redraw with
    ``negatives_seed``; without the files, the protocol built from ML-1M's ratings. For any other
    data set: :func:`protocol_from_ratings` with ``negatives_seed`` (default 0). ``log`` (a
    callable taking a str) hears which one was chosen.
    """
    from .datasets import load_dataset
    say = log or (lambda text: None)
    if dataset.lower().removeprefix("ml-") == "1m":
        if find_official_files(data_dir) is not None:
            return official_protocol(data_dir, negatives_seed=negatives_seed)
        say(f"NCF's ML-1M test files ({OFFICIAL_FOLDER}/) were not found: building the protocol from "
            "ML-1M's ratings with seeded negatives; figures will not be comparable with NCF's table")
    seed = 0 if negatives_seed is None else negatives_seed
    data = load_dataset(dataset, data_dir=data_dir, show_progress=log is not None)
    return protocol_from_ratings(data, seed=seed, source=dataset)

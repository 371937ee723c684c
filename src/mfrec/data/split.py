"""Train/test splits of an :class:`~mfrec.data.interactions.Interactions`: seeded, reproducible, leak-free.

Every function returns a :class:`Split` (or, for :func:`kfold`, an iterator of them) built the same way:

1. a boolean *test mask* over the CSR entries of the input is drawn;
2. ``train = inter.select(~mask).compact()``: only users and items with at least one training entry
   remain, renumbered densely;
3. ``test = inter.select(mask).align_to(train)``: the held-out entries re-expressed in train's id maps.
   A held-out entry whose user or item has no training entry cannot be scored by a model fitted on
   ``train``; it is DROPPED and COUNTED in ``Split.dropped_test``, never mapped to another index.

Randomness comes from ``numpy.random.default_rng(seed)``: the same seed gives the same split, a
different seed a different one. Timestamps (NaN = missing) travel with their entries into both sets.

Rules shared by all splits
--------------------------
* Sizes are exact, not Bernoulli draws: "round" means round half up, ``floor(x + 0.5)``.
* A split whose train or test set would be empty raises :class:`~mfrec.errors.DataError`; so does a
  split whose every held-out entry had to be dropped.
* Bad parameters raise ``ValueError`` naming the parameter.

Missing timestamps (ML-1M has 86,287 ratings without one)
---------------------------------------------------------
* :func:`leave_one_out` with ``by="time"``: an entry without a timestamp counts as earlier than every
  timed entry and is never the held-out "latest" one; a user with no timed entry keeps everything
  in train. Such entries are counted in ``Split.untimed``.
* :func:`temporal_split`: entries without a timestamp go to train, counted in ``Split.untimed``.
* Both raise DataError when the data carry no timestamps at all.
"""
from __future__ import annotations

import datetime as _dt
import numbers
from dataclasses import dataclass
from typing import Iterator, Optional, Union

import numpy as np
import pandas as pd

from ..errors import DataError, InvalidParameterError
from ..params import Integer, Options, Real, check
from .interactions import Interactions

__all__ = ["Split", "random_split", "per_user_split", "leave_one_out", "leave_one_out_mask", "temporal_split", "kfold"]


@dataclass(frozen=True)
class Split:
    """A train/test pair whose test set uses the training set's id maps.

    ``train, test = split`` unpacks the two sets.

    Parameters
    ----------
    train : Interactions
        Compacted: every user and item in it has at least one training entry.
    test : Interactions
        Same ``user_ids``/``item_ids`` (and shape) as ``train``; only entries whose user and item
        are both in ``train``.
    dropped_test : int
        Held-out entries dropped because their user or item has no training entry.
    untimed : int
        Entries without a timestamp that a time-based rule placed in train (0 for other splits).
    description : str
        How the split was made, e.g. ``"per_user_split(test_fraction=0.2, seed=0)"``.
    """

    train: Interactions
    test: Interactions
    dropped_test: int = 0
    untimed: int = 0
    description: str = ""

    def __iter__(self):
        yield self.train
        yield self.test

    @property
    def n_test_users(self) -> int:
        """Users with at least one (kept) test entry."""
        return int(np.count_nonzero(np.diff(self.test.matrix.indptr)))

    def __repr__(self) -> str:
        return (f"Split({self.description or 'split'}: train {self.train.nnz:,} entries "
                f"({self.train.n_users:,} users x {self.train.n_items:,} items), test {self.test.nnz:,} "
                f"entries ({self.n_test_users:,} users), {self.dropped_test:,} test entries dropped)")


# ---------------------------------------------------------------------- public splits
def random_split(inter: Interactions, test_fraction: float = 0.1, seed=0) -> Split:
    """Hold out a uniformly random ``round(test_fraction * nnz)`` of all entries.

    Users or items whose every entry lands in test disappear from train; their test entries are
    dropped and counted.

    Parameters
    ----------
    inter : Interactions
        The interactions to split (at least 2 entries).
    test_fraction : float, default 0.1
        The share of entries held out, in (0, 1).
    seed : int, numpy.random.Generator or None, default 0
        Seeds ``numpy.random.default_rng``; None draws fresh entropy (not reproducible).

    Returns
    -------
    Split
        The train set and the test set in its id maps.

    Raises
    ------
    DataError
        When train or test would be empty.
    InvalidParameterError
        When ``test_fraction`` or ``seed`` is out of range.
    """
    _check_inter(inter)
    _check_fraction("test_fraction", test_fraction)
    rng = _rng(seed)
    n = inter.nnz
    n_test = _round_half_up(test_fraction * n)
    if n_test < 1 or n_test >= n:
        raise DataError(f"test_fraction={test_fraction} of {n} entries gives {n_test} test entries; "
                        "need at least one entry in each of train and test")
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[:n_test]] = True
    return _make_split(inter, mask, f"random_split(test_fraction={test_fraction}, seed={seed!r})")


def per_user_split(inter: Interactions, test_fraction: float = 0.2, *, test_count: Optional[int] = None,
                   seed=0, min_train: int = 1) -> Split:
    """Per user, hold out a random ``round(test_fraction * n_u)`` of the user's ``n_u`` entries.

    With ``test_count`` given, hold out ``test_count`` entries per user instead (``test_fraction`` is
    then ignored). Either way a user keeps at least ``min_train`` entries in train: the held-out
    number is ``min(wanted, n_u - min_train)``, at least 0. So users with ``n_u <= min_train``
    entries keep everything in train, and a user with ``fraction * n_u < 0.5`` holds out nothing
    (round half up: 0.2 * 3 = 0.6 -> 1; 0.2 * 2 = 0.4 -> 0). Items can still vanish from train.

    Parameters
    ----------
    inter : Interactions
        The interactions to split (at least 2 entries).
    test_fraction : float, default 0.2
        The share of each user's entries held out, in (0, 1).
    test_count : int, optional
        Entries held out per user (at least 1) instead of a fraction.
    seed : int, numpy.random.Generator or None, default 0
        Seeds ``numpy.random.default_rng``; None draws fresh entropy (not reproducible).
    min_train : int, default 1
        Entries each user keeps in train.

    Returns
    -------
    Split
        The train set and the test set in its id maps.

    Raises
    ------
    DataError
        When train or test would be empty.
    InvalidParameterError
        When an argument is out of range.
    """
    _check_inter(inter)
    if test_count is None:
        _check_fraction("test_fraction", test_fraction)
    else:
        _check_int("test_count", test_count, 1)
    _check_int("min_train", min_train, 0)
    rng = _rng(seed)
    counts = np.diff(inter.matrix.indptr)
    wanted = (np.full_like(counts, test_count) if test_count is not None
              else _round_half_up(test_fraction * counts))
    n_test = np.clip(np.minimum(wanted, counts - min_train), 0, None)
    order = _shuffle_within_users(inter, rng)
    # held out: the first n_test[u] entries of each user's random order
    mask = np.zeros(inter.nnz, dtype=bool)
    mask[order] = _rank_within_users(inter) < np.repeat(n_test, counts)
    how = f"test_count={test_count}" if test_count is not None else f"test_fraction={test_fraction}"
    return _make_split(inter, mask, f"per_user_split({how}, min_train={min_train}, seed={seed!r})")


def leave_one_out(inter: Interactions, *, by: str = "time", seed=0, min_train: int = 1) -> Split:
    """Per user, hold out one entry: the latest by timestamp (``by="time"``) or a random one.

    Only users with more than ``min_train`` entries hold one out; the others keep all in train.

    ``by="time"``: the entry with the largest timestamp. Ties (several entries in the same second,
    common in MovieLens) are broken by a seeded random choice, so the result is reproducible for
    a given seed and not biased towards any item order (e.g. higher MovieLens ids = newer films).
    Entries without a timestamp count as earlier than any timed entry and are never held out; a
    user with no timed entry keeps everything in train.

    Parameters
    ----------
    inter : Interactions
        The interactions to split (at least 2 entries).
    by : {"time", "random"}, default "time"
        Which entry each user holds out.
    seed : int, numpy.random.Generator or None, default 0
        Seeds ``numpy.random.default_rng``; None draws fresh entropy (not reproducible).
    min_train : int, default 1
        Only users with more entries than this hold one out.

    Returns
    -------
    Split
        The train set and the test set in its id maps.

    Raises
    ------
    DataError
        With ``by="time"`` on interactions without timestamps, or when train or test would be empty.
    InvalidParameterError
        When an argument is out of range.
    """
    mask, untimed = leave_one_out_mask(inter, by=by, seed=seed, min_train=min_train)
    return _make_split(inter, mask, f"leave_one_out(by={by!r}, min_train={min_train}, seed={seed!r})",
                       untimed=untimed)


def leave_one_out_mask(inter: Interactions, *, by: str = "time", seed=0, min_train: int = 1) -> tuple:
    """Return the held-out entries of :func:`leave_one_out` as a boolean mask over the CSR entries.

    Nothing is compacted or dropped: ``(mask, untimed)``, where ``untimed`` counts the entries
    without a timestamp (always 0 for ``by="random"``).

    Same rules as :func:`leave_one_out` (leave-latest-out for ``by="time"``): the latest timed entry
    per user, ties broken by the seed; entries without a timestamp count as earlier than every
    timed entry and are never held out; a user with no timed entry, or with ``<= min_train``
    entries, holds nothing out. Used where the catalogue must stay whole (e.g. the sampled-negatives
    protocol of :mod:`mfrec.ncf`, whose negatives may be items seen only in the test set).
    """
    _check_inter(inter)
    if by not in ("time", "random"):
        check("by", by, Options("time", "random"))
    _check_int("min_train", min_train, 0)
    rng = _rng(seed)
    untimed_mask = None
    if by == "time":
        ts = _require_timestamps(inter, "leave_one_out(by='time')")
        untimed_mask = np.isnan(ts)
        key = np.where(untimed_mask, -np.inf, ts)
    else:
        key = np.zeros(inter.nnz)
    mask = _argmax_per_user(inter, key, rng)
    mask &= np.repeat(np.diff(inter.matrix.indptr) > min_train, np.diff(inter.matrix.indptr))
    untimed = 0
    if untimed_mask is not None:
        mask &= ~untimed_mask  # a user whose latest entry is untimed has no timed entry: nothing held out
        untimed = int(untimed_mask.sum())
    return mask, untimed


def temporal_split(inter: Interactions, cutoff) -> Split:
    """Entries with ``timestamp < cutoff`` go to train, ``timestamp >= cutoff`` to test.

    ``cutoff`` is seconds since the Unix epoch (int/float), or a ``datetime``/``pandas.Timestamp``/
    ``numpy.datetime64``/ISO-8601 string (naive ones are read as UTC). Entries without a timestamp
    go to train and are counted in ``Split.untimed``. No randomness is involved.

    Parameters
    ----------
    inter : Interactions
        The interactions to split (at least 2 entries).
    cutoff : int, float, str, datetime.datetime, numpy.datetime64 or pandas.Timestamp
        The first time of the test set.

    Returns
    -------
    Split
        The train set and the test set in its id maps.

    Raises
    ------
    DataError
        Without timestamps, or when either side would be empty.
    """
    _check_inter(inter)
    seconds = _cutoff_seconds(cutoff)
    ts = _require_timestamps(inter, "temporal_split")
    untimed = np.isnan(ts)
    mask = ts >= seconds  # NaN >= x is False: untimed entries stay in train
    timed = ts[~untimed]
    if not mask.any():
        raise DataError(f"temporal_split: no entry has a timestamp >= cutoff {_fmt_time(seconds)} "
                        f"(latest is {_fmt_time(timed.max())}): the test set would be empty")
    if mask.all():
        raise DataError(f"temporal_split: every entry has a timestamp >= cutoff {_fmt_time(seconds)} "
                        f"(earliest is {_fmt_time(timed.min())}): the train set would be empty")
    return _make_split(inter, mask, f"temporal_split(cutoff={_fmt_time(seconds)})", untimed=int(untimed.sum()))


def kfold(inter: Interactions, k: int = 5, seed=0) -> Iterator[Split]:
    """``k`` splits over one random partition of the entries into ``k`` folds.

    Fold ``f`` is the test set of the ``f``-th split and the other folds its train set; every entry
    is in exactly one test fold; fold sizes differ by at most one. Parameters are checked at the
    call, before the first split is built; the splits are built lazily, one per iteration.

    Parameters
    ----------
    inter : Interactions
        The interactions to split (at least 2 entries).
    k : int, default 5
        The number of folds (at least 2, at most the number of entries).
    seed : int, numpy.random.Generator or None, default 0
        Seeds ``numpy.random.default_rng``; None draws fresh entropy (not reproducible).

    Returns
    -------
    iterator of Split
        The ``k`` splits, fold 1 first.

    Raises
    ------
    InvalidParameterError
        When ``k`` or ``seed`` is out of range.
    """
    _check_inter(inter)
    _check_int("k", k, 2)
    if k > inter.nnz:
        raise InvalidParameterError(f"k={k} is larger than the number of entries ({inter.nnz})")
    rng = _rng(seed)
    fold = np.empty(inter.nnz, dtype=np.int64)
    fold[rng.permutation(inter.nnz)] = np.arange(inter.nnz) % k

    def splits() -> Iterator[Split]:
        for f in range(k):
            yield _make_split(inter, fold == f, f"kfold(k={k}, seed={seed!r}) fold {f + 1}/{k}")

    return splits()


# ---------------------------------------------------------------------- building blocks
def _make_split(inter: Interactions, test_mask: np.ndarray, description: str, *, untimed: int = 0) -> Split:
    """Train = compacted complement of the mask; test = masked entries aligned to train."""
    n_test = int(test_mask.sum())
    if n_test == 0:
        raise DataError(f"{description}: the test set is empty (no user has enough entries to hold one out)")
    if n_test == inter.nnz:
        raise DataError(f"{description}: the train set is empty")
    train = inter.select(~test_mask).compact()
    test, dropped = inter.select(test_mask).align_to(train)
    if test.nnz == 0:
        raise DataError(f"{description}: all {n_test} held-out entries belong to users or items "
                        "absent from train; the test set is empty")
    return Split(train, test, dropped_test=dropped, untimed=untimed, description=description)


def _entry_users(inter: Interactions) -> np.ndarray:
    """User index of every CSR entry (non-decreasing)."""
    indptr = inter.matrix.indptr
    return np.repeat(np.arange(inter.n_users, dtype=np.int64), np.diff(indptr))


def _shuffle_within_users(inter: Interactions, rng: np.random.Generator) -> np.ndarray:
    """Entry positions grouped by user (as in CSR) in a uniformly random order within each user.

    One integer sort: key = user * 2**32 + a random 32-bit integer (exact, unlike a float
    ``user + U(0,1)`` key, which can round into the next user's block).
    """
    key = (_entry_users(inter) << 32) | rng.integers(0, 2**32, size=inter.nnz, dtype=np.int64)
    return np.argsort(key)


def _argmax_per_user(inter: Interactions, key: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mask one entry per non-empty user: the one with the largest ``key``, ties broken at random.

    Ties are broken uniformly at random (by a random priority that is a permutation, hence
    tie-free). O(nnz), no sort.
    """
    indptr = inter.matrix.indptr
    counts = np.diff(indptr)
    starts = indptr[:-1][counts > 0]
    users = _entry_users(inter)
    seg_max = np.full(inter.n_users, -np.inf)
    seg_max[counts > 0] = np.maximum.reduceat(key, starts)  # per-user max of key
    candidate = key == seg_max[users]
    priority = np.where(candidate, rng.permutation(inter.nnz), -1)
    best = np.full(inter.n_users, -2, dtype=np.int64)
    best[counts > 0] = np.maximum.reduceat(priority, starts)
    return priority == best[users]


def _rank_within_users(inter: Interactions) -> np.ndarray:
    """For position p of any user-grouped order, the rank of p inside its user's block."""
    indptr = inter.matrix.indptr
    counts = np.diff(indptr)
    return np.arange(inter.nnz, dtype=np.int64) - np.repeat(indptr[:-1], counts)


def _require_timestamps(inter: Interactions, what: str) -> np.ndarray:
    ts = inter.timestamps
    if ts is None or np.isnan(ts).all():
        raise DataError(f"{what} needs timestamps, but these interactions have none; "
                        "use a random split (e.g. leave_one_out(by='random') or per_user_split)")
    return ts


def _round_half_up(x):
    """Return floor(x + 0.5) as an int (or an int64 array), with a small tolerance.

    The tolerance makes e.g. 0.1 * 25 = 2.5000000000000004 round like 2.5.
    """
    out = np.floor(np.asarray(x, dtype=np.float64) + 0.5 + 1e-9).astype(np.int64)
    return int(out) if out.ndim == 0 else out


# ---------------------------------------------------------------------- validation
def _check_inter(inter) -> None:
    if not isinstance(inter, Interactions):
        raise DataError(f"inter must be an Interactions, got {type(inter).__name__}")
    if inter.nnz < 2:
        raise DataError(f"cannot split {inter.nnz} interaction(s): need at least 2")


#: the constraints of split arguments (mfrec.params)
FRACTION = Real(0, 1, closed="neither")
SEED = [None, Integer(0)]


def _check_fraction(name: str, value) -> None:
    check(name, value, FRACTION)


def _check_int(name: str, value, minimum: int) -> None:
    check(name, value, Integer(minimum))


def _rng(seed) -> np.random.Generator:
    """Return ``default_rng(seed)``.

    ``seed`` is a non-negative int, None (fresh entropy: not reproducible) or a
    ``numpy.random.Generator`` (used as is).
    """
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    check("seed", seed, SEED)
    return np.random.default_rng(int(seed))


def _cutoff_seconds(cutoff: Union[int, float, str, _dt.datetime, np.datetime64, pd.Timestamp]) -> float:
    """Seconds since the Unix epoch of a cutoff given as a number, datetime, datetime64 or ISO string."""
    if isinstance(cutoff, bool):
        raise InvalidParameterError("cutoff must be seconds since the epoch, a datetime or an ISO date string, "
                                    f"got {cutoff!r}")
    if isinstance(cutoff, numbers.Real):
        value = float(cutoff)
        if not np.isfinite(value):
            raise InvalidParameterError(f"cutoff must be finite, got {cutoff!r}")
        return value
    if isinstance(cutoff, (str, _dt.datetime, _dt.date, np.datetime64, pd.Timestamp)):
        try:
            stamp = pd.Timestamp(cutoff)
        except (ValueError, TypeError) as exc:
            raise InvalidParameterError(f"cutoff {cutoff!r} is not a date/time (expected e.g. '2000-12-01' "
                             f"or '2000-12-01T12:00:00Z'): {exc}") from None
        if stamp is pd.NaT:
            raise InvalidParameterError(f"cutoff {cutoff!r} is not a date/time")
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return stamp.value / 1e9
    raise InvalidParameterError(f"cutoff must be seconds since the epoch, a datetime or an ISO date string, "
                     f"got {type(cutoff).__name__}")


def _fmt_time(seconds: float) -> str:
    """'2000-12-01 00:00:00 UTC (975628800 s)' for messages and descriptions."""
    try:
        when = pd.Timestamp(seconds, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")
    except (ValueError, OverflowError):
        return f"{seconds:g} s"
    return f"{when} ({seconds:.0f} s)"

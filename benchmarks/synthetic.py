"""Seeded power-law implicit interactions, written as Parquet files (benchmarks only).

Default shape: ML-20M's 138k users x 27k items, scaled with the number of events (44M events =
twice ML-20M's size, the shape used in issue 14). Each event picks a user and an item
independently with probabilities proportional to rank^-a (a = 0.6 for users, 1.0 for items, a
long tail like MovieLens); ranks are shuffled onto the ids so popularity is unrelated to id order.
Repeated (user, item) pairs are kept as separate rows: fits add them up (counts as r_ui).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

USERS_PER_EVENT = 138_000 / 44_000_000
ITEMS_PER_EVENT = 27_000 / 44_000_000


def shape_for(events: int) -> tuple:
    """(n_users, n_items) of a data set with ``events`` rows, ML-20M's aspect."""
    return max(100, round(events * USERS_PER_EVENT)), max(50, round(events * ITEMS_PER_EVENT))


def _power_law(n: int, exponent: float, rng) -> np.ndarray:
    """Cumulative probabilities of ids 0..n-1 with p(id) ~ rank(id)^-exponent, ranks shuffled."""
    weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    weights = weights[rng.permutation(n)]
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def write_power_law(folder, events: int, *, seed: int = 0, files: int = 8, chunk: int = 4_000_000) -> Path:
    """Write ``events`` rows (user, item: int64) into ``files`` Parquet files under ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_users, n_items = shape_for(events)
    user_cdf, item_cdf = _power_law(n_users, 0.6, rng), _power_law(n_items, 1.0, rng)
    per_file = -(-events // files)
    for f in range(files):
        rows = min(per_file, events - f * per_file)
        parts = []
        for start in range(0, rows, chunk):
            m = min(chunk, rows - start)
            users = np.searchsorted(user_cdf, rng.random(m), side="right")  # inverse-CDF draws
            items = np.searchsorted(item_cdf, rng.random(m), side="right")
            parts.append(pd.DataFrame({"user": users.astype(np.int64), "item": items.astype(np.int64)}))
        pd.concat(parts, ignore_index=True).to_parquet(folder / f"part-{f:03d}.parquet", index=False)
    return folder


def power_law_csr(events: int, *, seed: int = 0, chunk: int = 4_000_000):
    """The same draws as :func:`write_power_law` (same seed, same order), summed into a users x
    items CSR (indptr int64, indices int32, data float32 = how often the pair was drawn), built
    without the Parquet round trip: (indptr, indices, data, (n_users, n_items))."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    n_users, n_items = shape_for(events)
    user_cdf, item_cdf = _power_law(n_users, 0.6, rng), _power_law(n_items, 1.0, rng)
    users = np.empty(events, dtype=np.int32)
    items = np.empty(events, dtype=np.int32)
    for start in range(0, events, chunk):
        m = min(chunk, events - start)
        users[start:start + m] = np.searchsorted(user_cdf, rng.random(m), side="right")
        items[start:start + m] = np.searchsorted(item_cdf, rng.random(m), side="right")
    coo = sp.coo_matrix((np.ones(events, dtype=np.float32), (users, items)), shape=(n_users, n_items))
    del users, items
    csr = coo.tocsr()  # sums repeated pairs
    del coo
    csr.sort_indices()
    return csr.indptr.astype(np.int64), csr.indices.astype(np.int32), csr.data.astype(np.float32), (n_users, n_items)


def write_movielens_csv(folder, indptr, indices, *, rows: int, seed: int = 0, chunk: int = 2_000_000) -> Path:
    """Write ``rows`` entries of a CSR as MovieLens 20M/25M's files (``ratings.csv``:
    ``userId,movieId,rating,timestamp``, sorted by user, half-star ratings 0.5-5, Unix seconds;
    ``movies.csv``: ``movieId,title,genres``) under ``folder``; explicit ratings are seeded draws
    (weights of MovieLens' half-star histogram, roughly). Ids start at 1 as in MovieLens."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1)
    nnz = len(indices)
    keep = np.sort(rng.choice(nnz, size=min(rows, nnz), replace=False))
    users = np.searchsorted(indptr, keep, side="right") - 1
    items = indices[keep]
    stars = np.arange(1, 11) / 2.0
    weights = np.array([1, 3, 2, 7, 4, 20, 13, 27, 8, 15], dtype=np.float64)
    with open(folder / "ratings.csv", "w", encoding="ascii") as fh:
        fh.write("userId,movieId,rating,timestamp\n")
        for s in range(0, len(keep), chunk):
            e = min(s + chunk, len(keep))
            ratings = rng.choice(stars, size=e - s, p=weights / weights.sum())
            stamps = rng.integers(789_652_009, 1_574_327_703, size=e - s)
            frame = pd.DataFrame({"u": users[s:e] + 1, "i": items[s:e] + 1, "r": ratings, "t": stamps})
            frame.to_csv(fh, header=False, index=False, float_format="%.1f")
    n_items = int(indices.max()) + 1
    movies = pd.DataFrame({"movieId": np.arange(1, n_items + 1),
                           "title": [f"Movie {i} (2000)" for i in range(1, n_items + 1)], "genres": "Drama"})
    movies.to_csv(folder / "movies.csv", index=False)
    return folder

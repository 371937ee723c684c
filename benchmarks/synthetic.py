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

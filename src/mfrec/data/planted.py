"""A small planted data set with a known answer, for tests and for ``mfrec warmup`` (no pytest needed).

Two blocks of 30 users and 12 items: each user likes most of their block's items and dislikes
two of the other block's. :func:`planted_data` documents the one answer a model must find.
"""
from __future__ import annotations

import numpy as np

from .interactions import Interactions

N_USERS_PER_BLOCK = 30
N_ITEMS_PER_BLOCK = 12
PROBE_USER = "u0"          # block A user who has seen every block-A item but one
WITHHELD_ITEM = 105         # the block-A item the probe user has not seen


def planted_data(explicit: bool, seed: int = 0) -> Interactions:
    """Users u0..u59 (block A = first 30), items 100..123 (block A = 100..111).

    Each user has ~75% of their block's items (rating 4-5) and two items of the other block
    (rating 1). User u0 has every block-A item except WITHHELD_ITEM, so a model that learns the
    blocks must recommend WITHHELD_ITEM first to u0. The implicit version keeps ratings >= 4.
    """
    rng = np.random.default_rng(seed)
    users, items, ratings = [], [], []
    for u in range(2 * N_USERS_PER_BLOCK):
        block = 0 if u < N_USERS_PER_BLOCK else 1
        own = np.arange(N_ITEMS_PER_BLOCK) + block * N_ITEMS_PER_BLOCK
        other = np.arange(N_ITEMS_PER_BLOCK) + (1 - block) * N_ITEMS_PER_BLOCK
        if u == 0:
            liked = own[own != WITHHELD_ITEM - 100]
        else:
            liked = own[rng.random(len(own)) < 0.75]
        disliked = rng.choice(other, 2, replace=False)
        for i in liked:
            users.append(f"u{u}")
            items.append(100 + int(i))
            ratings.append(float(rng.choice([4, 5])))
        for i in disliked:
            users.append(f"u{u}")
            items.append(100 + int(i))
            ratings.append(1.0)
    inter = Interactions.from_arrays(users, items, ratings, rating_scale=(1, 5))
    return inter if explicit else inter.to_implicit(threshold=4)

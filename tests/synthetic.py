"""Synthetic data sets the tests train and split on, in one place (the planted two-block data of
the conformance suite is :func:`mfrec.testing.planted_data`).

Plain functions, not fixtures: tests call them with their own sizes and seeds, also at import time
(module constants, ``parametrize`` lists). Each is seeded and draws its random numbers in a fixed
order, so a given call always builds the same data.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mfrec.data.interactions import Interactions


def random_mask(rng: np.random.Generator, n_users: int, n_items: int, density: float, *,
                every_item: bool = False) -> np.ndarray:
    """A users x items boolean mask with about ``density`` of the pairs set; every user gets at
    least one random item, and with ``every_item`` every item at least one random user."""
    mask = rng.random((n_users, n_items)) < density
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    if every_item:
        mask[rng.integers(0, n_users, n_items), np.arange(n_items)] = True
    return mask


def random_implicit(n_users: int = 40, n_items: int = 30, density: float = 0.2, seed: int = 0, *,
                    counts: bool = False, every_item: bool = False, string_ids: bool = False) -> Interactions:
    """Random implicit data on :func:`random_mask`; the values are 1, or with ``counts`` random
    counts 1..5 (so confidences vary). Ids are the indices, or "u<index>" / "i<index>" strings."""
    rng = np.random.default_rng(seed)
    mask = random_mask(rng, n_users, n_items, density, every_item=every_item)
    values = rng.integers(1, 6, size=mask.shape).astype(np.float32) if counts else np.ones(mask.shape, np.float32)
    if not string_ids:
        return Interactions.from_csr(sp.csr_matrix(np.where(mask, values, 0)))
    u, i = np.nonzero(mask)
    return Interactions.from_arrays([f"u{x}" for x in u], [f"i{x}" for x in i], values[u, i] if counts else None)


def random_ratings(n_users: int = 40, n_items: int = 30, density: float = 0.4, seed: int = 1, *,
                   timestamps: bool = True, nan_share: float = 0.0) -> Interactions:
    """Random explicit ratings 1..5 on :func:`random_mask`, with distinct timestamps one minute
    apart (a share ``nan_share`` of them NaN). Users are "u<index>" and items index + 100, so a
    raw id never equals its index."""
    rng = np.random.default_rng(seed)
    u, i = np.nonzero(random_mask(rng, n_users, n_items, density))
    ratings = rng.integers(1, 6, len(u))
    ts = None
    if timestamps:
        ts = 1_000_000_000 + rng.permutation(len(u)).astype(float) * 60
        ts[rng.random(len(u)) < nan_share] = np.nan
    return Interactions.from_arrays(np.array([f"u{x}" for x in u]), i + 100, ratings, ts)


def random_pairs(n_users: int = 30, n_items: int = 25, n: int = 600, seed: int = 0) -> Interactions:
    """``n`` uniformly drawn (user, item, rating 1..5) triples on the scale (1, 5), repeated pairs
    included (the last one wins); ids are the integers 0..n_users-1 and 0..n_items-1."""
    rng = np.random.default_rng(seed)
    return Interactions.from_arrays(rng.integers(0, n_users, n), rng.integers(0, n_items, n),
                                    rng.integers(1, 6, n).astype(float), rating_scale=(1, 5))


def low_rank_ratings(n_users: int = 300, n_items: int = 200, rank: int = 3, density: float = 0.3,
                     noise: float = 0.3, seed: int = 0, rating_scale=None) -> Interactions:
    """Ratings 3 + b_u + b_i + u.v + N(0, noise^2) on a random ``density`` of the pairs (rounded
    and clipped when a ``rating_scale`` is given): what biased SVD should recover."""
    rng = np.random.default_rng(seed)
    U = rng.normal(0, 0.6, (n_users, rank))
    V = rng.normal(0, 0.6, (n_items, rank))
    bu = rng.normal(0, 0.3, n_users)
    bi = rng.normal(0, 0.3, n_items)
    u, i = np.nonzero(rng.random((n_users, n_items)) < density)
    r = 3.0 + bu[u] + bi[i] + np.einsum("ij,ij->i", U[u], V[i]) + rng.normal(0, noise, len(u))
    if rating_scale is not None:
        r = np.clip(np.round(r), *rating_scale)
    return Interactions.from_arrays(u, i, r, rating_scale=rating_scale)

"""Tests of BPR: sampler, kernel vs NumPy reference, gradient, reproducibility, parameters."""

import numpy as np
import pytest

from mfrec._threads import kernel_threads
from mfrec.data.interactions import Interactions
from mfrec.kernels import bpr as K
from mfrec.kernels import sampling as S
from mfrec.models.bpr import BPR
from mfrec.testing import ConformanceTests, planted_data
from synthetic import random_implicit
import reference_bpr as R


def bpr_data(n_users=40, n_items=30, seed=0) -> Interactions:
    """Random implicit data with "u<index>" / "i<index>" ids; every user has a positive."""
    return random_implicit(n_users, n_items, 0.3, seed, string_ids=True)


class TestBPRConformance(ConformanceTests):
    expected_ndcg = 0.70  # 0.7601 measured (tests/README.md)
    invalid_params = [
        ("factors", 0), ("factors", 2.5), ("epochs", 0), ("learning_rate", 0), ("learning_rate", -1),
        ("regularization", -0.1), ("bias_regularization", float("nan")), ("lr_decay", 0), ("lr_decay", 1.5),
        ("init_std", -1), ("samples_per_epoch", 0), ("sampling", "triple"), ("seed", -3), ("threads", -1)]
    sensitivity_base = dict(factors=6, epochs=3, learning_rate=0.05, regularization=0.01, bias_regularization=0.01,
                            lr_decay=0.9, init_std=0.1, samples_per_epoch=None, sampling="pair",
                            negative_candidates=1, seed=11, threads=1)
    sensitivity_changes = {name: {name: value} for name, value in {
        "factors": 7, "epochs": 4, "learning_rate": 0.02, "regularization": 0.05, "bias_regularization": 0.3,
        "lr_decay": 0.5, "init_std": 0.2, "samples_per_epoch": 100, "sampling": "user", "negative_candidates": 3,
        "seed": 12}.items()}
    params_without_effect = {"threads": "seeded draws do not depend on the thread count (fixed blocks)"}
    divergence_base = dict(factors=8, epochs=20, seed=0, threads=1)
    divergence_change = dict(learning_rate=1e6)
    divergence_message = "learning rate"

    def make_model(self):
        return BPR(factors=8, epochs=30, learning_rate=0.1, seed=1, threads=1)

    def sensitivity_data(self):
        return bpr_data(), {}

    def sensitivity_outcome(self, model, data):
        return [model.user_factors_, model.item_factors_, model.item_biases_]


# ---------------------------------------------------------------------- helpers
def random_csr(n_users, n_items, degrees, seed=0):
    """CSR with sorted unique columns; degrees[u] positives for user u."""
    rng = np.random.default_rng(seed)
    rows = [np.sort(rng.choice(n_items, d, replace=False)) for d in degrees]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
    return indptr, indices, rows


def eligible_arrays(indptr, n_items):
    degree = np.diff(indptr)
    eligible = np.flatnonzero((degree > 0) & (degree < n_items)).astype(np.int64)
    return eligible, np.concatenate([[0], np.cumsum(degree[eligible])]).astype(np.int64)


def small_factors(n_users, n_items, k, seed=0, std=0.3):
    rng = np.random.default_rng(seed)
    return ((rng.standard_normal((n_users, k)) * std).astype(np.float32),
            (rng.standard_normal((n_items, k)) * std).astype(np.float32),
            (rng.standard_normal(n_items) * std).astype(np.float32))


# ---------------------------------------------------------------------- sampling
def test_seed_streams_deterministic_and_distinct():
    a, b = S.seed_streams(5, 4), S.seed_streams(5, 4)
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) == 4 and np.all(a != 0)
    assert S.seed_streams(5, 1)[0] == a[0], "stream 0 does not depend on the number of streams"
    assert S.seed_streams(6, 1)[0] != a[0]


def test_rand_int_range_and_uniformity():
    state = np.uint64(S.seed_streams(1, 1)[0])
    counts = np.zeros(7, int)
    for _ in range(14000):
        state, r = S.rand_int(np.uint64(state), 7)
        counts[r] += 1
    assert counts.sum() == 14000 and counts.min() > 1700 and counts.max() < 2300


def _block_positions(n, seed, offset=None):
    """The positions of one block of n draws, in the order a block draws them (offset: drawn, or given)."""
    state = np.uint64(S.seed_streams(seed, 1)[0])
    if offset is None:
        state, offset = S.rand_float(state)
        state = np.uint64(state)
    v, out = 1.0, np.empty(n)
    for s in range(n):
        state, v, out[s] = S.next_sorted_position(np.uint64(state), v, n - s, offset)
    return out


def test_sorted_positions_are_uniform_and_descending_with_one_wrap():
    n = 5000
    unshifted = _block_positions(n, seed=1, offset=0.0)
    assert np.all(np.diff(unshifted) < 0) and 0.0 <= unshifted.min() and unshifted.max() < 1.0
    # the set is an i.i.d. uniform sample: Kolmogorov-Smirnov distance below its 0.1% critical value
    ecdf = np.arange(1, n + 1) / n
    ks = np.max(np.abs(np.sort(unshifted) - ecdf))
    assert ks < 1.95 / np.sqrt(n), ks
    shifted = _block_positions(n, seed=1)
    assert np.all((0.0 <= shifted) & (shifted < 1.0))
    assert np.sum(np.diff(shifted) > 0) <= 1, "a rotated descending sweep wraps around at most once"


def test_sorted_positions_have_the_spread_of_independent_draws():
    """Counts per half over many small blocks vary as Binomial(n, 1/2), not less (no stratification)."""
    n, blocks = 10, 3000
    counts = np.array([np.sum(_block_positions(n, seed=b) < 0.5) for b in range(blocks)])
    assert abs(counts.mean() - n / 2) < 0.1
    assert 2.2 < counts.var() < 2.8  # n p (1 - p) = 2.5


@pytest.mark.parametrize("degree", [0, 1, 5, 30, 55, 58, 59])
def test_sampled_negative_is_never_positive(degree):
    n_items = 60
    indptr, indices, rows = random_csr(1, n_items, [degree], seed=degree)
    positives = set(rows[0].tolist())
    state = np.uint64(S.seed_streams(degree, 1)[0])
    counts = np.zeros(n_items, int)
    for _ in range(3000):
        state, j = S.sample_negative(indptr, indices, 0, n_items, np.uint64(state))
        assert 0 <= j < n_items and j not in positives
        counts[j] += 1
    negatives = np.setdiff1d(np.arange(n_items), rows[0])
    assert np.all(counts[negatives] > 0), "every negative is reachable"
    expected = 3000 / len(negatives)
    assert counts[negatives].max() < expected * 1.6 + 10  # roughly uniform


def test_user_with_every_item_has_no_negative():
    n_items = 20
    indptr, indices, _ = random_csr(2, n_items, [n_items, 3])
    state, j = S.sample_negative(indptr, indices, 0, n_items, np.uint64(S.seed_streams(0, 1)[0]))
    assert j == -1
    state, j = S.sample_negative(indptr, indices, 1, n_items, np.uint64(state))
    assert j >= 0 and j not in set(indices[indptr[1]:indptr[2]].tolist())


def test_nth_negative_and_row_of_entry_match_numpy():
    indptr, indices, rows = random_csr(5, 25, [0, 3, 24, 10, 1], seed=3)
    for u, row in enumerate(rows):
        negatives = np.setdiff1d(np.arange(25), row)
        for r, item in enumerate(negatives):
            assert S.nth_negative(indices, indptr[u], indptr[u + 1], r) == item
        for item in range(25):
            assert S.contains_sorted(indices, indptr[u], indptr[u + 1], item) == (item in set(row.tolist()))
    for pos in range(indptr[-1]):
        assert S.row_of_entry(indptr, pos) == np.searchsorted(indptr, pos, side="right") - 1


@pytest.mark.parametrize("mode", [K.SAMPLE_PAIR, K.SAMPLE_USER])
def test_drawn_triples_are_valid_and_follow_the_sampling_rule(mode):
    n_items = 40
    degrees = [1, 3, 39, 0, 40, 20]  # user 3 has no positive, user 4 has every item
    indptr, indices, rows = random_csr(len(degrees), n_items, degrees, seed=1)
    eligible, cum = eligible_arrays(indptr, n_items)
    _, triples = K.draw_triples(indptr, indices, eligible, cum, mode, n_items, 20000,
                                np.uint64(S.seed_streams(2, 1)[0]))
    for u, i, j in triples[:3000]:
        assert i in set(rows[u].tolist()) and j not in set(rows[u].tolist())
    # a block visits its draws in sorted order along the eligible users: one run per user, except
    # the one user where the rotated sweep wraps around
    rank = {u: r for r, u in enumerate(eligible)}
    ranks = np.array([rank[u] for u in triples[:, 0]])
    assert np.sum(np.diff(ranks) > 0) <= 1 and np.sum(np.diff(ranks) != 0) <= len(eligible)
    users = np.bincount(triples[:, 0], minlength=len(degrees))
    assert users[3] == 0 and users[4] == 0, "users without positives or negatives are never drawn"
    share = users[[0, 1, 2, 5]] / len(triples)
    deg = np.array([1, 3, 39, 20])
    expected = deg / deg.sum() if mode == K.SAMPLE_PAIR else np.full(4, 0.25)
    np.testing.assert_allclose(share, expected, atol=0.02)


# ---------------------------------------------------------------------- kernel vs reference
def test_kernel_equals_numpy_reference_step_for_step():
    n_users, n_items, k = 6, 9, 5
    indptr, indices, _ = random_csr(n_users, n_items, [2, 4, 1, 5, 3, 8], seed=4)
    eligible, cum = eligible_arrays(indptr, n_items)
    _, triples = K.draw_triples(indptr, indices, eligible, cum, K.SAMPLE_PAIR, n_items, 200,
                                np.uint64(S.seed_streams(3, 1)[0]))
    uf, itf, ib = small_factors(n_users, n_items, k)
    ref = [a.copy() for a in (uf, itf, ib)]
    for step in range(len(triples)):  # step for step
        stats = K.bpr_triples(triples[step:step + 1], uf, itf, ib, 0.05, 0.01, 0.003)
        ref_stats = R.reference_triples(triples[step:step + 1], *ref, 0.05, 0.01, 0.003)
        np.testing.assert_allclose(uf, ref[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(itf, ref[1], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ib, ref[2], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stats, ref_stats, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("n_blocks", [1, 3])
def test_single_thread_epoch_is_draw_then_step(n_blocks):
    """Block b of an epoch draws its share of the steps from stream b, blocks in order."""
    n_users, n_items, k, n = 8, 15, 4, 301
    indptr, indices, _ = random_csr(n_users, n_items, [1, 2, 3, 4, 14, 6, 7, 8], seed=5)
    eligible, cum = eligible_arrays(indptr, n_items)
    uf, itf, ib = small_factors(n_users, n_items, k, seed=2)
    ref = [a.copy() for a in (uf, itf, ib)]
    with kernel_threads(1):
        _check_blocks_in_order(indptr, indices, eligible, cum, uf, itf, ib, ref, n, n_blocks, n_items)


def _check_blocks_in_order(indptr, indices, eligible, cum, uf, itf, ib, ref, n, n_blocks, n_items):
    for mode in (K.SAMPLE_PAIR, K.SAMPLE_USER):
        states = S.seed_streams(9, n_blocks)
        start = states.copy()
        stats = np.zeros((n_blocks, 4))
        params = K.BprParams.make(learning_rate=0.05, regularization=0.01, bias_regularization=0.01, n_samples=n,
                                  mode=mode, n_candidates=1)
        K.bpr_epoch(indptr, indices, eligible, cum, uf, itf, ib, params, states, stats)
        for b in range(n_blocks):
            count = (n * (b + 1)) // n_blocks - (n * b) // n_blocks
            end, triples = K.draw_triples(indptr, indices, eligible, cum, mode, n_items, count, np.uint64(start[b]))
            ref_stats = R.reference_triples(triples, *ref, 0.05, 0.01, 0.01)
            assert np.uint64(end) == states[b]
            np.testing.assert_allclose(stats[b], ref_stats, rtol=1e-5)
        np.testing.assert_allclose(uf, ref[0], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(itf, ref[1], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(ib, ref[2], rtol=1e-4, atol=1e-6)


def test_gradient_matches_finite_differences_of_the_objective():
    rng = np.random.default_rng(0)
    k, reg, reg_b = 6, 0.03, 0.2
    w, hi, hj = (rng.standard_normal(k) * 0.5 for _ in range(3))
    bi, bj = 0.3, -0.4
    params = np.concatenate([w, hi, hj, [bi, bj]])

    def objective(p):
        return R.triple_objective(p[:k], p[k:2 * k], p[2 * k:3 * k], p[-2], p[-1], reg, reg_b)

    eps = 1e-6
    fd = np.array([(objective(params + eps * e) - objective(params - eps * e)) / (2 * eps)
                   for e in np.eye(len(params))])
    analytic = np.concatenate([np.atleast_1d(g) for g in R.triple_gradient(w, hi, hj, bi, bj, reg, reg_b)])
    np.testing.assert_allclose(analytic, fd, rtol=1e-6, atol=1e-8)

    # the numba step moves the parameters by -lr * gradient of the stated objective
    lr = 1e-3
    uf = w[None, :].astype(np.float32)
    itf = np.stack([hi, hj]).astype(np.float32)
    ib = np.array([bi, bj], dtype=np.float32)
    p32 = np.concatenate([uf[0], itf[0], itf[1], ib]).astype(np.float64)
    fd32 = np.array([(objective(p32 + eps * e) - objective(p32 - eps * e)) / (2 * eps) for e in np.eye(len(p32))])
    K.bpr_triples(np.array([[0, 0, 1]]), uf, itf, ib, lr, reg, reg_b)
    moved = (np.concatenate([uf[0], itf[0], itf[1], ib]) - p32) / lr
    np.testing.assert_allclose(moved, -fd32, rtol=1e-3, atol=1e-4)


# ---------------------------------------------------------------------- model
def test_loss_and_correct_pairs_reported_and_improve():
    model = BPR(factors=8, epochs=25, learning_rate=0.1, seed=0, threads=1).fit(planted_data(explicit=False))
    hist = model.loss_history_
    assert set(hist[0]) == {"epoch", "loss", "log_loss", "correct_pair_fraction"}
    assert hist[-1]["loss"] < hist[0]["loss"]
    assert hist[-1]["correct_pair_fraction"] > max(0.9, hist[0]["correct_pair_fraction"])
    assert model.item_biases_.dtype == np.float32 and model.item_biases_.shape == (model.item_factors_.shape[0],)


def test_all_threads_trains_finite_model():
    data = bpr_data()
    model = BPR(factors=6, epochs=5, seed=3, threads=0).fit(data)
    assert np.isfinite(model.user_factors_).all() and np.isfinite(model.item_biases_).all()


def test_user_with_every_item_is_skipped_not_looping():
    data = bpr_data(n_users=10, n_items=8)
    u, i = data.to_coo()[:2]
    full_u = np.concatenate([data.user_ids.to_raw(u), ["all"] * data.n_items])
    full_i = np.concatenate([data.item_ids.to_raw(i), data.item_ids.raw])
    data = Interactions.from_arrays(full_u, full_i)
    model = BPR(factors=4, epochs=3, seed=0, threads=1, init_std=0.1).fit(data)
    assert np.isfinite(model.user_factors_).all()
    idx = data.user_ids.index("all")
    init = (np.random.default_rng(0).standard_normal((data.n_users, 4)) * 0.1).astype(np.float32)
    np.testing.assert_array_equal(model.user_factors_[idx], init[idx])  # never drawn: untouched


def test_fold_in_is_deterministic_and_frozen():
    data = planted_data(explicit=False)
    model = BPR(factors=8, epochs=30, learning_rate=0.1, seed=2, threads=1).fit(data)
    items_before = model.item_factors_.copy()
    first = model.recommend_new_user([100, 101, 102, 103], n=5)
    second = model.recommend_new_user([100, 101, 102, 103], n=5)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_array_equal(model.item_factors_, items_before)
    vector, bias = model._fold_in(data.item_ids.indices([100, 101]), np.ones(2, np.float32))
    assert bias is None and vector.dtype == np.float32 and np.any(vector != 0)
    every = model._fold_in(np.arange(data.n_items), np.ones(data.n_items, np.float32))[0]
    assert np.all(every == 0)  # no negative to rank against: zero vector, no endless loop


def test_hardest_negative_is_best_scored_uniform_candidate():
    n_users, n_items, k = 3, 30, 4
    indptr, indices, rows = random_csr(n_users, n_items, [5, 28, 12], seed=6)
    uf, itf, ib = small_factors(n_users, n_items, k, seed=3)
    state = np.uint64(S.seed_streams(4, 1)[0])
    for trial in range(200):
        u = trial % n_users
        start = state
        state, j0 = S.sample_negative(indptr, indices, u, n_items, np.uint64(state))
        after_first = state
        state, best = K.hardest_negative(indptr, indices, u, j0, 4, uf, itf, ib, n_items, np.uint64(state))
        # replay the same draws in NumPy: the first candidate and three more from the same stream
        cands, s = [j0], np.uint64(after_first)
        for _ in range(3):
            s, c = S.sample_negative(indptr, indices, u, n_items, np.uint64(s))
            cands.append(c)
        assert np.uint64(s) == np.uint64(state) and start != state
        scores = ib[cands].astype(np.float64) + itf[cands].astype(np.float64) @ uf[u].astype(np.float64)
        assert best == cands[int(np.argmax(scores))]
        assert best not in set(rows[u].tolist())


def test_data_without_any_negative_is_rejected():
    from mfrec.errors import DataError
    data = Interactions.from_arrays(["a", "a", "b", "b"], [1, 2, 1, 2])
    with pytest.raises(DataError, match="non-interacted"):
        BPR(epochs=1).fit(data)

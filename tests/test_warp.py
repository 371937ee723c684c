"""WARP: the rank estimate and weights on controlled cases, the numba kernel against its NumPy
twin step for step, the model's wiring, reproducibility, hyperparameters, errors, fold-in, and the
shared conformance suite."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mfrec.data.interactions import Interactions
from mfrec.kernels.sampling import seed_streams
from mfrec.kernels.warp import WarpParams, rank_estimate, rank_weight_table, warp_epoch, warp_step
from mfrec.models import warp as warp_module
from mfrec.models.warp import WARP
from mfrec.testing import ConformanceTests, planted_data
from synthetic import random_implicit
import reference_warp as ref


class TestWARPConformance(ConformanceTests):
    expected_ndcg = 0.70  # 0.7598 measured (tests/README.md)
    invalid_params = [
        ("factors", 0), ("factors", 2.5), ("epochs", 0), ("learning_rate", 0.0), ("learning_rate", -1),
        ("regularization", -0.1), ("max_norm", 0.0), ("max_sampled", 0), ("rank_weight", "square"),
        ("margin", 0.0), ("max_loss", -1.0), ("learning_schedule", "adam"), ("k_os", 0), ("k_os_rank", 0),
        ("lr_decay", 0.0), ("lr_decay", 1.5), ("init_std", 0.0), ("sampling", "item"), ("sampling", None),
        ("seed", -1), ("threads", -2),
    ]
    sensitivity_base = dict(factors=6, epochs=3, learning_rate=0.05, seed=0, threads=1)
    sensitivity_changes = {name: {name: value} for name, value in {
        "factors": 7, "epochs": 4, "learning_rate": 0.1, "regularization": 0.05, "max_norm": 0.05,
        "max_sampled": 3, "rank_weight": "harmonic", "margin": 0.5, "max_loss": 0.5, "learning_schedule": "sgd",
        "k_os": 3, "lr_decay": 0.5, "init_std": 0.05, "sampling": "user", "seed": 1}.items()}
    # k_os_rank: which of the k_os candidates is used
    sensitivity_changes["k_os_rank"] = {"k_os": 3, "k_os_rank": 1}
    # fixed blocks: the draws are the same whatever the thread count; what threads > 1 changes is
    # the lock-free interleaving, which depends on timing (on small data a helper thread may find
    # no block left, and the fit equals the one-thread fit)
    params_without_effect = {"threads": "seeded draws do not depend on the thread count (fixed blocks)"}
    sensitivity_baselines = {"k_os_rank": {"k_os": 3}}
    divergence_base = dict(factors=4, epochs=5, learning_schedule="sgd", init_std=1.0, seed=0, threads=1)
    divergence_change = dict(learning_rate=1e30)
    divergence_message = "learning_rate"
    preset_override = {"epochs": 2}

    def make_model(self):
        return WARP(factors=8, epochs=30, learning_rate=0.1, seed=1, threads=1)

    def sensitivity_data(self):
        return random_implicit(60, 40, 0.25, seed=4), {}

    def divergence_data(self):
        return random_implicit()


def csr_arrays(inter: Interactions):
    m = inter.matrix
    users, items, _ = inter.to_coo()
    return m.indptr.astype(np.int64), m.indices.astype(np.int32), users, items


# ---------------------------------------------------------------------- the formulas
def test_rank_weight_tables_match_the_formulas():
    n = 50
    log = rank_weight_table(n, False)
    harmonic = rank_weight_table(n, True)
    r = np.arange(n)
    np.testing.assert_allclose(log, np.log(1 + r), rtol=1e-6)
    np.testing.assert_allclose(harmonic, [sum(1.0 / t for t in range(1, k + 1)) for k in r], rtol=1e-6)
    np.testing.assert_allclose(log, ref.weight_table(n, False), rtol=1e-6)
    np.testing.assert_allclose(harmonic, ref.weight_table(n, True), rtol=1e-6)
    assert harmonic[1] == 1.0 and harmonic[3] == pytest.approx(1 + 1 / 2 + 1 / 3)


def test_rank_estimate_is_floor_of_items_over_trials():
    for n_items, trials, expected in [(101, 1, 100), (101, 3, 33), (101, 7, 14), (101, 100, 1), (101, 500, 1)]:
        assert rank_estimate(n_items, trials) == expected == ref.rank_estimate(n_items, trials)


def step_params(learning_rate, regularization, margin, max_sampled, max_loss):
    """WarpParams of one plain-SGD step with the items updated, no norm cap, no k-OS."""
    return WarpParams.make(learning_rate=learning_rate, regularization=regularization, margin=margin,
                           max_sampled=max_sampled, max_loss=max_loss, max_norm=0.0, adagrad=False, k_os=1,
                           k_os_rank=1, update_items=True)


def controlled_case(n_items=40, n_violating=4, n_violating_positives=3):
    """One user, k = 1, p_u = 1: x_uj = q_j + b_j. The positive i = 0 scores 0; exactly
    ``n_violating`` negatives score above 0 - margin, and ``n_violating_positives`` other
    positives violate too (they must be skipped). Everything else scores -5."""
    margin = 1.0
    b = np.full(n_items, -5.0, dtype=np.float32)
    positives = np.array([0] + list(range(1, 1 + n_violating_positives)) + [n_items - 1], dtype=np.int32)
    b[0] = 0.0
    b[1:1 + n_violating_positives] = 0.5          # violating positives
    violators = np.arange(10, 10 + n_violating)
    b[violators] = np.linspace(-0.9, 2.0, n_violating)  # > x_ui - margin = -1
    P = np.ones((1, 1), dtype=np.float32)
    Q = np.zeros((n_items, 1), dtype=np.float32)
    indptr = np.array([0, len(positives)], dtype=np.int64)
    return P, Q, b, indptr, np.sort(positives), set(violators.tolist()), margin


@pytest.mark.parametrize("harmonic", [False, True])
def test_trials_follow_the_geometric_law_and_weights_the_formula(harmonic):
    n_items, m, cap = 40, 4, 12
    P, Q, b, indptr, positives, violators, margin = controlled_case(n_items, m)
    weights = rank_weight_table(n_items, harmonic)
    state = np.uint64(seed_streams(3, 1)[0])
    scratch = np.empty(1, dtype=np.float32)
    n_draws = 20000
    trials = np.empty(n_draws, dtype=np.int64)
    updated = np.empty(n_draws, dtype=bool)
    for t in range(n_draws):
        # learning rate 0: the scores never move, so every draw sees the same m violators
        state, trials[t], loss, updated[t] = warp_step(
            indptr, positives, 0, 0, P, Q, b, P.copy(), Q.copy(), b.copy(), weights, state, n_items,
            step_params(0.0, 0.0, margin, cap, 100.0), scratch, scratch.copy())
        state = np.uint64(state)
        if updated[t]:
            # loss = w * (margin - x_ui + x_uj): recover w from the hinge of some violator
            hinges = [margin - b[0] + b[j] for j in violators]
            w = weights[rank_estimate(n_items, trials[t])]
            assert any(loss == pytest.approx(w * h, rel=1e-5) for h in hinges)
        else:
            assert trials[t] == cap
    # every draw (positives included) is a trial: P(N = t) = (1 - p)^(t - 1) p with p = m / n_items
    p = m / n_items
    assert (~updated).mean() == pytest.approx((1 - p) ** cap, abs=0.015)
    for t in range(1, 6):
        expected = (1 - p) ** (t - 1) * p
        assert (updated & (trials == t)).mean() == pytest.approx(expected, abs=0.01)
    mean_n = trials[updated].mean()
    truncated_mean = sum(t * (1 - p) ** (t - 1) * p for t in range(1, cap + 1)) / (1 - (1 - p) ** cap)
    assert mean_n == pytest.approx(truncated_mean, rel=0.03)


def test_the_update_uses_a_violating_negative_and_the_clipped_weight():
    n_items = 40
    P, Q, b, indptr, positives, violators, margin = controlled_case(n_items, 5)
    weights = rank_weight_table(n_items, False)
    max_loss = 2.5  # clips L(r) = ln(1 + r) for r >= 12 (N <= 3)
    state = np.uint64(seed_streams(4, 1)[0])
    seen_clipped = seen_unclipped = False
    for _ in range(300):
        Pc, Qc, bc = P.copy(), Q.copy(), b.copy()
        scratch = np.empty(1, dtype=np.float32)
        state, n, loss, updated = warp_step(indptr, positives, 0, 0, Pc, Qc, bc, Pc, Qc, bc, weights, state, n_items,
                                            step_params(1.0, 0.0, margin, 30, max_loss), scratch, scratch.copy())
        state = np.uint64(state)
        if not updated:
            continue
        changed = set(np.flatnonzero(bc != b).tolist())
        assert 0 in changed and len(changed) == 2
        (j,) = changed - {0}
        assert j in violators, "the negative must violate the margin and not be a positive"
        w = min(weights[rank_estimate(n_items, n)], max_loss)
        seen_clipped |= w == max_loss
        seen_unclipped |= w < max_loss
        # sgd, reg 0: b_i += lr w, b_j -= lr w; q_i += lr w p_u, q_j -= lr w p_u (p_u = 1)
        assert bc[0] - b[0] == pytest.approx(w, rel=1e-5) and b[j] - bc[j] == pytest.approx(w, rel=1e-5)
        assert Qc[0, 0] == pytest.approx(w, rel=1e-5) and Qc[j, 0] == pytest.approx(-w, rel=1e-5)
        assert loss == pytest.approx(w * (margin - b[0] + b[j]), rel=1e-5)
    assert seen_clipped and seen_unclipped


# ---------------------------------------------------------------------- kernel vs NumPy twin
KERNEL_CASES = [
    dict(adagrad=True, k_os=1, k_os_rank=1, harmonic=False, max_norm=0.0, regularization=0.0),
    dict(adagrad=True, k_os=3, k_os_rank=3, harmonic=True, max_norm=0.0, regularization=0.01),
    dict(adagrad=False, k_os=1, k_os_rank=1, harmonic=True, max_norm=1.2, regularization=0.02),
    dict(adagrad=False, k_os=4, k_os_rank=2, harmonic=False, max_norm=0.8, regularization=0.0),
]


@pytest.mark.parametrize("case", KERNEL_CASES)
def test_kernel_epoch_equals_numpy_reference_step_for_step(case):
    inter = random_implicit()
    indptr, indices, users, items = csr_arrays(inter)
    n_users, n_items = inter.shape
    rng = np.random.default_rng(1)
    P = (rng.standard_normal((n_users, 5)) * 0.3).astype(np.float32)
    Q = (rng.standard_normal((n_items, 5)) * 0.3).astype(np.float32)
    b = (rng.standard_normal(n_items) * 0.1).astype(np.float32)
    acc = [np.ones_like(P), np.ones_like(Q), np.ones_like(b)]
    twin = [a.copy() for a in (P, Q, b, *acc)]
    states = seed_streams(11, 1)
    state = np.uint64(states[0])
    stats = np.zeros((1, 3))
    weights = rank_weight_table(n_items, case["harmonic"])
    lr, margin, cap, max_loss = 0.1, 1.0, 6, 3.0
    for _epoch in range(3):
        order = rng.permutation(len(items)).astype(np.int64)
        warp_epoch(indptr, indices, users[order], items[order], P, Q, b, *acc, weights, states, stats, n_items,
                   WarpParams.make(learning_rate=lr, regularization=case["regularization"], margin=margin,
                                   max_sampled=cap, max_loss=max_loss, max_norm=case["max_norm"],
                                   adagrad=case["adagrad"], k_os=case["k_os"], k_os_rank=case["k_os_rank"],
                                   update_items=True))
        state, loss_sum, n_updates, n_trials, log = ref.warp_epoch(
            indptr, indices, users[order], items[order], *twin, state, n_items, learning_rate=lr,
            regularization=case["regularization"], margin=margin, max_sampled=cap, max_loss=max_loss,
            max_norm=case["max_norm"], adagrad=case["adagrad"], k_os=case["k_os"], k_os_rank=case["k_os_rank"],
            harmonic=case["harmonic"])
        assert int(states[0]) == int(state), "same random draws"
        assert stats[0, 1] == n_updates and stats[0, 2] == n_trials
        assert 0 < n_updates <= len(items)
        assert stats[0, 0] == pytest.approx(loss_sum, rel=1e-4)
        for ours, theirs in zip((P, Q, b, *acc), twin):
            np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=2e-6)


def reference_blocked_epoch(indptr, indices, users, items, P, Q, b, states, n_items, **params):
    """The NumPy twin over the model's fixed blocks of positives, in block order (what one thread
    runs), block t with stream states[t] (updated in place). Returns (losses, updates, trials)."""
    empty = np.zeros((0, 0), np.float32)
    n, n_blocks = len(users), len(states)
    totals = np.zeros(3)
    for t in range(n_blocks):
        lo, hi = t * n // n_blocks, (t + 1) * n // n_blocks
        state, loss_sum, n_updates, n_trials, _ = ref.warp_epoch(
            indptr, indices, users[lo:hi], items[lo:hi], P, Q, b, empty, empty, empty, np.uint64(states[t]),
            n_items, **params)
        states[t] = state
        totals += (loss_sum, n_updates, n_trials)
    return totals


def reference_start(inter, *, seed, factors, init_std):
    """(rng, P, Q, b, states) as WARP(seed=seed) draws them before its first epoch: the model's
    generator, its initial factors and zero biases, and the fixed blocks' random streams."""
    rng = np.random.default_rng(seed)
    P = (rng.standard_normal((inter.n_users, factors)) * init_std).astype(np.float32)
    Q = (rng.standard_normal((inter.n_items, factors)) * init_std).astype(np.float32)
    b = np.zeros(inter.n_items, dtype=np.float32)
    states = seed_streams(warp_module._stream_seed(rng), warp_module.SAMPLE_BLOCKS)
    return rng, P, Q, b, states


def test_fit_single_thread_equals_reference_training_loop():
    """The model's wiring (init, per-epoch shuffles, lr decay, streams) around the kernel."""
    inter = random_implicit(seed=2)
    params = dict(factors=4, epochs=4, learning_rate=0.2, regularization=0.01, max_sampled=7, lr_decay=0.8,
                  init_std=0.2, learning_schedule="sgd", seed=5, threads=1)
    model = WARP(**params).fit(inter)
    indptr, indices, users, items = csr_arrays(inter)
    rng, P, Q, b, states = reference_start(inter, seed=5, factors=4, init_std=0.2)
    for epoch in range(1, 5):
        order = rng.permutation(len(items))
        loss_sum, n_updates, n_trials = reference_blocked_epoch(
            indptr, indices, users[order], items[order], P, Q, b, states, inter.n_items,
            learning_rate=0.2 * 0.8 ** (epoch - 1), regularization=0.01, margin=1.0, max_sampled=7,
            max_loss=10.0, max_norm=0.0, adagrad=False)
        hist = model.loss_history_[epoch - 1]
        assert hist["loss"] == pytest.approx(loss_sum / n_updates, rel=1e-4)
        assert hist["mean_trials"] == pytest.approx(n_trials / len(items))
        assert hist["update_fraction"] == pytest.approx(n_updates / len(items))
    np.testing.assert_allclose(model.user_factors_, P, rtol=1e-4, atol=2e-4)
    np.testing.assert_allclose(model.item_factors_, Q, rtol=1e-4, atol=2e-4)
    np.testing.assert_allclose(model.item_biases_, b, rtol=1e-4, atol=2e-4)


def test_user_sampling_draws_users_uniformly_then_their_items_uniformly():
    """sampling="user": P(u, i) = 1 / (n_active_users * n_u) for each stored (u, i); users without
    entries are never drawn. Chi-square-style check on 400,000 draws."""
    m = sp.csr_matrix(np.array([[1, 1, 1, 1, 1, 1], [0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [1, 0, 0, 1, 0, 0]],
                               dtype=np.float32))
    indptr, indices = m.indptr.astype(np.int64), m.indices.astype(np.int32)
    n = 400_000
    users, items = warp_module.user_uniform_positives(indptr, indices, n, np.random.default_rng(0))
    assert users.dtype == np.int32 and items.dtype == np.int32 and len(users) == n
    assert m[users, items].A1.all()  # every draw is a stored entry of its user
    expected = {(0, i): 1 / 18 for i in range(6)} | {(1, 1): 1 / 3, (3, 0): 1 / 6, (3, 3): 1 / 6}
    pairs, counts = np.unique(users.astype(np.int64) * 6 + items, return_counts=True)
    seen = {(int(p) // 6, int(p) % 6): c / n for p, c in zip(pairs, counts)}
    assert set(seen) == set(expected)
    for pair, prob in expected.items():
        assert seen[pair] == pytest.approx(prob, abs=4 * np.sqrt(prob * (1 - prob) / n))


def test_fit_with_user_sampling_equals_the_reference_loop_on_user_uniform_draws():
    inter = random_implicit(seed=3)
    params = dict(factors=4, epochs=3, learning_rate=0.2, regularization=0.01, max_sampled=7,
                  init_std=0.2, learning_schedule="sgd", sampling="user", seed=5, threads=1)
    model = WARP(**params).fit(inter)
    indptr, indices, _, items = csr_arrays(inter)
    rng, P, Q, b, states = reference_start(inter, seed=5, factors=4, init_std=0.2)
    degree = np.diff(indptr)
    for _epoch in range(1, 4):
        u = rng.integers(0, inter.n_users, size=len(items))  # every user has an entry here
        i = indices[indptr[u] + rng.integers(0, degree[u])]
        reference_blocked_epoch(indptr, indices, u.astype(np.int32), i, P, Q, b, states, inter.n_items,
                                learning_rate=0.2, regularization=0.01, margin=1.0, max_sampled=7, max_loss=10.0,
                                max_norm=0.0, adagrad=False)
    np.testing.assert_allclose(model.user_factors_, P, rtol=1e-4, atol=2e-4)
    np.testing.assert_allclose(model.item_factors_, Q, rtol=1e-4, atol=2e-4)


def test_the_random_streams_do_not_depend_on_the_thread_count(monkeypatch):
    """Fixed blocks (as BPR): every epoch gets the same SAMPLE_BLOCKS streams, and the same
    positives in each block, whatever ``threads`` is."""
    seen = {}
    original = warp_module.warp_epoch

    def record(indptr, indices, users, items, P, Q, b, GP, GQ, Gb, weights, states, *rest):
        seen.setdefault(threads, []).append((states.copy(), users.copy(), items.copy()))
        return original(indptr, indices, users, items, P, Q, b, GP, GQ, Gb, weights, states, *rest)

    monkeypatch.setattr(warp_module, "warp_epoch", record)
    inter = random_implicit(seed=4)
    for threads in (1, 2):
        WARP(factors=4, epochs=1, seed=3, threads=threads).fit(inter)
    (states1, users1, items1), = seen[1]
    (states2, users2, items2), = seen[2]
    assert len(states1) == warp_module.SAMPLE_BLOCKS
    np.testing.assert_array_equal(states1, states2)
    np.testing.assert_array_equal(users1, users2)
    np.testing.assert_array_equal(items1, items2)


# ---------------------------------------------------------------------- the model
def test_fitted_attributes_and_metrics():
    inter = random_implicit()
    model = WARP(factors=6, epochs=3, seed=0, threads=1).fit(inter, validation=random_implicit(seed=9))
    assert model.user_factors_.shape == (inter.n_users, 6) and model.user_factors_.dtype == np.float32
    assert model.item_factors_.shape == (inter.n_items, 6) and model.item_factors_.dtype == np.float32
    assert model.item_biases_.shape == (inter.n_items,) and model.item_biases_.dtype == np.float32
    for hist in model.loss_history_:
        assert set(hist) == {"epoch", "loss", "mean_trials", "update_fraction", "val_ndcg@10", "val_recall@10"}
        assert 1 <= hist["mean_trials"] <= 10 and 0 < hist["update_fraction"] <= 1 and hist["loss"] > 0
        assert 0 <= hist["val_ndcg@10"] <= 1


def test_hogwild_threads_learn_the_planted_blocks():
    """threads=0 (lock-free, timing-dependent): most users score the unseen items of their own
    block above the unseen items of the other block."""
    data = planted_data(False)
    model = WARP(factors=8, epochs=30, learning_rate=0.1, seed=1, threads=0).fit(data)
    assert np.isfinite(model.item_factors_).all()
    scores = model.score_users(np.arange(data.n_users))
    seen = data.matrix.toarray() > 0
    block_a_item = data.item_ids.to_raw(np.arange(data.n_items)) < 112
    good = counted = 0
    for u in range(data.n_users):
        user_in_a = int(data.user_ids.to_raw(np.array([u]))[0][1:]) < 30
        own = ~seen[u] & (block_a_item == user_in_a)
        other = ~seen[u] & (block_a_item != user_in_a)
        if own.any() and other.any():
            counted += 1
            good += scores[u, own].mean() > scores[u, other].mean()
    assert counted >= 50 and good >= 0.9 * counted


def test_k_os_rank_above_k_os_is_rejected():
    with pytest.raises(ValueError, match="k_os_rank"):
        WARP(k_os=2, k_os_rank=3).fit(random_implicit())


def test_fold_in_reproduces_the_trained_preferences():
    data = planted_data(False)
    model = WARP(factors=8, epochs=30, learning_rate=0.1, seed=1, threads=1).fit(data)
    items = data.item_ids.to_raw(data.user_items(data.user_ids.index("u40")))
    first = model.recommend_new_user(items, n=4)
    again = model.recommend_new_user(items, n=4)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert all(112 <= i < 124 for i in first[0][:2]), f"block-B items expected, got {first[0]}"
    assert not set(items.tolist()) & set(first[0].tolist())

"""Tests of implicit ALS (mfrec.models.als, mfrec.kernels.als) against the dense NumPy twin."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mfrec.data.interactions import Interactions
from mfrec.errors import DataError
from mfrec.kernels import als as K
from mfrec.models.als import ALS, PRESETS
from mfrec.testing import PROBE_USER, WITHHELD_ITEM, ConformanceTests, planted_data
from synthetic import random_implicit
import reference_als as R


# ---------------------------------------------------------------------- small random data
def als_data(n_users=25, n_items=18, density=0.3, seed=0) -> Interactions:
    """Random implicit counts 1..5 (so confidences vary); no empty user and no empty item."""
    return random_implicit(n_users, n_items, density, seed, counts=True, every_item=True)


# ---------------------------------------------------------------------- conformance
class TestALSConformance(ConformanceTests):
    expected_ndcg = 0.68  # 0.7278 measured (tests/README.md)
    invalid_params = [
        ("factors", 0), ("factors", 2.5), ("iterations", 0), ("regularization", 0.0), ("regularization", -1.0),
        ("alpha", -0.5), ("alpha", float("nan")), ("confidence", "square"), ("epsilon", 0.0),
        ("unobserved_weight", -0.1), ("regularization_scaling", "count"), ("regularization_exponent", -1.0),
        ("solver", "lu"), ("cg_steps", 0), ("init_std", 0.0), ("seed", -3), ("seed", "x"), ("threads", -1),
        ("calculate_loss", "yes"),
    ]
    sensitivity_base = dict(factors=4, iterations=3, regularization=0.1, alpha=2.0, unobserved_weight=1.0,
                            regularization_scaling="none", seed=0, threads=1)
    sensitivity_changes = {
        "factors": dict(factors=5),
        "iterations": dict(iterations=4),
        "regularization": dict(regularization=0.5),
        "alpha": dict(alpha=5.0),
        "confidence": dict(confidence="log"),
        "epsilon": dict(confidence="log", epsilon=0.2),  # compared with confidence="log", epsilon=1
        "unobserved_weight": dict(unobserved_weight=0.3),
        "regularization_scaling": dict(regularization_scaling="frequency", regularization=0.01),
        "regularization_exponent": dict(regularization_scaling="frequency", regularization=0.01,
                                        regularization_exponent=0.5),
        "solver": dict(solver="cholesky"),
        "cg_steps": dict(cg_steps=1),
        "init_std": dict(init_std=0.5),
        "seed": dict(seed=1),
    }
    sensitivity_baselines = {"epsilon": dict(confidence="log"),
                             "regularization_exponent": dict(regularization_scaling="frequency", regularization=0.01)}
    # these two must NOT change the factors: test_threads_and_calculate_loss_do_not_change_factors
    params_without_effect = {"threads": "seeded draws do not depend on the thread count",
                             "calculate_loss": "only reports the objective"}
    preset_override = {"iterations": 2}
    no_divergence_reason = "each half step is an exact or CG least-squares solve: no learning rate to diverge"

    def make_model(self):
        return ALS(factors=8, iterations=10, seed=1, threads=1)

    def sensitivity_data(self):
        return als_data(n_users=30, n_items=20, seed=6), {}

    def sensitivity_outcome(self, model, data):
        return [model.score_users(np.arange(data[0].n_users))]

    def outcomes_differ(self, a, b):
        return not np.allclose(a[0], b[0], rtol=1e-3, atol=1e-5)


class TestALSConformanceExact(ConformanceTests):
    """The same contract with the exact solver, frequency scaling and an unobserved weight."""

    expected_ndcg = 0.65  # 0.7010 measured
    variant_of = "TestALSConformance"

    def make_model(self):
        return ALS(factors=8, iterations=10, regularization=0.01, solver="cholesky", unobserved_weight=0.5,
                   regularization_scaling="frequency", seed=1, threads=1)


def dense_problem(model: ALS, inter: Interactions):
    """(users side, items side, C, P) of a model's weighted least-squares problem."""
    users, items = model._prepare(inter, float64=True)
    conf = sp.csr_matrix((users.conf, users.indices, users.indptr), shape=inter.shape)
    C, P = R.dense_weights(conf, model.unobserved_weight)
    return users, items, C, P


def random_factors(n, k, seed):
    return (np.random.default_rng(seed).standard_normal((n, k)) * 0.3).astype(np.float32)


MODEL_VARIANTS = [
    dict(alpha=2.0, regularization=0.1, unobserved_weight=1.0, regularization_scaling="none"),  # HKV 2008
    dict(alpha=3.0, confidence="log", epsilon=0.5, unobserved_weight=0.3, regularization=0.05,
         regularization_scaling="none"),
    dict(alpha=1.5, unobserved_weight=0.2, regularization=0.01, regularization_scaling="frequency",
         regularization_exponent=0.7),
]


@pytest.mark.parametrize("params", MODEL_VARIANTS)
def test_cholesky_row_solve_equals_dense_weighted_least_squares(params):
    inter = als_data()
    model = ALS(factors=5, **params)
    users, items, C, P = dense_problem(model, inter)
    Y = random_factors(inter.n_items, 5, 1)
    X = np.zeros((inter.n_users, 5), np.float32)
    model._half_step(users, X, Y, exact=True)
    np.testing.assert_allclose(X, R.solve_rows_dense(C, P, Y, users.reg), rtol=2e-4, atol=2e-5)
    # the item half step is the same problem transposed
    Y2 = np.zeros_like(Y)
    model._half_step(items, Y2, X, exact=True)
    np.testing.assert_allclose(Y2, R.solve_rows_dense(C.T, P.T, X, items.reg), rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("params", MODEL_VARIANTS)
def test_cg_converges_to_cholesky_solution(params):
    inter = als_data(seed=3)
    model = ALS(factors=6, **params)
    users, _, _, _ = dense_problem(model, inter)
    Y = random_factors(inter.n_items, 6, 2)
    exact = np.zeros((inter.n_users, 6), np.float32)
    model._half_step(users, exact, Y, exact=True)
    approx = random_factors(inter.n_users, 6, 4)
    errors = []
    for steps in (1, 2, 4, 30):
        x = approx.copy()
        model.set_params(cg_steps=steps)._half_step(users, x, Y, exact=False)
        errors.append(np.abs(x - exact).max())
    assert errors[0] > errors[-1], errors
    assert errors[-1] < 1e-4 * max(1.0, np.abs(exact).max()), errors


def test_cg_kernel_follows_textbook_cg():
    """Two CG steps of the kernel equal two steps of plain dense CG from the same start."""
    inter = als_data(seed=5)
    model = ALS(factors=4, alpha=2.0, unobserved_weight=0.5, regularization=0.2, cg_steps=2)
    users, _, C, P = dense_problem(model, inter)
    Y = random_factors(inter.n_items, 4, 6)
    X0 = random_factors(inter.n_users, 4, 7)
    X = X0.copy()
    model._half_step(users, X, Y, exact=False)
    Y64 = Y.astype(np.float64)
    for u in range(inter.n_users):
        A = Y64.T @ (C[u][:, None] * Y64) + users.reg[u] * np.eye(4)
        b = Y64.T @ (C[u] * P[u])
        np.testing.assert_allclose(X[u], R.cg_dense(A, b, X0[u], 2), rtol=1e-3, atol=1e-4)


def test_objective_equals_dense_objective():
    inter = als_data(seed=8)
    model = ALS(factors=3, alpha=2.0, unobserved_weight=0.4, regularization=0.03, regularization_scaling="frequency")
    users, items, C, P = dense_problem(model, inter)
    X, Y = random_factors(inter.n_users, 3, 1), random_factors(inter.n_items, 3, 2)
    expected = R.objective_dense(C, P, X, Y, users.reg, items.reg)
    assert model._objective(users, items, X, Y) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("params", MODEL_VARIANTS)
def test_objective_never_increases_with_exact_solver(params):
    model = ALS(factors=6, iterations=12, solver="cholesky", calculate_loss=True, seed=0, threads=1, **params)
    model.fit(als_data(n_users=40, n_items=30, seed=9))
    losses = [v for h in model.loss_history_ for v in (h["loss_after_users"], h["loss"])]
    assert len(losses) == 24
    steps = np.diff(losses)
    assert np.all(steps <= 1e-6 * np.abs(losses[:-1])), steps
    assert losses[-1] < losses[0]


def test_cg_training_decreases_the_objective():
    model = ALS(factors=6, iterations=10, calculate_loss=True, seed=0, alpha=3.0)
    model.fit(als_data(n_users=40, n_items=30, seed=9))
    losses = [h["loss"] for h in model.loss_history_]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_planted_blocks_withheld_item_first(solver):
    data = planted_data(explicit=False)
    model = ALS(factors=6, iterations=15, regularization=0.1, solver=solver, seed=3).fit(data)
    ids, _ = model.recommend(PROBE_USER, n=3)
    assert ids[0] == WITHHELD_ITEM


def test_seeded_results_reproducible_and_independent_of_threads():
    data = als_data(n_users=200, n_items=60, seed=2)  # > one 64-row block per side
    fits = [ALS(factors=8, iterations=4, seed=11, threads=t).fit(data) for t in (1, 1, 2)]
    for other in fits[1:]:
        np.testing.assert_array_equal(fits[0].user_factors_, other.user_factors_)
        np.testing.assert_array_equal(fits[0].item_factors_, other.item_factors_)


@pytest.mark.parametrize("params", MODEL_VARIANTS)
def test_fold_in_of_existing_user_matches_one_more_user_half_step(params):
    inter = als_data(n_users=30, n_items=20, seed=4)
    model = ALS(factors=5, iterations=6, solver="cholesky", seed=0, **params).fit(inter)
    users, _ = model._prepare(inter)
    X = model.user_factors_.copy()
    model._half_step(users, X, model.item_factors_, exact=True)  # one more exact user half step
    for u in (0, 7, 29):
        row = inter.matrix[u]
        x, bias = model._fold_in(row.indices, row.data)
        assert bias is None
        np.testing.assert_allclose(x, X[u], rtol=1e-4, atol=1e-5)
    # after convergence the trained factors are (close to) a fixed point of the user step
    converged = ALS(factors=5, iterations=60, solver="cholesky", seed=0, **params).fit(inter)
    row = inter.matrix[3]
    x, _ = converged._fold_in(row.indices, row.data)
    np.testing.assert_allclose(x, converged.user_factors_[3], rtol=2e-2, atol=2e-3)


def test_recommend_new_user_uses_fold_in_and_values():
    inter = als_data(n_users=30, n_items=20, seed=4)
    model = ALS(factors=5, iterations=5, seed=0).fit(inter)
    items = inter.item_ids.to_raw(inter.user_items(0))
    ids, scores = model.recommend_new_user(items, n=5)
    assert not set(ids.tolist()) & set(items.tolist()) and np.isfinite(scores).all()
    weighted = model.recommend_new_user(items, values=np.arange(1, len(items) + 1), n=5, exclude_seen=False)
    plain = model.recommend_new_user(items, n=5, exclude_seen=False)
    assert not np.allclose(weighted[1], plain[1])
    with pytest.raises(ValueError, match="positive"):
        model.recommend_new_user(items, values=-np.ones(len(items)))


# ---------------------------------------------------------------------- parameters without effect
def test_threads_and_calculate_loss_do_not_change_factors():
    base_params = TestALSConformance.sensitivity_base
    data = als_data(n_users=150, n_items=40, seed=6)
    base = ALS(**base_params).fit(data)
    for change in (dict(threads=2), dict(threads=0), dict(calculate_loss=True)):
        other = ALS(**{**base_params, **change}).fit(data)
        np.testing.assert_array_equal(base.user_factors_, other.user_factors_)
    assert "loss" in other.loss_history_[0] and "loss" not in base.loss_history_[0]


def test_non_positive_values_are_rejected():
    m = sp.csr_matrix(np.array([[1.0, 0, -2.0], [0, 3.0, 1.0]]))
    with pytest.raises(DataError, match="positive"):
        ALS().fit(Interactions.from_csr(m))


def test_confidences_from_to_implicit_are_used():
    ratings = planted_data(explicit=True)
    plain = ALS(factors=4, iterations=3, seed=0).fit(ratings.to_implicit(threshold=4))
    weighted = ALS(factors=4, iterations=3, seed=0).fit(ratings.to_implicit(threshold=4, confidence="linear"))
    assert not np.allclose(plain.item_factors_, weighted.item_factors_)


def test_presets_leave_unset_factors_at_the_default_64():
    for name in PRESETS:
        assert ALS.preset(name).get_params()["factors"] == PRESETS[name].get("factors", 64)


def test_empty_rows_get_zero_vectors_with_exact_solver():
    """A user without training items (kept by align_to-style id maps) gets x_u = 0 (b_u = 0)."""
    m = sp.csr_matrix(np.array([[1.0, 1.0, 0], [0, 0, 0], [0, 1.0, 1.0]]))
    model = ALS(factors=2, iterations=3, solver="cholesky", seed=0).fit(Interactions.from_csr(m))
    np.testing.assert_array_equal(model.user_factors_[1], 0.0)


def test_validation_metrics_reported_every_iteration():
    data = planted_data(explicit=False)
    rng = np.random.default_rng(0)
    held = rng.random(data.nnz) < 0.2
    train, valid = data.select(~held), data.select(held)
    model = ALS(factors=4, iterations=4, regularization=1.0, seed=0).fit(train, validation=valid)
    curve = [h["val_ndcg@10"] for h in model.loss_history_]
    assert len(curve) == 4 and all(0.0 <= v <= 1.0 for v in curve)
    assert all(0.0 <= h["val_recall@10"] <= 1.0 for h in model.loss_history_)
    assert curve[-1] > 0.3  # the planted blocks are learnable: held-out block items rank high


@pytest.mark.parametrize("n,k", [(1, 3), (7, 5), (301, 16), (600, 33)])
def test_gram_kernel_equals_numpy(n, k):
    Y = random_factors(n, k, n)
    expected = 0.7 * (Y.astype(np.float64).T @ Y.astype(np.float64))
    np.testing.assert_allclose(K.gram(Y, 0.7), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("params", MODEL_VARIANTS)
def test_prepare_keeps_float32_only_for_cg_and_shares_the_training_indices(params):
    inter = random_implicit(n_users=40, n_items=30, seed=9)
    lean_users, lean_items = ALS(**params)._prepare(inter)
    full_users, full_items = ALS(**params)._prepare(inter, float64=True)
    assert lean_users.conf is None and lean_items.conf is None  # CG: no float64 confidences kept
    assert np.shares_memory(lean_users.indices, inter.matrix.indices)  # user side: no index copy
    for lean, full in ((lean_users, full_users), (lean_items, full_items)):
        # the float32 confidences are the float64 ones rounded, computed in chunks or not
        np.testing.assert_array_equal(lean.conf32, full.conf.astype(np.float32))
        np.testing.assert_array_equal(lean.indices, full.indices)
        np.testing.assert_array_equal(lean.indptr, full.indptr)
        np.testing.assert_array_equal(lean.reg32, full.reg32)
    assert ALS(solver="cholesky", **{k: v for k, v in params.items()})._prepare(inter)[0].conf is not None

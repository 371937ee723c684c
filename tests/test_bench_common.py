"""Benchmark helpers (benchmarks/common.py, benchmarks/anchors.py) on tiny synthetic data, and the
benchmarks package itself (every script imports as ``benchmarks.<name>``).

The anchor libraries are optional: tests that need one are skipped where it is not installed
(they run in the benchmark venv /work/anchors-venv)."""
import importlib
import pkgutil

import numpy as np
import pytest
import scipy.sparse as sp

import benchmarks
from benchmarks import anchors, common


@pytest.mark.parametrize("name", sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)))
def test_every_benchmark_module_imports_as_part_of_the_package(name):
    """``python -m benchmarks.<name>`` needs each module to import without sys.path edits, and
    without running anything at import time (the scripts work under ``if __name__ == "__main__"``)."""
    module = importlib.import_module(f"benchmarks.{name}")
    assert module.__name__ == f"benchmarks.{name}"


def test_format_table_markdown():
    rows = [{"model": "mfrec|SVD", "rmse": 0.84123, "fit_s": 3.0}, {"model": "Surprise", "rmse": None}]
    table = common.format_table(rows, ["model", ("rmse", "RMSE"), ("fit_s", "fit (s)", ".1f")])
    assert table.splitlines() == [
        "| model | RMSE | fit (s) |",
        "|---|---|---|",
        "| mfrec\\|SVD | 0.8412 | 3.0 |",
        "| Surprise | - | - |",
    ]


def test_timed_returns_result_and_seconds():
    result, seconds = common.timed(sum, [1, 2, 3])
    assert result == 6 and 0 <= seconds < 5
    with common.Timer() as t:
        sum(range(1000))
    assert 0 <= t.seconds < 5


def test_machine_info_has_the_facts():
    info = common.machine_info()
    for key in ("date", "nproc", "cpu", "load_avg_1_5_15", "python", "numpy", "numba"):
        assert key in info
    assert info["nproc"] >= 1
    assert "cores" in common.machine_info_markdown(info)


def test_quick_convention():
    parser = common.add_common_args(__import__("argparse").ArgumentParser())
    assert common.dataset_for(parser.parse_args(["--quick"])) == "100k"
    args = parser.parse_args([])
    assert common.dataset_for(args) == "1m" and args.seed == 42 and args.threads == 0


def test_evaluate_vectors_ranks_by_dot_product():
    # user 0 trained on item 0; its test item 2 has the highest score among candidates -> ndcg 1
    train = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 1, 0, 0]], dtype=np.float32))
    test = sp.csr_matrix(np.array([[0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float32))
    users = np.array([[1.0], [1.0]], dtype=np.float32)
    items = np.array([[9.0], [8.0], [5.0], [1.0]], dtype=np.float32)  # item scores 9, 8, 5, 1
    result = anchors.evaluate_vectors(users, items, train, test, k=2)
    # user 0 candidates: 1 (8), 2 (5), 3 (1): test item 2 at rank 2; user 1: 0, 2, 3: item 3 at rank 3
    assert result["users"] == 2
    assert result["hit_rate@2"] == pytest.approx(0.5)
    assert result["ndcg@2"] == pytest.approx((1 / np.log2(3)) / 2)
    with pytest.raises(ValueError):
        anchors.evaluate_vectors(users[:1], items, train, test)


def test_missing_anchor_is_reported_not_raised(monkeypatch):
    def fake(train):
        anchors._require("surely_not_an_installed_module_xyz")
    assert anchors.run_anchor(fake, None, verbose=False) is None
    assert set(anchors.anchor_versions()) == {"surprise", "implicit", "lightfm"}


def test_lightfm_vectors_reproduce_its_scores():
    pytest.importorskip("lightfm")
    from mfrec.data.interactions import Interactions
    rng = np.random.default_rng(0)
    m = sp.random(30, 20, density=0.3, random_state=1, format="csr", dtype=np.float32)
    m.data[:] = 1
    inter = Interactions.from_csr(m)
    users, items, fit_time = anchors.lightfm_warp(inter, no_components=4, epochs=2, threads=1)
    assert users.shape == (30, 6) and items.shape == (20, 6) and fit_time >= 0
    # the folded dot products equal LightFM's own predict()
    from lightfm import LightFM
    model = LightFM(no_components=4, learning_rate=0.05, loss="warp", random_state=42)
    model.fit(m.tocoo(), epochs=2, num_threads=1)
    u = rng.integers(0, 30, 50).astype(np.int32)
    i = rng.integers(0, 20, 50).astype(np.int32)
    np.testing.assert_allclose(np.sum(users[u] * items[i], axis=1), model.predict(u, i), rtol=1e-4, atol=1e-5)


def test_implicit_vectors_reproduce_its_scores():
    pytest.importorskip("implicit")
    from mfrec.data.interactions import Interactions
    m = sp.random(30, 20, density=0.3, random_state=1, format="csr", dtype=np.float32)
    m.data[:] = 1
    inter = Interactions.from_csr(m)
    for fn, kw in ((anchors.implicit_als, {"factors": 4, "iterations": 2}),
                   (anchors.implicit_bpr, {"factors": 4, "iterations": 2})):
        users, items, _ = fn(inter, threads=1, **kw)
        assert users.shape[0] == 30 and items.shape[0] == 20
        assert np.isfinite(users).all() and np.isfinite(items).all()
    # BPR: the last column is the item bias on the item side and 1 on the user side
    np.testing.assert_allclose(users[:, -1], 1.0)

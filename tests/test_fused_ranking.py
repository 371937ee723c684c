"""The fused batch paths (issue 14): numba top-k over score blocks and the one-pass bucketed
ranking metrics give exactly what the NumPy masking path and the per-user references give."""
import numpy as np
import pytest
import scipy.sparse as sp

from mfrec.evaluation.evaluate import ranking_metrics
from mfrec.kernels.ranking_metrics import _heap_sort, ranking_metrics_batch
from mfrec.retrieval import mask_rows, top_k, top_k_from_scores
from test_metrics import _reference_per_user


def _numpy_top_k(queries, items, k, exclude=None, exclude_rows=None, allowed=None, banned=None, selves=None):
    """The NumPy reference: full scores, excluded items set to -inf, argpartition + lexsort."""
    scores = (queries @ items.T).astype(np.float32)
    if allowed is not None:
        keep = np.ones(items.shape[0], dtype=bool)
        keep[allowed] = False
        scores[:, keep] = -np.inf
    if banned is not None:
        scores[:, banned] = -np.inf
    if exclude is not None:
        mask_rows(scores, exclude, np.asarray(exclude_rows))
    if selves is not None:
        scores[np.arange(len(scores)), selves] = -np.inf
    return top_k_from_scores(scores, k)


@pytest.mark.parametrize("batch_size", [16, None])   # None: float32 vectors scored inside top_k_dot
@pytest.mark.parametrize("seed,tied", [(0, False), (1, True), (2, True), (3, False)])
def test_batch_top_k_equals_numpy_path(seed, tied, batch_size):
    rng = np.random.default_rng(seed)
    n_users, n_items, d = 70, 300, 4
    if tied:   # small integers: many ties, broken by the lower index
        users = rng.integers(-2, 3, (n_users, d)).astype(np.float32)
        items = rng.integers(-2, 3, (n_items, d)).astype(np.float32)
    else:
        users = rng.standard_normal((n_users, d)).astype(np.float32)
        items = rng.standard_normal((n_items, d)).astype(np.float32)
    seen = sp.random(n_users, n_items, density=0.3, format="csr", random_state=seed)
    rows = rng.permutation(n_users)
    allowed = rng.choice(n_items, 120, replace=False)
    banned = rng.choice(n_items, 30, replace=False)
    selves = rng.integers(0, n_items, n_users)
    cases = [{}, {"exclude": seen, "exclude_rows": rows}, {"allowed": allowed}, {"banned": banned},
             {"selves": selves},
             {"exclude": seen, "exclude_rows": rows, "allowed": allowed, "banned": banned, "selves": selves}]
    for case in cases:
        for k in (1, 10, 100, 300, 500):
            expected = _numpy_top_k(users, items, k, **case)
            got = top_k(users, items, k, exclude=case.get("exclude"), exclude_rows=case.get("exclude_rows"),
                        allowed_items=case.get("allowed"), banned_items=case.get("banned"),
                        self_items=case.get("selves"), batch_size=batch_size)
            np.testing.assert_array_equal(got[0], expected[0], err_msg=str((list(case), k)))
            np.testing.assert_array_equal(got[1], expected[1], err_msg=str((list(case), k)))


def test_numpy_top_k_ties_at_the_kth_place_go_to_the_lower_index():
    """argpartition alone keeps an arbitrary subset of the items tied at the k-th place; the
    documented rule (lower index first) holds for the NumPy path too."""
    scores = np.random.default_rng(1).integers(0, 3, (5, 300)).astype(np.float32)
    idx, _ = top_k_from_scores(scores, 10)
    for r in range(5):
        assert idx[r].tolist() == np.lexsort((np.arange(300), -scores[r]))[:10].tolist()
    one, _ = top_k_from_scores(scores[:1], 10)
    assert one.tolist() == idx[:1].tolist()


def test_batch_top_k_drops_model_scores_of_minus_inf():
    users = np.ones((3, 1), np.float32)
    items = np.array([[1.0], [-np.inf], [2.0], [np.inf]], np.float32)
    idx, scores = top_k(users, items, 4)
    assert idx.tolist() == [[3, 2, 0, -1]] * 3
    assert np.isneginf(scores[:, 3]).all()


@pytest.mark.parametrize("seed,kind", [(0, "normal"), (1, "tied"), (2, "skewed"), (3, "inf"), (4, "constant")])
def test_bucketed_metrics_equal_references(seed, kind):
    """Catalogues large enough for many histogram buckets (the one-pass AUC and rank counts),
    with ties inside buckets, skewed scores, infinities (the direct path) and constant rows."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 40, 400
    train = sp.csr_matrix((rng.random((n_users, n_items)) < 0.2).astype(np.float32))
    test = sp.csr_matrix((rng.random((n_users, n_items)) < 0.1).astype(np.float32))
    scores = rng.standard_normal((n_users, n_items)).astype(np.float32)
    if kind == "tied":
        scores = rng.integers(0, 6, (n_users, n_items)).astype(np.float32)
    elif kind == "skewed":   # most scores in one bucket, a few far away; rounded: ties
        scores = np.round(rng.standard_normal((n_users, n_items)) ** 5 * 100).astype(np.float32)
    elif kind == "inf":
        scores[rng.random((n_users, n_items)) < 0.05] = np.inf
        scores[rng.random((n_users, n_items)) < 0.05] = -np.inf
    elif kind == "constant":
        scores[::2] = 1.5
    k = 20
    res = ranking_metrics(lambda idx: scores[idx], train, test, k=k, per_user=True, batch_size=9)
    ref = _reference_per_user(scores, train, test, k)
    per = res["per_user"]
    assert per["user"].tolist() == [u for u, _, _ in ref]
    names = [f"precision@{k}", f"recall@{k}", f"ndcg@{k}", f"map@{k}", f"hit_rate@{k}", "mrr", "auc"]
    for col, name in enumerate(names):
        np.testing.assert_allclose(per[name], [v[col] for _, v, _ in ref], rtol=1e-12, atol=0, err_msg=name)
    for row, (_, _, ranked) in zip(per[f"top@{k}"], ref):
        assert row[:len(ranked)].tolist() == list(ranked)


def test_bucketed_and_direct_paths_agree_exactly():
    """The same rows through the one-pass path (finite scores) and the direct path (forced by an
    inf on a training item, which changes no candidate): bit-identical metrics."""
    rng = np.random.default_rng(7)
    n_users, n_items, k = 30, 640, 10
    dense_train = rng.random((n_users, n_items)) < 0.15
    dense_test = rng.random((n_users, n_items)) < 0.1
    dense_train[:, 0] = True   # item 0: a training item of everyone
    dense_test[:, 0] = False
    train, test = sp.csr_matrix(dense_train.astype(np.float32)), sp.csr_matrix(dense_test.astype(np.float32))
    scores = np.round(rng.standard_normal((n_users, n_items)) * 8).astype(np.float32)
    forced = scores.copy()
    forced[:, 0] = np.inf
    users = np.arange(n_users, dtype=np.int64)
    outs = []
    for s in (scores, forced):
        metrics, top, bad = np.empty((n_users, 7)), np.empty((n_users, k), np.int32), np.zeros(n_users, np.uint8)
        ranking_metrics_batch(s, users, train.indptr.astype(np.int64), train.indices.astype(np.int32),
                              test.indptr.astype(np.int64), test.indices.astype(np.int32), k, metrics, top, bad)
        outs.append((metrics, top))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])


@pytest.mark.parametrize("seed", range(4))
def test_finite_range_equals_numpy(seed):
    """The integer-key min/max of a score row: NumPy's min and max, and finite only without NaN/inf."""
    from mfrec.kernels.ranking_metrics import _finite_range
    rng = np.random.default_rng(seed)
    for trial in range(200):
        row = (rng.standard_normal(int(rng.integers(1, 70))) * 10.0 ** rng.integers(-30, 30)).astype(np.float32)
        if trial % 4 == 0:
            row[rng.integers(len(row))] = rng.choice([np.nan, np.inf, -np.inf])
        if trial % 9 == 0:
            row[:] = rng.choice([0.0, -0.0], size=len(row))
        lo, hi, finite = _finite_range(row)
        assert finite == bool(np.isfinite(row).all())
        if finite:
            assert lo == row.min() and hi == row.max()


@pytest.mark.parametrize("block_rows", [None, 7])   # None: dot_block_rows' choice (64 here)
@pytest.mark.parametrize("seed,tied", [(0, False), (1, True), (2, True)])
def test_dot_product_metrics_equal_the_score_path(seed, tied, block_rows, monkeypatch):
    """ranking_metrics_dot (blocks scored inside the kernel) gives exactly the metrics and top lists of
    the score-row path on the same dot products: integer vectors make both products exact, and
    with few distinct values, ties everywhere. 150 users: two full 64-user blocks and a short one."""
    rng = np.random.default_rng(seed)
    n_users, n_items, d = 150, 500, 5
    low, high = (-1, 2) if tied else (-50, 50)
    users = rng.integers(low, high, (n_users, d)).astype(np.float32)
    items = rng.integers(low, high, (n_items, d)).astype(np.float32)
    train = sp.csr_matrix((rng.random((n_users, n_items)) < 0.2).astype(np.float32))
    test = sp.csr_matrix((rng.random((n_users, n_items)) < 0.05).astype(np.float32))
    by_scores = ranking_metrics(lambda idx: users[idx] @ items.T, train, test, k=10, per_user=True)
    if block_rows is not None:
        monkeypatch.setattr("mfrec.evaluation.evaluate.dot_block_rows", lambda n_items: block_rows)
    by_dots = ranking_metrics((users, items), train, test, k=10, per_user=True)
    assert by_dots["users"] == by_scores["users"] > 100
    for name, value in by_scores.items():
        if name == "per_user":
            for column, values in value.items():
                np.testing.assert_array_equal(by_dots["per_user"][column], values, err_msg=column)
        else:
            assert by_dots[name] == value, name


def test_dot_product_metrics_name_the_user_with_nan_scores():
    from mfrec.errors import InvalidParameterError
    users = np.ones((5, 2), np.float32)
    users[3, 0] = np.nan
    items = np.ones((8, 2), np.float32)
    train = sp.csr_matrix(np.eye(5, 8, dtype=np.float32))
    test = sp.csr_matrix(np.eye(5, 8, k=1, dtype=np.float32))
    with pytest.raises(InvalidParameterError, match="NaN scores for user index 3"):
        ranking_metrics((users, items), train, test, k=3)


def test_single_threaded_blas_restores_the_thread_count():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from mfrec._threads import single_threaded_blas
    before = [(p["prefix"], p["num_threads"]) for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    with single_threaded_blas():
        inside = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    after = [(p["prefix"], p["num_threads"]) for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    assert inside and set(inside) == {1}
    assert after == before


def test_dot_blocks_hold_a_bounded_number_of_scores():
    from mfrec.kernels.top_k import DOT_BLOCK_FLOATS, DOT_ROWS, dot_block_rows
    assert dot_block_rows(3_706) == DOT_ROWS
    assert dot_block_rows(5_000_000) == 1
    for n_items in (1, 27_000, 100_000, 1_000_000):
        rows = dot_block_rows(n_items)
        assert 1 <= rows <= DOT_ROWS and (rows == 1 or rows * n_items <= DOT_BLOCK_FLOATS)


def test_single_threaded_blas_in_another_thread_leaves_blas_as_it_is():
    """OpenBLAS takes a thread count back up only from the main thread, so a worker thread's block
    must not limit it (it would stay limited for the whole process)."""
    import threading
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS too, the one numba's np.dot calls)
    from mfrec._threads import single_threaded_blas

    def counts():
        return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    before, inside = counts(), []

    def worker():
        with single_threaded_blas():
            inside.extend(counts())
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(10)
    assert inside == before and counts() == before


@pytest.mark.parametrize("n_queries", [1, 3, 80])   # the single-row path, the score-block path, the fused path
def test_top_k_refuses_what_its_kernels_would_read_out_of_bounds(n_queries):
    rng = np.random.default_rng(0)
    queries = rng.standard_normal((n_queries, 4)).astype(np.float32)
    items = rng.standard_normal((30, 4)).astype(np.float32)
    seen = sp.random(n_queries, 30, density=0.2, format="csr", random_state=0)
    rows = np.arange(n_queries)
    with pytest.raises(ValueError, match="k must be >= 1"):
        top_k(queries, items, 0)
    with pytest.raises(ValueError, match="self_items"):
        top_k(queries, items, 5, self_items=np.full(n_queries, 30))
    with pytest.raises(ValueError, match="exclude_rows"):
        top_k(queries, items, 5, exclude=seen, exclude_rows=rows + 1)
    with pytest.raises(ValueError, match="columns"):
        top_k(queries, items[:20], 5, exclude=seen, exclude_rows=rows)
    idx, _ = top_k(queries, items, 5, exclude=seen, exclude_rows=rows, self_items=np.zeros(n_queries, int))
    assert idx.shape == (n_queries, 5) and not (idx == 0).any()


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 8, 17, 100, 1001])
def test_heap_sort_equals_numpy_sort(n):
    """The kernels' own sort of a user's test scores (ties, repeated values, infinities)."""
    rng = np.random.default_rng(n)
    for values in (rng.random(n), rng.integers(0, 3, n), np.full(n, 7.0), np.arange(n)[::-1]):
        a = np.asarray(values, dtype=np.float32)
        if n >= 2:
            a[0], a[-1] = np.inf, -np.inf
        expected = np.sort(a)
        _heap_sort(a)
        np.testing.assert_array_equal(a, expected)


def test_dot_path_leaves_constant_rows_to_the_direct_counts_and_matches_the_reference():
    """Users with a zero vector score every item alike (no bucket width): those rows are counted
    by the direct kernel after the fused pass, interleaved with ordinary rows."""
    rng = np.random.default_rng(11)
    n_users, n_items, d, k = 150, 300, 6, 10
    user_vectors = rng.standard_normal((n_users, d)).astype(np.float32)
    user_vectors[::3] = 0.0
    item_vectors = rng.standard_normal((n_items, d)).astype(np.float32)
    train = sp.csr_matrix((rng.random((n_users, n_items)) < 0.1).astype(np.float32))
    test = sp.csr_matrix((rng.random((n_users, n_items)) < 0.05).astype(np.float32))
    scores = user_vectors @ item_vectors.T
    fused = ranking_metrics((user_vectors, item_vectors), train, test, k=k, per_user=True)["per_user"]
    ref = _reference_per_user(scores, train, test, k)
    names = [f"precision@{k}", f"recall@{k}", f"ndcg@{k}", f"map@{k}", f"hit_rate@{k}", "mrr", "auc"]
    assert fused["user"].tolist() == [u for u, _, _ in ref]
    for col, name in enumerate(names):
        np.testing.assert_allclose(fused[name], [v[col] for _, v, _ in ref], rtol=1e-5, atol=1e-12, err_msg=name)
    constant = [i for i, u in enumerate(fused["user"]) if u % 3 == 0]
    assert constant and all(fused[f"top@{k}"][i][:len(ref[i][2])].tolist() == list(ref[i][2]) for i in constant)

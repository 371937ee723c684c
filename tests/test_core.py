"""IdMap, Interactions, retrieval and model-file basics."""
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from mfrec import DataError, IdMap, Interactions, UnknownIdError
from mfrec.retrieval import top_k


def test_idmap_round_trip_and_unknown():
    ids = IdMap([10, 3, 7], kind="item")
    assert ids.index(3) == 1 and ids.index(np.int64(7)) == 2 and ids.index(7.0) == 2
    np.testing.assert_array_equal(ids.indices([7, 10]), [2, 0])
    np.testing.assert_array_equal(ids.to_raw([1, 2]), [3, 7])
    with pytest.raises(UnknownIdError, match="unknown item id 99"):
        ids.index(99)
    np.testing.assert_array_equal(ids.indices([99, 3], missing="ignore"), [-1, 1])
    with pytest.raises(DataError, match="duplicate"):
        IdMap([1, 1])


def test_idmap_strings():
    ids, idx = IdMap.from_values(["b", "a", "b"], kind="user")
    assert ids.raw.tolist() == ["a", "b"] and idx.tolist() == [1, 0, 1]
    assert "a" in ids and "z" not in ids


def test_from_arrays_builds_sorted_csr_with_raw_ids():
    inter = Interactions.from_arrays(["u2", "u1", "u2"], [30, 10, 20], [3, 4, 5], [1.0, np.nan, 3.0])
    assert inter.shape == (2, 3) and inter.is_explicit
    assert inter.user_ids.raw.tolist() == ["u1", "u2"]
    dense = inter.matrix.toarray()
    np.testing.assert_array_equal(dense, [[4, 0, 0], [0, 5, 3]])
    # timestamps follow their entries through the sort
    np.testing.assert_array_equal(inter.timestamps, [np.nan, 3.0, 1.0])


def test_duplicates_last_wins_by_default_and_rules():
    users, items, ratings = [1, 1, 1], [5, 5, 6], [2.0, 4.0, 1.0]
    assert Interactions.from_arrays(users, items, ratings).matrix.toarray().tolist() == [[4.0, 1.0]]
    assert Interactions.from_arrays(users, items, ratings, duplicates="first").matrix.toarray().tolist() == [[2.0, 1.0]]
    assert Interactions.from_arrays(users, items, ratings, duplicates="mean").matrix.toarray().tolist() == [[3.0, 1.0]]
    with pytest.raises(DataError, match="duplicate rating for user 1, item 5"):
        Interactions.from_arrays(users, items, ratings, duplicates="error")


@pytest.mark.parametrize("ratings, message", [
    ([1.0, np.nan], "NaN/inf"),
    ([1.0, np.inf], "NaN/inf"),
    (["4", "five"], "'five' at row 1 is not a number"),
    ([1.0, 9.0], "outside the declared scale"),
])
def test_bad_ratings_are_named(ratings, message):
    with pytest.raises(DataError, match=message):
        Interactions.from_arrays([1, 2], [1, 2], ratings, rating_scale=(1, 5))


def test_empty_and_mismatched_input():
    with pytest.raises(DataError, match="empty"):
        Interactions.from_arrays([], [], [])
    with pytest.raises(DataError, match="2 user ids but 1 item ids"):
        Interactions.from_arrays([1, 2], [1])
    with pytest.raises(DataError, match="missing user id"):
        Interactions.from_arrays(np.array([1, None], dtype=object), [1, 2])
    with pytest.raises(DataError, match="no column 'user'"):
        Interactions.from_dataframe(pd.DataFrame({"u": [1], "item": [2]}))


def test_to_implicit_threshold_and_confidence():
    inter = Interactions.from_arrays([1, 1, 2], [1, 2, 1], [5, 3, 4])
    imp = inter.to_implicit()
    assert imp.kind == "implicit" and imp.nnz == 2
    assert imp.matrix.toarray().tolist() == [[1, 0], [1, 0]]
    lin = inter.to_implicit(threshold=None, confidence="linear", alpha=2.0)
    assert lin.matrix.toarray().tolist() == [[11, 7], [9, 0]]
    with pytest.raises(DataError, match="no rating is >= 6"):
        inter.to_implicit(threshold=6)


def test_compact_and_align_drop_unknown():
    inter = Interactions.from_arrays([1, 1, 2, 3], [1, 2, 1, 3], [5, 5, 5, 1], [1, 2, 3, 4])
    train = inter.select(inter.matrix.data >= 4).compact()
    assert train.shape == (2, 2)
    np.testing.assert_array_equal(train.timestamps, [1, 2, 3])
    aligned, dropped = inter.align_to(train)
    assert dropped == 1 and aligned.nnz == 3
    assert aligned.user_ids is train.user_ids


def test_from_csr_and_to_dataframe():
    m = sp.csr_matrix(np.array([[0, 2.0], [1.0, 0]]))
    inter = Interactions.from_csr(m, user_ids=["a", "b"], item_ids=[7, 8])
    df = inter.to_dataframe()
    assert df.to_dict("list") == {"user": ["a", "b"], "item": [8, 7], "value": [2.0, 1.0]}


def test_top_k_excludes_and_pads():
    users = np.array([[1.0], [1.0]], dtype=np.float32)
    items = np.array([[3.0], [2.0], [1.0]], dtype=np.float32)
    seen = sp.csr_matrix(np.array([[1, 0, 0], [1, 1, 0]]))
    idx, scores = top_k(users, items, 3, exclude=seen, exclude_rows=np.array([0, 1]))
    assert idx.tolist() == [[1, 2, -1], [2, -1, -1]]
    assert np.isneginf(scores[1, 1])


def test_top_k_ties_broken_by_index():
    idx, _ = top_k(np.ones((1, 1), np.float32), np.ones((5, 1), np.float32), 3)
    assert idx.tolist() == [[0, 1, 2]]


def test_top_k_one_query_at_a_time_equals_the_batch():
    """The single-query fast path (server requests) gives what the batch path gives, row by row,
    with every filter, ties, padding and k >= n_items."""
    rng = np.random.default_rng(0)
    users = rng.integers(-2, 3, (6, 3)).astype(np.float32)     # small integers: many ties
    items = rng.integers(-2, 3, (9, 3)).astype(np.float32)
    seen = sp.random(6, 9, density=0.5, format="csr", random_state=1)
    seen.data[:] = 1
    rows = np.arange(6)
    filters = [{}, {"exclude": seen, "exclude_rows": rows}, {"allowed_items": np.array([0, 2, 3, 7])},
               {"banned_items": np.array([1, 4])}, {"self_items": np.array([0, 1, 2, 3, 4, 5])},
               {"exclude": seen, "exclude_rows": rows, "allowed_items": np.array([2, 5, 8]),
                "banned_items": np.array([5]), "self_items": np.array([8, 8, 2, 2, 0, 0])}]
    for options in filters:
        for k in (1, 4, 9, 12):
            idx, scores = top_k(users, items, k, **options)
            for r in rows:
                one = {key: (value[r:r + 1] if key in ("exclude_rows", "self_items") else value)
                       for key, value in options.items()}
                one_idx, one_scores = top_k(users[r:r + 1], items, k, **one)
                assert one_idx.tolist() == idx[r:r + 1].tolist(), (options, k, r)
                np.testing.assert_array_equal(one_scores, scores[r:r + 1])


def test_single_query_top_k_breaks_ties_by_the_lower_index_with_nan_and_neg_inf():
    """One-row top_k (the server's path: argpartition first, the exact selection when the k-th
    score is tied with an item left out) against a sort by (score desc, index); NaN after every
    number, -inf never returned (-1)."""
    from mfrec.retrieval import top_k_from_scores
    rng = np.random.default_rng(1)
    for _ in range(2000):
        n = int(rng.integers(2, 40))
        k = int(rng.integers(1, n))
        row = rng.integers(0, 5, n).astype(np.float32)
        r = rng.random(n)
        row[r < 0.1] = np.nan
        row[(r >= 0.1) & (r < 0.2)] = -np.inf
        numbers = sorted((j for j in range(n) if not np.isnan(row[j])), key=lambda j: (-row[j], j))
        expected = (numbers + [j for j in range(n) if np.isnan(row[j])])[:k]
        expected = [-1 if np.isneginf(row[j]) else j for j in expected]
        idx, _ = top_k_from_scores(row[None, :], k)
        assert idx[0].tolist() == expected, (row, k)

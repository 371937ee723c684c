"""evaluate_ranking / evaluate_ratings on fitted models (Popularity as the plumbing test bed)."""
import math

import numpy as np
import pytest

from mfrec.data.interactions import Interactions
from mfrec.errors import DataError, NotFittedError
from mfrec.evaluation.evaluate import evaluate_ranking, evaluate_ratings
from mfrec.models.popularity import Popularity


@pytest.fixture
def train():
    # users a, b, c; items i1..i5 (indices 0..4 in sorted raw-id order)
    # item counts: i1: 3, i2: 2, i3: 1
    return Interactions.from_arrays(
        ["a", "a", "b", "b", "c", "c"],
        ["i1", "i2", "i1", "i3", "i1", "i2"],
        [5, 4, 3, 2, 4, 1], rating_scale=(1, 5))


@pytest.fixture
def model(train):
    return Popularity().fit(train)


class _CountRater(Popularity):
    """Popularity posing as a rating model ("predicts" the item count), to test the plumbing of
    evaluate_ratings, which refuses real ranking models."""
    feedback = "explicit"


def test_evaluate_ranking_popularity_by_hand(model):
    # catalogue (train items) = i1 (count 3), i2 (2), i3 (1); scores = counts.
    # a: train {i1, i2} -> candidates {i3}; test {i3} -> top-2 = [i3]: hit at rank 1
    # b: train {i1, i3} -> candidates {i2}; test {i2} -> hit at rank 1
    # c: train {i1, i2}; test {i3, i9}: i9 unknown -> dropped; candidates {i3} -> hit at rank 1
    # d: unknown user -> its pair dropped
    test = Interactions.from_arrays(["a", "b", "c", "c", "d"], ["i3", "i2", "i3", "i9", "i1"], [4, 5, 3, 2, 5])
    res = evaluate_ranking(model, test, k=2)
    assert res["users"] == 3
    assert res["dropped_test_pairs"] == 2 and res["dropped_test_users"] == 1
    assert res["k"] == 2
    # every user: 1 hit in a list of K=2 -> P = 1/2, R = 1, nDCG = 1, AP = 1, HR = 1, RR = 1
    assert res["precision@2"] == pytest.approx(0.5)
    for key in ("recall@2", "ndcg@2", "map@2", "hit_rate@2", "mrr"):
        assert res[key] == pytest.approx(1.0), key
    # one candidate per user, and it is the test item: no negative -> AUC undefined for all
    assert math.isnan(res["auc"])
    # items recommended: i3 (a, c) and i2 (b) -> 2 of 3
    assert res["coverage@2"] == pytest.approx(2 / 3)


def test_evaluate_ranking_popularity_with_negatives():
    # items x1..x4 with counts 3, 2, 1, 1 (u1..u3 interact); user u4 trained on x4 only
    train = Interactions.from_arrays(["u1", "u1", "u1", "u2", "u2", "u3", "u4"],
                                     ["x1", "x2", "x3", "x1", "x2", "x1", "x4"])
    model = Popularity().fit(train)
    test = Interactions.from_arrays(["u4", "u3"], ["x3", "x2"])
    res = evaluate_ranking(model, test, k=1, per_user=True)
    # u3 (index 2): train {x1}; ranking x2 (2), x3 (1), x4 (1); test x2 -> top-1 hit; AUC: x2 beats x3, x4 -> 1
    # u4 (index 3): train {x4}; ranking x1 (3), x2 (2), x3 (1); test x3 -> miss, RR = 1/3;
    #    AUC: x3 vs negatives x1, x2 -> 0
    assert res["per_user"]["user"].tolist() == [2, 3]
    assert res["per_user"]["precision@1"].tolist() == [1.0, 0.0]
    assert res["per_user"]["mrr"].tolist() == pytest.approx([1.0, 1 / 3])
    assert res["per_user"]["auc"].tolist() == [1.0, 0.0]
    assert res["mrr"] == pytest.approx((1 + 1 / 3) / 2)
    assert res["auc"] == pytest.approx(0.5)
    assert res["coverage@1"] == pytest.approx(2 / 4)   # x2 (u3) and x1 (u4)
    assert res["dropped_test_pairs"] == 0


def test_evaluate_ranking_aligned_test_is_used_as_is(model, train):
    test = train.select(np.array([True, False, False, True, False, False]))   # (a, i1), (b, i3)
    # same id maps as the model: no alignment, nothing dropped; every test pair is a training pair
    with pytest.raises(DataError, match="no user to evaluate"):
        evaluate_ranking(model, test)


def test_evaluate_ranking_k_and_empty_errors(model, train):
    test = Interactions.from_arrays(["a"], ["i3"])
    for k in (0, -3, 1.5, True):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            evaluate_ranking(model, test, k=k)
    assert evaluate_ranking(model, test, k=100)["k"] == 3          # clipped to the catalogue
    unknown = Interactions.from_arrays(["zz"], ["i1"])
    with pytest.raises(DataError, match="none of the 1 test interactions"):
        evaluate_ranking(model, unknown)
    empty = train.select(np.zeros(train.nnz, dtype=bool))
    with pytest.raises(DataError, match="test set is empty"):
        evaluate_ranking(model, empty)
    with pytest.raises(DataError, match="Interactions"):
        evaluate_ranking(model, [("a", "i3")])
    with pytest.raises(NotFittedError):
        evaluate_ranking(Popularity(), test)


def test_evaluate_ratings_by_hand(train):
    model = _CountRater().fit(train)
    # _CountRater "predicts" the item count: i1 -> 3, i2 -> 2, i3 -> 1 (plumbing only)
    test = Interactions.from_arrays(["a", "b", "c", "c", "d"], ["i3", "i2", "i1", "i9", "i1"], [2, 5, 3, 4, 1],
                                    rating_scale=(1, 5))
    res = evaluate_ratings(model, test)
    # kept: (a, i3) 2 vs 1, (b, i2) 5 vs 2, (c, i1) 3 vs 3 -> errors 1, 3, 0
    # RMSE = sqrt((1 + 9 + 0) / 3) = sqrt(10/3); MAE = 4/3
    assert res["n"] == 3 and res["dropped_test_pairs"] == 2 and res["dropped_test_users"] == 1
    assert res["rmse"] == pytest.approx(math.sqrt(10 / 3))
    assert res["mae"] == pytest.approx(4 / 3)


def test_evaluate_ratings_clip():
    train = Interactions.from_arrays(["a"] * 7 + ["b"], [f"i{j}" for j in range(7)] + ["i0"], [5] * 8,
                                     rating_scale=(1, 5))
    model = _CountRater().fit(train)            # i0 count 2, others 1
    test = Interactions.from_arrays(["a"], ["i0"], [5], rating_scale=(1, 5))
    assert evaluate_ratings(model, test)["mae"] == pytest.approx(3.0)            # |2 - 5|
    big = Interactions.from_arrays([f"u{n}" for n in range(7)], ["i0"] * 7, [5] * 7, rating_scale=(1, 5))
    model = _CountRater().fit(big)             # i0 count 7 > scale top 5
    test = Interactions.from_arrays(["u0"], ["i0"], [4], rating_scale=(1, 5))
    assert evaluate_ratings(model, test)["mae"] == pytest.approx(3.0)            # |7 - 4|
    assert evaluate_ratings(model, test, clip=True)["mae"] == pytest.approx(1.0)  # |5 - 4|


class _NaNModel(_CountRater):
    def predict_indices(self, user_index, item_index):
        return np.full(len(user_index), np.nan, dtype=np.float32)


def test_evaluate_ratings_errors(model, train):
    implicit = Interactions.from_arrays(["a"], ["i1"])
    with pytest.raises(DataError, match="explicit"):
        evaluate_ratings(_CountRater().fit(train), implicit)
    with pytest.raises(NotFittedError):
        evaluate_ratings(_CountRater(), train)
    with pytest.raises(ValueError, match="Popularity is a ranking model"):
        evaluate_ratings(model, train)
    with pytest.raises(ValueError, match="predicted nan for user 'a', item 'i1'"):
        evaluate_ratings(_NaNModel().fit(train), train)


def test_evaluate_ranking_exclude_replaces_training_items():
    # two users, four items; the model trains on user a's item 1 only, but a also rated 2 and 3
    import numpy as np
    from mfrec import Interactions
    from mfrec.evaluation import evaluate_ranking
    from mfrec.models.popularity import Popularity
    rated = Interactions.from_arrays(["a", "a", "a", "b", "b"], [1, 2, 3, 2, 4], [5, 2, 2, 5, 5])
    liked = rated.to_implicit(threshold=4)
    model = Popularity().fit(liked)
    test = Interactions.from_arrays(["a"], [4], [5.0]).align_to(rated)[0].to_implicit(4)
    # without exclude: a's candidates are 2, 3, 4 with popularity 1, 0, 1 -> item 2 first (lower index)
    plain = evaluate_ranking(model, test, k=1)
    # with exclude = all rated items: a's only candidate left is 4, so it is ranked first
    excluded = evaluate_ranking(model, test, k=1, exclude=rated)
    assert plain["hit_rate@1"] == 0.0
    assert excluded["hit_rate@1"] == 1.0 and np.isclose(excluded["ndcg@1"], 1.0)


class _ReversedPopularity(Popularity):
    """Scores that are not the dot products of its vectors: the least popular item first."""

    def score_users(self, user_index):
        return -super().score_users(user_index)


@pytest.fixture
def counts_train():
    # item counts x1: 4, x2: 2, x3: 1; u4 trained on x1 only, so its candidates are x2 and x3
    return Interactions.from_arrays(["u1", "u1", "u1", "u2", "u2", "u3", "u4"],
                                    ["x1", "x2", "x3", "x1", "x2", "x1", "x1"])


def test_a_model_with_its_own_score_users_is_evaluated_on_those_scores(counts_train):
    """A subclass overriding only score_users gets no ranking vectors, so evaluation ranks by its
    own scores (the fused dot-product path would silently use the base class's vectors)."""
    test = Interactions.from_arrays(["u4"], ["x3"])
    plain, reversed_model = Popularity().fit(counts_train), _ReversedPopularity().fit(counts_train)
    assert plain.ranking_vectors() is not None and reversed_model.ranking_vectors() is None
    assert evaluate_ranking(plain, test, k=1)["hit_rate@1"] == 0.0            # x2 ranks first
    assert evaluate_ranking(reversed_model, test, k=1)["hit_rate@1"] == 1.0   # x3 ranks first


def test_ranking_vectors_are_read_only_views(model):
    users, items = model.ranking_vectors()
    with pytest.raises(ValueError):
        users[0, 0] = 1.0
    with pytest.raises(ValueError):
        items[0, 0] = 1.0


def test_model_ranking_metrics_accepts_a_duck_typed_scorer(counts_train):
    """Anything with score_users (e.g. a benchmark's wrapper of another library) is evaluated
    through it; ranking_vectors is optional."""
    from mfrec.evaluation.evaluate import _aligned_test, model_ranking_metrics
    model = Popularity().fit(counts_train)

    class Scorer:
        def score_users(self, user_index):
            return -model.score_users(user_index)
    test = _aligned_test(model, Interactions.from_arrays(["u4", "u3"], ["x3", "x3"]))[0].matrix
    by_duck = model_ranking_metrics(Scorer(), model.interactions_.matrix, test, k=1)
    by_model = model_ranking_metrics(model, model.interactions_.matrix, test, k=1)
    assert by_duck["users"] == by_model["users"] == 2
    # u3 and u4 were trained on x1 only: candidates x2 and x3, test x3
    assert by_duck["hit_rate@1"] == 1.0 and by_model["hit_rate@1"] == 0.0

"""Similar items: the default similarity (mfrec.similarity) and the measures of
mfrec.evaluation.similar_items / franchise, on hand-built cases whose answers are known."""
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import mfrec
from mfrec.data.interactions import Interactions
from mfrec.evaluation.franchise import franchise_check, franchise_groups, franchise_keys
from mfrec.evaluation.similar_items import cosine_neighbours, obscure_share, similar_items_quality
from mfrec.similarity import ItemSimilarity, whitened_unit_vectors
from mfrec.testing import planted_data


# ---------------------------------------------------------------- franchise rule
@pytest.mark.parametrize("a, b", [
    ("Star Wars: Episode IV - A New Hope (1977)", "Star Wars: Episode VI - Return of the Jedi (1983)"),
    ("Godfather, The (1972)", "Godfather: Part II, The (1974)"),
    ("Toy Story (1995)", "Toy Story 2 (1999)"),
    ("Naked Gun: From the Files of Police Squad!, The (1988)", "Naked Gun 2 1/2: The Smell of Fear, The (1991)"),
    ("Frankenstein (1931)", "Bride of Frankenstein (1935)"),
    ("Rocky (1976)", "Rocky V (1990)"),
    ("Wayne's World (1992)", "Wayne's World 2 (1993)"),
])
def test_franchise_rule_links_sequels(a, b):
    assert set(franchise_keys(a)) & set(franchise_keys(b))
    assert franchise_groups([a, "Unrelated Film (1990)", b]) == [[0, 2]]


def test_subtitle_links_only_titles_whose_own_stem_links_nothing():
    titles = ["Jurassic Park (1993)", "Lost World: Jurassic Park, The (1997)", "Heat (1995)"]
    assert franchise_groups(titles) == [[0, 1]]
    # a title whose own stem already links keeps only that link
    titles = ["Jurassic Park (1993)", "Lost World: Jurassic Park, The (1997)", "Lost World, The (1925)",
              "Lost World 2 (1999)"]
    assert franchise_groups(titles) == [[1, 2, 3]]


def test_same_title_remakes_and_one_word_subtitles_are_not_franchises():
    assert franchise_groups(["Hamlet (1948)", "Hamlet (1990)", "Hamlet (1996)"]) == []
    assert franchise_groups(["Alien (1979)", "Heat (1995)"]) == []
    assert franchise_keys("2 (1999)") == []          # a bare number is no stem


# ---------------------------------------------------------------- measures on known neighbours
def catalogue(titles, counts):
    """Implicit interactions where item i has counts[i] distinct users, with titles."""
    users, items = [], []
    for i, c in enumerate(counts):
        users += list(range(c)),
        items += [i] * c
    users = [u for block in users for u in block]
    meta = pd.DataFrame({"title": titles}, index=pd.Index(range(len(titles)), name="item"))
    return Interactions.from_arrays(users, items, item_metadata=meta)


class FixedNeighbours:
    """A stand-in model whose neighbour lists are given."""
    def __init__(self, interactions, lists):
        self.interactions_ = interactions
        self.lists = lists

    def __call__(self, index, k):
        return np.array([(self.lists[int(i)] + [-1] * k)[:k] for i in index])


def test_franchise_hit_rate_and_recall_by_hand():
    titles = ["Toy Story (1995)", "Toy Story 2 (1999)", "Rocky (1976)", "Rocky II (1979)", "Rocky III (1982)",
              "Heat (1995)"]
    inter = catalogue(titles, [30] * 6)
    # item index -> its neighbours (item indices); index follows first appearance = position here
    idx = {t: inter.item_ids.index(i) for i, t in enumerate(titles)}
    lists = {idx[titles[0]]: [idx[titles[1]]], idx[titles[1]]: [idx[titles[5]]],
             idx[titles[2]]: [idx[titles[3]], idx[titles[4]]], idx[titles[3]]: [idx[titles[5]], idx[titles[2]]],
             idx[titles[4]]: [idx[titles[5]]], idx[titles[5]]: []}
    fake = FixedNeighbours(inter, lists)
    result = franchise_check(fake, k=2, min_count=20, neighbours=fake)
    assert result["groups"] == 2 and result["pairs"] == 1 + 3 and result["queries"] == 5
    # hits: toy1 yes, toy2 no, rocky yes (2/2), rocky2 yes (1/2), rocky3 no
    assert result["franchise_hit_rate@2"] == pytest.approx(3 / 5)
    assert result["franchise_recall@2"] == pytest.approx((1 + 0 + 1 + 0.5 + 0) / 5)
    # items under min_count are neither queries nor companions
    assert franchise_check(fake, k=2, min_count=31, neighbours=fake) is None


def test_obscure_share_by_hand():
    titles = [f"Film {c}" for c in "abcde"]
    inter = catalogue(titles, [60, 60, 5, 50, 19])
    i = [inter.item_ids.index(p) for p in range(5)]
    fake = FixedNeighbours(inter, {i[0]: [i[2], i[1]], i[1]: [i[2], i[4]], i[3]: [i[0], i[1]]})
    # queries: items with >= 50 (0, 1, 3); rare: < 20 (items 2 and 4)
    result = obscure_share(fake, k=2, neighbours=fake)
    assert result["obscure@2"] == pytest.approx((0.5 + 1.0 + 0.0) / 3) and result["items"] == 3


# ---------------------------------------------------------------- the default similarity
def test_whitened_cosine_is_the_normalized_mahalanobis_product():
    rng = np.random.default_rng(0)
    factors = rng.normal(size=(400, 5)) * np.array([5.0, 2.0, 1.0, 0.5, 0.1])
    unit = whitened_unit_vectors(factors, ridge=0.3)
    n, k = factors.shape
    cov = factors.T @ factors / n
    W = np.linalg.inv(cov + (0.3 + k / n) * np.trace(cov) / k * np.eye(k))
    raw = factors @ W @ factors.T
    d = np.sqrt(np.diag(raw))
    np.testing.assert_allclose(unit @ unit.T, raw / np.outer(d, d), atol=1e-5)
    # whitening evens out the directions: the condition number of the covariance drops >= 10x
    z = factors @ np.linalg.cholesky(W)

    def condition(m):
        return np.linalg.cond(m.T @ m / n)
    assert condition(z) < condition(factors) / 10


def test_co_support_and_shrinkage():
    train = sp.csr_matrix(np.array([[1, 1, 0, 1], [1, 1, 0, 0], [0, 1, 1, 0]], dtype=np.float32))
    factors = np.random.default_rng(1).normal(size=(4, 3))
    sim = ItemSimilarity(factors, train, beta=2.0)
    dense = train.toarray()
    np.testing.assert_array_equal(sim.co_support(np.arange(4)), dense.T @ dense)
    c = dense.T @ dense
    expected = (sim.unit @ sim.unit.T) * (c + 1) / (c + 3)
    np.testing.assert_allclose(sim.scores(np.arange(4)), expected, rtol=1e-5)


def test_a_rarely_seen_lookalike_loses_to_a_well_supported_neighbour():
    """Item 2 points exactly like item 0 but shares no user with it; item 1 points a little
    away and shares 30 users: the default similarity prefers 1, plain cosine prefers 2."""
    rows, cols = [], []
    for u in range(30):
        rows += [u, u]
        cols += [0, 1]
    rows.append(30)
    cols.append(2)
    for u in range(31, 60):
        rows.append(u)
        cols.append(3 + u % 5)
    train = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(60, 8))
    rng = np.random.default_rng(2)
    factors = rng.normal(size=(8, 4))
    factors[1] = factors[0] + 0.3 * rng.normal(size=4)
    factors[2] = 2 * factors[0]
    idx, _ = ItemSimilarity(factors, train).top(np.array([0]), 1)
    assert idx[0, 0] == 1
    assert cosine_neighbours(factors)(np.array([0]), 1)[0, 0] == 2


@pytest.fixture(scope="module")
def fitted_als():
    return mfrec.ALS(factors=4, iterations=5, seed=0).fit(planted_data(explicit=False))


def test_similar_items_default_and_cosine_options(fitted_als):
    model = fitted_als
    query = model.item_ids_.index(101)
    ids, scores = model.similar_items(101, n=5)
    idx, expected = model._item_similarity().top(np.array([query]), 5)
    np.testing.assert_array_equal(ids, model.item_ids_.to_raw(idx[0]))
    np.testing.assert_allclose(scores, expected[0])
    cos_ids, cos_scores = model.similar_items(101, n=5, similarity="cosine")
    unit = model.item_factors_ / np.linalg.norm(model.item_factors_, axis=1, keepdims=True)
    plain = unit @ unit[query]
    plain[query] = -np.inf
    np.testing.assert_allclose(cos_scores, np.sort(plain)[::-1][:5], rtol=1e-5)
    with pytest.raises(ValueError, match="similarity"):
        model.similar_items(101, similarity="dot")
    # min_interactions applies to the default similarity too
    counts = model.interactions_.item_counts()
    ids, _ = model.similar_items(101, n=20, min_interactions=int(np.median(counts)) + 1)
    assert all(counts[model.item_ids_.index(i)] > np.median(counts) for i in ids.tolist())


def test_similarity_cache_follows_refits(fitted_als):
    model = mfrec.ALS(factors=4, iterations=3, seed=0).fit(planted_data(explicit=False))
    first = model._item_similarity()
    assert model._item_similarity() is first
    model.fit(planted_data(explicit=False, seed=1))
    assert model._item_similarity() is not first


def test_similar_items_quality_reports_every_measure(data_dir, data_file):
    from mfrec.datasets import load_movielens
    data_file("ml-100k/u.data")
    data = load_movielens("100k", data_dir, download=False).to_implicit(threshold=4)
    model = mfrec.ALS(factors=16, iterations=5, seed=0).fit(data)
    quality = similar_items_quality(model, k=10)
    assert {"coherence@10", "franchise_hit_rate@10", "franchise_recall@10", "obscure@10"} <= set(quality)
    assert quality["franchise_groups"] >= 5
    assert 0 < quality["franchise_hit_rate@10"] <= 1 and 0 <= quality["obscure@10"] <= 1
    assert quality["coherence@10"] > quality["coherence_chance"]

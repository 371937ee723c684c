"""Conformance suite that every mfrec model passes (as LensKit's ``lenskit.testing``).

Use it from a test module in a few lines::

    from mfrec.testing import ConformanceTests

    class TestALSConformance(ConformanceTests):
        def make_model(self):
            return ALS(factors=8, iterations=10, seed=1, threads=1)

The suite checks the shared contract on a small planted data set: two blocks of users who like
two disjoint blocks of items. It needs pytest (a test extra), imported lazily.
"""
from __future__ import annotations

import numpy as np

from .data.interactions import Interactions
from .errors import DataError, ModelFileError, NotFittedError, UnknownIdError
from .models.base import Recommender, StopTraining

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
            users.append(f"u{u}"), items.append(100 + int(i)), ratings.append(float(rng.choice([4, 5])))
        for i in disliked:
            users.append(f"u{u}"), items.append(100 + int(i)), ratings.append(1.0)
    inter = Interactions.from_arrays(users, items, ratings, rating_scale=(1, 5))
    return inter if explicit else inter.to_implicit(threshold=4)


class ConformanceTests:
    """Mixin of pytest tests for one model class; subclasses define make_model()."""

    #: False for baselines whose similar items are not similarity (popularity)
    similarity_is_meaningful = True
    #: False for baselines that cannot learn the planted blocks (popularity)
    learns_preferences = True

    def make_model(self) -> Recommender:
        raise NotImplementedError

    # ---------------------------------------------------------------- helpers
    def data(self, model=None):
        model = model or self.make_model()
        return planted_data(explicit=model.feedback == "explicit")

    def fitted(self):
        model = self.make_model()
        return model.fit(self.data(model)), self.data(model)

    # ---------------------------------------------------------------- parameters
    def test_params_round_trip(self):
        model = self.make_model()
        params = model.get_params()
        clone = type(model)(**params)
        assert clone.get_params() == params
        assert repr(clone).startswith(type(model).__name__ + "(")

    def test_unknown_parameter_rejected(self):
        import pytest
        with pytest.raises(ValueError, match="no parameter"):
            self.make_model().set_params(no_such_parameter=1)

    # ---------------------------------------------------------------- fitting
    def test_fit_sets_fitted_state(self):
        model, data = self.fitted()
        assert model.user_factors_.shape[0] == data.n_users
        assert model.item_factors_.shape[0] == data.n_items
        assert model.user_factors_.dtype == np.float32 and model.item_factors_.dtype == np.float32
        assert model.user_factors_.shape[1] == model.item_factors_.shape[1]
        assert np.isfinite(model.user_factors_).all() and np.isfinite(model.item_factors_).all()
        assert len(model.loss_history_) >= 1
        assert [h["epoch"] for h in model.loss_history_] == list(range(1, len(model.loss_history_) + 1))

    def test_callback_sees_every_epoch(self):
        model = self.make_model()
        seen = []
        model.fit(self.data(model), callback=lambda epoch, metrics: seen.append((epoch, metrics)))
        assert [e for e, _ in seen] == [h["epoch"] for h in model.loss_history_]
        for (_, metrics), hist in zip(seen, model.loss_history_):
            assert all(isinstance(v, float) for v in metrics.values())
            assert {"epoch": hist["epoch"], **metrics} == hist

    def test_callback_can_stop_training(self):
        model = self.make_model()
        if (model.n_epochs() or 1) < 2:
            return
        def stop(epoch, metrics):
            raise StopTraining
        model.fit(self.data(model), callback=stop)
        assert len(model.loss_history_) == 1
        assert model.is_fitted

    def test_refit_resets_state(self):
        model = self.make_model()
        full = self.data(model)
        model.fit(full)
        small = full.select(np.isin(full.to_coo()[0], np.arange(10))).compact()
        model.fit(small)
        assert model.user_factors_.shape[0] == small.n_users == 10
        assert model.item_factors_.shape[0] == small.n_items

    def test_wrong_input_is_rejected(self):
        import pytest
        model = self.make_model()
        with pytest.raises(DataError):
            model.fit("not interactions")
        other = planted_data(explicit=model.feedback != "explicit")
        if model.feedback in ("explicit", "implicit"):
            with pytest.raises(DataError):
                model.fit(other)

    def test_not_fitted_errors(self):
        import pytest
        with pytest.raises(NotFittedError):
            self.make_model().recommend("u0")

    # ---------------------------------------------------------------- recommend
    def test_recommend_single_user(self):
        model, data = self.fitted()
        ids, scores = model.recommend(PROBE_USER, n=5)
        assert len(ids) == len(scores) == 5
        assert np.all(np.diff(scores) <= 0), "scores must be sorted best first"
        seen = set(data.item_ids.to_raw(data.user_items(data.user_ids.index(PROBE_USER))).tolist())
        assert not seen & set(ids.tolist()), "seen items must be excluded by default"
        if self.learns_preferences:
            assert ids[0] == WITHHELD_ITEM, f"withheld block item should come first, got {ids}"

    def test_recommend_batch_matches_single(self):
        model, _ = self.fitted()
        users = ["u0", "u31", "u7"]
        batch = model.recommend(users, n=4)
        assert len(batch) == 3
        for user, (ids, scores) in zip(users, batch):
            single_ids, single_scores = model.recommend(user, n=4)
            np.testing.assert_array_equal(ids, single_ids)
            np.testing.assert_allclose(scores, single_scores, rtol=1e-5, atol=1e-6)

    def test_recommend_scores_equal_predict(self):
        model, _ = self.fitted()
        ids, scores = model.recommend("u3", n=6, exclude_seen=False)
        if not getattr(model, "clips_predictions", False):
            np.testing.assert_allclose(model.predict(["u3"] * len(ids), ids), scores, rtol=1e-4, atol=1e-5)
        assert isinstance(model.predict("u3", int(ids[0])), float)

    def test_recommend_filters(self):
        model, data = self.fitted()
        ids, _ = model.recommend("u40", n=30, exclude_seen=False)
        assert len(ids) == data.n_items, "n larger than the catalogue is clipped"
        ids, _ = model.recommend("u40", n=3, items=[100, 101, 102, 120])
        assert set(ids.tolist()) <= {100, 101, 102, 120}
        ids, _ = model.recommend("u40", n=30, exclude=[100, 101], exclude_seen=False)
        assert not {100, 101} & set(ids.tolist())

    def test_bad_queries_raise_clear_errors(self):
        import pytest
        model, _ = self.fitted()
        for bad_n in (0, -1, 2.5):
            with pytest.raises(ValueError, match="n must be"):
                model.recommend("u0", n=bad_n)
        with pytest.raises(UnknownIdError, match="nobody"):
            model.recommend("nobody")
        with pytest.raises(KeyError):
            model.similar_items(99999)
        with pytest.raises(UnknownIdError, match="99999"):
            model.predict("u0", 99999)

    # ---------------------------------------------------------------- similarity
    def test_similar_items(self):
        model, _ = self.fitted()
        ids, scores = model.similar_items(101, n=5)
        assert 101 not in ids.tolist(), "the query item is not its own neighbour"
        assert np.all(np.diff(scores) <= 1e-6)
        if self.similarity_is_meaningful:
            assert all(100 <= i < 112 for i in ids.tolist()), f"block-A neighbours expected, got {ids}"
        batch = model.similar_items([101, 115], n=3)
        np.testing.assert_array_equal(batch[0][0], model.similar_items(101, n=3)[0])
        # neighbours restricted to items with enough training interactions
        counts = model.interactions_.item_counts()
        threshold = int(np.median(counts)) + 1
        ids, _ = model.similar_items(101, n=30, min_interactions=threshold)
        assert len(ids) > 0 and all(counts[model.item_ids_.index(i)] >= threshold for i in ids.tolist())

    def test_similar_users(self):
        model, _ = self.fitted()
        ids, _ = model.similar_users("u35", n=5)
        assert "u35" not in ids.tolist()
        if self.similarity_is_meaningful:
            assert all(int(u[1:]) >= N_USERS_PER_BLOCK for u in ids.tolist()), f"block-B users expected, got {ids}"

    # ---------------------------------------------------------------- fold-in
    def test_fold_in_new_user(self):
        model, _ = self.fitted()
        block_a = [100, 101, 102, 103, 104, 106, 107, 108]
        values = [5.0] * len(block_a) if model.feedback == "explicit" else None
        ids, scores = model.recommend_new_user(block_a, values, n=3)
        assert not set(block_a) & set(ids.tolist())
        assert np.isfinite(scores).all()
        if self.learns_preferences:
            assert all(100 <= i < 112 for i in ids.tolist()), f"block-A items expected, got {ids}"

    # ---------------------------------------------------------------- persistence
    def test_save_load_round_trip(self, tmp_path):
        model, _ = self.fitted()
        path = model.save(tmp_path / "model.npz")
        loaded = type(model).load(path)
        assert type(loaded) is type(model)
        assert loaded.get_params() == model.get_params()
        for user in ("u0", "u45"):
            a, b = model.recommend(user, n=5), loaded.recommend(user, n=5)
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_allclose(a[1], b[1], rtol=1e-6)
        np.testing.assert_array_equal(model.similar_items(101)[0], loaded.similar_items(101)[0])
        assert loaded.loss_history_ == model.loss_history_
        generic = Recommender.load(path)
        assert type(generic) is type(model)

    def test_load_rejects_bad_files(self, tmp_path):
        import pytest
        model, _ = self.fitted()
        path = model.save(tmp_path / "model.npz")
        with pytest.raises(ModelFileError, match="holds a"):
            _OtherModel.load(path)
        truncated = tmp_path / "truncated.npz"
        truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        with pytest.raises(ModelFileError):
            type(model).load(truncated)
        foreign = tmp_path / "foreign.npz"
        np.savez(foreign, weights=np.ones(3))
        with pytest.raises(ModelFileError, match="not an mfrec model"):
            type(model).load(foreign)
        text = tmp_path / "text.npz"
        text.write_text("hello")
        with pytest.raises(ModelFileError):
            type(model).load(text)
        with pytest.raises(ModelFileError, match="does not exist"):
            type(model).load(tmp_path / "missing.npz")

    # ---------------------------------------------------------------- reproducibility
    def test_seeded_single_thread_is_reproducible(self):
        model = self.make_model()
        params = model.get_params()
        if "seed" not in params:
            return
        if "threads" in params:
            model.set_params(threads=1)
        model.set_params(seed=7)
        data = self.data(model)
        first = type(model)(**model.get_params()).fit(data)
        second = type(model)(**model.get_params()).fit(data)
        np.testing.assert_array_equal(first.item_factors_, second.item_factors_)
        np.testing.assert_array_equal(first.user_factors_, second.user_factors_)


class _OtherModel(Recommender):
    """A model class that no real file holds, to check that load() refuses a foreign class."""

    name = "conformance-other"


def chromium_for_tests() -> str:
    """The system Chromium's path for browser tests: the test is skipped when none is installed,
    and fails instead when ``MFREC_REQUIRE_BROWSER`` is set (as CI does)."""
    import os
    import shutil

    import pytest
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None and os.environ.get("MFREC_REQUIRE_BROWSER"):
        pytest.fail("Chromium is required (MFREC_REQUIRE_BROWSER is set) but not installed")
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return path

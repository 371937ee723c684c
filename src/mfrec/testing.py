"""Conformance suite that every mfrec model passes (as LensKit's ``lenskit.testing``).

Use it from a test module in a few lines::

    from mfrec.testing import ConformanceTests

    class TestALSConformance(ConformanceTests):
        expected_ndcg = 0.6
        def make_model(self):
            return ALS(factors=8, iterations=10, seed=1, threads=1)

The suite checks the shared contract on a small planted data set: two blocks of users who like
two disjoint blocks of items. The model is fitted once per class (a class-scoped fixture); a test
of a feature the model lacks (no seed, no presets, no divergence) is skipped with the reason.
Per-model expectations are class attributes: the quality bar (``expected_ndcg``), the invalid
hyperparameter values, the change of each hyperparameter that must change the fit, the settings
that make a fit diverge, a preset override. It needs pytest (a test extra).
"""
from __future__ import annotations

import sys
from typing import Any, Optional, Sequence

import numpy as np
import pytest

from .data.interactions import Interactions
from .data.split import per_user_split
from .errors import DataError, ModelFileError, NotFittedError, TrainingDivergedError, UnknownIdError
from .data.planted import N_ITEMS_PER_BLOCK, N_USERS_PER_BLOCK, PROBE_USER, WITHHELD_ITEM, planted_data
from .models.base import Recommender, StopTraining

__all__ = ["ConformanceTests", "N_ITEMS_PER_BLOCK", "N_USERS_PER_BLOCK", "PROBE_USER", "WITHHELD_ITEM",
           "planted_data"]


def _fitted_arrays(model) -> dict[str, np.ndarray]:
    """Return the fitted state of a model: its public array attributes ending in ``_``."""
    return {k: v for k, v in sorted(vars(model).items())
            if k.endswith("_") and not k.startswith("_") and isinstance(v, np.ndarray)}


class ConformanceTests:
    """Mixin of pytest tests for one model class; subclasses define make_model()."""

    #: False for baselines whose similar items are not similarity (popularity)
    similarity_is_meaningful = True
    #: False for baselines that cannot learn the planted blocks (popularity)
    learns_preferences = True
    #: NDCG@10 that make_model() must reach on a per-user held-out quarter of the planted data
    #: (the liked items); None: no quality bar (the test is skipped)
    expected_ndcg: Optional[float] = None
    #: (parameter, value) pairs that fit() must refuse with a ValueError naming the parameter
    invalid_params: Sequence[tuple[str, Any]] = ()
    #: "every hyperparameter changes the result" (Surprise's trick): fits of ``sensitivity_base``
    #: with each parameter's change (merged into the base) must differ from the base fit, which
    #: ``sensitivity_baselines`` may adjust per parameter (a change only visible in a mode)
    sensitivity_base: dict[str, Any] = {}
    sensitivity_changes: dict[str, dict[str, Any]] = {}
    sensitivity_baselines: dict[str, dict[str, Any]] = {}
    #: the parameters not in sensitivity_changes, each with the reason
    params_without_effect: dict[str, str] = {}
    #: a fit of ``divergence_base`` converges; with ``divergence_change`` it diverges and raises a
    #: TrainingDivergedError matching ``divergence_message``. None: the model cannot diverge
    divergence_base: Optional[dict[str, Any]] = None
    divergence_change: dict[str, Any] = {}
    divergence_message: str = "diverged"
    #: why a model without ``divergence_base`` cannot diverge (the skip reason)
    no_divergence_reason: str = "declares no diverging configuration"
    #: presets the model must have, and an override checked on each of them
    required_presets: Sequence[str] = ("ml-1m",)
    preset_override: dict[str, Any] = {"seed": 3}
    #: the name of another conformance class of the same model class (another make_model()):
    #: the tests that do not use make_model()'s settings (parameters, presets, sensitivity,
    #: divergence) run there only, and are skipped here
    variant_of: Optional[str] = None

    def make_model(self) -> Recommender:
        raise NotImplementedError

    # ---------------------------------------------------------------- data and fits
    def model_class(self) -> type[Recommender]:
        return type(self.make_model())

    def data(self, model=None) -> Interactions:
        model = model or self.make_model()
        return planted_data(explicit=model.feedback == "explicit")

    def sensitivity_data(self) -> tuple[Interactions, dict[str, Any]]:
        """(training data, fit() keyword arguments) of the sensitivity fits; planted data by default."""
        return self.data(), {}

    def divergence_data(self) -> Interactions:
        return self.sensitivity_data()[0]

    def sensitivity_outcome(self, model, data) -> Sequence[np.ndarray]:
        """Return what must change when a hyperparameter changes: the factors, by default."""
        return [model.user_factors_, model.item_factors_]

    def outcomes_differ(self, a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> bool:
        return any(x.shape != y.shape or not np.array_equal(x, y) for x, y in zip(a, b))

    @pytest.fixture(scope="class")
    @classmethod
    def fitted_model(cls) -> tuple[Recommender, Interactions]:
        """Fit make_model() once per class on the planted data; the fixture is (model, data)."""
        suite = cls()
        model = suite.make_model()
        data = suite.data(model)
        return model.fit(data), data

    @pytest.fixture(scope="class")
    @classmethod
    def sensitivity_fits(cls) -> dict[str, Any]:
        """Return the sensitivity data and a cache of outcomes by parameters (the base is fitted once)."""
        return {"data": cls().sensitivity_data(), "outcomes": {}}

    def _skip_if_variant(self):
        if self.variant_of:
            pytest.skip(f"a model-level test: run by {self.variant_of}, of the same model class")

    def pytest_generate_tests(self, metafunc) -> None:
        """One test per invalid value and per hyperparameter, from the class attributes."""
        name = type(self.make_model()).__name__

        def parametrize(argname, cases, empty_reason):
            if self.variant_of:
                cases, empty_reason = [], f"a model-level test: run by {self.variant_of}, of the same model class"
            metafunc.parametrize(argname, cases or [pytest.param(None, marks=pytest.mark.skip(reason=empty_reason))])
        if "invalid_param" in metafunc.fixturenames:
            parametrize("invalid_param", [pytest.param(case, id=f"{case[0]}={case[1]!r}")
                                          for case in self.invalid_params], f"{name} declares no invalid_params")
        if "sensitive_param" in metafunc.fixturenames:
            parametrize("sensitive_param", sorted(self.sensitivity_changes),
                        f"{name} has no hyperparameter that changes the fit")

    # ---------------------------------------------------------------- parameters
    def test_params_round_trip(self) -> None:
        model = self.make_model()
        params = model.get_params()
        clone = type(model)(**params)
        assert clone.get_params() == params
        assert repr(clone).startswith(type(model).__name__ + "(")

    def test_unknown_parameter_rejected(self) -> None:
        with pytest.raises(ValueError, match="no parameter"):
            self.make_model().set_params(no_such_parameter=1)

    def test_invalid_parameter_is_refused_by_name(self, invalid_param) -> None:
        name, value = invalid_param
        model = self.make_model()
        with pytest.raises(ValueError, match=name):
            type(model)(**{name: value}).fit(self.data(model))

    def test_every_hyperparameter_is_covered(self) -> None:
        self._skip_if_variant()
        tested = set(self.sensitivity_changes) | set(self.params_without_effect)
        assert tested == set(self.model_class()().get_params()), "a parameter is missing from sensitivity_changes"

    def test_every_hyperparameter_changes_the_result(self, sensitive_param, sensitivity_fits) -> None:
        base = {**self.sensitivity_base, **self.sensitivity_baselines.get(sensitive_param, {})}
        changed = {**base, **self.sensitivity_changes[sensitive_param]}
        assert changed != base, f"the change of {sensitive_param} is no change"
        before, after = self._sensitivity_outcome(sensitivity_fits, base), self._sensitivity_outcome(sensitivity_fits,
                                                                                                      changed)
        assert self.outcomes_differ(before, after), f"changing {sensitive_param} did not change the model"

    def _sensitivity_outcome(self, cache, params):
        key = repr(sorted(params.items()))
        if key not in cache["outcomes"]:
            train, fit_kwargs = cache["data"]
            model = self.model_class()(**params).fit(train, **fit_kwargs)
            cache["outcomes"][key] = [np.array(a, copy=True) for a in self.sensitivity_outcome(model, cache["data"])]
        return cache["outcomes"][key]

    def test_presets(self) -> None:
        self._skip_if_variant()
        cls = self.model_class()
        presets = cls.PRESETS
        if not presets:
            pytest.skip(f"{cls.__name__} has no presets")
        module_presets = getattr(sys.modules[cls.__module__], "PRESETS", None)
        if module_presets is not None:
            assert cls.PRESETS is module_presets
        assert set(self.required_presets) <= set(presets)
        defaults = cls().get_params()
        for name, params in presets.items():
            model = cls.preset(name)
            got = model.get_params()
            assert {k: got[k] for k in params} == params, name
            assert {k: v for k, v in got.items() if k not in params} == \
                {k: v for k, v in defaults.items() if k not in params}, f"{name}: the rest are the defaults"
            assert cls.from_preset(name).get_params() == got == cls(**params).get_params()
            assert cls.preset(name, **self.preset_override).get_params() == {**got, **self.preset_override}
            model.check_params()  # every preset is a valid configuration
        with pytest.raises(ValueError, match="preset"):
            cls.preset("no-such-preset")

    # ---------------------------------------------------------------- fitting
    def test_fit_sets_fitted_state(self, fitted_model) -> None:
        model, data = fitted_model
        assert model.user_factors_.shape[0] == data.n_users
        assert model.item_factors_.shape[0] == data.n_items
        assert model.user_factors_.dtype == np.float32 and model.item_factors_.dtype == np.float32
        assert model.user_factors_.shape[1] == model.item_factors_.shape[1]
        assert np.isfinite(model.user_factors_).all() and np.isfinite(model.item_factors_).all()
        assert len(model.loss_history_) >= 1
        assert [h["epoch"] for h in model.loss_history_] == list(range(1, len(model.loss_history_) + 1))

    def test_reaches_the_expected_ndcg(self) -> None:
        from .evaluation.evaluate import evaluate_ranking
        if self.expected_ndcg is None:
            pytest.skip(f"{self.model_class().__name__} declares no expected_ndcg")
        model = self.make_model()
        train, test = per_user_split(self.data(model), test_fraction=0.25, seed=0)
        liked = test.to_implicit(threshold=4) if test.is_explicit else test
        ndcg = evaluate_ranking(model.fit(train), liked, k=10)["ndcg@10"]
        assert ndcg >= self.expected_ndcg, f"NDCG@10 {ndcg:.4f} is below the expected {self.expected_ndcg}"

    def test_callback_sees_every_epoch(self) -> None:
        model = self.make_model()
        seen = []
        model.fit(self.data(model), callback=lambda epoch, metrics: seen.append((epoch, metrics)))
        assert [e for e, _ in seen] == [h["epoch"] for h in model.loss_history_]
        for (_, metrics), hist in zip(seen, model.loss_history_):
            assert all(isinstance(v, float) for v in metrics.values())
            assert {"epoch": hist["epoch"], **metrics} == hist

    def test_callback_can_stop_training(self) -> None:
        model = self.make_model()
        if (model.n_epochs() or 1) < 2:
            pytest.skip(f"{type(model).__name__} trains in a single pass: nothing to stop")

        def stop(epoch, metrics):
            raise StopTraining
        model.fit(self.data(model), callback=stop)
        assert len(model.loss_history_) == 1
        assert model.is_fitted

    def test_refit_resets_state(self) -> None:
        model = self.make_model()
        full = self.data(model)
        model.fit(full)
        small = full.select(np.isin(full.to_coo()[0], np.arange(10))).compact()
        model.fit(small)
        assert model.user_factors_.shape[0] == small.n_users == 10
        assert model.item_factors_.shape[0] == small.n_items

    def test_wrong_input_is_rejected(self) -> None:
        model = self.make_model()
        with pytest.raises(DataError):
            model.fit("not interactions")  # type: ignore[arg-type]  # the wrong input under test
        other = planted_data(explicit=model.feedback != "explicit")
        if model.feedback in ("explicit", "implicit"):
            with pytest.raises(DataError):
                model.fit(other)

    def test_not_fitted_errors(self) -> None:
        with pytest.raises(NotFittedError):
            self.make_model().recommend("u0")

    def test_divergence_is_an_error_and_keeps_the_previous_fit(self) -> None:
        self._skip_if_variant()
        cls = self.model_class()
        if self.divergence_base is None:
            pytest.skip(f"{cls.__name__}: {self.no_divergence_reason}")
        train = self.divergence_data()
        user, item = train.user_ids.raw[0], train.item_ids.raw[0]
        fresh = cls(**{**self.divergence_base, **self.divergence_change})
        with pytest.raises(TrainingDivergedError, match=self.divergence_message):
            fresh.fit(train)
        assert not fresh.is_fitted
        assert not hasattr(fresh, "user_factors_") and not hasattr(fresh, "item_factors_")
        with pytest.raises(NotFittedError):
            fresh.predict(user, item)
        # a diverged refit keeps the previous fit (issue 12: a failed fit changes nothing)
        model = cls(**self.divergence_base).fit(train)
        factors, prediction = model.user_factors_.copy(), model.predict(user, item)
        model.set_params(**self.divergence_change)
        with pytest.raises(TrainingDivergedError, match=self.divergence_message):
            model.fit(train)
        assert model.is_fitted and np.array_equal(model.user_factors_, factors)
        assert model.predict(user, item) == prediction

    # ---------------------------------------------------------------- recommend
    def test_recommend_single_user(self, fitted_model) -> None:
        model, data = fitted_model
        ids, scores = model.recommend(PROBE_USER, n=5)
        assert len(ids) == len(scores) == 5
        assert np.all(np.diff(scores) <= 0), "scores must be sorted best first"
        seen = set(data.item_ids.to_raw(data.user_items(data.user_ids.index(PROBE_USER))).tolist())
        assert not seen & set(ids.tolist()), "seen items must be excluded by default"
        if self.learns_preferences:
            assert ids[0] == WITHHELD_ITEM, f"withheld block item should come first, got {ids}"

    def test_recommend_batch_matches_single(self, fitted_model) -> None:
        model, _ = fitted_model
        users = ["u0", "u31", "u7"]
        batch = model.recommend(users, n=4)
        assert len(batch) == 3
        for user, (ids, scores) in zip(users, batch):
            single_ids, single_scores = model.recommend(user, n=4)
            np.testing.assert_array_equal(ids, single_ids)
            np.testing.assert_allclose(scores, single_scores, rtol=1e-5, atol=1e-6)

    def test_recommend_arrays_match_the_lists(self, fitted_model) -> None:
        """Check that recommend_arrays equals the per-user lists, and pads.

        80 queries (the fused batch path: the planted users, then 20 again); padding where a
        filter leaves fewer than n candidates.
        """
        model, data = fitted_model
        users = data.user_ids.raw.tolist()
        users = (users + users[:20])[:80]
        item_ids, scores = model.recommend_arrays(users, n=4)
        assert item_ids.shape == scores.shape == (80, 4) and scores.dtype == np.float32
        for user, ids_row, scores_row in zip(users, item_ids, scores):
            single_ids, single_scores = model.recommend(user, n=4)
            np.testing.assert_array_equal(ids_row, single_ids)
            np.testing.assert_allclose(scores_row, single_scores, rtol=1e-5, atol=1e-6)
        item_ids, scores = model.recommend_arrays(users[:2], n=5, items=[100, 101, 102], exclude_seen=False)
        assert item_ids.shape == (2, 5)
        assert np.isfinite(scores[:, :3]).all() and np.isneginf(scores[:, 3:]).all()
        assert set(item_ids[:, :3].ravel().tolist()) <= {100, 101, 102} and (item_ids[:, 3:] == -1).all()

    def test_recommend_scores_equal_predict(self, fitted_model) -> None:
        model, _ = fitted_model
        ids, scores = model.recommend("u3", n=6, exclude_seen=False)
        if not getattr(model, "clips_predictions", False):
            np.testing.assert_allclose(model.predict(["u3"] * len(ids), ids), scores, rtol=1e-4, atol=1e-5)
        assert isinstance(model.predict("u3", int(ids[0])), float)

    def test_recommend_filters(self, fitted_model) -> None:
        model, data = fitted_model
        ids, _ = model.recommend("u40", n=30, exclude_seen=False)
        assert len(ids) == data.n_items, "n larger than the catalogue is clipped"
        ids, _ = model.recommend("u40", n=3, items=[100, 101, 102, 120])
        assert set(ids.tolist()) <= {100, 101, 102, 120}
        ids, _ = model.recommend("u40", n=30, exclude=[100, 101], exclude_seen=False)
        assert not {100, 101} & set(ids.tolist())

    def test_bad_queries_raise_clear_errors(self, fitted_model) -> None:
        model, _ = fitted_model
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
    def test_similar_items(self, fitted_model) -> None:
        model, _ = fitted_model
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

    def test_similar_users(self, fitted_model) -> None:
        model, _ = fitted_model
        ids, _ = model.similar_users("u35", n=5)
        assert "u35" not in ids.tolist()
        if self.similarity_is_meaningful:
            assert all(int(u[1:]) >= N_USERS_PER_BLOCK for u in ids.tolist()), f"block-B users expected, got {ids}"

    # ---------------------------------------------------------------- fold-in
    def test_fold_in_new_user(self, fitted_model) -> None:
        model, _ = fitted_model
        block_a = [100, 101, 102, 103, 104, 106, 107, 108]
        values = [5.0] * len(block_a) if model.feedback == "explicit" else None
        ids, scores = model.recommend_new_user(block_a, values, n=3)
        assert not set(block_a) & set(ids.tolist())
        assert np.isfinite(scores).all()
        if self.learns_preferences:
            assert all(100 <= i < 112 for i in ids.tolist()), f"block-A items expected, got {ids}"

    # ---------------------------------------------------------------- persistence
    def test_save_load_round_trip(self, fitted_model, tmp_path) -> None:
        model, _ = fitted_model
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

    def test_load_rejects_bad_files(self, fitted_model, tmp_path) -> None:
        model, _ = fitted_model
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
    def test_seeded_single_thread_is_reproducible(self) -> None:
        """Check that fits are reproducible with a seed.

        Two single-thread fits with one seed are equal in every fitted array and the loss
        history; another seed gives another model.
        """
        model = self.make_model()
        params = model.get_params()
        if "seed" not in params:
            pytest.skip(f"{type(model).__name__} has no seed: nothing random to reproduce")
        if "threads" in params:
            model.set_params(threads=1)
        model.set_params(seed=7)
        data = self.data(model)
        first = type(model)(**model.get_params()).fit(data)
        second = type(model)(**model.get_params()).fit(data)
        arrays = _fitted_arrays(first)
        assert {"user_factors_", "item_factors_"} <= set(arrays) and set(arrays) == set(_fitted_arrays(second))
        for name, value in arrays.items():
            np.testing.assert_array_equal(value, getattr(second, name), err_msg=name)
        assert first.loss_history_ == second.loss_history_
        other = type(model)(**{**model.get_params(), "seed": 8}).fit(data)
        assert not np.array_equal(other.item_factors_, first.item_factors_), "the seed does not matter"


class _OtherModel(Recommender):
    """A model class that no real file holds, to check that load() refuses a foreign class."""

    name = "conformance-other"


def chromium_for_tests() -> str:
    """Return the system Chromium's path for browser tests.

    The system Chromium's path for browser tests: the test is skipped when none is installed,
    and fails instead when ``MFREC_REQUIRE_BROWSER`` is set (as CI does).
    """
    import os
    import shutil

    import pytest
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None and os.environ.get("MFREC_REQUIRE_BROWSER"):
        pytest.fail("Chromium is required (MFREC_REQUIRE_BROWSER is set) but not installed")
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return path

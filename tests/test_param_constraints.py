"""Hyperparameter checks generated from each model's constraint table (mfrec.params), and the
scikit-learn estimator contract (get_params(deep=True), clone, repr)."""
import math

import numpy as np
import pytest

from mfrec import params
from mfrec.errors import InvalidParameterError
from mfrec.models import catalog
from mfrec.models.base import Recommender
from mfrec.testing import planted_data

MODELS = catalog.model_classes()


def _invalid_cases():
    """(model name, parameter, invalid value) for every value each table entry must refuse."""
    for name, cls in MODELS.items():
        defaults = cls().get_params()
        for param, entry in cls._parameter_constraints.items():
            for value in params.invalid_values(entry, defaults):
                yield pytest.param(name, param, value, id=f"{name}-{param}-{value!r}")


INVALID = list(_invalid_cases())


def test_every_model_declares_each_parameter_once():
    for name, cls in MODELS.items():
        assert list(cls._parameter_constraints) == cls.param_names(), name


def test_the_defaults_and_presets_satisfy_the_tables():
    for cls in MODELS.values():
        cls().check_params()
        for preset in cls.PRESETS:
            cls.preset(preset).check_params()


def test_enough_invalid_values_are_generated():
    # every constrained parameter gets at least three refused values (wrong type, out of range, None...)
    for name, cls in MODELS.items():
        for param, entry in cls._parameter_constraints.items():
            assert len(params.invalid_values(entry, cls().get_params())) >= 3, (name, param)


@pytest.mark.parametrize("model, param, value", INVALID)
def test_invalid_values_raise_an_error_naming_the_parameter(model, param, value):
    estimator = MODELS[model](**{param: value})
    with pytest.raises(InvalidParameterError, match=param) as info:
        estimator.check_params()
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("model", [m for m in MODELS if MODELS[m]._parameter_constraints])
def test_fit_checks_the_table_before_training(model):
    cls = MODELS[model]
    param, entry = next(iter(cls._parameter_constraints.items()))
    value = params.invalid_values(entry, cls().get_params())[0]
    data = planted_data(explicit=cls.feedback == "explicit")
    estimator = cls(**{param: value})
    with pytest.raises(InvalidParameterError, match=param):
        estimator.fit(data)
    assert not estimator.is_fitted


def test_cross_parameter_bounds():
    from mfrec import WARP
    WARP(k_os=3, k_os_rank=3).check_params()
    with pytest.raises(InvalidParameterError, match="k_os_rank must be None or an integer between 1 and k_os = 2"):
        WARP(k_os=2, k_os_rank=3).check_params()
    assert 3 in params.invalid_values(WARP._parameter_constraints["k_os_rank"], {"k_os": 2})


def test_init_std_limit_depends_on_factors():
    from mfrec import ALS
    limit = math.sqrt(params.FLOAT32_MAX / (36.0 * 4))
    ALS(factors=4, init_std=limit * 0.99).check_params()
    with pytest.raises(InvalidParameterError, match="init_std=.* overflow float32 .*factors=4"):
        ALS(factors=4, init_std=limit * 1.01).check_params()


def test_constraint_descriptions():
    assert params.describe(params.Integer(1)) == "a positive integer"
    assert params.describe([None, params.Integer(0)]) == "None or a non-negative integer"
    assert params.describe(params.Real(0, 1, closed="right")) == "a number in (0, 1]"
    assert params.describe(params.Real(0, 1, closed="neither")) == "a number in (0, 1)"
    assert params.describe(params.Real(0, None, closed="left")) == "a non-negative finite number"
    assert params.describe(params.Options("a", "b")) == "one of ('a', 'b')"
    with pytest.raises(InvalidParameterError, match=r"lr_decay must be a number in \(0, 1\], got 1.5"):
        params.check("lr_decay", 1.5, params.Real(0, 1, closed="right"))
    assert params.check("seed", None, [None, params.Integer(0)]) is None
    assert params.check("n", np.int64(3), params.Integer(1)) == 3


def test_cli_models_prints_the_valid_values():
    from typer.testing import CliRunner

    from mfrec.cli import app
    result = CliRunner().invoke(app, ["models"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for cls in MODELS.values():
        for param in cls._parameter_constraints:
            assert param in result.output
    assert "a number in (0, 1]" in result.output and "one of ('cg', 'cholesky')" in result.output


# ---------------------------------------------------------------------- estimator contract
@pytest.mark.parametrize("model", list(MODELS))
def test_get_params_deep_and_sklearn_clone(model):
    cls = MODELS[model]
    estimator = cls.preset(next(iter(cls.PRESETS))) if cls.PRESETS else cls()
    assert estimator.get_params(deep=True) == estimator.get_params(deep=False) == estimator.get_params()
    from sklearn.base import clone  # the test extra installs scikit-learn: this test runs in CI, never skips
    copy = clone(estimator)
    assert type(copy) is cls and copy is not estimator and copy.get_params() == estimator.get_params()


@pytest.mark.parametrize("model", list(MODELS))
def test_repr_shows_only_changed_parameters(model):
    cls = MODELS[model]
    assert repr(cls()) == f"{cls.__name__}()"
    if "factors" in cls.param_names():
        assert repr(cls(factors=7)) == f"{cls.__name__}(factors=7)"
        assert repr(cls(seed=3, factors=7)) == f"{cls.__name__}(factors=7, seed=3)"  # in __init__ order
        default = cls().factors
        assert repr(cls(factors=default)) == f"{cls.__name__}()"


def test_recommender_is_abstract():
    with pytest.raises(TypeError):
        Recommender()

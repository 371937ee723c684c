"""The public API's docstrings are numpydoc and agree with the signatures (numpydoc.validate).

Checked: every name in ``mfrec.__all__`` (classes with their public methods and properties, the
models' ``Recommender``, ``SVD``, ``ALS``... included) and the public functions and classes of the
modules users call directly.
"""
import importlib
import inspect

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")

import mfrec  # noqa: E402

MODULES = ["mfrec.evaluation", "mfrec.data", "mfrec.datasets", "mfrec.similarity", "mfrec.retrieval",
           "mfrec.ncf", "mfrec.export", "mfrec.persistence"]

# The errors that make a docstring wrong rather than terse: a parameter the reader cannot look up
# (PR01), a documented parameter that does not exist, stale after a rename (PR02), a function
# that returns something without saying what (RT01), and a section numpydoc cannot parse, which
# hides everything after it (GL06 unknown section, GL07 sections out of order). Style codes
# (summary wording, periods, "See Also", examples) are ruff's D rules' job or matters of taste.
CHECKED_CODES = {"PR01", "PR02", "RT01", "GL06", "GL07"}


def _members(qualname: str, obj) -> list:
    names = [qualname]
    if inspect.isclass(obj):
        for name, member in vars(obj).items():
            if name.startswith("_"):
                continue
            if inspect.isfunction(member) or isinstance(member, (property, classmethod, staticmethod)):
                names.append(f"{qualname}.{name}")
    return names


def public_names() -> list:
    """Fully qualified names of the public API (deduplicated, sorted)."""
    names = set()
    for name in mfrec.__all__:
        obj = getattr(mfrec, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            names.update(_members(f"{obj.__module__}.{obj.__qualname__}", obj))
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        exported = getattr(module, "__all__", None)
        for name in exported if exported is not None else sorted(vars(module)):
            obj = getattr(module, name)
            if name.startswith("_") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            # without __all__, only what the module defines (not what it imports)
            if exported is None and obj.__module__ != module.__name__:
                continue
            if obj.__module__.startswith("mfrec."):
                names.update(_members(f"{obj.__module__}.{obj.__qualname__}", obj))
    return sorted(names)


def _errors(qualname: str) -> list:
    result = numpydoc_validate.validate(qualname)
    return [f"{code} {message}" for code, message in result["errors"] if code in CHECKED_CODES]


def test_the_walk_finds_the_public_api():
    names = public_names()
    for expected in ("mfrec.data.interactions.Interactions.from_arrays", "mfrec.ids.IdMap.index",
                     "mfrec.evaluation.evaluate.evaluate_ranking", "mfrec.data.split.kfold",
                     "mfrec.retrieval.top_k", "mfrec.persistence.load_model", "mfrec.ncf.SampledProtocol.evaluate",
                     "mfrec.models.base.Recommender.recommend", "mfrec.models.svd.SVD"):
        assert expected in names
    # an imported helper is not counted as the importing module's API
    assert "mfrec.kernels.csr.csr_structure" not in names


@pytest.mark.parametrize("qualname", public_names())
def test_public_docstring_matches_signature(qualname):
    errors = _errors(qualname)
    assert not errors, f"{qualname}:\n  " + "\n  ".join(errors)

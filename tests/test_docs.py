"""The public model classes' docstrings (issue 13): at most 40 lines each, a numpydoc
``Parameters`` section naming every constructor parameter with its type and its actual default,
and links (``:mod:`...```, benchmarks/results/*.md) that point at things that exist."""
from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

from mfrec.models import ALS, BPR, SVD, WARP, Popularity, Recommender

MAX_LINES = 40
CLASSES = [SVD, ALS, BPR, WARP, Popularity, Recommender]
#: the factor models, whose maths is stated in a kernel module that the class docstring links to
KERNEL_OF = {SVD: "mfrec.kernels.svd_sgd", ALS: "mfrec.kernels.als", BPR: "mfrec.kernels.bpr",
             WARP: "mfrec.kernels.warp"}
ROOT = Path(__file__).resolve().parents[1]


def own_docstring(cls) -> str:
    """The class's own docstring, dedented (an inherited one does not count)."""
    doc = cls.__dict__.get("__doc__")
    assert doc, f"{cls.__name__} has no docstring of its own"
    return inspect.cleandoc(doc)


def numpydoc_section(doc: str, title: str):
    """The lines of the numpydoc section ``title`` (header, dashed underline, body up to the next
    header), or None when the docstring has no such section."""
    lines = doc.splitlines()

    def is_header(n: int) -> bool:
        under = lines[n + 1].strip() if n + 1 < len(lines) else ""
        return bool(lines[n].strip()) and not lines[n][0].isspace() and len(under) >= 3 and set(under) == {"-"}

    for n, line in enumerate(lines):
        if line.strip() == title and is_header(n):
            body = []
            for m in range(n + 2, len(lines)):
                if is_header(m):
                    break
                body.append(lines[m])
            return body
    return None


def parameter_entries(doc: str) -> dict:
    """{name: type text} of the entries of the Parameters section (``a, b : type`` gives both)."""
    section = numpydoc_section(doc, "Parameters")
    entries = {}
    for line in section or ():
        if line and not line[0].isspace():
            names, _, type_text = line.partition(" : ")
            for name in names.split(","):
                entries[name.strip()] = type_text.strip()
    return entries


def test_section_parser_reads_a_numpydoc_docstring():
    doc = inspect.cleandoc('''Summary.

        Parameters
        ----------
        alpha : float, default 1.0
            The slope.
        beta, gamma : int, default 2

        Notes
        -----
        not : a parameter
        ''')
    assert parameter_entries(doc) == {"alpha": "float, default 1.0", "beta": "int, default 2",
                                      "gamma": "int, default 2"}
    assert numpydoc_section(doc, "Returns") is None
    assert parameter_entries("Summary.\n\nParameters (keyword only)\n-------------------------\nx : int") == {}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_class_docstring_is_at_most_40_lines(cls):
    n_lines = len(own_docstring(cls).splitlines())
    assert n_lines <= MAX_LINES, (f"{cls.__name__}'s docstring has {n_lines} lines (at most {MAX_LINES}): move "
                                  "derivations to its kernel module and narratives to benchmarks/results/")


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_parameters_section_names_exactly_the_constructor_parameters(cls):
    doc = own_docstring(cls)
    declared = cls.param_names()
    if declared:
        assert numpydoc_section(doc, "Parameters") is not None, f"{cls.__name__}: no numpydoc Parameters section"
    documented = parameter_entries(doc)
    missing = [p for p in declared if p not in documented]
    unknown = [p for p in documented if p not in declared]
    assert not missing, f"{cls.__name__}: parameters not in the docstring's Parameters section: {missing}"
    assert not unknown, f"{cls.__name__}: the Parameters section names no such parameters: {unknown}"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_each_parameter_entry_gives_a_type_and_the_actual_default(cls):
    signature = inspect.signature(cls.__init__).parameters
    for name, type_text in parameter_entries(own_docstring(cls)).items():
        kind, sep, default_text = type_text.rpartition(", default ")
        assert sep and kind, f"{cls.__name__}.{name}: the entry should read '{name} : <type>, default <value>'"
        assert ast.literal_eval(default_text) == signature[name].default, (
            f"{cls.__name__}.{name}: the docstring says default {default_text}, the signature "
            f"{signature[name].default!r}")


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_links_point_at_modules_and_files_that_exist(cls):
    doc = own_docstring(cls)
    for module in re.findall(r":mod:`~?([\w.]+)`", doc):
        importlib.import_module(module)
    for path in re.findall(r"benchmarks/results/[\w.-]+\.md", doc):
        assert (ROOT / path).is_file(), f"{cls.__name__} links {path}, which does not exist"
    if cls in KERNEL_OF:
        assert f":mod:`{KERNEL_OF[cls]}`" in doc, f"{cls.__name__} should link its maths, {KERNEL_OF[cls]}"
        kernel_doc = importlib.import_module(KERNEL_OF[cls]).__doc__
        assert cls.__name__ in kernel_doc, f"{KERNEL_OF[cls]}'s docstring should say it states {cls.__name__}'s maths"

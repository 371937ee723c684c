"""Tests of mfrec.kernels._jit: inner kernels (no CPython wrapper) and which kernels are inner."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

import mfrec.kernels
from mfrec.kernels import _jit
from mfrec.kernels._jit import InnerKernel, kernel

KERNELS_DIR = Path(mfrec.kernels.__file__).parent
SOURCE_DIR = KERNELS_DIR.parent


@kernel(inner=True)
def _add_one(a):
    for i in range(len(a)):
        a[i] += 1.0


@kernel
def _outer(a):
    _add_one(a)
    return a.sum()


def test_an_inner_kernel_has_no_wrappers_and_runs_inside_an_outer_one():
    assert isinstance(_add_one, InnerKernel)
    assert _add_one.targetoptions["no_cpython_wrapper"] is True
    assert _add_one.targetoptions["no_cfunc_wrapper"] is True
    assert _outer.targetoptions.get("no_cpython_wrapper") is not True
    assert _outer(np.zeros(4)) == 4.0


def test_a_python_call_of_an_inner_kernel_runs_its_twin_and_says_so():
    a = np.zeros(3)
    _outer(a.copy())   # the inner kernel compiled (without a wrapper) first, as a callee
    before = len(_jit.PYTHON_TWINS)
    _add_one(a)        # a jump to the missing wrapper would crash the interpreter
    _add_one(a)
    np.testing.assert_array_equal(a, [2.0, 2.0, 2.0])
    assert _jit.PYTHON_TWINS[before:] == [f"{__name__}._add_one"]  # one twin, made once


def _kernel_names():
    """{function name: is inner} of every @kernel in src/mfrec/kernels, read from the source."""
    found = {}
    for path in KERNELS_DIR.glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef):
                for decorator in node.decorator_list:
                    text = ast.unparse(decorator)
                    if text.startswith("kernel"):
                        found[node.name] = "inner=True" in text
    return found


def _called_from_python(names):
    """Names of ``names`` that some non-kernel code of the package refers to (a Python caller)."""
    called = set()

    def visit(node, in_kernel):
        if isinstance(node, ast.FunctionDef):
            in_kernel = any(ast.unparse(d).startswith("kernel") for d in node.decorator_list)
        if not in_kernel:
            if isinstance(node, ast.Name) and node.id in names:
                called.add(node.id)
            elif isinstance(node, ast.Attribute) and node.attr in names:
                called.add(node.attr)
        for child in ast.iter_child_nodes(node):
            visit(child, in_kernel)

    for path in SOURCE_DIR.rglob("*.py"):
        visit(ast.parse(path.read_text()), False)
    return called


def test_a_kernel_is_inner_exactly_when_only_kernels_call_it():
    """An inner kernel called from package Python code would compile a twin on every first use; an outer
    kernel that only kernels call compiles a CPython wrapper nobody uses (a fifth of first use in all)."""
    kinds = _kernel_names()
    assert sum(kinds.values()) >= 30
    from_python = _called_from_python(set(kinds))
    inner_called = sorted(n for n, inner in kinds.items() if inner and n in from_python)
    assert inner_called == [], f"inner kernels called from Python: {inner_called}"
    # test-only entry points (the BPR triples' twins) are called from the tests, so they stay outer
    outer_unused = sorted(n for n, inner in kinds.items() if not inner and n not in from_python)
    assert outer_unused == ["bpr_triples", "draw_triples"], f"only kernels call these, make them inner: {outer_unused}"

"""Tests of mfrec.warmup: after warm_up, a fresh process runs the same jobs without compiling."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mfrec.errors import InvalidParameterError
from mfrec.models.catalog import UnknownModelError
from mfrec.warmup import warm_up

#: runs the jobs of the models given on the command line; prints the kernels numba had to compile
_CHECK_JOB = r"""
import json, sys
from mfrec.kernels import compiled_kernels
from mfrec.warmup import model_job
for name in sys.argv[1:]:
    model_job(name)
missed = {name: sum(kernel.stats.cache_misses.values()) for name, kernel in compiled_kernels()}
print(json.dumps({name: n for name, n in missed.items() if n}))
"""


def _compiles_of_a_fresh_job(models, env) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHECK_JOB, *models], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_after_warm_up_a_fresh_process_compiles_nothing(tmp_path, monkeypatch):
    import os
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    env = os.environ.copy()
    # the check itself can fail: in an empty cache the same job compiles its kernels
    assert "bpr._bpr_blocks" in _compiles_of_a_fresh_job(["bpr"], {**env, "NUMBA_CACHE_DIR": str(tmp_path / "other")})
    seconds = warm_up(["popularity", "bpr"], processes=2)
    assert seconds["total"] >= seconds["first pass"] > 0
    assert _compiles_of_a_fresh_job(["popularity", "bpr"], env) == {}


def test_bad_arguments_fail_before_any_process_starts():
    with pytest.raises(UnknownModelError, match="nosuch"):
        warm_up(["nosuch"])
    with pytest.raises(InvalidParameterError, match="processes"):
        warm_up(processes=0)


def test_the_module_command_turns_an_unknown_model_into_one_line():
    out = subprocess.run([sys.executable, "-m", "mfrec.warmup", "nosuch"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "unknown model 'nosuch'" in out.stderr
    assert "Traceback" not in out.stderr

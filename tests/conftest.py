"""Fixtures shared by the test files: where the real data lives, and the `mfrec` command run in
this process. The synthetic data builders are plain functions in ``synthetic.py``.

Real data: ``$MFREC_DATA_DIR``, else ``../shared/data`` beside the repository. A test that needs a
file asks ``data_file("ml-100k/u.data")``: when the file is missing the test is skipped with the
path in the reason, or fails when ``MFREC_REQUIRE_DATA`` is set (as ``.ci/run`` does), so a CI run
cannot pass by skipping the real-data tests.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: resolved once, before any test changes the environment or the working folder
DATA_DIR = Path(os.environ.get("MFREC_DATA_DIR") or REPO.parent / "shared" / "data").resolve()


def missing_data(relative: str) -> None:
    """Skip the running test for want of a data file, or fail it under ``MFREC_REQUIRE_DATA``."""
    if DATA_DIR.is_dir():
        message = f"{relative} is not in the data folder {DATA_DIR}"
    else:
        message = f"the data folder {DATA_DIR} does not exist (set MFREC_DATA_DIR)"
    if os.environ.get("MFREC_REQUIRE_DATA"):
        pytest.fail(f"{message}; MFREC_REQUIRE_DATA is set, so the real-data tests must run", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def data_file():
    """``data_file(relative_path)``: that path under the data folder, which must exist."""
    def need(relative: str) -> Path:
        path = DATA_DIR / relative
        if not path.exists():
            missing_data(relative)
        return path
    return need


@pytest.fixture(scope="session")
def data_dir(data_file) -> Path:
    """The data folder itself (the test is skipped, or fails, when it does not exist)."""
    return data_file(".")


# ---------------------------------------------------------------------------- the CLI in-process
@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def mfrec_cli(monkeypatch):
    """``mfrec_cli(*args, cwd=None, columns=200)`` runs ``mfrec ARGS`` in this process, in
    typer's ``CliRunner`` isolation (its own stdin/stdout/stderr and environment), through
    ``mfrec.cli.main`` so that user errors end as they do for a user: one line on stderr, exit
    code 2. A subprocess per call would cost seconds of imports; ``test_cli.py`` keeps a few of
    those as smoke tests of the installed entry point."""
    from typer.testing import CliRunner

    import mfrec.cli as cli

    def run(*args, cwd=None, columns: int = 200) -> CliResult:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["mfrec", *map(str, args)])
        try:
            runner = CliRunner(mix_stderr=False)  # click < 8.2 mixes stderr into stdout by default
        except TypeError:
            runner = CliRunner()                  # click >= 8.2 keeps them apart
        env = {"MFREC_DATA_DIR": str(DATA_DIR), "COLUMNS": str(columns)}
        with runner.isolation(env=env) as streams:
            try:
                cli.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            stdout, stderr = (stream.getvalue().decode() for stream in streams[:2])
        return CliResult(code, stdout, stderr)
    return run

"""Packaging: the core runs without the optional extras, a missing extra is named in one line,
the version is written once, and the package ships py.typed."""
import importlib.metadata
import importlib.resources
import subprocess
import sys
import textwrap

import pytest

import mfrec
from mfrec.errors import MissingExtraError

OPTIONAL = ("typer", "rich", "matplotlib", "fastapi", "starlette", "uvicorn", "dask", "distributed", "pyarrow")


def _run_blocked(blocked, code):
    """Run ``code`` in a fresh interpreter where importing any module of ``blocked`` fails."""
    prelude = f"import sys\nfor _m in {tuple(blocked)!r}:\n    sys.modules[_m] = None\n"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300)


def test_core_fits_and_recommends_without_any_extra():
    proc = _run_blocked(OPTIONAL, """
        import mfrec
        from mfrec.testing import planted_data
        model = mfrec.ALS(factors=4, iterations=2, seed=0).fit(planted_data(explicit=False))
        ids, scores = model.recommend(model.user_ids_.raw[0], n=3)
        loaded = sorted(m for m, mod in sys.modules.items() if mod is not None and m.split(".")[0] in OPTIONAL)
        print(len(ids), loaded)
    """.replace("OPTIONAL", repr(OPTIONAL)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["3", "[]"]


def test_cli_without_its_extra_says_which_to_install():
    proc = _run_blocked(("typer",), """
        sys.argv = ["mfrec", "models"]
        from mfrec.__main__ import main
        main()
    """)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: the mfrec command line needs typer, which is not installed; install it with: "
        "pip install 'mfrec[cli]'"]


@pytest.mark.parametrize("blocked, module, extra", [
    ("fastapi", "mfrec.serve.app", "serve"),
    ("uvicorn", "mfrec.serve.server", "serve"),
])
def test_serve_modules_name_their_extra(blocked, module, extra):
    proc = _run_blocked((blocked,), f"""
        from mfrec.errors import MissingExtraError
        try:
            import {module}
        except MissingExtraError as exc:
            print(exc)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (f"mfrec serve needs {blocked}, which is not installed; install it with: "
                                   f"pip install 'mfrec[{extra}]'")


def test_report_without_matplotlib_names_the_report_extra(monkeypatch):
    from mfrec import report
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'mfrec\[report\]'"):
        report._pyplot()


def test_progress_bar_without_rich_names_the_cli_extra():
    proc = _run_blocked(("rich",), """
        import mfrec
        from mfrec.errors import MissingExtraError
        from mfrec.testing import planted_data
        try:
            mfrec.ALS(factors=4, iterations=2, seed=0).fit(planted_data(explicit=False), show_progress=True)
        except MissingExtraError as exc:
            print(exc)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ("the training progress bar (show_progress=True) needs rich, which is not installed; "
                                   "install it with: pip install 'mfrec[cli]'")


def test_version_is_written_once():
    assert importlib.metadata.version("mfrec") == mfrec.__version__


def test_ships_py_typed():
    assert importlib.resources.files("mfrec").joinpath("py.typed").is_file()

"""Fault injection and hostile input: every fault ends in a clear error and nothing is lost.

Fault model (issue 12)
----------------------
What may fail: the user's input (files, frames, arrays, ids, hyperparameters, CLI options and
paths), the file system (read-only folders, full disks, a folder where a file is expected, two
processes saving to one path), the process (Ctrl-C / SIGINT at any moment, also mid-save and
mid-fit), training itself (divergence to NaN/inf or to overflowing scores), a model file on disk
(damaged or crafted), and the machine's memory (a fit larger than what is available).

What is guaranteed:

1. Saving is atomic. A model file is either the complete new file or the previous one; no corrupt
   file is ever reported as saved; no temporary file survives any exit path (errors, Ctrl-C);
   concurrent writers to one path each write a private temporary file, the last rename wins.
2. A fit either completes, or leaves the model exactly as it was before (unfitted, or its previous
   fit), whatever stopped it: bad data, a raising callback, divergence, KeyboardInterrupt.
3. No non-finite number gets in or out: values beyond float32, initial scales that overflow,
   diverged or overflowing factors and fold-in results raise an error naming the cause.
4. Loading trusts nothing: shapes, dtypes, finiteness, index ranges and an allow-list of
   attributes are checked, so a bad file fails at load with a ModelFileError.
5. The CLI checks every option and output path before loading data or training.
6. Wrong types at the API boundary (NumPy scalars, booleans as ids, strings as numbers, the wrong
   kind of validation data, rating metrics of a ranking model) are handled or refused clearly.
7. Every user-caused error is an ``mfrec.errors.MfrecError``; the CLI prints those as one line
   (exit 2) and lets anything else, a bug, show its traceback (exit 1).
8. No kernel is compiled with the fast-math flags that assume NaN/inf never happen.
9. A fit that would not fit in memory is refused before allocating, with estimate and available.

Not covered: power loss between the rename and the folder fsync on file systems that ignore
fsync, and memory taken by other processes after the check.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import mfrec.errors as errors_module
from mfrec import persistence
from mfrec.data.interactions import Interactions
from mfrec.data.readers import read_ratings
from mfrec.errors import (DataError, InsufficientMemoryError, InvalidParameterError, MfrecError, ModelFileError,
                          NotFittedError, TrainingDivergedError)
from mfrec.kernels import compiled_kernels
from mfrec.models import ALS, BPR, SVD, WARP, Popularity
from mfrec.models.base import Recommender
from synthetic import random_pairs

SRC = str(Path(__file__).resolve().parents[1] / "src")


# ---------------------------------------------------------------------------- small data
EXPLICIT = random_pairs(n_users=30, n_items=25, n=600, seed=0)
IMPLICIT = EXPLICIT.to_implicit(threshold=3)

SMALL = {  # fast settings of every model, with the data each trains on
    "svd": (lambda **kw: SVD(**{"factors": 4, "epochs": 3, "seed": 0, **kw}), EXPLICIT),
    "als": (lambda **kw: ALS(**{"factors": 4, "iterations": 3, "seed": 0, "threads": 1, **kw}), IMPLICIT),
    "bpr": (lambda **kw: BPR(**{"factors": 4, "epochs": 3, "seed": 0, "threads": 1, **kw}), IMPLICIT),
    "warp": (lambda **kw: WARP(**{"factors": 4, "epochs": 3, "seed": 0, "threads": 1, **kw}), IMPLICIT),
}


def _leftovers(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or ".tmp" in p.name)


# ============================================================================ 1. saving
def test_saving_to_a_folder_path_is_refused(tmp_path):
    model = Popularity().fit(IMPLICIT)
    folder = tmp_path / "models"
    folder.mkdir()
    for target in (str(folder) + "/", folder):
        with pytest.raises(ModelFileError, match="is a folder"):
            model.save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]  # no models.npz beside it
    assert list(folder.iterdir()) == []


def test_a_failed_or_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    model = Popularity().fit(IMPLICIT)
    path = model.save(tmp_path / "m.npz")
    before = path.read_bytes()

    def broken_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 half an archive")
        raise exc

    monkeypatch.setattr(persistence.np, "savez", broken_savez)
    for exc in (OSError(28, "No space left on device"), KeyboardInterrupt()):
        with pytest.raises(ModelFileError if isinstance(exc, OSError) else KeyboardInterrupt):
            model.save(path)
        assert path.read_bytes() == before
        assert _leftovers(tmp_path) == []


_WRITER = textwrap.dedent("""
    import sys, numpy as np
    from mfrec import persistence
    path, writer, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    for r in range(rounds):
        persistence.write_archive(path, {"writer": writer, "round": r},
                                  {"x": np.full(1_500_000, writer, dtype=np.float32)})
    print("saved")
""")


def test_two_concurrent_writers_never_leave_a_corrupt_file(tmp_path):
    path = tmp_path / "shared.npz"
    env = {**os.environ, "PYTHONPATH": SRC}
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(w), "10"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in (1, 2)]
    outcomes = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outcomes):
        assert proc.returncode == 0 and "saved" in out, err  # both report success...
    header, arrays = persistence.read_archive(path)         # ...and the file is one whole archive
    assert header["writer"] in (1, 2)
    assert np.all(arrays["x"] == header["writer"]) and arrays["x"].shape == (1_500_000,)
    assert _leftovers(tmp_path) == []


_SLOW_SAVER = textwrap.dedent("""
    import sys, time, numpy as np
    from mfrec import persistence
    from mfrec.models import Popularity
    from mfrec.data.interactions import Interactions
    real = np.savez
    def slow_savez(fh, **arrays):
        fh.write(b"x" * 1_000_000)       # a large partial temporary file...
        fh.flush()
        print("writing", flush=True)
        # ...when Ctrl-C arrives. Short sleeps: the kernel may deliver SIGINT to another thread
        # (numpy's BLAS workers), which does not cut a long sleep of the main thread short;
        # the handler's KeyboardInterrupt is then raised when the current short sleep ends.
        for _ in range(600):
            time.sleep(0.05)
        real(fh, **arrays)
    persistence.np.savez = slow_savez
    model = Popularity().fit(Interactions.from_arrays([1, 2, 2], [1, 1, 2]))
    model.save(sys.argv[1])
""")


def test_sigint_during_a_save_leaves_the_old_file_intact_and_no_temporary(tmp_path):
    path = Popularity().fit(IMPLICIT).save(tmp_path / "m.npz")
    before = path.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_SAVER, str(path)], env={**os.environ, "PYTHONPATH": SRC},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    assert _leftovers(tmp_path)  # the temporary file exists while writing
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=25)  # well before the 30 s the saver would sleep
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


@contextlib.contextmanager
def _read_only_folder(tmp_path):
    """A folder where creating a file fails: chmod 0555 (not enough as root), else chattr +i,
    else sysfs (which refuses new files); skips only when none of them works."""
    folder = tmp_path / "ro"
    folder.mkdir()

    def blocked(where: Path) -> bool:
        try:
            (where / "probe").touch()
        except OSError:
            return True
        (where / "probe").unlink()
        return False

    folder.chmod(0o555)
    try:
        if blocked(folder):
            yield folder
            return
        folder.chmod(0o755)
        if _which("chattr") and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
            try:
                if blocked(folder):
                    yield folder
                    return
            finally:
                subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
        if Path("/sys/kernel").is_dir() and blocked(Path("/sys/kernel")):
            yield Path("/sys/kernel")
            return
        pytest.skip("no way to make a read-only folder here (root without chattr, no sysfs)")
    finally:
        folder.chmod(0o755)


def _which(cmd):
    import shutil
    return shutil.which(cmd)


def test_a_read_only_destination_is_a_clear_error(tmp_path):
    model = Popularity().fit(IMPLICIT)
    with _read_only_folder(tmp_path) as folder:
        with pytest.raises(ModelFileError, match=f"cannot write model file {folder / 'm.npz'}"):
            model.save(folder / "m.npz")
        assert not (folder / "m.npz").exists() and _leftovers(folder) == []


def test_a_read_only_tmpfs_is_a_clear_error_not_a_cleanup_traceback(tmp_path):
    """On a read-only mount even removing a missing file fails (EROFS): the cleanup must not raise."""
    mount = tmp_path / "rofs"
    mount.mkdir()
    script = (f"mount -t tmpfs -o ro tmpfs {mount} && cd {tmp_path} && {sys.executable} -c "
              "'from mfrec.models import Popularity; from mfrec.data.interactions import Interactions; "
              f"Popularity().fit(Interactions.from_arrays([1, 2], [1, 1])).save(\"{mount}/m.npz\")'")
    probe = subprocess.run(["unshare", "--mount", "--map-root-user", "sh", "-c", f"mount -t tmpfs -o ro tmpfs {mount}"],
                           capture_output=True) if _which("unshare") else None
    if probe is None or probe.returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here (no unshare / user namespaces)")
    result = subprocess.run(["unshare", "--mount", "--map-root-user", "sh", "-c", script], capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": SRC}, timeout=60)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("mfrec.errors.ModelFileError: cannot write model file") and "Read-only" in last, \
        result.stderr
    assert "During handling of the above exception" not in result.stderr


# ============================================================================ 2. atomic fit
@pytest.mark.parametrize("name", sorted(SMALL))
def test_a_failed_fit_changes_nothing(name):
    make, data = SMALL[name]

    def boom(epoch, metrics):
        raise RuntimeError("callback failed")

    fresh = make()
    with pytest.raises(RuntimeError, match="callback failed"):
        fresh.fit(data, callback=boom)
    assert not fresh.is_fitted
    with pytest.raises(NotFittedError):
        fresh.save("never.npz")

    model = make().fit(data)
    state = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(model).items()}
    user = model.user_ids_.raw[0]
    before = model.recommend(user)

    def interrupt(epoch, metrics):
        if epoch == 2:
            raise KeyboardInterrupt

    for attempt in (lambda: model.fit(data, callback=interrupt),
                    lambda: model.fit(data, validation=data.to_dataframe()),
                    lambda: model.set_params(learning_rate=1e30).fit(data) if "learning_rate" in
                    model.get_params() else model.fit(data, callback=interrupt)):
        with pytest.raises((KeyboardInterrupt, MfrecError)):
            attempt()
        assert set(vars(model)) - {"learning_rate"} == set(state) - {"learning_rate"}
        for key, value in state.items():
            if key.endswith("_") and not key.startswith("_"):
                got = getattr(model, key)
                assert got is value or (isinstance(value, np.ndarray) and np.array_equal(got, value)), key
        after = model.recommend(user)
        assert np.array_equal(after[0], before[0]) and np.array_equal(after[1], before[1])


# ============================================================================ 3. non-finite numbers
def test_values_beyond_float32_are_named_not_blamed_on_training(tmp_path):
    with pytest.raises(DataError, match="rating 1e\\+300 at row 1 is beyond the float32 range"):
        Interactions.from_arrays([1, 2], [1, 2], [3.0, 1e300])
    with pytest.raises(DataError, match="beyond the float32 range"):
        Interactions.from_csr(sp.csr_matrix(np.array([[1.0, 1e300]])))
    with pytest.raises(DataError, match="confidence .* beyond the float32 range"):
        EXPLICIT.to_implicit(threshold=None, confidence="linear", alpha=1e38)
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\n1,1,4\n2,2,-1e300\n")
    with pytest.raises(DataError, match="line 3, field 'rating': rating -1e\\+300 is beyond the float32"):
        read_ratings(path)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_an_init_std_that_overflows_is_refused_by_name(name):
    make, data = SMALL[name]
    with pytest.raises(InvalidParameterError, match="init_std=1e\\+30 .* overflow"):
        make(init_std=1e30).fit(data)


class _HugeFactors(Popularity):
    """Finite factors whose scores overflow float32 (1e20 * 1e20 * 2 > 3.4e38)."""
    def _fit(self, interactions, validation, monitor):
        super()._fit(interactions, validation, monitor)
        self.user_factors_ = np.full((interactions.n_users, 2), 1e20, dtype=np.float32)
        self.item_factors_ = np.full((interactions.n_items, 2), 1e20, dtype=np.float32)


def test_overflowing_scores_are_caught_after_fit():
    model = _HugeFactors()
    with pytest.raises(TrainingDivergedError, match="overflow float32"):
        model.fit(IMPLICIT)
    assert not model.is_fitted


def test_fold_in_with_huge_values_is_an_error_not_a_zero_vector():
    model = SMALL["als"][0]().fit(IMPLICIT)
    item = model.item_ids_.raw[0]
    with pytest.raises(DataError, match="fold-in"):
        model.recommend_new_user([item], [1e38])
    with pytest.raises(InvalidParameterError, match="float32 range"):
        model.recommend_new_user([item], [1e300])
    ids, scores = model.recommend_new_user([item], [3.0])  # sane values still work
    assert np.all(np.isfinite(scores)) and np.any(scores != 0)


# ============================================================================ 4. loading
def _tamper(path: Path, out: Path, change) -> Path:
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(arrays["__header__"].tobytes())
    change(arrays, header)
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(out, **arrays)
    return out


def _set(key, index, value):
    def change(arrays, header):
        arrays[key] = arrays[key].copy()
        arrays[key][index] = value
    return change


TAMPERINGS = {
    "narrow item factors": (lambda a, h: a.__setitem__("fitted:item_factors_", a["fitted:item_factors_"][:, :2]),
                            "columns"),
    "NaN factors": (_set("fitted:user_factors_", (0, 0), np.nan), "NaN"),
    "float64 factors": (lambda a, h: a.__setitem__("fitted:item_factors_", a["fitted:item_factors_"].astype(float)),
                        "dtype float64"),
    "item index out of range": (_set("train:indices", 0, 10 ** 6), "outside"),
    "negative index": (_set("train:indices", 0, -1), "outside"),
    "bad row pointer": (_set("train:indptr", 1, 10 ** 6), "row pointer"),
    "attribute shadowing a method": (lambda a, h: h["attributes"].__setitem__("recommend", 1), "'recommend'"),
    "unknown array": (lambda a, h: a.__setitem__("fitted:_item_vectors_cache", np.zeros((25, 4), np.float32)),
                      "unexpected array"),
    "bias on a model without biases": (lambda a, h: a.__setitem__("fitted:user_biases_", np.zeros(30, np.float32)),
                                       "unexpected array"),
    "global mean on a ranking model": (lambda a, h: h["attributes"].__setitem__("global_mean_", 3.0),
                                       "global_mean_"),
    "invalid hyperparameter": (lambda a, h: h["params"].__setitem__("factors", -1), "factors"),
    "unknown hyperparameter": (lambda a, h: h["params"].__setitem__("evil", 1), "parameters"),
    "shape disagrees with ids": (lambda a, h: h["interactions"].__setitem__("shape", [3, 3]), "shape"),
}


@pytest.mark.parametrize("case", sorted(TAMPERINGS))
def test_loading_checks_every_array_and_attribute(case, tmp_path):
    change, message = TAMPERINGS[case]
    good = SMALL["als"][0]().fit(IMPLICIT).save(tmp_path / "good.npz")
    bad = _tamper(good, tmp_path / "bad.npz", change)
    with pytest.raises(ModelFileError, match=message):
        Recommender.load(bad)
    Recommender.load(good)  # the untouched file still loads


# ============================================================================ 5. late validation (CLI)
def test_cli_checks_options_and_paths_before_loading_data(tmp_path, mfrec_cli):
    # ml-25m is not in the data folder, so an error about it would mean the data came first
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [
        (["fit", "popularity", "-d", "ml-25m", "-o", str(tmp_path / "missing" / "m.npz")], "does not exist"),
        (["fit", "popularity", "-d", "ml-25m", "-o", str(tmp_path) + "/"], "is a folder"),
        (["fit", "popularity", "-d", "ml-25m", "-o", str(a_file / "m.npz")], "cannot write model file"),
        (["evaluate", "popularity", "-d", "ml-25m", "-k", "0"], "-k must be a positive integer"),
        (["evaluate", "popularity", "-d", "ml-25m", "--test-fraction", "1.5"], "--test-fraction"),
        (["compare", "-d", "ml-25m", "-m", "popularity", "--export", str(a_file)], "it is a file"),
        (["compare", "-d", "ml-25m", "-m", "popularity", "-k", "0"], "-k must be a positive integer"),
    ]
    for args, message in cases:
        result = mfrec_cli(*args, cwd=tmp_path, columns=80)
        assert result.exit_code == 2, (args, result.stderr)
        assert message in result.stderr and "25M" not in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_cli_refuses_a_read_only_output_folder_before_training(tmp_path, mfrec_cli):
    with _read_only_folder(tmp_path) as folder:
        result = mfrec_cli("fit", "popularity", "-d", "ml-25m", "-o", str(folder / "m.npz"), cwd=tmp_path, columns=80)
    assert result.exit_code == 2 and "not writable" in result.stderr and "25M" not in result.stderr, result.stderr


# ============================================================================ 6. types at the API boundary
def test_numpy_hyperparameters_save_as_plain_json(tmp_path):
    model = ALS(factors=np.int64(4), iterations=np.int32(2), regularization=np.float32(0.05), seed=np.int64(1),
                threads=1).fit(IMPLICIT)
    path = model.save(tmp_path / "np.npz")
    header, _ = persistence.read_archive(path)
    assert type(header["params"]["factors"]) is int and header["params"]["factors"] == 4
    assert Recommender.load(path).factors == 4


def test_booleans_strings_and_wrong_kinds_are_refused():
    model = SMALL["als"][0]().fit(IMPLICIT)
    assert 1 in model.user_ids_
    for call in (lambda: model.recommend(True), lambda: model.similar_items(np.bool_(False)),
                 lambda: model.predict(True, 1)):
        with pytest.raises(InvalidParameterError, match="boolean"):
            call()
    with pytest.raises(InvalidParameterError, match="threshold must be a finite number"):
        EXPLICIT.to_implicit(threshold="4")
    svd = SMALL["svd"][0]()
    with pytest.raises(DataError, match="validation must be an mfrec Interactions"):
        svd.fit(EXPLICIT, validation=EXPLICIT.to_dataframe())
    with pytest.raises(DataError, match="validates on explicit ratings"):
        svd.fit(EXPLICIT, validation=IMPLICIT)
    from mfrec.evaluation import evaluate_ratings
    with pytest.raises(InvalidParameterError, match="ALS is a ranking model"):
        evaluate_ratings(model, EXPLICIT)


def test_cli_refuses_an_empty_title(tmp_path, mfrec_cli):
    path = Popularity().fit(IMPLICIT).save(tmp_path / "p.npz")
    for text in ("", "  "):
        result = mfrec_cli("similar", str(path), text, columns=80)
        assert result.exit_code == 2 and "the item is empty" in result.stderr, result.stderr


# ============================================================================ 7. error boundary
def test_every_mfrec_error_class_is_an_mfrec_error():
    classes = [c for c in vars(errors_module).values() if isinstance(c, type) and issubclass(c, Exception)]
    assert InvalidParameterError in classes and InsufficientMemoryError in classes
    assert all(issubclass(c, MfrecError) for c in classes)
    assert issubclass(InvalidParameterError, ValueError) and issubclass(InsufficientMemoryError, MemoryError)


@pytest.mark.parametrize("bad", [lambda: SVD(factors=0).check_params(), lambda: SVD(shuffle="x").check_params(),
                                 lambda: Popularity().fit(IMPLICIT).recommend(1, n=0),
                                 lambda: Popularity().set_params(x=1)])
def test_parameter_mistakes_are_mfrec_errors(bad):
    with pytest.raises(InvalidParameterError):
        bad()


_BUGGY_CLI = textwrap.dedent("""
    import sys
    import mfrec.cli as cli
    def bug(*args, **kwargs):
        raise ValueError("an internal bug, not a user mistake")
    cli.catalog.model_class = bug
    sys.argv = ["mfrec", *sys.argv[1:]]
    cli.main()
""")


def test_cli_shows_bugs_as_tracebacks_and_user_errors_as_one_line(tmp_path, mfrec_cli):
    env = {**os.environ, "PYTHONPATH": SRC}
    bug = subprocess.run([sys.executable, "-c", _BUGGY_CLI, "fit", "als"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert bug.returncode == 1 and "Traceback" in bug.stderr and "an internal bug" in bug.stderr
    user = mfrec_cli("recommend", str(tmp_path / "missing.npz"), "1", columns=80)
    assert user.exit_code == 2 and user.stderr.count("\n") == 1 and "Traceback" not in user.stderr
    debug = mfrec_cli("--debug", "recommend", str(tmp_path / "missing.npz"), "1", columns=80)
    assert debug.exit_code == 2 and "Traceback" in debug.stderr and "does not exist" in debug.stderr


def test_offline_download_message_is_one_line_with_the_data_dir_hint(tmp_path):
    from mfrec.datasets import load_movielens
    from mfrec.errors import DatasetNotAvailableError
    with pytest.raises(DatasetNotAvailableError) as info:
        load_movielens("25m", data_dir=tmp_path, download=False)
    message = str(info.value)
    assert "\n" not in message and "MFREC_DATA_DIR" in message and "ml-25m" in message


# ============================================================================ 8. fast-math policy
def test_no_kernel_assumes_that_nan_and_inf_never_happen():
    seen = 0
    for name, dispatcher in compiled_kernels():
        flags = dispatcher.targetoptions.get("fastmath", False)
        assert flags is not True, f"{name} uses fastmath=True (includes nnan/ninf)"
        if flags:
            assert not {"nnan", "ninf", "fast"} & set(flags), f"{name}: {flags}"
        seen += 1
    assert seen >= 20  # the kernels of svd_sgd, als, bpr, warp, sampling, ranking_metrics


def test_every_kernel_uses_the_one_option_set():
    """kernels/_jit.py: cache, nogil and the numpy error model everywhere; FASTMATH, or no fast-math
    at all for the exact (ranking) kernels; never numba's parallel=True or prange (the parallel loops
    are mfrec._threads.parallel_for, much cheaper to compile), nor np.zeros (three compiles each)."""
    import inspect

    from mfrec.kernels._jit import FASTMATH
    seen = 0
    for name, dispatcher in compiled_kernels():
        options = dispatcher.targetoptions
        assert type(dispatcher._cache).__name__ == "FunctionCache", f"{name} is not cached"
        assert options.get("nogil") is True, f"{name} holds the GIL"
        assert options.get("error_model") == "numpy", f"{name}: error_model {options.get('error_model')!r}"
        exact = name.split(".")[0] in ("ranking_metrics", "top_k")
        expected = False if exact else FASTMATH
        assert options.get("fastmath") == expected, f"{name}: fastmath {options.get('fastmath')!r}"
        assert not options.get("parallel"), f"{name} is compiled with parallel=True"
        source = inspect.getsource(dispatcher.py_func)
        assert "prange(" not in source, f"{name} has a prange loop"
        assert "np.zeros(" not in source, f"{name} calls np.zeros (np.empty then a[:] = 0: see _jit.py)"
        seen += 1
    assert seen >= 20


@pytest.mark.parametrize("name, rate", [("svd", 1e4), ("bpr", 1e30), ("warp", 1e30)])
def test_a_diverging_fit_is_caught(name, rate):
    make, data = SMALL[name]
    extra = {"learning_schedule": "sgd"} if name == "warp" else {}
    model = make(learning_rate=rate, **extra)
    with pytest.raises(TrainingDivergedError, match="diverged"):
        model.fit(data)
    assert not model.is_fitted


# ============================================================================ 9. memory
@pytest.mark.parametrize("name", sorted(SMALL))
def test_a_fit_too_large_for_memory_is_refused_before_allocating(name):
    make, data = SMALL[name]
    with pytest.raises(InsufficientMemoryError, match="needs about .* but only .* is available; lower factors"):
        make(factors=10 ** 10).fit(data)


def test_the_memory_check_uses_what_is_available(monkeypatch):
    from mfrec import _memory
    monkeypatch.setattr(_memory, "available_bytes", lambda: 10_000)
    with pytest.raises(InsufficientMemoryError, match="only 9.8 KB is available"):
        SMALL["als"][0](factors=64).fit(IMPLICIT)
    monkeypatch.setattr(_memory, "available_bytes", lambda: None)  # unknown: nothing is refused
    assert SMALL["als"][0](factors=64).fit(IMPLICIT).is_fitted
    assert _memory.available_bytes is not None


# ============================================================================ property tests
FIELDS = st.sampled_from(["1", "2", "-3", "4.5", "0", "1e300", "-1e400", "nan", "inf", "", " ", "abc", "ü", '"',
                          '"1,2"', "True", "1.5e3", "2001-02-03", "9" * 30, "\x00", "user", "item", "rating"])


@pytest.mark.filterwarnings("error::RuntimeWarning")
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(FIELDS, min_size=0, max_size=5), max_size=8),
       sep=st.sampled_from([",", "\t", "::", ";", " ", "|"]), header=st.sampled_from(["infer", True, False]))
@example(rows=[["1", "1", "1", '"1,2"']], sep=",", header="infer")  # a date in year 1 overflowed pandas' ns range
@example(rows=[["1e300", "1", "4"], ["2", "1", "4"]], sep=",", header=False)  # an id cast to a garbage int64
def test_read_ratings_gives_interactions_or_an_mfrec_error(tmp_path, rows, sep, header):
    path = tmp_path / "r.txt"
    path.write_text("\n".join(sep.join(r) for r in rows), encoding="utf-8")
    _valid_or_mfrec_error(lambda: read_ratings(path, header=header))
    _valid_or_mfrec_error(lambda: read_ratings(path, sep=sep, header=header))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200))
def test_read_ratings_on_random_bytes(tmp_path, data):
    path = tmp_path / "r.bin"
    path.write_bytes(data)
    _valid_or_mfrec_error(lambda: read_ratings(path))


VALUES = st.one_of(st.integers(-5, 2 ** 70), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3),
                   st.none(), st.booleans())


@pytest.mark.filterwarnings("error::RuntimeWarning")  # a silent overflowing cast would be a bug too
@settings(max_examples=150, deadline=None)
@given(users=st.lists(VALUES, max_size=6), items=st.lists(VALUES, max_size=6),
       ratings=st.one_of(st.none(), st.lists(VALUES, max_size=6)),
       duplicates=st.sampled_from(["last", "first", "mean", "sum", "max", "error", "bogus"]))
def test_interactions_builders_give_a_valid_object_or_an_mfrec_error(users, items, ratings, duplicates):
    _valid_or_mfrec_error(lambda: Interactions.from_arrays(users, items, ratings, duplicates=duplicates))
    frame = {"user": users, "item": items}
    if ratings is not None and len(ratings) == len(users) == len(items):
        frame["rating"] = ratings
    if len(users) == len(items):
        _valid_or_mfrec_error(lambda: Interactions.from_dataframe(pd.DataFrame(frame), duplicates=duplicates))


@pytest.mark.filterwarnings("error::RuntimeWarning")
@settings(max_examples=80, deadline=None)
@given(values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=1, max_size=6),
       shape=st.tuples(st.integers(1, 3), st.integers(1, 3)))
def test_from_csr_gives_a_valid_object_or_an_mfrec_error(values, shape):
    n = shape[0] * shape[1]
    dense = np.resize(np.asarray(values, dtype=np.float64), n).reshape(shape)
    _valid_or_mfrec_error(lambda: Interactions.from_csr(sp.csr_matrix(dense)))


def _valid_or_mfrec_error(build):
    try:
        inter = build()
    except MfrecError:
        return
    assert isinstance(inter, Interactions)
    m = inter.matrix
    assert m.shape == (len(inter.user_ids), len(inter.item_ids)) and m.nnz > 0
    assert m.dtype == np.float32 and np.all(np.isfinite(m.data)) and m.has_sorted_indices
    assert len(m.indices) == 0 or (0 <= m.indices.min() and m.indices.max() < m.shape[1])
    assert inter.user_ids.raw.dtype.kind in "iU" and inter.item_ids.raw.dtype.kind in "iU"

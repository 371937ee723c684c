"""Shared pieces of the mfrec benchmark scripts: the two evaluation protocols, machine facts,
timing, Markdown tables and the ``--quick`` convention.

Every benchmark script compares an mfrec model with its anchor library on the SAME split, scored
by the SAME metric code (:mod:`mfrec.evaluation`), so the protocols live here and nowhere else:

* explicit (rating prediction): ``load_movielens("1m")``, ``random_split(test_fraction=0.1,
  seed=42)``; report ``evaluate_ratings(model, test)`` (RMSE, MAE).
* implicit (top-N ranking): ``load_movielens("1m").to_implicit(threshold=4)``,
  ``per_user_split(test_fraction=0.2, seed=42)``; report ``evaluate_ranking(model, test, k=10)``.

``--quick`` (see :func:`add_common_args`) swaps ML-1M for ML-100K so a script can be smoke-tested
in seconds; quick numbers are never the recorded results.

Run scripts from the repository root, e.g. ``python benchmarks/bench_svd.py``; they import this
module as ``from common import ...`` (the script's folder is on sys.path) or as
``benchmarks.common`` from the root.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import functools
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

__all__ = ["explicit_protocol", "implicit_protocol", "load_dataset", "data_dir", "machine_info",
           "machine_info_markdown", "format_table", "timed", "Timer", "add_common_args",
           "dataset_for", "QUICK_DATASET", "FULL_DATASET", "SEED"]

#: the protocols' fixed seed
SEED = 42
#: dataset of the recorded results, and of ``--quick`` smoke runs
FULL_DATASET = "1m"
QUICK_DATASET = "100k"

_REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------- data
def data_dir(explicit: Optional[str] = None) -> Optional[str]:
    """Where the MovieLens files are: the argument, else $MFREC_DATA_DIR, else ``../shared/data``
    beside the repository when it exists, else None (mfrec's own resolution then applies)."""
    if explicit:
        return str(explicit)
    env = os.environ.get("MFREC_DATA_DIR")
    if env:
        return env
    shared = _REPO.parent / "shared" / "data"
    return str(shared) if shared.is_dir() else None


@functools.lru_cache(maxsize=4)
def load_dataset(name: str = FULL_DATASET, data_dir_: Optional[str] = None):
    """``mfrec.datasets.load_movielens(name)`` (explicit ratings), cached per process so a script
    that runs both protocols reads the files once."""
    from mfrec.datasets import load_movielens  # the package's loader, never a private copy
    return load_movielens(name, data_dir=data_dir(data_dir_))


def explicit_protocol(seed: int = SEED, *, dataset: str = FULL_DATASET, data_dir: Optional[str] = None):
    """The explicit benchmark split: ML-1M ratings, ``random_split(test_fraction=0.1, seed)``.

    Returns mfrec's ``Split`` (``train, test = split``; test uses train's id maps)."""
    from mfrec.data.split import random_split
    return random_split(load_dataset(dataset, data_dir), test_fraction=0.1, seed=seed)


def implicit_protocol(seed: int = SEED, *, dataset: str = FULL_DATASET, data_dir: Optional[str] = None):
    """The implicit benchmark split: ML-1M ratings >= 4 as positives (value 1),
    ``per_user_split(test_fraction=0.2, seed)``. Returns mfrec's ``Split``."""
    from mfrec.data.split import per_user_split
    implicit = load_dataset(dataset, data_dir).to_implicit(threshold=4)
    return per_user_split(implicit, test_fraction=0.2, seed=seed)


# ---------------------------------------------------------------------- machine
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(module: str) -> str:
    try:
        mod = __import__(module)
    except ImportError:
        return "not installed"
    return getattr(mod, "__version__", "unknown")


def machine_info() -> dict:
    """Facts to print beside every timing: date (UTC), cores, CPU model, load average,
    Python / NumPy / SciPy / numba / mfrec versions, and the BLAS thread settings in force."""
    try:
        load = tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        load = None
    info = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "load_avg_1_5_15": load,
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "numba": _version("numba"),
        "mfrec": _version("mfrec"),
    }
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_CORETYPE"):
        if os.environ.get(var):
            info[var] = os.environ[var]
    return info


def machine_info_markdown(info: Optional[dict] = None) -> str:
    """:func:`machine_info` as one Markdown line, for results files."""
    info = info or machine_info()
    load = info.get("load_avg_1_5_15")
    parts = [info["date"], f"{info['nproc']} cores ({info['cpu']})",
             f"load average {load[0]}, {load[1]}, {load[2]}" if load else "load average unknown",
             f"Python {info['python']}", f"NumPy {info['numpy']}", f"SciPy {info['scipy']}",
             f"numba {info['numba']}", f"mfrec {info['mfrec']}"]
    parts += [f"{k}={v}" for k, v in info.items() if k.isupper()]
    return "; ".join(parts)


# ---------------------------------------------------------------------- timing
def timed(fn: Callable, *args, **kwargs) -> tuple[Any, float]:
    """Call ``fn(*args, **kwargs)``; return ``(result, wall seconds)`` (``time.perf_counter``)."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds`` (wall clock, perf_counter)."""

    def __enter__(self) -> "Timer":
        self.seconds = float("nan")
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start


# ---------------------------------------------------------------------- tables
def _cell(value, floatfmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return "nan" if value != value else format(value, floatfmt)
    return str(value).replace("|", "\\|")


def format_table(rows: Iterable[dict], columns: Sequence, *, floatfmt: str = ".4f") -> str:
    """A Markdown table of ``rows`` (dicts). ``columns`` lists keys, or ``(key, header)`` pairs,
    or ``(key, header, format)`` triples (format spec for floats, e.g. ".1f"). A missing key or
    None prints "-"; floats use ``floatfmt`` unless the column gives its own."""
    specs = []
    for col in columns:
        if isinstance(col, str):
            specs.append((col, col, floatfmt))
        elif len(col) == 2:
            specs.append((col[0], col[1], floatfmt))
        else:
            specs.append(tuple(col))
    lines = ["| " + " | ".join(h for _, h, _ in specs) + " |",
             "|" + "|".join("---" for _ in specs) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(key), fmt) for key, _, fmt in specs) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------- command line
def add_common_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options every benchmark script shares:

    --quick       smoke run on ML-100K (and, by each script's choice, fewer epochs); never recorded
    --threads N   threads for mfrec and every anchor (0 = all cores; default 0)
    --seed S      protocol seed (default 42: the recorded protocol)
    --data-dir D  MovieLens folder (default: $MFREC_DATA_DIR, else ../shared/data)
    --no-anchors  run mfrec only
    """
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run on ML-{QUICK_DATASET.upper()} (not for recorded results)")
    parser.add_argument("--threads", type=int, default=0, help="threads for every library (0 = all cores)")
    parser.add_argument("--seed", type=int, default=SEED, help="protocol seed (default %(default)s)")
    parser.add_argument("--data-dir", default=None, help="MovieLens data folder")
    parser.add_argument("--no-anchors", action="store_true", help="skip the anchor libraries")
    return parser


def dataset_for(args) -> str:
    """The dataset a parsed command line asks for: ML-100K with --quick, else ML-1M."""
    return QUICK_DATASET if getattr(args, "quick", False) else FULL_DATASET

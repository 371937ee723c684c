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

Run scripts from the repository root as modules of the ``benchmarks`` package, e.g.
``python -m benchmarks.bench_svd``; they import this module as ``from .common import ...``.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

from mfrec.evaluation.names import table_metric_names

from .anchors import anchor_versions, evaluate_vectors

__all__ = ["explicit_protocol", "implicit_protocol", "load_dataset", "data_dir", "machine_info",
           "machine_info_markdown", "format_table", "timed", "Timer", "add_common_args",
           "dataset_for", "QUICK_DATASET", "FULL_DATASET", "SEED", "FILMS", "METRICS", "data_label",
           "implicit_run_header", "available_anchors", "describe_config", "load_grid", "tuning_split",
           "run_tuning_grid", "ranking_row", "popularity_row", "anchor_row", "alternating_fits",
           "timing_row", "fresh_process_seconds", "compile_cost_section", "similar_movies",
           "command_line", "results_markdown", "write_results", "benchmark_parser", "protocol_split",
           "similar_movies_section", "write_benchmark_results", "finish_benchmark"]

#: the protocols' fixed seed
SEED = 42
#: dataset of the recorded results, and of ``--quick`` smoke runs
FULL_DATASET = "1m"
QUICK_DATASET = "100k"

_REPO = Path(__file__).resolve().parent.parent

#: MovieLens ids of the five probe films whose neighbours the benchmarks print
FILMS = {1: "Toy Story", 260: "Star Wars", 858: "The Godfather", 1240: "The Terminator", 1721: "Titanic"}

#: the ranking metrics (@10) in the implicit benchmarks' tables, in column order
METRICS = table_metric_names(10)


# ---------------------------------------------------------------------- data
def data_dir(explicit: Optional[str] = None) -> Optional[str]:
    """Where the MovieLens files are: the argument, else $MFREC_DATA_DIR, else ``../shared/data``
    beside the repository when it exists, else None (mfrec's own resolution then applies)."""
    from mfrec.data.locations import env_data_dir
    if explicit:
        return str(explicit)
    env = env_data_dir()
    if env is not None:
        return str(env)
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

    def __enter__(self) -> Timer:
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


def benchmark_parser(doc: str, *, grid: bool = True) -> argparse.ArgumentParser:
    """The command line every bench_<model>.py script starts from: described by the first
    paragraph of ``doc`` (the script's docstring), with :func:`add_common_args` and

    --tune        run the tuning grid on a validation split of train instead of the benchmark
    --grid FILE   (when ``grid``) with --tune, a JSON-lines file of configurations (:func:`load_grid`)
    --preset P    the tuned preset to benchmark (default ml-1m)
    --output F    also write the results as Markdown to F

    The script adds its own options to the returned parser."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--tune", action="store_true", help="run the tuning grid on a validation split of train")
    if grid:
        parser.add_argument("--grid", help="with --tune: a JSON-lines file of configurations instead of TUNE_GRID")
    parser.add_argument("--preset", default="ml-1m", help="tuned preset to benchmark (default %(default)s)")
    parser.add_argument("--output", help="also write the results as Markdown to this file")
    return parser


def protocol_split(args, protocol: str):
    """The split a parsed command line asks for: ``protocol`` "explicit" or "implicit" (see
    :func:`explicit_protocol` / :func:`implicit_protocol`) with its --seed, --quick and --data-dir."""
    make = {"explicit": explicit_protocol, "implicit": implicit_protocol}[protocol]
    return make(args.seed, dataset=dataset_for(args), data_dir=args.data_dir)


def data_label(args) -> str:
    """The dataset's name for a run's header: ML-1M, or ML-100K flagged as a --quick smoke run."""
    return "ML-100K (--quick, not a recorded result)" if getattr(args, "quick", False) else "ML-1M"


def implicit_run_header(train, test, args) -> list:
    """The two opening lines of an implicit-protocol benchmark (machine facts; data, split sizes
    and threads), printed at once and returned so the script can keep them for its results file."""
    out = [f"Machine: {machine_info_markdown()}",
           f"Data: {data_label(args)} ratings >= 4, "
           f"per-user 80/20 split seed {args.seed}: train {train.nnz:,} positives "
           f"({train.n_users:,} users x {train.n_items:,} items), test {test.nnz:,}; threads={args.threads}"]
    print("\n".join(out), flush=True)
    return out


def available_anchors(args, names: Sequence[str]) -> dict:
    """``{name: version or None}`` for the anchor libraries ``names`` (empty with --no-anchors);
    prints an ``[anchor skipped]`` line for each one not installed in this environment."""
    if getattr(args, "no_anchors", False):
        return {}
    versions = anchor_versions()
    for name in names:
        if versions.get(name) is None:
            print(f"[anchor skipped] {name} is not installed in this environment")
    return versions


# ---------------------------------------------------------------------- tuning
def describe_config(config: dict, empty: str = "") -> str:
    """A tuning configuration as ``"key=value, ..."`` (``empty`` for an empty one)."""
    return ", ".join(f"{k}={v}" for k, v in config.items()) or empty


def load_grid(path) -> list:
    """A tuning grid from a JSON-lines file: one configuration (a JSON object) per line; blank
    lines and lines starting with ``#`` are skipped."""
    return [json.loads(line) for line in Path(path).read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def tuning_split(train, seed: int = 7, what: str = "tuning"):
    """The validation split of the implicit benchmarks' tuning runs: ``per_user_split(train,
    test_fraction=0.2, seed)``, carved from the TRAINING set so the test set is never looked at.
    Prints what it made (``what`` names the run) and returns ``(fit_train, valid)``."""
    from mfrec.data.split import per_user_split
    fit_train, valid = per_user_split(train, test_fraction=0.2, seed=seed)
    print(f"{what} on {fit_train} / validation {valid} (carved from the training set, seed {seed})", flush=True)
    return fit_train, valid


def run_tuning_grid(grid: Iterable, evaluate: Callable[[Any], dict]) -> list:
    """``evaluate(config)`` for every configuration of ``grid``, in order; each returned row is
    printed as one JSON line as soon as it is made (long grids show progress). Returns the rows."""
    rows = []
    for config in grid:
        rows.append(evaluate(config))
        print(json.dumps(rows[-1]), flush=True)
    return rows


# ---------------------------------------------------------------------- rows of the ranking tables
def ranking_row(label: str, scores: dict, seconds: float) -> dict:
    """A row of an implicit benchmark's metrics table: the model's label, :data:`METRICS` from
    ``scores`` (``evaluate_ranking`` or ``evaluate_vectors`` output) and the fit seconds."""
    return {"model": label, **{m: scores.get(m) for m in METRICS}, "fit_s": seconds}


def popularity_row(train, test) -> dict:
    """The popularity baseline's row: ``Popularity`` fitted (and timed) on train, scored on test."""
    from mfrec.evaluation import evaluate_ranking
    from mfrec.models.popularity import Popularity
    pop = Popularity()
    with Timer() as timer:
        pop.fit(train)
    return ranking_row("popularity", evaluate_ranking(pop, test, k=10), timer.seconds)


def anchor_row(label: str, vectors: tuple, train, test, threads: int, seconds: Optional[float] = None) -> dict:
    """The row of an anchor that returned ``(user_vectors, item_vectors, fit_seconds)`` (the
    adapters of benchmarks/anchors.py): its vectors scored by mfrec's metric code on the same
    split (``evaluate_vectors``, @10); ``seconds`` replaces the fit time (e.g. a median)."""
    users, items, fit_s = vectors
    scores = evaluate_vectors(users, items, train, test, k=10, threads=threads)
    return ranking_row(label, scores, fit_s if seconds is None else seconds)


# ---------------------------------------------------------------------- fit-time comparisons
def alternating_fits(make_model: Callable[[int], Any], train, repeats: int,
                     fit_anchor: Optional[Callable[[int], tuple]] = None) -> tuple:
    """Time ``max(1, repeats)`` mfrec fits, each followed by one anchor fit, so that a change in
    the machine's load hits both libraries alike.

    ``make_model(rep)`` gives the model of repetition ``rep`` (made outside the timed region);
    only ``model.fit(train)`` is timed. ``fit_anchor(rep)`` (optional) fits the anchor and returns
    ``(user_vectors, item_vectors, fit_seconds)`` as the anchors.py adapters do (they time their
    own fit). Returns ``(mfrec_seconds, anchor_seconds, last_anchor_result)`` (lists; the anchor
    ones empty / None without ``fit_anchor``)."""
    times, anchor_times, anchor_result = [], [], None
    for rep in range(max(1, repeats)):
        model = make_model(rep)
        with Timer() as timer:
            model.fit(train)
        times.append(timer.seconds)
        if fit_anchor is not None:
            anchor_result = fit_anchor(rep)
            anchor_times.append(anchor_result[2])
    return times, anchor_times, anchor_result


def timing_row(config: str, times: Sequence[float], anchor_times: Sequence[float] = (), *, anchor: str,
               extra: Optional[dict] = None, suffix: str = "_s", fmt: str = ".2f", sep: str = ", ") -> dict:
    """A row of a fit-time table: ``config``; mfrec's median (key ``"mfrec" + suffix``) and every
    time (``mfrec_all``, formatted with ``fmt``, joined by ``sep``); then ``extra``; then, when
    ``anchor_times`` is not empty, the same two for the anchor (keys named by ``anchor``) and
    ``ratio`` = mfrec median / anchor median."""
    row = {"config": config, f"mfrec{suffix}": statistics.median(times),
           "mfrec_all": sep.join(format(t, fmt) for t in times), **(extra or {})}
    if anchor_times:
        row.update({f"{anchor}{suffix}": statistics.median(anchor_times),
                    f"{anchor}_all": sep.join(format(t, fmt) for t in anchor_times),
                    "ratio": statistics.median(times) / statistics.median(anchor_times)})
    return row


# ---------------------------------------------------------------------- numba first-call cost
def fresh_process_seconds(snippet: str, numba_cache_dir: str) -> list:
    """Run ``snippet`` (Python source that prints numbers, e.g. seconds it measured) in a fresh
    interpreter with ``NUMBA_CACHE_DIR=numba_cache_dir``; return the printed numbers as floats."""
    result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True,
                            env={**os.environ, "NUMBA_CACHE_DIR": numba_cache_dir}, check=True)
    return [float(x) for x in result.stdout.split()]


def compile_cost_section(rows: Sequence[dict]) -> list:
    """The Markdown lines of the "numba first-call cost" section (rows of ``case`` / ``seconds``)."""
    return ["", "### numba first-call cost (fresh processes)", "",
            format_table(rows, ["case", ("seconds", "seconds", ".2f")])]


# ---------------------------------------------------------------------- sanity output
def similar_movies(model, n: int = 10, films: Optional[dict] = None) -> str:
    """The ``n`` most similar movies (``model.similar_items``, its default similarity) of each
    probe film (:data:`FILMS` by default), one Markdown paragraph per film with the scores."""
    inter = model.interactions_
    lines = []
    for movie, name in (FILMS if films is None else films).items():
        if movie not in inter.item_ids:
            lines.append(f"- {name} ({movie}): not in the training data")
            continue
        ids, scores = model.similar_items(movie, n=n)
        titles = inter.item_titles(inter.item_ids.indices(list(ids)))
        query = inter.item_titles(inter.item_ids.indices([movie]))[0]
        lines.append(f"**{query}** ({movie}): " + "; ".join(f"{t} ({s:.2f})" for t, s in zip(titles, scores)))
    return "\n\n".join(lines)


def similar_movies_section(model, what: str) -> list:
    """The Markdown lines of the "10 most similar movies" section of a results file; ``what``
    names the model in the heading (e.g. ``"ALS.preset('ml-1m')"``). The last line is the list."""
    return ["", f"### 10 most similar movies ({what}, default similarity)", "", similar_movies(model)]


# ---------------------------------------------------------------------- results files
def command_line() -> str:
    """This run's command as it was typed (from the repository root), for results files:
    ``python -m benchmarks.bench_x ARGS`` (the scripts are modules of the ``benchmarks`` package)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    script = f"-m {spec.name}" if spec is not None else Path(sys.argv[0]).as_posix()
    return "python " + " ".join([script] + sys.argv[1:])


def results_markdown(title: str, out: Sequence[str], preamble: Sequence[str] = ()) -> str:
    """A results file: ``# title``, the command and interpreter, each ``preamble`` line, then the
    lines ``out`` the run printed; one blank line between the header paragraphs."""
    head = [f"# {title}", "", f"Command: `{command_line()}` (interpreter: {sys.executable})", ""]
    for line in preamble:
        head += [line, ""]
    return "\n".join([*head, *out, ""])


def write_results(path, text: str, notes_marker: Optional[str] = None) -> None:
    """Write ``text`` to ``path`` and say so. With ``notes_marker``, the marker line is appended and
    whatever followed it in the existing file (hand-written notes) is kept."""
    target = Path(path)
    if notes_marker is not None:
        kept = ""
        if target.exists() and notes_marker in target.read_text():
            kept = target.read_text().split(notes_marker, 1)[1]
        text = text + "\n" + notes_marker + kept
    target.write_text(text)
    print(f"wrote {path}")


def write_benchmark_results(args, model: str, protocol: str, out: Sequence[str], presets: Optional[dict] = None,
                            notes_marker: Optional[str] = None) -> None:
    """With --output, write a benchmark's results file (nothing otherwise): heading
    ``# <model> benchmark (<protocol> protocol)`` (``(quick)`` with --quick), the command, the
    --preset's parameters when ``presets`` (the model module's PRESETS) is given, then ``out``;
    ``notes_marker`` as in :func:`write_results`."""
    if not args.output:
        return
    preamble = [] if presets is None else [f"Preset `{args.preset}`: `{json.dumps(presets.get(args.preset))}`"]
    title = f"{model} benchmark ({'quick' if args.quick else protocol + ' protocol'})"
    write_results(args.output, results_markdown(title, out, preamble=preamble), notes_marker=notes_marker)


def finish_benchmark(args, out: list, model: str, protocol: str, preset_model, presets: Optional[dict] = None,
                     notes_marker: Optional[str] = None) -> int:
    """The close of a benchmark run: append the "10 most similar movies" section of
    ``preset_model`` (headed ``<model>.preset(<--preset>)``) to ``out`` and print it, then
    :func:`write_benchmark_results`. Returns 0, the script's exit status."""
    out += similar_movies_section(preset_model, f"{model}.preset({args.preset!r})")
    print(out[-1], flush=True)
    write_benchmark_results(args, model, protocol, out, presets=presets, notes_marker=notes_marker)
    return 0

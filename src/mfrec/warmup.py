"""Compile mfrec's kernels before the first real job: ``mfrec warmup``, or :func:`warm_up`.

numba compiles each kernel the first time a process calls it and keeps the machine code in its
on-disk cache, from which later processes load it in milliseconds. A first job therefore waits
for the compiles: about 10 s for all five models on a 2-core machine
(benchmarks/results/first_use.md). Run :func:`warm_up` once after installing, or while building
an image, and the jobs that follow start warm. They must use the same cache: the same
``NUMBA_CACHE_DIR``, or the default, which is next to the installed sources (or in the user's cache
folder when those are read-only).

What it runs is each model's small job on a planted data set (:func:`mfrec.data.planted.planted_data`):
fit briefly, recommend for one user and for a batch, similar items, ``evaluate_ranking``, and
``evaluate_ratings`` for the explicit models. These are the calls and argument types of a real
job, so the cache holds what a real job loads. numba compiles one function at a time in a
process. The first pass therefore runs in several fresh processes at once: one runs the
evaluation and retrieval job (popularity), and one per model runs its fit. A last pass runs every
model's whole job in one process, to compile what remains and to check that nothing is missing.

    mfrec warmup [--model NAME ...] [--processes N]
    python -m mfrec.warmup [MODEL ...]      # the same, without the cli extra
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Optional

from .errors import InvalidParameterError, MfrecError
from .models import catalog

#: brief training runs: every kernel of a fit is called, but only once or twice
BRIEF_PARAMS = {"svd": {"epochs": 1}, "als": {"iterations": 1}, "bpr": {"epochs": 1}, "warp": {"epochs": 1}}


def model_job(name: str, *, fit_only: bool = False) -> None:
    """Run model ``name``'s small job in this process (compiling what it calls, once per cache)."""
    from .data import per_user_split
    from .data.planted import planted_data
    from .evaluation import evaluate_ranking, evaluate_ratings

    model = catalog.make_model(name, params=BRIEF_PARAMS.get(name, {}))
    explicit = model.feedback == "explicit"
    train, test = per_user_split(planted_data(explicit=explicit), test_fraction=0.2, seed=0)
    model.fit(train)
    if fit_only:
        return
    users = list(train.user_ids.raw)
    model.recommend(users[0], n=5)
    model.recommend(users, n=5)
    model.similar_items(train.item_ids.raw[0], n=5)
    if explicit:
        evaluate_ratings(model, test)
    evaluate_ranking(model, test, k=5)


def _run_in_fresh_process(names: list, fit_only: bool) -> float:
    """Run the jobs of ``names`` in a new interpreter (same environment, same numba cache); wall seconds."""
    start = time.perf_counter()
    command = [sys.executable, "-m", "mfrec.warmup", "--job", *(["--fit-only"] if fit_only else []), *names]
    result = subprocess.run(command, capture_output=True, text=True)  # inherits the environment
    if result.returncode != 0:
        raise RuntimeError(f"warm-up of {', '.join(names)} failed in {' '.join(command)}:\n{result.stderr}")
    return time.perf_counter() - start


def warm_up(models: Optional[Iterable[str]] = None, processes: Optional[int] = None) -> dict:
    """Compile the kernels that the jobs of ``models`` use into numba's on-disk cache.

    Parameters
    ----------
    models : iterable of str or None, default None
        Model names (:data:`mfrec.models.catalog.MODELS`); None means all of them.
    processes : int or None, default None
        How many fresh processes compile at once in the first pass (None: one per CPU core, at
        most one per job; 1: everything in one process, one after the other).

    Returns
    -------
    dict
        Wall seconds: ``"first pass"`` (the processes run at once), ``"last pass"`` (every job in
        one process), ``"total"``.

    Raises
    ------
    UnknownModelError
        For a name that is not a model.
    InvalidParameterError
        For ``processes`` < 1.
    """
    if processes is not None and int(processes) < 1:
        raise InvalidParameterError(f"processes must be at least 1, got {processes}")
    names = list(catalog.MODELS) if models is None else list(models)
    for name in names:
        catalog.model_class(name)  # an unknown name fails here, before any process starts
    cores = os.cpu_count() or 1
    start = time.perf_counter()
    # first pass: the evaluation and retrieval kernels in one process, each model's fit in another
    jobs = [(["popularity"], False)] + [([name], True) for name in names if name != "popularity"]
    width = max(1, min(len(jobs), cores if processes is None else int(processes)))
    if width > 1:
        with ThreadPoolExecutor(max_workers=width) as pool:
            list(pool.map(lambda job: _run_in_fresh_process(*job), jobs))
    first = time.perf_counter() - start
    _run_in_fresh_process(names, fit_only=False)   # the rest, and a check that every job runs
    total = time.perf_counter() - start
    return {"first pass": first, "last pass": total - first, "total": total}


def main(argv: Optional[list] = None) -> None:
    """``python -m mfrec.warmup [MODEL ...]``: :func:`warm_up`, then a line of timings.

    With ``--job [--fit-only] MODEL ...`` (how warm_up starts its processes) it runs those jobs in
    this process instead.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if "--job" in args:
        fit_only = "--fit-only" in args
        for name in (a for a in args if not a.startswith("--")):
            model_job(name, fit_only=fit_only)
        return
    try:
        seconds = warm_up(args or None)
    except MfrecError as exc:  # a user mistake (an unknown model): one line, no traceback
        sys.exit(f"error: {exc}")
    print("compiled in {total:.1f} s (first pass {first pass:.1f} s, last pass {last pass:.1f} s)".format_map(seconds))


if __name__ == "__main__":
    main()

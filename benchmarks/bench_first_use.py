"""First use: what a new user waits for numba to compile (issue 14, "first use").

The job of the issue: each model fitted briefly on ML-100K, then asked for recommendations, similar
items and an evaluation, in one fresh interpreter. It runs twice per round in fresh processes that
share one numba cache folder: first with the folder empty (cold: every kernel is compiled and
written to the cache), then again (warm: every kernel is loaded from it). Cold minus warm is the
compile cost; each step's own cold minus warm says which kernels cost it (a step pays for the
kernels it is the first to call).

Usage (from the repository root)::

    MFREC_DATA_DIR=../shared/data python -m benchmarks.bench_first_use [--rounds 2] [--write]

``--write`` records the run in benchmarks/results/first_use.md. ``--warmup`` also times ``python -m
mfrec.warmup`` into an empty cache per round, then the job after it (whose cold - warm should be
~0). ``--profile`` runs the job once more, cold, with numba's compile events recorded, and lists
what each kernel cost to compile: its own time (typing, lowering and LLVM for that function
alone) and its inclusive time (with the callees it was the first to need), and how many
signatures it was compiled for (more than one is a specialization a fixed type at the boundary
would avoid).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import format_table, machine_info_markdown, results_markdown, write_results

RESULTS = Path(__file__).resolve().parent / "results" / "first_use.md"
#: what follows this line in RESULTS (hand-written history) is kept by --write
NOTES_MARKER = "<!-- notes below are kept by --write -->"

#: the job, as a user would write it; prints one JSON object {step: seconds}
JOB = r"""
import json, time
steps = {}
start = time.perf_counter()
def step(name):
    global start
    now = time.perf_counter()
    steps[name] = now - start
    start = now
import mfrec
from mfrec.data import per_user_split, random_split
from mfrec.datasets import load_dataset
from mfrec.evaluation import evaluate_ranking, evaluate_ratings
step("import mfrec")
ratings = load_dataset("ml-100k")
implicit = ratings.to_implicit(threshold=4)
train, test = per_user_split(implicit, test_fraction=0.2, seed=0)
rtrain, rtest = random_split(ratings, test_fraction=0.1, seed=0)
step("load ML-100K, split")
brief = {"popularity": {}, "svd": {"epochs": 2}, "als": {"iterations": 2}, "bpr": {"epochs": 2},
         "warp": {"epochs": 2}}
from mfrec.models.catalog import make_model
for name, params in brief.items():
    model = make_model(name, params={**params, **({"seed": 0} if name != "popularity" else {})})
    explicit = model.feedback == "explicit"
    model.fit(rtrain if explicit else train)
    step(f"{name}: fit")
    users = (rtrain if explicit else train).user_ids.raw[:3]
    model.recommend(users[0], n=10)
    model.recommend(list(users), n=10)
    model.similar_items(implicit.item_ids.raw[0], n=10)
    step(f"{name}: recommend, similar")
    if explicit:
        evaluate_ratings(model, rtest)
    evaluate_ranking(model, rtest if explicit else test, k=10)
    step(f"{name}: evaluate")
print(json.dumps(steps))
"""


#: prepended to JOB by --profile: numba's compile events, per function, printed as JSON at exit
PROFILER = r"""
import atexit, json, sys, time
from numba.core import event
_open, _costs = [], {}
class _Compiles(event.Listener):
    def on_start(self, ev):
        _open.append([time.perf_counter(), 0.0])
    def on_end(self, ev):
        began, in_callees = _open.pop()
        spent = time.perf_counter() - began
        fn = ev.data["dispatcher"].py_func
        cost = _costs.setdefault(f"{fn.__module__}.{fn.__qualname__}", [0.0, 0.0, 0])
        cost[0] += spent - in_callees
        cost[1] += spent
        cost[2] += 1
        if _open:
            _open[-1][1] += spent
event.register("numba:compile", _Compiles())
atexit.register(lambda: print("COMPILES " + json.dumps(_costs)))
"""


def run_job(cache_dir: str, profile: bool = False) -> tuple[float, dict]:
    """(wall seconds of the whole fresh process, {step: seconds}) with NUMBA_CACHE_DIR=cache_dir.

    With ``profile``, the steps dict has one more key, "compiles": {function: [own s, inclusive s,
    signatures]}.
    """
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", (PROFILER if profile else "") + JOB], capture_output=True, text=True,
                            env={**os.environ, "NUMBA_CACHE_DIR": cache_dir})
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"the first-use job failed:\n{result.stderr}")
    lines = result.stdout.strip().splitlines()
    if profile:
        steps = json.loads(lines[-2])
        steps["compiles"] = json.loads(lines[-1].removeprefix("COMPILES "))
        return wall, steps
    return wall, json.loads(lines[-1])


def time_warmup_then_job(warm_wall: float) -> tuple[float, float]:
    """(wall seconds of ``python -m mfrec.warmup`` into a new empty cache, the job's wall after it - warm_wall)."""
    with tempfile.TemporaryDirectory(prefix="mfrec-numba-") as cache:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "mfrec.warmup"], capture_output=True, text=True,
                              env={**os.environ, "NUMBA_CACHE_DIR": cache})
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"mfrec warmup failed:\n{done.stderr}")
        job_wall, _ = run_job(cache)
    return seconds, job_wall - warm_wall


def compile_profile(cache_dir: str) -> list[str]:
    """Markdown lines: the compile cost of each mfrec kernel, and numba's own heaviest functions, in a cold run."""
    _, steps = run_job(cache_dir, profile=True)
    costs = steps.pop("compiles")
    total = sum(own for own, _, _ in costs.values())
    ranked = sorted(costs.items(), key=lambda kv: -kv[1][0])
    mine = [{"kernel": name.removeprefix("mfrec.kernels."), "own s": own, "inclusive s": incl, "signatures": n}
            for name, (own, incl, n) in ranked if name.startswith("mfrec.")]
    numba_own = sum(own for name, (own, _, _) in costs.items() if not name.startswith("mfrec."))
    columns = ["kernel", ("own s", "own s", ".2f"), ("inclusive s", "inclusive s", ".2f"), "signatures"]
    return [
        "## Compile cost per kernel (`--profile`, one more cold run)",
        "",
        f"numba's compile events: {total:.1f} s in all; {total - numba_own:.1f} s in mfrec's kernels' own "
        f"compiles, {numba_own:.1f} s in numba's library functions they call (np.empty, min, sorting, ...), "
        "each compiled once per process and signature.",
        "",
        format_table(mine, columns),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="cold + warm pairs, each in a new empty cache")
    parser.add_argument("--write", action="store_true", help=f"record the run in {RESULTS}")
    parser.add_argument("--profile", action="store_true", help="list each kernel's compile cost (one more cold run)")
    parser.add_argument("--warmup", action="store_true", help="also time `python -m mfrec.warmup` and the job after it")
    args = parser.parse_args()
    if not os.environ.get("MFREC_DATA_DIR"):
        print("note: MFREC_DATA_DIR is not set; ML-100K is read from mfrec's cache (or downloaded)")

    rounds, warmups = [], []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="mfrec-numba-") as cache:
            cold_wall, cold = run_job(cache)
            warm_wall, warm = run_job(cache)
        rounds.append((cold_wall, cold, warm_wall, warm))
        print(f"round {r + 1}: cold {cold_wall:.1f} s, warm {warm_wall:.1f} s, "
              f"compile cost {cold_wall - warm_wall:.1f} s", flush=True)
        if args.warmup:
            warmups.append(time_warmup_then_job(warm_wall))
            print(f"round {r + 1}: mfrec warmup {warmups[-1][0]:.1f} s, then the job's cold - warm "
                  f"{warmups[-1][1]:.2f} s", flush=True)

    best = min(rounds, key=lambda x: x[0] - x[2])
    cold_wall, cold, warm_wall, warm = best
    rows = [{"step": name, "cold s": cold[name], "warm s": warm[name], "cold - warm s": cold[name] - warm[name]}
            for name in cold]
    rows.append({"step": "whole process (wall, incl. interpreter start)", "cold s": cold_wall, "warm s": warm_wall,
                 "cold - warm s": cold_wall - warm_wall})
    out = [
        "The issue's small job (each model fitted briefly on ML-100K, then recommend, similar items and an "
        "evaluation) in fresh processes: cold = empty numba cache, warm = the cache the cold run wrote.",
        "",
        "Compile cost (cold - warm wall) per round: "
        + ", ".join(f"{c - w:.1f} s" for c, _, w, _ in rounds) + "; the table shows the round with the lowest.",
        "",
        format_table(rows, ["step", ("cold s", "cold s", ".2f"), ("warm s", "warm s", ".2f"),
                            ("cold - warm s", "cold - warm s", ".2f")]),
        "",
        "Target (issue 14): compile cost <= 5 s.",
        "",
        *(["With `--warmup`: `python -m mfrec.warmup` into an empty cache took "
           + ", ".join(f"{w:.1f} s" for w, _ in warmups) + " per round; the job after it, cold - warm: "
           + ", ".join(f"{c:.2f} s" for _, c in warmups) + " (the job's warm wall of the same round).", ""]
          if warmups else []),
        machine_info_markdown(),
    ]
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="mfrec-numba-") as cache:
            out += ["", *compile_profile(cache)]
    text = "\n".join(out)
    print(text)
    if args.write:
        write_results(RESULTS, results_markdown("First use: numba compile cost", out), notes_marker=NOTES_MARKER)
        print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()

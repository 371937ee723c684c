"""Benchmark of mfrec's biased SVD (SGD) on the explicit protocol, against Surprise's SVD.

Protocol (benchmarks/common.py): ML-1M ratings, random 90/10 split with seed 42, RMSE/MAE of the
test ratings from mfrec.evaluation. Rows:

* mfrec SVD at Surprise's default size (100 factors x 20 epochs, other parameters mfrec's
  defaults but ``ranking="rating"``, so that the fit does what Surprise's does: the SGD on the
  ratings, without the exposure ALS that the default ``ranking="blend"`` adds for top-N ranking)
  on one thread (the default: reproducible) and on all cores (Hogwild): the speed comparison;
  ``SVD.preset("surprise")`` (Surprise's hyperparameters exactly, ``ranking="rating"``); mfrec's
  defaults (their fit times include the exposure ALS);
* mfrec ``SVD.preset("ml-1m")``: the tuned preset (chosen with ``--tune``, see below);
* Surprise's SVD with its defaults (same 100 factors x 20 epochs) and tuned as quoted in issue 3
  (200 factors, 60 epochs, lr 0.005, reg 0.05), when Surprise is importable
  (run with /work/anchors-venv/bin/python).

It also times numba's first-call cost (compiling the kernels into an empty cache, and loading
them from the cache) in fresh subprocesses, and prints the 10 most similar movies (cosine of the
preset model's item factors) for five well-known films.

``--tune`` instead runs the tuning grid on a validation split carved from the TRAINING set
(random 10% of train, seed 2024); the test set is never looked at. Every configuration records
its validation RMSE after every epoch, so one run also chooses the number of epochs.

Usage (from the repository root)::

    /work/anchors-venv/bin/python -m benchmarks.bench_svd --output benchmarks/results/svd.md
    .venv/bin/python -m benchmarks.bench_svd --tune
    .venv/bin/python -m benchmarks.bench_svd --quick --no-anchors      # smoke run on ML-100K
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
import textwrap

import numpy as np

from .common import (Timer, benchmark_parser, compile_cost_section, data_label, describe_config,
                    finish_benchmark, format_table, fresh_process_seconds, machine_info_markdown,
                    protocol_split)

from mfrec.data.split import random_split
from mfrec.evaluation import evaluate_ratings
from mfrec.models.svd import SVD

#: --output keeps whatever follows this line in an existing results file (tuning notes)
NOTES_MARKER = "<!-- notes: everything below this line is kept when bench_svd.py rewrites the file -->"

#: the tuning runs, in the order they were made (run with --tune): each is fitted once with the
#: validation RMSE recorded after every epoch; every parameter is explicit (the defaults changed since)
TUNE_GRID = [
    dict(factors=100, epochs=20, learning_rate=0.005, regularization=0.02, bias_learning_rate=None,
         bias_regularization=None, lr_decay=1.0, init_std=0.1, shuffle='ratings'),
    dict(factors=100, epochs=60, learning_rate=0.005, regularization=0.05, bias_learning_rate=None,
         bias_regularization=None, lr_decay=1.0, init_std=0.1, shuffle='ratings'),
    dict(factors=200, epochs=60, learning_rate=0.005, regularization=0.05, bias_learning_rate=None,
         bias_regularization=None, lr_decay=1.0, init_std=0.1, shuffle='ratings'),
    dict(factors=200, epochs=80, learning_rate=0.005, regularization=0.08, bias_learning_rate=None,
         bias_regularization=None, lr_decay=1.0, init_std=0.05, shuffle='ratings'),
    dict(factors=200, epochs=80, learning_rate=0.007, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.97, init_std=0.05, shuffle='ratings'),
    dict(factors=200, epochs=60, learning_rate=0.015, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.95, init_std=0.05, shuffle='ratings'),
    dict(factors=200, epochs=70, learning_rate=0.01, regularization=0.04, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.96, init_std=0.05, shuffle='ratings'),
    dict(factors=400, epochs=70, learning_rate=0.01, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.96, init_std=0.05, shuffle='ratings'),
    dict(factors=200, epochs=70, learning_rate=0.01, regularization=0.06, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.96, init_std=0.1, shuffle='ratings'),
    dict(factors=500, epochs=50, learning_rate=0.015, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.95, init_std=0.05, shuffle='ratings'),
    dict(factors=500, epochs=50, learning_rate=0.015, regularization=0.06, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.95, init_std=0.05, shuffle='ratings'),
    dict(factors=200, epochs=50, learning_rate=0.015, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.95, init_std=0.1, shuffle='ratings'),
    dict(factors=200, epochs=50, learning_rate=0.015, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.003, lr_decay=0.95, init_std=0.05, shuffle='ratings'),
    dict(factors=200, epochs=50, learning_rate=0.015, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.95, init_std=0.02, shuffle='ratings'),
    dict(factors=200, epochs=50, learning_rate=0.015, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.95, init_std=0.01, shuffle='ratings'),
    dict(factors=500, epochs=50, learning_rate=0.015, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.95, init_std=0.02, shuffle='ratings'),
    dict(factors=200, epochs=50, learning_rate=0.015, regularization=0.04, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.95, init_std=0.02, shuffle='ratings'),
    dict(factors=200, epochs=70, learning_rate=0.015, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.96, init_std=0.02, shuffle='ratings'),
    dict(factors=200, epochs=60, learning_rate=0.02, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.95, init_std=0.01, shuffle='ratings'),
    dict(factors=300, epochs=70, learning_rate=0.015, regularization=0.045, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.96, init_std=0.02, shuffle='ratings'),
    dict(factors=200, epochs=70, learning_rate=0.015, regularization=0.06, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.96, init_std=0.02, shuffle='ratings'),
    dict(factors=500, epochs=50, learning_rate=0.02, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.95, init_std=0.01, shuffle='ratings'),
    dict(factors=200, epochs=50, learning_rate=0.03, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.93, init_std=0.01, shuffle='ratings'),
    dict(factors=200, epochs=60, learning_rate=0.02, regularization=0.055, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.95, init_std=0.005, shuffle='ratings'),
    dict(factors=200, epochs=50, learning_rate=0.02, regularization=0.05, bias_learning_rate=0.005,
         bias_regularization=0.01, lr_decay=0.95, init_std=0.01, shuffle='ratings'),
    dict(factors=100, epochs=40, learning_rate=0.02, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.95, init_std=0.01, shuffle='ratings'),
    dict(factors=300, epochs=45, learning_rate=0.02, regularization=0.045, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.95, init_std=0.01, shuffle='ratings'),
    dict(factors=200, epochs=45, learning_rate=0.02, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.03, lr_decay=0.95, init_std=0.01, shuffle='ratings'),
    dict(factors=200, epochs=60, learning_rate=0.02, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.97, init_std=0.01, shuffle='ratings'),
    dict(factors=200, epochs=50, learning_rate=0.02, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.93, init_std=0.01, shuffle='ratings'),
    dict(factors=500, epochs=50, learning_rate=0.02, regularization=0.055, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.95, init_std=0.01, shuffle='ratings'),
    dict(factors=200, epochs=45, learning_rate=0.025, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.94, init_std=0.01, shuffle='ratings'),
    dict(factors=200, epochs=50, learning_rate=0.02, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.95, init_std=0.01, shuffle='users'),
    dict(factors=100, epochs=40, learning_rate=0.02, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.95, init_std=0.01, shuffle='users'),
    dict(factors=100, epochs=40, learning_rate=0.02, regularization=0.05, bias_learning_rate=None,
         bias_regularization=0.01, lr_decay=0.95, init_std=0.01, shuffle='ratings'),
]


def main(argv=None) -> int:
    parser = benchmark_parser(__doc__, grid=False)
    parser.add_argument("--configs", help="with --tune: comma-separated 0-based indices into TUNE_GRID (default all)")
    parser.add_argument("--no-surprise-tuned", action="store_true", help="skip the slow tuned Surprise row")
    parser.add_argument("--repeat", type=int, default=3,
                        help="fits per model in the 100 x 20 speed comparison; the fastest counts (default 3)")
    args = parser.parse_args(argv)
    split = protocol_split(args, "explicit")
    if args.tune:
        return tune(split.train, args)
    return benchmark(split, args)


# ---------------------------------------------------------------------- tuning
def tune(train, args) -> int:
    fit_train, valid = random_split(train, test_fraction=0.1, seed=2024)
    print(f"tuning on {fit_train} / validation {valid} (carved from the training set, seed 2024)")
    rows = []
    chosen = range(len(TUNE_GRID)) if not args.configs else [int(c) for c in args.configs.split(",")]
    for index in chosen:
        config = TUNE_GRID[index]
        params = {**config, "seed": 0, "threads": 1}
        if args.quick:
            params["epochs"] = min(params["epochs"], 5)
        with Timer() as timer:
            model = SVD(**params).fit(fit_train, validation=valid)
        curve = [h["val_rmse"] for h in model.loss_history_]
        best = int(np.argmin(curve))
        rows.append({"#": index, "config": describe_config(config), "best_epoch": best + 1,
                     "best_val_rmse": curve[best], "last_val_rmse": curve[-1], "fit_s": timer.seconds})
        print(json.dumps({**rows[-1], "curve_every_5": [round(c, 4) for c in curve[4::5]]}), flush=True)
    rows.sort(key=lambda r: r["best_val_rmse"])
    print(format_table(rows, ["#", "config", ("best_epoch", "best epoch"), ("best_val_rmse", "val RMSE (best epoch)"),
                              ("last_val_rmse", "val RMSE (last epoch)"), ("fit_s", "fit s", ".1f")]))
    return 0


# ---------------------------------------------------------------------- benchmark
def benchmark(split, args) -> int:
    train, test = split
    out = []
    out.append(f"Machine: {machine_info_markdown()}")
    out.append(f"Data: {data_label(args)}, "
               f"random 90/10 split seed {args.seed}: train {train.nnz:,} ratings, test {test.nnz:,}")
    print("\n".join(out), flush=True)

    compile_rows = compile_times()
    out += compile_cost_section(compile_rows)
    print(out[-1], flush=True)

    warm_up()  # load the cached kernels now: their one-off cost is reported above, not in fit times
    rows = []
    # Surprise's default size, for the speed comparison. ranking="rating": the same work as
    # Surprise's fit (the SGD on ratings); the default ranking="blend" also fits an exposure ALS
    # for top-N ranking, which Surprise does not have (its cost shows in the rows marked "blend").
    same_size = dict(factors=100, epochs=20, seed=0, ranking="rating")
    blend = "fit includes the exposure ALS of ranking='blend'"
    for label, model in [
        ("mfrec SVD(factors=100, epochs=20, ranking='rating'), threads=1", SVD(**same_size, threads=1)),
        ("mfrec SVD(factors=100, epochs=20, ranking='rating'), threads=0 (Hogwild)", SVD(**same_size, threads=0)),
        ("mfrec SVD.preset('surprise', ranking='rating') (Surprise's hyperparameters)",
         SVD.preset("surprise", seed=0, ranking="rating")),
        (f"mfrec SVD() defaults (100 f x 40 ep; {blend})", SVD(seed=0)),
        (f"mfrec SVD() defaults, threads=0 (Hogwild; {blend})", SVD(seed=0, threads=0)),
        (f"mfrec SVD.preset({args.preset!r}) ({blend})", SVD.preset(args.preset, seed=0)),
    ]:
        if args.quick:
            model.set_params(epochs=min(model.epochs, 5))
        rows.append(run_mfrec(label, model, train, test, repeat=args.repeat if "epochs=20" in label else 1))
        print({k: v for k, v in rows[-1].items() if k != "_model"}, flush=True)
    preset_model = rows[-1].pop("_model")
    for row in rows:
        row.pop("_model", None)

    anchors_ran = []
    if not args.no_anchors:
        from .anchors import run_anchor, surprise_svd
        configs = [("Surprise SVD defaults (100 f x 20 ep)", {}, args.repeat)]
        if not args.no_surprise_tuned:
            configs.append(("Surprise SVD tuned (200 f x 60 ep, lr 0.005, reg 0.05)",
                            dict(n_factors=200, n_epochs=60, lr_all=0.005, reg_all=0.05), 1))
        for label, params, repeat in configs:
            if args.quick:
                params = {**params, "n_epochs": 5}
            results = [run_anchor(surprise_svd, train, test, **params) for _ in range(repeat)]
            if results[0] is None:
                break
            anchors_ran.append(label)
            times = [r["fit_time"] for r in results]
            rows.append({"model": label, "rmse": results[-1]["rmse"], "mae": results[-1]["mae"], "fit_s": min(times),
                         "fit_runs": _runs(times)})
            if repeat > 1:  # CPU seconds of Surprise's fit alone (the adapter times wall clock only)
                rows[-1]["cpu_s"] = min(surprise_fit_cpu_seconds(train, **params) for _ in range(repeat))
            print(rows[-1], flush=True)
    out += ["", "### Test RMSE / MAE and fit time", "",
            format_table(rows, ["model", ("rmse", "RMSE"), ("mae", "MAE"), ("fit_s", "fit s (best)", ".2f"),
                                ("fit_runs", "fit s (each run)"), ("cpu_s", "fit CPU s (best)", ".2f")])]
    surprise_default = next((r for r in rows if r["model"].startswith("Surprise SVD defaults")), None)
    if surprise_default is not None:
        for row in rows[:2]:
            out.append(f"\n{row['model']}: fit time = {row['fit_s'] / surprise_default['fit_s']:.3f} x Surprise's "
                       f"(same factors and epochs, same run, fastest of {args.repeat} fits each)")
        cpu = rows[0].get("cpu_s"), surprise_default.get("cpu_s")
        if None not in cpu:
            out.append(f"\n{rows[0]['model']}: fit CPU time = {cpu[0] / cpu[1]:.3f} x Surprise's (one thread each; "
                       "CPU time is not inflated by other processes' share of the cores, wall time is)")
    out.append(f"\nAnchors that ran: {', '.join(anchors_ran) if anchors_ran else 'none'}")
    print("\n".join(out[-4:]), flush=True)

    # hand-written notes after NOTES_MARKER survive a rerun
    return finish_benchmark(args, out, "SVD", "explicit", preset_model, notes_marker=NOTES_MARKER)


def run_mfrec(label, model, train, test, repeat: int = 1) -> dict:
    """Fit ``repeat`` times (same seed); the fit time is the fastest, the scores the last fit's."""
    times, cpu = [], []
    for _ in range(repeat):
        start_cpu = time.process_time()
        with Timer() as timer:
            model.fit(train)
        times.append(timer.seconds)
        cpu.append(time.process_time() - start_cpu)
    scores = evaluate_ratings(model, test)
    return {"model": label, "rmse": scores["rmse"], "mae": scores["mae"], "fit_s": min(times),
            "fit_runs": _runs(times), "cpu_s": min(cpu), "_model": model}


def surprise_fit_cpu_seconds(train, **params) -> float:
    """CPU seconds (time.process_time) of surprise.SVD(**params).fit on the training ratings, built
    as benchmarks/anchors.surprise_svd builds them (dense indices as raw ids, same rating scale)."""
    import pandas as pd
    import surprise
    u, i, r = train.to_coo()
    scale = train.rating_scale or (float(r.min()), float(r.max()))
    frame = pd.DataFrame({"user": u.astype(np.int64), "item": i.astype(np.int64), "rating": r.astype(np.float64)})
    trainset = surprise.Dataset.load_from_df(frame, surprise.Reader(rating_scale=tuple(scale))).build_full_trainset()
    algo = surprise.SVD(**{"random_state": 42, **params})
    start = time.process_time()
    algo.fit(trainset)
    return time.process_time() - start


def _runs(times) -> str:
    return " / ".join(f"{t:.2f}" for t in times)


def warm_up() -> None:
    from mfrec.data.interactions import Interactions
    data = Interactions.from_arrays([0, 0, 1, 2], [0, 1, 1, 2], [4.0, 3.0, 5.0, 1.0])
    for threads in (1, 0):
        SVD(factors=2, epochs=1, seed=0, threads=threads).fit(data, validation=data)


COMPILE_SNIPPET = textwrap.dedent("""
    import time
    start = time.perf_counter()
    from mfrec.data.interactions import Interactions
    from mfrec.models.svd import SVD
    data = Interactions.from_arrays([0, 0, 1, 2], [0, 1, 1, 2], [4.0, 3.0, 5.0, 1.0])
    imported = time.perf_counter()
    SVD(factors=2, epochs=1, seed=0, threads=1).fit(data, validation=data)
    SVD(factors=2, epochs=1, seed=0, threads=0).fit(data)
    print(imported - start, time.perf_counter() - imported)
""")


def compile_times() -> list:
    """Seconds for a tiny first fit (both kernels + the predictor) in fresh interpreters:
    with an empty numba cache (compilation) and with the package's warm cache."""
    rows = []
    with tempfile.TemporaryDirectory() as cold:
        for case in ("first fit, empty numba cache (compile)", "first fit, cache filled by the previous run"):
            import_s, fit_s = fresh_process_seconds(COMPILE_SNIPPET, cold)
            rows.append({"case": case, "seconds": fit_s})
    rows.append({"case": "import mfrec.models.svd (last run)", "seconds": import_s})
    return rows


if __name__ == "__main__":
    sys.exit(main())

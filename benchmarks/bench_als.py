"""Benchmark of mfrec's implicit ALS on the implicit protocol, against the implicit library's ALS.

Protocol (benchmarks/common.py): ML-1M ratings >= 4 as positives, per-user 80/20 holdout with
seed 42, all-item ranking with training items excluded, metrics @10 from mfrec.evaluation.
Rows:

* item popularity (the baseline);
* mfrec ALS with the library defaults (64 factors x 15 iterations, HKV 2008 weighting);
* mfrec ``ALS.preset("ml-1m")``: the tuned preset (chosen with ``--tune``, see below);
* implicit's ALS with the same factors / iterations / threads as each mfrec row (its defaults
  otherwise: regularization 0.01, alpha 1), when implicit is importable (run with
  /work/anchors-venv/bin/python), for the fit-time comparison in the same run, and implicit's ALS
  tuned on the same validation split (``--tune-implicit``; IMPLICIT_TUNED).

Fit times are the median of ``--repeats`` fits (mfrec and implicit alternate, so a change in the
machine's load hits both). It also prints the 10 most similar movies (cosine of the preset
model's item factors) for five well-known films.

``--tune`` instead runs the tuning grid on a validation split carved from the TRAINING set
(per-user 20% of train, seed 7); the test set is never looked at. ``--tune-implicit`` does the
same for implicit's ALS (IMPLICIT_GRID).

Usage (from the repository root)::

    /work/anchors-venv/bin/python -m benchmarks.bench_als --output benchmarks/results/als.md
    .venv/bin/python -m benchmarks.bench_als --tune
    .venv/bin/python -m benchmarks.bench_als --quick --no-anchors      # smoke run on ML-100K
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import textwrap

from .common import (METRICS, Timer, alternating_fits, anchor_row, available_anchors,
                    benchmark_parser, command_line, compile_cost_section, describe_config, finish_benchmark,
                    format_table, fresh_process_seconds, implicit_run_header, load_grid, machine_info_markdown,
                    popularity_row, protocol_split, ranking_row, run_tuning_grid, timing_row, tuning_split,
                    write_results)

from mfrec.evaluation import evaluate_ranking
from mfrec.models.als import PRESETS, ALS

#: the tuning grid (--tune): every entry fitted once (seed 0) and scored on the validation split.
#: These are the coarse-to-fine rounds that chose the defaults and the preset (results in
#: benchmarks/results/als.md); "freq" = regularization_scaling="frequency".
_FREQ = dict(regularization_scaling="frequency")
TUNE_GRID = (
    # round 1: HKV weighting (alpha0 = 1, constant lambda) vs unobserved weight + frequency scaling
    [dict(factors=64, regularization=r, alpha=a) for r in (0.1, 1.0, 10.0, 50.0) for a in (1.0, 5.0)]
    + [dict(factors=64, regularization=r, alpha=1.0, unobserved_weight=w, **_FREQ)
       for w in (0.05, 0.2, 0.5) for r in (1e-3, 3e-3, 1e-2)]
    # round 2: stronger regularization
    + [dict(factors=64, regularization=r, alpha=a) for r in (100.0, 200.0) for a in (5.0, 10.0)]
    + [dict(factors=64, regularization=r, alpha=a, unobserved_weight=w, **_FREQ)
       for w in (0.2, 0.5, 1.0) for r in (0.03, 0.1) for a in (1.0, 3.0)]
    # round 3: 128 factors around the best of rounds 1-2
    + [dict(factors=128, regularization=100.0, alpha=10.0), dict(factors=128, regularization=50.0, alpha=5.0)]
    + [dict(factors=128, regularization=r, alpha=a, unobserved_weight=w, **_FREQ)
       for w, r, a in [(0.5, 0.01, 1.0), (0.5, 0.005, 1.0), (0.2, 0.03, 3.0), (0.2, 0.01, 1.0), (0.2, 0.02, 3.0),
                       (0.1, 0.03, 3.0), (0.1, 0.05, 5.0), (0.3, 0.02, 2.0)]]
    # round 4: finer, more iterations / CG steps, 256 factors
    + [dict(factors=128, regularization=r, alpha=a) for r, a in [(150.0, 15.0), (100.0, 15.0), (70.0, 10.0)]]
    + [dict(factors=128, regularization=r, alpha=a, unobserved_weight=w, **_FREQ)
       for w, r, a in [(0.3, 0.015, 2.0), (0.3, 0.02, 3.0), (0.4, 0.015, 1.5)]]
    + [dict(factors=128, regularization=0.02, alpha=2.0, unobserved_weight=0.3, iterations=25, **_FREQ),
       dict(factors=128, regularization=0.02, alpha=2.0, unobserved_weight=0.3, cg_steps=6, **_FREQ),
       dict(factors=256, regularization=0.02, alpha=2.0, unobserved_weight=0.3, **_FREQ),
       dict(factors=256, regularization=100.0, alpha=10.0)]
    # round 5: the best region at 64 factors (for the defaults), 128 with another seed, 192 factors
    + [dict(factors=64, regularization=r, alpha=a, unobserved_weight=w, **_FREQ)
       for w, r, a in [(0.4, 0.015, 1.5), (0.5, 0.01, 1.5), (0.3, 0.02, 2.0), (0.4, 0.01, 1.0)]]
    + [dict(factors=64, regularization=100.0, alpha=10.0), dict(factors=64, regularization=50.0, alpha=10.0),
       dict(factors=128, regularization=0.015, alpha=1.5, unobserved_weight=0.4, seed=1, **_FREQ),
       dict(factors=128, regularization=0.012, alpha=1.5, unobserved_weight=0.5, **_FREQ),
       dict(factors=192, regularization=0.015, alpha=1.5, unobserved_weight=0.4, **_FREQ)]
    # round 6: neighbours of the chosen defaults (exponent nu, alpha, lambda, log confidence)
    + [dict(factors=64, regularization=0.57, regularization_exponent=0.5, alpha=1.5, unobserved_weight=0.4, **_FREQ),
       dict(factors=64, regularization=0.1, regularization_exponent=0.75, alpha=1.5, unobserved_weight=0.4, **_FREQ),
       dict(factors=64, regularization=0.015, alpha=2.0, unobserved_weight=0.4, **_FREQ),
       dict(factors=64, regularization=0.02, alpha=1.5, unobserved_weight=0.4, **_FREQ),
       dict(factors=64, regularization=0.015, alpha=1.5, unobserved_weight=0.4, confidence="log", **_FREQ)]
)
#: the HKV-weighted configurations in TUNE_GRID are tuned with alpha0 = 1 and constant lambda
_HKV = dict(unobserved_weight=1.0, regularization_scaling="none")

#: implicit's ALS tuned on the same validation split (--tune-implicit). implicit weights observed
#: cells by alpha * value and unobserved cells by 1 with a constant lambda: mfrec's HKV setting
#: with c = alpha (so implicit alpha = 1 + mfrec alpha on binary data).
IMPLICIT_GRID = [dict(factors=f, regularization=r, alpha=a) for f in (64, 128)
                 for r in (10.0, 50.0, 100.0, 150.0) for a in (6.0, 11.0, 16.0)]


def main(argv=None) -> int:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--tune-implicit", action="store_true",
                        help="tune implicit's ALS (IMPLICIT_GRID) on the same validation split")
    parser.add_argument("--repeats", type=int, default=3, help="fits per timed row (median reported)")
    args = parser.parse_args(argv)
    split = protocol_split(args, "implicit")
    if args.tune:
        return tune(split.train, args)
    if args.tune_implicit:
        return tune_implicit(split.train, args)
    return benchmark(split, args)


# ---------------------------------------------------------------------- tuning
def tune(train, args) -> int:
    fit_train, valid = tuning_split(train)
    grid = load_grid(args.grid) if args.grid else TUNE_GRID

    def evaluate(config: dict) -> dict:
        base = {} if config.get("regularization_scaling") == "frequency" else _HKV
        params = {"seed": 0, "threads": args.threads, **base, **config}
        if args.quick:
            params["iterations"] = min(params.get("iterations", 15), 3)
        with Timer() as timer:
            model = ALS(**params).fit(fit_train)
        return _tuning_row(config, evaluate_ranking(model, valid, k=10), timer.seconds)

    _write_tuning(run_tuning_grid(grid, evaluate), args)
    return 0


def tune_implicit(train, args) -> int:
    from .anchors import evaluate_vectors
    fit_train, valid = tuning_split(train, what="tuning implicit ALS")

    def evaluate(config: dict) -> dict:
        users, items, seconds = _implicit(fit_train, iterations=15, threads=args.threads, **config)
        return _tuning_row(config, evaluate_vectors(users, items, fit_train, valid, k=10, threads=args.threads),
                           seconds)

    _write_tuning(run_tuning_grid(IMPLICIT_GRID, evaluate), args)
    return 0


def _tuning_row(config: dict, scores: dict, seconds: float) -> dict:
    return {"config": describe_config(config), "val_ndcg": scores["ndcg@10"], "val_recall": scores["recall@10"],
            "fit_s": seconds}


def _write_tuning(rows: list, args) -> None:
    rows = sorted(rows, key=lambda r: -r["val_ndcg"])
    table = format_table(rows, ["config", ("val_ndcg", "val NDCG@10"), ("val_recall", "val recall@10"),
                                ("fit_s", "fit s", ".1f")])
    print(table)
    if args.output:
        write_results(args.output, f"Command: `{command_line()}` (interpreter: {sys.executable})\n\n"
                                   f"Machine: {machine_info_markdown()}\n\n{table}\n")


# ---------------------------------------------------------------------- benchmark
def benchmark(split, args) -> int:
    train, test = split
    out = implicit_run_header(train, test, args)
    have_implicit = available_anchors(args, ["implicit"]).get("implicit") is not None

    compile_rows = compile_times()
    out += compile_cost_section(compile_rows)
    print(out[-1], flush=True)
    ALS(factors=4, iterations=1, threads=args.threads).fit(train)  # numba compile / cache load, not timed

    rows, timing_rows = [], []
    rows.append(popularity_row(train, test))

    default = ALS(seed=0, threads=args.threads)
    preset = ALS.preset(args.preset, seed=0, threads=args.threads)
    runs = [("mfrec ALS defaults (64 f x 15 it.)", default, args.threads),
            (f"mfrec ALS.preset({args.preset!r}) ({preset.factors} f x {preset.iterations} it.)", preset, args.threads)]
    if args.threads != 1:  # single-thread timing too (less sensitive to other processes on the machine)
        runs.append((None, ALS(seed=0, threads=1), 1))
    for label, model, threads in runs:
        if args.quick:
            model.set_params(iterations=min(model.iterations, 3))
        # same factors, iterations and threads for implicit, its other defaults
        fit_anchor = (lambda rep, m=model, t=threads: _implicit(train, factors=m.factors, iterations=m.iterations,
                                                                 threads=t)) if have_implicit else None
        times, anchor_times, anchor_vectors = alternating_fits(lambda rep, m=model: m, train, args.repeats,
                                                               fit_anchor)
        timing = timing_row(f"{model.factors} factors x {model.iterations} it., threads={threads}", times,
                            anchor_times, anchor="implicit")
        timing_rows.append(timing)
        if label is not None:  # a timing-only run adds no metrics row
            rows.append(ranking_row(label, evaluate_ranking(model, test, k=10), statistics.median(times)))
            if have_implicit:
                anchor_label = f"implicit ALS, its defaults at {model.factors} f x {model.iterations} it."
                rows.append(anchor_row(anchor_label, anchor_vectors, train, test, threads,
                                       seconds=statistics.median(anchor_times)))
        print(timing if label is None else (rows[-1], timing), flush=True)
    preset_model = preset

    if have_implicit:
        for label, params in _implicit_tuned(preset):
            rows.append(anchor_row(label, _implicit(train, **params, threads=args.threads), train, test, args.threads))
            print(rows[-1], flush=True)

    out += ["", "### Test ranking metrics (@10, all items, training items excluded)", "",
            format_table(rows, ["model"] + METRICS + [("fit_s", "fit s", ".2f")])]
    columns = ["config", ("mfrec_s", "mfrec fit s (median)", ".2f"), ("mfrec_all", "mfrec fits")]
    if have_implicit:
        columns += [("implicit_s", "implicit fit s (median)", ".2f"), ("implicit_all", "implicit fits"),
                    ("ratio", "mfrec / implicit", ".2f")]
    out += ["", "### Fit time, same factors / iterations / threads (0 = all cores), same run, "
            f"median of {max(1, args.repeats)} alternating fits", "",
            format_table(timing_rows, columns)]
    out.append(f"\nAnchors that ran: {'implicit (ALS)' if have_implicit else 'none'}")
    print("\n".join(out[-5:]), flush=True)

    return finish_benchmark(args, out, "ALS", "implicit", preset_model, presets=PRESETS)


def _implicit(train, **params):
    from .anchors import implicit_als
    return implicit_als(train, **params)


#: implicit's best settings on the validation split (--tune-implicit, see benchmarks/results/als.md)
IMPLICIT_TUNED = [dict(factors=128, iterations=15, regularization=100.0, alpha=11.0),
                  dict(factors=64, iterations=15, regularization=100.0, alpha=11.0)]


def _implicit_tuned(preset: ALS) -> list:
    """implicit's ALS with the settings that won its own tuning on the same validation split.

    implicit's objective weights observed cells by alpha * value and unobserved cells by 1, with a
    constant lambda; it has no unobserved weight nor frequency scaling, so mfrec's preset cannot be
    run in implicit. Its grid (IMPLICIT_GRID) covered factors, regularization and alpha."""
    return [(f"implicit ALS tuned ({p['factors']} f x {p['iterations']} it., reg {p['regularization']:g}, "
             f"alpha {p['alpha']:g})", p) for p in IMPLICIT_TUNED]


COMPILE_SNIPPET = textwrap.dedent("""
    import time
    start = time.perf_counter()
    from mfrec.data.interactions import Interactions
    from mfrec.models.als import ALS
    data = Interactions.from_arrays([0, 0, 1, 2, 2], [0, 1, 1, 2, 0])
    imported = time.perf_counter()
    ALS(factors=2, iterations=1, seed=0).fit(data)
    cg = time.perf_counter()
    ALS(factors=2, iterations=1, seed=0, solver="cholesky", calculate_loss=True).fit(data).recommend_new_user([0])
    print(imported - start, cg - imported, time.perf_counter() - cg)
""")


def compile_times() -> list:
    """Seconds for tiny first fits in fresh interpreters: with an empty numba cache (compilation)
    and with the cache the first run filled."""
    rows = []
    with tempfile.TemporaryDirectory() as cold:
        for case in ("empty numba cache (compile)", "cache filled by the previous run"):
            import_s, cg_s, rest_s = fresh_process_seconds(COMPILE_SNIPPET, cold)
            rows.append({"case": f"first fit (CG solver), {case}", "seconds": cg_s})
            rows.append({"case": f"then Cholesky solver + loss + fold-in, {case}", "seconds": rest_s})
    rows.append({"case": "import mfrec.models.als (last run)", "seconds": import_s})
    return rows


if __name__ == "__main__":
    sys.exit(main())

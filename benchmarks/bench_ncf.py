"""NCF's ML-1M table (He et al. 2017): mfrec's implicit models against the anchors and the
published rows, on NCF's own test files.

Protocol (:mod:`mfrec.ncf`): NCF's training file rebuilt from ml-1m/ratings.dat (every rating a
positive), the 6,040 official test pairs ranked among their 99 listed negatives, HR@10 and
NDCG@10 with NCF's tie and duplicate semantics (:mod:`mfrec.evaluation.sampled`). A second column
pair scores the same fitted models on a seeded redraw of 99 negatives for the same test pairs.

Two modes:

* ``python -m benchmarks.bench_ncf`` (the benchmark): mfrec ALS, BPR, WARP at their defaults and
  with their ``ncf`` presets, implicit's ALS and BPR and LightFM's WARP (where installed), fitted
  on the same training set in the same run, scored on the official test files (once per model)
  and on the redraw; writes benchmarks/results/ncf.md.
* ``python -m benchmarks.bench_ncf --tune als --grid '{"factors": [128, 256]}' --base '{...}'``:
  validation-only search. The validation protocol is carved from the TRAINING file alone (per
  user the latest remaining timed rating, its own 99 seeded negatives); the test files are never
  read. One JSON line per configuration (validation HR@10, NDCG@10, fit seconds), also appended
  to ``--log``.

Run from the repository root with the anchors' venv and this checkout's code:
``PYTHONPATH=src /work/anchors-venv/bin/python -m benchmarks.bench_ncf``.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .common import command_line, data_dir, format_table, machine_info_markdown

from mfrec.models.catalog import make_model
from mfrec.ncf import KRICHENE_RENDLE_NOTE, official_protocol

RESULTS = Path(__file__).resolve().parent / "results" / "ncf.md"
#: every --tune run appends its JSON lines here (validation figures only); the benchmark lists them
TUNING_LOG = Path(__file__).resolve().parent / "results" / "ncf_tuning.jsonl"
#: seed of the second draw of negatives (same test pairs)
REDRAW_SEED = 2024
#: seed of the validation protocol carved from the training file
VALIDATION_SEED = 0
#: seed of every fit
FIT_SEED = 42

#: published rows (HR@10, NDCG@10) with their sources
PUBLISHED = [
    ("NeuMF with pre-training, 64 f (NCF paper)", 0.730, 0.447,
     "He, Liao, Zhang, Nie, Hu & Chua 2017, \"Neural Collaborative Filtering\", WWW, Table 2"),
    ("iALS tuned (Rendle et al.)", 0.731, 0.452,
     "Rendle, Krichene, Zhang & Koren 2022, \"Revisiting the Performance of iALS on Item Recommendation "
     "Benchmarks\", RecSys (arXiv:2110.14037); independently reproduced by the irspack project. Both rows as quoted in "
     "shared/data/ncf-ml-1m/README.md; their table numbers were not re-checked against the papers here"),
]


def _fit(model, train):
    start = time.perf_counter()
    model.fit(train)
    return time.perf_counter() - start


# ---------------------------------------------------------------------- tuning
def expand_grid(base: dict, grid: dict) -> list:
    """Every combination of ``grid``'s lists, each merged over ``base``."""
    keys = list(grid)
    return [{**base, **dict(zip(keys, values))} for values in itertools.product(*(grid[k] for k in keys))]


def tune(args) -> None:
    protocol = official_protocol(data_dir(args.data_dir))
    valid = protocol.validation(seed=VALIDATION_SEED)
    print(f"validation: {valid.description}\n(the test files' pairs and negatives are not used)", flush=True)
    base, grid = json.loads(args.base), json.loads(args.grid)
    for config in expand_grid(base, grid):
        model = make_model(args.tune, None, {"seed": FIT_SEED, **config})
        seconds = _fit(model, valid.train)
        scores = valid.evaluate(model, full_ranking=False)
        row = {"model": args.tune, "config": config, "val_hr@10": round(scores["hr@10"], 4),
               "val_ndcg@10": round(scores["ndcg@10"], 4), "fit_s": round(seconds, 1),
               "load": os.getloadavg()[0]}
        line = json.dumps(row)
        print(line, flush=True)
        if args.log:
            with open(args.log, "a") as fh:
                fh.write(line + "\n")


# ---------------------------------------------------------------------- benchmark
def _mfrec_rows(protocol, redraw, valid, threads: int) -> list:
    rows = []
    for name in ("als", "bpr", "warp"):
        for preset in (None, "ncf"):
            label = f"mfrec {name.upper()} " + ("ncf preset" if preset else "defaults")
            model = make_model(name, preset, {"seed": FIT_SEED, "threads": threads})
            params = {k: v for k, v in model.get_params().items() if k not in ("seed", "threads")}
            print(f"{label}: {params}", flush=True)
            val = None
            if valid is not None:  # the preset's validation figures (fit on the validation's training set)
                vmodel = make_model(name, preset, {"seed": FIT_SEED, "threads": threads})
                _fit(vmodel, valid.train)
                val = valid.evaluate(vmodel, full_ranking=False)
            seconds = _fit(model, protocol.train)
            rows.append(_row(label, protocol.evaluate(model, threads=threads),
                             redraw.evaluate(model, full_ranking=False), seconds, val))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def _row(label, test, second, seconds, val=None) -> dict:
    return {"model": label,
            "val HR@10": val["hr@10"] if val else None, "val NDCG@10": val["ndcg@10"] if val else None,
            "HR@10": test["hr@10"], "NDCG@10": test["ndcg@10"],
            "HR@10 redraw": second["hr@10"], "NDCG@10 redraw": second["ndcg@10"],
            "full NDCG@10": test.get("full_ndcg@10"), "full HR@10": test.get("full_hit_rate@10"),
            "fit_s": seconds}


class _Vectors:
    """A fitted-model stand-in for anchors' vectors, enough for the sampled and full evaluation."""

    def __init__(self, train, users, items):
        self.user_ids_, self.item_ids_, self.interactions_ = train.user_ids, train.item_ids, train
        self._u, self._i = np.asarray(users, dtype=np.float32), np.asarray(items, dtype=np.float32)

    def require_fitted(self):
        pass

    def score_users(self, idx):
        return self._u[idx] @ self._i.T


def _anchor_rows(protocol, redraw, threads: int) -> tuple[list, list]:
    from . import anchors
    rows, skipped = [], []
    runs = [("implicit ALS (64 f, its defaults)", "implicit_als", {}),
            ("implicit BPR (its defaults)", "implicit_bpr", {}),
            ("LightFM WARP (64 f, 30 epochs, its defaults)", "lightfm_warp", {})]
    for label, fn, kw in runs:
        try:
            users, items, seconds = getattr(anchors, fn)(protocol.train, threads=threads, seed=FIT_SEED, **kw)
        except ImportError as exc:
            skipped.append(f"{label}: not installed ({exc})")
            print(skipped[-1], flush=True)
            continue
        model = _Vectors(protocol.train, users, items)
        from mfrec.evaluation import evaluate_ranking
        from mfrec.evaluation.sampled import evaluate_sampled
        t = evaluate_sampled(model, protocol.users, protocol.items, protocol.negatives)
        full = evaluate_ranking(model, protocol.test_interactions(), k=10, threads=threads)
        t["full_ndcg@10"], t["full_hit_rate@10"] = full["ndcg@10"], full["hit_rate@10"]
        s = evaluate_sampled(model, redraw.users, redraw.items, redraw.negatives)
        rows.append(_row(label, t, s, seconds))
        print(json.dumps(rows[-1]), flush=True)
    return rows, skipped


def benchmark(args) -> None:
    started = _dt.datetime.now(_dt.timezone.utc)
    load_before = os.getloadavg()
    protocol = official_protocol(data_dir(args.data_dir))
    redraw = protocol.with_negatives(REDRAW_SEED)
    valid = None if args.no_validation else protocol.validation(seed=VALIDATION_SEED)
    print(protocol.description, flush=True)
    from mfrec.models.popularity import Popularity
    pop = Popularity().fit(protocol.train)
    rows = [_row("popularity (item counts)", protocol.evaluate(pop, threads=args.threads),
                 redraw.evaluate(pop, full_ranking=False), pop.fit_time_)]
    rows += _mfrec_rows(protocol, redraw, valid, args.threads)
    anchor_rows, skipped = ([], ["anchors not run (--no-anchors)"]) if args.no_anchors else _anchor_rows(
        protocol, redraw, args.threads)
    rows += anchor_rows
    published = [{"model": f"published: {label}", "HR@10": hr, "NDCG@10": nd} for label, hr, nd, _ in PUBLISHED]
    columns = ["model", "val HR@10", "val NDCG@10", "HR@10", "NDCG@10", "HR@10 redraw", "NDCG@10 redraw",
               "full HR@10", "full NDCG@10", "fit_s"]
    out = ["# NCF ML-1M protocol: mfrec against the anchors and the published table", "",
           f"Command: `PYTHONPATH=src {command_line()}` (interpreter: {sys.executable})  ",
           f"Run: {started:%Y-%m-%d %H:%M} UTC, {(time.time() - started.timestamp()) / 60:.1f} min; load average "
           f"before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; git {_git_rev()}", "",
           machine_info_markdown(), "",
           f"Protocol: {protocol.description}. HR@10 / NDCG@10: each test item ranked among its 99 listed "
           "negatives with NCF's semantics (a copy of the test item among its negatives is merged, as NCF's "
           "dict does; ties put the test item after the tied negatives). *redraw*: the same fitted models on "
           f"a seeded redraw of 99 negatives for the same test pairs (seed {REDRAW_SEED}, never an item of "
           "the user's training set or the test item). *full*: the same test pairs ranked among all "
           "items (training items excluded). *val*: validation figures of the same configuration, fitted on "
           "the validation protocol's training set: "
           + (valid.description if valid is not None else "(not run)") + ". The `ncf` presets were chosen on "
           "that validation protocol only; the test files were scored once per candidate at the end (see "
           "the tuning section). Fit seconds: one fit on the full training file, all cores.", "",
           f"Note: {KRICHENE_RENDLE_NOTE}.", "",
           format_table(rows + published, columns), "",
           "Published rows: " + "; ".join(f"{label}: {src}" for label, _, _, src in PUBLISHED) + ".", ""]
    if skipped:
        out += ["Skipped: " + "; ".join(skipped), ""]
    out += tuning_section()
    marker = "<!-- notes below are kept when the benchmark rewrites this file -->"
    notes = ""
    if RESULTS.exists() and marker in RESULTS.read_text():
        notes = RESULTS.read_text().split(marker, 1)[1]
    text = "\n".join(out) + "\n" + marker + notes
    if not args.dry_run:
        RESULTS.write_text(text)
        print(f"written {RESULTS}")
    print(text)


def tuning_section() -> list:
    """The validation-only tuning runs of results/ncf_tuning.jsonl as Markdown tables per model."""
    if not TUNING_LOG.exists():
        return []
    runs = [json.loads(line) for line in TUNING_LOG.read_text().splitlines() if line.strip()]
    out = ["## Tuning runs (validation protocol carved from the training file; test files not read)", "",
           f"Each line of `{TUNING_LOG.name}`: one fit on the validation protocol's training set (seed {FIT_SEED}), "
           f"scored on its 6,040 validation pairs (validation seed {VALIDATION_SEED}). fit_s ran on the shared "
           "2-core machine at the load shown (1-min load average), so fit times vary by up to ~8x between lines.", ""]
    for name in dict.fromkeys(r["model"] for r in runs):
        rows = [{"config": ", ".join(f"{k}={v}" for k, v in r["config"].items()), "val HR@10": r["val_hr@10"],
                 "val NDCG@10": r["val_ndcg@10"], "fit_s": r["fit_s"], "load": r.get("load")}
                for r in runs if r["model"] == name]
        out += [f"### {name}", "", format_table(rows, ["config", "val HR@10", "val NDCG@10", "fit_s", "load"],
                                                floatfmt=".4f"), ""]
    return out


def _git_rev() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="folder with ml-1m/ and ncf-ml-1m/ (default: $MFREC_DATA_DIR)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--tune", metavar="MODEL", help="validation-only search for MODEL (als, bpr, warp)")
    parser.add_argument("--base", default="{}", help="--tune: JSON object of fixed hyperparameters")
    parser.add_argument("--grid", default="{}", help="--tune: JSON object name -> list of values")
    parser.add_argument("--log", default=str(TUNING_LOG), help="--tune: append the JSON lines to this file "
                        "(default results/ncf_tuning.jsonl)")
    parser.add_argument("--no-anchors", action="store_true")
    parser.add_argument("--no-validation", action="store_true", help="skip the presets' validation fits")
    parser.add_argument("--dry-run", action="store_true", help="print, do not write results/ncf.md")
    args = parser.parse_args(argv)
    if args.tune:
        tune(args)
    else:
        benchmark(args)


if __name__ == "__main__":
    main()

"""Large-data benchmark (issue 14): fit time per epoch and peak memory of mfrec against implicit
and LightFM on seeded synthetic power-law data of ML-20M's shape, evaluation over all users
against bare BLAS scoring, and loading a MovieLens-25M-format ``ratings.csv``.

Data: :func:`synthetic.power_law_csr` draws ``--events`` (user, item) events (138k users x 27k
items at 44M events, ML-20M's aspect; power laws rank^-0.6 over users, rank^-1 over items) and
sums repeated pairs into counts, so the training matrix has fewer stored entries (nnz) than
events (27.3M at 44M events); both figures are printed. The CSR is cached as an ``.npz`` under
``--cache`` (default /tmp/mfrec-scale; never commit it).

Every measured run is a FRESH child process (``python -m benchmarks.bench_scale --child JSON``), so peak
RSS belongs to that run alone. A child loads the cached CSR (np.load), then resets the kernel's
RSS high-water mark (``/proc/self/clear_refs``), then fits; it reports

* ``load s``: reading the CSR (or, for the loader runs, parsing ratings.csv);
* ``s/epoch``: fit wall time / epochs (one ALS iteration = both half steps);
* ``fit peak``: the peak RSS from just before the fit to its end (VmHWM after the reset), i.e.
  the data, the library's working memory and whatever it keeps;
* ``process peak``: the child's peak RSS over load and fit (VmHWM before the reset, or after it);
  ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is reported too, but on Linux it includes the
  parent's RSS at the fork (the image exec replaced), so it is a ceiling, not the child's own.

The numba kernels are compiled (disk cache) by a small warm-up child first, so no fit time
includes compilation. Ratios are mfrec / anchor of the same run; jobs of one size run one
after the other, mfrec and its anchor next to each other, so machine load hits both alike.

Usage (repository root, anchors' venv, this checkout's mfrec)::

    PYTHONPATH=src /work/anchors-venv/bin/python -m benchmarks.bench_scale --events 44000000 \\
        --output benchmarks/results/scale.md
    PYTHONPATH=src /work/anchors-venv/bin/python -m benchmarks.bench_scale --events 5000000 20000000 \\
        --jobs als bpr --als-iterations 3
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

SIZES = {"5M": 5_000_000, "20M": 20_000_000, "44M": 44_000_000, "100M": 100_000_000}
JOBS = ("als", "bpr", "warp", "eval", "load")


# ---------------------------------------------------------------------- memory probes (child)
def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _mb(kb: int) -> float:
    return kb / 1024.0


# ---------------------------------------------------------------------- data
def cache_path(cache: Path, events: int, seed: int) -> Path:
    return cache / f"powerlaw-{events}-s{seed}.npz"


def ensure_data(cache: Path, events: int, seed: int) -> Path:
    path = cache_path(cache, events, seed)
    if not path.exists():
        from .synthetic import power_law_csr
        import numpy as np
        cache.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        indptr, indices, data, shape = power_law_csr(events, seed=seed)
        np.savez(path.with_suffix(".tmp.npz"), indptr=indptr, indices=indices, data=data, shape=np.array(shape))
        path.with_suffix(".tmp.npz").rename(path)
        print(f"  generated {events:,} events -> {len(indices):,} pairs in {time.perf_counter() - start:.0f} s: {path}",
              flush=True)
    return path


def ensure_movielens(cache: Path, events: int, seed: int, rows: int) -> Path:
    folder = cache / f"ml25m-format-{events}-{rows}-s{seed}" / "ml-25m"
    if not (folder / "ratings.csv").exists():
        import numpy as np
        from .synthetic import write_movielens_csv
        with np.load(ensure_data(cache, events, seed)) as z:
            start = time.perf_counter()
            write_movielens_csv(folder.with_name("tmp"), z["indptr"], z["indices"], rows=rows, seed=seed)
        folder.with_name("tmp").rename(folder)
        print(f"  wrote {rows:,} ratings in MovieLens-25M format in {time.perf_counter() - start:.0f} s: {folder}",
              flush=True)
    return folder


def _load_csr(path):
    import numpy as np
    import scipy.sparse as sp
    with np.load(path) as z:
        shape = tuple(int(s) for s in z["shape"])
        return sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=shape)


def _interactions(csr):
    from mfrec import Interactions
    from mfrec.ids import IdMap
    import numpy as np
    return Interactions(csr, IdMap(np.arange(csr.shape[0]), kind="user"), IdMap(np.arange(csr.shape[1]), kind="item"),
                        kind="implicit")


# ---------------------------------------------------------------------- child jobs
def _fit_job(spec: dict) -> dict:
    """Load the cached CSR, reset the peak, fit one model; times and peaks."""
    lib, model, epochs, threads, k = spec["lib"], spec["model"], spec["epochs"], spec["threads"], spec["factors"]
    if lib == "mfrec":  # the library is imported before the peak is reset: its code is not the fit's
        import mfrec
    else:
        from . import anchors
        importlib.import_module("implicit.cpu.als" if lib == "implicit" else "lightfm")
    start = time.perf_counter()
    csr = _load_csr(spec["data"])
    load_s = time.perf_counter() - start
    rss_loaded = _status_kb("VmRSS")
    load_peak = _status_kb("VmHWM")
    reset = _reset_peak()
    if lib == "mfrec":
        train = _interactions(csr)
        del csr
        cls = {"als": mfrec.ALS, "bpr": mfrec.BPR, "warp": mfrec.WARP}[model]
        key = "iterations" if model == "als" else "epochs"
        est = cls(factors=k, threads=threads, seed=0, **{key: epochs})
        start = time.perf_counter()
        est.fit(train)
        fit_s = time.perf_counter() - start
    else:
        fn = {("implicit", "als"): anchors.implicit_als, ("implicit", "bpr"): anchors.implicit_bpr,
              ("lightfm", "warp"): anchors.lightfm_warp}[(lib, model)]
        key = {"als": "iterations", "bpr": "iterations", "warp": "epochs"}[model]
        kw = {"no_components": k} if lib == "lightfm" else {"factors": k}
        _, _, fit_s = fn(csr, threads=threads, **kw, **{key: epochs})
    fit_peak = _status_kb("VmHWM")
    return {"load_s": load_s, "fit_s": fit_s, "s_per_epoch": fit_s / epochs, "rss_loaded_mb": _mb(rss_loaded),
            "fit_peak_mb": _mb(fit_peak) if reset else float("nan"),
            "process_peak_mb": _mb(max(load_peak, fit_peak)), "ru_maxrss_mb": _ru_maxrss_mb()}


def _ru_maxrss_mb() -> float:
    """getrusage's peak of this process (MB). Linux folds in the peak of the memory image the
    process replaced at exec (the parent's, copied at fork), so the parent keeps small."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _eval_job(spec: dict) -> dict:
    """A 90/10 random split of the cached pairs; ALS (1 iteration: the factors' quality does not
    change the cost) fitted on the 90%; evaluate_ranking over every user with a test pair, against
    bare BLAS scoring (X[users] @ Y.T in batches of 4096) of the same users; batch recommend."""
    import numpy as np
    import mfrec
    from mfrec import evaluate_ranking
    csr = _load_csr(spec["data"])
    rng = np.random.default_rng(5)
    test_mask = rng.random(csr.nnz) < 0.1
    inter = _interactions(csr)
    train, test = inter.select(~test_mask), inter.select(test_mask)
    del inter, csr, test_mask
    model = mfrec.ALS(factors=spec["factors"], iterations=1, threads=spec["threads"], seed=0).fit(train)
    users = np.flatnonzero(np.diff(test.matrix.indptr) > 0)
    X, Yt = model.user_factors_, np.ascontiguousarray(model.item_factors_.T)
    start = time.perf_counter()
    for s in range(0, len(users), 4096):
        scores = X[users[s:s + 4096]] @ Yt
    blas_s = time.perf_counter() - start
    del scores
    start = time.perf_counter()
    metrics = evaluate_ranking(model, test, k=10, threads=spec["threads"])
    eval_s = time.perf_counter() - start
    out = {"users": int(len(users)), "blas_s": blas_s, "eval_s": eval_s, "ndcg@10": metrics["ndcg@10"]}
    if spec.get("recommend", True):
        start = time.perf_counter()
        model.recommend(model.user_ids_.raw[users].tolist(), n=10)
        out["recommend_s"] = time.perf_counter() - start
    out["process_peak_mb"] = _mb(_status_kb("VmHWM"))
    return out


def _load_job(spec: dict) -> dict:
    """Parse the MovieLens-25M-format folder: mfrec.load_movielens("25m") or bare pandas
    (read_csv of ratings.csv + a scipy CSR of the codes, the least any loader must do)."""
    start = time.perf_counter()
    if spec["lib"] == "mfrec":
        from mfrec import load_movielens
        data = load_movielens("25m", data_dir=spec["folder"], download=False)
        n = data.nnz
    else:
        import numpy as np
        import pandas as pd
        import scipy.sparse as sp
        frame = pd.read_csv(Path(spec["folder"]) / "ml-25m" / "ratings.csv")
        u, ui = np.unique(frame["userId"].to_numpy(), return_inverse=True)
        i, ii = np.unique(frame["movieId"].to_numpy(), return_inverse=True)
        m = sp.csr_matrix((frame["rating"].to_numpy(np.float32), (ui, ii)), shape=(len(u), len(i)))
        n = m.nnz
    return {"load_s": time.perf_counter() - start, "rows": int(n),
            "process_peak_mb": _mb(_status_kb("VmHWM")), "ru_maxrss_mb": _ru_maxrss_mb()}


def _warmup_job(spec: dict) -> dict:
    """Fit each mfrec model briefly on tiny data so the numba disk cache holds the kernels."""
    import numpy as np
    import scipy.sparse as sp
    import mfrec
    rng = np.random.default_rng(0)
    m = sp.random(300, 200, density=0.05, format="csr", random_state=1, dtype=np.float32)
    m.data[:] = 1.0
    inter = _interactions(m)
    for cls, key in ((mfrec.ALS, "iterations"), (mfrec.BPR, "epochs"), (mfrec.WARP, "epochs")):
        model = cls(factors=spec["factors"], threads=spec["threads"], seed=0, **{key: 1}).fit(inter)
    model.recommend(list(range(10)), n=5)
    mask = rng.random(inter.nnz) < 0.2
    model.fit(inter.select(~mask))
    mfrec.evaluate_ranking(model, inter.select(mask), k=10)
    return {"ok": True}


CHILD_JOBS = {"fit": _fit_job, "eval": _eval_job, "load": _load_job, "warmup": _warmup_job}


def run_child(spec: dict, timeout: float) -> dict:
    """Run one job in a fresh interpreter; its JSON result (or an "error")."""
    cmd = [sys.executable, "-m", "benchmarks.bench_scale", "--child", json.dumps(spec)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"rc {done.returncode}"]}
    result = json.loads(lines[-1][len("RESULT "):])
    result["load_avg"] = os.getloadavg()[0]
    return result


# ---------------------------------------------------------------------- parent
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--events", nargs="+", default=["44M"],
                   help="sizes in events: 5M, 20M, 44M, 100M or an integer (default 44M)")
    p.add_argument("--jobs", nargs="+", default=list(JOBS), choices=JOBS)
    p.add_argument("--factors", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--als-iterations", type=int, default=3)
    p.add_argument("--bpr-epochs", type=int, default=2)
    p.add_argument("--warp-epochs", type=int, default=1, help="WARP epochs (LightFM is slow: default 1)")
    p.add_argument("--repeats", type=int, default=1, help="mfrec/anchor pairs per fit job")
    p.add_argument("--loader-rows", type=int, default=25_000_000, help="ratings.csv lines for the load job")
    p.add_argument("--no-recommend", action="store_true", help="skip the batch recommend timing")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", default="/tmp/mfrec-scale", help="where generated data are cached (not committed)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per child run")
    p.add_argument("--output", default=None, help="write a Markdown results file here")
    return p.parse_args(argv)


def _events(text: str) -> int:
    return SIZES[text] if text in SIZES else int(float(text))


def _ratio(a, b):
    try:
        return f"{a / b:.2f}x"
    except (TypeError, ZeroDivisionError):
        return "-"


def _fmt(x, f=".2f"):
    return "-" if x is None or x != x else format(x, f)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        spec = json.loads(args.child)
        print("RESULT " + json.dumps(CHILD_JOBS[spec["job"]](spec)), flush=True)
        return 0
    from .common import machine_info_markdown, results_markdown, write_results
    cache = Path(args.cache)
    out = [f"Machine at start: {machine_info_markdown()}", "",
           f"Settings: {args.factors} factors, {args.threads} threads; ALS {args.als_iterations} iterations, "
           f"BPR {args.bpr_epochs} epochs, WARP {args.warp_epochs} epoch(s); every run a fresh process.", ""]
    print("\n".join(out), flush=True)
    print("warm-up (numba cache):", run_child({"job": "warmup", "factors": args.factors, "threads": args.threads},
                                               args.timeout), flush=True)
    growth = []
    pairs = {"als": ("implicit", "implicit ALS"), "bpr": ("implicit", "implicit BPR"), "warp": ("lightfm", "LightFM WARP")}
    epochs = {"als": args.als_iterations, "bpr": args.bpr_epochs, "warp": args.warp_epochs}
    for size in args.events:
        events = _events(size)
        data = ensure_data(cache, events, args.seed)
        import numpy as np
        with np.load(data) as z:
            nnz, shape = len(z["indices"]), tuple(int(s) for s in z["shape"])
        head = f"### {events:,} events: {shape[0]:,} users x {shape[1]:,} items, {nnz:,} stored pairs"
        rows = ["| model | run | load s | s/epoch | fit peak MB | process peak MB | ru_maxrss MB | load avg |",
                "|---|---|---|---|---|---|---|---|"]
        ratio_rows = ["| model | s/epoch ratio | fit peak ratio | process peak ratio |", "|---|---|---|---|"]
        print(head, flush=True)
        for job in [j for j in ("als", "bpr", "warp") if j in args.jobs]:
            anchor_lib, anchor_name = pairs[job]
            for rep in range(args.repeats):
                res = {}
                for lib in ("mfrec", anchor_lib):
                    spec = {"job": "fit", "lib": lib, "model": job, "data": str(data), "epochs": epochs[job],
                            "threads": args.threads, "factors": args.factors}
                    res[lib] = r = run_child(spec, args.timeout)
                    name = f"mfrec {job.upper()}" if lib == "mfrec" else anchor_name
                    line = (f"| {name} | {rep + 1} | {_fmt(r.get('load_s'))} | {_fmt(r.get('s_per_epoch'))} | "
                            f"{_fmt(r.get('fit_peak_mb'), '.0f')} | {_fmt(r.get('process_peak_mb'), '.0f')} | "
                            f"{_fmt(r.get('ru_maxrss_mb'), '.0f')} | {_fmt(r.get('load_avg'))} |" if "error" not in r else f"| {name} | {rep + 1} | error: {r['error']} |")
                    rows.append(line)
                    print(line, flush=True)
                m, a = res["mfrec"], res[anchor_lib]
                ratio = (f"| {job.upper()} vs {anchor_name} (run {rep + 1}) | {_ratio(m.get('s_per_epoch'), a.get('s_per_epoch'))} | "
                         f"{_ratio(m.get('fit_peak_mb'), a.get('fit_peak_mb'))} | "
                         f"{_ratio(m.get('process_peak_mb'), a.get('process_peak_mb'))} |")
                ratio_rows.append(ratio)
                print(ratio, flush=True)
                growth.append({"events": events, "nnz": nnz, "job": job, "mfrec": m.get("s_per_epoch"),
                               "anchor": a.get("s_per_epoch"), "anchor_name": anchor_name,
                               "mfrec_mb": m.get("process_peak_mb"), "anchor_mb": a.get("process_peak_mb")})
        section = [head, "", *rows, "", *ratio_rows, ""]
        if "eval" in args.jobs:
            r = run_child({"job": "eval", "data": str(data), "threads": args.threads, "factors": args.factors,
                           "recommend": not args.no_recommend}, args.timeout)
            if "error" in r:
                section += [f"evaluation: error {r['error']}", ""]
            else:
                section += ["| users evaluated | bare BLAS scoring s | evaluate_ranking s | ratio | batch recommend s | ratio | load avg |",
                            "|---|---|---|---|---|---|---|",
                            f"| {r['users']:,} | {r['blas_s']:.1f} | {r['eval_s']:.1f} | {_ratio(r['eval_s'], r['blas_s'])} | "
                            f"{_fmt(r.get('recommend_s'), '.1f')} | {_ratio(r.get('recommend_s'), r['blas_s'])} | {r['load_avg']:.2f} |", ""]
            print("\n".join(section[-3:]), flush=True)
        out += section
    if "load" in args.jobs:
        folder = ensure_movielens(cache, _events(args.events[-1]), args.seed, args.loader_rows)
        lines = ["### Loading a MovieLens-25M-format ratings.csv", "",
                 "| loader | rows | seconds | process peak MB | load avg |", "|---|---|---|---|---|"]
        res = {}
        for lib in ("mfrec", "pandas"):
            res[lib] = r = run_child({"job": "load", "lib": lib, "folder": str(folder.parent)}, args.timeout)
            name = 'mfrec.load_movielens("25m")' if lib == "mfrec" else "pandas.read_csv + scipy CSR (bare)"
            lines.append(f"| {name} | {r.get('rows', '-'):,} | {_fmt(r.get('load_s'), '.1f')} | "
                         f"{_fmt(r.get('process_peak_mb'), '.0f')} | {_fmt(r.get('load_avg'))} |"
                         if "error" not in r else f"| {name} | error: {r['error']} |")
            print(lines[-1], flush=True)
        lines += ["", f"mfrec / pandas: time {_ratio(res['mfrec'].get('load_s'), res['pandas'].get('load_s'))}, "
                      f"peak {_ratio(res['mfrec'].get('process_peak_mb'), res['pandas'].get('process_peak_mb'))}", ""]
        out += lines
    if len(args.events) > 1 and growth:
        table = ["### Growth with size (s/epoch; process peak MB)", "",
                 "| events | pairs | model | mfrec s/epoch | anchor s/epoch | ratio | mfrec MB | anchor MB |",
                 "|---|---|---|---|---|---|---|---|"]
        for g in growth:
            table.append(f"| {g['events']:,} | {g['nnz']:,} | {g['job'].upper()} vs {g['anchor_name']} | {_fmt(g['mfrec'])} | "
                         f"{_fmt(g['anchor'])} | {_ratio(g['mfrec'], g['anchor'])} | {_fmt(g['mfrec_mb'], '.0f')} | "
                         f"{_fmt(g['anchor_mb'], '.0f')} |")
        out += table + [""]
        print("\n".join(table), flush=True)
    out.append(f"Machine at end: {machine_info_markdown()}")
    if args.output:
        write_results(args.output, results_markdown("Large-data benchmark (issue 14)", out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

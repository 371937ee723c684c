"""The `mfrec` command: data sets, fitting, evaluation, recommendations and similar items."""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Optional

from ._optional import missing_extra, require

try:
    import typer
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
except ImportError as exc:
    raise missing_extra(exc, "cli", "the mfrec command line") from exc

from . import protocols
from .models import catalog
from .errors import MfrecError


console = Console()
err_console = Console(stderr=True)

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="mfrec: matrix-factorization recommenders (SVD, ALS, BPR, WARP) on MovieLens or your own "
                       "ratings.\n\nTry: mfrec datasets list; mfrec evaluate als --dataset ml-1m; "
                       "mfrec fit als -o als.npz; mfrec similar als.npz 1")
datasets_app = typer.Typer(no_args_is_help=True, help="List or download the MovieLens data sets.")
app.add_typer(datasets_app, name="datasets")

#: --debug: show the traceback of user errors too (real bugs always show theirs)
_DEBUG = False


@app.callback()
def _global_options(debug: bool = typer.Option(False, "--debug", help="Show a traceback for user errors too.")):
    global _DEBUG
    _DEBUG = debug

DatasetOpt = typer.Option("ml-1m", "--dataset", "-d", help="MovieLens name (ml-100k, ml-1m, ml-10m, ml-20m, "
                          "ml-25m, ml-latest-small) or a ratings file (CSV/TSV/'::').")
DataDirOpt = typer.Option(None, "--data-dir", help="Where data sets live (default: $MFREC_DATA_DIR, then the cache).")
PresetOpt = typer.Option(None, "--preset", help="A named hyperparameter preset of the model (see `mfrec models`).")
ParamOpt = typer.Option(None, "--param", "-p", help="A hyperparameter as name=value; repeat for more, "
                        "e.g. -p factors=128 -p regularization=0.05.")
ThresholdOpt = typer.Option(protocols.DEFAULT_THRESHOLD, "--threshold",
                            help="Implicit models: ratings >= this count as positives.")
ProtocolOpt = typer.Option(None, "--protocol", help="ncf: NCF's ML-1M protocol (He et al. 2017): "
                           "leave-latest-out, the held-out item ranked among 99 negatives, HR@10 and NDCG@10; "
                           "NCF's own test files when found, else built from the ratings with seeded negatives.")
NegativesSeedOpt = typer.Option(None, "--negatives-seed", help="--protocol ncf: draw the 99 negatives per test "
                                "pair with this seed instead of using NCF's listed ones.")


# ---------------------------------------------------------------------------- datasets
@datasets_app.command("list")
def datasets_list(data_dir: Optional[Path] = DataDirOpt) -> None:
    """Show the MovieLens data sets and where each is found locally."""
    from .datasets import list_datasets
    table = Table(title="MovieLens data sets")
    for col in ("name", "ratings", "description", "local copy"):
        table.add_column(col)
    for info in list_datasets(data_dir=data_dir):
        where = str(info["path"]) if info.get("path") else "[dim]not downloaded[/dim]"
        table.add_row(info["name"], f"{info['n_ratings']:,}" if info.get("n_ratings") else "?",
                      info.get("description", ""), where)
    console.print(table)


@datasets_app.command("fetch")
def datasets_fetch(name: str = typer.Argument(..., help="e.g. ml-1m"), data_dir: Optional[Path] = DataDirOpt) -> None:
    """Download a MovieLens data set from GroupLens (checksum verified) into the cache or --data-dir."""
    from .datasets import fetch_movielens
    path = fetch_movielens(name, data_dir=data_dir, show_progress=True)
    console.print(f"[green]{name}[/green] is ready in {path}")


# ---------------------------------------------------------------------------- models
@app.command("models")
def models_list() -> None:
    """List the models with their hyperparameters: defaults, valid values and presets."""
    from .params import constraint_rows
    table = Table(title="mfrec models")
    for col in ("model", "trains on", "hyperparameter", "default", "valid values", "presets"):
        table.add_column(col, overflow="fold")
    for name, cls in catalog.model_classes().items():
        defaults = cls().get_params()
        rows = list(constraint_rows(cls._parameter_constraints, defaults)) or [("-", None, "")]
        for n, (param, default, valid) in enumerate(rows):
            first = n == 0
            table.add_row(name if first else "", cls.feedback if first else "", param,
                          "" if param == "-" else repr(default), escape(valid),
                          (", ".join(cls.PRESETS) or "-") if first else "", end_section=n == len(rows) - 1)
    console.print(table)


@app.command("warmup")
def warmup(model: Optional[list[str]] = typer.Option(None, "--model", "-m", help="A model to warm up; repeat for "
                                                    "more (default: all)."),
           processes: Optional[int] = typer.Option(None, "--processes", help="Fresh processes compiling at once "
                                                   "(default: one per core).")) -> None:
    """Compile the kernels of each model's fit, recommendations and evaluation now, into numba's cache.

    The jobs that follow (with the same NUMBA_CACHE_DIR) start without the first-use compile wait.
    """
    from .warmup import warm_up
    seconds = warm_up(model or None, processes)
    console.print(f"Compiled in {seconds['total']:.1f} s; later jobs load the kernels from numba's cache.")


def _load_dataset(dataset: str, **kwargs):
    from .datasets import load_dataset
    return load_dataset(dataset, **kwargs)


def _build_model(model: str, preset, params, threads, seed):
    cls = catalog.model_class(model)
    values = catalog.parse_params(params, cls)
    names = cls.param_names()
    if threads is not None and "threads" in names:
        values.setdefault("threads", threads)
    if seed is not None and "seed" in names:
        values.setdefault("seed", seed)
    estimator = catalog.make_model(model, preset, values)
    estimator.check_params()  # fail on a bad hyperparameter before loading data
    return estimator


@app.command("fit")
def fit(model: str = typer.Argument(..., help=catalog.names_text()),
        dataset: str = DatasetOpt, data_dir: Optional[Path] = DataDirOpt,
        output: Path = typer.Option(None, "--output", "-o", help="Model file to write (.npz); default MODEL.npz"),
        preset: Optional[str] = PresetOpt, param: Optional[list[str]] = ParamOpt,
        threshold: float = ThresholdOpt,
        threads: Optional[int] = typer.Option(None, help="Threads (0 = all cores, 1 = reproducible)."),
        seed: Optional[int] = typer.Option(None, help="Random seed.")) -> None:
    """Train a model on a whole data set and save it for `recommend` and `similar`."""
    estimator = _build_model(model, preset, param, threads, seed)
    output = _check_model_output(output or Path(f"{estimator.name}.npz"))  # before minutes of training
    data = protocols.training_view(_load_dataset(dataset, data_dir=data_dir, show_progress=True),
                                    estimator.feedback, threshold)
    console.print(f"Training {estimator!r} on {data}")
    estimator.fit(data, show_progress=True)
    path = estimator.save(output)
    last = estimator.loss_history_[-1] if estimator.loss_history_ else {}
    figures = "  ".join(f"{k}={v:.4g}" for k, v in last.items() if k != "epoch")
    console.print(f"Fitted in {estimator.fit_time_:.2f} s {figures}\nSaved to [bold]{path}[/bold]")


@app.command("evaluate")
def evaluate(model: str = typer.Argument(..., help=catalog.names_text()),
             dataset: str = DatasetOpt, data_dir: Optional[Path] = DataDirOpt,
             preset: Optional[str] = PresetOpt, param: Optional[list[str]] = ParamOpt,
             threshold: float = ThresholdOpt,
             split: Optional[str] = typer.Option(None, help="per-user, random or leave-one-out "
                                                 "(default: random for rating models, per-user for the others)"),
             test_fraction: Optional[float] = typer.Option(
                 None, help="Share held out (default 0.1 ratings, 0.2 implicit)."),
             seed: int = typer.Option(42, help="Seed of the split (and of the model if it takes one)."),
             k: int = typer.Option(10, "-k", help="Cut-off of the ranking metrics."),
             threads: Optional[int] = typer.Option(None, help="Threads (0 = all cores, 1 = reproducible)."),
             protocol_name: Optional[str] = ProtocolOpt, negatives_seed: Optional[int] = NegativesSeedOpt) -> None:
    """Hold out part of the data, train, and print rating and/or ranking metrics."""
    from .evaluation import evaluate_ranking, evaluate_ratings
    estimator = _build_model(model, preset, param, threads, seed)
    if _check_protocol(protocol_name, negatives_seed):
        return _evaluate_ncf([estimator], dataset, data_dir, negatives_seed, k, threads or 0)
    protocol = protocols.default_protocol(estimator.feedback)
    if split:
        protocol.split = split
    if test_fraction is not None:
        protocol.test_fraction = test_fraction
    protocol.seed = seed
    _check_run_options(k=k, split=protocol.split, test_fraction=protocol.test_fraction, threshold=threshold)
    data = protocols.training_view(_load_dataset(dataset, data_dir=data_dir, show_progress=True),
                                    estimator.feedback, threshold)
    split_result = protocol.apply(data)
    train, test = split_result
    console.print(f"{estimator!r}\n{split_result!r}")
    estimator.fit(train, show_progress=True)
    results = {}
    if estimator.feedback == "explicit":
        results.update(evaluate_ratings(estimator, test))
        test = test.to_implicit(threshold=threshold)
    started = time.perf_counter()
    results.update(evaluate_ranking(estimator, test, k=k))
    table = Table(title=f"{estimator.name} on {dataset}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("fit time (s)", f"{estimator.fit_time_:.2f}")
    table.add_row("evaluation time (s)", f"{time.perf_counter() - started:.2f}")
    for key, value in results.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else f"{value:,}")
    console.print(table)


@app.command("compare")
def compare(dataset: str = DatasetOpt, data_dir: Optional[Path] = DataDirOpt,
            models: str = typer.Option(",".join(catalog.MODELS), "--models", "-m",
                                       help="Comma-separated models to compare."),
            split: str = typer.Option("per-user", help="per-user, random or leave-one-out."),
            test_fraction: float = typer.Option(0.2, help="Share of each user's ratings held out."),
            k: int = typer.Option(10, "-k", help="Cut-off of the ranking metrics and similar-items lists."),
            threshold: float = ThresholdOpt,
            preset: Optional[str] = typer.Option(None, "--preset", help="Preset applied to every model that has it."),
            seed: int = typer.Option(42, help="Seed of the split and the models."),
            threads: int = typer.Option(0, help="Threads (0 = all cores)."),
            report: Path = typer.Option(Path("mfrec-report.html"), "--report", "-r", help="HTML report to write."),
            export: Optional[Path] = typer.Option(None, "--export", help="Folder for TensorBoard projector TSVs "
                                                  "(one sub-folder per model)."),
            quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
            protocol_name: Optional[str] = ProtocolOpt, negatives_seed: Optional[int] = NegativesSeedOpt) -> None:
    """Compare SVD, ALS, BPR, WARP and the popularity baseline on one split.

    Train SVD, ALS, BPR, WARP and the popularity baseline on one split, print one table of
    metrics and fit times, write an HTML report (and optionally projector exports).
    With --protocol ncf: the NCF protocol's table instead (implicit models only, no report).
    """
    from .compare import check_models, run_comparison
    from .report import format_value, write_report
    names = check_models(models.split(","))
    _check_run_options(k=k, split=split, test_fraction=test_fraction, threshold=threshold)
    if _check_protocol(protocol_name, negatives_seed):
        return _evaluate_ncf([_build_model(n, preset if preset in catalog.model_class(n).PRESETS else None,
                                           None, threads, seed) for n in names],
                             dataset, data_dir, negatives_seed, k, threads)
    require("matplotlib", "report", "the HTML report of mfrec compare")
    _check_writable(report)
    if export is not None:
        _check_writable_folder(export, "the projector export")
    result = run_comparison(dataset, names, split=split, test_fraction=test_fraction, seed=seed, k=k,
                            threshold=threshold, preset=preset, threads=threads, data_dir=data_dir,
                            show_progress=not quiet, progress_callback=None if quiet else console.print)
    rows = result.table_rows()
    # one column per model (the report shows the same figures with one row per model)
    table = Table(title=f"mfrec compare: {dataset}, {split} split ({test_fraction:g} held out, seed {seed}), @{k}")
    table.add_column("metric")
    for row in rows:
        table.add_column(row["model"], justify="right")
    for key in rows[0]:
        if key != "model":
            table.add_row(key, *[format_value(row[key]) for row in rows])
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    path = write_report(result, report)
    console.print(f"Report written to [bold]{path}[/bold]")
    if export is not None:
        from .export import export_projector
        for run in result.runs:
            if run.model.item_factors_.shape[1] == 0:
                console.print(f"[dim]{run.name}: no embeddings to export[/dim]")
                continue
            paths = export_projector(run.model, export / run.name)
            console.print(f"Projector files for {run.name} in {paths['config'].parent}")


# ---------------------------------------------------------------------------- the NCF protocol
def _check_protocol(name: Optional[str], negatives_seed: Optional[int]) -> bool:
    """Return True for --protocol ncf; False without --protocol; anything else is an error."""
    from .errors import InvalidParameterError
    if name is None:
        if negatives_seed is not None:
            raise InvalidParameterError("--negatives-seed needs --protocol ncf")
        return False
    if name.lower() != "ncf":
        raise InvalidParameterError(f"unknown protocol {name!r} (protocols: ncf)")
    return True


def _evaluate_ncf(estimators, dataset: str, data_dir, negatives_seed, k: int, threads: int) -> None:
    """Fit each implicit model on the NCF protocol's training set; print sampled and full metrics."""
    from . import ncf
    from .errors import InvalidParameterError
    if k < 1:
        raise InvalidParameterError(f"-k must be a positive integer, got {k}")
    usable = [e for e in estimators if e.feedback != "explicit"]
    for skipped in (e for e in estimators if e.feedback == "explicit"):
        console.print(f"[dim]{skipped.name}: skipped, the NCF protocol is for implicit-feedback models[/dim]")
    if not usable:
        raise InvalidParameterError("the NCF protocol needs an implicit-feedback model (popularity, als, bpr, warp)")
    protocol = ncf.load_protocol(dataset, data_dir=data_dir, negatives_seed=negatives_seed,
                                 log=lambda text: console.print(f"[yellow]note:[/yellow] {text}"))
    console.print(protocol.description)
    rows = []
    for estimator in usable:
        console.print(f"{estimator!r}")
        estimator.fit(protocol.train, show_progress=True)
        rows.append((estimator, protocol.evaluate(estimator, k=k, threads=threads)))
    table = Table(title=f"NCF protocol on {dataset}, @{k}")
    table.add_column("metric")
    for estimator, _ in rows:
        table.add_column(estimator.name, justify="right")
    labels = {f"hr@{k}": f"HR@{k} (sampled)", f"ndcg@{k}": f"NDCG@{k} (sampled)", "mrr": "MRR (sampled)",
              f"full_hit_rate@{k}": f"HR@{k} (full ranking)", f"full_ndcg@{k}": f"NDCG@{k} (full ranking)",
              "full_mrr": "MRR (full ranking)", "n_pairs": "test pairs"}
    for key, label in labels.items():
        values = [r.get(key) for _, r in rows]
        table.add_row(label, *["-" if v is None else f"{v:.4f}" if isinstance(v, float) else f"{v:,}" for v in values])
    table.add_row("fit time (s)", *[f"{e.fit_time_:.2f}" for e, _ in rows])
    console.print(table)
    console.print(f"[yellow]note:[/yellow] {ncf.KRICHENE_RENDLE_NOTE}")


def _check_writable(path: Path) -> None:
    """Fail before minutes of training when the report cannot be written.

    Fail before minutes of training when the report cannot be written (missing folders are
    created later, so the nearest existing folder must be writable).
    """
    from .errors import MfrecError
    path = path.expanduser()
    if path.is_dir():
        raise MfrecError(f"report path {path} is a folder; give a file name such as report.html")
    folder = path.resolve().parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise MfrecError(f"cannot write the report to {path}: {folder} is not a writable folder")
    from . import persistence
    persistence.check_writable_folder(folder, f"the report to {path}", MfrecError)


def _check_writable_folder(path: Path, what: str) -> None:
    """Fail before training when ``path`` cannot become a writable folder.

    Fail before training when ``path`` cannot become a writable folder (missing folders are
    created later, so the nearest existing one must accept a new file).
    """
    from . import persistence
    from .errors import MfrecError
    path = path.expanduser()
    if path.exists() and not path.is_dir():
        raise MfrecError(f"cannot write {what} to {path}: it is a file, not a folder")
    folder = path.resolve()
    while not folder.exists():
        folder = folder.parent
    persistence.check_writable_folder(folder, f"{what} ({path})", MfrecError)


def _check_model_output(path: Path) -> Path:
    """Return the model file ``fit -o`` will write, checked before loading data and training."""
    from . import persistence
    target = persistence.target_path(path.expanduser())
    persistence.check_writable_folder(target.parent, f"the model file {target}")
    return target


def _check_run_options(*, k: int, split: str, test_fraction: float, threshold: float) -> None:
    """Options of evaluate/compare that are checked only after training otherwise."""
    import math

    from .data import split as splits
    from .errors import InvalidParameterError
    if k < 1:
        raise InvalidParameterError(f"-k must be a positive integer, got {k}")
    if split not in ("per-user", "random", "leave-one-out"):
        raise InvalidParameterError(f"unknown split {split!r} (splits: per-user, random, leave-one-out)")
    if split != "leave-one-out":
        splits._check_fraction("--test-fraction", test_fraction)
    if not math.isfinite(threshold):
        raise InvalidParameterError(f"--threshold must be a finite number, got {threshold}")


def _load_model(path: Path):
    from .models.base import Recommender
    return Recommender.load(path)


def _parse_id(text: str, ids):
    """Parse a raw id typed on the command line, as the id map stores it (int or str)."""
    if ids.raw.dtype.kind in "iu":
        try:
            return int(text)
        except ValueError:
            return text
    return text


def _find_item(model, text: str):
    """Find an item by raw id, or else by (part of) its title when the model knows titles."""
    if not text.strip():
        from .errors import InvalidParameterError
        raise InvalidParameterError("the item is empty: give a raw item id or part of a title")
    raw = _parse_id(text, model.item_ids_)
    if raw in model.item_ids_:
        return raw
    meta = model.interactions_.item_metadata
    if meta is not None and "title" in meta.columns:
        matches = meta.index[meta["title"].astype(str).str.contains(text, case=False, regex=False)]
        known = [m for m in matches if m in model.item_ids_]
        if known:
            counts = model.interactions_.item_counts()
            return max(known, key=lambda m: counts[model.item_ids_.index(m)])
    from .errors import UnknownIdError
    raise UnknownIdError(f"no item with id or title {text!r} in this model")


def _items_table(title, model, ids, scores):
    inter = model.interactions_
    idx = model.item_ids_.indices(ids)
    meta = inter.item_metadata
    table = Table(title=title)
    for col in ("#", "item", "title", "score"):
        table.add_column(col, justify="right" if col in ("#", "score") else "left")
    titles = inter.item_titles(idx)
    genres = (meta["genres"].reindex(ids).fillna("").astype(str).tolist()
              if meta is not None and "genres" in meta.columns else None)
    for rank, (raw, label, score) in enumerate(zip(ids, titles, scores), start=1):
        label = f"{label} [dim]{genres[rank - 1]}[/dim]" if genres else label
        table.add_row(str(rank), str(raw), label, f"{score:.4f}")
    return table


@app.command("recommend")
def recommend(model_file: Path = typer.Argument(..., help="A model saved by `mfrec fit`."),
              user: str = typer.Argument(..., help="Raw user id."),
              n: int = typer.Option(10, "-n", help="How many items."),
              include_seen: bool = typer.Option(False, help="Also recommend items the user already rated.")) -> None:
    """Top-n recommendations for a user of the training data, with titles."""
    model = _load_model(model_file)
    raw = _parse_id(user, model.user_ids_)
    ids, scores = model.recommend(raw, n=n, exclude_seen=not include_seen)
    console.print(_items_table(f"{model.name}: top {n} for user {raw}", model, ids, scores))


@app.command("similar")
def similar(model_file: Path = typer.Argument(..., help="A model saved by `mfrec fit`."),
            item: str = typer.Argument(..., help="Raw item id, or part of a title (e.g. 'Toy Story')."),
            n: int = typer.Option(10, "-n", help="How many items."),
            min_ratings: int = typer.Option(0, "--min-ratings", help="Only neighbours with at least this many "
                                            "training interactions (rarely rated items have noisy factors)."),
            similarity: str = typer.Option("shrunk", help="shrunk (default: whitened cosine of the item factors, "
                                           "shrunk by the users two items share) or cosine (plain cosine).")) -> None:
    """Show the n items most similar to an item, with titles (see mfrec.similarity)."""
    model = _load_model(model_file)
    raw = _find_item(model, item)
    label = model.interactions_.item_titles([model.item_ids_.index(raw)])[0]
    ids, scores = model.similar_items(raw, n=n, min_interactions=min_ratings, similarity=similarity)
    console.print(_items_table(f"{model.name}: items similar to {label} ({raw})", model, ids, scores))


def _log_to_stderr() -> None:
    """Show the library's diagnostics (the "mfrec" logger, INFO and up) on stderr, once."""
    log = logging.getLogger("mfrec")
    if not any(getattr(h, "_mfrec_cli", False) for h in log.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._mfrec_cli = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.setLevel(logging.INFO)


@app.command("serve")
def serve(model_files: list[Path] = typer.Argument(..., help="Model files saved by `mfrec fit`; each is served "
                                                  "under its file name without .npz."),
          host: str = typer.Option("127.0.0.1", help="Address to listen on (default: this machine only)."),
          port: int = typer.Option(8000, help="TCP port (0 = any free port)."),
          cors: Optional[list[str]] = typer.Option(None, "--cors", help="Allow browser pages from this origin "
                                                   "(e.g. http://localhost:3000); repeat for more. Default: none."),
          max_body: int = typer.Option(1 << 20, "--max-body", help="Largest request body in bytes."),
          reload_interval: float = typer.Option(1.0, "--reload-interval", help="Seconds between checks of the model "
                                                "files for a new version (0 = never reload).")) -> None:
    """Serve models over HTTP: a JSON API (recommend, similar, fold-in, search) and a browse page at /.

    A model file replaced on disk is picked up within a few seconds.
    """
    from .serve.server import run as run_server  # MissingExtraError (one line) without the serve extra
    if max_body <= 0 or reload_interval < 0:
        raise MfrecError("--max-body must be positive and --reload-interval non-negative")
    _log_to_stderr()  # model reloads and failed reloads (logger "mfrec.serve.registry")
    run_server(model_files, host=host, port=port, cors_origins=cors, max_body=max_body,
               poll_interval=reload_interval, announce=lambda text: console.print(escape(text)))


def main() -> None:
    """Entry point: runs the app and turns user mistakes into one-line errors (exit code 2)."""
    try:
        app()
    except MfrecError as exc:  # a user mistake: one line; anything else is a bug and shows its traceback
        if _DEBUG:
            err_console.print_exception()
        message = " ".join(str(exc).split())
        err_console.print(f"[bold red]error:[/bold red] {escape(message)}", soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()

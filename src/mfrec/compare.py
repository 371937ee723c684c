"""`mfrec compare`: train every model on one split of one data set and measure them alike.

Protocol: the explicit ratings are split once (per-user holdout by default, seeded). The rating
model (SVD) trains on the training ratings; the implicit models train on the training ratings
>= threshold (same id space). Every model is evaluated on the held-out ratings >= threshold with
the same ranking metrics, excluding from each user's ranking every item they rated in training
(so the rating model and the implicit models face the same candidates); SVD also gets RMSE/MAE
on all held-out ratings. Everything goes through the public API (fit, evaluate_*, similar_items,
recommend), so the report shows what a user of the library gets.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from . import protocols
from .datasets import load_dataset
from .evaluation.names import table_metric_names
from .models import catalog
from .data.interactions import Interactions
from .errors import DataError, InvalidParameterError
from .evaluation import evaluate_ranking, evaluate_ratings
from .evaluation.coherence import genre_coherence
from .evaluation.franchise import franchise_check
from .evaluation.similar_items import model_neighbours, obscure_share
from .models.base import Recommender

DEFAULT_MODELS = tuple(catalog.MODELS)


@dataclass
class ModelRun:
    """One model's result in a comparison."""

    name: str
    model: Recommender
    metrics: dict                       # ranking (and rating) metrics, fit_time
    coherence: Optional[dict] = None    # genre coherence (None without genres)
    franchise: Optional[dict] = None    # franchise check of similar items (None without titles)
    obscure: Optional[dict] = None      # obscure-neighbour share of similar items


@dataclass
class Comparison:
    """Everything a comparison produced: the data, the protocol and one ModelRun per model."""

    dataset: str
    protocol: protocols.Protocol
    k: int
    threshold: float
    data: Interactions
    train: Interactions
    test: Interactions
    runs: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def table_rows(self) -> list[dict]:
        """One dict per model with the figures the CLI table and the HTML report both show."""
        rows = []
        for run in self.runs:
            m = run.metrics
            row = {"model": run.name, "fit time (s)": m["fit_time"]}
            for key in table_metric_names(self.k):
                row[key] = m.get(key)
            row[f"genre coherence@{self.k}"] = run.coherence[f"coherence@{self.k}"] if run.coherence else None
            row[f"franchise hit@{self.k}"] = run.franchise[f"franchise_hit_rate@{self.k}"] if run.franchise else None
            row[f"franchise recall@{self.k}"] = run.franchise[f"franchise_recall@{self.k}"] if run.franchise else None
            row[f"obscure@{self.k}"] = run.obscure[f"obscure@{self.k}"] if run.obscure else None
            row["rmse"] = m.get("rmse")
            row["mae"] = m.get("mae")
            rows.append(row)
        return rows


def check_models(names: Sequence[str]) -> list[str]:
    """Validate model names early (before loading data), keeping the user's order."""
    names = [n.strip().lower() for n in names if n.strip()]
    if not names:
        raise InvalidParameterError("no model to compare")
    for name in names:
        catalog.model_class(name)
    return list(dict.fromkeys(names))


def run_comparison(dataset: str = "ml-1m", models: Sequence[str] = DEFAULT_MODELS, *,
                   split: str = "per-user", test_fraction: float = 0.2, seed: int = 42, k: int = 10,
                   threshold: float = protocols.DEFAULT_THRESHOLD, preset: Optional[str] = None,
                   threads: int = 0, data_dir=None, show_progress: bool = False,
                   coherence_min_count: int = 50, model_params: Optional[dict] = None,
                   progress_callback=None) -> Comparison:
    """Fit and evaluate ``models`` on one split of ``dataset`` (see the module docstring).

    ``preset`` applies a named preset to every model that has one (others use their defaults);
    ``model_params`` maps a model name to extra hyperparameters, e.g. {"als": {"factors": 32}}.
    ``progress_callback(message)`` is told what is happening (the CLI prints it).
    """
    names = check_models(models)
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise InvalidParameterError(f"k must be a positive integer, got {k!r}")
    say = progress_callback or (lambda message: None)
    data = load_dataset(dataset, data_dir=data_dir, show_progress=show_progress)
    if k > data.n_items:
        raise InvalidParameterError(f"k={k} is larger than the catalogue ({data.n_items} items)")
    protocol = protocols.Protocol(split, test_fraction, seed)
    train, test = protocol.apply(data)
    comparison = Comparison(dataset, protocol, k, threshold, data, train, test)
    if data.is_explicit:
        test_positives = test.to_implicit(threshold=threshold)
    else:
        test_positives = test
        comparison.notes.append("the data set has no ratings: rating metrics are skipped")
    if genre_coherence_possible(data) is False:
        comparison.notes.append("the data set has no genres: the genre coherence measure is skipped")
    for name in names:
        cls = catalog.model_class(name)
        if cls.feedback == "explicit" and not data.is_explicit:
            comparison.notes.append(f"{name} skipped: it needs explicit ratings")
            continue
        params = {key: value for key, value in (("threads", threads), ("seed", seed)) if key in cls.param_names()}
        params.update((model_params or {}).get(name, {}))
        model = cls.preset(preset, **params) if preset and preset in cls.PRESETS else cls(**params)
        view = protocols.training_view(train, cls.feedback, threshold)
        say(f"fitting {name} on {view}")
        model.fit(view, show_progress=show_progress)
        metrics = {"fit_time": model.fit_time_}
        metrics.update(evaluate_ranking(model, test_positives, k=k, exclude=train))
        if cls.feedback == "explicit":
            metrics.update(evaluate_ratings(model, test))
        neighbours = model_neighbours(model)
        coherence = genre_coherence(model, k=k, min_count=coherence_min_count, neighbours=neighbours)
        franchise = franchise_check(model, k=k, neighbours=neighbours)
        obscure = obscure_share(model, k=k, neighbours=neighbours)
        comparison.runs.append(ModelRun(name, model, metrics, coherence, franchise, obscure))
        say(f"{name}: ndcg@{k} = {metrics[f'ndcg@{k}']:.4f} (fit {model.fit_time_:.1f} s)")
    groups = next((run.franchise for run in comparison.runs if run.franchise), None)
    if groups is not None:
        comparison.notes.append(f"franchise check: {groups['groups']} title groups, {groups['pairs']} pairs "
                                "among the items with >= 20 training interactions of the first model's training data "
                                "(each model is checked on the groups of its own training data)")
    if not comparison.runs:
        raise DataError("no model could be trained on this data set")
    chance = next((run.coherence["chance"] for run in comparison.runs if run.coherence), None)
    if chance is not None:
        comparison.notes.append(f"genre coherence of random neighbours (chance level): {chance:.4f}")
    return comparison


def genre_coherence_possible(data: Interactions) -> bool:
    """Whether the data carry genres, so that the genre coherence of similar items can be measured."""
    from .evaluation.coherence import genre_matrix
    return genre_matrix(data) is not None

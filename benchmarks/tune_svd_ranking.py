"""Choose SVD's top-N ranking (ranking="blend": the exposure ALS's size and ranking_weight) on a
validation split carved from `mfrec compare`'s training set, never its test split.

Protocol: ML-1M split as `mfrec compare` does (per user, 20% held out, seed 42); its training part
is split again per user (20% validation, seed 7). SVD (defaults) trains on the rest; the
validation ratings >= 4 are the relevant items; the training items are excluded from ranking.
Each exposure size is one fit; ranking_weight is varied on the fitted model (it only changes the
ranking vectors).

Usage (from the repository root)::

    MFREC_DATA_DIR=../shared/data .venv/bin/python -m benchmarks.tune_svd_ranking
"""
from __future__ import annotations

import time

import mfrec
from mfrec import protocols
from mfrec.datasets import load_dataset
from mfrec.data import per_user_split
from mfrec.evaluation import evaluate_ranking
from mfrec.models import svd as svd_module

EXPOSURE_SIZES = [dict(factors=32, iterations=8), dict(factors=64, iterations=8), dict(factors=64, iterations=15)]
WEIGHTS = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5]


def main() -> int:
    data = load_dataset("ml-1m")
    train, _test = protocols.Protocol("per-user", 0.2, 42).apply(data)   # the test part is not used
    fit_part, validation = per_user_split(train, test_fraction=0.2, seed=7)
    relevant = validation.to_implicit(threshold=4)
    default_size = dict(svd_module.EXPOSURE_PARAMS)
    try:
        for size in EXPOSURE_SIZES:
            svd_module.EXPOSURE_PARAMS.clear()
            svd_module.EXPOSURE_PARAMS.update(size)     # the grid varies the module's exposure size
            start = time.perf_counter()
            model = mfrec.SVD(seed=42).fit(fit_part)
            seconds = time.perf_counter() - start
            for weight in WEIGHTS:
                model.ranking_weight = weight
                model._item_vectors_cache = None
                ndcg = evaluate_ranking(model, relevant, k=10, exclude=fit_part)["ndcg@10"]
                print(f"exposure {size['factors']} f x {size['iterations']} it, ranking_weight {weight}: "
                      f"validation NDCG@10 {ndcg:.4f} (fit {seconds:.1f} s)", flush=True)
        rating = mfrec.SVD(seed=42, ranking="rating").fit(fit_part)
        print(f"ranking='rating': validation NDCG@10 "
              f"{evaluate_ranking(rating, relevant, k=10, exclude=fit_part)['ndcg@10']:.4f}")
    finally:
        svd_module.EXPOSURE_PARAMS.clear()
        svd_module.EXPOSURE_PARAMS.update(default_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

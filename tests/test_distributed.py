"""mfrec.distributed: ALS on a Dask LocalCluster (2 worker processes) against the local ALS."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

distributed = pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")
pytest.importorskip("pyarrow")

from mfrec import ALS, Interactions, Recommender, evaluate_ranking  # noqa: E402
from mfrec import distributed as mdist  # noqa: E402
from mfrec.errors import DataError, MfrecError  # noqa: E402



@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


def events(n_users=300, n_items=120, n=6000, seed=0) -> pd.DataFrame:
    """Power-law-ish implicit events with repeated (user, item) pairs and counts 1..4."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"user": rng.integers(0, n_users, n) * 3 + 1000,
                         "item": (rng.zipf(1.4, n) - 1) % n_items + 5,
                         "count": rng.integers(1, 5, n).astype(np.float64)})


def write_parquet(frame: pd.DataFrame, folder: Path, n_files: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for p, idx in enumerate(np.array_split(np.arange(len(frame)), n_files)):
        frame.iloc[idx].to_parquet(folder / f"part-{p}.parquet", index=False)
    return folder


def local_fit(frame: pd.DataFrame, value_col=None, **params) -> ALS:
    values = None if value_col is None else frame[value_col].to_numpy()
    inter = Interactions.from_arrays(frame["user"].to_numpy(), frame["item"].to_numpy(), values,
                                     duplicates="sum", kind="implicit")
    return ALS(**params).fit(inter)


@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_parquet_fit_equals_local_als(client, tmp_path, solver):
    frame = events()
    params = dict(factors=8, iterations=4, seed=7, threads=1, solver=solver, alpha=0.5)
    local = local_fit(frame, "count", **params)
    model = mdist.fit(ALS(**params), write_parquet(frame, tmp_path / "events"), client=client, value_col="count")
    assert isinstance(model, ALS) and model.is_fitted
    assert model.user_ids_ == local.user_ids_ and model.item_ids_ == local.item_ids_
    # repeated pairs were summed as local duplicates="sum" does
    assert (model.interactions_.matrix != local.interactions_.matrix).nnz == 0
    # same initial draws and kernels: equal up to summation order of the Gram reduction
    np.testing.assert_allclose(model.user_factors_, local.user_factors_, atol=2e-5)
    np.testing.assert_allclose(model.item_factors_, local.item_factors_, atol=2e-5)
    info = model.distributed_info_
    assert info["workers"] == 2 and info["user_blocks"] == 2
    # each user block receives at most every item row once, never more
    assert 0 < info["item_rows_sent_per_iteration"] <= 2 * model.item_factors_.shape[0]


def test_dask_dataframe_with_string_ids_and_more_blocks_than_workers(client):
    frame = events(seed=1)
    frame["user"] = "u" + frame["user"].astype(str)
    frame["item"] = "i" + frame["item"].astype(str)
    params = dict(factors=6, iterations=3, seed=2, threads=1)
    local = local_fit(frame, **params)
    model = mdist.fit(ALS(**params), dd.from_pandas(frame[["user", "item"]], npartitions=4), client=client, blocks=3)
    assert model.user_ids_ == local.user_ids_ and model.item_ids_ == local.item_ids_
    assert model.interactions_.matrix.max() == local.interactions_.matrix.max() > 1  # summed repeats
    np.testing.assert_allclose(model.user_factors_, local.user_factors_, atol=2e-5)
    np.testing.assert_allclose(model.item_factors_, local.item_factors_, atol=2e-5)
    assert model.distributed_info_["user_blocks"] == 3


def test_fitted_model_recommends_saves_and_loads(client, tmp_path):
    frame = events(seed=2)
    model = mdist.fit(ALS(factors=8, iterations=3, seed=0, threads=1), write_parquet(frame, tmp_path / "ev"),
                      client=client)
    user = frame["user"].iloc[0]
    items, scores = model.recommend(user, n=5)
    seen = set(frame.loc[frame["user"] == user, "item"])
    assert len(items) == 5 and not seen & set(items.tolist()) and np.all(np.diff(scores) <= 0)
    path = model.save(tmp_path / "model.npz")
    loaded = Recommender.load(path)
    np.testing.assert_array_equal(loaded.recommend(user, n=5)[0], items)
    np.testing.assert_array_equal(loaded.similar_items(frame["item"].iloc[0], n=3)[0],
                                  model.similar_items(frame["item"].iloc[0], n=3)[0])


def test_keep_interactions_false_gives_same_factors_and_an_empty_matrix(client, tmp_path):
    folder = write_parquet(events(seed=3), tmp_path / "ev")
    full = mdist.fit(ALS(factors=4, iterations=2, seed=5, threads=1), folder, client=client)
    lean = mdist.fit(ALS(factors=4, iterations=2, seed=5, threads=1), folder, client=client, keep_interactions=False)
    assert lean.interactions_.nnz == 0 and lean.interactions_.shape == full.interactions_.shape
    np.testing.assert_array_equal(lean.item_factors_, full.item_factors_)


def test_init_blocks_trains_as_well_without_the_global_draws(client, tmp_path):
    folder = write_parquet(events(seed=8), tmp_path / "ev")
    params = dict(factors=8, iterations=15, seed=1, threads=1, solver="cholesky")
    glob = mdist.fit(ALS(**params), folder, client=client)
    blocked = mdist.fit(ALS(**params), folder, client=client, init="blocks")
    again = mdist.fit(ALS(**params), folder, client=client, init="blocks")
    assert blocked.distributed_info_["init"] == "blocks"
    np.testing.assert_array_equal(blocked.user_factors_, again.user_factors_)  # seeded per block
    assert np.abs(blocked.user_factors_ - glob.user_factors_).max() > 1e-3  # other draws ...
    # ... to the same quality: the ALS objective of both models within 2%
    users, items = glob._prepare(glob.interactions_, float64=True)
    losses = [m._objective(users, items, m.user_factors_, m.item_factors_) for m in (glob, blocked)]
    assert abs(losses[1] - losses[0]) < 0.02 * losses[0], losses


def test_bad_inputs_raise_clear_errors(client, tmp_path):
    frame = events(seed=4)
    frame.loc[17, "count"] = -1.0
    folder = write_parquet(frame, tmp_path / "bad", n_files=1)
    model = ALS(factors=4, iterations=2, seed=0)
    with pytest.raises(DataError, match=r"row 17 has count = -1\.0"):
        mdist.fit(model, folder, client=client, value_col="count")
    assert not model.is_fitted
    with pytest.raises(DataError, match="no column 'rating'"):
        mdist.fit(model, folder, client=client, value_col="rating")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .parquet files"):
        mdist.fit(model, tmp_path / "empty", client=client)
    with pytest.raises(DataError, match="no such file"):
        mdist.fit(model, str(tmp_path / "missing-*.parquet"), client=client)
    with pytest.raises(DataError, match="trains an mfrec.ALS"):
        mdist.fit(object(), folder, client=client)
    with pytest.raises(ValueError, match="init must be"):
        mdist.fit(model, folder, client=client, init="zeros")
    with pytest.raises(ValueError, match="calculate_loss"):
        mdist.fit(ALS(calculate_loss=True), folder, client=client)


def _explode(part):
    raise OSError("disk gone")


def test_a_failing_task_ends_in_a_clear_error_and_no_model(client):
    good = dd.from_pandas(events(seed=5)[["user", "item"]], npartitions=2)
    frame = good.map_partitions(_explode, meta=good._meta)  # reading a partition fails on the worker
    model = ALS(factors=4, iterations=2, seed=0)
    with pytest.raises(mdist.DistributedFitError, match="disk gone"):
        mdist.fit(model, frame, client=client)
    assert not model.is_fitted


def test_worker_killed_mid_fit_still_gives_the_same_model(client, tmp_path):
    folder = write_parquet(events(n_users=2000, n_items=600, n=60000, seed=6), tmp_path / "ev")
    params = dict(factors=16, iterations=5, seed=11, threads=1)
    clean = mdist.fit(ALS(**params), folder, client=client)
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]
    killed = []

    def kill_one_worker(epoch, metrics):
        if epoch == 2:  # the worker holds blocks and factors of iteration 2: Dask must recompute them
            os.kill(pids[victim], signal.SIGKILL)
            killed.append(epoch)

    try:
        model = mdist.fit(ALS(**params), folder, client=client, callback=kill_one_worker)
    except MfrecError as exc:  # acceptable outcome: a clear error and no half-fitted model
        assert "cluster computation failed" in str(exc)
    else:
        assert killed == [2] and len(model.loss_history_) == 5
        np.testing.assert_allclose(model.user_factors_, clean.user_factors_, atol=1e-6)
        np.testing.assert_allclose(model.item_factors_, clean.item_factors_, atol=1e-6)
    finally:
        client.wait_for_workers(2, timeout=60)
    assert pids[victim] not in client.run(os.getpid).values()  # the worker really died (and was replaced)


def test_ml1m_split_ranks_like_the_local_model(client, tmp_path, data_dir, data_file):
    data_file("ml-1m/ratings.dat")
    from mfrec import load_movielens
    from mfrec.data.split import per_user_split

    liked = load_movielens("1m", data_dir, download=False).to_implicit(threshold=4)
    split = per_user_split(liked, test_fraction=0.2, seed=42)
    coo = split.train.matrix.tocoo()
    frame = pd.DataFrame({"user": split.train.user_ids.to_raw(coo.row), "item": split.train.item_ids.to_raw(coo.col)})
    frame = frame.sample(frac=1.0, random_state=0)  # partitions in no particular order
    params = dict(factors=64, iterations=10, seed=0, threads=1)
    local = local_fit(frame, **params)
    model = mdist.fit(ALS(**params), write_parquet(frame, tmp_path / "ml1m", n_files=4), client=client)
    ndcg_local = evaluate_ranking(local, split.test, k=10)["ndcg@10"]
    ndcg_dist = evaluate_ranking(model, split.test, k=10)["ndcg@10"]
    assert ndcg_local > 0.25  # a trained model, not noise
    assert abs(ndcg_dist - ndcg_local) <= 0.005
    items = list(local.item_ids_.raw)
    ours, theirs = model.similar_items(items, n=10), local.similar_items(items, n=10)
    agree = np.mean([set(a[0].tolist()) == set(b[0].tolist()) for a, b in zip(ours, theirs)])
    assert agree >= 0.9

"""Tests of mfrec.data.split: sizes, partition properties, seeds, time rules, dropping, validation."""
import datetime as dt
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from mfrec.data.interactions import Interactions
from mfrec.data.split import Split, kfold, leave_one_out, per_user_split, random_split, temporal_split
from mfrec.errors import DataError
from synthetic import random_ratings

# ---------------------------------------------------------------------- helpers
def make_data(n_users=40, n_items=30, density=0.4, seed=1, timestamps=True, nan_share=0.0):
    """Random explicit data with distinct timestamps (some NaN if nan_share > 0); raw ids are
    strings for users and offset integers for items, so raw id != index."""
    return random_ratings(n_users, n_items, density, seed, timestamps=timestamps, nan_share=nan_share)


def entries(inter):
    """{(raw user, raw item): (value, timestamp)} of an Interactions."""
    df = inter.to_dataframe()
    value_col = "rating" if inter.is_explicit else "value"
    ts = df["timestamp"] if "timestamp" in df else [np.nan] * len(df)
    return {(u, i): (v, t) for u, i, v, t in zip(df["user"], df["item"], df[value_col], ts)}


def same_entry(a, b):
    return a[0] == b[0] and ((math.isnan(a[1]) and math.isnan(b[1])) or a[1] == b[1])


def check_split(inter, split):
    """Properties every split must have; returns (train entries, test entries, dropped entries)."""
    assert isinstance(split, Split)
    train, test = split
    assert train is split.train and test is split.test
    # test uses train's id maps, so indices agree
    assert test.user_ids == train.user_ids and test.item_ids == train.item_ids
    assert test.shape == train.shape
    assert test.kind == train.kind == inter.kind
    # train is compact
    assert (np.diff(train.matrix.indptr) > 0).all()
    assert (train.item_counts() > 0).all()
    orig, tr, te = entries(inter), entries(train), entries(test)
    # disjoint, and each entry (value and timestamp) is an original one: nothing mis-mapped
    assert not set(tr) & set(te)
    for part in (tr, te):
        for key, val in part.items():
            assert key in orig and same_entry(val, orig[key]), key
    # the rest are exactly the dropped held-out entries: user or item unknown to train
    rest = {k: v for k, v in orig.items() if k not in tr and k not in te}
    assert len(rest) == split.dropped_test
    for user, item in rest:
        assert user not in train.user_ids or item not in train.item_ids
    assert len(tr) + len(te) + len(rest) == len(orig)
    assert split.n_test_users == len({u for u, _ in te})
    return tr, te, rest


def held_out_per_user(inter, split):
    tr, te, rest = check_split(inter, split)
    return Counter(u for u, _ in list(te) + list(rest))


# ---------------------------------------------------------------------- Split object
def test_split_unpacks_is_frozen_and_prints():
    inter = make_data()
    split = random_split(inter, 0.2, seed=0)
    train, test = split
    assert train.nnz > 0 and test.nnz > 0
    with pytest.raises(AttributeError):
        split.dropped_test = 5
    text = repr(split)
    assert "random_split" in text and "dropped" in text


# ---------------------------------------------------------------------- random_split
@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_random_split_sizes_and_partition(fraction):
    inter = make_data()
    split = random_split(inter, fraction, seed=3)
    tr, te, rest = check_split(inter, split)
    n_test = math.floor(fraction * inter.nnz + 0.5)
    assert len(te) + len(rest) == n_test
    assert len(tr) == inter.nnz - n_test
    assert split.untimed == 0


def test_random_split_union_is_original_when_nothing_dropped():
    inter = make_data(density=0.9)  # dense: every user/item keeps training entries
    split = random_split(inter, 0.2, seed=0)
    tr, te, rest = check_split(inter, split)
    assert split.dropped_test == 0 and not rest
    assert set(tr) | set(te) == set(entries(inter))


def test_random_split_reproducible_and_seed_dependent():
    inter = make_data()
    a, b, c = (random_split(inter, 0.2, seed=s) for s in (7, 7, 8))
    assert set(entries(a.test)) == set(entries(b.test))
    assert (a.train.matrix != b.train.matrix).nnz == 0
    assert set(entries(a.test)) != set(entries(c.test))


def test_random_split_accepts_a_generator_seed():
    inter = make_data()
    a = random_split(inter, 0.2, seed=np.random.default_rng(5))
    b = random_split(inter, 0.2, seed=np.random.default_rng(5))
    assert set(entries(a.test)) == set(entries(b.test))


# ---------------------------------------------------------------------- per_user_split
def test_per_user_split_counts_follow_documented_rounding():
    inter = make_data(n_users=60, density=0.3)
    fraction = 0.25
    split = per_user_split(inter, fraction, seed=0)
    held = held_out_per_user(inter, split)
    n_u = Counter(inter.to_dataframe()["user"])
    for user, n in n_u.items():
        expected = max(0, min(math.floor(fraction * n + 0.5), n - 1))
        assert held.get(user, 0) == expected, (user, n)


def test_per_user_split_round_half_up_hand_cases():
    # user a: 2 entries, 0.25*2 = 0.5 -> 1; user b: 3 entries, 0.1*3 = 0.3 -> 0 at fraction 0.1
    users = ["a", "a", "b", "b", "b", "c", "c", "c", "c"]
    items = [1, 2, 1, 2, 3, 1, 2, 3, 4]
    inter = Interactions.from_arrays(users, items, [1] * 9)
    held = held_out_per_user(inter, per_user_split(inter, 0.25, seed=0))
    assert held["a"] == 1 and held["b"] == 1 and held["c"] == 1  # 0.5, 0.75, 1.0 -> 1
    held = held_out_per_user(inter, per_user_split(inter, 0.5, seed=0))
    assert held["a"] == 1 and held["b"] == 2 and held["c"] == 2  # 1, 1.5 -> 2, 2
    held = held_out_per_user(inter, per_user_split(inter, 0.2, seed=0))
    assert held.get("a", 0) == 0 and held["b"] == 1 and held["c"] == 1  # 0.4 -> 0, 0.6 -> 1, 0.8 -> 1


def test_per_user_split_fixed_count_and_min_train():
    inter = make_data(n_users=50, density=0.25)
    n_u = Counter(inter.to_dataframe()["user"])
    split = per_user_split(inter, test_count=3, min_train=2, seed=4)
    held = held_out_per_user(inter, split)
    for user, n in n_u.items():
        assert held.get(user, 0) == max(0, min(3, n - 2))
    # every user with enough entries stays in train with >= min_train entries
    train_counts = Counter(split.train.to_dataframe()["user"])
    for user, n in n_u.items():
        assert train_counts[user] >= min(n, 2)


def test_per_user_split_users_with_too_few_entries_keep_all_in_train():
    users = ["solo"] + ["a"] * 4 + ["b"] * 4
    items = [1] + [1, 2, 3, 4] * 2
    inter = Interactions.from_arrays(users, items, [5, 4, 3, 2, 1, 1, 2, 3, 4])
    split = per_user_split(inter, 0.5, seed=0)
    held = held_out_per_user(inter, split)
    assert held.get("solo", 0) == 0 and held["a"] == 2 and held["b"] == 2
    assert "solo" in split.train.user_ids


def test_per_user_split_is_random_within_users_and_reproducible():
    inter = make_data()
    a, b, c = (per_user_split(inter, 0.3, seed=s) for s in (1, 1, 2))
    assert set(entries(a.test)) == set(entries(b.test))
    assert set(entries(a.test)) != set(entries(c.test))
    # over many seeds, every entry of a 10-entry user is held out at some point
    users = ["x"] * 10 + ["y"] * 10
    items = list(range(10)) * 2
    small = Interactions.from_arrays(users, items, [1] * 20)
    seen = set()
    for s in range(60):
        te = per_user_split(small, 0.2, seed=s).test
        seen |= {k for k in entries(te) if k[0] == "x"}
    assert len(seen) == 10


# ---------------------------------------------------------------------- leave_one_out
def test_leave_one_out_by_time_takes_the_latest():
    inter = make_data()
    split = leave_one_out(inter, by="time")
    tr, te, rest = check_split(inter, split)
    df = inter.to_dataframe()
    latest = df.loc[df.groupby("user")["timestamp"].idxmax()]
    counts = df.groupby("user").size()
    expected = {(u, i) for u, i in zip(latest["user"], latest["item"]) if counts[u] >= 2}
    assert set(te) | set(rest) == expected
    for (u, _item), (_value, t) in te.items():  # test timestamp carried, and it is the user's max
        assert t == df.loc[df["user"] == u, "timestamp"].max()
    assert split.untimed == 0


def test_leave_one_out_ties_are_broken_by_seed():
    # user a's two latest entries share a timestamp; c keeps items 1-3 in train
    users = ["a", "a", "a", "b", "b", "c", "c", "c", "c"]
    items = [1, 2, 3, 1, 2, 1, 2, 3, 4]
    ts = [10.0, 50.0, 50.0, 5.0, 6.0, 1.0, 2.0, 3.0, 99.0]
    inter = Interactions.from_arrays(users, items, [1, 2, 3, 4, 5, 1, 2, 3, 4], ts)
    picks = set()
    for seed in range(40):
        split = leave_one_out(inter, by="time", seed=seed)
        tr, te, rest = check_split(inter, split)
        held_a = {i for (u, i) in set(te) | set(rest) if u == "a"}
        assert held_a <= {2, 3} and len(held_a) == 1
        picks |= held_a
        again = leave_one_out(inter, by="time", seed=seed)
        assert entries(again.test) == te and again.dropped_test == split.dropped_test
    assert picks == {2, 3}


def test_leave_one_out_nan_timestamps_are_earlier_and_never_held_out():
    nan = np.nan
    users = ["a", "a", "a", "b", "b", "c", "c", "c"]
    items = [1, 2, 3, 1, 2, 1, 2, 3]
    ts = [100.0, nan, 50.0, nan, nan, nan, 7.0, nan]
    inter = Interactions.from_arrays(users, items, [1] * 8, ts)
    split = leave_one_out(inter, by="time", seed=0)
    tr, te, rest = check_split(inter, split)
    held = set(te) | set(rest)
    assert held == {("a", 1), ("c", 2)}  # b has no timed entry: nothing held out
    assert split.untimed == 5
    assert all(not math.isnan(t) for _, t in te.values())
    # NaN timestamps travel into train unchanged
    assert sum(math.isnan(t) for _, t in tr.values()) == 5


def test_leave_one_out_requires_timestamps_for_time():
    inter = make_data(timestamps=False)
    with pytest.raises(DataError, match="timestamps"):
        leave_one_out(inter, by="time")
    all_nan = Interactions.from_arrays([1, 1, 2, 2], [1, 2, 1, 2], [1, 2, 3, 4], [np.nan] * 4)
    with pytest.raises(DataError, match="timestamps"):
        leave_one_out(all_nan, by="time")
    split = leave_one_out(inter, by="random", seed=0)  # random works without timestamps
    check_split(inter, split)


def test_leave_one_out_random_one_per_user_reproducible():
    inter = make_data()
    split = leave_one_out(inter, by="random", seed=3)
    held = held_out_per_user(inter, split)
    n_u = Counter(inter.to_dataframe()["user"])
    assert held == Counter({u: 1 for u, n in n_u.items() if n >= 2})
    same = leave_one_out(inter, by="random", seed=3)
    other = leave_one_out(inter, by="random", seed=4)
    assert entries(same.test).keys() == entries(split.test).keys()
    assert entries(other.test).keys() != entries(split.test).keys()


def test_leave_one_out_min_train_and_empty_test():
    inter = Interactions.from_arrays(["a", "a", "a", "b", "b"], [1, 2, 3, 1, 3], [1] * 5, [1, 2, 3, 5, 4])
    held = held_out_per_user(inter, leave_one_out(inter, by="time", min_train=2))
    assert held == Counter({"a": 1})
    singles = Interactions.from_arrays(["a", "b", "c"], [1, 2, 3], [1, 1, 1], [1, 2, 3])
    with pytest.raises(DataError, match="test set is empty"):
        leave_one_out(singles, by="time")


# ---------------------------------------------------------------------- dropping
def test_item_only_in_test_is_dropped_and_counted_never_mismapped():
    # item 999 is rated once, as user a's latest entry -> held out, absent from train
    users = ["a", "a", "a", "b", "b", "b", "c", "c"]
    items = [10, 20, 999, 10, 20, 30, 30, 20]
    ts = [1, 2, 9, 1, 2, 3, 1, 5]
    inter = Interactions.from_arrays(users, items, [1, 2, 3, 4, 5, 1, 2, 3], ts)
    split = leave_one_out(inter, by="time")
    train, test = split
    assert split.dropped_test == 1
    assert 999 not in train.item_ids and train.n_items == 3
    assert entries(test) == {("b", 30): (1.0, 3.0), ("c", 20): (3.0, 5.0)}
    # the test indices are train's indices of the same raw ids
    u, i, v = test.to_coo()
    assert list(train.user_ids.to_raw(u)) == ["b", "c"]
    assert list(train.item_ids.to_raw(i)) == [30, 20]
    assert test.matrix[train.user_ids.index("b"), train.item_ids.index(30)] == 1.0
    check_split(inter, split)


def test_all_held_out_entries_dropped_raises():
    # the cutoff sends only c's entry to test, and c has no train entry: nothing left to test
    inter = Interactions.from_arrays(["a", "a", "c"], [1, 2, 3], [1, 1, 1], [1, 2, 10])
    with pytest.raises(DataError, match="absent from train"):
        temporal_split(inter, 5)


def test_user_only_in_test_is_dropped_by_temporal_split():
    users = ["a", "a", "b", "b", "new", "new"]
    items = [1, 2, 1, 2, 1, 2]
    ts = [1, 20, 2, 3, 30, 40]
    inter = Interactions.from_arrays(users, items, [1] * 6, ts)
    split = temporal_split(inter, 10)
    tr, te, rest = check_split(inter, split)
    assert set(te) == {("a", 2)}
    assert set(rest) == {("new", 1), ("new", 2)} and split.dropped_test == 2
    assert "new" not in split.train.user_ids


# ---------------------------------------------------------------------- temporal_split
def test_temporal_split_cutoff_and_nan_rule():
    inter = make_data(nan_share=0.1)
    ts = inter.timestamps
    cutoff = float(np.nanquantile(ts, 0.7))
    split = temporal_split(inter, cutoff)
    tr, te, rest = check_split(inter, split)
    orig = entries(inter)
    assert all(t >= cutoff for _, t in te.values())
    assert all(orig[key][1] >= cutoff for key in rest)  # dropped ones were test entries too
    assert all(math.isnan(t) or t < cutoff for _, t in tr.values())
    n_nan = int(np.isnan(ts).sum())
    assert n_nan > 0 and split.untimed == n_nan
    assert sum(math.isnan(t) for _, t in tr.values()) == n_nan  # all untimed entries in train
    assert len(te) + len(rest) == int((ts >= cutoff).sum())


def test_temporal_split_cutoff_forms_agree():
    base = dt.datetime(2001, 9, 9, 1, 46, 40, tzinfo=dt.timezone.utc)  # 1_000_000_000 s
    inter = make_data()
    seconds = 1_000_000_000 + 400 * 60
    when = base + dt.timedelta(minutes=400)
    forms = [seconds, float(seconds), when, when.replace(tzinfo=None), when.isoformat(),
             "2001-09-09 08:26:40", "2001-09-09T10:26:40+02:00", np.datetime64("2001-09-09T08:26:40"),
             pd.Timestamp(when)]
    reference = entries(temporal_split(inter, seconds).test)
    for form in forms:
        assert entries(temporal_split(inter, form).test) == reference, form


def test_temporal_split_errors():
    inter = make_data()
    with pytest.raises(DataError, match="test set would be empty"):
        temporal_split(inter, "2030-01-01")
    with pytest.raises(DataError, match="train set would be empty"):
        temporal_split(inter, 0)
    with pytest.raises(DataError, match="timestamps"):
        temporal_split(make_data(timestamps=False), 1e9)
    for bad in ("not a date", float("nan"), True, [1, 2], None):
        with pytest.raises(ValueError, match="cutoff"):
            temporal_split(inter, bad)


# ---------------------------------------------------------------------- kfold
def test_kfold_partitions_entries():
    inter = make_data()
    folds = list(kfold(inter, k=4, seed=2))
    assert len(folds) == 4
    held_sets = []
    for split in folds:
        tr, te, rest = check_split(inter, split)
        held_sets.append(set(te) | set(rest))
    sizes = [len(h) for h in held_sets]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == inter.nnz
    union = set().union(*held_sets)
    assert union == set(entries(inter))  # each entry in exactly one test fold
    again = [set(entries(s.test)) for s in kfold(inter, k=4, seed=2)]
    assert again == [set(entries(s.test)) for s in folds]
    other = [set(entries(s.test)) for s in kfold(inter, k=4, seed=3)]
    assert other != again


def test_kfold_validates_at_call_time():
    inter = make_data()
    with pytest.raises(ValueError, match="k must"):
        kfold(inter, k=1)  # no iteration needed
    with pytest.raises(ValueError, match="k="):
        kfold(Interactions.from_arrays([1, 2, 3], [1, 2, 3], [1, 1, 1]), k=4)


# ---------------------------------------------------------------------- implicit data, validation
def test_splits_work_on_implicit_data():
    inter = make_data().to_implicit(threshold=3)
    assert inter.kind == "implicit"
    for split in (random_split(inter, 0.2), per_user_split(inter, 0.2), leave_one_out(inter),
                  leave_one_out(inter, by="random"), next(kfold(inter, 3)),
                  temporal_split(inter, float(np.nanmedian(inter.timestamps)))):
        check_split(inter, split)
        assert split.train.kind == split.test.kind == "implicit"


@pytest.mark.parametrize("call, name", [
    (lambda d: random_split(d, 0.0), "test_fraction"),
    (lambda d: random_split(d, 1.0), "test_fraction"),
    (lambda d: random_split(d, "0.2"), "test_fraction"),
    (lambda d: random_split(d, 0.2, seed=-1), "seed"),
    (lambda d: random_split(d, 0.2, seed=1.5), "seed"),
    (lambda d: per_user_split(d, 1.5), "test_fraction"),
    (lambda d: per_user_split(d, test_count=0), "test_count"),
    (lambda d: per_user_split(d, test_count=2.5), "test_count"),
    (lambda d: per_user_split(d, 0.2, min_train=-1), "min_train"),
    (lambda d: leave_one_out(d, by="latest"), "by"),
    (lambda d: leave_one_out(d, min_train=True), "min_train"),
    (lambda d: kfold(d, k=0), "k"),
    (lambda d: kfold(d, k=2.0), "k"),
])
def test_bad_parameters_raise_value_error_naming_them(call, name):
    with pytest.raises(ValueError, match=name):
        call(make_data())


def test_non_interactions_input_is_rejected():
    with pytest.raises(DataError, match="Interactions"):
        random_split([(1, 2, 3.0)], 0.2)


def test_random_split_too_small_for_fraction():
    tiny = Interactions.from_arrays([1, 2, 3], [1, 2, 3], [1, 1, 1])
    with pytest.raises(DataError, match="test entries"):
        random_split(tiny, 0.1)


# ---------------------------------------------------------------------- real data
def test_leave_one_out_by_time_on_ml100k(data_file):
    df = pd.read_csv(data_file("ml-100k/u.data"), sep="\t", names=["user", "item", "rating", "timestamp"])
    inter = Interactions.from_arrays(df["user"].to_numpy(), df["item"].to_numpy(), df["rating"].to_numpy(),
                                     df["timestamp"].to_numpy(), rating_scale=(1, 5))
    assert (inter.nnz, inter.n_users, inter.n_items) == (100_000, 943, 1682)
    split = leave_one_out(inter, by="time", seed=0)
    train, test = split
    assert test.nnz + split.dropped_test == 943  # every user has >= 20 ratings: one held out each
    assert train.nnz == 100_000 - 943
    latest = df.groupby("user")["timestamp"].max()
    t_df = test.to_dataframe()
    assert (t_df["timestamp"].to_numpy() == latest.loc[t_df["user"]].to_numpy()).all()
    # the held-out entry is a real rating of that user, with its rating
    merged = t_df.merge(df, on=["user", "item", "timestamp"], how="left", suffixes=("", "_orig"))
    assert (merged["rating"] == merged["rating_orig"]).all()
    # nothing later than the held-out entry remains in train for that user
    tr_df = train.to_dataframe()
    max_train = tr_df.groupby("user")["timestamp"].max()
    assert (max_train.loc[t_df["user"]].to_numpy() <= t_df["timestamp"].to_numpy()).all()
    check_split(inter, split)


def test_splits_handle_users_and_items_without_entries():
    # to_implicit()/select() keep the id maps, so some rows and columns can be empty
    inter = make_data()
    u, i, _ = inter.to_coo()
    sparse = inter.select((u != 0) & (u != 5) & (i != 3))
    assert np.diff(sparse.matrix.indptr)[[0, 5]].tolist() == [0, 0]
    for split in (random_split(sparse, 0.2), per_user_split(sparse, 0.2), per_user_split(sparse, test_count=2),
                  leave_one_out(sparse), leave_one_out(sparse, by="random"), next(kfold(sparse, 3)),
                  temporal_split(sparse, float(np.nanmedian(sparse.timestamps)))):
        check_split(sparse, split)
        assert "u0" not in split.train.user_ids and 103 not in split.train.item_ids

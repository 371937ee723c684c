"""Tests of mfrec.data.readers.read_ratings: formats, separators, and every bad-input case."""
import gzip

import numpy as np
import pandas as pd
import pytest

from mfrec.data.readers import read_ratings
from mfrec.errors import DataError



def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def triples(inter):
    """{(user, item): rating} of an Interactions, with raw ids."""
    df = inter.to_dataframe()
    return {(u, i): r for u, i, r in zip(df["user"], df["item"], df.iloc[:, 2])}


def raises_data_error(path, *fragments, **kwargs):
    with pytest.raises(DataError) as info:
        read_ratings(path, **kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# ------------------------------------------------------------------ formats and separators
def test_double_colon_file(tmp_path):
    path = write(tmp_path, "r.dat", "1::10::5::978300760\n1::11::3::978302109\n2::10::4::978301968\n")
    inter = read_ratings(path)
    assert inter.kind == "explicit"
    assert (inter.n_users, inter.n_items, inter.nnz) == (2, 2, 3)
    assert triples(inter) == {(1, 10): 5.0, (1, 11): 3.0, (2, 10): 4.0}
    assert inter.user_ids.raw.dtype == np.int64
    assert sorted(inter.timestamps.tolist()) == [978300760.0, 978301968.0, 978302109.0]


def test_tab_file_like_ml100k(tmp_path):
    path = write(tmp_path, "u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n")
    inter = read_ratings(path)
    assert triples(inter) == {(196, 242): 3.0, (186, 302): 3.0, (22, 377): 1.0}


def test_comma_file_with_header_and_half_stars(tmp_path):
    path = write(tmp_path, "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,3.5,964981247\n")
    inter = read_ratings(path, rating_scale=(0.5, 5))
    assert triples(inter) == {(1, 1): 4.0, (1, 3): 3.5}
    assert inter.rating_scale == (0.5, 5.0)


def test_header_columns_in_any_order(tmp_path):
    path = write(tmp_path, "r.csv", "timestamp,rating,item_id,user_id\n100,4,a,u1\n200,2,b,u2\n")
    inter = read_ratings(path)
    assert triples(inter) == {("u1", "a"): 4.0, ("u2", "b"): 2.0}
    df = inter.to_dataframe().sort_values("user")
    assert df["timestamp"].tolist() == [100.0, 200.0]


def test_explicit_separator_and_names(tmp_path):
    path = write(tmp_path, "r.txt", "5;x;1\n6;y;0\n")
    inter = read_ratings(path, sep=";", names=["when", "who", "what"], user_col="who", item_col="what",
                         rating_col=False, timestamp_col="when")
    assert inter.kind == "implicit"
    assert set(triples(inter)) == {("x", 1), ("y", 0)}
    assert sorted(inter.timestamps.tolist()) == [5.0, 6.0]


def test_semicolon_and_pipe_are_detected(tmp_path):
    assert read_ratings(write(tmp_path, "a.txt", "1;2;3\n2;3;4\n")).nnz == 2
    assert read_ratings(write(tmp_path, "b.txt", "1|2|3\n2|3|4\n")).nnz == 2


def test_two_columns_are_implicit(tmp_path):
    inter = read_ratings(write(tmp_path, "r.csv", "1,2\n1,3\n4,2\n"))
    assert inter.kind == "implicit"
    assert inter.nnz == 3 and set(inter.matrix.data.tolist()) == {1.0}


def test_rating_col_false_reads_implicit(tmp_path):
    inter = read_ratings(write(tmp_path, "r.csv", "1,2,5\n1,3,1\n"), rating_col=False)
    assert inter.kind == "implicit" and inter.nnz == 2


def test_empty_timestamp_field_is_nan(tmp_path):
    # The ML-1M case: some lines end in "::" (no timestamp known).
    path = write(tmp_path, "r.dat", "1::10::5::978300760\n3000::11::3::\n3001::10::3::\n")
    inter = read_ratings(path)
    assert inter.nnz == 3
    df = inter.to_dataframe().set_index("user")
    assert df.loc[1, "timestamp"] == 978300760.0
    assert np.isnan(df.loc[3000, "timestamp"]) and np.isnan(df.loc[3001, "timestamp"])


def test_all_timestamps_empty_gives_no_timestamps(tmp_path):
    inter = read_ratings(write(tmp_path, "r.csv", "1,2,3,\n2,2,4,\n"))
    assert inter.nnz == 2 and not inter.has_timestamps


def test_blank_lines_crlf_and_bom(tmp_path):
    path = write(tmp_path, "r.csv", b"\xef\xbb\xbfuser,item,rating\r\n1,2,3\r\n\r\n\r\n2,2,4\r\n")
    inter = read_ratings(path)
    assert triples(inter) == {(1, 2): 3.0, (2, 2): 4.0}


def test_no_trailing_newline(tmp_path):
    assert read_ratings(write(tmp_path, "r.csv", "1,2,3\n2,2,4")).nnz == 2


def test_quoted_fields(tmp_path):
    path = write(tmp_path, "r.csv", 'user,item,rating\n"a, b",x,4\n"c",y,5\n')
    assert triples(read_ratings(path)) == {("a, b", "x"): 4.0, ("c", "y"): 5.0}


def test_gzip_file(tmp_path):
    path = tmp_path / "r.csv.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"1,2,3\n2,3,4\n")
    assert triples(read_ratings(path)) == {(1, 2): 3.0, (2, 3): 4.0}


def test_latin1_ids(tmp_path):
    path = write(tmp_path, "r.csv", "user,item,rating\nJos\u00e9,Mis\u00e9rables,5\n", encoding="latin-1")
    message = raises_data_error(path, str(path), "utf-8", "latin-1")
    assert "decode" in message
    inter = read_ratings(path, encoding="latin-1")
    assert triples(inter) == {("Jos\u00e9", "Mis\u00e9rables"): 5.0}


def test_dates_as_timestamps(tmp_path):
    inter = read_ratings(write(tmp_path, "r.csv", "user,item,rating,timestamp\n1,2,3,1970-01-02\n"))
    assert inter.timestamps.tolist() == [86400.0]


def test_dataframe_input():
    df = pd.DataFrame({"userId": [1, 1, 2], "movieId": [5, 6, 5], "rating": [4.0, 2.0, 5.0]})
    inter = read_ratings(df)
    assert triples(inter) == {(1, 5): 4.0, (1, 6): 2.0, (2, 5): 5.0}
    bad = df.assign(rating=[4.0, np.nan, 5.0])
    with pytest.raises(DataError, match=r"DataFrame row 1, field 'rating'"):
        read_ratings(bad)


def test_parquet(tmp_path):
    path = tmp_path / "r.parquet"
    df = pd.DataFrame({"user": ["a", "b"], "item": [1, 2], "rating": [4.0, 9.0]})
    try:
        df.to_parquet(path)
    except ImportError:  # no parquet engine installed: the reader must say what to install
        path.write_bytes(b"PAR1 not really")
        raises_data_error(path, str(path), "pyarrow")
        return
    assert read_ratings(path).nnz == 2
    raises_data_error(path, str(path), "row 1", "field 'rating'", "outside", rating_scale=(1, 5))


def test_random_round_trip_matches_pandas(tmp_path):
    rng = np.random.default_rng(0)
    n = 5000
    df = pd.DataFrame({"u": rng.integers(0, 300, n), "i": rng.integers(0, 200, n),
                       "r": rng.integers(1, 6, n).astype(float), "t": rng.integers(0, 10**9, n)})
    path = tmp_path / "r.dat"
    path.write_text("\n".join("::".join(map(str, row)) for row in df.itertuples(index=False, name=None)) + "\n")
    inter = read_ratings(path, rating_scale=(1, 5))
    expected = df.drop_duplicates(["u", "i"], keep="last")
    assert inter.nnz == len(expected)
    got = triples(inter)
    assert all(got[(u, i)] == r for u, i, r in zip(expected["u"], expected["i"], expected["r"]))


# ------------------------------------------------------------------ duplicates
@pytest.mark.parametrize("rule, value", [("last", 2.0), ("first", 5.0), ("mean", 3.5), ("max", 5.0)])
def test_duplicates_rule(tmp_path, rule, value):
    path = write(tmp_path, "r.csv", "1,2,5\n3,3,1\n1,2,2\n")
    inter = read_ratings(path, duplicates=rule)
    assert inter.nnz == 2
    assert triples(inter)[(1, 2)] == value


def test_duplicates_error_names_both_lines(tmp_path):
    path = write(tmp_path, "r.csv", "user,item,rating\n1,2,5\n3,3,1\n1,2,2\n")
    raises_data_error(path, str(path), "line 4", "duplicate", "user 1", "item 2", "line 2", duplicates="error")


# ------------------------------------------------------------------ bad input
def test_missing_file(tmp_path):
    raises_data_error(tmp_path / "nope.csv", "not found", str(tmp_path / "nope.csv"))


def test_directory_instead_of_file(tmp_path):
    raises_data_error(tmp_path, "directory", str(tmp_path))


def test_empty_file(tmp_path):
    raises_data_error(write(tmp_path, "e.csv", ""), "e.csv", "empty")


def test_blank_file(tmp_path):
    raises_data_error(write(tmp_path, "b.csv", "\n\n  \n"), "b.csv", "empty")


def test_header_only(tmp_path):
    raises_data_error(write(tmp_path, "h.csv", "userId,movieId,rating,timestamp\n"), "h.csv", "no ratings")


def test_truncated_last_line(tmp_path):
    path = write(tmp_path, "r.dat", "1::10::5::978300760\n1::11::3::978302109\n2::10::4")
    raises_data_error(path, str(path), "line 3", "expected 4 fields", "'::'", "found 3", "truncated")


def test_malformed_line_counts_header_and_blank_lines(tmp_path):
    path = write(tmp_path, "r.csv", "user,item,rating\n1,2,3\n\n2,3,4,99\n3,3,3\n")
    message = raises_data_error(path, str(path), "line 4", "expected 3 fields", "found 4")
    assert "truncated" not in message


def test_malformed_line_in_a_large_file(tmp_path):
    lines = [f"{u}::{u % 97}::{1 + u % 5}::{u}" for u in range(200_000)]
    lines[123_456] = "123456::1"
    path = write(tmp_path, "big.dat", "\n".join(lines) + "\n")
    raises_data_error(path, "line 123457", "expected 4 fields", "found 2")


@pytest.mark.parametrize("chunk", [7, 64, 1000])
def test_chunked_scan_matches_and_locates_errors(tmp_path, monkeypatch, chunk):
    # Small chunks exercise the line-aligned chunking used for large files (16 MiB by default).
    from mfrec.data import readers
    monkeypatch.setattr(readers, "_CHUNK", chunk)
    lines = [f"{u}::{u % 13}::{1 + u % 5}::{'' if u % 7 == 0 else u}" for u in range(2000)]
    lines.insert(500, "")  # a blank line, skipped
    path = write(tmp_path, "r.dat", "\n".join(lines) + "\n")
    inter = read_ratings(path)
    assert inter.nnz == 2000
    assert int(np.isnan(inter.timestamps).sum()) == len(range(0, 2000, 7))
    lines[1500] = "1500::3::4::5::6"
    path = write(tmp_path, "bad.dat", "\n".join(lines) + "\n")
    raises_data_error(path, "line 1501", "expected 4 fields", "found 5")


def test_malformed_quoted_line(tmp_path):
    path = write(tmp_path, "q.csv", 'user,item,rating\n"a",b,3\n"c,x",d\n')
    raises_data_error(path, str(path), "line 3", "expected 3 fields", "found 2")


def test_non_numeric_rating(tmp_path):
    path = write(tmp_path, "r.csv", "userId,movieId,rating,timestamp\n1,10,4.5,100\n1,11,abc,100\n")
    raises_data_error(path, str(path), "line 3", "field 'rating'", "'abc'", "not a number")


def test_rating_outside_scale(tmp_path):
    path = write(tmp_path, "r.csv", "1,2,3\n1,3,7\n")
    raises_data_error(path, str(path), "line 2", "field 'rating'", "7", "outside", "[1, 5]", rating_scale=(1, 5))


@pytest.mark.parametrize("token", ["nan", "NaN", "inf", "-inf"])
def test_nan_and_inf_ratings(tmp_path, token):
    path = write(tmp_path, "r.csv", f"1,2,3\n2,2,4\n1,3,{token}\n")
    raises_data_error(path, str(path), "line 3", "field 'rating'", "NaN/inf")


def test_empty_rating_field(tmp_path):
    path = write(tmp_path, "r.csv", "1,2,3\n1,3,\n")
    raises_data_error(path, str(path), "line 2", "field 'rating'", "missing rating")


@pytest.mark.parametrize("line, role", [(",2,4", "user"), ("1,,4", "item"), ('" ",2,4', "user")])
def test_missing_user_or_item_id(tmp_path, line, role):
    path = write(tmp_path, "r.csv", f"1,2,3\n{line}\n")
    raises_data_error(path, str(path), "line 2", f"missing {role} id")


def test_bad_timestamp(tmp_path):
    path = write(tmp_path, "r.csv", "1,2,3,100\n1,3,4,soon\n")
    raises_data_error(path, str(path), "line 2", "field 'timestamp'", "'soon'")


def test_unknown_column_name(tmp_path):
    path = write(tmp_path, "r.csv", "a,b,c\n1,2,3\n")
    raises_data_error(path, str(path), "user column", header=True)
    raises_data_error(path, "no column 'who'", user_col="who", header=True)


def test_names_of_wrong_length(tmp_path):
    raises_data_error(write(tmp_path, "r.csv", "1,2,3\n"), "2 names", "3 fields", names=["u", "i"])


def test_undetectable_separator(tmp_path):
    raises_data_error(write(tmp_path, "r.txt", "12345\n"), "r.txt", "separator")


def test_invalid_arguments(tmp_path):
    path = write(tmp_path, "r.csv", "1,2,3\n")
    with pytest.raises(ValueError, match="duplicates"):
        read_ratings(path, duplicates="sum-ish")
    with pytest.raises(ValueError, match="rating_scale"):
        read_ratings(path, rating_scale=(5, 1))
    with pytest.raises(ValueError, match="header"):
        read_ratings(path, header="yes")


# ------------------------------------------------------------------ real data


def test_ml100k_u_data(data_file):
    inter = read_ratings(data_file("ml-100k/u.data"), rating_scale=(1, 5))
    assert (inter.nnz, inter.n_users, inter.n_items) == (100_000, 943, 1682)


def test_latest_small_ratings_csv(data_file):
    inter = read_ratings(data_file("ml-latest-small/ratings.csv"), rating_scale=(0.5, 5))
    assert (inter.nnz, inter.n_users, inter.n_items) == (100_836, 610, 9724)
    assert 0.5 in set(inter.matrix.data.tolist())

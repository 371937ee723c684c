"""Tests of the MovieLens loader: real data, metadata, lookup order, and download logic without
network (archives built in tmp_path and served through file:// URLs or fake responses)."""
import hashlib
import io
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mfrec.data import movielens
from mfrec.datasets import fetch_movielens, list_datasets, load_movielens
from mfrec.errors import DataError, DatasetNotAvailableError


RATINGS_1M = "1::1::5::978300760\n1::2::3::978302109\n2::1::4::\n2::3::2::978301968\n"
MOVIES_1M = ("1::Toy Story (1995)::Animation|Children's|Comedy\n"
             "2::Mis\u00e9rables, Les (1995)::Drama|Musical\n"
             "3::Caf\u00e9 au Lait (1993)::Comedy\n")


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """No test sees the real cache or $MFREC_DATA_DIR, and no test reaches the network."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("MFREC_DATA_DIR", raising=False)

    def no_network(url, timeout):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(movielens, "_open_url", no_network)


def make_ml1m_zip(path: Path, folder="ml-1m", extra=None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{folder}/ratings.dat", RATINGS_1M)
        zf.writestr(f"{folder}/movies.dat", MOVIES_1M.encode("latin-1"))
        zf.writestr(f"{folder}/README", "fake")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A fake GroupLens server: ml-1m.zip under a file:// BASE_URL, its MD5 pinned."""
    server = tmp_path / "server"
    server.mkdir()
    data = make_ml1m_zip(server / "ml-1m.zip")
    monkeypatch.setattr(movielens, "BASE_URL", server.as_uri() + "/")
    monkeypatch.setitem(movielens.MD5, "1m", hashlib.md5(data).hexdigest())
    calls = []

    def open_file_url(url, timeout):
        calls.append(url)
        import urllib.request
        return urllib.request.urlopen(url, timeout=timeout)

    monkeypatch.setattr(movielens, "_open_url", open_file_url)
    return server, calls


def leftovers(root: Path):
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


# ------------------------------------------------------------------ real data
@pytest.mark.slow
def test_ml1m_real(data_dir, data_file):
    data_file("ml-1m/ratings.dat")
    inter = load_movielens("1m", data_dir, download=False)
    assert (inter.nnz, inter.n_users, inter.n_items) == (1_000_209, 6040, 3706)
    assert inter.kind == "explicit" and inter.rating_scale == (1.0, 5.0)
    assert np.isnan(inter.timestamps).sum() == 86_287  # the empty 4th fields (see NOTE.txt)
    counts = np.bincount(inter.matrix.data.astype(int), minlength=6)[1:]
    assert counts.tolist() == [56_174, 107_557, 261_197, 348_971, 226_310]
    toy = inter.item_metadata.loc[1]
    assert (toy["title"], toy["year"], toy["genres"]) == ("Toy Story", 1995.0, "Animation|Children's|Comedy")
    assert inter.item_metadata.loc[73, "title"] == "Mis\u00e9rables, Les"  # latin-1 decoded


def test_ml100k_real(data_dir, data_file):
    data_file("ml-100k/u.data")
    inter = load_movielens("ml-100k", data_dir, download=False)
    assert (inter.nnz, inter.n_users, inter.n_items) == (100_000, 943, 1682)
    meta = inter.item_metadata
    assert (meta.loc[1, "title"], meta.loc[1, "year"]) == ("Toy Story", 1995.0)
    assert meta.loc[1, "genres"] == "Animation|Children's|Comedy"  # built from u.item flags + u.genre
    assert meta.loc[2, "genres"] == "Action|Adventure|Thriller"
    assert meta.loc[543, "title"] == "Mis\u00e9rables, Les"
    assert meta.loc[267, "title"] == "unknown" and np.isnan(meta.loc[267, "year"])


def test_latest_small_real(data_dir, data_file):
    data_file("ml-latest-small/ratings.csv")
    inter = load_movielens("latest-small", data_dir, download=False)
    assert (inter.nnz, inter.n_users, inter.n_items) == (100_836, 610, 9724)
    assert inter.rating_scale == (0.5, 5.0) and inter.matrix.data.min() == 0.5
    assert not np.isnan(inter.timestamps).any()
    meta = inter.item_metadata
    assert meta.loc[1, "genres"] == "Adventure|Animation|Children|Comedy|Fantasy"
    assert meta["year"].notna().mean() > 0.99


def test_list_datasets_finds_shared_data(data_dir, data_file):
    for folder in ("ml-1m", "ml-100k", "ml-latest-small"):
        data_file(folder)
    rows = {row["name"]: row for row in list_datasets(data_dir)}
    assert set(rows) == {"100k", "1m", "10m", "20m", "25m", "latest-small"}
    assert rows["1m"]["path"] == str(data_dir / "ml-1m")
    assert rows["1m"]["n_ratings"] == 1_000_209 and rows["100k"]["n_ratings"] == 100_000
    assert rows["latest-small"]["n_ratings"] == 100_836
    assert rows["1m"]["md5"] == "c4d9eecfca2ab87c1945afe126590906"


# ------------------------------------------------------------------ parsing and lookup (synthetic)
def install_fake(root: Path, folder="ml-1m"):
    target = root / folder
    target.mkdir(parents=True)
    (target / "ratings.dat").write_text(RATINGS_1M)
    (target / "movies.dat").write_bytes(MOVIES_1M.encode("latin-1"))
    return target


def test_fake_1m_metadata_and_empty_timestamp(tmp_path):
    install_fake(tmp_path / "d")
    inter = load_movielens("1m", tmp_path / "d", download=False)
    assert (inter.nnz, inter.n_users, inter.n_items) == (4, 2, 3)
    assert int(np.isnan(inter.timestamps).sum()) == 1
    meta = inter.item_metadata
    assert meta.loc[2, "title"] == "Mis\u00e9rables, Les" and meta.loc[3, "title"] == "Caf\u00e9 au Lait"
    assert meta.loc[3, "year"] == 1993.0 and meta.loc[3, "genres"] == "Comedy"


def test_variant_spellings_and_unknown():
    assert movielens._variant("ml-1m").name == "1m"
    assert movielens._variant("ML-1M").name == "1m"
    assert movielens._variant("movielens-100k").name == "100k"
    assert movielens._variant("ml-latest-small").name == "latest-small"
    with pytest.raises(ValueError, match="unknown MovieLens variant"):
        load_movielens("2m")


def test_lookup_order(tmp_path, monkeypatch):
    arg, env, cache = tmp_path / "arg", tmp_path / "env", tmp_path / "xdg" / "mfrec"
    for root in (arg, env, cache):
        install_fake(root)
    monkeypatch.setenv("MFREC_DATA_DIR", str(env))
    assert movielens._find_local(movielens.VARIANTS["1m"], arg) == arg / "ml-1m"
    assert movielens._find_local(movielens.VARIANTS["1m"], None) == env / "ml-1m"
    monkeypatch.delenv("MFREC_DATA_DIR")
    assert movielens._find_local(movielens.VARIANTS["1m"], None) == cache / "ml-1m"
    # the data set's own folder may be given directly
    assert movielens._find_local(movielens.VARIANTS["1m"], arg / "ml-1m") == arg / "ml-1m"
    # ... but not a folder of another variant with the same file names
    assert movielens._find_local(movielens.VARIANTS["100k"], arg / "ml-1m") is None


def test_incomplete_folder_is_not_found(tmp_path):
    target = install_fake(tmp_path / "d")
    (target / "movies.dat").unlink()
    with pytest.raises(DatasetNotAvailableError):
        load_movielens("1m", tmp_path / "d", download=False)


def test_malformed_movies_file_names_line(tmp_path):
    target = install_fake(tmp_path / "d")
    (target / "movies.dat").write_text("1::Toy Story (1995)::Comedy\n2::Broken\n")
    with pytest.raises(DataError, match=r"movies.dat line 2: expected 3 fields"):
        load_movielens("1m", tmp_path / "d", download=False)


def test_truncated_ratings_file_names_line(tmp_path):
    target = install_fake(tmp_path / "d")
    (target / "ratings.dat").write_text(RATINGS_1M + "3::1::")
    with pytest.raises(DataError, match=r"ratings.dat line 5: expected 4 fields .* truncated"):
        load_movielens("1m", tmp_path / "d", download=False)


def test_rating_outside_declared_scale(tmp_path):
    target = install_fake(tmp_path / "d")
    (target / "ratings.dat").write_text(RATINGS_1M + "3::1::6::1\n")
    with pytest.raises(DataError, match=r"line 5, field 'rating': rating 6 is outside .*\[1, 5\]"):
        load_movielens("1m", tmp_path / "d", download=False)


# ------------------------------------------------------------------ offline / download
def test_download_false_message_says_where(tmp_path):
    with pytest.raises(DatasetNotAvailableError) as info:
        load_movielens("1m", tmp_path / "nowhere", download=False)
    message = str(info.value)
    for fragment in ("MovieLens 1M", "ml-1m.zip", "ml-1m/", "ratings.dat", "movies.dat", "MFREC_DATA_DIR",
                     str(tmp_path / "nowhere"), "https://files.grouplens.org/datasets/movielens/ml-1m.zip"):
        assert fragment in message


def test_offline_error_is_clear_and_leaves_nothing(tmp_path):
    with pytest.raises(DatasetNotAvailableError) as info:
        load_movielens("1m", tmp_path / "d")
    message = str(info.value)
    assert "network disabled" in message and "MFREC_DATA_DIR" in message and "ratings.dat" in message
    assert leftovers(tmp_path / "d") == []


def test_download_success_extracts_atomically(tmp_path, served):
    server, calls = served
    inter = load_movielens("1m", tmp_path / "d")
    assert inter.nnz == 4
    assert calls == [(server / "ml-1m.zip").as_uri()]
    assert leftovers(tmp_path / "d") == ["ml-1m"]  # no zip, no temp folder left
    assert sorted(p.name for p in (tmp_path / "d" / "ml-1m").iterdir()) == ["README", "movies.dat", "ratings.dat"]
    load_movielens("1m", tmp_path / "d")  # second time: found on disk, no download
    assert len(calls) == 1


def test_download_goes_to_env_dir_then_cache(tmp_path, served, monkeypatch):
    monkeypatch.setenv("MFREC_DATA_DIR", str(tmp_path / "env"))
    assert fetch_movielens("1m", show_progress=False) == tmp_path / "env" / "ml-1m"
    monkeypatch.delenv("MFREC_DATA_DIR")
    assert fetch_movielens("1m", show_progress=True) == tmp_path / "xdg" / "mfrec" / "ml-1m"


def test_checksum_mismatch_raises_and_installs_nothing(tmp_path, served, monkeypatch):
    monkeypatch.setitem(movielens.MD5, "1m", "0" * 32)
    with pytest.raises(DatasetNotAvailableError, match="checksum mismatch"):
        load_movielens("1m", tmp_path / "d")
    assert leftovers(tmp_path / "d") == []


class FakeResponse(io.BytesIO):
    """A urlopen response whose read() fails after ``fail_after`` bytes (or claims a length)."""

    def __init__(self, data, fail_after=None, error=None, length=None):
        super().__init__(data)
        self.fail_after, self.error, self.sent = fail_after, error or OSError("connection reset"), 0
        self.headers = {"Content-Length": str(length if length is not None else len(data))}

    def read(self, n=-1):
        if self.fail_after is not None and self.sent >= self.fail_after:
            raise self.error
        block = super().read(min(n, 1000) if n and n > 0 else 1000)
        self.sent += len(block)
        return block


@pytest.mark.parametrize("error", [OSError("connection reset"), KeyboardInterrupt()])
def test_interrupted_download_leaves_nothing(tmp_path, monkeypatch, error):
    data = make_ml1m_zip(tmp_path / "x.zip")
    monkeypatch.setitem(movielens.MD5, "1m", hashlib.md5(data).hexdigest())
    monkeypatch.setattr(movielens, "_open_url", lambda url, timeout: FakeResponse(data, len(data) // 2, error))
    expected = DatasetNotAvailableError if isinstance(error, OSError) else KeyboardInterrupt
    with pytest.raises(expected) as info:
        load_movielens("1m", tmp_path / "d")
    if expected is DatasetNotAvailableError:
        assert "interrupted" in str(info.value)
    assert leftovers(tmp_path / "d") == []


def test_short_download_is_detected(tmp_path, monkeypatch):
    data = make_ml1m_zip(tmp_path / "x.zip")
    monkeypatch.setitem(movielens.MD5, "latest-small", None)
    monkeypatch.setattr(movielens, "_official_md5", lambda spec: None)
    monkeypatch.setattr(movielens, "_open_url", lambda url, timeout: FakeResponse(data, length=len(data) + 10))
    with pytest.raises(DatasetNotAvailableError, match="incomplete"):
        load_movielens("1m", tmp_path / "d")
    assert leftovers(tmp_path / "d") == []


def test_corrupt_zip_with_matching_checksum(tmp_path, monkeypatch):
    data = b"PK\x03\x04 this is not really a zip"
    monkeypatch.setitem(movielens.MD5, "1m", hashlib.md5(data).hexdigest())
    monkeypatch.setattr(movielens, "_open_url", lambda url, timeout: FakeResponse(data))
    with pytest.raises(DatasetNotAvailableError, match="not a valid zip"):
        load_movielens("1m", tmp_path / "d")
    assert leftovers(tmp_path / "d") == []


def test_zip_without_expected_folder(tmp_path, monkeypatch):
    data = make_ml1m_zip(tmp_path / "x.zip", folder="something-else")
    monkeypatch.setitem(movielens.MD5, "1m", hashlib.md5(data).hexdigest())
    monkeypatch.setattr(movielens, "_open_url", lambda url, timeout: FakeResponse(data))
    with pytest.raises(DatasetNotAvailableError, match="does not contain ml-1m/"):
        load_movielens("1m", tmp_path / "d")
    assert leftovers(tmp_path / "d") == []


def test_zip_with_unsafe_path(tmp_path, monkeypatch):
    data = make_ml1m_zip(tmp_path / "x.zip", extra={"../evil.txt": "x"})
    monkeypatch.setitem(movielens.MD5, "1m", hashlib.md5(data).hexdigest())
    monkeypatch.setattr(movielens, "_open_url", lambda url, timeout: FakeResponse(data))
    with pytest.raises(DatasetNotAvailableError, match="unsafe path"):
        load_movielens("1m", tmp_path / "d")
    assert leftovers(tmp_path / "d") == [] and not (tmp_path / "evil.txt").exists()


def test_local_zip_is_used_without_network(tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    data = make_ml1m_zip(tmp_path / "d" / "ml-1m.zip")
    monkeypatch.setitem(movielens.MD5, "1m", hashlib.md5(data).hexdigest())
    inter = load_movielens("1m", tmp_path / "d")  # _open_url is disabled by the fixture
    assert inter.nnz == 4
    assert leftovers(tmp_path / "d") == ["ml-1m", "ml-1m.zip"]


def test_local_zip_with_bad_checksum(tmp_path):
    (tmp_path / "d").mkdir()
    make_ml1m_zip(tmp_path / "d" / "ml-1m.zip")  # the real ml-1m MD5 is pinned: it cannot match
    with pytest.raises(DatasetNotAvailableError, match="checksum mismatch"):
        load_movielens("1m", tmp_path / "d")
    assert leftovers(tmp_path / "d") == ["ml-1m.zip"]


def latest_small_zip(path: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ml-latest-small/ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.5,964982703\n2,1,0.5,\n")
        zf.writestr("ml-latest-small/movies.csv", 'movieId,title,genres\n1,"Toy Story (1995)",Adventure|Comedy\n'
                    '2,Babylon 5,(no genres listed)\n')
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


@pytest.mark.parametrize("sidecar_ok", [True, False])
def test_latest_small_uses_official_md5_sidecar(tmp_path, monkeypatch, sidecar_ok):
    server = tmp_path / "server"
    server.mkdir()
    data = latest_small_zip(server / "ml-latest-small.zip")
    digest = hashlib.md5(data).hexdigest() if sidecar_ok else "f" * 32
    (server / "ml-latest-small.zip.md5").write_text(f"MD5 (ml-latest-small.zip) = {digest}\n")
    monkeypatch.setattr(movielens, "BASE_URL", server.as_uri() + "/")
    import urllib.request
    monkeypatch.setattr(movielens, "_open_url", lambda url, timeout: urllib.request.urlopen(url, timeout=timeout))
    if not sidecar_ok:
        with pytest.raises(DatasetNotAvailableError, match="checksum mismatch"):
            load_movielens("latest-small", tmp_path / "d")
        assert leftovers(tmp_path / "d") == []
        return
    inter = load_movielens("latest-small", tmp_path / "d")
    assert inter.nnz == 2 and inter.rating_scale == (0.5, 5.0)
    meta = inter.item_metadata
    assert meta.loc[2, "title"] == "Babylon 5" and np.isnan(meta.loc[2, "year"]) and meta.loc[2, "genres"] == ""


def test_latest_small_without_sidecar_warns(tmp_path, monkeypatch):
    server = tmp_path / "server"
    server.mkdir()
    latest_small_zip(server / "ml-latest-small.zip")
    monkeypatch.setattr(movielens, "BASE_URL", server.as_uri() + "/")
    import urllib.request
    monkeypatch.setattr(movielens, "_open_url", lambda url, timeout: urllib.request.urlopen(url, timeout=timeout))
    with pytest.warns(UserWarning, match="official checksum"):
        inter = load_movielens("latest-small", tmp_path / "d")
    assert inter.nnz == 2


def test_unwritable_target(tmp_path, served):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DatasetNotAvailableError, match="cannot write"):
        load_movielens("1m", blocker / "sub")


def test_public_module_exports():
    import mfrec.datasets as ds
    assert ds.MOVIELENS_VARIANTS == ("100k", "1m", "10m", "20m", "25m", "latest-small")
    assert ds.read_ratings.__module__ == "mfrec.data.readers"
    assert callable(ds.load_movielens) and callable(ds.fetch_movielens) and callable(ds.list_datasets)

"""`mfrec serve`: a real uvicorn server on a free loopback port, checked against the Python API,
every error case, hot reload, the CLI, and the browse page in headless Chromium."""
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from mfrec.testing import chromium_for_tests  # noqa: E402
from mfrec import ALS, SVD, Interactions, Popularity, Recommender  # noqa: E402
from mfrec.errors import MfrecError  # noqa: E402
from mfrec.serve.app import create_app  # noqa: E402
from mfrec.serve.registry import ModelRegistry  # noqa: E402
from mfrec.serve.server import bind, make_server  # noqa: E402
from mfrec.similarity import SIMILARITIES  # noqa: E402

N_ITEMS_PER_BLOCK = 12
FIRST_ITEM = 100


# ---------------------------------------------------------------------------- data and models
def planted(seed=0, string_ids=False, metadata=True):
    """60 users in two blocks that like two disjoint blocks of 12 items ("Alpha ..." and
    "Beta ..." titles); ratings 4-5 for their block, 1 for two items of the other."""
    rng = np.random.default_rng(seed)
    users, items, ratings = [], [], []
    for u in range(60):
        block = u // 30
        own = np.arange(N_ITEMS_PER_BLOCK) + block * N_ITEMS_PER_BLOCK
        other = np.arange(N_ITEMS_PER_BLOCK) + (1 - block) * N_ITEMS_PER_BLOCK
        liked = own[rng.random(len(own)) < 0.7]
        for i in liked:
            users.append(u + 1), items.append(FIRST_ITEM + int(i)), ratings.append(float(rng.choice([4, 5])))
        for i in rng.choice(other, 2, replace=False):
            users.append(u + 1), items.append(FIRST_ITEM + int(i)), ratings.append(1.0)
    meta = None
    if metadata:
        ids = np.arange(FIRST_ITEM, FIRST_ITEM + 2 * N_ITEMS_PER_BLOCK)
        meta = pd.DataFrame({"title": [f"{'Alpha' if i < FIRST_ITEM + N_ITEMS_PER_BLOCK else 'Beta'} Story {i}"
                                       for i in ids],
                             "year": [1980 + int(i) % 30 for i in ids],
                             "genres": ["Drama" if i < FIRST_ITEM + N_ITEMS_PER_BLOCK else "Comedy" for i in ids]},
                            index=pd.Index(ids, name="item"))
    if string_ids:
        users, items = [f"u{u}" for u in users], [f"i{i}" for i in items]
    return Interactions.from_arrays(users, items, ratings, rating_scale=(1, 5), item_metadata=meta)


def train_models(folder: Path) -> dict:
    data = planted()
    paths = {
        "svd": SVD(factors=4, epochs=20, seed=1).fit(data).save(folder / "svd.npz"),
        "als": ALS(factors=4, iterations=5, seed=1, threads=1).fit(data.to_implicit(threshold=4))
                                                                .save(folder / "als.npz"),
        "tags": Popularity().fit(planted(string_ids=True, metadata=False)).save(folder / "tags.npz"),
    }
    return paths


class LiveServer:
    """uvicorn in a thread on a free loopback port."""

    def __init__(self, app):
        self.sock = bind("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = make_server(app, self.sock, log_level="warning")
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.02)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return train_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def live(models):
    server = LiveServer(create_app([models["svd"], models["als"], models["tags"]], poll_interval=0.2))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(live):
    with httpx.Client(base_url=live.url, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def loaded(models):
    return {name: Recommender.load(path) for name, path in models.items()}


def get(client, path, status=200, **params):
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def expected_items(model, ids, scores):
    titles = (model.interactions_.item_titles(model.item_ids_.indices(ids))
              if model.interactions_.item_metadata is not None else [None] * len(ids))
    return [{"id": i, "score": s, "title": t} for i, s, t in zip(ids.tolist(), scores.tolist(), titles)]


# ---------------------------------------------------------------------------- endpoints vs Python API
def test_health_lists_every_model(client):
    body = get(client, "/health")
    assert body["status"] == "ok"
    assert [m["name"] for m in body["models"]] == ["svd", "als", "tags"]
    assert all(m["reload_error"] is None for m in body["models"])


def test_models_show_class_parameters_sizes_and_training_date(client, loaded):
    shown = {m["name"]: m for m in get(client, "/models")["models"]}
    for name, model in loaded.items():
        info = shown[name]
        assert info["class"] == type(model).__name__
        assert info["params"] == json.loads(json.dumps(model.get_params()))
        assert (info["n_users"], info["n_items"]) == model.interactions_.shape
        assert info["n_interactions"] == model.interactions_.nnz
        assert info["factors"] == model.item_factors_.shape[1]
        assert info["trained_at"] == model.trained_at_ and re.match(r"\d{4}-\d\d-\d\dT", info["trained_at"])
        assert info["has_titles"] == (name != "tags")
    assert get(client, "/models/als") == shown["als"]


@pytest.mark.parametrize("name,user", [("svd", 1), ("svd", 45), ("als", 3), ("tags", "u7")])
def test_recommend_matches_the_python_api(client, loaded, name, user):
    model = loaded[name]
    ids, scores = model.recommend(user, n=5)
    body = get(client, f"/models/{name}/recommend", user=user, n=5)
    assert body["user"] == user and type(body["user"]) is type(user)   # ints stay ints, strings strings
    assert body["items"] == expected_items(model, ids, scores)
    if name != "tags":
        assert all(isinstance(item["id"], int) and item["title"].endswith(")") for item in body["items"])
    else:
        assert all(isinstance(item["id"], str) and item["title"] is None for item in body["items"])
    ids, scores = model.recommend(user, n=20, exclude_seen=False)
    body = get(client, f"/models/{name}/recommend", user=user, n=20, exclude_seen="false")
    assert body["items"] == expected_items(model, ids, scores)
    assert len(get(client, f"/models/{name}/recommend", user=user)["items"]) == len(model.recommend(user)[0])


@pytest.mark.parametrize("name,item", [("svd", 100), ("als", 115), ("tags", "i103")])
def test_similar_matches_the_python_api(client, loaded, name, item):
    model = loaded[name]
    ids, scores = model.similar_items(item, n=6)
    body = get(client, f"/models/{name}/similar", item=item, n=6)
    assert body["item"] == item and body["items"] == expected_items(model, ids, scores)
    ids, scores = model.similar_items(item, n=6, min_interactions=40)
    body = get(client, f"/models/{name}/similar", item=item, n=6, min_interactions=40)
    assert body["items"] == expected_items(model, ids, scores)
    for similarity in SIMILARITIES:
        ids, scores = model.similar_items(item, n=4, similarity=similarity)
        body = get(client, f"/models/{name}/similar", item=item, n=4, similarity=similarity)
        assert body["items"] == expected_items(model, ids, scores)


def test_fold_in_matches_the_python_api(client, loaded):
    svd, als, tags = loaded["svd"], loaded["als"], loaded["tags"]
    cases = [  # (name, body, the Python call)
        ("svd", {"items": [100, 101, 102], "ratings": [5, 4, 5], "n": 5},
         lambda: svd.recommend_new_user([100, 101, 102], [5, 4, 5], n=5)),
        # no ratings for a rating model: liked items count as the top of the rating scale
        ("svd", {"items": [112, 113]}, lambda: svd.recommend_new_user([112, 113], [5.0, 5.0], n=10)),
        ("als", {"items": [100, 104, 105], "n": 4}, lambda: als.recommend_new_user([100, 104, 105], n=4)),
        ("als", {"items": [100, 104], "ratings": [3, 1], "n": 30, "exclude_seen": False},
         lambda: als.recommend_new_user([100, 104], [3, 1], n=30, exclude_seen=False)),
        ("tags", {"items": ["i100"], "n": 3}, lambda: tags.recommend_new_user(["i100"], n=3)),
    ]
    for name, payload, python in cases:
        response = client.post(f"/models/{name}/recommend", json=payload)
        assert response.status_code == 200, response.text
        assert response.json()["items"] == expected_items(loaded[name], *python())
    # the block a new user likes comes first
    first = client.post("/models/als/recommend", json={"items": [100, 101, 102, 103], "n": 3}).json()["items"]
    assert all(item["title"].startswith("Alpha") for item in first)


def test_history_is_the_training_row(client, loaded):
    svd = loaded["svd"]
    body = get(client, "/models/svd/history", user=2)
    row = svd.user_ids_.index(2)
    matrix = svd.interactions_.matrix
    items = svd.item_ids_.to_raw(matrix.indices[matrix.indptr[row]:matrix.indptr[row + 1]]).tolist()
    ratings = dict(zip(items, matrix.data[matrix.indptr[row]:matrix.indptr[row + 1]].tolist()))
    assert body["user"] == 2 and body["n_items"] == len(items) and body["feedback"] == "explicit"
    assert sorted(i["id"] for i in body["items"]) == sorted(items)
    assert [i["value"] for i in body["items"]] == sorted(ratings.values(), reverse=True)
    assert all(ratings[i["id"]] == i["value"] for i in body["items"])
    assert len(get(client, "/models/svd/history", user=2, n=2)["items"]) == 2


def test_item_search_by_title_and_id(client, loaded):
    body = get(client, "/items", q="alpha story", n=100)
    assert len(body["items"]) == N_ITEMS_PER_BLOCK
    assert all(i["title"].startswith("Alpha Story") and i["models"] == ["svd", "als"] for i in body["items"])
    counts = [i["count"] for i in body["items"]]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] == max(loaded["svd"].interactions_.item_counts()[:N_ITEMS_PER_BLOCK])
    assert len(get(client, "/items", q="STORY", n=5)["items"]) == 5
    assert get(client, "/items", q="no such title")["items"] == []
    by_id = get(client, "/items", id="105")["items"]
    assert [(i["id"], i["models"]) for i in by_id] == [(105, ["svd", "als"])]
    assert [(i["id"], i["models"], i["title"]) for i in get(client, "/items", q="i105")["items"]] == \
        [("i105", ["tags"], None)]


def test_user_lookup_names_the_models_that_know_the_user(client):
    assert get(client, "/users", id="3")["models"] == ["svd", "als"]
    assert get(client, "/users", id="u3")["models"] == ["tags"]
    assert get(client, "/users", id="999")["models"] == []


# ---------------------------------------------------------------------------- errors
ERRORS = [  # (method, path, params or JSON body, status, words in the message)
    ("GET", "/models/nope/recommend", {"user": 1}, 404, "unknown model 'nope'"),
    ("GET", "/models/nope", {}, 404, "unknown model"),
    ("GET", "/models/svd/recommend", {"user": 9999}, 404, "unknown user id 9999"),
    ("GET", "/models/svd/recommend", {"user": "abc"}, 404, "unknown user id 'abc'"),
    ("GET", "/models/tags/recommend", {"user": 1}, 404, "unknown user id '1'"),
    ("GET", "/models/svd/similar", {"item": 5}, 404, "unknown item id 5"),
    ("GET", "/models/svd/history", {"user": 0}, 404, "unknown user id 0"),
    ("GET", "/models/svd/recommend", {"user": 1, "n": 0}, 422, "n must be between 1 and 1000"),
    ("GET", "/models/svd/recommend", {"user": 1, "n": -3}, 422, "n must be between 1 and 1000"),
    ("GET", "/models/svd/recommend", {"user": 1, "n": 1001}, 422, "n must be between 1 and 1000"),
    ("GET", "/models/svd/recommend", {"user": 1, "n": "ten"}, 422, "n must be an integer"),
    ("GET", "/models/svd/recommend", {"user": 1, "n": "2.5"}, 422, "n must be an integer"),
    ("GET", "/models/svd/recommend", {"user": 1, "exclude_seen": "maybe"}, 422, "exclude_seen must be true or false"),
    ("GET", "/models/svd/similar", {"item": 100, "min_interactions": "-1"}, 422, "min_interactions"),
    ("GET", "/models/svd/similar", {"item": 100, "similarity": "euclid"}, 422, "similarity must be one of"),
    ("GET", "/models/svd/recommend", {}, 400, "missing parameter 'user'"),
    ("GET", "/models/svd/recommend", {"user": ""}, 400, "missing parameter 'user'"),
    ("GET", "/models/svd/recommend", {"usr": 1}, 400, "unknown parameter 'usr'"),
    ("GET", "/models/svd/recommend", [("user", 1), ("user", 2)], 400, "more than once"),
    ("GET", "/models/svd/similar", {"user": 1}, 400, "unknown parameter 'user'"),
    ("GET", "/items", {}, 400, "either q"),
    ("GET", "/items", {"q": "a", "id": "1"}, 400, "either q"),
    ("GET", "/items", {"q": "a", "n": "x"}, 422, "n must be an integer"),
    ("GET", "/users", {}, 400, "missing parameter 'id'"),
    ("GET", "/no/such/page", {}, 404, "no such endpoint"),
    ("GET", "/static/../../etc/passwd", {}, 404, "no such endpoint"),
    ("GET", "/static/registry.py", {}, 404, "no such endpoint"),
    ("DELETE", "/models/svd/recommend", {}, 405, "not allowed"),
    ("POST", "/health", {}, 405, "not allowed"),
    ("POST", "/models/svd/recommend", b"", 400, "body is empty"),
    ("POST", "/models/svd/recommend", b'{"items": [100,', 400, "not valid JSON"),
    ("POST", "/models/svd/recommend", b"\xff\xfe", 400, "not valid JSON"),
    ("POST", "/models/svd/recommend", [100, 101], 422, "must be a JSON object"),
    ("POST", "/models/svd/recommend", {"n": 3}, 422, "'items' is required"),
    ("POST", "/models/svd/recommend", {"items": []}, 422, "at least one item"),
    ("POST", "/models/svd/recommend", {"items": "100"}, 422, "must be a list"),
    ("POST", "/models/svd/recommend", {"items": [100, None]}, 422, "items[1] must be an integer or a string"),
    ("POST", "/models/svd/recommend", {"items": [100, 1.5]}, 422, "items[1]"),
    ("POST", "/models/svd/recommend", {"items": [True]}, 422, "items[0]"),
    ("POST", "/models/svd/recommend", {"items": [100], "n": "5"}, 422, "n must be an integer"),
    ("POST", "/models/svd/recommend", {"items": [100], "n": 0}, 422, "n must be between"),
    ("POST", "/models/svd/recommend", {"items": [100], "n": 5000}, 422, "n must be between"),
    ("POST", "/models/svd/recommend", {"items": [100], "ratings": [1, 2]}, 422, "2 values for 1 items"),
    ("POST", "/models/svd/recommend", {"items": [100], "ratings": ["5"]}, 422, "ratings[0] must be a finite number"),
    ("POST", "/models/svd/recommend", b'{"items": [100], "ratings": [NaN]}', 422, "ratings[0] must be a finite"),
    ("POST", "/models/svd/recommend", {"items": [100], "ratings": 5}, 422, "must be a list of numbers"),
    ("POST", "/models/svd/recommend", {"items": [100], "extra": 1}, 422, "unknown field 'extra'"),
    ("POST", "/models/svd/recommend", {"items": [100], "exclude_seen": "no way"}, 422, "exclude_seen"),
    ("POST", "/models/svd/recommend", {"items": [100, 7]}, 404, "unknown item id 7"),
    ("POST", "/models/svd/recommend", {"items": ["100"]}, 404, "unknown item id '100'"),
    ("POST", "/models/als/recommend", {"items": [100], "ratings": [-1]}, 422, "must be positive"),
    ("POST", "/models/nope/recommend", {"items": [100]}, 404, "unknown model"),
    ("POST", "/models/svd/recommend?n=3", {"items": [100]}, 400, "unknown parameter 'n'"),
    ("POST", "/models/svd/recommend", {"items": list(range(20_000))}, 422, "at most 10000"),
]


@pytest.mark.parametrize("method,path,data,status,words", ERRORS,
                         ids=[f"{m} {p} {status}" for m, p, _, status, _ in ERRORS])
def test_errors_are_json_with_the_right_status(client, method, path, data, status, words):
    if method == "GET":
        response = client.request(method, path, params=data)
    elif isinstance(data, bytes):
        response = client.request(method, path, content=data, headers={"content-type": "application/json"})
    else:
        response = client.request(method, path, json=data)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert words in response.json()["error"]
    assert set(response.json()) == {"error"}


def test_the_server_keeps_serving_after_every_error(client):
    for method, path, data, _, _ in ERRORS:
        client.request(method, path, params=data if method == "GET" else None)
    assert get(client, "/health")["status"] == "ok"


def test_request_bodies_are_size_limited(models):
    server = LiveServer(create_app([models["svd"]], poll_interval=0, max_body=2000))
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            big = json.dumps({"items": [100] * 1000}).encode()
            response = c.post("/models/svd/recommend", content=big)
            assert response.status_code == 413 and "larger than the limit of 2000 bytes" in response.json()["error"]

            def chunks():  # no Content-Length: the limit applies to the bytes streamed
                for _ in range(10):
                    yield b" " * 500
            response = c.post("/models/svd/recommend", content=chunks())
            assert response.status_code == 413 and "larger than the limit" in response.json()["error"]
            small = c.post("/models/svd/recommend", json={"items": [100] * 100, "n": 3})
            assert small.status_code == 200
    finally:
        server.stop()


def test_no_cors_unless_an_origin_is_given(client, models):
    headers = {"Origin": "http://elsewhere.example"}
    assert "access-control-allow-origin" not in client.get("/health", headers=headers).headers
    server = LiveServer(create_app([models["tags"]], poll_interval=0, cors_origins=["http://elsewhere.example"]))
    try:
        answer = httpx.get(server.url + "/health", headers=headers)
        assert answer.headers["access-control-allow-origin"] == "http://elsewhere.example"
        other = httpx.get(server.url + "/health", headers={"Origin": "http://other.example"})
        assert "access-control-allow-origin" not in other.headers
    finally:
        server.stop()


def test_a_bug_answers_500_json_and_the_server_lives_on(models):
    registry = ModelRegistry([models["tags"]], poll_interval=0)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")
    registry.get("tags").model.recommend = broken
    server = LiveServer(create_app(registry))
    try:
        response = httpx.get(server.url + "/models/tags/recommend", params={"user": "u1"})
        assert response.status_code == 500 and "internal server error" in response.json()["error"]
        assert httpx.get(server.url + "/health").status_code == 200
    finally:
        server.stop()


def test_binding_a_taken_port_is_a_clear_error(live):
    port = int(live.url.rsplit(":", 1)[1])
    with pytest.raises(MfrecError, match=f"cannot listen on 127.0.0.1:{port}"):
        bind("127.0.0.1", port)



def test_connections_accepted_on_the_bound_socket_disable_nagle():
    """Regression: bind() once made its socket with proto 0, so asyncio (which sets TCP_NODELAY
    only on sockets whose proto is TCP) left Nagle on, and each keep-alive response waited ~40 ms
    for the client's delayed ACK (364 req/s for every endpoint without uvloop)."""
    import asyncio
    import socket

    async def nodelay_of_an_accepted_connection():
        accepted = asyncio.get_running_loop().create_future()

        def on_connect(reader, writer):
            sock = writer.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=bind("127.0.0.1", 0))
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await asyncio.wait_for(accepted, 10)
        finally:
            writer.close()
            server.close()
            await server.wait_closed()

    assert asyncio.run(nodelay_of_an_accepted_connection()) != 0

# ---------------------------------------------------------------------------- hot reload
def test_a_replaced_model_file_is_picked_up_without_dropping_requests(models, tmp_path):
    path = tmp_path / "live.npz"
    shutil.copy(models["svd"], path)
    old = Recommender.load(path)
    new_model = SVD(factors=6, epochs=5, seed=7).fit(planted(seed=3))
    server = LiveServer(create_app([path], poll_interval=0.1))
    failures, answers, stop = [], [], threading.Event()

    def hammer():  # a steady stream of requests across the swap
        with httpx.Client(base_url=server.url, timeout=10) as c:
            while not stop.is_set():
                r = c.get("/models/live/recommend", params={"user": 1, "n": 3})
                (answers if r.status_code == 200 else failures).append(r.status_code)
    workers = [threading.Thread(target=hammer) for _ in range(3)]
    try:
        for w in workers:
            w.start()
        with httpx.Client(base_url=server.url, timeout=10) as c:
            assert get(c, "/models/live")["factors"] == 4
            new_model.save(tmp_path / "staging.npz")
            os.replace(tmp_path / "staging.npz", path)      # atomic rename over the served file
            deadline = time.monotonic() + 5
            while get(c, "/models/live")["factors"] != 6:
                assert time.monotonic() < deadline, "the new model was not picked up within 5 s"
                time.sleep(0.05)
            ids, scores = new_model.recommend(1, n=3)
            assert get(c, "/models/live/recommend", user=1, n=3)["items"] == expected_items(new_model, ids, scores)

            # a broken replacement: reported in /health, the model loaded before keeps serving
            (tmp_path / "staging.npz").write_bytes(b"this is not a model file")
            os.replace(tmp_path / "staging.npz", path)
            deadline = time.monotonic() + 5
            while (health := get(c, "/health"))["status"] == "ok":
                assert time.monotonic() < deadline, "the broken file was not reported within 5 s"
                time.sleep(0.05)
            assert health["status"] == "degraded"
            error = health["models"][0]["reload_error"]
            assert str(path) in error and "not a readable mfrec model file" in error and "still serving" in error
            assert get(c, "/models/live/recommend", user=1, n=3)["items"] == expected_items(new_model, ids, scores)

            # a good file again clears the error
            old.save(tmp_path / "staging.npz")
            os.replace(tmp_path / "staging.npz", path)
            deadline = time.monotonic() + 5
            while get(c, "/models/live")["factors"] != 4:
                assert time.monotonic() < deadline, "the fixed file was not picked up within 5 s"
                time.sleep(0.05)
            assert get(c, "/health")["status"] == "ok"
    finally:
        stop.set()
        for w in workers:
            w.join()
        server.stop()
    assert failures == [] and len(answers) > 10


def test_reload_waits_for_a_stable_file_and_reports_a_missing_one(models, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mfrec")
    path = tmp_path / "m.npz"
    shutil.copy(models["tags"], path)
    registry = ModelRegistry([path], poll_interval=0)
    first = registry.get("m")
    Popularity().fit(planted(seed=5, string_ids=True, metadata=False)).save(path)
    assert registry.check() == [] and registry.get("m") is first       # changed once: wait
    assert registry.check() == ["m"] and registry.get("m") is not first  # stable: swapped
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("mfrec.serve.registry", "INFO", f"model 'm': reloaded from {path}")]
    path.unlink()
    registry.check()
    assert caplog.records[-1].levelname == "WARNING" and "is missing" in caplog.records[-1].getMessage()
    health = registry.health()
    assert health["status"] == "degraded" and "is missing" in health["models"][0]["reload_error"]
    assert registry.get("m").model.recommend("u1", n=2)[0].tolist()   # still serving


def test_two_files_with_one_name_and_unloadable_files_are_refused(models, tmp_path):
    (tmp_path / "a").mkdir()
    shutil.copy(models["tags"], tmp_path / "a" / "tags.npz")
    with pytest.raises(MfrecError, match="both named 'tags'"):
        ModelRegistry([models["tags"], tmp_path / "a" / "tags.npz"])
    with pytest.raises(MfrecError, match="does not exist"):
        ModelRegistry([tmp_path / "missing.npz"])


# ---------------------------------------------------------------------------- CLI
def test_cli_refuses_a_missing_model_file(mfrec_cli, tmp_path):
    bad = mfrec_cli("serve", tmp_path / "none.npz", columns=300)
    assert bad.exit_code == 2 and "none.npz does not exist" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_serves_on_loopback(models):
    """A real `mfrec serve` process (the server runs until it is stopped)."""
    env = {**os.environ, "COLUMNS": "300", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "mfrec.cli", "serve", str(models["tags"]), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        line = proc.stdout.readline()
        match = re.search(r"Serving tags on http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        url = f"http://127.0.0.1:{match.group(1)}"
        deadline = time.monotonic() + 20
        while True:
            try:
                assert httpx.get(url + "/health", timeout=5).json()["models"][0]["name"] == "tags"
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# ---------------------------------------------------------------------------- browse page
def test_page_and_static_files_are_served_without_external_resources(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset, kind in (("/static/app.js", "text/javascript"), ("/static/style.css", "text/css")):
        response = client.get(asset)
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
        assert "http://" not in response.text and "https://" not in response.text
    assert "https://" not in page.text and "http://" not in page.text


def test_browse_page_in_headless_chromium(live, loaded):
    chromium = chromium_for_tests()
    playwright = pytest.importorskip("playwright.sync_api")
    svd = loaded["svd"]
    errors, failed = [], []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page()
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("requestfailed", lambda req: failed.append(req.url))
            page.goto(live.url + "/")
            page.wait_for_selector("#models tbody tr")
            assert page.eval_on_selector_all("#models tbody tr td:first-child", "c => c.map(e => e.textContent)") \
                == ["svd", "als", "tags"]

            # search a title, click it: similar items under every model, side by side
            page.fill("#search", "Beta Story 113")
            page.click("#search-form button")
            page.wait_for_selector("#search-results li .item-link")
            assert page.inner_text("#search-results li .item-link") == f"Beta Story 113 ({1980 + 113 % 30})"
            page.click("#search-results li .item-link")
            wait_js(page, "document.querySelectorAll('#similar .column ol li').length >= 20")
            columns = page.eval_on_selector_all(
                "#similar .column", "cols => cols.map(c => [c.dataset.model, "
                "Array.from(c.querySelectorAll('li .item-link')).map(e => e.textContent), c.textContent])")
            assert [c[0] for c in columns] == ["svd", "als", "tags"]
            expected = svd.interactions_.item_titles(svd.item_ids_.indices(svd.similar_items(113, n=10)[0]))
            assert columns[0][1] == expected
            assert len(columns[1][1]) == 10 and "not in this model" in columns[2][2]

            # tick two liked items: recommendations by fold-in from each model
            page.fill("#search", "Alpha Story")
            page.click("#search-form button")
            wait_js(page, "document.querySelectorAll('#search-results input[type=checkbox]').length === 12")
            boxes = page.locator("#search-results input[type=checkbox]")
            boxes.nth(0).check()
            boxes.nth(1).check()
            wait_js(page, "document.querySelectorAll('#liked li').length === 2")
            wait_js(page, "document.querySelectorAll('#liked-recs .column[data-model=als] ol li').length > 0 && "
                          "document.querySelectorAll('#liked-recs .column[data-model=svd] ol li').length > 0")
            liked_titles = page.eval_on_selector_all("#liked li span", "s => s.map(e => e.textContent)")
            als_recs = page.eval_on_selector_all("#liked-recs .column[data-model=als] li .item-link",
                                                 "s => s.map(e => e.textContent)")
            assert all(t.startswith("Alpha") for t in liked_titles) and als_recs[0].startswith("Alpha")
            assert not set(liked_titles) & set(als_recs)

            # a user's history next to their recommendations
            page.fill("#user", "2")
            page.click("#user-form button")
            wait_js(page, "document.querySelectorAll('#user-view .history li').length > 0 && "
                                   "document.querySelectorAll('#user-view .columns .column ol li').length >= 20")
            history = page.eval_on_selector_all("#user-view .history li .item-link", "s => s.map(e => e.textContent)")
            recs = page.eval_on_selector_all("#user-view .columns .column[data-model=svd] li .item-link",
                                             "s => s.map(e => e.textContent)")
            assert len(history) == get_n_items(svd, 2)
            assert recs == svd.interactions_.item_titles(svd.item_ids_.indices(svd.recommend(2, n=10)[0]))
            page.fill("#user", "nobody")
            page.click("#user-form button")
            wait_js(page, "document.querySelector('#user-message').textContent.includes('no model knows')")
        finally:
            browser.close()
    assert errors == [] and failed == []


def wait_js(page, expression: str, timeout: float = 15):
    """Poll a JavaScript expression until it is truthy. (Playwright's wait_for_function evaluates
    its predicate with eval() inside the page, which the page's Content-Security-Policy forbids.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.05)


def get_n_items(model, user) -> int:
    return min(20, len(model.interactions_.user_items(model.user_ids_.index(user))))

"""The HTTP API and the browse page: a FastAPI app over a :class:`ModelRegistry`.

Every answer is JSON (the page and its two static files aside); every error is
``{"error": message}`` with its status: 400 malformed request, 404 unknown model/user/item/route,
405 wrong method, 413 body too large, 422 bad values, 500 a bug (the server keeps running).
No path is ever taken from a request: the page's files are read once from the package.
"""
from __future__ import annotations

import contextlib
import json
from importlib import resources
from typing import Optional

import numpy as np

from .._optional import missing_extra

try:
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as exc:
    raise missing_extra(exc, "serve", "mfrec serve") from exc

from ..errors import MfrecError, UnknownIdError
from ..similarity import SIMILARITIES
from . import params
from .limits import BodySizeLimit
from .registry import DEFAULT_POLL_INTERVAL, LoadedModel, ModelRegistry

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB: room for params.MAX_ITEMS ids
#: the page loads only its own files (no CDN) and talks only to this server
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}


def _static_files() -> dict:
    folder = resources.files("mfrec.serve") / "static"
    return {name: (folder / name).read_bytes() for name in STATIC}


def error(status: int, message: str) -> JSONResponse:
    """Return a JSON error response ``{"error": message}`` with the status code."""
    return JSONResponse({"error": message}, status_code=status)


def create_app(models, *, poll_interval: float = DEFAULT_POLL_INTERVAL, max_body: int = DEFAULT_MAX_BODY,
               cors_origins: Optional[list] = None) -> FastAPI:
    """Build the FastAPI app serving ``models``.

    The app serving ``models``: model file paths (or a ready :class:`ModelRegistry`). The
    reload thread runs while the app runs (its lifespan).
    """
    registry = models if isinstance(models, ModelRegistry) else ModelRegistry(models, poll_interval=poll_interval)
    files = _static_files()

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        registry.start()
        try:
            yield
        finally:
            registry.stop()

    app = FastAPI(title="mfrec", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.registry = registry
    app.add_middleware(BodySizeLimit, max_bytes=max_body)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type"])
    _add_error_handlers(app)

    def model(name: str) -> LoadedModel:
        entry = registry.get(name)
        if entry is None:
            raise params.RequestError(404, f"unknown model {name!r} (models: {', '.join(registry.names)})")
        return entry

    # ---------------------------------------------------------------- API
    # Handlers return JSONResponse themselves: FastAPI's jsonable_encoder walk of a returned dict
    # cost more than the recommendation itself. Query work is fast and runs on the event loop;
    # fold-in (a solve or a few SGD epochs) runs in the thread pool. Routes are matched in
    # order: the hot ones come first.
    @app.get("/health")
    async def health():
        return JSONResponse(registry.health())

    @app.get("/models")
    async def list_models(request: Request):
        params.query_params(request.query_params, set())
        return JSONResponse({"models": [entry.info for entry in registry.all()]})

    @app.get("/models/{name}")
    async def describe_model(request: Request):  # name from path_params: no dependency solving
        params.query_params(request.query_params, set())
        return JSONResponse(model(request.path_params["name"]).info)

    @app.get("/models/{name}/recommend")
    async def recommend(request: Request):  # name from path_params: no dependency solving
        q = params.query_params(request.query_params, {"user", "n", "exclude_seen"}, {"user"})
        entry = model(request.path_params["name"])
        n = params.parse_n(q.get("n"))
        exclude_seen = params.parse_bool(q.get("exclude_seen"), True, name="exclude_seen")
        user = params.raw_id_from_query(q["user"], entry.model.user_ids_.raw.dtype.kind)
        return _recommend_user(entry, user, n, exclude_seen)

    @app.post("/models/{name}/recommend")
    async def recommend_new_user(request: Request):  # name from path_params: no dependency solving
        params.query_params(request.query_params, set())
        entry = model(request.path_params["name"])
        body = params.fold_in_request(params.parse_json_body(await request.body()))
        # fold-in runs a solve or a few SGD epochs: off the event loop
        return await run_in_threadpool(_fold_in, entry, body)

    @app.get("/models/{name}/similar")
    async def similar(request: Request):  # name from path_params: no dependency solving
        q = params.query_params(request.query_params, {"item", "n", "min_interactions", "similarity"}, {"item"})
        entry = model(request.path_params["name"])
        n = params.parse_n(q.get("n"))
        min_inter = params.parse_count(q.get("min_interactions"), 0, name="min_interactions")
        similarity = params.parse_choice(q.get("similarity"), SIMILARITIES, name="similarity")
        item = params.raw_id_from_query(q["item"], entry.model.item_ids_.raw.dtype.kind)
        ids, scores = entry.model.similar_items(item, n=n, min_interactions=min_inter,
                                                **({} if similarity is None else {"similarity": similarity}))
        return ranked_response({"model": entry.name, "item": item}, entry.catalog.ranked_json(ids, scores))

    @app.get("/models/{name}/history")
    async def history(request: Request):  # name from path_params: no dependency solving
        q = params.query_params(request.query_params, {"user", "n"}, {"user"})
        entry = model(request.path_params["name"])
        n = params.parse_n(q.get("n"), default=50)
        user = params.raw_id_from_query(q["user"], entry.model.user_ids_.raw.dtype.kind)
        return JSONResponse(_history(entry, user, n))

    @app.get("/items")
    async def search_items(request: Request):
        """?q=TEXT: title search (or exact id) over every model; ?id=ID: exact id only."""
        q = params.query_params(request.query_params, {"q", "id", "n"})
        if ("q" in q) == ("id" in q) or not (q.get("q") or q.get("id")):
            raise params.RequestError(400, "give either q (a title search) or id (an item id)")
        n = params.parse_n(q.get("n"), default=20)
        if "id" in q:
            return JSONResponse({"id": q["id"], "items": _search(registry.all(), q["id"], n, titles=False)})
        return JSONResponse({"query": q["q"], "items": _search(registry.all(), q["q"], n)})

    @app.get("/users")
    async def find_user(request: Request):
        """?id=ID: the models whose training data hold this user."""
        q = params.query_params(request.query_params, {"id"}, {"id"})
        names = [entry.name for entry in registry.all()
                 if params.raw_id_from_query(q["id"], entry.model.user_ids_.raw.dtype.kind) in entry.model.user_ids_]
        return JSONResponse({"id": q["id"], "models": names})

    # ---------------------------------------------------------------- page
    def static(name: str) -> Response:
        return Response(files[name], media_type=STATIC[name], headers=PAGE_HEADERS)

    @app.get("/", include_in_schema=False)
    async def index():
        return static("index.html")

    @app.get("/static/app.js", include_in_schema=False)
    async def app_js():
        return static("app.js")

    @app.get("/static/style.css", include_in_schema=False)
    async def style_css():
        return static("style.css")

    return app


# -------------------------------------------------------------------- queries
def _user_index(entry: LoadedModel, user) -> int:
    return entry.model.user_ids_.index(user)


def _recommend_user(entry: LoadedModel, user, n: int, exclude_seen: bool) -> Response:
    model = entry.model
    ids, scores = model.recommend(user, n=n, exclude_seen=exclude_seen)
    return ranked_response({"model": entry.name, "user": user}, entry.catalog.ranked_json(ids, scores))


def ranked_response(head: dict, items_json: str) -> Response:
    """Build the JSON answer ``{**head, "items": [...]}`` around items already encoded (Catalog.ranked_json)."""
    head_json = json.dumps(head, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(head_json[:-1] + ',"items":' + items_json + "}", media_type="application/json")


def _fold_in(entry: LoadedModel, body: dict) -> Response:
    model = entry.model
    ratings = body["ratings"]
    if ratings is None and model.feedback == "explicit":
        # liked items without ratings: the top of the rating scale
        scale = model.interactions_.rating_scale
        top = float(scale[1]) if scale else float(model.interactions_.matrix.data.max())
        ratings = [top] * len(body["items"])
    try:
        ids, scores = model.recommend_new_user(body["items"], ratings, n=body["n"],
                                               exclude_seen=body["exclude_seen"])
    except NotImplementedError as exc:
        raise params.RequestError(422, str(exc)) from None
    return ranked_response({"model": entry.name}, entry.catalog.ranked_json(ids, scores))


def _history(entry: LoadedModel, user, n: int) -> dict:
    """Return the user's training items, highest rating/confidence first, then the most popular."""
    model = entry.model
    row = _user_index(entry, user)
    matrix = model.interactions_.matrix
    start, stop = matrix.indptr[row], matrix.indptr[row + 1]
    items, values = matrix.indices[start:stop], matrix.data[start:stop]
    counts = np.asarray(entry.catalog.counts)[items]
    order = np.lexsort((items, -counts, -values))[:n]
    rows = entry.catalog.entries(items[order])
    for row_out, value in zip(rows, values[order].tolist()):
        row_out["value"] = value
    return {"model": entry.name, "user": model.user_ids_.raw[row].item(), "n_items": int(stop - start),
            "feedback": model.feedback, "items": rows}


def _search(entries: list, query: str, n: int, *, titles: bool = True) -> list:
    """Search the items of every model by title or id.

    Items of every model whose title contains the query (unless titles=False) or whose id is
    the query, merged by raw id, most interacted-with first; each lists the models that know it.
    """
    merged: dict = {}
    for entry in entries:
        raw = params.raw_id_from_query(query, entry.model.item_ids_.raw.dtype.kind)
        exact = entry.model.item_ids_.index(raw) if raw in entry.model.item_ids_ else None
        cat = entry.catalog
        hits = cat.search(query, exact) if titles else ([] if exact is None else [exact])
        for i in hits:
            hit = merged.get(cat.ids[i])
            if hit is None:
                hit = merged[cat.ids[i]] = {"id": cat.ids[i], "title": cat.titles[i], "count": 0, "models": []}
                if cat.genres is not None:
                    hit["genres"] = cat.genres[i]
            hit["title"] = hit["title"] or cat.titles[i]
            hit["count"] = max(hit["count"], cat.counts[i])
            hit["models"].append(entry.name)
    return sorted(merged.values(), key=lambda h: (-h["count"], str(h["id"])))[:n]


# -------------------------------------------------------------------- errors
def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(params.RequestError)
    async def request_error(_request, exc: params.RequestError):
        return error(exc.status, exc.message)

    @app.exception_handler(UnknownIdError)
    async def unknown_id(_request, exc: UnknownIdError):
        return error(404, str(exc))

    @app.exception_handler(MfrecError)
    async def mfrec_error(_request, exc: MfrecError):
        return error(422, str(exc))

    @app.exception_handler(ValueError)
    async def value_error(_request, exc: ValueError):   # a model refusing a value (e.g. ALS ratings <= 0)
        return error(422, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc: StarletteHTTPException):
        message = exc.detail
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        return JSONResponse({"error": str(message)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request, exc: RequestValidationError):
        return error(422, "; ".join(str(e.get("msg")) for e in exc.errors()) or "invalid request")

    @app.exception_handler(Exception)
    async def internal_error(_request, exc: Exception):
        return error(500, f"internal server error ({type(exc).__name__}); the server keeps running")

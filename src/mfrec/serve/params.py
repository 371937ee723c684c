"""Validation of request parameters.

Validation of request parameters: query strings and JSON bodies -> typed values, or a
:class:`RequestError` carrying the HTTP status and a message that names the parameter.

Status codes: 400 for a request that is malformed as a whole (missing or repeated parameter,
unknown parameter, body that is not JSON), 422 for a well-formed request whose values are
wrong (n out of range, a number that is not one, a field of the wrong type).
"""
from __future__ import annotations

import json
from collections.abc import Set as AbstractSet
import math
from typing import Any, Optional, Union

#: largest n a client may ask for
MAX_N = 1000
#: largest number of items in a fold-in request
MAX_ITEMS = 10_000


class RequestError(Exception):
    """A bad request; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def query_params(request_query, allowed: AbstractSet[str], required: AbstractSet[str] = frozenset()) -> dict:
    """Return the query parameters as a dict of strings; unknown, repeated or missing ones are 400s."""
    values = {}
    for key, value in request_query.multi_items():
        if key not in allowed:
            raise RequestError(400, f"unknown parameter {key!r} (parameters: {', '.join(sorted(allowed))})")
        if key in values:
            raise RequestError(400, f"parameter {key!r} given more than once")
        values[key] = value
    for key in sorted(required):
        if key not in values or values[key] == "":
            raise RequestError(400, f"missing parameter {key!r}")
    return values


def parse_n(text, default: int = 10, *, name: str = "n") -> int:
    """Parse a count 1..MAX_N from a query string (or a JSON integer)."""
    if text is None:
        return default
    if isinstance(text, str):
        stripped = text.strip()
        if not stripped.lstrip("+-").isdigit():
            raise RequestError(422, f"{name} must be an integer, got {text!r}")
        value = int(stripped)
    elif isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        raise RequestError(422, f"{name} must be an integer, got {json.dumps(text)}")
    if value <= 0 or value > MAX_N:
        raise RequestError(422, f"{name} must be between 1 and {MAX_N}, got {value}")
    return value


def parse_count(text, default: int, *, name: str) -> int:
    """Parse a non-negative integer from a query string."""
    if text is None:
        return default
    stripped = text.strip()
    if not stripped.isdigit():
        raise RequestError(422, f"{name} must be a non-negative integer, got {text!r}")
    return int(stripped)


def parse_choice(text, choices, *, name: str) -> Optional[str]:
    """One of ``choices`` (None when not given: the library's default applies)."""
    if text is None or text in choices:
        return text
    raise RequestError(422, f"{name} must be one of {', '.join(choices)}, got {text!r}")


def parse_bool(text, default: bool, *, name: str) -> bool:
    """Parse a true/false query value (true/1/yes, false/0/no), ``default`` when absent; else a 422."""
    if text is None:
        return default
    if isinstance(text, bool):
        return text
    if isinstance(text, str) and text.lower() in ("true", "1", "yes"):
        return True
    if isinstance(text, str) and text.lower() in ("false", "0", "no"):
        return False
    raise RequestError(422, f"{name} must be true or false, got {text!r}")


def raw_id_from_query(text: str, id_kind: str) -> Union[int, str]:
    """Parse a raw id typed in a query string.

    A raw id typed in a query string, as the model's id map stores it: an int when the map
    holds ints and the text is an integer, else the text (which will then not be found).
    """
    if id_kind in "iu":
        stripped = text.strip()
        if stripped.lstrip("-").isdigit():
            return int(stripped)
    return text


def parse_json_body(body: bytes) -> Any:
    """Parse a JSON request body; an empty or invalid body is a 400."""
    if not body:
        raise RequestError(400, "the request body is empty; send a JSON object")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, f"the request body is not valid JSON ({exc})") from None


def fold_in_request(payload) -> dict:
    """Check a POST /recommend body.

    Check a POST /recommend body: {"items": [...], "ratings": [...] (optional), "n": 10,
    "exclude_seen": true (optional)}; returns the typed fields.
    """
    if not isinstance(payload, dict):
        raise RequestError(422, f"the request body must be a JSON object, got {_json_type(payload)}")
    allowed = {"items", "ratings", "n", "exclude_seen"}
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise RequestError(422, f"unknown field {unknown[0]!r} (fields: {', '.join(sorted(allowed))})")
    if "items" not in payload:
        raise RequestError(422, "field 'items' is required: a list of item ids")
    items = payload["items"]
    if not isinstance(items, list):
        raise RequestError(422, f"field 'items' must be a list of item ids, got {_json_type(items)}")
    if not items:
        raise RequestError(422, "field 'items' must hold at least one item id")
    if len(items) > MAX_ITEMS:
        raise RequestError(422, f"field 'items' holds {len(items)} ids; at most {MAX_ITEMS} are allowed")
    for pos, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise RequestError(422, f"items[{pos}] must be an integer or a string id, got {json.dumps(item)}")
    ratings = payload.get("ratings")
    if ratings is not None:
        if not isinstance(ratings, list):
            raise RequestError(422, f"field 'ratings' must be a list of numbers, got {_json_type(ratings)}")
        if len(ratings) != len(items):
            raise RequestError(422, f"field 'ratings' holds {len(ratings)} values for {len(items)} items")
        for pos, value in enumerate(ratings):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise RequestError(422, f"ratings[{pos}] must be a finite number, got {json.dumps(value)}")
    n = payload.get("n", 10)
    if isinstance(n, bool) or not isinstance(n, int):   # a JSON number, not "10" or 10.0
        raise RequestError(422, f"n must be an integer, got {json.dumps(n)}")
    return {"items": items, "ratings": ratings, "n": parse_n(n),
            "exclude_seen": parse_bool(payload.get("exclude_seen"), True, name="exclude_seen")}


def _json_type(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)

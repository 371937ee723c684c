"""Request body size limit, as pure ASGI middleware.

Request body size limit, as pure ASGI middleware: a declared Content-Length over the limit is
refused before the body is read, and a body sent without one (chunked) is cut off as soon as
the bytes received pass the limit. Either way the answer is 413 with a JSON error.
"""
from __future__ import annotations

import json


class BodyTooLarge(Exception):
    """Raised inside the app when a body without Content-Length passes the limit."""

    pass


class BodySizeLimit:
    """ASGI middleware answering 413 to a request body of more than ``max_bytes``."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope, receive, send):
        """Serve one ASGI call, refusing or cutting off a body over the limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        has_body = False
        for key, value in scope["headers"]:
            if key == b"transfer-encoding":
                has_body = True
            if key == b"content-length":
                has_body = True
                try:
                    declared = int(value)
                except ValueError:
                    await _answer(send, 400, "the Content-Length header is not a number")
                    return
                if declared > self.max_bytes:
                    await _answer(send, 413, self._message())
                    return
        if not has_body:  # neither Content-Length nor chunked: HTTP/1.1 says there is no body
            await self.app(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _answer(send, 413, self._message())

    def _message(self) -> str:
        return f"the request body is larger than the limit of {self.max_bytes} bytes"


async def _answer(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})

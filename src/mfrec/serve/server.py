"""`mfrec serve`: bind a loopback socket (by default), then run the app under uvicorn."""
from __future__ import annotations

import gc
import socket
from typing import Optional

from .._optional import missing_extra

try:
    import uvicorn
except ImportError as exc:
    raise missing_extra(exc, "serve", "mfrec serve") from exc

from ..errors import MfrecError
from .app import DEFAULT_MAX_BODY, create_app
from .registry import DEFAULT_POLL_INTERVAL

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def bind(host: str, port: int) -> socket.socket:
    """Open a listening TCP socket, or an MfrecError naming the address (port taken, bad host)."""
    if not 0 <= port <= 65535:
        raise MfrecError(f"port must be between 0 and 65535, got {port}")
    try:
        family, kind, proto = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][:3]
        # proto must be IPPROTO_TCP (not 0): asyncio sets TCP_NODELAY only on accepted sockets whose
        # proto says TCP; without it each response waited ~40 ms for Nagle + delayed ACK
        sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise MfrecError(f"cannot listen on {host}:{port}: {exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise MfrecError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def make_server(app, sock: socket.socket, *, log_level: str = "info", access_log: bool = False) -> uvicorn.Server:
    """Build a uvicorn server for ``app`` on an already bound socket (serve with ``server.run(sockets=[sock])``)."""
    config = uvicorn.Config(app, log_level=log_level, access_log=access_log, lifespan="on",
                            timeout_keep_alive=30, server_header=False)
    return uvicorn.Server(config)


def freeze_startup_objects() -> None:
    """Freeze the objects allocated so far out of the garbage collector's sight.

    Move everything allocated so far (modules, models) out of the garbage collector's sight:
    a full collection over them took ~130 ms on the 2-core test machine, a latency spike for
    every request in flight; requests' own short-lived objects are still collected as usual.
    """
    gc.collect()
    gc.freeze()


def run(paths, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, cors_origins: Optional[list] = None,
        max_body: Optional[int] = None, poll_interval: Optional[float] = None, log_level: str = "info",
        announce=print) -> None:
    """Load the models, bind, serve until interrupted."""
    app = create_app(paths, poll_interval=DEFAULT_POLL_INTERVAL if poll_interval is None else poll_interval,
                     max_body=DEFAULT_MAX_BODY if max_body is None else max_body, cors_origins=cors_origins)
    sock = bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    announce(f"Serving {', '.join(app.state.registry.names)} on http://{shown}:{bound_port}/ (Ctrl+C to stop)")
    freeze_startup_objects()
    make_server(app, sock, log_level=log_level).run(sockets=[sock])

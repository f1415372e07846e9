"""Serving the studio: bind 127.0.0.1 (a clear error when the port is taken), run uvicorn in
the foreground (the CLI) or in a thread (a notebook), and open the browser at the URL with
the session's token."""

from __future__ import annotations

import errno
import secrets
import socket
import threading
import time
import webbrowser
from dataclasses import dataclass
from typing import Any

import uvicorn

from ..errors import StudioError
from .app import create_app
from .session import Session

HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:port (0: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            msg = f"port {port} on {HOST} is already in use (another studio, or another program): close it, or choose another port with --port N (--port 0 picks a free one)"
            raise StudioError(msg) from None
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@dataclass
class Running:
    """A studio served in a background thread (notebooks, tests); ``stop()`` ends it."""

    url: str
    token: str
    server: uvicorn.Server
    thread: threading.Thread
    app: Any

    def stop(self) -> None:
        """Stop the server, a running re-optimise and the warm engine process."""
        self.server.should_exit = True
        self.thread.join(10)
        self.app.state.session.close()

    def _repr_html_(self) -> str:  # a notebook shows the studio in a frame
        from html import escape

        return f'<iframe src="{escape(self.url, quote=True)}" width="100%" height="720" style="border:1px solid #ccc"></iframe>'


def _server(session: Session, sock: socket.socket, token: str) -> tuple[uvicorn.Server, Any]:
    app = create_app(session, token=token)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config), app


def url_of(sock: socket.socket, token: str) -> str:
    return f"http://{HOST}:{sock.getsockname()[1]}/?token={token}"


def start(session: Session, *, port: int = 0) -> Running:
    """Serve ``session`` in a daemon thread; returns once the server accepts connections."""
    sock = bind(port)
    token = secrets.token_urlsafe(24)
    server, app = _server(session, sock, token)
    session.prepare_engine()
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="territory-opt-studio")
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        msg = "the studio's server did not start within 20 s"
        raise StudioError(msg)
    return Running(url_of(sock, token), token, server, thread, app)


def serve(session: Session, *, port: int = DEFAULT_PORT, open_browser: bool = True, announce: Any = print) -> None:
    """Serve ``session`` until Ctrl-C (the CLI)."""
    sock = bind(port)
    token = secrets.token_urlsafe(24)
    server, app = _server(session, sock, token)
    session.prepare_engine()
    url = url_of(sock, token)
    announce(f"plan studio for {session.name}: {url}\n(the token in this address is required; Ctrl-C stops the studio)")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.run(sockets=[sock])
    finally:
        app.state.session.close()

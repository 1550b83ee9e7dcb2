"""A tiny HTTP server on 127.0.0.1 for fake upstreams, with scripted faults.

A fake subclasses `FakeUpstream` and implements `route()`; the server runs in a thread on a
free port. Faults are scripted per request: `fail(times, status, …)` answers the next `times`
matching requests with an error (`times=None`: every one), before the fake's own logic runs.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><p>The proxy server received an invalid response.</p>"
    b"</body></html>"
)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, value: Any, status: int = 200, **headers: str) -> Response:
        return cls(
            status, json.dumps(value).encode(), {"Content-Type": "application/json", **headers}
        )

    @classmethod
    def html(cls, status: int = 502) -> Response:
        return cls(status, HTML_PAGE, {"Content-Type": "text/html"})


@dataclass
class Fault:
    response: Response
    times: int | None  # None: for ever
    path_contains: str = ""
    after: int = 0  # let this many matching requests through first
    when: Callable[[Request], bool] | None = None  # only requests this says yes to


class FakeUpstream:
    """Base class: records requests, plays scripted faults, then calls `route()`."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.tampers: list[tuple[str, Callable[[Request, Any], Any]]] = []
        self.lock = threading.Lock()
        self.url = ""

    def route(self, request: Request) -> Response:
        raise NotImplementedError

    def fail(
        self,
        response: Response,
        *,
        times: int | None = 1,
        path_contains: str = "",
        after: int = 0,
        when: Callable[[Request], bool] | None = None,
    ) -> None:
        """Answer `times` matching requests with `response`, once `after` have gone through."""
        self.faults.append(Fault(response, times, path_contains, after, when))

    def clear_faults(self) -> None:
        self.faults.clear()
        self.tampers.clear()

    def tamper(self, change: Callable[[Request, Any], Any], *, path_contains: str = "") -> None:
        """Pass the JSON body of every answer to a matching request through `change` (which
        returns the body to send: what a broken proxy, plugin or API change would send)."""
        self.tampers.append((path_contains, change))

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(request)
            for fault in self.faults:
                matches = fault.when is None or fault.when(request)
                if matches and fault.path_contains in request.path and fault.times != 0:
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    if fault.times is not None:
                        fault.times -= 1
                    return fault.response
            response = self.route(request)
            for path, change in self.tampers:
                if path in request.path and response.status == 200:
                    body = change(request, json.loads(response.body))
                    text = body if isinstance(body, str) else json.dumps(body)
                    response = Response(200, text.encode(), dict(response.headers))
            return response

    @contextmanager
    def running(self, *, tls: tuple[Path, Path] | None = None) -> Iterator[FakeUpstream]:
        """Serve on 127.0.0.1 on a free port until the block ends; over HTTPS with `tls`
        (a certificate file and its key file)."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            server.socket = context.wrap_socket(server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


def _handler(fake: FakeUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall per keep-alive request

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                self.command,
                parts.path,
                parse_qs(parts.query, keep_blank_values=True),
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length) if length else b"",
            )
            try:
                response = fake.handle(request)
            except Exception as exc:  # a bug in a fake should show, not hang the client
                response = Response(500, f"fake crashed: {exc!r}".encode())
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler

"""A fault-injecting HTTP proxy in front of one registry of the test stack (stdlib only).

It forwards every request faithfully (any method, streamed bodies, headers; the registry builds `Location` from
the `Host` it is sent, which stays the proxy's, so blob uploads keep going through the proxy) and fails the ones
a rule matches:

* ``status``: answer with that HTTP status without forwarding (e.g. 500, or 429 with ``headers`` such as
  ``{"Retry-After": "1"}``);
* ``reset``: close the connection abruptly (SO_LINGER 0: the client sees a reset);
* ``delay``: wait that many seconds, then forward (past a client's timeout);
* ``forward-then-fail``: forward the request (the registry commits it), then answer 500 — the dangerous case
  where a client is told "failed" about something that happened.

Rules match a method and a regular expression on the path, optionally only from the Nth match and for at most
`times` matches. Used by the e2e tests in-process (``with FaultProxy("127.0.0.1:5001") as proxy``); BuildKit
and buildx talk plain HTTP to 127.0.0.1 on any port without configuration. Only loopback is ever contacted.
"""

from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

Action = Literal["status", "reset", "delay", "forward-then-fail"]
_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
}


@dataclass
class Rule:
    method: str
    path: str  # a regular expression searched in the request path
    action: Action
    status: int = 500
    seconds: float = 0.0
    after: int = 0  # let this many matches through first
    times: int | None = None  # fail at most this many matches (None: every one)
    headers: dict[str, str] = field(
        default_factory=dict
    )  # sent with a `status` answer (Retry-After)
    seen: int = 0
    fired: int = 0

    def fires(self, method: str, path: str) -> bool:
        if method != self.method or not re.search(self.path, path):
            return False
        self.seen += 1
        if self.seen <= self.after or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True


@dataclass
class Hit:
    method: str
    path: str
    status: int | None
    fault: Action | None


@dataclass
class FaultProxy:
    upstream: str  # host:port of the registry
    rules: list[Rule] = field(default_factory=list)
    log: list[Hit] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def add_rule(self, method: str, path: str, action: Action, **kw: object) -> Rule:
        rule = Rule(method, path, action, **kw)  # type: ignore[arg-type]
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def faults(self) -> list[Hit]:
        return [h for h in self.log if h.fault is not None]

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- one request -----------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            rule = next((r for r in self.rules if r.fires(h.command, h.path)), None)
        body = self._body(h)
        if rule is not None and rule.action == "status":
            self._answer(h, rule.status, rule)
            return
        if rule is not None and rule.action == "reset":
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.close_connection = True
            self.log.append(Hit(h.command, h.path, None, "reset"))
            h.connection.close()
            return
        if rule is not None and rule.action == "delay":
            time.sleep(rule.seconds)
        status, headers, data = self._forward(h, body)
        if rule is not None and rule.action == "forward-then-fail":
            self._answer(h, 500, rule)
            return
        h.send_response(status)
        for key, value in headers:
            if key.lower() not in _HOP and key.lower() != "content-length":
                h.send_header(key, value)
        # A HEAD answer has no body but names the length of the one a GET would send.
        length = dict((k.lower(), v) for k, v in headers).get("content-length", "0")
        h.send_header("Content-Length", length if h.command == "HEAD" else str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)
        self.log.append(Hit(h.command, h.path, status, rule.action if rule else None))

    def _body(self, h: BaseHTTPRequestHandler) -> bytes:
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(h.rfile.read(size))
                h.rfile.readline()
            return b"".join(chunks)
        length = int(h.headers.get("Content-Length") or 0)
        return h.rfile.read(length) if length else b""

    def _forward(
        self, h: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        host, port = self.upstream.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP}
        headers["Content-Length"] = str(len(body))
        try:
            conn.request(h.command, h.path, body=body if body else None, headers=headers)
            response = conn.getresponse()
            data = response.read()
            return response.status, list(response.getheaders()), data
        finally:
            conn.close()

    def _answer(self, h: BaseHTTPRequestHandler, status: int, rule: Rule) -> None:
        if status == 429:
            payload = (
                b'{"errors":[{"code":"TOOMANYREQUESTS","message":"injected fault: slow down"}]}'
            )
        elif (
            400 <= status < 500
        ):  # as ECR refuses to move a tag in a repository with immutable tags
            payload = (
                b'{"errors":[{"code":"TAG_INVALID","message":"injected fault: the image tag already '
                b'exists and cannot be overwritten because the repository is immutable"}]}'
            )
        else:
            payload = b'{"errors":[{"code":"UNKNOWN","message":"injected fault"}]}'
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        for key, value in rule.headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(payload)
        self.log.append(Hit(h.command, h.path, status, rule.action))

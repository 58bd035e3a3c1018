"""Registry requests reuse one connection per thread and host, and survive the registry closing an idle one.

A loopback HTTP server stands in for the registry's transport only (what the connection does), not for its API:
the registry API itself is exercised end to end in tests/e2e."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bakepy.engine import registry, transport
from bakepy.errors import ConfigError

DIGEST = "sha256:" + "ab" * 32


class _Server:
    def __init__(self) -> None:
        self.connections: list[object] = []
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive

            def log_message(self, format: str, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                owner.connections.append(self.connection)

            def do_HEAD(self) -> None:
                owner.requests += 1
                self.send_response(200)
                self.send_header("Docker-Content-Digest", DIGEST)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def drop_idle_connections(self) -> None:
        for conn in self.connections:
            conn.shutdown(socket.SHUT_RDWR)  # type: ignore[attr-defined]


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    s.thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def test_requests_in_a_row_share_one_connection(server: _Server) -> None:
    for _ in range(5):
        assert registry.head_digest(f"{server.address}/repo:tag") == DIGEST
    assert server.requests == 5
    assert len(server.connections) == 1


def test_a_connection_the_registry_closed_meanwhile_is_reopened(server: _Server) -> None:
    assert registry.head_digest(f"{server.address}/repo:tag") == DIGEST
    server.drop_idle_connections()
    assert registry.head_digest(f"{server.address}/repo:tag") == DIGEST
    assert len(server.connections) == 2


def test_a_proxy_from_the_environment_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the environment names a proxy, requests go through urllib (and the proxy), as before."""
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    client = transport.Session()
    assert not client._is_direct("http", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    assert client._is_direct("http", "127.0.0.1")
    monkeypatch.delenv("http_proxy")
    monkeypatch.delenv("no_proxy")
    assert client._is_direct("http", "127.0.0.1")


@pytest.mark.parametrize("value", ["1m", "0", "-5", "inf", "nan", "sixty"])
def test_a_registry_timeout_that_is_not_seconds_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(registry.WRITE_TIMEOUT_ENV, value)
    with pytest.raises(ConfigError, match=rf"BAKEPY_REGISTRY_TIMEOUT='{value}' in the environment"):
        registry.write_timeout()


@pytest.mark.parametrize(
    ("value", "seconds"), [(None, 60.0), ("", 60.0), ("2", 2.0), (" 0.5 ", 0.5)]
)
def test_the_registry_timeout(
    monkeypatch: pytest.MonkeyPatch, value: str | None, seconds: float
) -> None:
    if value is None:
        monkeypatch.delenv(registry.WRITE_TIMEOUT_ENV, raising=False)
    else:
        monkeypatch.setenv(registry.WRITE_TIMEOUT_ENV, value)
    assert registry.write_timeout() == seconds


def test_the_next_fan_out_reuses_the_connections_of_the_last(server: _Server) -> None:
    """Each fan-out (reads, stages, tag moves, read-backs) has threads of its own; the connections do not: the
    second pool's threads take the idle connections the first pool's left."""
    from concurrent.futures import ThreadPoolExecutor

    client = transport.new_session()
    for _ in range(3):
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda _: registry.head_digest(f"{server.address}/repo:tag"), range(8)))
    assert server.requests == 24
    assert len(server.connections) <= 4
    assert client.stats.requests == 24

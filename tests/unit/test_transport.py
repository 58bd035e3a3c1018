"""The registry client's transport: the login dance, tokens kept per scope, redirects without the login,
Retry-After. A loopback HTTP server stands in for a registry's transport only (who sends what, when); the
registry API itself, with real logins, is exercised end to end in tests/e2e/test_registries.py."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bakepy.engine import transport

USER, SECRET = "ci", "s3cret"
BASIC = "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()

Handler = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


class Stand:
    """A loopback server answering with `handle(request)`; every request's (method, path, Authorization)."""

    def __init__(self, handle: Handler) -> None:
        self.seen: list[tuple[str, str, str]] = []
        owner = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                owner.seen.append((self.command, self.path, self.headers.get("Authorization", "")))
                status, headers, body = handle(self)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = do_POST = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stands() -> Iterator[Callable[[Handler], Stand]]:
    made: list[Stand] = []

    def make(handle: Handler) -> Stand:
        made.append(Stand(handle))
        return made[-1]

    yield make
    for s in made:
        s.close()


def login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *registries: str) -> None:
    auth = base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {r: {"auth": auth} for r in registries}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("1", 1.0), ("0", 0.0), (" 2.5 ", 2.5), ("", None), ("soon", None), (None, None)],
)
def test_retry_after_in_seconds(header: str | None, seconds: float | None) -> None:
    assert transport.retry_after({} if header is None else {"Retry-After": header}) == seconds


def test_retry_after_as_an_http_date() -> None:
    import email.utils

    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    found = transport.retry_after({"Retry-After": when})
    assert found is not None and 25 < found <= 31


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://auth.example/token", True),
        ("http://127.0.0.1:9000/token", True),
        ("http://localhost:9000/token", True),
        ("http://auth.example/token", False),  # never in the clear off this machine
        ("ftp://auth.example/token", False),
    ],
)
def test_a_secret_goes_over_https_or_to_loopback_only(url: str, sent: bool) -> None:
    assert transport.may_send_secret(url) is sent


def test_basic_is_learnt_from_one_401_then_sent_with_every_request(
    stands, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def handle(r: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        if r.headers.get("Authorization") != BASIC:
            return 401, {"WWW-Authenticate": 'Basic realm="test"'}, b""
        return 200, {"Docker-Content-Digest": "sha256:" + "a" * 64}, b""

    reg = stands(handle)
    login(tmp_path, monkeypatch, reg.address)
    client = transport.Session()
    for _ in range(4):
        answer = client.request("HEAD", reg.address, "/v2/app/manifests/latest")
        assert answer.status == 200
    assert [a for _, _, a in reg.seen] == ["", BASIC, BASIC, BASIC, BASIC]


def test_bearer_tokens_one_fetch_per_repository_and_scope_and_again_on_a_401(
    stands, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued: list[str] = []
    revoked: set[str] = set()

    def token_service(r: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        if r.headers.get("Authorization") != BASIC:
            return 401, {}, b""
        token = f"tok{len(issued)}"
        issued.append(r.path)
        return 200, {}, json.dumps({"token": token, "expires_in": 300}).encode()

    auth = stands(token_service)

    def handle(r: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        given = r.headers.get("Authorization", "").removeprefix("Bearer ")
        if not given.startswith("tok") or given in revoked:
            challenge = f'Bearer realm="http://{auth.address}/token",service="reg"'
            return 401, {"WWW-Authenticate": challenge}, b""
        return 200, {}, b"{}"

    reg = stands(handle)
    login(tmp_path, monkeypatch, reg.address)
    client = transport.Session()
    client.will_write([(reg.address, "team/app")])
    with ThreadPoolExecutor(8) as pool:  # many threads at once still make one fetch
        answers = list(
            pool.map(
                lambda _: client.request("GET", reg.address, "/v2/team/app/manifests/1"), range(16)
            )
        )
    assert {a.status for a in answers} == {200}
    assert len(issued) == 1 and "scope=repository%3Ateam%2Fapp%3Apull%2Cpush" in issued[0]
    assert "service=reg" in issued[0]
    client.request(
        "PUT", reg.address, "/v2/team/app/manifests/1", body=b"{}"
    )  # push: the same token
    assert len(issued) == 1
    client.request(
        "GET", reg.address, "/v2/team/other/manifests/1"
    )  # another repository: pull only
    assert len(issued) == 2 and "team%2Fother%3Apull&" in issued[1] + "&"
    revoked.add("tok0")  # expired or revoked: one 401, a fresh token, the request goes through
    assert client.request("GET", reg.address, "/v2/team/app/manifests/1").status == 200
    assert len(issued) == 3
    assert client.stats.tokens == 3


def test_a_redirect_to_another_host_is_followed_without_the_login(
    stands, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = stands(lambda r: (200, {}, b"blob-bytes"))

    def handle(r: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        if r.headers.get("Authorization") != BASIC:
            return 401, {"WWW-Authenticate": 'Basic realm="test"'}, b""
        # object storage on another host:port (here 127.0.0.1 under another port, which is another origin)
        return (
            307,
            {"Location": f"http://localhost:{storage.httpd.server_address[1]}/blob?sig=x"},
            b"",
        )

    reg = stands(handle)
    login(tmp_path, monkeypatch, reg.address)
    answer = transport.Session().request("GET", reg.address, "/v2/app/blobs/sha256:" + "b" * 64)
    assert (answer.status, answer.body) == (200, b"blob-bytes")
    assert storage.seen == [("GET", "/blob?sig=x", "")]


def test_a_429_waits_its_retry_after_and_the_retry_is_logged(stands) -> None:
    calls: list[float] = []

    def handle(r: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return 429, {"Retry-After": "1"}, b""
        return 201, {}, b""

    reg = stands(handle)
    lines: list[str] = []
    client = transport.Session(log=lines.append)
    answer = client.request("PUT", reg.address, "/v2/app/manifests/1", body=b"{}")
    assert answer.status == 201
    assert calls[1] - calls[0] >= 0.95
    assert len(lines) == 1 and "after HTTP 429 (Retry-After 1 s)" in lines[0]
    assert client.stats.retries == 1


def test_a_429_past_the_deadline_is_the_answer(stands) -> None:
    reg = stands(lambda r: (429, {"Retry-After": "30"}, b""))
    started = time.monotonic()
    answer = transport.Session().request(
        "PUT", reg.address, "/v2/app/manifests/1", body=b"{}", deadline=time.monotonic() + 2
    )
    assert answer.status == 429
    assert time.monotonic() - started < 2

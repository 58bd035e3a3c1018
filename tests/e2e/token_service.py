"""A token service for the distribution registry's Bearer auth, so the e2e tests have a registry that speaks the
protocol Docker Hub, GHCR and Harbor speak (the stack's registries are open, ScratchRegistry's login is Basic).

The registry is the real one (`docker-registry`, configured with `auth.token`): it checks each token's RS256
signature against this service's certificate and enforces the `access` claim, so the grants here are what the
registry lets through. This service only decides them, from a table of accounts: each account may do some actions
on every repository; a request for `repository:NAME:push,pull` gets the intersection. Keys and the certificate come
from the `openssl` command; tokens are signed with `openssl dgst -sha256 -sign` (RS256 is PKCS#1 v1.5 over SHA-256).
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import subprocess
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

SERVICE = "bakepy-e2e"
ISSUER = "bakepy-e2e-token-service"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(der_public_key: bytes) -> str:
    """The `kid` the registry looks a root certificate's key up by (docker/libtrust `keyIDFromCryptoKey`)."""
    encoded = base64.b32encode(hashlib.sha256(der_public_key).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


class TokenService:
    """`accounts`: user → (password, actions the user may have on any repository)."""

    def __init__(self, root: Path, accounts: dict[str, tuple[str, set[str]]]) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.key = root / "token-key.pem"
        self.cert = root / "token-cert.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", f"/CN={ISSUER}", "-keyout", str(self.key), "-out", str(self.cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        der = subprocess.run(
            ["openssl", "pkey", "-in", str(self.key), "-pubout", "-outform", "DER"],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        self.kid = libtrust_key_id(der)
        self.accounts = accounts
        self.requests: list[str] = []  # scopes asked for, for the tests to read
        self.issued: list[str] = []  # every token handed out (tests search outputs for them)
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # the docker token protocol: Basic login, scope in the query
                query = parse_qs(urlsplit(self.path).query)
                user = service._user(self.headers.get("Authorization", ""))
                self._answer(user, query.get("scope", []), oauth=False)

            def do_POST(self) -> None:  # the OAuth2 form containerd tries first with a password
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                user = None
                if form.get("grant_type") == ["password"]:
                    name, password = form.get("username", [""])[0], form.get("password", [""])[0]
                    if name in service.accounts and service.accounts[name][0] == password:
                        user = name
                scopes = [s for v in form.get("scope", []) for s in v.split(" ")]
                self._answer(user, scopes, oauth=True)

            def _answer(self, user: str | None, scopes: list[str], *, oauth: bool) -> None:
                if user is None:
                    self.send_response(401)
                    self.end_headers()
                    return
                service.requests.extend(scopes)
                token = service.token(user, scopes)
                key = "access_token" if oauth else "token"
                body = json.dumps({key: token, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _user(self, authorization: str) -> str | None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        name, _, password = base64.b64decode(value).decode().partition(":")
        known = self.accounts.get(name)
        return name if known is not None and known[0] == password else None

    def token(self, user: str, scopes: list[str]) -> str:
        allowed = self.accounts[user][1]
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind == "repository":
                granted = [a for a in actions.split(",") if a in allowed]
                access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": user, "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": uuid.uuid4().hex, "access": access}  # fmt: skip
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(), check=True, capture_output=True,
        ).stdout  # fmt: skip
        token = f"{signing_input}.{_b64url(signature)}"
        self.issued.append(token)
        return token

    def registry_auth(self) -> dict[str, object]:
        """The registry's `auth` config section that trusts this service."""
        return {
            "token": {
                "realm": self.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(self.cert),
            }
        }

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

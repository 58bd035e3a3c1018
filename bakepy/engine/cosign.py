"""cosign, the signing tool: found, run and logged here, like every process bakepy starts.

`sign` and `verify` take a reference by digest (`REPO@sha256:…`) and the project's `SignSettings`. Each command is
logged before it runs (`+ cosign sign …`), never with a secret: the key's password is cosign's own
`COSIGN_PASSWORD` in the environment, which bakepy passes on untouched and never prints; a keyless run's OIDC
token is cosign's to find (`SIGSTORE_ID_TOKEN`, GitHub's and GitLab's ambient tokens). Registry logins are
cosign's too: it reads the same Docker config. A failed command becomes one `SigningError` with the tail of its
output; processes die with bakepy (`engine/children.py`).
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from bakepy.engine import children
from bakepy.engine.transport import session
from bakepy.errors import SigningError, ToolMissingError
from bakepy.model.targets import SignSettings
from bakepy.publish.index import split_reference

COSIGN_ENV = "BAKEPY_COSIGN"
INSTALL_HINT = (
    "install cosign (https://docs.sigstore.dev/cosign/system_config/installation/), e.g. "
    "`go install github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5`, or name it in BAKEPY_COSIGN"
)
_KMS = ("awskms://", "gcpkms://", "azurekms://", "hashivault://", "k8s://", "pkcs11:", "env://")


def _is_kms(key: str) -> bool:
    return key.startswith(_KMS)


class Cosign:
    """cosign for one project (`root`: where relative key paths start)."""

    def __init__(
        self,
        settings: SignSettings,
        root: Path,
        *,
        log: Callable[[str], None],
        env: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.root = root
        self.log = log
        self.env = {**os.environ, **(env or {})}

    def binary(self) -> str:
        found = os.environ.get(COSIGN_ENV) or shutil.which("cosign")
        if not found or not Path(found).is_file():
            raise ToolMissingError("cosign is not installed; nothing was signed", hint=INSTALL_HINT)
        return found

    def _key(self) -> str:
        key = self.settings.key or ""
        return key if _is_kms(key) else str(self.root / key)

    def public_key(self) -> str:
        s = self.settings
        if s.public_key:
            return s.public_key if _is_kms(s.public_key) else str(self.root / s.public_key)
        key = s.key or ""
        if _is_kms(key):
            return key
        return str((self.root / key).with_suffix(".pub"))

    def _registry_flags(self, ref: str) -> list[str]:
        """cosign talks plain HTTP only when told: where bakepy's client does (loopback, insecure)."""
        registry = split_reference(ref)[0]
        return ["--allow-http-registry"] if session().scheme(registry) == "http" else []

    def check(self) -> None:
        """Before anything is built: cosign is there, and the key files the project names exist."""
        self.binary()
        if not self.settings.keyless:
            for what, path in (("key", self._key()), ("public-key", self.public_key())):
                if not _is_kms(path) and not Path(path).is_file():
                    raise SigningError(
                        f"[project.sign] {what} {path} does not exist; nothing was built or signed",
                        hint="generate a pair with `cosign generate-key-pair`, or point "
                        f"[project.sign] {what} at yours",
                    )

    def sign(self, ref: str) -> None:
        argv = [self.binary(), "sign", "--yes", *self._registry_flags(ref)]
        if self.settings.keyless:
            pass  # cosign finds the CI's OIDC token itself
        else:
            argv += ["--key", self._key()]
        if not self.settings.tlog:
            argv.append("--tlog-upload=false")
        self._run([*argv, ref], f"signing {ref}")

    def verify(self, ref: str) -> None:
        argv = [self.binary(), "verify", *self._registry_flags(ref)]
        s = self.settings
        if s.keyless:
            argv += ["--certificate-identity-regexp", s.identity or "", "--certificate-oidc-issuer",
                     s.issuer or ""]  # fmt: skip
        else:
            argv += ["--key", self.public_key()]
        if not s.tlog:
            argv.append("--insecure-ignore-tlog=true")
        self._run([*argv, ref], f"verifying the signature of {ref}")

    def _run(self, argv: Sequence[str], what: str) -> str:
        self.log("+ " + shlex.join(argv))
        try:
            return children.run_captured(argv, self.env)
        except children.ProcessFailed as exc:
            tail = [line for line in exc.stderr.strip().splitlines() if line.strip()][-3:]
            raise SigningError(
                f"{what} failed (cosign exited {exc.return_code}): {' / '.join(tail) or 'no output'}",
                detail=exc.stderr[-4000:],
            ) from None
        except OSError as exc:
            raise SigningError(f"{what} failed: cosign could not start ({exc})") from None

"""The `[builder]` table: a buildx builder with one node per platform, native where a machine exists.

```toml
[builder]
name = "bakepy"                                   # the buildx builder's name
nodes = { "linux/amd64" = "unix:///run/buildkit/buildkitd.sock", "linux/arm64" = "tcp://arm-host:1234" }
default = "linux/amd64"                           # the node that builds every other platform (under QEMU)
```

An endpoint's driver follows from its scheme (`unix://`, `tcp://` → `remote`; `ssh://`, `docker-container://`
and a Docker context name → `docker-container`; `kubernetes://NAMESPACE` → `kubernetes`), or is given with
`drivers = { "linux/arm64" = "remote" }`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bakepy.kebab import KebabModel
from bakepy.model.base import ModelError
from bakepy.model.platforms import normalize_platform

Driver = Literal["remote", "docker-container", "kubernetes"]


class BuilderSettings(KebabModel):
    """bakepy's builder: one buildx node per platform (`bakepy builder create`)."""

    name: str = "bakepy"
    """The buildx builder's name; publish uses it when neither --builder nor BUILDX_BUILDER names another."""
    nodes: dict[str, str] = Field(default_factory=dict)
    """Platform → the endpoint of the BuildKit that builds it natively."""
    drivers: dict[str, Driver] = Field(default_factory=dict)
    """Platform → buildx driver, where the endpoint's scheme does not tell."""
    default: str | None = None
    """The platform whose node also builds every platform no node serves (QEMU). Default: the first node."""

    @field_validator("nodes", "drivers")
    @classmethod
    def _platform_keys(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        out = {}
        for key, item in value.items():
            try:
                out[normalize_platform(key)] = item
            except ValueError as exc:
                raise ModelError(f"{exc} (keys are platforms)", (key,)) from None
        return out

    @field_validator("default")
    @classmethod
    def _default(cls, value: str | None) -> str | None:
        try:
            return None if value is None else normalize_platform(value)
        except ValueError as exc:
            raise ModelError(str(exc)) from None

    @model_validator(mode="after")
    def _check(self) -> BuilderSettings:
        if not self.nodes:
            raise ModelError(
                "a builder needs at least one node: nodes = { PLATFORM = ENDPOINT }", ("nodes",)
            )
        for platform in self.drivers:
            if platform not in self.nodes:
                raise ModelError(f"{platform!r} has a driver but no node", ("drivers", platform))
        if self.default is not None and self.default not in self.nodes:
            raise ModelError(
                f"{self.default!r} is not one of the nodes ({', '.join(self.nodes)})", ("default",)
            )
        return self

    def driver(self, platform: str) -> Driver:
        if platform in self.drivers:
            return self.drivers[platform]
        endpoint = self.nodes[platform]
        if endpoint.startswith(("unix://", "tcp://")):
            return "remote"
        if endpoint.startswith("kubernetes://"):
            return "kubernetes"
        return "docker-container"

    def ordered(self) -> list[str]:
        """Node platforms, the default one first (buildx sends unlisted platforms to the first node)."""
        first = self.default or next(iter(self.nodes))
        return [first, *(p for p in self.nodes if p != first)]

"""Targets, groups and variables as bake defines them, plus bakepy's project settings and the `Project` root."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

if TYPE_CHECKING:
    from bakepy.model.resolve import ResolvedProject
from bakepy.kebab import KebabModel, kebab
from bakepy.model.attributes import (
    SSH,
    Attestation,
    CacheEntry,
    Output,
    Policy,
    Resources,
    Secret,
    Ulimit,
)
from bakepy.model.base import ENVIRONMENT, ModelError, _did_you_mean
from bakepy.model.builder import BuilderSettings
from bakepy.model.csvvalue import parse_csv
from bakepy.model.interpolate import _deferred
from bakepy.model.platforms import normalize_platform
from bakepy.model.references import parse_reference
from bakepy.model.types import (
    _SCALAR_SCHEMA,
    ImageName,
    Items,
    Name,
    NullableStrMap,
    Platform,
    Registry,
    StrMap,
    TagName,
    TagReference,
    VariableName,
    _scalar_to_str,
)
from bakepy.tagging.rules import MetadataSettings

# --------------------------------------------------------------------------------------------------
# Targets, groups, variables

CALL_METHODS = ("build", "check", "outline", "targets")
NETWORK_MODES = ("default", "host", "none")
ENTITLEMENTS = (
    "network.host",
    "security.insecure",
    "device",
    "fs",
    "fs.read",
    "fs.write",
    "image",
    "image.push",
    "image.load",
    "ssh",
)
_ANNOTATION_TYPES = ("index", "index-descriptor", "manifest", "manifest-descriptor")
_SHM_RE = re.compile(
    r"(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?"
)  # go-units RAMInBytes, as buildx parses it


class Target(KebabModel):
    """A bake target: one `docker build`. Every attribute is buildx v0.36 bake's, spelled as in bake."""

    description: str | None = None
    """Human-readable description (`bake --list=targets`)."""
    inherits: Items[Name] = ()
    """Targets whose attributes this one starts from; later entries win."""
    args: NullableStrMap = Field(default_factory=dict)
    """Build arguments (`--build-arg`)."""
    annotations: Items[str] = ()
    """Exporter annotations, `[types:]key=value` (types: index, manifest, ...)."""
    attest: Items[Attestation] = ()
    """Attestations (provenance, sbom)."""
    cache_from: Items[CacheEntry] = ()
    """External cache sources."""
    cache_to: Items[CacheEntry] = ()
    """External cache destinations."""
    call: str | None = None
    """Frontend method: build, check, outline, targets (with `,format=...` options)."""
    context: str | None = None
    """Build context: a directory (relative to where bake runs) or a URL. Default '.'."""
    contexts: StrMap = Field(default_factory=dict)
    """Named build contexts; `target:NAME` links another target."""
    dockerfile: str | None = None
    """Dockerfile path (relative to the context). Default 'Dockerfile'."""
    dockerfile_inline: str | None = None
    """An inline Dockerfile; wins over `dockerfile`."""
    entitlements: Items[str] = ()
    """Privileges the build needs (network.host, security.insecure, ...)."""
    extra_hosts: StrMap = Field(default_factory=dict)
    """host -> IP mappings (`--add-host`)."""
    labels: NullableStrMap = Field(default_factory=dict)
    """Image labels."""
    matrix: Annotated[
        dict[VariableName, Items[str | dict[str, str]]] | None,
        WithJsonSchema(
            {
                "type": "object",
                "additionalProperties": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "anyOf": [
                            _SCALAR_SCHEMA,
                            {"type": "object", "additionalProperties": _SCALAR_SCHEMA},
                        ]
                    },
                },
            }
        ),
    ] = None
    """Fork this target: each key is a variable, each combination of values a target (named by `name`)."""
    name: str | None = None
    """Name template for matrix targets, e.g. 'app-${py}'."""
    network: str | None = None
    """Network mode for RUN: default, host or none."""
    no_cache: StrictBool | None = None
    """Build without cache."""
    no_cache_filter: Items[str] = ()
    """Stages to build without cache."""
    output: Items[Output] = ()
    """Outputs (exporters)."""
    platforms: Items[Platform] = ()
    """Target platforms, os/arch[/variant]; default: [project] platforms."""
    policy: Items[Policy] = ()
    """Policies validating build sources."""
    pull: StrictBool | None = None
    """Always pull base images."""
    resources: Resources | None = None
    """cgroup limits for RUN containers."""
    secret: Items[Secret] = ()
    """Secrets exposed to the build."""
    shm_size: Annotated[str | None, WithJsonSchema({"type": ["string", "integer"]})] = None
    """Size of /dev/shm, e.g. '128m'."""
    ssh: Items[SSH] = ()
    """SSH agent sockets or keys exposed to the build."""
    tags: Items[TagReference] = ()
    """Full image references, published exactly as written (besides registries x image x [project] tags)."""
    target: str | None = None
    """Dockerfile stage to build."""
    ulimits: Items[Ulimit] = ()
    """ulimits for RUN containers."""
    image: ImageName | None = None
    """bakepy: the repository path under each [project] registry. Default: the target's name."""
    sources: Items[str] = ()
    """bakepy: assemble this target from per-platform images already pushed instead of building it: `REF` (its
    platform read from the image) or `PLATFORM=REF` (checked against the image's config)."""
    annotate: Items[str] = ()
    """bakepy: `PLATFORM=REF` sources published as PLATFORM whatever their config says (docker manifest annotate)."""
    publish: StrictBool | None = None
    """bakepy: `false` keeps this target out of publishing (plan, publish, registries x tags); it is built as
    written. Targets whose outputs are all local, tar, oci, docker or cacheonly are never published either."""
    metadata: MetadataSettings | None = None
    """bakepy: tag rules, OCI labels and annotations from the git/CI context; its keys win over [project]'s."""
    rebuild: Literal["changed", "always"] | None = None
    """bakepy: with `--changed`, `"changed"` (the default) builds this target only when its inputs' fingerprint
    changed; `"always"` builds it every time (for builds that fetch what no fingerprint sees: `RUN curl …`)."""

    BAKE_ONLY_FIELDS: ClassVar[tuple[str, ...]] = (
        "image",
        "sources",
        "annotate",
        "publish",
        "metadata",
        "rebuild",
    )
    LOCAL_OUTPUTS: ClassVar[tuple[str, ...]] = ("local", "tar", "oci", "docker", "cacheonly")

    @property
    def publishes(self) -> bool:
        """Whether a publish pushes this target: not `publish = false`, and not only local outputs."""
        if self.publish is False:
            return False
        return not self.output or any(o.type not in self.LOCAL_OUTPUTS for o in self.output)

    @property
    def assembled(self) -> bool:
        """Made of images already pushed (`sources`), not built."""
        return bool(self.sources or self.annotate)

    @field_validator("matrix", mode="before")
    @classmethod
    def _matrix(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        out: dict[Any, Any] = {}
        for key, values in value.items():
            if (
                isinstance(values, (str, int, float))
                or not isinstance(values, Sequence)
                or not values
            ):
                raise ModelError(
                    f'matrix values must be a non-empty list, e.g. {key} = ["a", "b"]', (key,)
                )
            items = []
            for i, item in enumerate(values):
                if isinstance(item, Mapping):
                    bad = [k for k, v in item.items() if not isinstance(v, (str, int, float, bool))]
                    if bad:
                        raise ModelError(
                            "a matrix table holds strings or numbers only", (key, i, bad[0])
                        )
                    items.append({str(k): _scalar_to_str(v) for k, v in item.items()})
                elif isinstance(item, (str, int, float, bool)):
                    items.append(_scalar_to_str(item))
                else:
                    raise ModelError(
                        "a matrix value is a string, a number or a table of strings", (key, i)
                    )
            out[key] = items
        return out

    @field_validator("cache_to")
    @classmethod
    def _cache_to_refs(
        cls, value: tuple[CacheEntry, ...], info: ValidationInfo
    ) -> tuple[CacheEntry, ...]:
        for i, entry in enumerate(value):
            problem = entry.ref_problem(info)
            if problem:
                raise ModelError(problem, (i, "ref"))
        return value

    @field_validator("annotations")
    @classmethod
    def _annotations(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        for i, item in enumerate(value):
            if _deferred(item, info):
                continue
            key, eq, _ = item.partition("=")
            if not eq or not key:
                raise ModelError(
                    f"invalid annotation {item!r}; write key=value or 'index,manifest:key=value'",
                    (i,),
                )
            types, colon, _ = key.partition(":")
            for kind in types.split(",") if colon else ():
                base = kind.partition("[")[0]
                if base not in _ANNOTATION_TYPES:
                    raise ModelError(
                        f"unknown annotation level {base!r}"
                        + (
                            _did_you_mean(base, _ANNOTATION_TYPES)
                            or f" (known: {', '.join(_ANNOTATION_TYPES)})"
                        ),
                        (i,),
                    )
        return value

    @field_validator("call")
    @classmethod
    def _call(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or _deferred(value, info):
            return value
        method = next((f for f in parse_csv(value) if "=" not in f), "build")
        if method not in CALL_METHODS:
            raise ValueError(
                f"unknown call method {method!r}"
                + (_did_you_mean(method, CALL_METHODS) or f" (known: {', '.join(CALL_METHODS)})")
            )
        return value

    @field_validator("network")
    @classmethod
    def _network(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not _deferred(value, info) and value not in NETWORK_MODES:
            raise ValueError(
                f"unknown network mode {value!r}"
                + (_did_you_mean(value, NETWORK_MODES) or "; use default, host or none")
            )
        return value

    @field_validator("shm_size", mode="before")
    @classmethod
    def _shm(cls, value: Any, info: ValidationInfo) -> Any:
        value = (
            _scalar_to_str(value)
            if isinstance(value, int) and not isinstance(value, bool)
            else value
        )
        if isinstance(value, str) and not _deferred(value, info) and not _SHM_RE.fullmatch(value):
            raise ValueError(
                f"invalid shm-size {value!r}; write a size such as '128m', '1g' or '256MiB'"
            )
        return value

    @field_validator("entitlements")
    @classmethod
    def _entitlements(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        for i, item in enumerate(value):
            key = item.partition("=")[0]
            if not _deferred(item, info) and key not in ENTITLEMENTS:
                raise ModelError(
                    f"unknown entitlement {key!r}"
                    + (_did_you_mean(key, ENTITLEMENTS) or f" (known: {', '.join(ENTITLEMENTS)})"),
                    (i,),
                )
        return value

    @field_validator("platforms")
    @classmethod
    def _unique_platforms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _unique_platforms(value)

    @field_validator("args", "labels", "contexts", "extra_hosts")
    @classmethod
    def _keys(cls, value: Mapping[str, Any]) -> Mapping[str, Any]:
        for key in value:
            if "${" in key or "%{" in key or not key:
                raise ModelError(
                    f"key {key!r} must be a plain, non-empty name (no '${{' or '%{{')", (key,)
                )
        return value

    @model_validator(mode="after")
    def _name_needs_matrix(self) -> Target:
        if self.name is not None and self.matrix is None:
            raise ModelError(
                "`name` only names matrix targets; add a `matrix` or remove `name`", ("name",)
            )
        return self


def _platform_key(value: str) -> str:
    if "${" in value or value == "local":
        return value
    try:
        return normalize_platform(value)
    except ValueError:
        return value


def _unique_platforms(value: tuple[str, ...]) -> tuple[str, ...]:
    """Platforms are compared normalised (`linux/arm64/v8` repeats `linux/arm64`), kept as written."""
    seen: dict[str, int] = {}
    for i, item in enumerate(value):
        key = _platform_key(item)
        if key in seen:
            same = "" if value[seen[key]] == item else f" ({value[seen[key]]!r})"
            raise ModelError(
                f"{item!r} repeats platforms[{seen[key]}]{same}; list each platform once", (i,)
            )
        seen[key] = i
    return value


class Group(KebabModel):
    """A bake group: targets (or other groups) built together."""

    targets: Items[Name] = ()
    """Targets or groups in this group."""
    description: str | None = None
    """Human-readable description."""


class Variable(KebabModel):
    """A bake variable: `${NAME}` in any string. The environment variable NAME overrides the default."""

    default: Annotated[str | None, WithJsonSchema(_SCALAR_SCHEMA)] = None
    """The value when the environment does not set NAME (numbers and booleans are taken as strings)."""
    description: str | None = None
    """Human-readable description."""
    frozen: bool = False
    """Set by `bakepy import` for a variable the bake file computes with (a condition, a function) in ways a
    bakepy.toml cannot follow: an environment value other than the default is refused, never ignored."""

    @field_validator("default", mode="before")
    @classmethod
    def _scalar(cls, value: Any) -> Any:
        if isinstance(value, (list, dict, tuple)):
            raise ValueError("a variable default is a string, a number or a boolean")
        return _scalar_to_str(value)


class SignSettings(KebabModel):
    """Signing before any tag moves (`[project.sign]`): every staged index (and, with `manifests`, every platform
    manifest) is signed with cosign in every registry, and the signature verified, before the commit."""

    key: str | None = None
    """A cosign private key file (relative to the project; its password in COSIGN_PASSWORD), a KMS URI
    (awskms://, gcpkms://, azurekms://, hashivault://, k8s://) or env://NAME (the key in a CI secret)."""
    public_key: str | None = None
    """What verifies the signatures: a public key file or KMS URI. Default: the key file's `.pub` beside it, or
    the KMS URI itself."""
    keyless: StrictBool = False
    """Keyless signing with the CI's OIDC token (GitHub `id-token: write`, GitLab `id_tokens`), a Fulcio
    certificate and the transparency log."""
    identity: str | None = None
    """Keyless: the certificate identity to verify (e.g. the workflow's ref URI); a regular expression."""
    issuer: str | None = None
    """Keyless: the OIDC issuer to verify (e.g. https://token.actions.githubusercontent.com)."""
    manifests: StrictBool = False
    """Also sign every platform manifest, not only the index."""
    tlog: StrictBool = True
    """Upload signatures to the transparency log (false: offline or private signing, verified without it)."""

    @model_validator(mode="after")
    def _one_way(self) -> SignSettings:
        if self.keyless and self.key:
            raise ModelError("set either key or keyless = true, not both")
        if not self.keyless and not self.key:
            raise ModelError("name a key (a key file or a KMS URI), or set keyless = true")
        if self.key and self.key.startswith("env://") and not self.public_key:
            raise ModelError(
                "a key read from the environment (env://NAME) needs public-key too (a file, or env://NAME)"
            )
        if self.keyless and not (self.identity and self.issuer):
            raise ModelError(
                "keyless signing is verified against an identity and an issuer: set both "
                "(e.g. identity = 'https://github.com/OWNER/REPO/.*', "
                "issuer = 'https://token.actions.githubusercontent.com')"
            )
        return self


class CacheSettings(KebabModel):
    """Per-platform cache scopes: each target x platform reads and writes its own scope, so parallel
    runners never overwrite each other's cache (bake-action#329)."""

    type: Literal["registry", "gha", "local"]
    """registry: tags under `ref`; gha: GitHub Actions cache scopes; local: directories under `path`."""
    ref: str | None = None
    """registry: the repository holding cache tags, e.g. '127.0.0.1:5000/cache'."""
    path: str | None = None
    """local: the directory holding one sub-directory per scope."""
    mode: Literal["min", "max"] = "max"
    """Cache export mode: max caches every stage, min only the result."""

    @model_validator(mode="after")
    def _needs(self, info: ValidationInfo) -> CacheSettings:
        if self.type == "registry":
            if not self.ref:
                raise ModelError(
                    "a registry cache needs `ref`, the repository to keep cache tags in", ("ref",)
                )
            if not _deferred(self.ref, info):
                try:
                    ref = parse_reference(self.ref)
                except ValueError as exc:
                    raise ModelError(str(exc), ("ref",)) from None
                if ref.tag or ref.digest:
                    raise ModelError(
                        f"{self.ref!r} has a tag or digest; `ref` is a repository, bakepy adds one tag per scope",
                        ("ref",),
                    )
        if self.type == "local" and not self.path:
            raise ModelError(
                "a local cache needs `path`, the directory to keep cache scopes in", ("path",)
            )
        return self

    def scope(self, target: str, platform: str | None) -> str:
        """The scope of one target x platform (`app.linux-arm64`), or of its all-platform build (`app.all`)."""
        return f"{target}.{platform.replace('/', '-') if platform else 'all'}"

    def entry(self, scope: str, *, export: bool) -> CacheEntry:
        """The cache-from (or, with `export`, cache-to) entry for one scope."""
        attrs: dict[str, str] = {}
        if self.type == "registry":
            assert self.ref is not None
            attrs["ref"] = f"{self.ref}:{scope}"
        elif self.type == "gha":
            attrs["scope"] = scope
        else:
            assert self.path is not None
            attrs["dest" if export else "src"] = f"{self.path.rstrip('/')}/{scope}"
        if export:
            attrs["mode"] = self.mode
        return CacheEntry.model_construct(type=self.type, attrs=attrs)


def _runner_labels(value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
    """`runners` keys normalised: platforms (`linux/arm64`) or `default`."""
    out = {}
    for key, label in value.items():
        if key == "default" or _deferred(key, info):
            out[key] = label
            continue
        try:
            out[normalize_platform(key)] = label
        except ValueError as exc:
            raise ModelError(f"{exc} (runners keys are platforms or 'default')", (key,)) from None
    return out


class ProjectSettings(KebabModel):
    """bakepy's own settings: the `[project]` table."""

    registries: Items[Registry] = ()
    """Registry prefixes, host[:port][/namespace...]; every target publishes registry/image:tag to each."""
    platforms: Items[Platform] = ()
    """Default platforms for targets that set none."""
    tags: Items[TagName] = ()
    """Tag names; every target publishes registries x image x tags."""
    runners: dict[str, str] = Field(default_factory=dict)
    """CI runner label per platform, and `default` for the others."""
    cache: CacheSettings | None = None
    """Per-platform cache scopes."""
    metadata: MetadataSettings | None = None
    """Tag rules, OCI labels and annotations from the git/CI context (docker/metadata-action's inputs)."""
    strict: StrictBool = False
    """Warnings (a build arg named like a credential, an unknown platform variant) are errors, as with --strict."""
    sign: SignSettings | None = None
    """Sign every index with cosign before any tag moves (docs/signing.md)."""

    @field_validator("runners")
    @classmethod
    def _runners(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        return _runner_labels(value, info)

    @field_validator("platforms")
    @classmethod
    def _unique_platforms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _unique_platforms(value)

    @field_validator("registries", "tags")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen: dict[str, int] = {}
        for i, item in enumerate(value):
            if item in seen:
                raise ModelError(f"{item!r} repeats [{seen[item]}]; list each once", (i,))
            seen[item] = i
        return value


class CISystemSettings(KebabModel):
    """What one CI system (`[ci.github]`, `[ci.gitlab]`) uses over `[project]`: its runner labels and cache."""

    runners: dict[str, str] = Field(default_factory=dict)
    """Runner label per platform (and `default`) on this CI, over [project] runners: GitHub's `runs-on`,
    GitLab's job `tags`."""
    cache: CacheSettings | None = None
    """The cache `bakepy build` uses when it runs on this CI, over [project] cache (e.g. `gha` on GitHub, a
    registry cache on GitLab); per-platform scopes as ever."""

    @field_validator("runners")
    @classmethod
    def _runners(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        return _runner_labels(value, info)


class GitLabSettings(CISystemSettings):
    """`[ci.gitlab]`: runners, cache, and how the jobs run."""

    executor: Literal["docker", "shell"] = "docker"
    """docker: jobs run in `docker:28` with a `docker:28-dind` service and a docker-container builder; shell:
    jobs run on the runner's machine, with its python3, docker CLI, buildx builder (BUILDX_BUILDER) and QEMU."""


class CISettings(KebabModel):
    """`[ci]`: how generated CI (`bakepy ci github|gitlab`) installs bakepy, and per-CI settings."""

    install: str | None = None
    """The pip requirement CI installs bakepy with: an index's package (`bakepy-publish==0.1.0`), a git URL
    (`git+https://host/org/bakepy@v0.1.0`) or a wheel path. Default: this version of bakepy-publish, pinned.
    `--install` overrides it."""
    github: CISystemSettings = Field(default_factory=CISystemSettings)
    """GitHub Actions: runner labels and cache."""
    gitlab: GitLabSettings = Field(default_factory=GitLabSettings)
    """GitLab CI: runner tags, cache, executor."""

    @field_validator("install")
    @classmethod
    def _install(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or "\n" in value):
            raise ValueError(
                "install is one pip requirement (a package, a git URL or a wheel path)"
            )
        return value

    def system(self, ci: str | None) -> CISystemSettings | None:
        """`[ci.github]` or `[ci.gitlab]` for "github" / "gitlab"; None otherwise."""
        return self.github if ci == "github" else self.gitlab if ci == "gitlab" else None


_PROJECT_KEYS = {
    "settings": "project",
    "variables": "variable",
    "targets": "target",
    "groups": "group",
}


def _project_key(name: str) -> str:
    """A `Project` field's TOML key: `settings` is `[project]`, the maps are bake's `[target.x]`, ..."""
    return _PROJECT_KEYS.get(name, kebab(name))


class Project(KebabModel):
    """A bakepy project: what bakepy.toml (or `[tool.bakepy]`, or a bakefile.py) says."""

    # The TOML keys are bake's singular table names; the Python keywords (what pyright and mypy see, since
    # dataclass_transform reads `Field(alias=...)` but not an alias generator) are the attribute names.
    model_config = ConfigDict(alias_generator=_project_key)

    settings: ProjectSettings = Field(default_factory=ProjectSettings)
    """bakepy settings: registries, default platforms, tags, runners, cache."""
    builder: BuilderSettings | None = None
    """A buildx builder with one node per platform (`bakepy builder create`)."""
    ci: CISettings = Field(default_factory=CISettings)
    """Generated CI: how it installs bakepy, runner labels and cache per CI system."""
    variables: dict[VariableName, Variable] = Field(default_factory=dict)
    """Variables, interpolated as ${NAME}."""
    targets: dict[Name, Target] = Field(default_factory=dict)
    """Targets by name."""
    groups: dict[Name, Group] = Field(default_factory=dict)
    """Groups by name."""

    _resolved: ResolvedProject | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> Project:
        env = info.context.get("env") if info.context else None
        env = env if env is not None else ENVIRONMENT.get()
        from bakepy.model.resolve import _Resolver  # resolve imports this module

        self._resolved = _Resolver(self, os.environ if env is None else env).resolve()
        return self

    def with_resolved(self, resolved: ResolvedProject) -> Project:
        """This project, resolving to `resolved` (what one git/CI context publishes: bakepy.tagging)."""
        copy = self.model_copy()
        copy._resolved = resolved
        return copy

    @property
    def resolved(self) -> ResolvedProject:
        """The fully resolved project: variables interpolated, matrices expanded, inherits merged."""
        if self._resolved is None:  # pragma: no cover - set by the validator
            from bakepy.model.resolve import _Resolver

            self._resolved = _Resolver(self, os.environ).resolve()
        return self._resolved

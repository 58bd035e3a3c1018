"""Tag rules, as docker/metadata-action writes them, and the tags they yield in a `BuildContext`.

Owns `TagRule` (one rule: `{type = "semver", pattern = "{{major}}.{{minor}}"}` in TOML, or metadata-action's
CSV line `type=semver,pattern={{major}}.{{minor}}`, or a bare `foo` for a raw tag), `MetadataSettings` (the
`metadata` table of `[project]` and of a target: the rules, `latest`, prefix/suffix, OCI labels and
annotations) and `evaluate`: every tag the rules yield, each once, sorted by priority, each with the rule
that made it. Pure: the rules are validated where the project is loaded, evaluated against a context given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    Field,
    GetJsonSchemaHandler,
    StrictBool,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from bakepy.kebab import KebabModel
from bakepy.tagging.templates import (
    check_condition,
    check_template,
    evaluate_condition,
    render_template,
)

if TYPE_CHECKING:
    from bakepy.tagging.context import BuildContext
    from bakepy.tagging.versions import ParsedVersion

# bakepy.tagging.versions (its patterns) is imported where tags are made, not by every project load: the model
# holds these rules, and a command that makes no tags (merge of digest records) never needs it.

__all__ = [
    "DEFAULT_RULES",
    "OCI_KEYS",
    "RULE_TYPES",
    "MetadataSettings",
    "RuleError",
    "TagOutcome",
    "TagRule",
    "evaluate",
    "version_of",
]

RULE_TYPES = ("schedule", "semver", "pep440", "match", "edge", "ref", "raw", "sha")
_PRIORITY = {
    "schedule": 1000,
    "semver": 900,
    "pep440": 900,
    "match": 800,
    "edge": 700,
    "ref": 600,
    "raw": 200,
    "sha": 100,
}
_COMMON = ("type", "enable", "priority", "prefix", "suffix")
_KEYS: dict[str, tuple[str, ...]] = {
    "schedule": ("pattern",),
    "semver": ("pattern", "value"),
    "pep440": ("pattern", "value"),
    "match": ("pattern", "group", "value"),
    "edge": ("branch",),
    "ref": ("event",),
    "raw": ("value",),
    "sha": ("format",),
}
_VERSION_NAMES = ("raw", "version", "major", "minor", "patch")
OCI_KEYS = ("created", "description", "licenses", "revision", "source", "title", "url", "version")


def RuleError(message: str, path: Sequence[str | int] = ()) -> ValueError:
    """A bad rule, with the path (below the rule) of the bad part: the model's own `ModelError`, imported
    when a rule is validated (bakepy.model imports this module, so not at import time)."""
    from bakepy.model.base import ModelError

    return ModelError(message, path)


_T = TypeVar("_T")


def as_tuple(value: Sequence[_T]) -> tuple[_T, ...]:
    """A validated list field's value. A function rather than `tuple` itself: pydantic reads a validator's
    signature, and a builtin's costs tokenizing its text signature (~4 ms of every start, 2026-11-29)."""
    return tuple(value)


_Items = Annotated[Sequence[_T], AfterValidator(as_tuple)]
"""A list field that takes any sequence and holds a tuple (bakepy.model.types.Items; tagging does not import
the model)."""


def _split_fields(text: str) -> list[str]:
    """Split on commas outside quotes and parentheses, so a condition such as
    `enable=!startsWith(ref, 'refs/tags/v0.')` stays one field."""
    fields: list[str] = []
    depth, quote, start = 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            fields.append(text[start:i].strip())
            start = i + 1
    fields.append(text[start:].strip())
    return fields


def _parse_csv_rule(text: str) -> dict[str, Any]:
    """metadata-action's spelling: `type=semver,pattern={{version}}`; a bare `foo` (or `type=raw,foo`) is raw."""
    fields = _split_fields(text) if "type=" in text else [text.strip()]
    out: dict[str, Any] = {}
    for item in fields:
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq:
            out["value"] = item
            continue
        out[key.strip()] = value
    out.setdefault("type", "raw")
    if "priority" in out and str(out["priority"]).lstrip("-").isdigit():
        out["priority"] = int(out["priority"])
    if out.get("enable") in ("true", "false"):
        out["enable"] = out["enable"] == "true"
    return out


class TagRule(KebabModel):
    """One tag rule. `type` decides which other keys apply (metadata-action's attributes and defaults)."""

    type: Literal["schedule", "semver", "pep440", "match", "edge", "ref", "raw", "sha"]
    """schedule, semver, pep440, match, edge, ref, raw or sha."""
    pattern: str | None = None
    """semver/pep440: `{{version}}`, `{{major}}.{{minor}}`, `{{major}}`, `{{raw}}`, …; match: a regular
    expression; schedule: the tag, with `{{date 'YYYYMMDD'}}` (default `nightly`)."""
    value: str | None = None
    """raw: the tag; semver/pep440/match: the version to read instead of the git tag."""
    group: int = 0
    """match: the regular expression's group that is the tag."""
    event: Literal["branch", "tag", "pr"] | None = None
    """ref: branch, tag or pr."""
    format: Literal["short", "long"] = "short"
    """sha: short (7 hex digits) or long."""
    branch: str | None = None
    """edge: the branch that yields `edge` (default: the repository's default branch)."""
    prefix: str | None = None
    """Put before the tag (ref with event=pr: default `pr-`; sha: default `sha-`)."""
    suffix: str = ""
    """Put after the tag."""
    enable: StrictBool | str = True
    """false, true, `{{is_default_branch}}`, or a condition: `!startsWith(ref, 'refs/tags/v0.')`."""
    priority: int | None = None
    """Order of the tags (highest first): schedule 1000, semver/pep440 900, match 800, edge 700, ref 600,
    raw 200, sha 100. The first tag is the image's version label."""

    LATEST_TYPES: ClassVar[tuple[str, ...]] = ("semver", "pep440", "match")

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        if isinstance(data, str):
            data = _parse_csv_rule(data)
        if not isinstance(data, Mapping):
            return data
        kind = data.get("type")
        if kind not in RULE_TYPES:
            if kind is None:
                raise RuleError(f"a tag rule needs a type: one of {', '.join(RULE_TYPES)}")
            from bakepy.model.base import did_you_mean

            raise RuleError(
                f"unknown rule type {kind!r}"
                + (did_you_mean(str(kind), RULE_TYPES) or f" (known: {', '.join(RULE_TYPES)})"),
                ("type",),
            )
        allowed = (*_COMMON, *_KEYS[kind])
        for key in data:
            if str(key).replace("_", "-") not in allowed:
                raise RuleError(
                    f"{key!r} does not apply to a {kind} rule (its keys: {', '.join(allowed)})",
                    (str(key),),
                )
        return data

    @model_validator(mode="after")
    def _check(self) -> TagRule:
        kind = self.type
        if kind in ("semver", "pep440"):
            if not self.pattern:
                raise RuleError(
                    f"a {kind} rule needs a pattern, e.g. '{{{{version}}}}' or '{{{{major}}}}.{{{{minor}}}}'",
                    ("pattern",),
                )
            self._template(self.pattern, "pattern", _VERSION_NAMES)
        if kind == "match":
            if not self.pattern:
                raise RuleError(r"a match rule needs a pattern, e.g. 'v(\d+\.\d+)'", ("pattern",))
            try:
                compiled = re.compile(self.pattern)
            except re.error as exc:
                raise RuleError(
                    f"{self.pattern!r} is not a regular expression: {exc}", ("pattern",)
                ) from None
            if not 0 <= self.group <= compiled.groups:
                raise RuleError(
                    f"group {self.group} does not exist: the pattern has {compiled.groups} group(s)",
                    ("group",),
                )
        if kind == "schedule" and self.pattern:
            self._template(self.pattern, "pattern")
        if kind == "ref" and self.event is None:
            raise RuleError("a ref rule needs event = branch, tag or pr", ("event",))
        if kind == "raw" and not self.value:
            raise RuleError("a raw rule needs a value, the tag", ("value",))
        for name in ("value", "prefix", "suffix", "branch"):
            text = getattr(self, name)
            if text and kind not in ("match",):
                self._template(text, name)
        if isinstance(self.enable, str):
            try:
                check_condition(self.enable)
            except ValueError as exc:
                raise RuleError(str(exc), ("enable",)) from None
        return self

    @staticmethod
    def _template(text: str, where: str, own: tuple[str, ...] = ()) -> None:
        try:
            check_template(text, own)
        except ValueError as exc:
            raise RuleError(str(exc), (where,)) from None

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        table = handler.resolve_ref_schema(handler(core_schema))
        line = {
            "type": "string",
            "description": "metadata-action's line: type=semver,pattern={{version}} (a bare word is a raw tag)",
        }
        return {"anyOf": [line, table], "description": (cls.__doc__ or "").strip()}

    @property
    def order(self) -> int:
        return self.priority if self.priority is not None else _PRIORITY[self.type]

    def describe(self) -> str:
        """The rule as metadata-action's CSV line (what `bakepy tags` says made a tag)."""
        parts = [f"type={self.type}"]
        for name in ("event", "pattern", "group", "value", "branch", "format", "prefix", "suffix"):
            value = getattr(self, name)
            if name in self.model_fields_set and value not in (None, ""):
                parts.append(f"{name}={value}")
        if self.enable is not True:
            parts.append(f"enable={self.enable if isinstance(self.enable, str) else 'false'}")
        return ",".join(parts)


# metadata-action's rules when its `tags` input is empty (src/context.ts): the schedule's tag and the ref of a
# branch push, a tag push or a pull request (`latest=auto` adds `latest` on a tag push).
DEFAULT_RULES = (
    "type=schedule",
    "type=ref,event=branch",
    "type=ref,event=tag",
    "type=ref,event=pr",
)
_default_rules: tuple[TagRule, ...] = ()


class MetadataSettings(KebabModel):
    """Tags, labels and annotations from the git and CI context (docker/metadata-action's inputs)."""

    tags: _Items[TagRule] = ()
    """Tag rules: tables, or metadata-action's lines (`type=semver,pattern={{version}}`). Unset: metadata-action's
    defaults (type=schedule, type=ref,event=branch, type=ref,event=tag, type=ref,event=pr); `[]`: no rule tags
    (labels and annotations only)."""
    latest: Annotated[
        Literal["auto", "true", "false"], WithJsonSchema({"enum": ["auto", True, False]})
    ] = "auto"
    """auto: `latest` on a release (ref event=tag, semver, pep440 and match rules; never a pre-release);
    true: always; false: never."""
    prefix: str = ""
    """Put before every tag a rule yields (not `latest`, unless prefix-latest)."""
    suffix: str = ""
    """Put after every tag a rule yields (not `latest`, unless suffix-latest)."""
    prefix_latest: StrictBool = False
    """Also put `prefix` before `latest`."""
    suffix_latest: StrictBool = False
    """Also put `suffix` after `latest`."""
    labels: StrictBool = True
    """OCI labels on the image config: org.opencontainers.image.{created,description,licenses,revision,
    source,title,url,version}. A target's own `labels` win."""
    annotations: _Items[Literal["index", "manifest"]] = ("index", "manifest")
    """Where the same keys go as annotations: the index, each platform's manifest, both, or `[]` for none.
    A target's own `annotations` win."""
    title: str | None = None
    """org.opencontainers.image.title (default: the image's last path part)."""
    description: str | None = None
    """org.opencontainers.image.description (default: the target's description, else pyproject's)."""
    licenses: str | None = None
    """org.opencontainers.image.licenses, an SPDX expression (default: pyproject's license)."""
    url: str | None = None
    """org.opencontainers.image.url (default: the source repository's web page)."""
    source: str | None = None
    """org.opencontainers.image.source (default: the source repository's web page)."""
    short_sha_length: int = Field(default=7, ge=4, le=40)
    """Hex digits of a short sha (`type=sha` and `{{sha}}`)."""

    @field_validator("latest", mode="before")
    @classmethod
    def _latest(cls, value: Any) -> Any:
        return ("true" if value else "false") if isinstance(value, bool) else value

    @property
    def rules_given(self) -> bool:
        """Whether `tags` is written (even `[]`); unset, metadata-action's default rules apply."""
        return "tags" in self.model_fields_set

    @property
    def rules(self) -> tuple[TagRule, ...]:
        """The rules that make tags: `tags` as written, else metadata-action's defaults (`DEFAULT_RULES`)."""
        global _default_rules
        if self.rules_given:
            return tuple(self.tags)
        if not _default_rules:  # built on first use: `bakepy --help` never validates a rule
            _default_rules = tuple(TagRule.model_validate(line) for line in DEFAULT_RULES)
        return _default_rules

    def merged(self, child: MetadataSettings) -> MetadataSettings:
        """`child`'s keys (those it sets) over these: a target's `metadata` over `[project] metadata`."""
        return MetadataSettings.model_validate(
            {**self.model_dump(exclude_unset=True), **child.model_dump(exclude_unset=True)}
        )


@dataclass(frozen=True)
class TagOutcome:
    """One tag and the rule that made it (`latest` is made by the `latest` setting)."""

    tag: str
    rule: str
    priority: int


def _version_rule(rule: TagRule, context: BuildContext) -> tuple[str, bool] | None:
    from bakepy.tagging.versions import parse_pep440, parse_semver

    raw = render_template(rule.value, context) if rule.value else None
    if raw is None:
        if context.event != "tag" or not context.tag:
            return None
        raw = context.tag
    parse = parse_semver if rule.type == "semver" else parse_pep440
    parsed: ParsedVersion | None = parse(raw)
    if parsed is None:
        return None
    pattern = rule.pattern or "{{version}}"
    if parsed.prerelease and not re.fullmatch(r"\{\{\s*raw\s*\}\}", pattern.strip()):
        pattern = "{{version}}"  # a pre-release only ever extends its full version
    text = render_template(pattern, context, parsed.values())
    return text, not parsed.prerelease


def _one(rule: TagRule, context: BuildContext, short: int) -> tuple[str, bool] | None:
    """(tag before prefix/suffix, whether it asks for `latest`) or None where it yields none."""
    kind = rule.type
    if kind == "schedule":
        if context.event != "schedule":
            return None
        return render_template(rule.pattern or "nightly", context), False
    if kind in ("semver", "pep440"):
        return _version_rule(rule, context)
    if kind == "match":
        source = render_template(rule.value, context) if rule.value else None
        if source is None:
            if context.event != "tag" or not context.tag:
                return None
            source = context.tag
        m = re.search(rule.pattern or "", source)
        if not m or m.group(rule.group) is None:
            return None
        return m.group(rule.group), True
    if kind == "edge":
        branch = render_template(rule.branch, context) if rule.branch else context.default_branch
        if context.event not in ("branch", "schedule") or not branch or context.branch != branch:
            return None
        return "edge", False
    if kind == "ref":
        if rule.event == "branch" and context.event in ("branch", "schedule") and context.branch:
            return context.branch, False
        if rule.event == "tag" and context.event == "tag" and context.tag:
            return context.tag, True
        if rule.event == "pr" and context.event == "pr" and context.pr is not None:
            return str(context.pr), False
        return None
    if kind == "raw":
        return render_template(rule.value or "", context), False
    if not context.sha:  # sha
        return None
    return (context.sha if rule.format == "long" else context.sha[:short]), False


def evaluate(settings: MetadataSettings, context: BuildContext) -> tuple[TagOutcome, ...]:
    """Every tag `settings` yields in `context`, highest priority first, each once (the first rule that made
    it is named). Rules whose `enable` is false, or that do not apply to the event, yield nothing."""
    from bakepy.tagging.versions import sanitize_tag

    found: list[TagOutcome] = []
    wants_latest = False
    for rule in settings.rules:
        if rule.enable is False or (
            isinstance(rule.enable, str) and not evaluate_condition(rule.enable, context)
        ):
            continue
        made = _one(rule, context, settings.short_sha_length)
        if made is None:
            continue
        text, latest = made
        if not text:
            continue
        default_prefix = {"sha": "sha-"}.get(rule.type, "")
        if rule.type == "ref" and rule.event == "pr":
            default_prefix = "pr-"
        prefix = (
            render_template(rule.prefix, context) if rule.prefix is not None else default_prefix
        )
        suffix = render_template(rule.suffix, context)
        tag = sanitize_tag(f"{settings.prefix}{prefix}{text}{suffix}{settings.suffix}")
        if not tag:
            continue
        wants_latest = wants_latest or (
            latest and (rule.type in TagRule.LATEST_TYPES or rule.type == "ref")
        )
        found.append(TagOutcome(tag, rule.describe(), rule.order))
    latest_mode = settings.latest
    if latest_mode == "true" or (latest_mode == "auto" and wants_latest):
        tag = sanitize_tag(
            (settings.prefix if settings.prefix_latest else "")
            + "latest"
            + (settings.suffix if settings.suffix_latest else "")
        )
        found.append(TagOutcome(tag, f"latest={latest_mode}", -1))
    found.sort(key=lambda o: -o.priority)  # stable: rules of one priority keep their order
    unique: dict[str, TagOutcome] = {}
    for outcome in found:
        unique.setdefault(outcome.tag, outcome)
    return tuple(unique.values())


def version_of(outcomes: Sequence[TagOutcome]) -> str | None:
    """The image's version (its `org.opencontainers.image.version`): the highest-priority tag, as
    metadata-action takes it (`1.2.3` on a release, the branch on a push)."""
    return next((o.tag for o in outcomes if o.priority >= 0), outcomes[0].tag if outcomes else None)

"""The model: platforms, references, CSV forms, interpolation, matrix, inherits; the Python API."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from bakepy.errors import ConfigError
from bakepy.model import (
    SSH,
    Attestation,
    CacheEntry,
    Group,
    ModelError,
    Output,
    Project,
    ProjectSettings,
    Secret,
    Target,
    Ulimit,
    Variable,
    explain_error,
    format_path,
    interpolate,
    normalize_platform,
    parse_csv,
    parse_reference,
    parse_registry,
    platform_warning,
)


def project(data: dict[str, Any], env: dict[str, str] | None = None) -> Project:
    return Project.model_validate(data, context={"env": env or {}}, by_name=False)


def error_of(data: dict[str, Any], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ValidationError) as info:
        project(data, env)
    loc, message = explain_error(info.value.errors(include_url=False)[0], Project)
    return f"{format_path(loc)}: {message}"


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("linux/amd64", "linux/amd64"),
        ("linux/amd64/v1", "linux/amd64"),
        ("linux/amd64/v3", "linux/amd64/v3"),
        ("linux/x86_64", "linux/amd64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/aarch64", "linux/arm64"),
        ("linux/arm64/9", "linux/arm64/v9"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/arm/7", "linux/arm/v7"),
        ("linux/arm/v6", "linux/arm/v6"),
        ("linux/armhf", "linux/arm/v7"),
        ("linux/armel", "linux/arm/v6"),
        ("linux/i386", "linux/386"),
        ("Linux/AMD64", "linux/amd64"),
        ("macos/arm64", "darwin/arm64"),
        ("windows/amd64", "windows/amd64"),
        ("linux/riscv64", "linux/riscv64"),
        ("arm64", "linux/arm64"),
        ("arm", "linux/arm/v7"),
        ("linux/mipsle/softfloat", "linux/mipsle/softfloat"),
        ("linux/amd64/v9", "linux/amd64/v9"),
    ],
)
def test_platforms_normalise_as_containerd_does(given: str, canonical: str) -> None:
    assert normalize_platform(given) == canonical


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("linux/arm65", "did you mean 'linux/arm64'?"),
        ("linux", "add the architecture, e.g. 'linux/amd64'"),
        ("linux/", "write os/arch[/variant]"),
        ("plan10/amd64", "unknown operating system 'plan10'"),
        ("linux//amd64", "is not a platform"),
        ("a/b/c/d", "is not a platform"),
    ],
)
def test_bad_platforms_say_what_is_wrong(given: str, message: str) -> None:
    with pytest.raises(ValueError, match="is not a platform") as info:
        normalize_platform(given)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("reference", "normalized", "repository"),
    [
        ("alpine", "docker.io/library/alpine:latest", "docker.io/library/alpine"),
        ("alpine:3.20", "docker.io/library/alpine:3.20", "docker.io/library/alpine"),
        ("acme/app", "docker.io/acme/app:latest", "docker.io/acme/app"),
        ("docker.io/app:1", "docker.io/library/app:1", "docker.io/library/app"),
        ("index.docker.io/acme/app:1", "docker.io/acme/app:1", "docker.io/acme/app"),
        ("ghcr.io/acme/app:1.0", "ghcr.io/acme/app:1.0", "ghcr.io/acme/app"),
        ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000/app"),
        ("localhost/app:dev", "localhost/app:dev", "localhost/app"),
        ("[::1]:5000/a/b__c-d.e:v_1.2-3", "[::1]:5000/a/b__c-d.e:v_1.2-3", "[::1]:5000/a/b__c-d.e"),
        (
            "app@sha256:" + "a" * 64,
            "docker.io/library/app@sha256:" + "a" * 64,
            "docker.io/library/app",
        ),
        ("ghcr.io/a:1@sha256:" + "b" * 64, "ghcr.io/a:1@sha256:" + "b" * 64, "ghcr.io/a"),
    ],
)
def test_references_follow_the_docker_grammar(
    reference: str, normalized: str, repository: str
) -> None:
    ref = parse_reference(reference)
    assert ref.normalized == normalized
    assert ref.repository == repository


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("ghcr.io/Acme/app", "must be lowercase; did you mean 'ghcr.io/acme/app'?"),
        ("app:" + "x" * 129, "129 characters; a tag has at most 128"),
        ("app:-x", "invalid tag '-x'"),
        ("app:.x", "invalid tag '.x'"),
        ("app@sha256:abc", "invalid digest"),
        ("ghcr.io/", "path is empty"),
        ("ghcr.io/a//b", "must be lowercase letters and digits"),
        ("a_/b", "must be lowercase letters and digits"),
        (" app", "spaces"),
        ("", "empty"),
        ("-x.io/app", "is not a registry host"),
        ("x" * 256, "more than 255"),
    ],
)
def test_bad_references(reference: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_reference(reference)
    assert message in str(info.value)


def test_a_128_character_tag_is_fine() -> None:
    assert parse_reference("app:" + "x" * 128).tag == "x" * 128


@pytest.mark.parametrize(
    ("registry", "split"),
    [
        ("ghcr.io/acme", ("ghcr.io", "acme")),
        ("127.0.0.1:5000", ("127.0.0.1:5000", "")),
        ("localhost/a/b", ("localhost", "a/b")),
        ("index.docker.io/acme", ("docker.io", "acme")),
    ],
)
def test_registries(registry: str, split: tuple[str, str]) -> None:
    assert parse_registry(registry) == split


@pytest.mark.parametrize("registry", ["acme", "ghcr.io/acme:1", "ghcr.io/Acme", ""])
def test_bad_registries(registry: str) -> None:
    with pytest.raises(ValueError):
        parse_registry(registry)


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("type=registry,ref=a/b", ["type=registry", "ref=a/b"]),
        ('type=image,"name=a,b",push=true', ["type=image", "name=a,b", "push=true"]),
        ('"a ""quoted"" value",b', ['a "quoted" value', "b"]),
        ("a,,b", ["a", "", "b"]),
        ("", [""]),
        ('""', [""]),
    ],
)
def test_csv_is_quote_aware_like_buildx(text: str, fields: list[str]) -> None:
    assert parse_csv(text) == fields


@pytest.mark.parametrize(
    ("text", "message"),
    [('a,b"c', "bare '\"'"), ('"abc', "unterminated"), ('"a"b', "unexpected 'b'")],
)
def test_bad_csv(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_csv(text)


@pytest.mark.parametrize(
    ("entry", "table"),
    [
        ("user/app:cache", {"type": "registry", "ref": "user/app:cache"}),
        ("type=gha,scope=app,mode=max", {"type": "gha", "scope": "app", "mode": "max"}),
        ("TYPE=local,SRC=/tmp/c", {"type": "local", "src": "/tmp/c"}),
    ],
)
def test_cache_entries_csv_and_table_agree(entry: str, table: dict[str, str]) -> None:
    assert CacheEntry.model_validate(entry) == CacheEntry.model_validate(table)
    assert CacheEntry.model_validate(entry).bake_value() == table


def test_cache_entry_python_forms() -> None:
    by_kwargs = CacheEntry(type="registry", attrs={"ref": "a/b:c", "mode": "max"})
    assert by_kwargs == CacheEntry.model_validate("type=registry,ref=a/b:c,mode=max")
    assert by_kwargs.csv() == "type=registry,mode=max,ref=a/b:c"
    assert CacheEntry.model_validate({"type": "gha", "ignore-error": True}).attrs == {
        "ignore-error": "true"
    }


@pytest.mark.parametrize(
    ("entry", "bake"),
    [
        (
            'type=image,"name=a/b,c/d",push=true',
            {"type": "image", "name": "a/b,c/d", "push": "true"},
        ),
        ("type=local,dest=out", {"type": "local", "dest": "out"}),
        ("out", {"type": "local", "dest": "out"}),
        ("-", {"type": "tar", "dest": "-"}),
        ({"type": "image", "push": True}, {"type": "image", "push": "true"}),
    ],
)
def test_outputs(entry: Any, bake: dict[str, str]) -> None:
    assert Output.model_validate(entry).bake_value() == bake


def test_output_csv_round_trips_through_buildx_quoting() -> None:
    out = Output.model_validate('type=image,"name=a/b,c/d",push=true')
    assert out.csv() == 'type=image,"name=a/b,c/d",push=true'
    assert Output.model_validate(out.csv()) == out


@pytest.mark.parametrize(
    ("entry", "bake"),
    [
        ("type=provenance,mode=max", {"type": "provenance", "mode": "max"}),
        ("type=sbom,disabled=true", {"type": "sbom", "disabled": True}),
        ({"type": "sbom", "disabled": False}, {"type": "sbom"}),
        ({"type": "sbom", "disabled": "true"}, {"type": "sbom", "disabled": True}),
    ],
)
def test_attestations(entry: Any, bake: dict[str, Any]) -> None:
    assert Attestation.model_validate(entry).bake_value() == bake


@pytest.mark.parametrize(
    ("entry", "bake"),
    [
        ("id=aws,src=creds", {"id": "aws", "src": "creds"}),
        ("id=aws,source=creds", {"id": "aws", "src": "creds"}),
        ("type=env,id=TOKEN", {"id": "TOKEN", "env": "TOKEN"}),
        ("type=env,id=t,src=TOKEN", {"id": "t", "env": "TOKEN"}),
        ({"id": "t", "env": "E"}, {"id": "t", "env": "E"}),
    ],
)
def test_secrets(entry: Any, bake: dict[str, str]) -> None:
    assert Secret.model_validate(entry).bake_value() == bake


@pytest.mark.parametrize(
    ("entry", "bake"),
    [
        ("default", {"id": "default"}),
        ("github=/a,/b", {"id": "github", "paths": ["/a", "/b"]}),
        ({"id": "k", "paths": ["/a"]}, {"id": "k", "paths": ["/a"]}),
    ],
)
def test_ssh(entry: Any, bake: dict[str, Any]) -> None:
    assert SSH.model_validate(entry).bake_value() == bake


@pytest.mark.parametrize(
    ("entry", "bake"),
    [
        ("nofile=1024:2048", "nofile=1024:2048"),
        ("nofile=1024", "nofile=1024"),
        ({"name": "memlock", "soft": -1, "hard": -1}, "memlock=-1:-1"),
    ],
)
def test_ulimits(entry: Any, bake: str) -> None:
    assert Ulimit.model_validate(entry).bake_value() == bake


def test_ulimit_soft_above_hard() -> None:
    with pytest.raises(ValidationError, match="above hard limit"):
        Ulimit.model_validate("nofile=10:5")


def test_interpolation() -> None:
    values = {"A": "1", "m.k": "v"}
    assert interpolate("x${A}y${ m.k }", values.__getitem__) == "x1yv"
    assert interpolate("$${A} %%{x} %{y}", values.__getitem__) == "${A} %{x} %{y}"
    assert interpolate("no templates", values.__getitem__) == "no templates"
    with pytest.raises(ValueError, match="unterminated"):
        interpolate("${A", values.__getitem__)


def test_environment_overrides_variable_defaults_literally() -> None:
    data = {
        "variable": {"V": {"default": "1"}, "W": {"default": "${V}-w"}},
        "target": {"app": {"args": {"V": "${V}", "W": "${W}"}}},
    }
    assert project(data).resolved.targets["app"].args == {"V": "1", "W": "1-w"}
    assert project(data, {"V": "2"}).resolved.targets["app"].args == {"V": "2", "W": "2-w"}
    assert project(data, {"W": "${V}"}).resolved.targets["app"].args == {"V": "1", "W": "${V}"}


def test_matrix_expands_with_bake_naming_and_a_group() -> None:
    data = {
        "target": {
            "app": {
                "name": "app-${tgt}-${v.id}",
                "matrix": {
                    "tgt": ["foo", "bar"],
                    "v": [{"id": "1", "ver": "1.0"}, {"id": "2", "ver": "2.0"}],
                },
                "target": "${tgt}",
                "args": {"VERSION": "${v.ver}"},
            }
        }
    }
    resolved = project(data).resolved
    assert list(resolved.targets) == ["app-foo-1", "app-foo-2", "app-bar-1", "app-bar-2"]
    assert resolved.groups["app"].targets == ("app-foo-1", "app-foo-2", "app-bar-1", "app-bar-2")
    assert resolved.targets["app-bar-2"].target == "bar"
    assert resolved.targets["app-bar-2"].args == {"VERSION": "2.0"}
    assert resolved.origins["app-bar-2"] == "app"
    assert resolved.select(["app"]) == ("app-foo-1", "app-foo-2", "app-bar-1", "app-bar-2")


def test_a_single_combination_keeps_the_name_and_adds_no_group() -> None:
    resolved = project(
        {"target": {"app": {"matrix": {"x": ["1"]}, "args": {"X": "${x}"}}}}
    ).resolved
    assert list(resolved.targets) == ["app"]
    assert "app" not in resolved.groups


def test_inherits_follow_bake_merge_rules() -> None:
    data = {
        "target": {
            "a": {
                "args": {"A": "a", "S": "a"},
                "tags": ["x/a:1"],
                "annotations": ["k=a"],
                "attest": ["type=provenance,mode=min"],
                "secret": ["id=s,src=a"],
                "platforms": ["linux/amd64"],
                "ulimits": ["nofile=1:1"],
                "resources": {"memory": "1g"},
            },
            "b": {
                "args": {"S": "b"},
                "attest": ["type=sbom"],
                "platforms": ["linux/arm64"],
                "context": "b",
            },
            "c": {
                "inherits": ["a", "b"],
                "args": {"C": "c", "A": None},
                "annotations": ["k=c"],
                "attest": ["type=provenance,mode=max"],
                "secret": ["id=s,src=c"],
                "ulimits": ["nofile=2:2"],
                "resources": {"cpu-quota": 5},
                "network": "host",
            },
        }
    }
    c = project(data).resolved.targets["c"]
    assert c.args == {"A": "a", "S": "b", "C": "c"}
    assert c.tags == ("x/a:1",)
    assert c.platforms == ("linux/arm64",)
    assert c.context == "b"
    assert c.annotations == ("k=a", "k=c")
    assert [a.bake_value() for a in c.attest] == [
        {"type": "provenance", "mode": "max"},
        {"type": "sbom"},
    ]
    assert [s.src for s in c.secret] == ["c"]
    assert [u.bake_value() for u in c.ulimits] == ["nofile=2:2"]
    assert c.resources is not None and c.resources.bake_value() == {"memory": "1g", "cpu-quota": 5}
    assert c.entitlements == ("network.host",)
    assert c.inherits == ()


def test_project_platforms_are_the_default() -> None:
    data = {
        "project": {"platforms": ["linux/amd64", "linux/arm64"]},
        "target": {"a": {}, "b": {"platforms": ["linux/arm/v7"]}},
    }
    targets = project(data).resolved.targets
    assert targets["a"].platforms == ("linux/amd64", "linux/arm64")
    assert targets["b"].platforms == ("linux/arm/v7",)


def test_default_selection() -> None:
    assert project({"target": {"a": {}, "b": {}}}).resolved.default_targets == ("a", "b")
    with_group = project({"target": {"a": {}, "b": {}}, "group": {"default": {"targets": ["b"]}}})
    assert with_group.resolved.default_targets == ("b",)
    assert project({"target": {"a": {}, "default": {}}}).resolved.default_targets == ("default",)


def test_nested_groups_select_targets_once() -> None:
    resolved = project(
        {
            "target": {"a": {}, "b": {}, "c": {}},
            "group": {"g1": {"targets": ["a", "b"]}, "g2": {"targets": ["g1", "c", "a"]}},
        }
    ).resolved
    assert resolved.select(["g2"]) == ("a", "b", "c")


def test_a_name_shared_by_a_group_and_a_target_selects_as_bake_does() -> None:
    """bake's ResolveGroup: the group first; inside it (or a group it holds) its own name is the target.
    (Real buildx agrees: tests/e2e/test_render_print.py.) A group cycle with no target to end it is refused
    (tests/fixtures/invalid/group-cycle.toml)."""
    resolved = project(
        {
            "target": {
                "app": {},
                "app-debug": {},
                "tools": {},
                "default": {},
                "outer": {},
                "inner": {},
            },
            "group": {
                "app": {"targets": ["app", "app-debug"]},
                "all": {"targets": ["app", "tools"]},
                "outer": {"targets": ["inner"]},
                "inner": {"targets": ["outer", "tools"]},  # `outer` again: here the target
                "default": {"targets": ["tools", "default"]},
            },
        }
    ).resolved
    assert resolved.select(["app"]) == ("app", "app-debug")
    assert resolved.select(["all"]) == ("app", "app-debug", "tools")
    assert resolved.select(["app-debug"]) == ("app-debug",)
    assert resolved.select(["outer"]) == ("outer", "tools")
    assert resolved.select(["inner"]) == ("inner", "tools")
    assert resolved.default_targets == ("tools", "default")


def test_unknown_selection_suggests() -> None:
    from bakepy.errors import ConfigError

    with pytest.raises(ConfigError, match="did you mean 'app'"):
        project({"target": {"app": {}}}).resolved.select(["ap"])


def test_linked_targets() -> None:
    resolved = project(
        {
            "target": {
                "base": {},
                "mid": {"contexts": {"b": "target:base"}},
                "app": {"contexts": {"m": "target:mid", "x": "docker-image://alpine"}},
            }
        }
    ).resolved
    assert resolved.linked("app") == ("mid", "base")


def test_context_loops_are_rejected() -> None:
    message = error_of(
        {"target": {"a": {"contexts": {"x": "target:b"}}, "b": {"contexts": {"y": "target:a"}}}}
    )
    assert "context loop" in message


def test_python_api_builds_the_same_model() -> None:
    built = Project(
        settings=ProjectSettings(registries=["ghcr.io/acme"], tags=["latest"]),
        variables={"V": Variable(default="1")},
        targets={
            "app": Target(
                platforms=["linux/arm64/v8"],
                cache_from=["type=gha,scope=app"],
                no_cache=True,
                extra_hosts={"h": "1.2.3.4"},
                args={"V": "${V}"},
            )
        },
        groups={"default": Group(targets=["app"])},
    )
    parsed = project(
        {
            "project": {"registries": ["ghcr.io/acme"], "tags": ["latest"]},
            "variable": {"V": {"default": "1"}},
            "target": {
                "app": {
                    "platforms": ["linux/arm64/v8"],
                    "cache-from": [{"type": "gha", "scope": "app"}],
                    "no-cache": True,
                    "extra-hosts": {"h": "1.2.3.4"},
                    "args": {"V": "1"},
                }
            },
            "group": {"default": {"targets": ["app"]}},
        }
    )
    assert built.resolved.targets == parsed.resolved.targets


def test_python_api_errors_are_validation_errors_with_the_path() -> None:
    with pytest.raises(ValidationError, match="did you mean 'linux/arm64'"):
        Target(platforms=["linux/arm65"])
    with pytest.raises(
        ValidationError, match=r"group\.default\.targets\[0\]: unknown target or group 'ap'"
    ):
        Project(targets={"app": Target()}, groups={"default": Group(targets=["ap"])})


def test_models_are_frozen() -> None:
    target = Target()
    with pytest.raises(ValidationError):
        target.context = "x"  # type: ignore[misc]


def test_model_error_carries_its_path() -> None:
    exc = ModelError("bad", ("target", "app", "platforms", 1))
    assert str(exc) == "target.app.platforms[1]: bad"


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("target", "app", "platforms", 1), "target.app.platforms[1]"),
        (
            ("target", "app", "labels", "org.opencontainers.image.title"),
            'target.app.labels."org.opencontainers.image.title"',
        ),
        (("project", "runners", "linux/arm64"), 'project.runners."linux/arm64"'),
        ((), ""),
    ],
)
def test_paths_use_toml_key_spelling(loc: tuple[str | int, ...], path: str) -> None:
    assert format_path(loc) == path


def test_values_with_templates_are_checked_after_interpolation() -> None:
    data = {
        "variable": {"P": {"default": "linux/arm64/v8"}},
        "target": {"app": {"platforms": ["${P}"]}},
    }
    assert project(data).resolved.targets["app"].platforms == ("linux/arm64/v8",)
    resolved = project(data, {"P": "linux/arm65"}).resolved
    assert resolved.targets["app"].platforms == ("linux/arm65",)  # bake prints it: render writes it
    with pytest.raises(ConfigError) as info:
        resolved.check(["app"])  # plan and publish refuse it, naming the variable and its origin
    assert info.value.message == (
        "bakepy.toml: target.app.platforms[0]: 'linux/arm65' is not a platform: unknown architecture "
        "'arm65'; did you mean 'linux/arm64'?; it is '${P}' with P = \"linux/arm65\" (from the "
        "environment variable P)"
    )


def test_platforms_are_kept_as_written_and_compared_normalised() -> None:
    written = ["local", "arm64", "linux/mipsle/softfloat", "linux/arm", "linux/amd64/v1"]
    resolved = project({"target": {"app": {"platforms": written}}}).resolved
    assert resolved.targets["app"].platforms == tuple(written)
    assert "repeats platforms[0]" in error_of(
        {"target": {"app": {"platforms": ["linux/arm64", "linux/arm64/v8"]}}}
    )


@pytest.mark.parametrize(
    ("given", "warning"),
    [
        ("linux/amd64/v9", "unknown variant 'v9' for amd64 (known: v2, v3, v4)"),
        # one slip from each of v5…v8: listed, not guessed
        ("linux/arm/v9", "unknown variant 'v9' for arm (known: v5, v6, v7, v8); buildx passes"),
        ("linux/mips/hardfloat", None),
        ("linux/riscv64/rva22u64", None),
        ("linux/mips/softflaot", "did you mean 'softfloat'?"),
        ("local", None),
        ("linux/arm64", None),
    ],
)
def test_unknown_variants_are_warnings(given: str, warning: str | None) -> None:
    said = platform_warning(given)
    assert said is None if warning is None else warning in (said or "")


def test_a_cache_import_from_no_reference_is_a_warning_a_cache_export_to_one_an_error() -> None:
    """buildx skips a cache-from it cannot use (a warning) and builds; a cache-to it cannot write fails."""
    bad = {
        "type": "registry",
        "ref": "/dr_cache:latest",
    }  # what `${REPO}/dr_cache` gives with REPO=""
    resolved = project({"target": {"app": {"cache-from": [bad]}}}).resolved
    assert resolved.targets["app"].cache_from[0].attrs["ref"] == "/dr_cache:latest"
    (said,) = resolved.warnings
    assert (
        said.startswith("bakepy.toml: target.app.cache-from[0].ref: ")
        and "builds without it" in said
    )
    assert "target.app.cache-to[0].ref" in error_of({"target": {"app": {"cache-to": [bad]}}})


def test_empty_entries_from_variables_are_dropped_as_bake_does() -> None:
    data = {
        "variable": {"TAG": {"default": ""}, "EXTRA": {"default": ""}},
        "target": {"web": {"tags": ["example.org/web:${TAG}", "${EXTRA}"]}},
    }
    resolved = project(data).resolved
    assert resolved.targets["web"].tags == ("example.org/web:",)  # what bake --print prints
    with pytest.raises(ConfigError, match=re.escape('with TAG = "" (the default of variable.TAG)')):
        resolved.check(["web"])
    assert project(data, {"TAG": "1.0"}).resolved.problems == {}


def test_escaped_literals_are_not_variables() -> None:
    resolved = project({"target": {"app": {"labels": {"x": "$${NOT_A_VARIABLE}"}}}}).resolved
    assert resolved.targets["app"].labels == {"x": "${NOT_A_VARIABLE}"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://127.0.0.1:5100/ux", "drop the scheme (http://), write '127.0.0.1:5100/ux'"),
        ("https://ghcr.io/acme/", "drop the scheme (https://), write 'ghcr.io/acme'"),
        ("127.0.0.1:99999", "port 99999 is out of range"),
    ],
)
def test_registry_messages_say_the_fix(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_registry(value)


def test_comma_joined_platforms_are_split_in_the_message_not_misread() -> None:
    with pytest.raises(ValueError) as caught:
        normalize_platform("linux/amd64,linux/arm64")
    assert str(caught.value) == (
        "'linux/amd64,linux/arm64' names several platforms: write one per list item: "
        "['linux/amd64', 'linux/arm64']"
    )
    assert "did you mean" not in str(caught.value)

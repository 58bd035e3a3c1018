"""Fuzzing the two readers of untrusted text: the TOML project loader and the digest-record reader.

Whatever the bytes, each answers with a value or one `BakepyError` line (exit 2 or 3), never another
exception: hypothesis tries a few thousand inputs, mixing TOML/JSON-shaped text built from the project's own
keys with arbitrary bytes. Bounded to run within a minute in CI (no deadline: the first examples warm caches).
"""

from __future__ import annotations

import contextlib
import json
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bakepy.config import decode_text, load_toml
from bakepy.errors import BakepyError
from bakepy.lint import looks_like_credential
from bakepy.publish.records import DigestRecord, read_record_files

FUZZ = settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)

KEYS = [
    "project", "registries", "platforms", "tags", "runners", "cache", "strict", "builder", "variable",
    "default", "target", "group", "targets", "args", "context", "contexts", "dockerfile",
    "dockerfile-inline", "entitlements", "inherits", "matrix", "name", "network", "output", "secret",
    "ssh", "attest", "cache-from", "cache-to", "labels", "annotations", "shm-size", "ulimits", "call",
    "pull", "no-cache", "image", "sources", "annotate", "publish", "app", "base", "default",
]  # fmt: skip
VALUES = [
    '"linux/amd64"', '" linux/arm64"', '"linux/arm65"', '"127.0.0.1:99999"', '"127.0.0.1:5000"', '"1.0"',
    '"bad tag!"', '"${V}"', '"${V"', '"target:app"', '"type=registry,ref=x"', '"type=local,dest=o"',
    '"id=a,env=A"', '"none"', '"host"', '"network.host"', '".."', "true", "1", "-1", "1.5", "[]", "{}",
    '[""]', '["a", "a"]', '{ v = ["1", "2"] }', '{ GITHUB_TOKEN = "x" }', '"\\u0000"', "'''x'''",
]  # fmt: skip

key = st.sampled_from(KEYS)
dotted = st.lists(key, min_size=1, max_size=3).map(".".join)
value: st.SearchStrategy[str] = st.recursive(
    st.sampled_from(VALUES),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(st.tuples(key, inner), max_size=3).map(
            lambda kv: "{" + ", ".join(f'"{k}" = {v}' for k, v in kv) + "}"
        ),
    ),
    max_leaves=8,
)
line = st.one_of(
    dotted.map(lambda k: f"[{k}]"),
    st.tuples(dotted, value).map(lambda kv: f"{kv[0]} = {kv[1]}"),
    st.text(alphabet=string.printable, max_size=20),
)
toml_text = st.one_of(
    st.lists(line, max_size=12).map("\n".join),
    st.text(max_size=200),
)


@FUZZ
@given(toml_text)
def test_the_toml_loader_answers_every_text(text: str) -> None:
    try:
        project = load_toml(text, source="fuzz.toml", env={})
    except BakepyError as exc:
        assert exc.exit_code in (2, 3)
        assert exc.message.startswith("fuzz.toml")
        return
    assert project.resolved is not None


@FUZZ
@given(st.binary(max_size=200))
def test_the_file_decoder_answers_every_byte_string(data: bytes) -> None:
    try:
        text = decode_text(data, "fuzz.toml")
    except BakepyError as exc:
        assert exc.exit_code == 2
        assert exc.message.startswith("fuzz.toml:")
        return
    load_toml_or_error(text)


def load_toml_or_error(text: str) -> None:
    with contextlib.suppress(BakepyError):
        load_toml(text, source="fuzz.toml", env={})


HEX = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map(lambda h: "sha256:" + h)
json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20), HEX
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
record_like = st.fixed_dictionaries(
    {},
    optional={
        f: json_value
        for f in (
            "target",
            "platform",
            "digest",
            "source",
            "media_type",
            "size",
            "repositories",
            "fingerprint",
            "revision",
            "version",
        )
    },
)
record_bytes = st.one_of(
    record_like.map(lambda d: json.dumps(d).encode()),
    json_value.map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=100),
    st.integers(1, 3000).map(lambda n: b"[" * n),
)


@FUZZ
@given(record_like)
def test_records_from_json_answer_every_object(data: dict[str, object]) -> None:
    try:
        record = DigestRecord.from_json(data, "r.json")
    except BakepyError as exc:
        assert exc.exit_code == 2
        assert exc.message.startswith("r.json: ")
        return
    assert DigestRecord.from_json(record.to_json(), "r.json") == record


@settings(FUZZ, max_examples=500)
@given(st.lists(record_bytes, min_size=1, max_size=3))
def test_the_records_folder_reader_answers_every_file(
    tmp_path_factory: pytest.TempPathFactory, files: list[bytes]
) -> None:
    folder: Path = tmp_path_factory.mktemp("records")
    for i, data in enumerate(files):
        (folder / f"r{i}.json").write_bytes(data)
    try:
        found = read_record_files(folder)
    except BakepyError as exc:
        assert exc.exit_code == 2
        assert "\n" not in exc.message
        return
    assert len(found) == len(files)


@FUZZ
@given(st.text(max_size=30))
def test_credential_names_never_crash(name: str) -> None:
    looks_like_credential(name)


@pytest.mark.parametrize(
    ("name", "credential"),
    [
        ("GITHUB_TOKEN", True),
        ("NPM_TOKEN", True),
        ("DB_PASSWORD", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("API_KEY", True),
        ("SSH_PRIVATE_KEY", True),
        ("github-token", True),
        ("REGISTRY_AUTH", True),
        ("VERSION", False),
        ("PYTHON_VERSION", False),
        ("KEYBOARD", False),
        ("GPG_PUBLIC_KEY", False),
        ("SIGNING_KEY_ID", False),
        ("TOKENIZER_MODEL", False),
        ("BUILDKIT_INLINE_CACHE", False),
    ],
)
def test_credential_names(name: str, credential: bool) -> None:
    assert looks_like_credential(name) is credential

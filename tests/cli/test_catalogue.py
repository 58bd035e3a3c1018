"""The catalogue of bad input: every way a user can get bakepy wrong, one case per line, through the CLI.

Each case is the files of a project, a command line, the exit code and a fragment of the one `error:` line (or,
for exit 0, of the `warning:` line). Every case must print exactly one `error:` line (plus at most a `hint:`),
no traceback, nothing on stdout; and none may reach docker: PATH holds no docker, so a case that tried to build
would exit 6, not 2. The invalid fixtures of tests/fixtures/invalid (each with its `# expect:` line) run here
too, through `bakepy plan -f FILE`.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bakepy.cli.app import app

INVALID = Path(__file__).parents[1] / "fixtures" / "invalid"
runner = CliRunner()


class Dir:
    """A directory where a file would be."""


@dataclass(frozen=True)
class Link:
    """A symbolic link to `to` (which may not exist, or may be another link)."""

    to: str


@dataclass(frozen=True)
class C:
    id: str
    files: dict[str, str | bytes | Dir | Link]
    argv: str
    code: int
    fragment: str
    env: dict[str, str] = field(default_factory=dict)
    allowed: tuple[str, ...] = ()  # other stderr lines that belong (a bakefile's own prints)


T = "bakepy.toml"
D = "Dockerfile"
DF = "FROM scratch\n"
OK = '[project]\nregistries = ["127.0.0.1:5000"]\ntags = ["1.0"]\n'  # a valid [project] to build on
APP = OK + "[target.app]\n"
RT = '[target.app]\ntags = ["r.example/app:1"]\n'  # a target with a full reference, no [project]
HEX = "0" * 64


def rec(**changes: object) -> str:
    """A digest record for target app on linux/amd64, with `changes` (None deletes a key)."""
    data: dict[str, object] = {
        "target": "app",
        "platform": "linux/amd64",
        "digest": f"sha256:{HEX}",
        "source": f"sha256:{HEX}",
        "media_type": "application/vnd.oci.image.index.v1+json",
        "size": 100,
        "repositories": ["127.0.0.1:5000/app"],
        "fingerprint": "f",
        "revision": "abc",
        "version": 1,
    }
    for key, value in changes.items():
        if value is None and key != "revision":
            data.pop(key, None)
        else:
            data[key] = value
    return json.dumps(data)


def merge(record: str | bytes) -> dict[str, str | bytes | Dir | Link]:
    """A valid project with one record file in recs/."""
    return {T: APP, D: DF, "recs/app.json": record}


DEEP = "a = " + "[" * 3000 + "\n"
DEEP_INLINE = "a = " + "{b = " * 3000 + "\n"

# fmt: off
CASES: list[C] = [
    # -- the project file itself: what it is, how it is encoded ------------------------------------------------
    C("toml-is-directory", {T: Dir()}, "plan", 2, "bakepy.toml: is a directory, not a project file"),
    C("toml-link-loop", {T: Link("loop"), "loop": Link(T)}, "plan", 2, "bakepy.toml: is a symbolic link loop"),
    C("toml-dangling-link", {T: Link("gone.toml")}, "plan", 2, "bakepy.toml: is a dangling symbolic link to 'gone.toml'"),
    C("bakefile-is-directory", {"bakefile.py": Dir()}, "plan", 2, "bakefile.py: is a directory"),
    C("bakefile-dangling-link", {"bakefile.py": Link("x.py")}, "render", 2, "bakefile.py: is a dangling symbolic link"),
    C("toml-bom", {T: b"\xef\xbb\xbf" + RT.encode()}, "plan", 2, "bakepy.toml:1:1: the file starts with a UTF-8 byte-order mark"),
    C("toml-nul", {T: b"[target.app]\x00\n"}, "plan", 2, "bakepy.toml:1:13: the file holds a NUL byte"),
    C("toml-nul-line-3", {T: b"[target.app]\ncontext = '.'\ntags = [\x00]\n"}, "render", 2, "bakepy.toml:3:9: the file holds a NUL byte"),
    C("toml-latin1", {T: b'[target.app]\ndescription = "caf\xe9"\n'}, "plan", 2, "bakepy.toml:2:19: not UTF-8 text (byte 0xe9)"),
    C("toml-latin1-line-1", {T: b"\xff\xfe[target.app]\n"}, "plan", 2, "bakepy.toml:1:1: not UTF-8 text (byte 0xff)"),
    C("toml-utf16", {T: "[target.app]\n".encode("utf-16")}, "plan", 2, "bakepy.toml:1:1: not UTF-8 text"),
    C("pyproject-bom", {"pyproject.toml": b"\xef\xbb\xbf[tool.bakepy.target.app]\n"}, "plan", 2, "pyproject.toml:1:1: the file starts with a UTF-8 byte-order mark"),
    C("toml-nested-arrays", {T: DEEP}, "plan", 2, "bakepy.toml: invalid TOML: arrays or inline tables nested too deeply"),
    C("toml-nested-inline-tables", {T: DEEP_INLINE}, "plan", 2, "nested too deeply"),
    C("pyproject-nested", {"pyproject.toml": "[tool.bakepy]\n" + DEEP}, "plan", 2, "pyproject.toml: invalid TOML: arrays or inline tables nested too deeply"),
    C("no-project-file", {}, "plan", 2, "no bakepy.toml, pyproject.toml with [tool.bakepy] or bakefile.py in"),
    C("f-missing", {}, "plan -f nope.toml", 2, "nope.toml: no such file"),
    C("f-yaml", {"x.yaml": "a: 1\n"}, "plan -f x.yaml", 2, "x.yaml: not a project file"),
    C("f-dangling", {"p.toml": Link("gone")}, "plan -f p.toml", 2, "p.toml: is a dangling symbolic link"),
    C("f-loop", {"p.toml": Link("p.toml")}, "render -f p.toml", 2, "p.toml: is a symbolic link loop"),
    C("pyproject-no-table", {"pyproject.toml": "[project]\nname = 'x'\n"}, "plan -f pyproject.toml", 2, "pyproject.toml: has no [tool] table"),
    C("pyproject-table-not-table", {"pyproject.toml": "[tool]\nbakepy = 1\n"}, "plan -f pyproject.toml", 2, "pyproject.toml: tool.bakepy: expected a table"),
    # -- TOML syntax: file and line --------------------------------------------------------------------------------
    C("toml-unclosed-string", {T: '[target.app]\ncontext = ".\n'}, "plan", 2, "bakepy.toml:2:"),
    C("toml-duplicate-key", {T: '[target.app]\ncontext = "."\ncontext = "b"\n'}, "plan", 2, "bakepy.toml:3:"),
    C("toml-bad-escape", {T: '[target.app]\ncontext = "\\q"\n'}, "plan", 2, "bakepy.toml:2:"),
    C("toml-key-without-value", {T: "[target.app]\ncontext =\n"}, "plan", 2, "bakepy.toml:2:"),
    C("toml-bare-key-space", {T: "[target.app]\nmy key = 1\n"}, "plan", 2, "bakepy.toml:2:"),
    C("toml-unclosed-table", {T: "[target.app\n"}, "plan", 2, "bakepy.toml:1:"),
    C("toml-value-only", {T: "= 1\n"}, "plan", 2, "bakepy.toml:1:1: invalid TOML"),
    C("toml-unclosed-multiline", {T: '[target.app]\ndescription = """\nx\n'}, "plan", 2, "invalid TOML"),
    C("toml-table-redefined", {T: "[target.app]\n[target.app]\n"}, "plan", 2, "bakepy.toml:2:"),
    C("toml-control-char", {T: '[target.app]\ncontext = "\x01"\n'}, "plan", 2, "bakepy.toml:2:"),
    # -- the selection is empty: the file and the fix (exit 3) ----------------------------------------------------
    C("empty-file", {T: ""}, "publish", 3, "bakepy.toml: no target to publish: the project defines no target"),
    C("only-comments", {T: "# nothing yet\n"}, "plan", 3, "bakepy.toml: no target to publish: the project defines no target"),
    C("only-project", {T: OK}, "plan", 3, "the project defines no target"),
    C("empty-default-group", {T: '[group.default]\ntargets = []\n[target.app]\n'}, "publish", 3, "bakepy.toml: no target to publish: group.default.targets is empty"),
    C("empty-named-group", {T: APP + "[group.g]\ntargets = []\n"}, "plan g", 3, "group.g.targets is empty"),
    C("publish-false-only", {T: APP + "publish = false\n"}, "plan", 3, "app is built but not published"),
    C("local-output-only", {T: APP + 'output = ["type=local,dest=out"]\n'}, "plan", 3, "app is built but not published"),
    C("no-platform-left", {T: APP + 'platforms = ["linux/amd64"]\n'}, "plan --platform linux/s390x", 3, "no selected target builds for linux/s390x"),
    C("publishes-nowhere", {T: '[target.app]\nplatforms = ["linux/amd64"]\n'}, "plan", 2, "bakepy.toml: target.app: 'app' publishes nowhere"),
    # -- values, and where a variable's value came from ------------------------------------------------------------
    C("env-var-bad-tag", {T: OK.replace('"1.0"', '"${VERSION}"') + '[variable.VERSION]\ndefault = "1"\n[target.app]\n'}, "plan", 2, "from the environment variable VERSION", env={"VERSION": "bad tag!"}),
    C("env-var-bad-tag-names-path", {T: OK.replace('"1.0"', '"${VERSION}"') + '[variable.VERSION]\ndefault = "1"\n[target.app]\n'}, "publish", 2, "project.tags[0]: 'bad tag!'", env={"VERSION": "bad tag!"}),
    C("default-bad-tag", {T: OK.replace('"1.0"', '"${V}"') + '[variable.V]\ndefault = "no good"\n[target.app]\n'}, "plan", 2, "the default of variable.V"),
    C("empty-variable-tag", {T: '[variable.TAG]\ndefault = ""\n[target.web]\ntags = ["example.org/web:${TAG}"]\n'}, "plan", 2, "TAG = \"\" (the default of variable.TAG)"),
    C("env-var-bad-platform", {T: APP + 'platforms = ["${P}"]\n[variable.P]\ndefault = "linux/amd64"\n'}, "plan", 2, "environment variable P", env={"P": "linux/arm65"}),
    C("registry-port-too-big", {T: '[project]\nregistries = ["127.0.0.1:99999"]\ntags = ["x"]\n[target.app]\n'}, "plan", 2, "bakepy.toml: project.registries[0]: '127.0.0.1:99999' is not a registry: port 99999 is out of range"),
    C("registry-port-zero", {T: '[project]\nregistries = ["127.0.0.1:0"]\ntags = ["x"]\n[target.app]\n'}, "plan", 2, "project.registries[0]"),
    C("registry-scheme", {T: '[project]\nregistries = ["https://r.example"]\ntags = ["x"]\n[target.app]\n'}, "plan", 2, "project.registries[0]"),
    C("registry-empty", {T: '[project]\nregistries = [""]\ntags = ["x"]\n[target.app]\n'}, "plan", 2, "project.registries[0]"),
    C("registry-repeated", {T: '[project]\nregistries = ["r.example", "r.example"]\n'}, "plan", 2, "project.registries[1]: 'r.example' repeats [0]"),
    C("tag-repeated", {T: '[project]\ntags = ["a", "a"]\n'}, "plan", 2, "project.tags[1]: 'a' repeats [0]"),
    C("tag-with-colon", {T: '[project]\ntags = ["a:b"]\n'}, "plan", 2, "project.tags[0]"),
    C("tag-too-long", {T: '[project]\ntags = ["' + "a" * 129 + '"]\n'}, "plan", 2, "project.tags[0]"),
    C("target-tag-uppercase", {T: '[target.app]\ntags = ["r.example/App:1"]\n'}, "plan", 2, "target.app.tags[0]"),
    C("target-tag-space", {T: '[target.app]\ntags = ["r.example/app:1 "]\n'}, "plan", 2, "target.app.tags[0]"),
    C("platform-leading-space", {T: RT + 'platforms = [" linux/amd64"]\n'}, "render", 2, "target.app.platforms[0]: ' linux/amd64' has spaces around it, which buildx refuses; write 'linux/amd64'"),
    C("platform-trailing-space", {T: RT + 'platforms = ["linux/arm64 "]\n'}, "plan", 2, "has spaces around it"),
    C("project-platform-space", {T: '[project]\nplatforms = ["linux/amd64", " linux/arm64"]\n'}, "plan", 2, "project.platforms[1]: ' linux/arm64' has spaces around it"),
    C("platform-comma-joined", {T: RT + 'platforms = ["linux/amd64,linux/arm64"]\n'}, "plan", 2, "write one per list item"),
    C("platform-typo", {T: RT + 'platforms = ["linux/arm65"]\n'}, "plan", 2, "did you mean 'linux/arm64'"),
    C("platform-os-only", {T: RT + 'platforms = ["linux"]\n'}, "plan", 2, "add the architecture"),
    C("platform-empty", {T: RT + 'platforms = [""]\n'}, "plan", 2, "target.app.platforms[0]"),
    C("platform-four-parts", {T: RT + 'platforms = ["linux/arm/v7/x"]\n'}, "plan", 2, "is not a platform"),
    C("platform-darwin", {T: RT + 'platforms = ["darwin/arm64"]\n'}, "plan", 2, "cannot be built"),
    C("platform-repeated-normalised", {T: RT + 'platforms = ["linux/arm64", "linux/arm64/v8"]\n'}, "plan", 2, "repeats platforms[0]"),
    C("cli-platform-typo", {T: RT}, "plan --platform linux/amd46", 2, "--platform: 'linux/amd46' is not a platform"),
    C("cli-unknown-option", {T: RT}, "plan --jsn", 2, "No such option: --jsn"),
    C("cli-unknown-command", {}, "publsh", 2, "no command 'publsh'; did you mean 'publish'?"),
    C("cli-unknown-root-option", {}, "--nope", 2, "No such option: --nope"),
    C("cli-progress-missing-value", {T: RT}, "publish --progress", 2, "--progress"),
    C("cli-platform-space", {T: RT}, "plan --platform ' linux/amd64'", 2, "--platform: ' linux/amd64' has spaces around it"),
    C("network-none-with-host", {T: RT + 'network = "none"\nentitlements = ["network.host"]\n'}, "render", 2, "bakepy.toml: target.app.network: 'none' contradicts the network.host entitlement"),
    C("network-none-inherited-host", {T: '[target.base]\nentitlements = ["network.host"]\n' + RT + 'inherits = ["base"]\nnetwork = "none"\n'}, "plan", 2, "contradicts the network.host entitlement"),
    C("network-typo", {T: RT + 'network = "hots"\n'}, "plan", 2, "unknown network mode 'hots'"),
    C("entitlement-typo", {T: RT + 'entitlements = ["network.hots"]\n'}, "plan", 2, "unknown entitlement 'network.hots'"),
    C("args-not-table", {T: RT + 'args = ["A=1"]\n'}, "plan", 2, "target.app.args"),
    C("args-nested-table", {T: RT + "args = { A = { B = 1 } }\n"}, "plan", 2, "target.app.args"),
    C("args-interpolated-key", {T: RT + 'args = { "${X}" = "1" }\n'}, "plan", 2, "must be a plain, non-empty name"),
    C("args-empty-key", {T: RT + 'args = { "" = "1" }\n'}, "plan", 2, "must be a plain, non-empty name"),
    C("labels-list", {T: RT + 'labels = ["a=b"]\n'}, "plan", 2, "target.app.labels"),
    C("tags-string", {T: '[target.app]\ntags = "r.example/app:1"\n'}, "plan", 2, "target.app.tags"),
    C("platforms-string", {T: RT + 'platforms = "linux/amd64"\n'}, "plan", 2, "target.app.platforms"),
    C("pull-string", {T: RT + 'pull = "yes"\n'}, "plan", 2, "target.app.pull"),
    C("no-cache-number", {T: RT + "no-cache = 1\n"}, "plan", 2, "target.app.no-cache"),
    C("shm-size-words", {T: RT + 'shm-size = "big"\n'}, "plan", 2, "invalid shm-size 'big'"),
    C("ulimit-bad", {T: RT + 'ulimits = ["nofile"]\n'}, "plan", 2, "target.app.ulimits[0]"),
    C("cache-from-no-type", {T: RT + 'cache-from = ["ref=x"]\n'}, "plan", 2, "target.app.cache-from[0]"),
    C("cache-to-unknown-type", {T: RT + 'cache-to = ["type=cloud"]\n'}, "plan", 2, "target.app.cache-to[0]"),
    C("output-unknown", {T: RT + 'output = ["type=floppy"]\n'}, "plan", 2, "target.app.output[0]"),
    C("secret-unknown-key", {T: RT + 'secret = ["id=a,colour=red"]\n'}, "plan", 2, "target.app.secret[0]"),
    C("ssh-not-string", {T: RT + "ssh = [1]\n"}, "plan", 2, "target.app.ssh[0]"),
    C("attest-unknown", {T: RT + 'attest = ["type=sbomb"]\n'}, "plan", 2, "target.app.attest[0]"),
    C("call-unknown", {T: RT + 'call = "buld"\n'}, "plan", 2, "unknown call method 'buld'"),
    C("annotation-no-eq", {T: RT + 'annotations = ["key"]\n'}, "plan", 2, "invalid annotation 'key'"),
    C("context-unknown-target", {T: RT + 'contexts = { base = "target:nope" }\n'}, "plan", 2, "nope"),
    C("inherits-unknown", {T: RT + 'inherits = ["base"]\n'}, "plan", 2, "base"),
    C("inherits-self", {T: RT + 'inherits = ["app"]\n'}, "plan", 2, "target.app.inherits"),
    C("group-unknown-member", {T: RT + '[group.default]\ntargets = ["ap"]\n'}, "plan", 2, "'ap'"),
    C("unknown-target-arg", {T: RT}, "plan nope", 2, "unknown target or group 'nope'"),
    C("unknown-target-typo", {T: RT}, "render ap", 2, "did you mean 'app'"),
    C("unknown-target-key", {T: RT + 'contxt = "."\n'}, "plan", 2, "target.app.contxt"),
    C("unknown-project-key", {T: '[project]\nregistry = ["r.example"]\n'}, "plan", 2, "project.registry"),
    C("unknown-top-table", {T: "[targets.app]\n"}, "plan", 2, "targets"),
    C("project-strict-string", {T: '[project]\nstrict = "yes"\n'}, "plan", 2, "project.strict"),
    C("variable-default-list", {T: "[variable.V]\ndefault = [1]\n"}, "plan", 2, "variable.V.default"),
    C("variable-unknown", {T: '[target.app]\ntags = ["r.example/app:${NOPE}"]\n'}, "plan", 2, "NOPE"),
    C("variable-cycle", {T: '[variable.A]\ndefault = "${B}"\n[variable.B]\ndefault = "${A}"\n' + RT}, "plan", 2, "variable"),
    C("matrix-empty-list", {T: RT + 'name = "app-${v}"\nmatrix = { v = [] }\n'}, "plan", 2, "matrix values must be a non-empty list"),
    C("matrix-no-name", {T: RT + 'matrix = { v = ["1", "2"] }\n'}, "plan", 2, "matrix"),
    C("name-without-matrix", {T: RT + 'name = "x"\n'}, "plan", 2, "`name` only names matrix targets"),
    C("duplicate-publish", {T: '[target.a]\ntags = ["r.example/x:1"]\n[target.b]\ntags = ["r.example/x:1"]\n'}, "plan", 2, "both publish r.example/x:1"),
    C("runners-bad-key", {T: '[project]\nrunners = { "linux/arm65" = "arm" }\n'}, "plan", 2, "runners keys are platforms"),
    C("cache-registry-no-ref", {T: '[project]\ncache = { type = "registry" }\n'}, "plan", 2, "a registry cache needs `ref`"),
    C("cache-local-no-path", {T: '[project]\ncache = { type = "local" }\n'}, "plan", 2, "a local cache needs `path`"),
    C("cache-type-unknown", {T: '[project]\ncache = { type = "s3" }\n'}, "plan", 2, "project.cache.type"),
    # -- bakefile.py ----------------------------------------------------------------------------------------------
    C("bakefile-base-exception", {"bakefile.py": "class Stop(BaseException):\n    pass\n\nraise Stop('halt')\n"}, "plan", 2, "bakefile.py:4: raised Stop: halt"),
    C("bakefile-system-exit", {"bakefile.py": "import sys\nsys.exit(3)\n"}, "plan", 2, "bakefile.py:2: raised SystemExit: 3"),
    C("bakefile-generator-exit", {"bakefile.py": "raise GeneratorExit('x')\n"}, "plan --json", 2, "raised GeneratorExit: x"),
    C("bakefile-multiline-error", {"bakefile.py": "raise ValueError('first\\nsecond')\n"}, "plan", 2, "bakefile.py:1: raised ValueError: first; second"),
    C("bakefile-recursion", {"bakefile.py": "def f():\n    return f()\nf()\n"}, "plan", 2, "raised RecursionError"),
    C("bakefile-import-error", {"bakefile.py": "import no_such_module_here\n"}, "plan", 2, "bakefile.py:1: raised ModuleNotFoundError"),
    C("bakefile-syntax", {"bakefile.py": "project = (\n"}, "plan", 2, "bakefile.py:1: invalid Python"),
    C("bakefile-no-project", {"bakefile.py": "x = 1\n"}, "plan", 2, "bakefile.py: defines no module-level `project`"),
    C("bakefile-project-dict", {"bakefile.py": "project = {}\n"}, "plan", 2, "bakefile.py: `project` is dict, not a bakepy.Project"),
    C("bakefile-bad-platform", {"bakefile.py": "from bakepy import Project, Target\nproject = Project(targets={'a': Target(platforms=('linux/arm65',))})\n"}, "plan", 2, "bakefile.py:2: "),
    C("bakefile-prints-then-raises", {"bakefile.py": "print('hello')\nraise RuntimeError('no')\n"}, "plan --json", 2, "bakefile.py:2: raised RuntimeError: no", allowed=("hello",)),
    C("bakefile-empty-project", {"bakefile.py": "from bakepy import Project\nproject = Project()\n"}, "plan", 3, "bakefile.py: no target to publish: the project defines no target"),
    C("bakefile-network-conflict", {"bakefile.py": "from bakepy import Project, Target\nproject = Project(targets={'a': Target(tags=('r.example/a:1',), network='none', entitlements=('network.host',))})\n"}, "plan", 2, "bakefile.py: target.a.network: 'none' contradicts"),
    # -- output paths and records folders: refused before anything runs -------------------------------------------
    C("render-output-no-folder", {T: RT}, "render -o nodir/out.json", 2, "--output nodir/out.json: the folder nodir does not exist"),
    C("render-output-is-dir", {T: RT, "out": Dir()}, "render -o out", 2, "Invalid value for '--output' / '-o': file 'out' is a directory"),
    C("render-output-under-file", {T: RT, "afile": "x"}, "render -o afile/out.json", 2, "(it is not a directory)"),
    C("render-output-under-dev-null", {T: RT}, "render -o /dev/null/out.json", 2, "the folder /dev/null does not exist (it is not a directory)"),
    C("publish-records-under-dev-null", {T: APP, D: DF}, "publish --records /dev/null/x", 2, "--records /dev/null/x: cannot make the records folder there: /dev/null is not a directory; nothing was built"),
    C("publish-records-is-file", {T: APP, D: DF, "recs": "x"}, "publish --records recs", 2, "--records recs: is a file, not a directory"),
    C("publish-records-under-file", {T: APP, D: DF, "recs": "x"}, "publish --records recs/deeper", 2, "recs is not a directory"),
    C("publish-records-json", {T: APP, D: DF, "recs": "x"}, "publish --json --records recs", 2, "is a file, not a directory"),
    C("ci-build-records-file", {T: APP + 'platforms = ["linux/amd64"]\n', D: DF, "recs": "x"}, "build --platform linux/amd64 --push-by-digest --records recs", 2, "dir 'recs' is a file"),
    C("ci-build-records-no-push", {T: APP, D: DF}, "build --platform linux/amd64 --records r", 2, "--records needs --push-by-digest"),
    C("ci-build-no-platform", {T: APP, D: DF}, "build", 2, "--platform is required"),
    C("publish-progress-unknown", {T: APP, D: DF}, "publish --progress fancy", 2, "--progress 'fancy': use auto or plain"),
    # -- build inputs, in bakepy's terms, before any build ------------------------------------------------------
    C("publish-no-dockerfile", {T: APP}, "publish", 2, "bakepy.toml: target.app.dockerfile: 'Dockerfile' does not exist in the context '.'"),
    C("publish-dry-run-no-dockerfile", {T: APP}, "publish --dry-run", 2, "target.app.dockerfile: 'Dockerfile' does not exist"),
    C("publish-dockerfile-is-dir", {T: APP, D: Dir()}, "publish", 2, "target.app.dockerfile: 'Dockerfile' is a directory"),
    C("publish-dockerfile-typo", {T: APP + 'dockerfile = "Dockerfil"\n', D: DF}, "publish", 2, "'Dockerfil' does not exist in the context"),
    C("publish-no-context", {T: APP + 'context = "src"\n'}, "publish", 2, "bakepy.toml: target.app.context: 'src' does not exist"),
    C("publish-context-is-file", {T: APP + 'context = "afile"\n', "afile": "x"}, "publish", 2, "target.app.context: 'afile' is a file, not a directory"),
    C("publish-context-dotdot", {T: APP + 'context = ".."\n', D: DF}, "publish", 2, "target.app.context: '..' is outside the project directory"),
    C("publish-context-dotdot-hint", {T: APP + 'context = ".."\n', D: DF}, "publish", 2, "BUILDX_BAKE_ENTITLEMENTS_FS=0"),
    C("publish-dockerfile-outside", {T: APP + 'dockerfile = "../Dockerfile"\n', D: DF}, "publish", 2, "target.app.dockerfile: '../Dockerfile' is outside the project directory"),
    C("publish-named-context-missing", {T: APP + 'contexts = { src = "vendor" }\n', D: DF}, "publish", 2, "target.app.contexts.src: 'vendor' does not exist"),
    C("publish-named-context-outside", {T: APP + 'contexts = { src = ".." }\n', D: DF}, "publish", 2, "target.app.contexts.src: '..' is outside the project directory"),
    C("publish-linked-target-no-context", {T: APP + 'contexts = { base = "target:base" }\n[target.base]\ncontext = "nope"\npublish = false\n', D: DF}, "publish app", 2, "target.base.context: 'nope' does not exist"),
    C("ci-build-no-dockerfile", {T: APP + 'platforms = ["linux/amd64"]\n'}, "build --platform linux/amd64", 2, "target.app.dockerfile: 'Dockerfile' does not exist"),
    # -- credential-named build args: a warning, an error under strict ----------------------------------------
    C("token-arg-warns", {T: RT + 'args = { GITHUB_TOKEN = "x" }\n'}, "render", 0, "warning: bakepy.toml: target.app.args.GITHUB_TOKEN: a build arg named like a credential"),
    C("token-arg-says-secret", {T: RT + 'args = { NPM_TOKEN = "x" }\n'}, "plan --json", 0, 'secret = ["id=npm_token,env=NPM_TOKEN"]'),
    C("password-arg-warns", {T: RT + 'args = { DB_PASSWORD = "x" }\n'}, "plan", 0, "the pushed image's config history"),
    C("token-arg-strict", {T: RT + 'args = { GITHUB_TOKEN = "x" }\n'}, "plan --strict", 2, "target.app.args.GITHUB_TOKEN: a build arg named like a credential"),
    C("secret-arg-strict-render", {T: RT + 'args = { API_SECRET = "x" }\n'}, "render --strict", 2, "target.app.args.API_SECRET"),
    C("key-arg-strict-publish", {T: APP + 'args = { SIGNING_KEY = "x" }\n', D: DF}, "publish --strict", 2, "target.app.args.SIGNING_KEY"),
    C("token-arg-project-strict", {T: '[project]\nstrict = true\n' + RT + 'args = { GITHUB_TOKEN = "x" }\n'}, "plan", 2, "strict mode"),
    C("token-arg-ci-build-strict", {T: APP + 'platforms = ["linux/amd64"]\nargs = { GITHUB_TOKEN = "x" }\n', D: DF}, "build --platform linux/amd64 --strict", 2, "GITHUB_TOKEN"),
    # -- digest records (merge): refused before any registry is asked ----------------------------------------
    C("merge-records-missing", {T: APP, D: DF}, "merge --records nope", 2, "nope: no such records directory"),
    C("merge-records-is-file", {T: APP, D: DF, "recs": "x"}, "merge --records recs", 2, "dir 'recs' is a file"),
    C("merge-records-empty", {T: APP, D: DF, "recs": Dir()}, "merge --records recs", 3, "no digest records to merge"),
    C("record-not-json", merge("{"), "merge --records recs", 2, "not a readable JSON digest record"),
    C("record-deep-json", merge("[" * 5000), "merge --records recs", 2, "recs/app.json: not a"),  # 3.13 words it otherwise
    C("record-not-object", merge("[]"), "merge --records recs", 2, "a digest record must be a JSON object"),
    C("record-unknown-key", merge(rec(colour="red")), "merge --records recs", 2, "unknown key 'colour' in digest record"),
    C("record-no-target", merge(rec(target=None)), "merge --records recs", 2, "target: missing or not a string"),
    C("record-bad-digest", merge(rec(digest="sha256:xyz")), "merge --records recs", 2, "digest: 'sha256:xyz' is not a sha256 digest"),
    C("record-version-true", merge(rec(version=True)), "merge --records recs", 2, "version: record format True is not 1"),
    C("record-version-2", merge(rec(version=2)), "merge --records recs", 2, "version: record format 2 is not 1"),
    C("record-size-bool", merge(rec(size=True)), "merge --records recs", 2, "size: must be a non-negative integer"),
    C("record-size-negative", merge(rec(size=-1)), "merge --records recs", 2, "size: must be a non-negative integer"),
    C("record-repositories-empty", merge(rec(repositories=[])), "merge --records recs", 2, "repositories: must be a non-empty list"),
    C("record-revision-number", merge(rec(revision=5)), "merge --records recs", 2, "revision: must be a commit"),
    C("record-revision-null-known", merge(rec(revision=None)), "merge --records recs", 2, "revision: null, but this checkout is abc", env={"BAKEPY_REVISION": "abc"}),
    C("record-revision-other", merge(rec(revision="def")), "merge --records recs", 2, "records were built from revision def, but this checkout is abc", env={"BAKEPY_REVISION": "abc"}),
    C("record-not-utf8", merge(b"\xff\xfe{}"), "merge --records recs", 2, "not a readable JSON digest record"),
    C("record-other-fingerprint", merge(rec()), "merge --records recs", 2, "was built for another plan", env={"BAKEPY_REVISION": "abc"}),
    # -- --changed (docs/changed.md) ---------------------------------------------------------------------------------
    C("all-without-changed-plan", {T: RT, D: DF}, "plan --all", 2, "--all forces every target to build under --changed"),
    C("all-without-changed-publish", {T: RT, D: DF}, "publish --all", 2, "--all forces every target to build under --changed"),
    C("all-without-changed-matrix", {T: RT, D: DF}, "matrix --all", 2, "--all forces every target to build under --changed"),
    C("rebuild-unknown", {T: RT + 'rebuild = "sometimes"\n', D: DF}, "plan --changed", 2, "bakepy.toml: target.app.rebuild: 'sometimes' is not one of 'changed' or 'always'"),
]
# fmt: on


def _fixture_cases() -> list[C]:
    """tests/fixtures/invalid: each file's `# expect:` line is the error `bakepy plan -f FILE` prints."""
    files = sorted(
        [*INVALID.glob("*.toml"), *INVALID.glob("*.py"), *INVALID.glob("*/pyproject.toml")]
    )
    out = []
    for path in files:
        rel = path.relative_to(INVALID).as_posix()
        expect = path.read_text(encoding="utf-8").splitlines()[0].removeprefix("# expect: ")
        out.append(C(f"fixture:{rel}", {}, f"plan -f {shlex.quote(rel)}", 2, expect))
    return out


ALL = [*CASES, *_fixture_cases()]


def _materialise(root: Path, files: dict[str, str | bytes | Dir | Link]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Dir):
            path.mkdir()
        elif isinstance(content, Link):
            path.symlink_to(content.to)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def test_the_catalogue_is_large() -> None:
    assert len(ALL) >= 150
    assert len({c.id for c in ALL}) == len(ALL)


@pytest.mark.parametrize("case", ALL, ids=lambda c: c.id)
def test_bad_input(case: C, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if case.id.startswith("fixture:"):
        monkeypatch.chdir(INVALID)
    else:
        project = tmp_path / "project"
        project.mkdir()
        _materialise(project, case.files)
        monkeypatch.chdir(project)
    empty = tmp_path / "no-docker"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # a case that reached for docker would exit 6, not 2
    for name in ("BAKEPY_REVISION", "GITHUB_SHA", "CI_COMMIT_SHA", "BUILDX_BAKE_ENTITLEMENTS_FS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, shlex.split(case.argv))
    shown = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.exit_code == case.code, shown
    assert "Traceback" not in result.output, shown
    assert "unexpected error" not in result.stderr, shown
    lines = result.stderr.splitlines()
    if case.code == 0:
        warned = [line for line in lines if line.startswith("warning: ")]
        assert any(case.fragment in line for line in warned), shown
        return
    assert result.stdout == "", shown  # --json or not: nothing but the answer ever goes to stdout
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, shown
    hints = [line for line in lines if line.startswith("hint: ")]
    assert case.fragment in "\n".join(errors + hints), shown
    others = [
        line
        for line in lines
        if not line.startswith(("error: ", "hint: ", "warning: ")) and line not in case.allowed
    ]
    assert others == [], shown
    assert sum(line.startswith("hint: ") for line in lines) <= 1, shown


def test_a_printing_bakefile_keeps_plan_json_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bakefile.py").write_text(
        "print('loading the project')\n"
        "from bakepy import Project, Target\n"
        "project = Project(targets={'a': Target(tags=('r.example/a:1',))})\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["plan", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["targets"][0]["name"] == "a"
    assert "loading the project" in result.stderr


def test_credential_warning_never_shows_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bakepy.toml").write_text(
        '[variable.T]\ndefault = "s3cr3t-value"\n[target.app]\ntags = ["r.example/a:1"]\n'
        'args = { GITHUB_TOKEN = "${T}" }\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    for argv in (["plan"], ["plan", "--strict"], ["render", "--strict"]):
        result = runner.invoke(app, argv)
        assert "GITHUB_TOKEN" in result.stderr
        assert "s3cr3t-value" not in result.stderr
    assert os.environ.get("T") is None

"""A local executor for the GitHub Actions workflows `bakepy ci github` writes (tests only; tests/e2e/test_ci_run.py).

It runs a workflow's jobs in `needs` order, a matrix job once per `include` entry (side by side, as GitHub does),
and passes what GitHub passes: job outputs through `$GITHUB_OUTPUT` and `needs.<job>.outputs`, step outputs by
`id`, `$GITHUB_ENV` and `$GITHUB_PATH` to later steps, artifacts from upload-artifact to download-artifact (a
directory per artifact name). Every `run:` step is executed for real with `bash --noprofile --norc -eo pipefail`,
as GitHub's `shell: bash` does, with GITHUB_* variables and an event payload (GITHUB_EVENT_PATH) for the event.

`${{ }}` expressions: the subset the generated files use (contexts `github`, `matrix`, `needs`, `steps`, `env`,
`secrets`, `vars`; `==`, `!=`, `!`, `&&`, `||`, parentheses, string/number/boolean literals, `fromJSON`,
`success()`, `always()`). Anything else raises `Unsupported`, so a generator change the executor does not
understand fails the test instead of passing silently.

`uses:` steps whose actions live on github.com are replaced by local equivalents, and only those:

| action | local stand-in |
|---|---|
| actions/checkout | `git clone` of the local repository, checked out at the event's commit |
| actions/setup-python | a venv of this machine's `python<version>` (pyenv's, if that is where it is), first on PATH |
| docker/setup-qemu-action | checks that binfmt_misc has the QEMU handler for the platform (the stack registers it) |
| docker/setup-buildx-action | selects the runner's builder: BUILDX_BUILDER for the job's `runs-on` label (`runners`) |
| docker/login-action | a real `docker login --password-stdin` with the evaluated inputs |
| actions/upload-artifact, actions/download-artifact | directory copies under the run's artifact folder |

Other actions (the Actions cache runtime, AWS logins) need GitHub's or AWS's services and raise `Unsupported`.
`permissions`, `concurrency` and `timeout-minutes` are GitHub's business and are not enforced here.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Json = Any


class Unsupported(Exception):
    """Something in the workflow this executor does not implement."""


class StepFailed(Exception):
    pass


# -- expressions ----------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||[!().,\[\]])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise Unsupported(f"expression {text!r}: cannot read at {text[pos:]!r}")
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _truthy(value: Json) -> bool:
    return value not in (None, False, 0, "", 0.0)


def _loose_equal(a: Json, b: Json) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()  # GitHub compares strings case-insensitively
    return bool(a == b)


class _Parser:
    def __init__(self, text: str, contexts: Mapping[str, Json], status: Callable[[str], bool]):
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0
        self.contexts = contexts
        self.status = status

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise Unsupported(f"expression {self.text!r}: expected {value or 'more'}")
        self.i += 1
        return token

    def parse(self) -> Json:
        value = self.or_()
        if self.peek() is not None:
            raise Unsupported(f"expression {self.text!r}: unexpected {self.peek()}")
        return value

    def or_(self) -> Json:
        value = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            value = value if _truthy(value) else right
        return value

    def and_(self) -> Json:
        value = self.cmp()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.cmp()
            value = right if _truthy(value) else value
        return value

    def cmp(self) -> Json:
        value = self.unary()
        while self.peek() in (("op", "=="), ("op", "!=")):
            op = self.take()[1]
            right = self.unary()
            same = _loose_equal(value, right)
            value = same if op == "==" else not same
        return value

    def unary(self) -> Json:
        if self.peek() == ("op", "!"):
            self.take()
            return not _truthy(self.unary())
        return self.primary()

    def primary(self) -> Json:
        kind, text = self.take()
        if kind == "op" and text == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind != "name":
            raise Unsupported(f"expression {self.text!r}: unexpected {text!r}")
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if self.peek() == ("op", "("):
            return self.call(text)
        if text not in self.contexts:
            raise Unsupported(f"expression {self.text!r}: context {text!r}")
        value = self.contexts[text]
        while self.peek() == ("op", "."):
            self.take()
            key = self.take()[1]
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def call(self, name: str) -> Json:
        self.take("(")
        args = []
        while self.peek() != ("op", ")"):
            args.append(self.or_())
            if self.peek() == ("op", ","):
                self.take()
        self.take(")")
        if name.lower() == "fromjson" and len(args) == 1:
            return json.loads(str(args[0]))
        if name in ("success", "always", "failure", "cancelled") and not args:
            return self.status(name)
        raise Unsupported(f"expression {self.text!r}: function {name}()")


def evaluate(
    expression: str,
    contexts: Mapping[str, Json],
    status: Callable[[str], bool] = lambda name: name in ("success", "always"),
) -> Json:
    """One expression (with or without its `${{ }}`)."""
    text = expression.strip()
    if text.startswith("${{") and text.endswith("}}") and text.count("${{") == 1:
        text = text[3:-2]
    return _Parser(text, contexts, status).parse()


def interpolate(value: Json, contexts: Mapping[str, Json]) -> Json:
    """`${{ … }}` in strings replaced by their values (a whole-string expression keeps its type)."""
    if isinstance(value, dict):
        return {k: interpolate(v, contexts) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, contexts) for v in value]
    if not isinstance(value, str) or "${{" not in value:
        return value
    whole = re.fullmatch(r"\$\{\{(.*?)\}\}", value.strip(), flags=re.S)
    if whole:
        return evaluate(whole.group(1), contexts)

    def one(m: re.Match[str]) -> str:
        got = evaluate(m.group(1), contexts)
        if isinstance(got, bool):
            return "true" if got else "false"
        return "" if got is None else got if isinstance(got, str) else json.dumps(got)

    return re.sub(r"\$\{\{(.*?)\}\}", one, value, flags=re.S)


def _condition(value: Json, contexts: Mapping[str, Json], status: Callable[[str], bool]) -> bool:
    """A job's or step's `if:` (default `success()`); a bare expression without `${{ }}` is allowed."""
    if value is None:
        return status("success")
    if isinstance(value, bool):
        return value
    text = str(value)
    result = evaluate(text, contexts, status)
    if not re.search(r"\b(success|always|failure|cancelled)\(\)", text):
        return status("success") and _truthy(result)
    return _truthy(result)


# -- the run --------------------------------------------------------------------------------------------
@dataclass
class JobRun:
    job: str
    matrix: dict[str, Json] | None
    result: str = "skipped"  # success, failure, skipped
    outputs: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.job + (f" ({json.dumps(self.matrix, sort_keys=True)})" if self.matrix else "")


@dataclass
class Event:
    """What triggered the run: `push` of a ref (refs/tags/v1.2.3, refs/heads/main) or a `pull_request`."""

    name: str
    ref: str
    sha: str
    pr: int | None = None
    base_ref: str = "main"
    default_branch: str = "main"

    def payload(self) -> dict[str, Json]:
        repo = {"default_branch": self.default_branch, "html_url": "https://github.com/acme/app"}
        if self.name == "pull_request":
            return {
                "number": self.pr,
                "pull_request": {"number": self.pr, "base": {"ref": self.base_ref}},
                "repository": repo,
            }
        return {"ref": self.ref, "after": self.sha, "repository": repo}


class LocalRunner:
    """Runs one workflow file for one event. `runners` maps each `runs-on` label to the buildx builder its
    machine has; `env` is the machine's environment (PATH with docker and buildx)."""

    def __init__(
        self,
        repository: Path,
        work: Path,
        event: Event,
        *,
        runners: Mapping[str, str],
        env: Mapping[str, str],
        secrets: Mapping[str, str] | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> None:
        self.repository = repository
        self.work = work
        self.event = event
        self.runners = dict(runners)
        self.env = dict(env)
        self.secrets = {"GITHUB_TOKEN": "local-token", **(secrets or {})}
        self.vars = dict(variables or {})
        self.artifacts = work / "artifacts"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    # GitHub's `github` context, the parts the generated files read
    def github(self, job: str) -> dict[str, Json]:
        ref = self.event.ref
        return {
            "event_name": self.event.name,
            "ref": ref,
            "ref_name": ref.split("/", 2)[-1]
            if ref.startswith(("refs/heads/", "refs/tags/"))
            else ref,
            "sha": self.event.sha,
            "actor": "octocat",
            "repository": "acme/app",
            "job": job,
            "event": self.event.payload(),
        }

    def triggered(self, workflow: Mapping[str, Json]) -> bool:
        """Whether the workflow's `on:` takes this event (push: branches/tags globs; pull_request)."""
        on = workflow.get("on", workflow.get(True))  # PyYAML reads a bare `on` as True
        if not isinstance(on, dict) or self.event.name not in on:
            return False
        rule = on[self.event.name] or {}
        if self.event.name != "push":
            return True
        ref = self.event.ref
        for prefix, key in (("refs/tags/", "tags"), ("refs/heads/", "branches")):
            if ref.startswith(prefix):
                globs = rule.get(key)
                return globs is None or any(fnmatch.fnmatch(ref[len(prefix) :], g) for g in globs)
        return False

    def run(self, workflow_file: Path) -> dict[str, list[JobRun]]:
        workflow = yaml.safe_load(workflow_file.read_text())
        if not self.triggered(workflow):
            raise Unsupported(
                f"{workflow_file} is not triggered by {self.event.name} {self.event.ref}"
            )
        jobs: dict[str, Json] = workflow["jobs"]
        done: dict[str, list[JobRun]] = {}
        order = list(jobs)
        while order:
            ready = [j for j in order if all(n in done for n in _needs(jobs[j]))]
            if not ready:
                raise Unsupported(f"jobs {order} wait on each other")
            for job_id in ready:
                order.remove(job_id)
                done[job_id] = self._run_job(job_id, jobs[job_id], workflow, done)
        return done

    def _run_job(
        self,
        job_id: str,
        job: Mapping[str, Json],
        workflow: Mapping[str, Json],
        done: Mapping[str, list[JobRun]],
    ) -> list[JobRun]:
        needs = _needs(job)
        needs_ok = all(r.result == "success" for n in needs for r in done[n])
        needs_ctx = {
            n: {
                "result": "success"
                if all(r.result == "success" for r in done[n])
                else "skipped"
                if all(r.result == "skipped" for r in done[n])
                else "failure",
                "outputs": {k: v for r in done[n] for k, v in r.outputs.items()},
            }
            for n in needs
        }
        base = {
            "github": self.github(job_id),
            "needs": needs_ctx,
            "secrets": self.secrets,
            "vars": self.vars,
            "env": dict(workflow.get("env") or {}),
            "matrix": {},
        }

        def status(name: str) -> bool:
            return {"success": needs_ok, "always": True, "failure": not needs_ok}.get(name, False)

        if not _condition(job.get("if"), base, status):
            return [JobRun(job_id, None, "skipped")]
        strategy = job.get("strategy") or {}
        matrices: list[dict[str, Json] | None] = [None]
        if "matrix" in strategy:
            matrix = interpolate(strategy["matrix"], base)
            if set(matrix) != {"include"}:
                raise Unsupported(f"job {job_id}: a matrix other than include: {sorted(matrix)}")
            matrices = list(matrix["include"])
        runs = [JobRun(job_id, m) for m in matrices]
        with ThreadPoolExecutor(max_workers=max(1, len(runs))) as pool:
            list(pool.map(lambda r: self._run_one(r, job, base), runs))
        return runs

    def _run_one(self, run: JobRun, job: Mapping[str, Json], base: Mapping[str, Json]) -> None:
        contexts: dict[str, Json] = {**base, "matrix": run.matrix or {}, "steps": {}}
        label = interpolate(job.get("runs-on"), contexts)
        if label not in self.runners:
            raise Unsupported(f"job {run.title}: no local runner for runs-on {label!r}")
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", run.title)[:80]
        home = Path(tempfile.mkdtemp(prefix=f"{slug}-", dir=self.work))
        workspace, temp = home / "workspace", home / "temp"
        workspace.mkdir()
        temp.mkdir()
        files = {name: temp / name for name in ("env", "path", "summary")}
        for path in files.values():
            path.touch()
        job_env = {k: str(v) for k, v in (interpolate(job.get("env") or {}, contexts)).items()}
        contexts["env"] = {**contexts["env"], **job_env}
        state = _JobState(label=label, workspace=workspace, temp=temp, files=files)
        failed = False
        for index, step in enumerate(job.get("steps") or []):
            status = {"success": not failed, "always": True, "failure": failed}
            if not _condition(step.get("if"), contexts, lambda n, s=status: s.get(n, False)):
                run.log.append(f"--- step {index} skipped: {step.get('name') or step.get('uses')}")
                continue
            try:
                outputs = self._step(run, step, contexts, state, index)
            except StepFailed as exc:
                run.log.append(f"--- step {index} failed: {exc}")
                failed = True
                continue
            if step.get("id"):
                contexts["steps"][step["id"]] = {"outputs": outputs, "outcome": "success"}
        run.result = "failure" if failed else "success"
        if not failed:
            run.outputs = {
                k: str(interpolate(v, contexts) or "")
                for k, v in (job.get("outputs") or {}).items()
            }

    def _env(self, run: JobRun, contexts: Mapping[str, Json], state: _JobState) -> dict[str, str]:
        env = {**self.env, **{k: str(v) for k, v in contexts["env"].items()}}
        env.update(state.exported)
        if state.paths:
            env["PATH"] = os.pathsep.join([*reversed(state.paths), env.get("PATH", "")])
        github = contexts["github"]
        event_path = state.temp / "event.json"
        event_path.write_text(json.dumps(github["event"]))
        env.update(
            {
                "CI": "true",
                "GITHUB_ACTIONS": "true",
                "GITHUB_EVENT_NAME": github["event_name"],
                "GITHUB_EVENT_PATH": str(event_path),
                "GITHUB_REF": github["ref"],
                "GITHUB_REF_NAME": github["ref_name"],
                "GITHUB_SHA": github["sha"],
                "GITHUB_REPOSITORY": github["repository"],
                "GITHUB_ACTOR": github["actor"],
                "GITHUB_JOB": run.job,
                "GITHUB_WORKSPACE": str(state.workspace),
                "GITHUB_ENV": str(state.files["env"]),
                "GITHUB_PATH": str(state.files["path"]),
                "GITHUB_STEP_SUMMARY": str(state.files["summary"]),
                "RUNNER_TEMP": str(state.temp),
            }
        )
        if self.event.name == "pull_request":
            env["GITHUB_BASE_REF"] = self.event.base_ref
        return env

    def _step(
        self,
        run: JobRun,
        step: Mapping[str, Json],
        contexts: dict[str, Json],
        state: _JobState,
        index: int,
    ) -> dict[str, str]:
        step_env = {k: str(v) for k, v in interpolate(step.get("env") or {}, contexts).items()}
        step_contexts = {**contexts, "env": {**contexts["env"], **step_env}}
        name = interpolate(step.get("name") or step.get("uses") or "run", step_contexts)
        run.log.append(f"--- step {index}: {name}")
        if "run" in step:
            script = interpolate(step["run"], step_contexts)
            output_file = state.temp / f"output-{index}"
            output_file.touch()
            env = {**self._env(run, step_contexts, state), "GITHUB_OUTPUT": str(output_file)}
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                cwd=state.workspace,
                env=env,
                capture_output=True,
                text=True,
                timeout=1200,
            )
            run.log.append(f"+ {script}\n{proc.stdout}{proc.stderr}")
            state.absorb()
            if proc.returncode != 0:
                raise StepFailed(f"exit {proc.returncode}")
            return _read_outputs(output_file)
        uses = str(step.get("uses", ""))
        action = uses.split("@", 1)[0]
        inputs = interpolate(step.get("with") or {}, step_contexts)
        stand_in = self._stand_ins().get(action)
        if stand_in is None:
            raise Unsupported(f"no local stand-in for {uses}")
        stand_in(run, inputs, step_contexts, state)
        state.absorb()
        return {}

    # -- stand-ins for actions that live on github.com ----------------------------------------------------
    def _stand_ins(
        self,
    ) -> dict[str, Callable[[JobRun, dict[str, Json], dict[str, Json], _JobState], None]]:
        return {
            "actions/checkout": self._checkout,
            "actions/setup-python": self._setup_python,
            "docker/setup-qemu-action": self._setup_qemu,
            "docker/setup-buildx-action": self._setup_buildx,
            "docker/login-action": self._login,
            "actions/upload-artifact": self._upload,
            "actions/download-artifact": self._download,
        }

    def _sh(self, run: JobRun, argv: list[str], state: _JobState, **kw: Any) -> None:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kw)
        run.log.append(f"+ {' '.join(argv)}\n{proc.stdout}{proc.stderr}")
        if proc.returncode != 0:
            raise StepFailed(f"{argv[0]}: exit {proc.returncode}")

    def _checkout(
        self, run: JobRun, inputs: dict[str, Json], ctx: dict[str, Json], state: _JobState
    ) -> None:
        shutil.rmtree(state.workspace)
        self._sh(
            run, ["git", "clone", "--quiet", str(self.repository), str(state.workspace)], state
        )
        self._sh(
            run,
            ["git", "-C", str(state.workspace), "checkout", "--quiet", "--detach", self.event.sha],
            state,
        )

    def _setup_python(
        self, run: JobRun, inputs: dict[str, Json], ctx: dict[str, Json], state: _JobState
    ) -> None:
        version = str(inputs.get("python-version", "3"))
        python = _find_python(version)
        venv = state.temp / f"python-{version}"
        self._sh(run, [python, "-m", "venv", str(venv)], state)
        state.paths.append(str(venv / "bin"))

    def _setup_qemu(
        self, run: JobRun, inputs: dict[str, Json], ctx: dict[str, Json], state: _JobState
    ) -> None:
        arch = {
            "arm64": "aarch64",
            "arm": "arm",
            "riscv64": "riscv64",
            "ppc64le": "ppc64le",
            "s390x": "s390x",
        }
        for platform in str(inputs.get("platforms", "")).split(","):
            parts = platform.strip().split("/")
            handler = Path("/proc/sys/fs/binfmt_misc") / f"qemu-{arch.get(parts[1], parts[1])}"
            if not handler.is_file():
                raise StepFailed(f"no QEMU binfmt handler for {platform} ({handler})")
            run.log.append(f"QEMU for {platform}: {handler}")

    def _setup_buildx(
        self, run: JobRun, inputs: dict[str, Json], ctx: dict[str, Json], state: _JobState
    ) -> None:
        builder = self.runners[state.label]
        state.exported["BUILDX_BUILDER"] = builder
        self._sh(run, ["docker", "buildx", "inspect", "--bootstrap", builder], state, env=self.env)

    def _login(
        self, run: JobRun, inputs: dict[str, Json], ctx: dict[str, Json], state: _JobState
    ) -> None:
        argv = ["docker", "login", "--username", str(inputs["username"]), "--password-stdin"]
        self._sh(
            run,
            [*argv, str(inputs["registry"])],
            state,
            input=str(inputs["password"]),
            env=self.env,
        )

    def _upload(
        self, run: JobRun, inputs: dict[str, Json], ctx: dict[str, Json], state: _JobState
    ) -> None:
        source = state.workspace / str(inputs["path"])
        files = [p for p in source.rglob("*") if p.is_file()] if source.is_dir() else []
        if not files and inputs.get("if-no-files-found", "warn") == "error":
            raise StepFailed(f"no files in {inputs['path']}")
        if not files:  # warn or ignore: no artifact, as upload-artifact does
            return
        with self._lock:
            target = self.artifacts / str(inputs["name"])
            if target.exists():
                raise StepFailed(f"artifact {inputs['name']} exists already")
            shutil.copytree(source, target)

    def _download(
        self, run: JobRun, inputs: dict[str, Json], ctx: dict[str, Json], state: _JobState
    ) -> None:
        pattern = str(inputs.get("pattern") or inputs.get("name") or "*")
        dest = state.workspace / str(inputs.get("path", "."))
        merge = _truthy(inputs.get("merge-multiple"))
        for artifact in sorted(self.artifacts.iterdir()):
            if fnmatch.fnmatch(artifact.name, pattern):
                shutil.copytree(
                    artifact, dest if merge else dest / artifact.name, dirs_exist_ok=True
                )


@dataclass
class _JobState:
    label: str
    workspace: Path
    temp: Path
    files: dict[str, Path]
    exported: dict[str, str] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)

    def absorb(self) -> None:
        """What steps wrote to $GITHUB_ENV and $GITHUB_PATH, for the steps after them."""
        self.exported.update(_read_outputs(self.files["env"]))
        for line in self.files["path"].read_text().splitlines():
            if line.strip() and line.strip() not in self.paths:
                self.paths.append(line.strip())


def _needs(job: Mapping[str, Json]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def _read_outputs(path: Path) -> dict[str, str]:
    """`name=value` lines and `name<<DELIMITER` blocks, as GitHub reads $GITHUB_OUTPUT and $GITHUB_ENV."""
    out: dict[str, str] = {}
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            i += 1
            while i < len(lines) and lines[i] != delimiter:
                block.append(lines[i])
                i += 1
            out[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        i += 1
    return out


def _find_python(version: str) -> str:
    """This machine's `python<version>`: on PATH if it runs, else pyenv's."""
    found = shutil.which(f"python{version}")
    if found and subprocess.run([found, "--version"], capture_output=True).returncode == 0:
        return found
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    for candidate in sorted(root.glob(f"versions/{version}.*/bin/python{version}"), reverse=True):
        return str(candidate)
    raise StepFailed(f"no python{version} on this machine")

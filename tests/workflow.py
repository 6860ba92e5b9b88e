"""A GitHub Actions workflow run on this machine: its jobs in the order of their `needs`,
each step as GitHub runs it.

A `run:` step runs as written: in a bash of GitHub's (`bash -e`, or `bash --noprofile
--norc -eo pipefail` for `shell: bash`), with the workflow's, job's and step's `env`, the
job's matrix value, its `working-directory`, and the files GitHub gives a step
(GITHUB_OUTPUT, GITHUB_ENV, GITHUB_STEP_SUMMARY). A `uses:` step runs a local equivalent
from ACTIONS, which does what the action does for that step; an action without one fails
the run. A step the caller lists in `not_run` (what this machine cannot serve, with the
reason) is reported "not run: <reason>" and gives the outputs listed with it; a listed step
the workflow does not have fails the run. `${{ }}` expressions are evaluated for the subset
of GitHub's expression language a workflow of the template uses: contexts, literals, ==, !=,
!, &&, ||, fromJSON, and the status functions.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import yaml

SHELLS = {
    None: ["bash", "-e"],
    "bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail"],
    "sh": ["sh", "-e"],
}
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
STATUS = re.compile(r"\b(success|failure|always|cancelled)\(\)")
TOKEN = re.compile(r"'(?:[^']|'')*'|&&|\|\||==|!=|!|[^'&|=!]+")


class StepFailed(AssertionError):
    """A step of the workflow failed: the message names the job, the step and its output."""


@dataclass(frozen=True)
class NotRun:
    """Why a step cannot run here, and the outputs the test gives in its place (if any)."""

    reason: str
    outputs: dict[str, str] = field(default_factory=dict)


class Scope(dict[str, Any]):
    """A context of GitHub's (`github`, `steps`, ...): a property that is not there is an
    empty Scope (GitHub's null), which reads as '' and equals no string."""

    def __getattr__(self, name: str) -> Any:
        value = self.get(name, {})
        return Scope(value) if isinstance(value, dict) else value


def evaluate(expression: str, contexts: dict[str, Any]) -> Any:
    """One expression (without `${{ }}`) in the given contexts."""
    python = []
    for token in TOKEN.findall(expression):
        if token.startswith("'"):
            python.append(repr(token[1:-1].replace("''", "'")))
        else:
            python.append({"&&": " and ", "||": " or ", "!": " not "}.get(token, token))
    names = {
        key: Scope(value) if isinstance(value, dict) else value for key, value in contexts.items()
    }
    names |= {"true": True, "false": False, "null": None, "fromJSON": json.loads}
    return eval("".join(python), {"__builtins__": {}}, names)


def substitute(value: Any, contexts: dict[str, Any]) -> Any:
    """`value` with every `${{ }}` evaluated: a whole-string expression keeps its type."""
    if isinstance(value, dict):
        return {key: substitute(item, contexts) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, contexts) for item in value]
    if not isinstance(value, str):
        return value
    whole = EXPRESSION.fullmatch(value.strip())
    if whole and len(EXPRESSION.findall(value)) == 1:
        return evaluate(whole.group(1), contexts)
    return EXPRESSION.sub(lambda m: as_text(evaluate(m.group(1), contexts)), value)


def holds(condition: str | None, contexts: dict[str, Any]) -> bool:
    """An `if:` (with or without `${{ }}`); one without a status function is GitHub's
    `success() && (...)`, none is `success()`."""
    text = EXPRESSION.sub(r"\1", condition or "success()")
    if not STATUS.search(text):
        text = f"success() && ({text})"
    return bool(evaluate(text, contexts))


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None or value == {}:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def read_commands_file(path: Path) -> dict[str, str]:
    """NAME=value and NAME<<DELIMITER ... DELIMITER entries of GITHUB_OUTPUT or GITHUB_ENV."""
    values: dict[str, str] = {}
    lines = iter(path.read_text().splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            values[name] = "\n".join(iter(lines.__next__, delimiter))
        elif "=" in line:
            name, text = line.split("=", 1)
            values[name] = text
    return values


@dataclass
class Job:
    """One job of the run (one matrix value of it): its folder, environment and steps' results."""

    run: WorkflowRun
    job_id: str
    spec: dict[str, Any]
    matrix: dict[str, Any]
    workspace: Path
    env: dict[str, str] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: bool = False

    def contexts(self) -> dict[str, Any]:
        return {
            "github": self.run.github(),
            "env": self.env,
            "vars": self.run.variables | self.run.environments.get(self.environment, {}),
            "inputs": self.run.inputs,
            "needs": self.run.needs_of(self.spec),
            "matrix": self.matrix,
            "steps": self.steps,
            "success": lambda: not self.failed,
            "failure": lambda: self.failed,
            "always": lambda: True,
            "cancelled": lambda: False,
        }

    @property
    def environment(self) -> str:
        """The GitHub environment the job deploys to ('' for none): its `vars` apply."""
        environment = self.spec.get("environment", "")
        return str(environment.get("name", "") if isinstance(environment, dict) else environment)

    @property
    def title(self) -> str:
        name = self.spec.get("name", self.job_id)
        return str(substitute(name, self.contexts()))

    def execute(self) -> dict[str, str]:
        """Every step whose `if` holds; the job's outputs. A failed step fails the run
        after the steps that run `always()`."""
        contexts = self.contexts()
        self.env = {
            k: as_text(v) for k, v in substitute(self.run.document.get("env", {}), contexts).items()
        }
        self.env |= {
            k: as_text(v) for k, v in substitute(self.spec.get("env", {}), self.contexts()).items()
        }
        failure: StepFailed | None = None
        for number, step in enumerate(self.spec["steps"], 1):
            name = (
                step.get("name")
                or step.get("uses", "").split("@")[0]
                or step["run"].splitlines()[0]
            )
            name = as_text(substitute(name, self.contexts()))
            if not holds(step.get("if"), self.contexts()):
                self.run.record(f"{self.title} / {name}: skipped (its if: is false)")
                continue
            not_run = self.run.not_run.get((self.job_id, name))
            if not_run is not None:
                self.run.unused.discard((self.job_id, name))
                given = (
                    f" (outputs given by the test: {not_run.outputs})" if not_run.outputs else ""
                )
                self.run.record(f"{self.title} / {name}: not run: {not_run.reason}{given}")
                if "id" in step:
                    self.steps[step["id"]] = {"outputs": dict(not_run.outputs)}
                continue
            started = time.monotonic()
            try:
                outputs = self.step(step)
                self.run.record(f"{self.title} / {name}: ran in {time.monotonic() - started:.0f} s")
            except StepFailed as error:
                self.failed = True
                failure = failure or StepFailed(
                    f"job {self.title!r}, step {number} {name!r}: {error}"
                )
                self.run.record(f"{self.title} / {name}: FAILED")
                outputs = {}
            if "id" in step:
                self.steps[step["id"]] = {"outputs": outputs}
        if failure:
            raise failure
        return {
            k: as_text(v)
            for k, v in substitute(self.spec.get("outputs", {}), self.contexts()).items()
        }

    def step(self, step: dict[str, Any]) -> dict[str, str]:
        files = {
            name: self.run.folder / f"{name.lower()}-{id(step)}"
            for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY")
        }
        for path in files.values():
            path.write_text("")
        contexts = self.contexts()
        env = {k: as_text(v) for k, v in substitute(step.get("env", {}), contexts).items()}
        environment = self.run.base_env() | self.env | env | {k: str(v) for k, v in files.items()}
        if "uses" in step:
            action = step["uses"].split("@")[0]
            if action not in ACTIONS:
                raise StepFailed(f"no local equivalent for the action {action}")
            ACTIONS[action](self, substitute(step.get("with", {}), contexts), environment)
        else:
            script = self.run.folder / f"step-{id(step)}.sh"
            script.write_text(as_text(substitute(step["run"], contexts)))
            defaults = self.run.document.get("defaults", {}) | self.spec.get("defaults", {})
            shell = step.get("shell", defaults.get("run", {}).get("shell"))
            folder = self.workspace / step.get("working-directory", ".")
            self.run.shell([*SHELLS[shell], str(script)], folder, environment, self.timeout)
        self.env |= read_commands_file(files["GITHUB_ENV"])
        return read_commands_file(files["GITHUB_OUTPUT"])

    @property
    def timeout(self) -> float:
        return 60.0 * float(self.spec.get("timeout-minutes", 360))


@dataclass
class WorkflowRun:
    """`workflow` (a path) triggered by `event` on `ref` of the git repository `repository`,
    run in `folder`. `env` is added to every step's environment (the runner's own);
    `variables` are the repository's `vars`, `environments` each GitHub environment's, and
    `inputs` those of a called or dispatched run (default: the inputs' defaults)."""

    repository: Path
    workflow: Path
    folder: Path
    event: str = "pull_request"
    ref: str = "refs/pull/1/merge"
    env: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    environments: dict[str, dict[str, str]] = field(default_factory=dict)
    inputs: dict[str, Any] | None = None
    not_run: dict[tuple[str, str], NotRun] = field(default_factory=dict)
    name: str = "example/project"
    log: list[str] = field(default_factory=list)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    results: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.document = yaml.safe_load(self.workflow.read_text())
        if self.inputs is None:  # PyYAML reads the key `on` as True
            triggers = self.document.get("on", self.document.get(True)) or {}
            declared = {}
            for trigger in ("workflow_dispatch", "workflow_call"):
                if isinstance(triggers, dict) and triggers.get(trigger):
                    declared |= triggers[trigger].get("inputs", {})
            self.inputs = {k: v.get("default") for k, v in declared.items()}
        self.unused = set(self.not_run)
        self.sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=self.repository,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def github(self) -> dict[str, Any]:
        return {
            "event_name": self.event,
            "ref": self.ref,
            "sha": self.sha,
            "repository": self.name,
            "run_id": "1",
            "server_url": "https://github.com",
        }

    def needs_of(self, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            job: {"outputs": self.outputs.get(job, {}), "result": self.results.get(job)}
            for job in needed(spec)
        }

    def record(self, line: str) -> None:
        self.log.append(line)
        print(line, flush=True)

    def base_env(self) -> dict[str, str]:
        return {
            **self.env,
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": self.event,
            "GITHUB_REF": self.ref,
            "GITHUB_SHA": self.sha,
            "GITHUB_REPOSITORY": self.name,
            "GITHUB_RUN_ID": "1",
            "GITHUB_SERVER_URL": "https://github.com",
            "RUNNER_OS": "Linux",
            "RUNNER_TEMP": str(self.folder),
        }

    def shell(self, command: list[str], cwd: Path, env: dict[str, str], timeout: float) -> None:
        try:
            result = subprocess.run(
                command,
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise StepFailed(
                f"timed out after {timeout:.0f} s (the job's timeout-minutes)"
            ) from error
        if result.returncode != 0:
            raise StepFailed(
                f"exit code {result.returncode}\n--- stdout\n{result.stdout[-6000:]}\n"
                f"--- stderr\n{result.stderr[-4000:]}"
            )

    def execute(self, only: set[str] | None = None) -> None:
        """The jobs (or those named in `only`) in the order of their `needs`."""
        for job_id in self.order(only):
            spec = self.document["jobs"][job_id]
            probe = Job(self, job_id, spec, {}, self.folder)
            if not holds(spec.get("if"), probe.contexts()):
                self.results[job_id] = "skipped"
                self.record(f"{probe.title}: skipped (its if: is false)")
                continue
            if "uses" in spec:
                raise StepFailed(f"job {job_id!r} calls {spec['uses']}: run that workflow instead")
            for matrix in self.matrix_values(probe):
                workspace = self.folder / "-".join([job_id, *map(str, matrix.values())])
                # A matrix job's outputs are those of its last value to finish, as on GitHub.
                self.outputs[job_id] = Job(self, job_id, spec, matrix, workspace).execute()
            self.results[job_id] = "success"
        if self.unused and only is None:
            raise StepFailed(f"not_run names steps the workflow does not have: {self.unused}")

    def matrix_values(self, probe: Job) -> list[dict[str, Any]]:
        matrix = substitute(probe.spec.get("strategy", {}).get("matrix", {}), probe.contexts())
        values: list[dict[str, Any]] = [{}]
        for key, items in matrix.items():
            values = [{**v, key: item} for v in values for item in items]
        return values

    def order(self, only: set[str] | None) -> list[str]:
        """The job ids, each after those it needs; a cycle or an unknown job fails at once."""
        jobs = self.document["jobs"]
        done: list[str] = []
        while len(done) < len(jobs):
            ready = [j for j in jobs if j not in done and set(needed(jobs[j])) <= set(done)]
            if not ready:
                raise StepFailed(f"jobs whose needs never finish: {sorted(set(jobs) - set(done))}")
            done += ready
        return [job for job in done if only is None or job in only]


def needed(spec: dict[str, Any]) -> list[str]:
    """A job's `needs`, a name or a list of names."""
    needs = spec.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def checkout(job: Job, given: dict[str, Any], env: dict[str, str]) -> None:
    """actions/checkout: the commit (or the step's `ref`), cloned into the job's own folder."""
    job.run.shell(
        ["git", "clone", "--quiet", str(job.run.repository), str(job.workspace)],
        job.run.folder,
        env,
        300,
    )
    if given.get("ref"):
        job.run.shell(["git", "checkout", "--quiet", given["ref"]], job.workspace, env, 60)


def on_path(tool: str) -> Callable[[Job, dict[str, Any], dict[str, str]], None]:
    """setup-uv and the like: the tool is already on the runner's PATH (no cache here)."""

    def check(_job: Job, _with: dict[str, Any], env: dict[str, str]) -> None:
        if shutil.which(tool, path=env.get("PATH")) is None:
            raise StepFailed(f"{tool} is not on the PATH")

    return check


def upload_artifact(job: Job, given: dict[str, Any], _: dict[str, str]) -> None:
    """actions/upload-artifact: the files matching `path`, copied to artifacts/<name>/."""
    patterns = [line.strip() for line in str(given["path"]).splitlines() if line.strip()]
    found = [
        p
        for p in job.workspace.rglob("*")
        if any(fnmatch(str(p.relative_to(job.workspace)), pattern) for pattern in patterns)
    ]
    if not found and given.get("if-no-files-found", "warn") == "error":
        raise StepFailed(f"no files match {patterns}")
    target = job.run.folder / "artifacts" / str(given["name"])
    target.mkdir(parents=True, exist_ok=True)
    for path in found:
        shutil.copy2(path, target / path.name)


def build_push(job: Job, given: dict[str, Any], env: dict[str, str]) -> None:
    """docker/build-push-action: a BuildKit build of the step's file, context, build args and
    tags, then `docker push` of each tag when `push` is true. The build goes through Docker
    Compose's builder (BuildKit), since the action's buildx has no package here."""
    tags = [t.strip() for t in str(given["tags"]).replace(",", "\n").splitlines() if t.strip()]
    arguments = [a.strip() for a in str(given.get("build-args", "")).splitlines() if a.strip()]
    build = {
        "context": str(job.workspace / str(given.get("context", "."))),
        "dockerfile": str(given["file"]),
        "args": dict(argument.split("=", 1) for argument in arguments),
        "tags": tags[1:],
        "network": "host",  # the tests' engine has no NAT (tests/stack/compose.test.yml)
    }
    compose = job.run.folder / f"build-{id(given)}.yml"
    compose.write_text(json.dumps({"services": {"image": {"image": tags[0], "build": build}}}))
    command = ["docker", "compose", "--file", str(compose), "build"]
    job.run.shell(command, job.workspace, env, job.timeout)
    if as_text(given.get("push", False)) == "true":
        for tag in tags:
            job.run.shell(["docker", "push", tag], job.workspace, env, job.timeout)


def configure_aws_credentials(job: Job, given: dict[str, Any], env: dict[str, str]) -> None:
    """aws-actions/configure-aws-credentials: AssumeRoleWithWebIdentity of `role-to-assume`
    at the STS the environment points at (AWS_ENDPOINT_URL), with a stand-in of GitHub's
    OIDC token; the session's keys and `aws-region` go into the job's environment."""
    import boto3  # only the runs that assume a role need it

    if not given.get("role-to-assume") or not given.get("aws-region"):
        raise StepFailed(f"role-to-assume and aws-region must be set, got {given}")
    sts = boto3.client("sts", region_name=given["aws-region"], endpoint_url=env["AWS_ENDPOINT_URL"])
    session = sts.assume_role_with_web_identity(
        RoleArn=given["role-to-assume"],
        RoleSessionName=f"GitHubActions-{job.job_id}",
        WebIdentityToken="a stand-in of the job's OIDC token",
    )["Credentials"]
    job.env |= {
        "AWS_REGION": given["aws-region"],
        "AWS_DEFAULT_REGION": given["aws-region"],
        "AWS_ACCESS_KEY_ID": session["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": session["SecretAccessKey"],
        "AWS_SESSION_TOKEN": session["SessionToken"],
    }


ACTIONS: dict[str, Callable[[Job, dict[str, Any], dict[str, str]], None]] = {
    "actions/checkout": checkout,
    "astral-sh/setup-uv": on_path("uv"),
    "actions/setup-node": on_path("node"),
    "aws-actions/configure-aws-credentials": configure_aws_credentials,
    "actions/upload-artifact": upload_artifact,
    "docker/setup-buildx-action": on_path("docker"),
    "docker/build-push-action": build_push,
}

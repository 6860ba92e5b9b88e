"""The generated `.github/workflows/ci.yml` run for real: its jobs, step by step, on the
default project as its team pushes it, on this machine (tests/workflow.py says how each
step runs). The `test` job runs the project's whole suite from a fresh clone, with no
`make setup` before it, as on GitHub; the `images` job builds every image on the tests'
own Docker engine with the tags the workflow computes.

The run is a pull request's: the `images` job builds without pushing and without AWS
credentials, and the `deploy` job (main only) is skipped by its `if:`.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.conftest import tool_env
from tests.stack_engine import Engine
from tests.stand_ins import provide, third_party_images
from tests.workflow import StepFailed, WorkflowRun

pytestmark = pytest.mark.slow


def runner_env(folder: Path, engine: Engine | None = None) -> dict[str, str]:
    """A GitHub runner's environment here: the tools on the PATH, a passwordless `sudo`
    (this machine runs the tests as root and has none) and the tests' Docker engine."""
    tools = folder / "runner-tools"
    tools.mkdir()
    sudo = tools / "sudo"
    sudo.write_text('#!/bin/sh\nexec "$@"\n')
    sudo.chmod(sudo.stat().st_mode | stat.S_IEXEC)
    env = tool_env() | (engine.env() if engine else {})
    env.pop("CI", None)  # the workflow sets its own
    return env | {"PATH": f"{tools}{os.pathsep}{env['PATH']}"}


def test_every_job_of_the_ci_workflow_passes(pushed: Path, engine: Engine, tmp_path: Path) -> None:
    provide(engine, third_party_images(pushed), print)
    run = WorkflowRun(
        pushed,
        pushed / ".github" / "workflows" / "ci.yml",
        tmp_path,
        env=runner_env(tmp_path, engine),
    )
    run.execute()
    assert run.results == {
        "quality": "success",
        "test": "success",
        "plan": "success",
        "images": "success",
        "deploy": "skipped",
    }, "\n".join(run.log)
    facts = run.outputs["plan"]
    assert facts["image_tag"] == f"{facts['version']}-{run.sha[:12]}"
    assert sorted(json.loads(facts["images"])) == sorted(
        path.stem for path in (pushed / "docker").glob("*.Dockerfile")
    )
    for image in json.loads(facts["images"]):
        tag = f"local/{facts['project']}/{image}:{facts['image_tag']}"
        revision = engine.docker(
            "image", "inspect", tag, "--format",
            '{{ index .Config.Labels "org.opencontainers.image.revision" }}',
        ).stdout.strip()  # fmt: skip
        assert revision == run.sha, f"{tag} is not built from the pushed commit"
    assert any(
        line.endswith("AWS credentials (OIDC): skipped (its if: is false)") for line in run.log
    )
    coverage = tmp_path / "artifacts" / "coverage"
    assert {path.name for path in coverage.iterdir()} == {"coverage.xml", "junit.xml"}


def test_a_broken_step_fails_the_run_and_is_named(pushed: Path, tmp_path: Path) -> None:
    workflow = tmp_path / "ci.yml"
    text = (pushed / ".github" / "workflows" / "ci.yml").read_text()
    assert 'deploy/release-facts.sh "$GITHUB_SHA"' in text
    workflow.write_text(
        text.replace('release-facts.sh "$GITHUB_SHA"', 'release-facts.sh "$GITHUB_REF"')
    )
    run = WorkflowRun(pushed, workflow, tmp_path / "run", env=runner_env(tmp_path))
    run.folder.mkdir()
    with pytest.raises(StepFailed) as failed:
        run.execute(only={"plan"})
    message = str(failed.value)
    assert "job 'Release facts', step 2 'Version, image tag, images'" in message
    assert "refs/pull/1/merge is not a git commit hash" in message

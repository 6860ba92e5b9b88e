"""Where the heavy steps run: in this process, or as ECS tasks of the project's image.

The one place of the steps' names: the ECS task definition family of each step, the
command its container runs (the project's own CLI, `python -m src step ...`) and where
the container leaves the step's result for whoever waits for it. The deployment stack that
creates one task definition per step imports `task_definition_family` and `ECS_STEPS`
from here, so the names it creates and the names the launches ask for cannot drift apart.
"""

from __future__ import annotations

from typing import Literal, get_args

from src.data.lake import DataInterval
from src.errors import ConfigError

REPO_NAME = "{{ cookiecutter.repo_name }}"

# Every step that may run in a container of its own: the medallion steps, training, batch
# inference of a day and the drift check. Each has its own task definition (CPU, memory,
# role), because each reads and writes different data.
EcsStep = Literal["bronze", "silver", "gold", "training", "batch-inference", "drift-check"]
ECS_STEPS: tuple[EcsStep, ...] = get_args(EcsStep)

# The container of each task definition that runs the step (the training image, whose
# ENTRYPOINT is the CLI), and the awslogs stream prefix its log configuration sets.
CONTAINER_NAME = "step"
LOG_STREAM_PREFIX = CONTAINER_NAME


def parse_step(name: str) -> EcsStep:
    """A step name from the command line; anything else is a ConfigError naming the choices."""
    for step in ECS_STEPS:
        if step == name:
            return step
    raise ConfigError(f"unknown step {name!r}; choose one of {', '.join(ECS_STEPS)}")


def task_family(project: str, environment: str, task: str) -> str:
    """`<project>-<environment>-<task>`: every ECS task definition family of the project
    (the stacks of infra/ name theirs with it too)."""
    return f"{project}-{environment}-{task}"


def task_definition_family(step: EcsStep, environment: str, repo_name: str = REPO_NAME) -> str:
    """`<repo_name>-<environment>-<step>`: the ECS task definition family of a step."""
    if step not in ECS_STEPS:
        raise ConfigError(f"unknown step {step!r}; choose one of {', '.join(ECS_STEPS)}")
    if not environment or not environment.replace("-", "").isalnum():
        raise ConfigError(f"environment {environment!r} must be letters, digits and dashes")
    return task_family(repo_name, environment, step)


def result_key(runs_prefix: str, flow_id: str, run_id: str, step_id: str) -> str:
    """Object store key of the JSON result a step's container writes for one run."""
    # Run ids hold ':' and '+' (manual__2025-01-01T00:00:00+00:00): keep keys plain.
    safe_run = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    return f"{runs_prefix}/{flow_id}/{safe_run}/{step_id}.json"


def container_command(
    step: EcsStep, interval: DataInterval, result: str, reason: str | None = None
) -> list[str]:
    """The command override of a step's container: the CLI's arguments for the step.

    The training image's ENTRYPOINT is `python -m src` (docker/training.Dockerfile) and an
    ECS command override replaces only its CMD, so the container runs
    `python -m src step <step> --start ... --end ... --result-key ...`.
    """
    command = [
        "step",
        step,
        "--start",
        interval.start.isoformat(),
        "--end",
        interval.end.isoformat(),
        "--result-key",
        result,
    ]
    return [*command, "--reason", reason] if reason else command

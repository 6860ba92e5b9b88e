"""Names of the AWS resources of an environment: the stacks, the CD and the docs agree on them."""

from __future__ import annotations

from src.orchestration import task_family as task_family


def cluster_name(project: str, environment: str) -> str:
    return f"{project}-{environment}"


def service_name(project: str, component: str) -> str:
    return f"{project}-{component}"


def role_name(project: str, environment: str, purpose: str) -> str:
    return f"{project}-{environment}-{purpose}"


def log_group_name(project: str, environment: str) -> str:
    return f"/ecs/{project}/{environment}"


def parameter_name(project: str, environment: str, name: str) -> str:
    return f"/{project}/{environment}/{name}"


def secret_name(project: str, environment: str, name: str) -> str:
    return f"{project}/{environment}/{name}"


def discovery_namespace(project: str, environment: str) -> str:
    return f"{environment}.{project}.internal"

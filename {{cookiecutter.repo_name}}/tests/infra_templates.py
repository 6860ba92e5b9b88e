"""The CDK app synthesized once per test session (Node.js runs it: tens of seconds), and
readers of its templates with CloudFormation's references resolved to plain strings."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from src.names import REPO_NAME
from src.settings import Settings

Template = dict[str, Any]
# moto's account: the step-access test compares recorded calls with the roles' ARNs.
ACCOUNT = "123456789012"
{%- if cookiecutter.ci_provider == "github" %}
GITHUB_REPOSITORY = "example-org/example-repo"
{%- endif %}


@dataclass(frozen=True)
class Synthesized:
    directory: Path
    settings: Settings
    templates: dict[str, Template]  # by stack: shared, staging, production
    clean: bool  # no cdk-nag finding


def synthesize_app(outdir: Path) -> Synthesized | str:
    """The app's templates, or why it cannot be synthesized on this machine."""
    if shutil.which("node") is None:
        return "the AWS CDK runs on Node.js: no `node` on PATH"
    from infra.app import build_app, synthesize
    from infra.environments import ENVIRONMENTS

    settings = Settings(_env_file=None)
    # The API serves HTTPS only: every environment needs a certificate. Staging starts with no
    # API task, as the first deployment of docs/deployment.md does (API_DESIRED_COUNT=0).
    region = settings.aws.region
    environments = {
        name: replace(
            sizing,
            certificate_arn=f"arn:aws:acm:{region}:{ACCOUNT}:certificate/{name}",
            api_desired_count=0 if name == "staging" else sizing.api_desired_count,
        )
        for name, sizing in ENVIRONMENTS.items()
    }
{%- if cookiecutter.ci_provider == "github" %}
    settings.aws.github_repository = GITHUB_REPOSITORY
{%- endif %}
    assembly = synthesize(build_app(settings, environments, str(outdir)))
    templates = {
        path.name.removesuffix(".template.json").removeprefix(f"{REPO_NAME}-"): json.loads(
            path.read_text()
        )
        for path in outdir.glob("*.template.json")
    }
    return Synthesized(outdir, settings, templates, assembly is not None)


def resolve(value: Any) -> Any:
    """The partition and account (moto's) filled in, other references as `<LogicalId>`."""
    if isinstance(value, list):
        return [resolve(item) for item in value]
    if not isinstance(value, dict):
        return value
    pseudo = {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT}
    if set(value) == {"Ref"}:
        return pseudo.get(value["Ref"], f"<{value['Ref']}>")
    if set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(str(resolve(part)) for part in parts)
    if set(value) == {"Fn::GetAtt"}:
        return f"<{value['Fn::GetAtt'][0]}>"
    return {key: resolve(item) for key, item in value.items()}


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    """Logical id -> Properties of every resource of one CloudFormation type."""
    return {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """A policy's statements, resolved, with Action and Resource always lists."""
    found = []
    for statement in resolve(document["Statement"]):
        for key in ("Action", "Resource"):
            if isinstance(statement.get(key), str):
                statement[key] = [statement[key]]
        found.append(statement)
    return found


def role_statements(template: Template, role_name: str) -> list[dict[str, Any]]:
    """What the role of that name may do: its inline policies and the policies attached."""
    (logical_id,) = (
        logical_id
        for logical_id, role in resources(template, "AWS::IAM::Role").items()
        if role.get("RoleName") == role_name
    )
    role = template["Resources"][logical_id]["Properties"]
    documents = [policy["PolicyDocument"] for policy in role.get("Policies", [])]
    documents += [
        policy["PolicyDocument"]
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": logical_id} in policy["Roles"]
    ]
    return [found for document in documents for found in statements(document)]


def every_statement(template: Template) -> list[dict[str, Any]]:
    """Every statement of every identity policy of a template."""
    roles = resources(template, "AWS::IAM::Role").values()
    documents = [policy["PolicyDocument"] for role in roles for policy in role.get("Policies", [])]
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        documents += [policy["PolicyDocument"] for policy in resources(template, kind).values()]
    return [found for document in documents for found in statements(document)]


def managed_policy(template: Template, name: str) -> list[dict[str, Any]]:
    (policy,) = (
        policy
        for policy in resources(template, "AWS::IAM::ManagedPolicy").values()
        if policy["ManagedPolicyName"] == name
    )
    return statements(policy["PolicyDocument"])

"""The CDK app synthesized once per test session, and readers for its templates.

Synthesis starts Node.js (jsii) and takes tens of seconds, so the tests share one run
and assert on the templates it writes.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src.settings import Settings

Template = dict[str, Any]
{%- if cookiecutter.ci_provider == "github" %}
# The repository the GitHub OIDC roles trust in the tests.
GITHUB_REPOSITORY = "example-org/example-repo"
{%- endif %}
ACCOUNT = "<account>"
# The stacks name their region (config/aws_config.yaml) and leave the account open.
PSEUDO_PARAMETERS = {
    "AWS::Partition": "aws",
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": Settings(_env_file=None).aws.region,
    "AWS::URLSuffix": "amazonaws.com",
}


@dataclass(frozen=True)
class Synthesized:
    directory: Path
    project: str
    settings: Settings
    templates: dict[str, Template]
    errors: list[str]

    def stack(self, environment: str) -> Template:
        return self.templates[f"{self.project}-{environment}"]


def synthesize_app(outdir: Path) -> Synthesized | str:
    """The app's templates, or why it cannot be synthesized on this machine."""
    if shutil.which("node") is None:
        return "the AWS CDK runs on Node.js: no `node` on PATH"
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from infra.app import build_app, read_project_name, synthesize

    settings = Settings(_env_file=None)
{%- if cookiecutter.ci_provider == "github" %}
    settings.aws.github_repository = GITHUB_REPOSITORY
{%- endif %}
    assembly, errors = synthesize(build_app(settings, outdir=str(outdir)))
    templates = {
        path.name.removesuffix(".template.json"): json.loads(path.read_text())
        for path in outdir.glob("*.template.json")
    }
    del assembly
    return Synthesized(outdir, read_project_name(), settings, templates, errors)


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    """Logical id -> Properties of every resource of one CloudFormation type."""
    return {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def resolve(value: Any, template: Template) -> Any:
    """A template value as text: pseudo parameters filled in, other references as <Id>."""
    if isinstance(value, list):
        return [resolve(item, template) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        name = value["Ref"]
        return PSEUDO_PARAMETERS.get(name, f"<{name}>")
    if set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(str(resolve(part, template)) for part in parts)
    if set(value) == {"Fn::GetAtt"}:
        return "<{}>".format(".".join(value["Fn::GetAtt"]))
    return {key: resolve(item, template) for key, item in value.items()}


def statements(template: Template, policy: dict[str, Any]) -> list[dict[str, Any]]:
    """A policy document's statements with Action and Resource always lists, resolved."""
    found = []
    for statement in policy["Statement"]:
        resolved = resolve(statement, template)
        for key in ("Action", "Resource"):
            if isinstance(resolved.get(key), str):
                resolved[key] = [resolved[key]]
        found.append(resolved)
    return found


def role_statements(template: Template, role_name: str) -> list[dict[str, Any]]:
    """Every statement granted to the role of that name: inline policies and attached ones."""
    roles = {
        properties.get("RoleName"): logical_id
        for logical_id, properties in resources(template, "AWS::IAM::Role").items()
    }
    logical_id = roles[role_name]
    role = template["Resources"][logical_id]["Properties"]
    found = [
        statement
        for policy in role.get("Policies", [])
        for statement in statements(template, policy["PolicyDocument"])
    ]
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": logical_id} in policy.get("Roles", []):
            found += statements(template, policy["PolicyDocument"])
    return found

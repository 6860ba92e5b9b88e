"""Prometheus, Pushgateway and Alertmanager on this machine, without Docker.

`make monitoring-local` runs Debian's `prometheus`, `prometheus-pushgateway` and (when
installed) `prometheus-alertmanager` against the local API. Their configuration is derived
from the compose stack's files under monitoring/, with local addresses, so both stacks load
the same alert rules. The integration tests start the same processes through this module.
"""

from __future__ import annotations

import shutil
import signal
import subprocess  # nosec B404  # starts the monitoring binaries with fixed argument lists
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import URLError

import typer
import yaml

from src.errors import ProjectError
from src.settings import PROJECT_ROOT, get_settings

MONITORING_DIR = PROJECT_ROOT / "monitoring"
PROMETHEUS_CONFIG = MONITORING_DIR / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = MONITORING_DIR / "alertmanager" / "alertmanager.yml"
ALERTMANAGER_TEMPLATES = MONITORING_DIR / "alertmanager"
STATE_DIR = PROJECT_ROOT / ".monitoring"

# Debian's names first, then the upstream release names.
BINARIES = {
    "prometheus": ("prometheus",),
    "pushgateway": ("prometheus-pushgateway", "pushgateway"),
    "alertmanager": ("prometheus-alertmanager", "alertmanager"),
}
INSTALL_HINT = "apt-get install prometheus prometheus-pushgateway prometheus-alertmanager"


def find_binary(component: str) -> str | None:
    for name in BINARIES[component]:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_binary(component: str) -> str:
    path = find_binary(component)
    if path is None:
        raise ProjectError(f"{component} is not installed; on Debian/Ubuntu: {INSTALL_HINT}")
    return path


@dataclass(frozen=True)
class Addresses:
    """host:port of each service the local Prometheus talks to."""

    api: str
    pushgateway: str
    prometheus: str
    alertmanager: str | None = None


def local_prometheus_config(
    addresses: Addresses,
    rules_file: Path,
    scrape_interval: str | None = None,
    evaluation_interval: str | None = None,
) -> dict[str, Any]:
    """The compose stack's prometheus.yml with local targets and an absolute rules path."""
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = {
        "prometheus": addresses.prometheus,
        "api": addresses.api,
        "pushgateway": addresses.pushgateway,
    }
    for job in config["scrape_configs"]:
        if job["job_name"] not in targets:
            raise ProjectError(f"{PROMETHEUS_CONFIG} has an unknown job {job['job_name']!r}")
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    config["rule_files"] = [str(rules_file)]
    if addresses.alertmanager:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": [addresses.alertmanager]}]}]
        }
    else:
        config.pop("alerting", None)
    if scrape_interval:
        config["global"]["scrape_interval"] = scrape_interval
    if evaluation_interval:
        config["global"]["evaluation_interval"] = evaluation_interval
    return config


def write_prometheus_config(
    folder: Path,
    addresses: Addresses,
    scrape_interval: str | None = None,
    evaluation_interval: str | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rules = MONITORING_DIR / "prometheus" / "alerts.yml"
    config = local_prometheus_config(addresses, rules, scrape_interval, evaluation_interval)
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def write_alertmanager_config(folder: Path, webhook_url: str | None) -> Path:
    """alertmanager.yml with local paths; without a webhook the receiver only records alerts."""
    folder.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    config["templates"] = [str(ALERTMANAGER_TEMPLATES / "*.tmpl")]
    for receiver in config["receivers"]:
        if not webhook_url:
            receiver.pop("slack_configs", None)
            continue
        secret = folder / "alert_webhook_url"
        secret.touch(mode=0o600)
        secret.write_text(webhook_url)
        for slack in receiver.get("slack_configs", []):
            slack["api_url_file"] = str(secret)
    path = folder / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes], name: str, log: Path, timeout: float = 60
) -> None:
    """Poll `url` until it answers 200; fail early when the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProjectError(f"{name} exited with code {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  # nosec B310
                if response.status == 200:
                    return
        except (URLError, OSError):
            pass
        time.sleep(0.2)
    raise ProjectError(f"{url} did not answer within {timeout:.0f} s")


@contextmanager
def running(command: list[str], ready_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run one server until the block ends; stops it with SIGTERM (then SIGKILL)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603  # nosec B603  # fixed binary and flags
            command, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            wait_until_ready(ready_url, process, Path(command[0]).name, log)
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def run_pushgateway(address: str, log: Path) -> Any:
    command = [
        require_binary("pushgateway"),
        f"--web.listen-address={address}",
        # Debian's default persistence file is the system one; keep pushes in memory.
        "--persistence.file=",
    ]
    return running(command, f"http://{address}/-/ready", log)


def run_prometheus(config: Path, storage: Path, address: str, log: Path) -> Any:
    command = [
        require_binary("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={storage}",
        f"--web.listen-address={address}",
    ]
    return running(command, f"http://{address}/-/ready", log)


def run_alertmanager(config: Path, storage: Path, address: str, log: Path) -> Any:
    command = [
        require_binary("alertmanager"),
        f"--config.file={config}",
        f"--storage.path={storage}",
        f"--web.listen-address={address}",
        # A single local instance: no gossip port to bind.
        "--cluster.listen-address=",
    ]
    return running(command, f"http://{address}/-/ready", log)


def stop_on_sigterm(signum: int, frame: object) -> None:
    # `docker stop`, systemd and process managers send SIGTERM: stop the servers as on Ctrl-C.
    raise KeyboardInterrupt


def main(
    prometheus_port: int = typer.Option(9090, help="Prometheus port."),
    pushgateway_port: int = typer.Option(9091, help="Pushgateway port."),
    alertmanager_port: int = typer.Option(9093, help="Alertmanager port (when installed)."),
) -> None:
    """Run the monitoring stack locally until Ctrl-C, scraping the API of `make serve`."""
    settings = get_settings()
    webhook = settings.alert_webhook_url
    with_alertmanager = find_binary("alertmanager") is not None
    addresses = Addresses(
        api=f"{settings.api.host}:{settings.api.port}",
        pushgateway=f"127.0.0.1:{pushgateway_port}",
        prometheus=f"127.0.0.1:{prometheus_port}",
        alertmanager=f"127.0.0.1:{alertmanager_port}" if with_alertmanager else None,
    )
    config = write_prometheus_config(STATE_DIR, addresses)
    with ExitStack() as stack:
        stack.enter_context(run_pushgateway(addresses.pushgateway, STATE_DIR / "pushgateway.log"))
        if addresses.alertmanager:
            am_config = write_alertmanager_config(
                STATE_DIR, webhook.get_secret_value() if webhook else None
            )
            stack.enter_context(
                run_alertmanager(
                    am_config,
                    STATE_DIR / "alertmanager-data",
                    addresses.alertmanager,
                    STATE_DIR / "alertmanager.log",
                )
            )
        stack.enter_context(
            run_prometheus(
                config,
                STATE_DIR / "prometheus-data",
                addresses.prometheus,
                STATE_DIR / "prometheus.log",
            )
        )
        typer.echo(
            f"Prometheus http://{addresses.prometheus} (scraping the API at {addresses.api}), "
            f"Pushgateway http://{addresses.pushgateway}"
            + (f", Alertmanager http://{addresses.alertmanager}" if addresses.alertmanager else "")
            + f"; logs in {STATE_DIR}. Set PUSHGATEWAY_URL=http://{addresses.pushgateway} "
            "for `make drift-check`. Ctrl-C stops them."
        )
        signal.signal(signal.SIGTERM, stop_on_sigterm)
        try:
            signal.pause()
        except KeyboardInterrupt:
            typer.echo("monitoring stack stopped")


if __name__ == "__main__":
    try:
        typer.run(main)
    except ProjectError as error:
        typer.echo(f"error: {error}", err=True)
        raise SystemExit(1) from None

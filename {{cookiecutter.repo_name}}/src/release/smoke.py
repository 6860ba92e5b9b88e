"""Smoke test of a deployed prediction API: what the CD runs against staging and production.

Liveness, readiness (polled until a deadline, a new deployment may still be loading its
model), the expected model version when one is given, one real prediction with every
feature of the feature view, and the metrics endpoint Prometheus scrapes.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from src.errors import ProjectError

API_KEY_HEADER = "X-API-Key"


@dataclass(frozen=True)
class SmokeResult:
    url: str
    model_version: str
    prediction: Any


def read_feature_names(features_file: Path) -> list[str]:
    """The request contract: the feature names of config/features.yaml."""
    content = yaml.safe_load(features_file.read_text())
    try:
        return [str(feature["name"]) for feature in content["features"]]
    except (KeyError, TypeError) as error:
        raise ProjectError(f"{features_file} has no list of features with names") from error


def call(
    url: str, api_key: str | None, body: dict[str, Any] | None = None, timeout: float = 10
) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if api_key:
        headers[API_KEY_HEADER] = api_key
    data = json.dumps(body).encode() if body is not None else None
    if not url.startswith(("http://", "https://")):
        raise ProjectError(f"{url} is not an http(s) URL")
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()
    except OSError as error:
        raise ProjectError(f"{url} did not answer: {error}") from error


def wait_until_ready(base_url: str, api_key: str | None, deadline_seconds: float) -> str:
    """The model version /ready reports, polled until `deadline_seconds` have passed."""
    deadline = time.monotonic() + deadline_seconds
    last = "no answer"
    while True:
        try:
            status, body = call(f"{base_url}/ready", api_key)
            if status == 200:
                return str(json.loads(body)["model_version"])
            last = f"HTTP {status}: {body[:200].decode(errors='replace')}"
        except ProjectError as error:
            last = str(error)
        if time.monotonic() >= deadline:
            raise ProjectError(
                f"{base_url}/ready not ready after {deadline_seconds:.0f} s ({last})"
            )
        time.sleep(2)


def run_smoke_test(
    base_url: str,
    features_file: Path,
    expected_version: str | None = None,
    api_key: str | None = None,
    ready_timeout: float = 120,
) -> SmokeResult:
    base_url = base_url.rstrip("/")
    status, _ = call(f"{base_url}/health", api_key)
    if status != 200:
        raise ProjectError(f"{base_url}/health answered HTTP {status}")
    version = wait_until_ready(base_url, api_key, ready_timeout)
    if expected_version is not None and version != expected_version:
        raise ProjectError(f"{base_url} serves model v{version}, not v{expected_version}")
    features = dict.fromkeys(read_feature_names(features_file), 0.0)
    status, body = call(f"{base_url}/predict", api_key, {"features": features})
    if status != 200:
        raise ProjectError(f"POST {base_url}/predict answered HTTP {status}: {body[:300]!r}")
    answer = json.loads(body)
    if str(answer.get("model_version")) != version or "prediction" not in answer:
        raise ProjectError(f"POST {base_url}/predict answered {answer!r}")
    status, body = call(f"{base_url}/metrics", api_key)
    if status != 200 or b"# TYPE" not in body:
        raise ProjectError(f"{base_url}/metrics answered HTTP {status} without Prometheus metrics")
    return SmokeResult(base_url, version, answer["prediction"])

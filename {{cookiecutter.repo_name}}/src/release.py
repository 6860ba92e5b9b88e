"""`python -m src.release URL`: the CD's smoke test of a deployed prediction API.

Liveness, readiness (polled: a new deployment may still be loading its model), the expected
model version if given, and one prediction with every feature of config/features.yaml.
Standard library and PyYAML only: the CD runs it without installing the project.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

FEATURES_FILE = Path(__file__).resolve().parents[1] / "config" / "features.yaml"
# A valid value per contract dtype; a feature with allowed `values` sends its first one.
SAMPLE_VALUES = {"float64": 0.0, "int64": 0, "string": "", "bool": False}


class SmokeTestError(Exception):
    pass


def call(url: str, api_key: str | None, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """(status, JSON answer or None) of one request."""
    if not url.startswith(("http://", "https://")):
        raise SmokeTestError(f"{url} is not an http(s) URL")
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["X-API-Key"] = api_key
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # nosec B310
            status, content = int(response.status), response.read()
    except urllib.error.HTTPError as error:
        status, content = int(error.code), error.read()
    except OSError as error:
        raise SmokeTestError(f"{url} did not answer: {error}") from error
    try:
        return status, json.loads(content)
    except ValueError:
        return status, None


def sample_request() -> dict[str, Any]:
    """A request of the contract: one valid value per feature."""
    features = yaml.safe_load(FEATURES_FILE.read_text())["features"]
    values = {str(f["name"]): (f.get("values") or [SAMPLE_VALUES[f["dtype"]]])[0] for f in features}
    return {"features": values}


def run_smoke_test(
    url: str, expected_version: str | None = None, api_key: str | None = None, wait: float = 120
) -> str:
    """Smoke-test the API at `url`; returns the model version it serves."""
    url = url.rstrip("/")
    if call(f"{url}/health", api_key)[0] != 200:
        raise SmokeTestError(f"{url}/health does not answer 200")
    deadline = time.monotonic() + wait
    while (answer := call(f"{url}/ready", api_key))[0] != 200:
        if time.monotonic() >= deadline:
            raise SmokeTestError(f"{url}/ready not ready after {wait:.0f} s: {answer}")
        time.sleep(2)
    version = str(answer[1]["model_version"])
    if expected_version is not None and version != expected_version:
        raise SmokeTestError(f"{url} serves model v{version}, not v{expected_version}")
    status, prediction = call(f"{url}/predict", api_key, sample_request())
    if status != 200 or str((prediction or {}).get("model_version")) != version:
        raise SmokeTestError(f"POST {url}/predict answered HTTP {status}: {prediction}")
    return version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.release", description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--expect-version", help="fail unless this model version is served")
    parser.add_argument("--wait", type=float, default=120, help="seconds to wait for /ready")
    parser.add_argument("--output", type=Path, help="append model_version=<v> to this file")
    arguments = parser.parse_args(argv)
    # The key comes from the environment, never the command line (CI logs show commands).
    api_key = os.environ.get("SMOKE_API_KEY") or None
    try:
        version = run_smoke_test(arguments.url, arguments.expect_version, api_key, arguments.wait)
    except SmokeTestError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if arguments.output:
        with arguments.output.open("a") as output:
            output.write(f"model_version={version}\n")
    print(f"smoke test of {arguments.url} passed: model v{version} predicts")
    return 0


if __name__ == "__main__":
    sys.exit(main())

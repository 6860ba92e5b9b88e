"""`python -m src.release facts | smoke`: the steps of the CI/CD workflows.

Each prints one summary line (or the requested output) and exits 1 with one `error:` line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from src.errors import ProjectError
from src.release.manifest import build_manifest
from src.release.smoke import run_smoke_test

ROOT = Path(__file__).resolve().parents[2]


def print_facts(arguments: argparse.Namespace) -> None:
    manifest = build_manifest(ROOT, arguments.commit)
    facts = {
        "project": manifest.project,
        "version": manifest.version,
        "commit": manifest.commit,
        "image_tag": manifest.image_tag,
        "region": manifest.region,
        "images": json.dumps(list(manifest.images)),
        "repositories": json.dumps(list(manifest.repositories)),
    }
    for key, value in facts.items():
        print(f"{key}={value}")


def smoke(arguments: argparse.Namespace) -> None:
    result = run_smoke_test(
        arguments.url,
        ROOT / "config" / "features.yaml",
        expected_version=arguments.expect_version,
        api_key=os.environ.get(arguments.api_key_env) or None,
        ready_timeout=arguments.ready_timeout,
    )
    if arguments.report:
        report = {"url": result.url, "model_version": result.model_version}
        Path(arguments.report).write_text(json.dumps(report) + "\n")
    print(f"smoke test of {result.url} passed: model v{result.model_version} predicts")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m src.release", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    facts = commands.add_parser("facts", help="version, image tag, repositories as key=value")
    facts.add_argument("--commit", required=True, help="git commit of the release")
    facts.set_defaults(run=print_facts)
    check = commands.add_parser("smoke", help="smoke-test a deployed prediction API")
    check.add_argument("--url", required=True)
    check.add_argument("--expect-version", help="fail unless this model version is served")
    check.add_argument("--api-key-env", default="SMOKE_API_KEY", help="variable with an API key")
    check.add_argument("--ready-timeout", type=float, default=120, help="seconds to wait")
    check.add_argument("--report", help="write {url, model_version} as JSON here")
    check.set_defaults(run=smoke)
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        arguments.run(arguments)
    except ProjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

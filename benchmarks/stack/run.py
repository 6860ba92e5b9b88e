"""The container stack of a rendered default project: cold and warm `make docker-up` until
every service is healthy, and the size of each project image.

    uv run python benchmarks/stack/run.py

Cold: the project's images and the engine's build cache removed first (the third-party
images, real or stand-ins, stay: see tests/stand_ins.py). Warm: the same again with both
in place. Runs on an engine of its own (tests/stack_engine.py), on the ports of the stack
test, and removes the stack's containers and volumes at the end. Writes
benchmarks/results/stack.json and prints the table; the largest packages of the API image
say what dominates its size.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import RESULTS

from tests.conftest import render
from tests.stack_engine import Engine
from tests.stand_ins import provide
from tests.test_stack import (
    Stack,
    compose_document,
    profiles,
    stack_env,
    third_party_images,
    wait_until_healthy,
)

API_SIZE_TARGET_MB = 600
SITE_PACKAGES = "/app/.venv/lib/python*/site-packages"


def timed_up(stack: Stack) -> dict[str, float]:
    started = time.monotonic()
    stack.make("docker-up", timeout=3600)
    returned = time.monotonic() - started
    wait_until_healthy(stack)
    return {"make_docker_up_seconds": returned, "healthy_seconds": time.monotonic() - started}


def project_images(stack: Stack) -> dict[str, float]:
    """Size in MB of each image the compose file builds, under the tag the Makefile gave it."""
    name = compose_document(stack.project)["name"]
    listing = stack.engine.docker(
        "image", "ls", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", f"{name}/*"
    ).stdout.split("\n")
    sizes: dict[str, float] = {}
    for line in filter(None, listing):
        tag, image_id = line.split()
        size = stack.engine.docker("image", "inspect", "--format", "{{.Size}}", image_id)
        sizes[tag] = int(size.stdout.strip()) / 1e6
    return sizes


def largest_packages(stack: Stack, image: str, count: int = 8) -> list[tuple[str, float]]:
    script = f"du -sm {SITE_PACKAGES}/* | sort -rn | head -n {count}"
    output = stack.engine.docker(
        "run", "--rm", "--entrypoint", "sh", image, "-c", script, timeout=120
    ).stdout
    rows = [line.split("\t") for line in output.splitlines() if "\t" in line]
    return [(Path(path).name, float(megabytes)) for megabytes, path in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=RESULTS / "stack.json")
    args = parser.parse_args()
    engine = Engine()
    engine.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            project = render(Path(folder))
            stack = Stack(project, engine, stack_env(project, engine))
            provide(engine, third_party_images(project), print)
            everything = [*profiles(project), "--profile", "jobs"]
            stack.compose(*everything, "down", "--volumes", "--rmi", "local", check=False)
            for tag in project_images(stack):
                engine.docker("image", "rm", "--force", tag, check=False)
            engine.docker("builder", "prune", "--all", "--force", timeout=600)
            cold = timed_up(stack)
            stack.compose(*everything, "down", "--volumes", check=False)
            warm = timed_up(stack)
            sizes = project_images(stack)
            api = next(tag for tag in sizes if "/api:" in tag)
            packages = largest_packages(stack, api)
            stack.compose(*everything, "down", "--volumes", check=False)
    finally:
        engine.stop()
    figures = {
        "cold": cold,
        "warm": warm,
        "image_size_mb": sizes,
        "api_largest_packages_mb": dict(packages),
        "api_size_target_mb": API_SIZE_TARGET_MB,
    }
    print(f"{'figure':40} {'cold':>10} {'warm':>10}")
    for key in cold:
        print(f"{key:40} {cold[key]:10.0f} {warm[key]:10.0f}")
    print(f"{'image':40} {'MB':>10}")
    for tag, size in sorted(sizes.items()):
        print(f"{tag:40} {size:10.0f}")
    print(f"API image largest packages: {', '.join(f'{n} {m:.0f} MB' for n, m in packages)}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

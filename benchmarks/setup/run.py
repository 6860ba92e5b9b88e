"""Wall time of a new user's first steps, for this checkout and a baseline revision of the
template side by side: `make setup` with an empty uv cache (cold), with the cache that run
filled (warm, on a fresh render), and again in the same project (rerun); then
`make train-local`.

    uv run python benchmarks/setup/run.py [--baseline REV] [--skip-cold]

Writes benchmarks/results/setup.json and prints one table. Cold downloads every wheel from
the package index, so it depends on the network; warm and rerun are this machine's own
figures. The ratios say how this checkout compares with the baseline, and which part of
setup the dependency install is.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import RESULTS, project_env

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BASELINE = "19ae308"  # the template before its variant locks (issue 12)


def timed(command: list[str], cwd: Path, cache: Path) -> float:
    env = {**project_env(), "UV_CACHE_DIR": str(cache)}
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def template_at(revision: str | None, folder: Path) -> Path:
    """The template as of `revision` (None: this checkout, uncommitted changes included)."""
    if revision is None:
        return ROOT
    target = folder / f"template-{revision}"
    target.mkdir()
    archive = subprocess.run(
        ["git", "archive", revision], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def render(template: Path, folder: Path) -> Path:
    subprocess.run(
        ["uv", "run", "--project", str(ROOT), "cookiecutter", "--no-input", str(template),
         "-o", str(folder)],
        check=True, capture_output=True,
    )  # fmt: skip
    return folder / "mlops-project"


def measure(template: Path, folder: Path, skip_cold: bool, warm_cache: Path) -> dict[str, float]:
    """Setup cold, warm and rerun, then train-local, for one template."""
    cache = warm_cache
    figures: dict[str, float] = {}
    if not skip_cold:
        cache = folder / "uv-cache"
        figures["setup_cold_seconds"] = timed(
            ["make", "setup"], render(template, folder / "cold"), cache
        )
    project = render(template, folder / "warm")
    figures["install_warm_seconds"] = timed(["uv", "sync", "--quiet"], project, cache)
    subprocess.run(["rm", "-rf", str(project / ".venv")], check=True)
    figures["setup_warm_seconds"] = timed(["make", "setup"], project, cache)
    figures["setup_rerun_seconds"] = timed(["make", "setup"], project, cache)
    figures["train_local_seconds"] = timed(["make", "train-local"], project, cache)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision to compare")
    parser.add_argument("--skip-cold", action="store_true", help="no empty-cache runs")
    parser.add_argument("--output", type=Path, default=RESULTS / "setup.json")
    args = parser.parse_args()
    warm_cache = Path(project_env().get("UV_CACHE_DIR", Path.home() / ".cache" / "uv"))
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for label, revision in (("baseline", args.baseline), ("current", None)):
            folder = Path(scratch) / label
            folder.mkdir()
            template = template_at(revision, folder)
            results[label] = measure(template, folder, args.skip_cold, warm_cache)
    ratios = {
        name: results["current"][name] / results["baseline"][name] for name in results["current"]
    }
    print(f"{'figure':24} {'baseline':>10} {'current':>10} {'current/baseline':>17}")
    for name in results["current"]:
        base, current = results["baseline"][name], results["current"][name]
        print(f"{name:24} {base:10.1f} {current:10.1f} {ratios[name]:17.2f}")
    install_share = (
        results["current"]["install_warm_seconds"] / (results["current"]["setup_warm_seconds"])
    )
    print(f"install share of a warm setup (current): {install_share:.2f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps({"baseline": args.baseline, "figures": results, "ratios": ratios}, indent=2)
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

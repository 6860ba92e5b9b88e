"""Wall time of a new user's `make setup`, for a baseline revision of the template and the
current one side by side: with an empty uv cache (cold), with the cache a cold run filled,
on a fresh render (warm), and again in the same project (rerun).

    uv run python benchmarks/setup/run.py [--baseline REV] [--current REV] [--repeat N]
        [--cold-repeat N] [--train-local] [--keep-bytecode-setting]

Each figure is measured `--repeat` times (cold `--cold-repeat` times), the two revisions
taking turns so that both see the same load; the table gives the median and the minimum,
and the 1-minute load average before and after every run (the machine may be shared).
Cold downloads every wheel from the package index, so it also measures the network.

`make setup` is run as a user types it: no `nice`, the user's environment, except that
PYTHONDONTWRITEBYTECODE is dropped unless --keep-bytecode-setting: a shell has it unset
by default, and with it set every Python process compiles every module it imports again
(here `import src.cli` takes about 3 times as long).

Writes benchmarks/results/setup.json: every run's seconds, loads and the seconds of each
command make ran (what dominates a run).

Measured 2026-12-01 on the 2-core machine shared with 4 other sessions, baseline 19ae308
(no locks: `uv sync` resolves), current = the variant locks (`uv sync --locked`) plus the
setup steps that are skipped when done (then src/setup_state.py, now make's file targets
and dvc repro); see README.md next to this file for the table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import RESULTS, project_env

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BASELINE = "19ae308"  # the template before its variant locks (issue 12)
PROJECT = "mlops-project"
FIGURES = ("cold", "warm", "rerun")
# Lines of make's output that start a new command: make echoes each recipe line (uv from
# wherever the project's make finds it), DVC announces each stage.
STEP_START = re.compile(r"^(\S*/)?uv (sync|run|lock|python|pip)\b|^(make|python3) |^Running stage ")


@dataclass
class Run:
    seconds: float
    load_before: float
    load_after: float
    steps: list[tuple[str, float]] = field(default_factory=list)


def load_average() -> float:
    return os.getloadavg()[0]


def measure_env(cache: Path, keep_bytecode_setting: bool) -> dict[str, str]:
    env = {**project_env(), "UV_CACHE_DIR": str(cache)}
    if not keep_bytecode_setting:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def is_step_start(line: str) -> bool:
    return STEP_START.match(line) is not None


def timed_setup(project: Path, env: dict[str, str]) -> Run:
    """`make setup` in `project`, with the seconds of each command it ran."""
    before = load_average()
    started = time.perf_counter()
    steps: list[tuple[str, float]] = []
    output: list[str] = []
    with subprocess.Popen(
        ["make", "setup"], cwd=project, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    ) as process:  # fmt: skip
        assert process.stdout is not None
        current, current_started = "(make)", started
        for line in process.stdout:
            output.append(line)
            if is_step_start(line):
                now = time.perf_counter()
                steps.append((current, now - current_started))
                current, current_started = re.sub(r"^\S*/uv ", "uv ", line.strip())[:90], now
        code = process.wait()
    seconds = time.perf_counter() - started
    steps.append((current, started + seconds - current_started))
    if code != 0:
        raise SystemExit(f"make setup failed in {project} ({code}):\n{''.join(output[-40:])}")
    return Run(seconds, before, load_average(), steps)


def template_at(revision: str | None, folder: Path) -> Path:
    """The template as of `revision` (None: this checkout, uncommitted changes included)."""
    if revision is None:
        return ROOT
    target = folder / f"template-{revision}"
    target.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", revision], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def render(template: Path, folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run(
        ["uv", "run", "--project", str(ROOT), "cookiecutter", "--no-input", str(template),
         "-o", str(folder)],
        check=True, capture_output=True,
    )  # fmt: skip
    return folder / PROJECT


def timed_train(project: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(["make", "train-local"], cwd=project, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def summarize(runs: list[Run]) -> dict[str, float]:
    seconds = [run.seconds for run in runs]
    return {"median": statistics.median(seconds), "min": min(seconds)}


def describe_loads(runs: list[Run]) -> str:
    return " ".join(f"{run.load_before:.1f}>{run.load_after:.1f}" for run in runs)


def print_table(results: dict[str, dict[str, list[Run]]], labels: dict[str, str]) -> None:
    print(
        f"{'figure':6} {'revision':9} {'median s':>9} {'min s':>7} {'runs':>4}  "
        "load 1-min before>after each run"
    )
    for figure in FIGURES:
        for label in labels:
            runs = results[label].get(figure, [])
            if runs:
                summary = summarize(runs)
                print(
                    f"{figure:6} {label:9} {summary['median']:9.1f} {summary['min']:7.1f} "
                    f"{len(runs):4}  {describe_loads(runs)}"
                )
        if all(results[label].get(figure) for label in labels):
            base, current = (summarize(results[label][figure])["median"] for label in labels)
            print(f"{figure:6} {'ratio':9} {current / base:9.2f}   current/baseline (medians)")


def print_dominant(results: dict[str, dict[str, list[Run]]]) -> None:
    """The three longest commands of each figure's median run."""
    for label, figures in results.items():
        for figure, runs in figures.items():
            median_run = sorted(runs, key=lambda run: run.seconds)[(len(runs) - 1) // 2]
            longest = sorted(median_run.steps, key=lambda step: -step[1])[:3]
            parts = "; ".join(f"{seconds:.1f} s {command}" for command, seconds in longest)
            print(f"{label} {figure}: {parts}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision to compare")
    parser.add_argument("--current", default=None, help="git revision (default: this checkout)")
    parser.add_argument("--repeat", type=int, default=3, help="warm and rerun runs per revision")
    parser.add_argument("--cold-repeat", type=int, default=2, help="cold runs (0: none)")
    parser.add_argument("--train-local", action="store_true", help="also time train-local")
    parser.add_argument("--keep-bytecode-setting", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS / "setup.json")
    args = parser.parse_args()
    default_cache = Path(project_env().get("UV_CACHE_DIR", Path.home() / ".cache" / "uv"))
    labels = {"baseline": args.baseline, "current": args.current}
    results: dict[str, dict[str, list[Run]]] = {label: {} for label in labels}
    trains: dict[str, float] = {}
    # Caches are hard-linked into the venvs, as uv does by default: on the same file system.
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="setup-bench-") as scratch:
        folder = Path(scratch)
        templates = {label: template_at(rev, folder / label) for label, rev in labels.items()}
        caches = dict.fromkeys(labels, default_cache)
        for repetition in range(max(args.repeat, args.cold_repeat)):
            for label, template in templates.items():
                if repetition < args.cold_repeat:
                    shutil.rmtree(folder / label / "uv-cache", ignore_errors=True)
                    caches[label] = folder / label / "uv-cache"
                    env = measure_env(caches[label], args.keep_bytecode_setting)
                    project = render(template, folder / label / "cold")
                    results[label].setdefault("cold", []).append(timed_setup(project, env))
                    shutil.rmtree(folder / label / "cold")
                if repetition < args.repeat:
                    env = measure_env(caches[label], args.keep_bytecode_setting)
                    project = render(template, folder / label / "warm")
                    results[label].setdefault("warm", []).append(timed_setup(project, env))
                    results[label].setdefault("rerun", []).append(timed_setup(project, env))
                    if args.train_local and repetition == 0:
                        trains[label] = timed_train(project, env)
                print(f"repetition {repetition + 1} of {label} done", file=sys.stderr)
    print_table(results, labels)
    print_dominant(results)
    for label, seconds in trains.items():
        print(f"train-local {label}: {seconds:.1f} s")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "revisions": labels,
        "bytecode_setting_kept": args.keep_bytecode_setting,
        "runs": {
            label: {figure: [asdict(run) for run in runs] for figure, runs in figures.items()}
            for label, figures in results.items()
        },
        "summary": {
            label: {figure: summarize(runs) for figure, runs in figures.items()}
            for label, figures in results.items()
        },
        "train_local_seconds": trains,
    }
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

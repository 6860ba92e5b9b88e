"""Which steps of `make setup` are already done, decided without loading the stack.

Each setup step (point DVC at its remote, version the raw data, build the lake up to the
gold stage, create the MLflow experiment) takes seconds of imports before it can even
see that there is nothing to do. This module, which needs only the settings, writes one
key file per step under `.setup/`: the step's inputs (resolved settings, the dvc.yaml
stages and the files they depend on). A key file is rewritten only when its content
changed, or when the step's result is missing (the lake, the experiment) or lives outside
this folder (APP_ENV other than local), so make reruns exactly those steps whose key file
is newer than the stamp the step left when it last succeeded.

    python -m src.setup_state --folder .setup --tracked data/raw --target gold
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from src.errors import ProjectError
from src.settings import FEATURES_FILE, PROJECT_ROOT, Settings, get_settings

DVC_FILE = "dvc.yaml"
DVC_CONFIG_FILES = (".dvc/config", ".dvc/config.local")
SQLITE_PREFIX = "sqlite:///"
KEY_SUFFIX = ".key"
DONE_SUFFIX = ".done"


@dataclass(frozen=True)
class StepState:
    """One step's inputs (as text) and whether its result is in place."""

    name: str
    inputs: str
    done: bool


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def iter_files(path: Path) -> Iterator[Path]:
    """`path` itself when it is a file, else every file below it, in a stable order."""
    if path.is_file():
        yield path
    elif path.is_dir():
        yield from sorted(item for item in path.rglob("*") if item.is_file())


def hash_inputs(root: Path, paths: Iterable[str]) -> dict[str, str]:
    """Content hash of every file of `paths` (relative to `root`); a missing one says so."""
    hashes: dict[str, str] = {}
    for path in paths:
        files = [item for item in iter_files(root / path) if "__pycache__" not in item.parts]
        if not files:
            hashes[path] = "missing"
        for item in files:
            hashes[item.relative_to(root).as_posix()] = hash_file(item)
    return hashes


def encode(content: dict[str, Any]) -> str:
    return json.dumps(content, indent=2, sort_keys=True) + "\n"


def read_stages(root: Path) -> dict[str, dict[str, Any]]:
    try:
        content = yaml.safe_load((root / DVC_FILE).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ProjectError(f"{DVC_FILE} cannot be read: {error}") from error
    stages = content.get("stages") if isinstance(content, dict) else None
    if not isinstance(stages, dict):
        raise ProjectError(f"{DVC_FILE} has no stages mapping")
    return stages


def entry_paths(entries: list[Any] | None) -> list[str]:
    """The paths of a stage's deps or outs (an out may be `{path: {options}}`)."""
    paths: list[str] = []
    for entry in entries or []:
        paths.extend(entry if isinstance(entry, dict) else [entry])
    return [str(path) for path in paths]


def upstream_stages(stages: dict[str, dict[str, Any]], target: str) -> list[str]:
    """`target` and every stage whose outputs it needs, directly or not, in a stable order."""
    if target not in stages:
        raise ProjectError(f"{DVC_FILE} has no stage {target!r}")
    producers = {
        out: name for name, stage in stages.items() for out in entry_paths(stage.get("outs"))
    }
    chosen: set[str] = set()
    pending = [target]
    while pending:
        name = pending.pop()
        if name not in chosen:
            chosen.add(name)
            deps = entry_paths(stages[name].get("deps"))
            pending.extend(producers[dep] for dep in deps if dep in producers)
    return sorted(chosen)


def is_within(path: str, folders: Iterable[str]) -> bool:
    return any(path == folder or path.startswith(folder.rstrip("/") + "/") for folder in folders)


def sqlite_file(uri: str) -> Path | None:
    return Path(uri.removeprefix(SQLITE_PREFIX)) if uri.startswith(SQLITE_PREFIX) else None


def has_active_experiment(database: Path, name: str) -> bool:
    """Whether the local MLflow store holds the experiment, not deleted (read only)."""
    if not database.is_file():
        return False
    try:
        with sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True) as connection:
            row = connection.execute(
                "SELECT lifecycle_stage FROM experiments WHERE name = ?", (name,)
            ).fetchone()
    except sqlite3.Error:
        return False  # not an MLflow store (yet): init-mlflow decides
    return row is not None and row[0] == "active"


def is_unchanged_since(paths: Iterable[Path], stamp: Path) -> bool:
    """Nothing under `paths` changed (content, name, mode) after `stamp` was left.

    The status-change time moves on every write, rename and mode change, also when a copy
    keeps an old modification time, so it is the one compared.
    """
    if not stamp.is_file():
        return False
    since = stamp.stat().st_mtime_ns
    for path in paths:
        if not path.exists():
            return False
        entries = [path, *path.rglob("*")] if path.is_dir() else [path]
        if any(entry.lstat().st_ctime_ns > since for entry in entries):
            return False
    return True


def is_lake_built(settings: Settings, root: Path, outs: Iterable[str]) -> bool:
    """The stages' summaries and the local lake they describe are in place.

    A lake outside this folder (APP_ENV compose or aws) is not looked at: the pipeline
    step then always runs, and DVC and the ingest step decide what is left to do.
    """
    catalog = sqlite_file(settings.resolved_catalog_uri) if settings.is_local else None
    if catalog is None or not catalog.is_file():
        return False
    lake = Path(settings.object_store_root)
    zones = (settings.aws.s3.raw_prefix, settings.aws.s3.warehouse_prefix)
    return all((lake / zone).is_dir() for zone in zones) and all(
        (root / out).is_file() for out in outs
    )


def build_states(
    settings: Settings, root: Path, folder: Path, tracked: list[str], target: str
) -> list[StepState]:
    """The key and the done-ness of every setup step, in the order setup runs them."""
    # Secrets dump masked: they reach no setup step, and a key file never holds one.
    configured = settings.model_dump(mode="json")
    stages = read_stages(root)
    chosen = upstream_stages(stages, target)
    outs = [out for name in chosen for out in entry_paths(stages[name].get("outs"))]
    deps = {
        dep
        for name in chosen
        for dep in entry_paths(stages[name].get("deps"))
        # Outputs of other stages are DVC's to compare; tracked folders are the raw-data
        # step's, whose stamp the pipeline's depends on.
        if dep not in outs and not is_within(dep, tracked)
    }
    tracked_paths = [root / path for path in tracked]
    raw_in_place = all(any(iter_files(path)) for path in tracked_paths)
    raw_done = raw_in_place and is_unchanged_since(
        [*tracked_paths, *(path.with_name(f"{path.name}.dvc") for path in tracked_paths)],
        folder / f"raw-data{DONE_SUFFIX}",
    )
    tracking = sqlite_file(settings.resolved_tracking_uri)
    features = FEATURES_FILE.relative_to(PROJECT_ROOT).as_posix()
    pipeline = {
        "settings": configured,
        "stages": {name: stages[name] for name in chosen},
        "files": hash_inputs(root, sorted(deps)),
    }
    return [
        StepState(
            "dvc-remote",
            encode({"settings": configured}),
            all((root / path).is_file() for path in DVC_CONFIG_FILES),
        ),
        StepState("raw-data", encode({"files": hash_inputs(root, [features])}), raw_done),
        StepState("pipeline", encode(pipeline), is_lake_built(settings, root, outs)),
        StepState(
            "mlflow",
            encode({"settings": configured}),
            tracking is not None
            and has_active_experiment(tracking, settings.mlflow_experiment_name),
        ),
    ]


def write_key(folder: Path, state: StepState) -> bool:
    """Write the step's key file when its inputs changed or its result is missing.

    Returns whether it did; an untouched key file keeps its old time, so make leaves the
    step alone (unless a step it depends on ran).
    """
    key = folder / f"{state.name}{KEY_SUFFIX}"
    if state.done and key.is_file() and key.read_text() == state.inputs:
        return False
    temporary = key.with_suffix(".tmp")
    temporary.write_text(state.inputs)
    temporary.replace(key)
    return True


def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--folder", type=Path, required=True, help="where key files go")
    parser.add_argument(
        "--tracked", action="append", default=[], help="a DVC-tracked folder (repeatable)"
    )
    parser.add_argument("--target", required=True, help="the dvc.yaml stage setup builds")
    options = parser.parse_args(arguments)
    try:
        states = build_states(
            get_settings(), PROJECT_ROOT, options.folder, options.tracked, options.target
        )
        options.folder.mkdir(parents=True, exist_ok=True)
        changed = [state.name for state in states if write_key(options.folder, state)]
    except (ProjectError, OSError) as error:
        print(f"setup: {error}", file=sys.stderr)
        return 1
    unchanged = [state.name for state in states if state.name not in changed]
    print(
        f"setup: changed inputs or missing result: {', '.join(changed) or 'none'}; "
        f"unchanged: {', '.join(unchanged) or 'none'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Raw files: the sample data, their landing in the lake's raw zone, the DVC remote (written
to `.dvc/config.local`, which Git ignores, so a teammate's remote is never committed over yours).
"""

from __future__ import annotations

import hashlib
import subprocess  # nosec B404  # runs the dvc CLI with fixed argument lists, no shell
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow.fs as pafs
from sklearn.datasets import load_breast_cancer, load_diabetes

from src.data.aws_integration import list_keys, read_bytes, write_bytes
from src.data.feature_store import INGEST_DATE, FeatureView
from src.data.quality import RAW_SUFFIXES
from src.errors import ConfigError, ProjectError

if TYPE_CHECKING:
    from src.settings import Settings

SAMPLE_DAYS = 10
DIABETES_NAMES = {
    "s1": "total_cholesterol",
    "s2": "ldl",
    "s3": "hdl",
    "s4": "cholesterol_hdl_ratio",
    "s5": "log_triglycerides",
    "s6": "blood_sugar",
}
SAMPLE_LOADERS: dict[str, Callable[[], pd.DataFrame]] = {
    "breast_cancer": lambda: load_breast_cancer(as_frame=True).frame.rename(
        columns=lambda name: name.replace(" ", "_")
    ),
    "diabetes": lambda: load_diabetes(as_frame=True, scaled=False).frame.rename(
        columns=DIABETES_NAMES
    ),
}


def has_raw_files(folder: Path) -> bool:
    """Whether `folder` holds raw files of a format bronze reads."""
    return any(path.name.endswith(RAW_SUFFIXES) for path in folder.rglob("*"))


def write_sample_files(folder: Path, view: FeatureView, end_date: date, seed: int = 42) -> int:
    """The sample dataset in the view's contract, spread over the `SAMPLE_DAYS` days before
    `end_date` (the same for the same seed), as one raw CSV per day under `folder/<dataset>/
    ingest_date=<day>/`; returns the files."""
    loader = SAMPLE_LOADERS.get(view.dataset)
    if loader is None:
        raise ConfigError(
            f"no sample data for dataset {view.dataset!r} (known: {', '.join(SAMPLE_LOADERS)}); "
            "put your raw files under data/raw/ (docs/own-data.md)"
        )
    source = loader().rename(columns={"target": view.label.name})
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(source))
    source = source.iloc[order].reset_index(drop=True)
    midnight = datetime.combine(end_date - timedelta(days=SAMPLE_DAYS), time(), tzinfo=UTC)
    seconds = rng.integers(0, 24 * 3600, size=len(source))
    offsets = [timedelta(days=int(n % SAMPLE_DAYS), seconds=int(s)) for n, s in enumerate(seconds)]
    frame = pd.DataFrame(
        {
            view.entity.name: [f"P{index:06d}" for index in order],
            view.event_timestamp: pd.to_datetime([midnight + o for o in offsets], utc=True),
        }
    )
    for name in [*view.feature_names, view.label.name]:
        frame[name] = source[name].to_numpy()
    frame = frame.sort_values(view.event_timestamp)
    days = frame.groupby(frame[view.event_timestamp].dt.date, sort=True)
    for day, rows in days:
        path = folder / view.dataset / f"{INGEST_DATE}={day}" / f"{view.dataset}_{day}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
    return len(days)


def land_raw_files(source: Path, store: pafs.FileSystem, raw_prefix: str) -> tuple[int, int, str]:
    """Copy the files under `source` to `<raw_prefix>/<same path>` in the store, skipping
    objects that already hold the same bytes; returns (copied, already in place, a sha256
    of every landed path and its bytes: what the steps after it depend on)."""
    if not source.is_dir():
        raise ProjectError(f"{source} is not a folder of raw files")
    present = set(list_keys(store, raw_prefix))
    copied = same = 0
    checksum = hashlib.sha256()
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source).as_posix()
        if any(part.startswith(".") for part in relative.split("/")):
            continue
        key, content = f"{raw_prefix}/{relative}", path.read_bytes()
        checksum.update(f"{relative}\0{len(content)}\0".encode() + content)
        if key in present and read_bytes(store, key) == content:
            same += 1
            continue
        write_bytes(store, key, content)
        copied += 1
    return copied, same, checksum.hexdigest()


def configure_dvc_remote(settings: Settings, project_root: Path) -> str:
    """Make DVC_REMOTE_URL, else a local folder or the bucket, this checkout's default remote."""
    if settings.dvc_remote_url:
        url = settings.dvc_remote_url
    elif settings.is_local:
        url = str(project_root / ".dvc" / "storage")
    else:
        url = f"s3://{settings.aws.s3.bucket}/{settings.aws.s3.dvc_prefix}"
    options = {"region": settings.aws.region} if url.startswith("s3://") else {}
    endpoint = settings.aws_endpoint_url_s3 or settings.aws_endpoint_url
    if endpoint and url.startswith("s3://"):
        options["endpointurl"] = endpoint
    # --force replaces the whole section, so options of an earlier remote do not linger.
    commands = [["remote", "add", "--local", "--force", "--default", "project", url]]
    commands += [["remote", "modify", "--local", "project", k, v] for k, v in options.items()]
    for arguments in commands:
        finished = subprocess.run(  # noqa: S603  # nosec B603  # fixed program, list arguments
            [sys.executable, "-m", "dvc", *arguments],
            cwd=project_root, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        if finished.returncode != 0:
            raise ProjectError(f"dvc {' '.join(arguments[:2])} failed: {finished.stderr.strip()}")
    return url

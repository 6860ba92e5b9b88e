"""Data versioning with DVC: where the remote is, and landing versioned raw files.

Code is versioned by Git and data by DVC. The raw files under `data/raw/` are tracked by
`data/raw.dvc`; `dvc.yaml` describes the pipeline stages that turn them into tables.
The DVC remote follows the environment like everything else: a folder inside the
project locally, the project's bucket (S3 or MinIO) in compose and on AWS, or any URL
set in DVC_REMOTE_URL. It is written to `.dvc/config.local`, which Git ignores, so a
teammate's remote is never committed over yours.
"""

from __future__ import annotations

import hashlib
import subprocess  # nosec B404  # runs the dvc CLI with fixed argument lists, no shell
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from src.data.aws_integration import ObjectStore
from src.errors import ProjectError

if TYPE_CHECKING:
    from src.settings import Settings

REMOTE_NAME = "project"
LOCAL_REMOTE = Path(".dvc") / "storage"


@dataclass(frozen=True)
class DvcRemote:
    url: str
    options: dict[str, str]


def resolve_dvc_remote(settings: Settings, project_root: Path) -> DvcRemote:
    """The remote for these settings: DVC_REMOTE_URL, else a local folder or the bucket."""
    if settings.dvc_remote_url:
        url = settings.dvc_remote_url
    elif settings.is_local:
        url = str(project_root / LOCAL_REMOTE)
    else:
        url = f"s3://{settings.aws.s3.bucket}/{settings.aws.s3.dvc_prefix}"
    options: dict[str, str] = {}
    if url.startswith("s3://"):
        options["region"] = settings.aws.region
        endpoint = settings.aws_endpoint_url_s3 or settings.aws_endpoint_url
        if endpoint:
            options["endpointurl"] = endpoint
    return DvcRemote(url=url, options=options)


def run_dvc(project_root: Path, *arguments: str) -> str:
    """Run `dvc <arguments>` in the project; a failure is a ProjectError with DVC's words."""
    command = [sys.executable, "-m", "dvc", *arguments]
    try:
        finished = subprocess.run(  # noqa: S603  # nosec B603  # fixed program, list arguments
            command, cwd=project_root, capture_output=True, text=True, check=False, timeout=600
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ProjectError(f"dvc {' '.join(arguments)} could not run: {error}") from error
    if finished.returncode != 0:
        detail = (finished.stderr or finished.stdout).strip().splitlines()
        raise ProjectError(
            f"dvc {' '.join(arguments)} failed: {detail[-1] if detail else finished.returncode}"
        )
    return finished.stdout


def configure_dvc_remote(project_root: Path, remote: DvcRemote) -> None:
    """Make `remote` the default DVC remote of this checkout (idempotent)."""
    if not (project_root / ".dvc").is_dir():
        raise ProjectError(f"{project_root} is not a DVC project; run `make setup` first")
    # --force replaces the whole section, so options of an earlier remote do not linger.
    add = ["remote", "add", "--local", "--force", "--default", REMOTE_NAME, remote.url]
    run_dvc(project_root, *add)
    for option, value in remote.options.items():
        run_dvc(project_root, "remote", "modify", "--local", REMOTE_NAME, option, value)


@dataclass(frozen=True)
class LandedFile:
    key: str
    sha256: str
    copied: bool


def land_raw_files(source: Path, store: ObjectStore, raw_prefix: str) -> list[LandedFile]:
    """Copy the files under `source` to `<raw_prefix>/<same relative path>` in the store.

    An object that already holds the same bytes is left alone, so landing twice copies
    nothing (and does not add versions to a versioned bucket).
    """
    if not source.is_dir():
        raise ProjectError(f"{source} is not a folder of raw files")
    landed = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source).as_posix()
        if any(part.startswith(".") for part in relative.split("/")):
            continue
        key = f"{raw_prefix}/{relative}"
        content = path.read_bytes()
        digest = hashlib.sha256(content).hexdigest()
        same = store.exists(key) and hashlib.sha256(store.get_bytes(key)).hexdigest() == digest
        if not same:
            store.upload_file(path, key)
        landed.append(LandedFile(key=key, sha256=digest, copied=not same))
    return landed

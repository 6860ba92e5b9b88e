"""What a release is: the project's semantic version, the commit, and its images.

The version lives in pyproject.toml, the images are the Dockerfiles of docker/, and their
ECR repositories and the region come from config/aws_config.yaml. An image is tagged
`<version>-<commit>`, so every tag names both and never moves.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml

from src.errors import ConfigError

# semver.org's grammar: MAJOR.MINOR.PATCH, optional -prerelease and +build metadata.
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
COMMIT_LENGTH = 12
DOCKERFILE_SUFFIX = ".Dockerfile"


@dataclass(frozen=True)
class ReleaseManifest:
    project: str
    version: str
    commit: str
    region: str
    images: tuple[str, ...]

    @property
    def image_tag(self) -> str:
        return f"{self.version}-{self.commit}"

    def repository(self, image: str) -> str:
        return f"{self.project}/{image}"

    @property
    def repositories(self) -> tuple[str, ...]:
        return tuple(self.repository(image) for image in self.images)


def read_version(pyproject: Path) -> tuple[str, str]:
    """(name, version) of pyproject.toml; the version must follow semantic versioning."""
    try:
        project = tomllib.loads(pyproject.read_text())["project"]
        name, version = str(project["name"]), str(project["version"])
    except (OSError, tomllib.TOMLDecodeError, KeyError) as error:
        raise ConfigError(
            f"{pyproject}: cannot read [project] name and version ({error})"
        ) from error
    if not SEMVER.match(version):
        raise ConfigError(f"{pyproject}: version {version!r} is not a semantic version (1.2.3)")
    return name, version


def find_images(docker_dir: Path) -> tuple[str, ...]:
    images = sorted(
        path.name.removesuffix(DOCKERFILE_SUFFIX) for path in docker_dir.glob("*.Dockerfile")
    )
    if not images:
        raise ConfigError(f"no *{DOCKERFILE_SUFFIX} in {docker_dir}")
    return tuple(images)


def read_aws_facts(aws_config: Path) -> tuple[str, tuple[str, ...]]:
    """(region, ECR repositories) of config/aws_config.yaml."""
    try:
        content = yaml.safe_load(aws_config.read_text())
        region = str(content["region"])
        repositories = tuple(str(name) for name in content["ecr"]["repositories"])
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise ConfigError(
            f"{aws_config}: cannot read region and ecr.repositories ({error})"
        ) from error
    return region, repositories


def build_manifest(root: Path, commit: str) -> ReleaseManifest:
    """The release of the checkout at `root` for `commit`; every image needs its ECR repository."""
    commit = commit.strip().lower()
    if not COMMIT.match(commit):
        raise ConfigError(f"commit {commit!r} is not a git commit hash")
    project, version = read_version(root / "pyproject.toml")
    region, repositories = read_aws_facts(root / "config" / "aws_config.yaml")
    manifest = ReleaseManifest(
        project, version, commit[:COMMIT_LENGTH], region, find_images(root / "docker")
    )
    missing = sorted(set(manifest.repositories) - set(repositories))
    if missing:
        raise ConfigError(
            f"config/aws_config.yaml ecr.repositories lacks {', '.join(missing)} "
            "(one repository per docker/*.Dockerfile)"
        )
    return manifest

#!/usr/bin/env bash
# The facts of a release as NAME=value lines (for $GITHUB_OUTPUT): the project and its
# semantic version (pyproject.toml), the commit, the image tag <version>-<12-hex commit>,
# the region (config/aws_config.yaml) and the images (one per docker/*.Dockerfile, JSON).
#
#   deploy/release-facts.sh COMMIT
set -euo pipefail

commit=${1:?usage: $0 COMMIT}
if [[ ! "$commit" =~ ^[0-9a-f]{12,40}$ ]]; then
  echo "error: $commit is not a git commit hash" >&2
  exit 2
fi
project=$(sed -n 's/^name = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)
if [[ ! "$version" =~ ^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)([-+][0-9A-Za-z.+-]+)?$ ]]; then
  echo "error: pyproject.toml version '$version' is not a semantic version (1.2.3)" >&2
  exit 1
fi
echo "project=$project"
echo "version=$version"
echo "commit=$commit"
echo "image_tag=$version-${commit:0:12}"
echo "region=$(sed -n 's/^region: *//p' config/aws_config.yaml)"
echo "images=$(find docker -name '*.Dockerfile' -printf '%f\n' | sed 's/\.Dockerfile$//' | sort | jq -R . | jq -sc .)"

#!/usr/bin/env bash
# The `cdk deploy` parameters that roll an environment to the images of one tag, by digest:
# `--parameters <stack>:<Image>Digest=sha256:...` for each image its tasks run, read from ECR
# (tags there are immutable; the task definitions pin the digest).
#
#   deploy/image-digests.sh PROJECT STACK TAG
set -euo pipefail

if (($# != 3)); then
  echo "usage: $0 PROJECT STACK TAG" >&2
  exit 2
fi
for image in api training mlflow; do
  digest=$(aws ecr describe-images --repository-name "$1/$image" --image-ids "imageTag=$3" \
    --query 'imageDetails[0].imageDigest' --output text)
  printf -- '--parameters %s:%sDigest=%s ' "$2" "${image^}" "$digest"
done

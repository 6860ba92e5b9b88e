#!/usr/bin/env bash
# What the CD needs from an environment's stack (infra/), appended as NAME=value lines to
# FILE (the job's $GITHUB_ENV, or any file a CI/CD sources): the cluster, the jobs task
# family, its log group and network, the API URL and service, the API image of NEW_TAG,
# and SMOKE_API_KEY (the generated key the API accepts; masked in the CI log).
#
#   deploy/stack-facts.sh PROJECT ENVIRONMENT FILE
set -euo pipefail

if (($# != 3)); then
  echo "usage: $0 PROJECT ENVIRONMENT FILE" >&2
  exit 2
fi
project=$1
environment=$2
file=$3
stack="${project}-${environment}"

output() {
  local value
  value=$(aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue | [0]" --output text)
  if [[ -z "$value" || "$value" == None ]]; then
    echo "error: stack $stack has no output $1 (deploy it first: make infra-deploy ENV=$environment)" >&2
    exit 1
  fi
  echo "$value"
}

account=$(aws sts get-caller-identity --query Account --output text)
region=${AWS_REGION:-$(aws configure get region)}
secret=$(aws secretsmanager get-secret-value --secret-id "$(output ApiKeysSecret)" \
  --query SecretString --output text)
key=$(jq -r .secret <<<"$secret")
if [[ -n "${GITHUB_ACTIONS:-}" ]]; then
  echo "::add-mask::$key"
fi
{
  echo "CLUSTER=$(output ClusterName)"
  echo "API_SERVICE=${project}-api"
  echo "API_URL=$(output ApiUrl)"
  echo "JOBS_TASK=$(output JobsTaskFamily)"
  echo "LOG_GROUP=/ecs/${project}/${environment}"
  echo "SUBNETS=$(output JobsSubnets)"
  echo "SECURITY_GROUPS=$(output JobsSecurityGroupId)"
  echo "IMAGE=${account}.dkr.ecr.${region}.amazonaws.com/${project}/api:${NEW_TAG:-unknown}"
  echo "SMOKE_API_KEY=$key"
} >>"$file"
echo "read the outputs of $stack into $file"

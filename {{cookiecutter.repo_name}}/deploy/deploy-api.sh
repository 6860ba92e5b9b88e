#!/usr/bin/env bash
# Deploy the prediction API to one environment's ECS service and wait until it is stable.
#
#   deploy/deploy-api.sh ENVIRONMENT
#
# Environment: AWS_ACCOUNT_ID, AWS_REGION, CLUSTER, SERVICE, API_IMAGE (registry/repository:tag),
# MODEL_ALIAS (staging or production), APP_VERSION, GIT_COMMIT. Prints the task definition
# ARN it deployed on the last line.
set -euo pipefail

if (($# != 1)); then
  echo "usage: $0 ENVIRONMENT" >&2
  exit 2
fi
environment=$1
: "${CLUSTER:?CLUSTER must name the ECS cluster}"
: "${SERVICE:?SERVICE must name the ECS service}"
rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT

uv run --no-project --with pyyaml python -m src.release render deploy/ecs/api.json \
  --set "ENVIRONMENT=$environment" --output "$rendered"
task_definition=$(aws ecs register-task-definition --cli-input-json "file://$rendered" \
  --query 'taskDefinition.taskDefinitionArn' --output text)
echo "registered ${task_definition##*/}"
aws ecs update-service --cluster "$CLUSTER" --service "$SERVICE" \
  --task-definition "$task_definition" --query 'service.serviceName' --output text >/dev/null
echo "waiting for $SERVICE on $CLUSTER to become stable"
aws ecs wait services-stable --cluster "$CLUSTER" --services "$SERVICE"
# Backquotes are a JMESPath literal, not a shell expansion.
# shellcheck disable=SC2016
rollout=$(aws ecs describe-services --cluster "$CLUSTER" --services "$SERVICE" \
  --query 'services[0].deployments[?status==`PRIMARY`].rolloutState | [0]' --output text)
if [[ "$rollout" != COMPLETED ]]; then
  echo "error: the deployment of $SERVICE ended $rollout, not COMPLETED" >&2
  exit 1
fi
echo "$task_definition"

#!/usr/bin/env bash
# Run one task of the training image on ECS (Fargate) to completion, print its log and exit
# with the container's exit code: how the CD trains and promotes inside the VPC.
#
#   deploy/run-ecs-task.sh CLUSTER TASK_DEFINITION COMMAND [ARGUMENT...]
#
# TASK_DEFINITION is the jobs family of the environment's stack (<project>-<environment>-jobs,
# its latest revision) or an ARN. Environment: LOG_GROUP (/ecs/<project>/<environment>),
# SUBNETS and SECURITY_GROUPS (comma-separated ids: the stack's JobsSubnets and
# JobsSecurityGroupId outputs, which deploy/stack-facts.sh reads); optional STARTED_BY and
# TASK_TIMEOUT_SECONDS (default 3600).
set -euo pipefail

if (($# < 3)); then
  echo "usage: $0 CLUSTER TASK_DEFINITION COMMAND [ARGUMENT...]" >&2
  exit 2
fi
cluster=$1
task_definition=$2
shift 2
: "${LOG_GROUP:?LOG_GROUP must name the awslogs group of the task definition}"
: "${SUBNETS:?SUBNETS must give the subnet ids of the task (stack output JobsSubnets)}"
: "${SECURITY_GROUPS:?SECURITY_GROUPS must give its security groups (output JobsSecurityGroupId)}"
# The container of the jobs task definition (infra/environment_stack.py).
container="jobs"

overrides=$(printf '%s\n' "$@" | jq -R . | jq -cs --arg name "$container" '{containerOverrides: [{name: $name, command: .}]}')
task_arn=$(aws ecs run-task \
  --cluster "$cluster" \
  --task-definition "$task_definition" \
  --launch-type FARGATE \
  --network-configuration "awsvpcConfiguration={subnets=[${SUBNETS}],securityGroups=[${SECURITY_GROUPS}],assignPublicIp=DISABLED}" \
  --overrides "$overrides" \
  --started-by "${STARTED_BY:-deploy}" \
  --query 'tasks[0].taskArn' --output text)
if [[ -z "$task_arn" || "$task_arn" == None ]]; then
  echo "error: ECS started no task (see the run-task failures above)" >&2
  exit 1
fi
echo "started ${task_arn##*/} on $cluster: $*"

deadline=$((SECONDS + ${TASK_TIMEOUT_SECONDS:-3600}))
while true; do
  status=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task_arn" \
    --query 'tasks[0].lastStatus' --output text)
  [[ "$status" == STOPPED ]] && break
  if ((SECONDS >= deadline)); then
    aws ecs stop-task --cluster "$cluster" --task "$task_arn" --reason "deadline passed" >/dev/null
    echo "error: task ${task_arn##*/} still $status after ${TASK_TIMEOUT_SECONDS:-3600} s; stopped" >&2
    exit 1
  fi
  sleep 15
done

aws logs get-log-events --log-group-name "$LOG_GROUP" \
  --log-stream-name "${container}/${container}/${task_arn##*/}" --start-from-head \
  --query 'events[].[message]' --output text || echo "(no log stream for this task)"
exit_code=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task_arn" \
  --query 'tasks[0].containers[0].exitCode' --output text)
reason=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task_arn" \
  --query 'tasks[0].stoppedReason' --output text)
if [[ "$exit_code" != 0 ]]; then
  echo "error: task ${task_arn##*/} ended with exit code $exit_code ($reason)" >&2
  [[ "$exit_code" =~ ^[0-9]+$ ]] && exit "$exit_code"
  exit 1
fi
echo "task ${task_arn##*/} done: $*"

#!/usr/bin/env bash
# Record what runs in an environment: image, project version, commit, task definition and
# model version, as JSON in the SSM parameter /<project>/<environment>/deployment (the
# current record; SSM keeps the history of its versions) and in the CI run's summary.
#
# Environment: PROJECT, ENVIRONMENT, IMAGE, APP_VERSION, GIT_COMMIT, TASK_DEFINITION,
# MODEL_ALIAS, MODEL_VERSION; optional RUN_URL.
set -euo pipefail

for name in PROJECT ENVIRONMENT IMAGE APP_VERSION GIT_COMMIT TASK_DEFINITION MODEL_ALIAS MODEL_VERSION; do
  if [[ -z "${!name:-}" ]]; then
    echo "error: $name is not set" >&2
    exit 2
  fi
done
record=$(python3 -c '
import json, os, datetime
keys = ["ENVIRONMENT", "IMAGE", "APP_VERSION", "GIT_COMMIT", "TASK_DEFINITION", "MODEL_ALIAS", "MODEL_VERSION"]
record = {key.lower(): os.environ[key] for key in keys}
record["run_url"] = os.environ.get("RUN_URL", "")
record["deployed_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
print(json.dumps(record, sort_keys=True))
')
parameter="/${PROJECT}/${ENVIRONMENT}/deployment"
aws ssm put-parameter --name "$parameter" --type String --overwrite --value "$record" \
  --query Version --output text >/dev/null
echo "recorded in $parameter: $record"
if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
  {
    echo "### ${ENVIRONMENT}"
    echo
    echo "| image | version | commit | model |"
    echo "|---|---|---|---|"
    echo "| \`${IMAGE}\` | ${APP_VERSION} | \`${GIT_COMMIT}\` | v${MODEL_VERSION} (@${MODEL_ALIAS}) |"
  } >>"$GITHUB_STEP_SUMMARY"
fi

#!/usr/bin/env bash
# Record what runs in an environment (image, version, commit, task definition, model) as
# JSON in the SSM parameter /<project>/<environment>/deployment (SSM keeps the history of
# its versions) and in the CI run's summary.
#
# Environment: PROJECT ENVIRONMENT IMAGE APP_VERSION GIT_COMMIT TASK_DEFINITION MODEL_ALIAS
# MODEL_VERSION; optional RUN_URL.
set -euo pipefail

for name in PROJECT ENVIRONMENT IMAGE APP_VERSION GIT_COMMIT TASK_DEFINITION MODEL_ALIAS MODEL_VERSION; do
  if [[ -z "${!name:-}" ]]; then
    echo "error: $name is not set" >&2
    exit 2
  fi
done
record=$(jq -cn --arg deployed_at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" '$ENV
  | {environment: .ENVIRONMENT, image: .IMAGE, app_version: .APP_VERSION, git_commit: .GIT_COMMIT,
     task_definition: .TASK_DEFINITION, model_alias: .MODEL_ALIAS, model_version: .MODEL_VERSION,
     run_url: (.RUN_URL // "")} + {deployed_at: $deployed_at}')
parameter="/${PROJECT}/${ENVIRONMENT}/deployment"
aws ssm put-parameter --name "$parameter" --type String --overwrite --value "$record" >/dev/null
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

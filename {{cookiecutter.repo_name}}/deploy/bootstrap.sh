#!/usr/bin/env bash
# CDK's bootstrap of one environment: its own qualifier and toolkit stack, and the
# CloudFormation execution policy `python -m infra bootstrap ENV` scopes to the environment
# (created or updated first) instead of cdk bootstrap's default AdministratorAccess.
#
#   deploy/bootstrap.sh BOOTSTRAP_JSON CDK_COMMAND...
set -euo pipefail

facts=${1:?usage: $0 BOOTSTRAP_JSON CDK_COMMAND...}
shift
name=$(jq -r .policy_name "$facts")
account=$(aws sts get-caller-identity --query Account --output text)
region=$(sed -n 's/^region: *//p' config/aws_config.yaml)
arn="arn:aws:iam::${account}:policy/${name}"
document="${facts%.json}-policy.json"
jq .policy "$facts" >"$document"
if aws iam get-policy --policy-arn "$arn" >/dev/null 2>&1; then
  # A policy keeps 5 versions at most: drop the old ones, then make the new one the default.
  for version in $(aws iam list-policy-versions --policy-arn "$arn" \
    --query 'Versions[?!IsDefaultVersion].VersionId' --output text); do
    aws iam delete-policy-version --policy-arn "$arn" --version-id "$version"
  done
  aws iam create-policy-version --policy-arn "$arn" --policy-document "file://$document" \
    --set-as-default >/dev/null
else
  aws iam create-policy --policy-name "$name" --policy-document "file://$document" >/dev/null
fi
echo "execution policy $arn: $document"
"$@" bootstrap "aws://${account}/${region}" --qualifier "$(jq -r .qualifier "$facts")" \
  --toolkit-stack-name "$(jq -r .toolkit_stack "$facts")" \
  --cloudformation-execution-policies "$arn"

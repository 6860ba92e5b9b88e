"""The generated `.github/workflows/cd.yml` run for real against moto in server mode, as CI's
`deploy` job calls it after a push to main: its jobs, step by step (tests/workflow.py), on
an AWS account that moto plays, in the state the first deployment by hand leaves it
(docs/deployment.md: CDK bootstrapped per environment, the shared stack, the previous
release's images and both environments deployed at them), with the images of the pushed
commit in ECR, as CI's `images` job leaves them.

`make infra-deploy` runs for real: the CDK CLI synthesizes the app, publishes the templates
to the bootstrap bucket and deploys them through CloudFormation change sets, which moto's
CloudFormation turns into VPCs, load balancers, ECS services and task definitions, roles and
buckets. moto (5.2) lacks some of it; the test fills those gaps here, each with its reason:
- resource types moto's CloudFormation does not know (MISSING_TYPES) get a stand-in with an
  id and the attributes the templates read, and a generated secret is a real one in moto's
  Secrets Manager (the CD reads the smoke-test key from it);
- ExecuteChangeSet leaves a stack without its Outputs (moto resolves them only on CreateStack
  and UpdateStack) and keeps the executed change set, which moto finds by name whatever its
  stack: after each, the Outputs are resolved and the stack's change sets deleted, as
  CloudFormation does; a change set that is not there is ChangeSetNotFoundException to
  DescribeChangeSet and nothing to DeleteChangeSet, as in CloudFormation (the CDK CLI relies
  on both);
- a parameter deployed with its previous value (SSM-typed: BootstrapVersion) keeps it;
- a target group answers no attribute: `TargetGroupFullName` (the alarms' dimension) is given.
The steps moto cannot serve at all are in NOT_RUN with the reason.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.cloudformation.exceptions import CloudFormationError, ValidationError
from moto.cloudformation.models import ChangeSet, CloudFormationBackend
from moto.cloudformation.parsing import ResourceMap
from moto.core.common_models import CloudFormationModel
from moto.elbv2.models import FakeTargetGroup
from moto.secretsmanager.models import secretsmanager_backends
from moto.server import ThreadedMotoServer

from tests.conftest import GIT, free_port, tool_env
from tests.test_ci_workflow import runner_env
from tests.workflow import NotRun, WorkflowRun

pytestmark = pytest.mark.slow

MISSING_TYPES = [
    "AWS::Athena::WorkGroup",
    "AWS::CloudWatch::Alarm",
    "AWS::EC2::SecurityGroupEgress",
    "AWS::Glue::Database",
    "AWS::IAM::OIDCProvider",
    "AWS::S3::BucketPolicy",
    "AWS::SecretsManager::SecretTargetAttachment",
    "AWS::ServiceDiscovery::PrivateDnsNamespace",
    "AWS::ServiceDiscovery::Service",
    "AWS::WAFv2::WebACL",
    "AWS::WAFv2::WebACLAssociation",
]
# What the smoke tests would have read from the staging API, the export would have printed,
# and the version production's registry would have given the release (none can run here).
SERVED_VERSION = "7"
RELEASE = {
    "artifact_digest": "sha256:" + "0" * 64,
    "release_uri": "s3://mlops-bucket-staging/releases/mlops_project_model/" + "0" * 64,
}
PROMOTED_VERSION = "3"
ON_ECS = (
    "deploy/run-ecs-task.sh calls ECS RunTask (Fargate, awsvpc): moto 5.2.6 answers it with an "
    "internal error (its NetworkInterface has no private_dns_name), and runs no container in "
    "any case: nothing would train or promote"
)
NO_API = (
    "python -m src.release calls $API_URL: moto's load balancer has a DNS name but serves no "
    "HTTP, and no API task runs behind it"
)
NOT_RUN = {
    ("staging", "Train, evaluate, register; stage the model if it passes the gates"): NotRun(
        ON_ECS
    ),
    ("staging", "Smoke tests"): NotRun(NO_API, {"model_version": SERVED_VERSION}),
    ("staging", "Export the model staging served (its files, named by their digest)"): NotRun(
        ON_ECS, RELEASE
    ),
    ("production", "Promote the model staging served to production, by its digest"): NotRun(
        ON_ECS, {"model_version": PROMOTED_VERSION}
    ),
    ("production", "Post-deploy check"): NotRun(NO_API, {"model_version": PROMOTED_VERSION}),
}
PREVIOUS_TAG = "0.0.9-0123456789ab"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
    "AWS_SESSION_TOKEN": "testing",  # pragma: allowlist secret
}


class StandIn:
    """A resource of a type moto's CloudFormation lacks: an ARN as its id (Ref) and for its
    *Arn attributes, `<id>-<attribute>` for the others; an attachment's Ref is its secret's.
    moto finds the direct subclasses of CloudFormationModel only: each stand-in is one, with
    this class first."""

    kind = ""

    def __init__(self, identifier: str) -> None:
        self.physical_resource_id = identifier

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.kind

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name.endswith("Arn"):
            return self.physical_resource_id
        return f"{self.physical_resource_id.rsplit(':', 1)[-1]}-{attribute_name}"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
        **kwargs: Any,
    ) -> StandIn:  # fmt: skip
        service = cls.kind.split("::")[1].lower()
        name = f"{kwargs['LogicalId']}-{secrets.token_hex(4)}"
        arn = f"arn:aws:{service}:{region_name}:{account_id}:{name}"
        return cls(cloudformation_json.get("Properties", {}).get("SecretId") or arn)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
        account_id: str, region_name: str,
    ) -> Any:  # fmt: skip
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        return None


class GeneratedSecret(StandIn, CloudFormationModel):
    """AWS::SecretsManager::Secret: a secret in moto's Secrets Manager; a generated value is
    `SecretStringTemplate` with a random `GenerateStringKey`, as CloudFormation makes it."""

    kind = "AWS::SecretsManager::Secret"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
        **kwargs: Any,
    ) -> StandIn:  # fmt: skip
        properties = cloudformation_json.get("Properties", {})
        value, generate = properties.get("SecretString"), properties.get("GenerateSecretString")
        if generate:
            value = secrets.token_urlsafe(24)
            if "GenerateStringKey" in generate:
                template = json.loads(generate.get("SecretStringTemplate", "{}"))
                value = json.dumps(template | {generate["GenerateStringKey"]: value})
        created = secretsmanager_backends[account_id][region_name].create_secret(
            name=properties.get("Name") or resource_name, secret_string=value,
            secret_binary=None, description=properties.get("Description"), tags=[],
            kms_key_id=None, client_request_token=None, replica_regions=[], force_overwrite=False,
        )  # fmt: skip
        return cls(json.loads(created)["ARN"])


# moto builds its CloudFormation type map from CloudFormationModel's subclasses at its
# first template: these exist from this module's import on.
STAND_INS = [
    type(
        kind.replace(":", ""),
        (StandIn, CloudFormationModel),
        {"kind": kind, "__module__": __name__},
    )
    for kind in MISSING_TYPES
]
_execute_change_set = CloudFormationBackend.execute_change_set
_describe_change_set = CloudFormationBackend.describe_change_set


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFoundException"


def describe_change_set(backend: CloudFormationBackend, change_set_name: str) -> ChangeSet:
    """moto's, with CloudFormation's error for a change set that is not there (moto's is a
    ValidationError, which the CDK CLI, waiting for its old change set to go, takes for a
    failure)."""
    try:
        return _describe_change_set(backend, change_set_name)
    except ValidationError as error:
        raise ChangeSetNotFound(f"ChangeSet [{change_set_name}] does not exist") from error


def delete_change_set(backend: CloudFormationBackend, change_set_name: str) -> None:
    """CloudFormation deletes a change set that is not there without a word (moto: a 500)."""
    for arn, change_set in list(backend.change_sets.items()):
        if change_set_name in (arn, change_set.change_set_name):
            del backend.change_sets[arn]


def execute_change_set(
    backend: CloudFormationBackend, change_set_name: str, stack_name: str | None = None
) -> None:
    """moto's ExecuteChangeSet, then what CloudFormation also does: the stack's Outputs
    resolved from its new template, and the stack's change sets deleted (moto keeps them,
    and finds one by name whatever its stack: the next `cdk deploy` of another stack would
    wait for its `cdk-deploy-change-set` to go)."""
    change_set = backend.describe_change_set(change_set_name)
    _execute_change_set(backend, change_set_name, stack_name)
    stack = change_set.stack
    stack.template_dict = change_set.template_dict
    stack.output_map = stack._create_output_map()
    for arn in [arn for arn, other in backend.change_sets.items() if other.stack is stack]:
        del backend.change_sets[arn]


_parse_ssm_parameter = ResourceMap.parse_ssm_parameter


def parse_ssm_parameter(resources: ResourceMap, value: str, value_type: str) -> str:
    """moto's, except for a parameter deployed again with its previous value (the CDK CLI
    sends UsePreviousValue): moto passes the value it resolved last time, not the SSM name,
    and fails on it; that value stands."""
    try:
        return str(_parse_ssm_parameter(resources, value, value_type))
    except AttributeError:  # moto's: no SSM parameter of that name
        return value


def target_group_attribute(target_group: FakeTargetGroup, attribute_name: str) -> str:
    """The one attribute of a target group the stacks read (the alarms' dimension), which
    moto's target group does not answer."""
    assert attribute_name == "TargetGroupFullName", attribute_name
    return str(target_group.arn.split(":")[-1])


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """moto in server mode, and the environment that points the AWS CLI, SDKs and the CDK
    CLI at it. The host is `localhost`: moto finds the bucket of a change set's TemplateURL
    in the URL's path only for that host (or s3.*.amazonaws.com); CDK builds the URL from
    the endpoint."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    for name, method in {
        "execute_change_set": execute_change_set,
        "describe_change_set": describe_change_set,
        "delete_change_set": delete_change_set,
    }.items():
        monkeypatch.setattr(CloudFormationBackend, name, method)
    monkeypatch.setattr(ResourceMap, "parse_ssm_parameter", parse_ssm_parameter)
    monkeypatch.setattr(FakeTargetGroup, "get_cfn_attribute", target_group_attribute, raising=False)
    server.start()
    try:
        yield {
            "AWS_ENDPOINT_URL": f"http://localhost:{port}",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        }
    finally:
        server.stop()


def client(aws: dict[str, str], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=aws["AWS_ENDPOINT_URL"],
        region_name=aws["AWS_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # pragma: allowlist secret
    )


def sh(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, f"{command}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


@pytest.fixture
def repository(pushed: Path, tmp_path: Path, aws: dict[str, str]) -> Path:
    """The default project as a team deploys it (docs/deployment.md, steps 2-3): the GitHub
    repository named, each environment's API domain with an ACM certificate (requested in
    moto's ACM), committed."""
    repository = tmp_path / "repository"
    sh(["git", "clone", "--quiet", str(pushed), str(repository)], tmp_path, tool_env())
    arn = client(aws, "acm").request_certificate(
        DomainName="api.example.com", SubjectAlternativeNames=["api.staging.example.com"]
    )["CertificateArn"]
    config = repository / "config" / "aws_config.yaml"
    text = config.read_text()
    assert 'github_repository: ""' in text
    config.write_text(text.replace('github_repository: ""', "github_repository: example/mlops"))
    environments = repository / "infra" / "environments.py"
    text = environments.read_text()
    for name, domain in {
        "staging": "api.staging.example.com",
        "production": "api.example.com",
    }.items():
        start = f'"{name}": Environment('
        assert start in text
        text = text.replace(start, f'{start}domain_name="{domain}", certificate_arn="{arn}", ')
    environments.write_text(text)
    sh([*GIT, "commit", "--quiet", "--no-verify", "--all", "-m", "Deploy"], repository, tool_env())
    return repository


def push_images(aws: dict[str, str], project: Path, tag: str) -> dict[str, str]:
    """What CI's images job leaves in ECR for a tag: one image per docker/*.Dockerfile (a
    manifest whose one layer is unique to the image and tag); their digests by image."""
    ecr, digests = client(aws, "ecr"), {}
    for image in sorted(path.stem for path in (project / "docker").glob("*.Dockerfile")):
        layer = "sha256:" + hashlib.sha256(f"{image}:{tag}".encode()).hexdigest()
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": 1, "digest": layer},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": 1, "digest": layer}],
        }  # fmt: skip
        pushed = ecr.put_image(
            repositoryName=f"mlops-project/{image}",
            imageTag=tag,
            imageManifest=json.dumps(manifest),
        )
        digests[image] = pushed["image"]["imageId"]["imageDigest"]
    return digests


def deploy_by_hand(repository: Path, aws: dict[str, str]) -> None:
    """docs/deployment.md steps 1 and 4-6 with administrator credentials: CDK bootstrapped
    for both environments, the shared stack, the previous release's images, both
    environments at them. (Step 6's API_DESIRED_COUNT=0 is left out: moto runs no task.)"""
    env = tool_env() | aws | FAKE_CREDENTIALS | {"CI": "true"}
    for environment in ("staging", "production"):
        sh(["make", "infra-bootstrap", f"ENV={environment}"], repository, env)
    sh(["make", "infra-deploy", "ENV=shared"], repository, env)
    push_images(aws, repository, PREVIOUS_TAG)
    for environment in ("staging", "production"):
        sh(["make", "infra-deploy", f"ENV={environment}", f"TAG={PREVIOUS_TAG}"], repository, env)


def test_the_cd_workflow_deploys_both_environments_on_moto(
    repository: Path, aws: dict[str, str], tmp_path: Path
) -> None:
    deploy_by_hand(repository, aws)
    cloudformation = client(aws, "cloudformation")
    (shared,) = cloudformation.describe_stacks(StackName="mlops-project-shared")["Stacks"]
    roles = {output["OutputKey"]: output["OutputValue"] for output in shared["Outputs"]}
    run = WorkflowRun(
        repository,
        repository / ".github" / "workflows" / "cd.yml",
        tmp_path / "run",
        event="push",
        ref="refs/heads/main",
        env=runner_env(tmp_path) | aws,
        environments={
            name: {"AWS_DEPLOY_ROLE_ARN": roles[f"{name.capitalize()}DeployRoleArn"]}
            for name in ("staging", "production")
        },
        not_run=NOT_RUN,
        name="example/mlops",
    )
    run.folder.mkdir()
    facts = sh(["deploy/release-facts.sh", run.sha], repository, tool_env())
    new_tag = dict(line.split("=", 1) for line in facts.splitlines())["image_tag"]
    digests = push_images(aws, repository, new_tag)

    run.execute()

    log = "\n".join(run.log)
    assert run.results == {"plan": "success", "staging": "success", "production": "success"}, log
    not_run = [line for line in run.log if ": not run: " in line]
    assert len(not_run) == len(NOT_RUN), log
    assert all(": ran in " in line for line in run.log if line not in not_run), log
    assert run.outputs["plan"]["image_tag"] == new_tag
    assert {key: run.outputs["staging"][key] for key in RELEASE} == RELEASE
    ecs, ssm = client(aws, "ecs"), client(aws, "ssm")
    registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-project"
    for environment in ("staging", "production"):
        name = f"/mlops-project/{environment}/deployment"
        record = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
        assert record["image"] == f"{registry}/api:{new_tag}"
        assert (record["app_version"], record["git_commit"]) == (new_tag.split("-")[0], run.sha)
        served = {"staging": SERVED_VERSION, "production": PROMOTED_VERSION}[environment]
        assert (record["model_alias"], record["model_version"]) == (environment, served)
        assert record["run_url"] == "https://github.com/example/mlops/actions/runs/1"
        (service,) = ecs.describe_services(
            cluster=f"mlops-project-{environment}", services=["mlops-project-api"]
        )["services"]
        assert record["task_definition"] == service["taskDefinition"]
        # The service update deployed the stack with the new images' digests. (moto applies a
        # change of parameter values alone to no resource: its task definitions keep the
        # previous images, where CloudFormation would register new revisions.)
        (stack,) = cloudformation.describe_stacks(StackName=f"mlops-project-{environment}")[
            "Stacks"
        ]
        deployed = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
        for image in ("api", "training", "mlflow"):
            assert deployed[f"{image.capitalize()}Digest"] == digests[image], deployed

"""The synthesized stacks deployed to moto's CloudFormation, over HTTP, in dependency order.

moto creates the resource types it implements (VPC and subnets, security groups, IAM roles
and policies, ECS cluster, task definitions and services, the load balancer, RDS, S3, ECR,
SSM, log groups) and checks what it can (e.g. that every policy statement has resources).
It does not implement these, which the test takes out of the templates, and whose
references become stand-in ARNs: UNSUPPORTED below (the assertion tests cover them).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any, cast

import pytest

from tests.conftest import FAKE_AWS_ENV, moto_api
from tests.infra_templates import Synthesized, Template

pytestmark = pytest.mark.integration

# moto 5's CloudFormation has no model for these; a new moto that gains one fails the
# test below, so this list stays true.
UNSUPPORTED = {
    "AWS::Athena::WorkGroup",
    "AWS::CloudWatch::Alarm",
    "AWS::EC2::SecurityGroupEgress",
    "AWS::Glue::Database",
    "AWS::IAM::OIDCProvider",
    "AWS::S3::BucketPolicy",
    "AWS::SecretsManager::Secret",
    "AWS::SecretsManager::SecretTargetAttachment",
    "AWS::ServiceDiscovery::PrivateDnsNamespace",
    "AWS::ServiceDiscovery::Service",
}
BOOTSTRAP_VERSION = "/cdk-bootstrap/hnb659fds/version"
STAND_IN_ACCOUNT = "123456789012"


def supported_by_moto(kind: str) -> bool:
    from moto.cloudformation.parsing import resource_class_from_type

    return resource_class_from_type(kind) is not None


def for_moto(template: Template, region: str) -> Template:
    """The template without moto's unsupported resources, their references as stand-ins."""
    prepared = copy.deepcopy(template)
    removed = {
        logical_id: resource["Type"]
        for logical_id, resource in prepared["Resources"].items()
        if resource["Type"] in UNSUPPORTED
    }
    for logical_id in removed:
        del prepared["Resources"][logical_id]

    def stand_in(value: Any) -> Any:
        if isinstance(value, list):
            return [stand_in(item) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"} and value["Ref"] in removed:
            _, service, kind = removed[value["Ref"]].lower().split("::")
            return f"arn:aws:{service}:{region}:{STAND_IN_ACCOUNT}:{kind}:{value['Ref']}"
        if set(value) == {"Fn::GetAtt"} and value["Fn::GetAtt"][0] in removed:
            return "stand-in-" + "-".join(value["Fn::GetAtt"])
        return {key: stand_in(item) for key, item in value.items()}

    prepared = cast(Template, stand_in(prepared))
    for resource in prepared["Resources"].values():
        depends = resource.get("DependsOn")
        if depends is not None:
            listed = depends if isinstance(depends, list) else [depends]
            resource["DependsOn"] = [name for name in listed if name not in removed]
        # moto reads AWS::SSM::Parameter's Tags as a list; CloudFormation's is a map.
        if resource["Type"] == "AWS::SSM::Parameter" and isinstance(
            resource["Properties"].get("Tags"), dict
        ):
            tags = resource["Properties"]["Tags"]
            resource["Properties"]["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return prepared


@pytest.fixture
def cloudformation(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3

    moto_api(moto_endpoint, "reset")
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    # What `cdk bootstrap` leaves in an account; the stacks' BootstrapVersion reads it.
    boto3.client("ssm", endpoint_url=moto_endpoint).put_parameter(
        Name=BOOTSTRAP_VERSION, Value="30", Type="String"
    )
    yield boto3.client("cloudformation", endpoint_url=moto_endpoint)
    moto_api(moto_endpoint, "reset")


def test_moto_lacks_exactly_the_types_the_tests_take_out(synthesized: Synthesized) -> None:
    kinds = {
        resource["Type"]
        for template in synthesized.templates.values()
        for resource in template["Resources"].values()
    }
    assert {kind for kind in kinds if not supported_by_moto(kind)} == UNSUPPORTED & kinds


def test_every_stack_deploys_to_moto_in_order(
    synthesized: Synthesized, cloudformation: Any, moto_endpoint: str
) -> None:
    import boto3

    region = synthesized.settings.aws.region
    for environment in ("shared", "staging", "production"):
        name = f"{synthesized.project}-{environment}"
        template = synthesized.stack(environment)
        parameters = [
            {"ParameterKey": "ImageTag", "ParameterValue": "0.1.0-0123456789ab"}
        ] if "ImageTag" in template.get("Parameters", {}) else []  # fmt: skip
        cloudformation.create_stack(
            StackName=name,
            TemplateBody=json.dumps(for_moto(template, region)),
            Parameters=parameters,
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
        created = cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]
        expected = {
            logical_id
            for logical_id, resource in template["Resources"].items()
            if resource["Type"] not in UNSUPPORTED
        }
        complete = {
            r["LogicalResourceId"] for r in created if r["ResourceStatus"] == "CREATE_COMPLETE"
        }
        assert complete == expected, name

    ecs = boto3.client("ecs", endpoint_url=moto_endpoint)
    iam = boto3.client("iam", endpoint_url=moto_endpoint)
    for environment in ("staging", "production"):
        cluster = f"{synthesized.project}-{environment}"
        services = ecs.describe_services(cluster=cluster, services=[f"{synthesized.project}-api"])[
            "services"
        ]
        assert [service["status"] for service in services] == ["ACTIVE"]
        role = f"{synthesized.project}-{environment}-api-task"
        assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["access"]

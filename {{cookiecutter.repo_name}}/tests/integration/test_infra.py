"""The AWS runtime as code (infra/): the synthesized templates, asserted offline.

One synthesis per session (`synthesized` fixture); aws_cdk.assertions checks resource
properties, plain JSON walks check what must hold for every resource (nothing public but
the load balancer, encryption at rest, the exact grants of every role).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from src.data.access import (
    ATHENA_QUERY_ACTIONS,
    TaskAccess,
    describe_orchestrator_access,
    describe_task_access,
)
from src.data.feature_store import load_feature_view
from src.orchestration import CONTAINER_NAME, ECS_STEPS, LOG_STREAM_PREFIX, task_definition_family
from src.settings import FEATURES_FILE, PROJECT_ROOT
from tests.infra_templates import (
    ACCOUNT,
{%- if cookiecutter.ci_provider == "github" %}
    GITHUB_REPOSITORY,
{%- endif %}
    Synthesized,
    Template,
    resolve,
    resources,
    role_statements,
    statements,
)

pytestmark = pytest.mark.integration

ENVIRONMENTS = ("staging", "production")


def assertion_template(template: Template) -> Any:
    from aws_cdk.assertions import Template as CdkTemplate

    return CdkTemplate.from_json(template)


def test_synthesis_writes_every_stack_and_cdk_nag_finds_nothing(synthesized: Synthesized) -> None:
    assert synthesized.errors == []
    assert set(synthesized.templates) == {
        f"{synthesized.project}-{name}" for name in ("shared", *ENVIRONMENTS)
    }
    assert set(synthesized.settings.aws.environments) == set(ENVIRONMENTS)


def expected_grants(
    access: TaskAccess, region: str
) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(actions, resources) of every statement the access module's declaration calls for."""
    bucket = f"arn:aws:s3:::{access.bucket}"
    expected: list[tuple[tuple[str, ...], tuple[str, ...]]] = [(("s3:ListBucket",), (bucket,))]
    for action, prefixes in (
        ("s3:GetObject", access.reads),
        ("s3:PutObject", access.writes),
        ("s3:DeleteObject", access.deletes),
    ):
        if prefixes:
            expected.append(((action,), tuple(f"{bucket}/{prefix}/*" for prefix in prefixes)))
    if access.tables:
        glue = f"arn:aws:glue:{region}:{ACCOUNT}"
        scope = (f"{glue}:catalog", f"{glue}:database/{access.database}")

        def tables(names: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(f"{glue}:table/{access.database}/{name}" for name in names)

        expected.append((access.glue_read_actions, (*scope, *tables(access.tables))))
        if access.writes_tables:
            expected.append((access.glue_write_actions, (*scope, *tables(access.writes_tables))))
    if access.athena_workgroup:
        expected += [
            (
                ATHENA_QUERY_ACTIONS,
                (f"arn:aws:athena:{region}:{ACCOUNT}:workgroup/{access.athena_workgroup}",),
            ),
            (("s3:GetBucketLocation",), (bucket,)),
        ]
    return expected


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_task_role_grants_exactly_what_the_access_module_declares(
    synthesized: Synthesized, environment: str
) -> None:
    template = synthesized.stack(environment)
    region = synthesized.settings.aws.region
    settings = synthesized.settings.for_environment(environment)
    accesses = describe_task_access(settings, load_feature_view(FEATURES_FILE))
    assert set(accesses) == {*ECS_STEPS, "api", "jobs", "mlflow"}
    for name, access in accesses.items():
        granted = role_statements(template, f"{synthesized.project}-{environment}-{name}-task")
        found = [
            (tuple(sorted(statement["Action"])), tuple(statement["Resource"]))
            for statement in granted
        ]
        assert sorted(found) == sorted(
            (tuple(sorted(actions)), resources_)
            for actions, resources_ in expected_grants(access, region)
        ), name
        listing = next(s for s in granted if s["Action"] == ["s3:ListBucket"])
        if access.lists_whole_bucket:
            assert "Condition" not in listing, name
        else:
            assert sorted(listing["Condition"]["StringLike"]["s3:prefix"]) == sorted(
                pattern for prefix in access.prefixes for pattern in (prefix, f"{prefix}/*")
            )
        assert all(statement["Effect"] == "Allow" for statement in granted)


def test_the_steps_that_write_quality_reports_reach_them_and_no_role_creates_the_database(
    synthesized: Synthesized,
) -> None:
    s3 = synthesized.settings.aws.s3
    view = load_feature_view(FEATURES_FILE)
    accesses = describe_task_access(synthesized.settings, view)
    for step in ("bronze", "silver"):
        assert f"{s3.quality_prefix}/{view.dataset}" in accesses[step].writes
    assert s3.quality_prefix in accesses["jobs"].writes
    for name, template in synthesized.templates.items():
        for policy in iter_policies(template):
            actions = {action for statement in policy for action in statement["Action"]}
            assert "glue:CreateDatabase" not in actions, name
            assert not any(action.endswith("*") for action in actions), name


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_step_has_the_task_definition_the_dags_launch(
    synthesized: Synthesized, environment: str
) -> None:
    template = synthesized.stack(environment)
    sizes = synthesized.settings.aws.environments[environment].steps
    tasks = {
        properties["Family"]: properties
        for properties in resources(template, "AWS::ECS::TaskDefinition").values()
    }
    roles = {
        logical_id: properties.get("RoleName", "")
        for logical_id, properties in resources(template, "AWS::IAM::Role").items()
    }
    (log_group,) = (
        logical_id
        for logical_id, group in resources(template, "AWS::Logs::LogGroup").items()
        if group.get("LogGroupName") == f"/ecs/{synthesized.project}/{environment}"
    )
    for step in ECS_STEPS:
        task = tasks[task_definition_family(step, environment, synthesized.project)]
        (container,) = task["ContainerDefinitions"]
        assert container["Name"] == CONTAINER_NAME
        assert resolve(container["Image"], template).endswith(
            f"/{synthesized.project}/training:<ImageTag>"
        )
        options = container["LogConfiguration"]["Options"]
        assert options["awslogs-stream-prefix"] == LOG_STREAM_PREFIX
        assert options["awslogs-group"] == {"Ref": log_group}
        assert (int(task["Cpu"]), int(task["Memory"])) == (
            sizes[step].cpu,
            sizes[step].memory_mib,
        )
        role = roles[task["TaskRoleArn"]["Fn::GetAtt"][0]]
        assert role == f"{synthesized.project}-{environment}-{step}-task"
    # Training holds the training set and the search: the biggest task by default.
    assert max(sizes.values(), key=lambda size: size.memory_mib) == sizes["training"]
    # The jobs task stays for the CD's one-off commands (deploy/run-ecs-task.sh).
    jobs = tasks[f"{synthesized.project}-{environment}-jobs"]
    assert jobs["ContainerDefinitions"][0]["Name"] == "jobs"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_launch_policy_runs_exactly_the_step_families_and_passes_their_roles(
    synthesized: Synthesized, environment: str
) -> None:
    template = synthesized.stack(environment)
    region = synthesized.settings.aws.region
    project = synthesized.project
    (policy,) = resources(template, "AWS::IAM::ManagedPolicy").values()
    assert policy["ManagedPolicyName"] == f"{project}-{environment}-launch-steps"
    granted = {
        statement["Sid"]: statement for statement in statements(template, policy["PolicyDocument"])
    }
    ecs_arn = f"arn:aws:ecs:{region}:{ACCOUNT}"
    run = granted["RunTheStepTasks"]
    assert run["Action"] == ["ecs:RunTask"]
    assert sorted(run["Resource"]) == sorted(
        f"{ecs_arn}:task-definition/{task_definition_family(step, environment, project)}:*"
        for step in ECS_STEPS
    )
    assert run["Condition"] == {
        "ArnEquals": {"ecs:cluster": f"{ecs_arn}:cluster/{project}-{environment}"}
    }
    roles = {
        logical_id: properties.get("RoleName", "")
        for logical_id, properties in resources(template, "AWS::IAM::Role").items()
    }
    passed = granted["HandTheStepRolesToEcsOnly"]
    assert passed["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }
    handed = sorted(roles[arn.strip("<>").removesuffix(".Arn")] for arn in passed["Resource"])
    assert handed == sorted(
        [
            *(f"{project}-{environment}-{step}-task" for step in ECS_STEPS),
            f"{project}-{environment}-execution",
        ]
    )
    # What the DAGs' own tasks read, as the access module declares it, and nothing else.
    settings = synthesized.settings.for_environment(environment)
    orchestrator = describe_orchestrator_access(settings, load_feature_view(FEATURES_FILE))
    assert f"{settings.aws.s3.runs_prefix}" in orchestrator.reads
    launching = {
        "RunTheStepTasks", "FindTheRunningStepTasks", "WatchAndStopTheTasks",
        "ReadTheStepLogs", "HandTheStepRolesToEcsOnly",
    }  # fmt: skip
    found = sorted(
        (tuple(sorted(statement["Action"])), tuple(statement["Resource"]))
        for sid, statement in granted.items()
        if sid not in launching
    )
    assert found == sorted(
        (tuple(sorted(actions)), resources_)
        for actions, resources_ in expected_grants(orchestrator, region)
    )
    assert "Condition" not in granted["ListTheBucket"]
    assert granted["ReadTheStepLogs"]["Resource"] == [
        f"arn:aws:logs:{region}:{ACCOUNT}:log-group:/ecs/{project}/{environment}"
        f":log-stream:{LOG_STREAM_PREFIX}/*"
    ]


def iter_policies(template: Template) -> list[list[dict[str, Any]]]:
    documents = [
        policy["PolicyDocument"]
        for role in resources(template, "AWS::IAM::Role").values()
        for policy in role.get("Policies", [])
    ] + [
        policy["PolicyDocument"]
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        for policy in resources(template, kind).values()
    ]
    return [statements(template, document) for document in documents]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_wildcard_resource_is_only_granted_for_ecr_login(
    synthesized: Synthesized, environment: str
) -> None:
    for template in (synthesized.stack(environment), synthesized.stack("shared")):
        for policy in iter_policies(template):
            for statement in policy:
                if "*" in statement["Resource"]:
                    assert statement["Action"] == ["ecr:GetAuthorizationToken"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_execution_role_reads_only_the_environments_images_logs_and_secrets(
    synthesized: Synthesized, environment: str
) -> None:
    template = synthesized.stack(environment)
    granted = role_statements(template, f"{synthesized.project}-{environment}-execution")
    secrets = set(resources(template, "AWS::SecretsManager::Secret"))
    attachments = set(resources(template, "AWS::SecretsManager::SecretTargetAttachment"))
    repositories = {
        f"arn:aws:ecr:{synthesized.settings.aws.region}:{ACCOUNT}:repository/"
        f"{synthesized.project}/{image}"
        for image in ("api", "training", "mlflow")
    }
    for statement in granted:
        actions = set(statement["Action"])
        for resource in statement["Resource"]:
            if actions <= {
                "ecr:BatchCheckLayerAvailability",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchGetImage",
            }:
                assert resource in repositories
            elif actions == {"ecr:GetAuthorizationToken"}:
                assert resource == "*"
            elif actions <= {"logs:CreateLogStream", "logs:PutLogEvents"}:
                assert resource.startswith("<Logs") and resource.endswith(".Arn>")
            elif actions <= {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}:
                assert resource.strip("<>") in secrets | attachments
            else:
                assert actions <= {
                    "ssm:DescribeParameters",
                    "ssm:GetParameters",
                    "ssm:GetParameter",
                    "ssm:GetParameterHistory",
                }, actions
                assert resource.endswith(
                    ":parameter<TrackingUri" + resource.split("<TrackingUri")[-1]
                )


{% if cookiecutter.ci_provider == "github" -%}
def test_the_github_roles_trust_only_the_repositorys_main_branch_and_environments(
    synthesized: Synthesized,
) -> None:
    template = synthesized.stack("shared")
    roles = {
        properties["RoleName"]: properties
        for properties in resources(template, "AWS::IAM::Role").values()
    }
    subjects = {
        name: role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringLike"][
            "token.actions.githubusercontent.com:sub"
        ]
        for name, role in roles.items()
    }
    assert subjects == {
        f"{synthesized.project}-ci": [f"repo:{GITHUB_REPOSITORY}:ref:refs/heads/main"],
        f"{synthesized.project}-deploy": [
            f"repo:{GITHUB_REPOSITORY}:environment:{name}" for name in sorted(ENVIRONMENTS)
        ],
    }
    (provider,) = resources(template, "AWS::IAM::OIDCProvider").values()
    assert provider["Url"] == "https://token.actions.githubusercontent.com"
    ci = role_statements(template, f"{synthesized.project}-ci")
    pushed = {resource for statement in ci for resource in statement["Resource"]}
    assert pushed == {
        "*",
        f"arn:aws:ecr:{synthesized.settings.aws.region}:{ACCOUNT}:repository/{synthesized.project}/*",
    }
    deploy = role_statements(template, f"{synthesized.project}-deploy")
    passed = next(s for s in deploy if s["Action"] == ["iam:PassRole"])
    assert passed["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }
    assert sorted(passed["Resource"]) == sorted(
        f"arn:aws:iam::{ACCOUNT}:role/{synthesized.project}-{name}-{purpose}"
        for name in ENVIRONMENTS
        for purpose in ("jobs-task", "execution")
    )


{% endif -%}
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_api_rolls_a_bad_deployment_back(synthesized: Synthesized, environment: str) -> None:
    from aws_cdk.assertions import Match

    template = synthesized.stack(environment)
    limits = synthesized.settings.aws.environments[environment].api
    prefix = f"{synthesized.project}-{environment}-api"
    alarms = [f"{prefix}-5xx-rate", f"{prefix}-p95-latency"]
    services = {s["ServiceName"]: s for s in resources(template, "AWS::ECS::Service").values()}
    api = services[f"{synthesized.project}-api"]
    assert api["DesiredCount"] == limits.desired_count
    deployment = api["DeploymentConfiguration"]
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert deployment["MinimumHealthyPercent"] == 100
    assert {k: v for k, v in deployment["Alarms"].items() if k != "AlarmNames"} == {
        "Enable": True,
        "Rollback": True,
    }
    # The names are references to the alarms, so that ECS waits until they exist.
    named = [template["Resources"][ref["Ref"]] for ref in deployment["Alarms"]["AlarmNames"]]
    assert [alarm["Properties"]["AlarmName"] for alarm in named] == alarms
    mlflow = services[f"{synthesized.project}-mlflow"]["DeploymentConfiguration"]
    assert mlflow["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    checked = assertion_template(template)
    checked.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": alarms[0],
            "Threshold": limits.max_5xx_percent,
            "ComparisonOperator": "GreaterThanThreshold",
            "Metrics": Match.array_with(
                [
                    Match.object_like({"Expression": Match.string_like_regexp("errors.*requests")}),
                    Match.object_like(
                        {
                            "Id": "errors",
                            "MetricStat": Match.object_like(
                                {
                                    "Metric": Match.object_like(
                                        {"MetricName": "HTTPCode_Target_5XX_Count"}
                                    )
                                }
                            ),
                        }
                    ),
                ]
            ),
        },
    )
    checked.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": alarms[1],
            "MetricName": "TargetResponseTime",
            "ExtendedStatistic": "p95",
            "Threshold": limits.max_p95_latency_seconds,
        },
    )
    checked.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {"Port": 8000, "HealthCheckPath": "/ready", "Matcher": {"HttpCode": "200"}},
    )


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_nothing_is_public_but_the_api_load_balancer(
    synthesized: Synthesized, environment: str
) -> None:
    template = synthesized.stack(environment)
    balancers = resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert [lb["Scheme"] for lb in balancers.values()] == ["internet-facing"]
    (balancer,) = balancers.values()
    (balancer_group,) = (group["Fn::GetAtt"][0] for group in balancer["SecurityGroups"])
    open_to_the_world = {
        logical_id
        for logical_id, group in resources(template, "AWS::EC2::SecurityGroup").items()
        for rule in group.get("SecurityGroupIngress", [])
        if rule.get("CidrIp") == "0.0.0.0/0" or rule.get("CidrIpv6") == "::/0"
    }
    assert open_to_the_world == {balancer_group}
    for rule in resources(template, "AWS::EC2::SecurityGroupIngress").values():
        assert "CidrIp" not in rule and "CidrIpv6" not in rule
    for database in resources(template, "AWS::RDS::DBInstance").values():
        assert database["PubliclyAccessible"] is False
    for service in resources(template, "AWS::ECS::Service").values():
        assert (
            service["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
        )
    for name, stack in synthesized.templates.items():
        for bucket in resources(stack, "AWS::S3::Bucket").values():
            assert bucket["PublicAccessBlockConfiguration"] == {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            }, name


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_ports_between_the_parts(synthesized: Synthesized, environment: str) -> None:
    template = synthesized.stack(environment)
    groups = resources(template, "AWS::EC2::SecurityGroup")

    def named(description: str) -> str:
        return next(k for k, g in groups.items() if g["GroupDescription"].startswith(description))

    balancer = named("Public load balancer of the API")
    api = named("API tasks")
    mlflow = named("MLflow server tasks")
    database = named("Postgres of the MLflow server")
    jobs = named("Jobs tasks")
    rules = {
        (
            rule["GroupId"]["Fn::GetAtt"][0],
            rule["SourceSecurityGroupId"]["Fn::GetAtt"][0],
            rule["FromPort"],
            rule["ToPort"],
        )
        for rule in resources(template, "AWS::EC2::SecurityGroupIngress").values()
    }
    assert rules == {
        (api, balancer, 8000, 8000),
        (mlflow, api, 5000, 5000),
        (mlflow, jobs, 5000, 5000),
        (database, mlflow, 5432, 5432),
    }
    https = bool(synthesized.settings.aws.environments[environment].api.certificate_arn)
    port = 443 if https else 80
    assert [(r["FromPort"], r["ToPort"]) for r in groups[balancer]["SecurityGroupIngress"]] == [
        (port, port)
    ]
    (listener,) = resources(template, "AWS::ElasticLoadBalancingV2::Listener").values()
    assert listener["Port"] == port


@pytest.mark.parametrize("stack", ("shared", *ENVIRONMENTS))
def test_everything_stored_is_encrypted_at_rest(synthesized: Synthesized, stack: str) -> None:
    template = synthesized.stack(stack)
    for bucket in resources(template, "AWS::S3::Bucket").values():
        (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    for database in resources(template, "AWS::RDS::DBInstance").values():
        assert database["StorageEncrypted"] is True
    for repository in resources(template, "AWS::ECR::Repository").values():
        assert repository["EncryptionConfiguration"]["EncryptionType"] in {"AES256", "KMS"}
    for workgroup in resources(template, "AWS::Athena::WorkGroup").values():
        result = workgroup["WorkGroupConfiguration"]["ResultConfiguration"]
        assert result["EncryptionConfiguration"]["EncryptionOption"] == "SSE_S3"
    # Secrets Manager and CloudWatch Logs always encrypt; no secret may be a plain value.
    for secret in resources(template, "AWS::SecretsManager::Secret").values():
        assert "SecretString" not in secret
    for task in resources(template, "AWS::ECS::TaskDefinition").values():
        for container in task["ContainerDefinitions"]:
            names = {variable["Name"] for variable in container.get("Environment", [])}
            assert not {n for n in names if "PASSWORD" in n or "KEY" in n or "SECRET" in n}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_clients_log_in_to_mlflow_with_the_admin_secret(
    synthesized: Synthesized, environment: str
) -> None:
    template = synthesized.stack(environment)
    secrets = {
        properties["Name"]: logical_id
        for logical_id, properties in resources(template, "AWS::SecretsManager::Secret").items()
    }
    admin = secrets[f"{synthesized.project}/{environment}/mlflow-admin"]
    containers = {
        task["Family"]: container
        for task in resources(template, "AWS::ECS::TaskDefinition").values()
        for container in task["ContainerDefinitions"]
    }
    family = f"{synthesized.project}-{environment}"
    clients = {
        f"{family}-{name}" for name in ("api", "jobs", "training", "batch-inference", "drift-check")
    }
    assert set(containers) == {f"{family}-{name}" for name in ("api", "jobs", "mlflow", *ECS_STEPS)}
    for name, container in containers.items():
        given = {
            secret["Name"]: resolve(secret["ValueFrom"], template)
            for secret in container.get("Secrets", [])
        }
        if name in clients or name.endswith("-mlflow"):
            assert given["MLFLOW_TRACKING_USERNAME"] == f"<{admin}>:username::"
            assert given["MLFLOW_TRACKING_PASSWORD"] == f"<{admin}>:password::"
        else:
            # The data steps never talk to MLflow: no credentials of it.
            assert given == {}, name
        assert container["ReadonlyRootFilesystem"] is True
        assert container["User"] == "10001:10001"
        assert container["LogConfiguration"]["Options"]["awslogs-group"] == {
            "Ref": next(
                k
                for k, g in resources(template, "AWS::Logs::LogGroup").items()
                if g.get("LogGroupName") == f"/ecs/{synthesized.project}/{environment}"
            )
        }, name
    assert "--app-name basic-auth" in containers[f"{family}-mlflow"]["Command"][0]
    retention = synthesized.settings.aws.environments[environment].log_retention_days
    for group in resources(template, "AWS::Logs::LogGroup").values():
        assert group["RetentionInDays"] == retention


def test_the_templates_pass_cfn_lint(synthesized: Synthesized) -> None:
    templates = sorted(str(path) for path in synthesized.directory.glob("*.template.json"))
    result = subprocess.run(
        # The console script of the environment the tests run in, as `make infra-synth` runs it.
        [str(Path(sys.executable).parent / "cfn-lint"), *templates],
        cwd=PROJECT_ROOT,  # its .cfnlintrc.yaml
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_mlflow_server_starts_with_basic_auth_from_its_secrets(tmp_path: Path) -> None:
    from infra.mlflow_server import DATABASE_NAME, PORT, STARTUP

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "mlflow"
    # Stands in for the server: records its arguments and the config it was pointed at.
    fake.write_text(
        '#!/bin/sh\nprintf "%s\\n" "$@" > "$OUT/args"\ncp "$MLFLOW_AUTH_CONFIG_PATH" "$OUT/ini"\n'
    )
    fake.chmod(0o755)
    script = STARTUP % {"database": DATABASE_NAME, "port": PORT, "artifacts": "s3://b/p"}
    environment = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "OUT": str(tmp_path),
        "DB_USER": "mlflow",
        "DB_PASSWORD": "pw1",
        "DB_HOST": "db.internal",
        "DB_PORT": "5432",
        "MLFLOW_TRACKING_USERNAME": "admin",
        "MLFLOW_TRACKING_PASSWORD": "pw2",
    }
    subprocess.run(
        ["/bin/sh", "-c", script.replace("/tmp/", f"{tmp_path}/")],
        env=environment,
        check=True,
    )
    backend = f"postgresql://mlflow:pw1@db.internal:5432/{DATABASE_NAME}"
    args = (tmp_path / "args").read_text().split()
    assert args[:3] == ["server", "--app-name", "basic-auth"]
    assert args[args.index("--backend-store-uri") + 1] == backend
    assert args[args.index("--artifacts-destination") + 1] == "s3://b/p"
    ini = (tmp_path / "ini").read_text().splitlines()
    assert ini[0] == "[mlflow]"
    assert f"database_uri = {backend}" in ini
    assert "admin_username = admin" in ini and "admin_password = pw2" in ini
    assert oct((tmp_path / "basic_auth.ini").stat().st_mode & 0o777) == "0o600"

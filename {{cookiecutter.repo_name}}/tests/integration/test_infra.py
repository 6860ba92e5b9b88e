"""The AWS runtime as code (infra/): the synthesized templates, asserted offline.

What each role may write is asserted here from the names the runtime uses (src/names.py);
that each step's role allows every call the step makes, in tests/integration/test_step_access.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.environments import ENVIRONMENTS, bootstrap_qualifier
from src.names import (
    CONTAINER_NAME,
    ECS_STEPS,
    LOG_STREAM_PREFIX,
    PREDICTIONS_TABLE,
    REPO_NAME,
    bronze_table,
    environment_database,
    environment_name,
    gold_table,
    quarantine_table,
    silver_table,
)
from src.settings import FEATURES_FILE, PROJECT_ROOT, Settings
from tests.infra_templates import (
{%- if cookiecutter.ci_provider == "github" %}
    GITHUB_REPOSITORY,
{%- endif %}
    Synthesized,
    every_statement,
    managed_policy,
    resolve,
    resources,
    role_statements,
)

pytestmark = pytest.mark.integration
NAMES = tuple(ENVIRONMENTS)
ML_STACK = {"mlflow", "pyiceberg", "duckdb", "sqlglot", "pandas", "pyarrow", "boto3", "sklearn"}


def test_the_stacks_synthesize_clean_without_the_ml_stack(synthesized: Synthesized) -> None:
    assert synthesized.clean
    assert set(synthesized.templates) == {"shared", *NAMES}
    templates = map(str, synthesized.directory.glob("*.template.json"))
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    lint = subprocess.run([cfn_lint, *templates], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    code = "import json, sys, infra.app; print(json.dumps(list(sys.modules)))"
    imported = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True)
    assert not {name.split(".")[0] for name in json.loads(imported.stdout)} & ML_STACK


def writable(environment: str, settings: Settings) -> dict[str, set[str]]:
    """Where each task may put objects (the tables among them), from the names."""
    view = yaml.safe_load(FEATURES_FILE.read_text())
    dataset, s3 = view["dataset"], settings.aws.s3
    database = environment_database(settings.aws.athena.database, environment)
    table = f"{s3.warehouse_prefix}/{database}.db/"
    quality, runs = f"{s3.quality_prefix}/{dataset}", s3.runs_prefix
    sql = {s3.athena_results_prefix, runs}  # in the environment's own bucket
    return {
        "bronze": {quality, table + bronze_table(dataset), *sql},
        "silver": {quality, table + silver_table(dataset), table + quarantine_table(dataset), *sql},
        "gold": {table + gold_table(view["name"]), *sql},
        "training": {"leases/promotion", *sql},
        "batch-inference": {runs, f"{s3.processed_prefix}/predictions", table + PREDICTIONS_TABLE},
        "drift-check": {runs},
        "api": {table + PREDICTIONS_TABLE},
        "mlflow": {s3.mlflow_artifacts_prefix},
    }


@pytest.mark.parametrize("environment", NAMES)
def test_each_task_role_writes_only_its_own_prefixes_and_tables(
    synthesized: Synthesized, environment: str
) -> None:
    template, settings = synthesized.templates[environment], synthesized.settings
    bucket = f"arn:aws:s3:::{environment_name(settings.aws.s3.bucket, environment)}/"
    for task, prefixes in writable(environment, settings).items():
        granted = role_statements(template, f"{REPO_NAME}-{environment}-{task}-task")
        actions = {action for statement in granted for action in statement["Action"]}

        def resources_of(action: str, granted: list[dict[str, Any]] = granted) -> set[str]:
            return {r for s in granted if action in s["Action"] for r in s["Resource"]}

        put = {r.removeprefix(bucket).removesuffix("/*") for r in resources_of("s3:PutObject")}
        assert put == prefixes, task
        tables = [r for r in resources_of("glue:UpdateTable") if ":table/" in r]
        committed = {r.rpartition("/")[2] for r in tables}
        assert committed == {p.rpartition("/")[2] for p in prefixes if ".db/" in p}, task
        athena = settings.aws.s3.athena_results_prefix in prefixes
        assert ("athena:StartQueryExecution" in actions) == athena, task
        assert not {"glue:CreateDatabase", "glue:GetTables"} & actions, task
        assert not any("*" in action for action in actions), task
    # The one-off jobs task reaches the whole lake, every table included.
    jobs = role_statements(template, f"{REPO_NAME}-{environment}-jobs-task")
    assert any("glue:GetTables" in statement["Action"] for statement in jobs)


@pytest.mark.parametrize("environment", NAMES)
def test_each_step_has_the_task_definition_the_dags_launch(
    synthesized: Synthesized, environment: str
) -> None:
    template, prefix = synthesized.templates[environment], f"{REPO_NAME}-{environment}"
    tasks = {t["Family"]: t for t in resources(template, "AWS::ECS::TaskDefinition").values()}
    roles = {k: str(r.get("RoleName")) for k, r in resources(template, "AWS::IAM::Role").items()}
    for step in ECS_STEPS:
        task = tasks[f"{prefix}-{step}"]
        (container,) = task["ContainerDefinitions"]
        assert container["Name"] == CONTAINER_NAME
        options = container["LogConfiguration"]["Options"]
        assert options["awslogs-stream-prefix"] == LOG_STREAM_PREFIX
        assert resolve(container["Image"]).endswith(f"/{REPO_NAME}/training@<TrainingDigest>")
        size = ENVIRONMENTS[environment].steps[step]
        assert (int(task["Cpu"]), int(task["Memory"])) == (size.cpu, size.memory_mib)
        assert roles[task["TaskRoleArn"]["Fn::GetAtt"][0]] == f"{prefix}-{step}-task"
    policy = {s["Action"][0]: s for s in managed_policy(template, f"{prefix}-launch-steps")}
    run = policy["ecs:RunTask"]
    assert sorted(r.rpartition("/")[2] for r in run["Resource"]) == sorted(
        f"{prefix}-{step}:*" for step in ECS_STEPS
    )
    assert run["Condition"]["ArnEquals"]["ecs:cluster"].endswith(f":cluster/{prefix}")
    passed = sorted(roles[arn.strip("<>")] for arn in policy["iam:PassRole"]["Resource"])
    expected = [*(f"{prefix}-{step}-task" for step in ECS_STEPS), f"{prefix}-execution"]
    assert passed == sorted(expected)


@pytest.mark.parametrize("environment", NAMES)
def test_the_api_serves_https_only_is_checked_and_rolled_back(
    synthesized: Synthesized, environment: str
) -> None:
    from aws_cdk.assertions import Template

    template, limits = synthesized.templates[environment], ENVIRONMENTS[environment]
    checked = Template.from_json(template)
    alarm = f"{REPO_NAME}-{environment}-api-"
    alarms = {
        f"{alarm}5xx-rate": limits.max_5xx_percent,
        f"{alarm}p95-latency": limits.max_p95_latency_seconds,
    }
    for name, threshold in alarms.items():
        properties = {"AlarmName": name, "Threshold": threshold}
        checked.has_resource_properties("AWS::CloudWatch::Alarm", properties)
    services = {s["ServiceName"]: s for s in resources(template, "AWS::ECS::Service").values()}
    api = services[f"{REPO_NAME}-api"]
    assert api["DesiredCount"] == (0 if environment == "staging" else limits.api_desired_count)
    assert api["LoadBalancers"][0]["ContainerPort"] == 8000
    deployment = api["DeploymentConfiguration"]
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert deployment["Alarms"]["Rollback"] is True
    named = [template["Resources"][ref["Ref"]] for ref in deployment["Alarms"]["AlarmNames"]]
    assert [alarm["Properties"]["AlarmName"] for alarm in named] == list(alarms)
    health = {"HealthCheckPath": "/ready", "Matcher": {"HttpCode": "200"}}
    checked.has_resource_properties("AWS::ElasticLoadBalancingV2::TargetGroup", health)
    # HTTPS only, TLS 1.2 at least; HTTP answers with a redirect to it.
    listeners = {
        listener["Port"]: listener
        for listener in resources(template, "AWS::ElasticLoadBalancingV2::Listener").values()
    }
    assert set(listeners) == {80, 443}
    assert listeners[443]["Protocol"] == "HTTPS"
    (certificate,) = listeners[443]["Certificates"]
    assert certificate["CertificateArn"].endswith(f"certificate/{environment}")
    assert listeners[443]["SslPolicy"].startswith("ELBSecurityPolicy-TLS13-1-2")
    (redirect,) = listeners[80]["DefaultActions"]
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    # Only the prediction routes and the probes reach the API; the rest is a 404 at the edge.
    (other,) = listeners[443]["DefaultActions"]
    assert other["FixedResponseConfig"]["StatusCode"] == "404"
    (public,) = resources(template, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
    (forward,), (paths,) = public["Actions"], public["Conditions"]
    assert forward["Type"] == "forward" and paths["Field"] == "path-pattern"
    public_routes = ["/predict", "/predict/batch", "/health", "/ready"]
    assert paths["PathPatternConfig"]["Values"] == public_routes
    # The optional WAF blocks a client IP above its request rate.
    acls = list(resources(template, "AWS::WAFv2::WebACL").values())
    if limits.waf_rate_limit:
        (rule,) = acls[0]["Rules"]
        assert rule["Action"] == {"Block": {}}
        assert rule["Statement"]["RateBasedStatement"]["Limit"] == limits.waf_rate_limit
        assert len(resources(template, "AWS::WAFv2::WebACLAssociation")) == 1
    else:
        assert acls == []


@pytest.mark.parametrize("environment", NAMES)
def test_nothing_is_public_but_the_load_balancer_and_each_part_is_reached_by_its_clients(
    synthesized: Synthesized, environment: str
) -> None:
    template = synthesized.templates[environment]
    (balancer,) = resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    groups = resources(template, "AWS::EC2::SecurityGroup")
    public = {
        key
        for key, group in groups.items()
        for rule in group.get("SecurityGroupIngress", [])
        if rule.get("CidrIp") == "0.0.0.0/0" or rule.get("CidrIpv6") == "::/0"
    }
    (balancer_group,) = (ref["Fn::GetAtt"][0] for ref in balancer["SecurityGroups"])
    assert public == {balancer_group}
    opened = {rule["FromPort"] for rule in groups[balancer_group]["SecurityGroupIngress"]}
    assert opened == {80, 443}
    for service in resources(template, "AWS::ECS::Service").values():
        network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == "DISABLED"
    (database,) = resources(template, "AWS::RDS::DBInstance").values()
    assert database["PubliclyAccessible"] is False and database["StorageEncrypted"] is True
    (subnets,) = resources(template, "AWS::RDS::DBSubnetGroup").values()
    assert all("databaseSubnet" in ref["Ref"] for ref in subnets["SubnetIds"])

    def described(rule: dict[str, Any], key: str) -> str:
        return str(groups[rule[key]["Fn::GetAtt"][0]]["GroupDescription"])

    rules = {
        (described(rule, "GroupId"), described(rule, "SourceSecurityGroupId"), rule["FromPort"])
        for rule in resources(template, "AWS::EC2::SecurityGroupIngress").values()
    }
    tasks = f"{REPO_NAME}-{environment}/Api/Service/SecurityGroup"
    assert rules == {
        (tasks, "Public load balancer of the API", 8000),
        ("MLflow", tasks, 5000),
        ("MLflow", "Jobs", 5000),
        ("Postgres of MLflow", "MLflow", 5432),
    }


@pytest.mark.parametrize("stack", ("shared", *NAMES))
def test_secrets_stay_secret_and_everything_stored_is_encrypted(
    synthesized: Synthesized, stack: str
) -> None:
    template = synthesized.templates[stack]
    for repository in resources(template, "AWS::ECR::Repository").values():
        assert repository["ImageTagMutability"] == "IMMUTABLE"  # deploys pin digests
    for bucket in resources(template, "AWS::S3::Bucket").values():
        assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    secrets = resources(template, "AWS::SecretsManager::Secret")
    assert all("SecretString" not in secret for secret in secrets.values())
    logins = {secret["Name"].rpartition("/mlflow-")[2]: key for key, secret in secrets.items()}
    # The internet-facing API and the scoring tasks read the registry; only the jobs task
    # (the CD's promote) and training may move its aliases; the data steps have no login.
    users = {"api": "reader", "batch-inference": "reader", "drift-check": "reader",
             "training": "admin", "jobs": "admin", "mlflow": "admin"}  # fmt: skip
    for task in resources(template, "AWS::ECS::TaskDefinition").values():
        (container,) = task["ContainerDefinitions"]
        assert container["ReadonlyRootFilesystem"] is True and container["User"] == "10001:10001"
        plain = {variable["Name"] for variable in container.get("Environment", [])}
        assert not [name for name in plain if {"PASSWORD", "KEY", "SECRET"} & set(name.split("_"))]
        given = {s["Name"]: resolve(s["ValueFrom"]) for s in container.get("Secrets", [])}
        # The data steps never talk to MLflow: no credentials of it.
        user = users.get(task["Family"].split(f"{stack}-")[1])
        password = f"<{logins[user]}>:password::" if user else None
        assert given.get("MLFLOW_TRACKING_PASSWORD") == password


{% if cookiecutter.ci_provider == "github" -%}
def test_the_github_roles_trust_only_main_and_the_environments(synthesized: Synthesized) -> None:
    roles = resources(synthesized.templates["shared"], "AWS::IAM::Role").values()
    subjects = {
        role["RoleName"]: role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"][
            "StringLike"
        ]["token.actions.githubusercontent.com:sub"]
        for role in roles
    }
    repository = f"repo:{GITHUB_REPOSITORY}"
    # One deploy role per GitHub environment: production's only from the protected one.
    assert subjects == {
        f"{REPO_NAME}-ci": [f"{repository}:ref:refs/heads/main"],
        **{f"{REPO_NAME}-{name}-deploy": [f"{repository}:environment:{name}"] for name in NAMES},
    }


{% endif -%}
def production_resources(statement: dict[str, Any], settings: Settings) -> list[str]:
    """The resources of a statement that are production's (or anything's: `*`)."""
    aws = settings.aws
    bucket, database, workgroup = aws.s3.bucket, aws.athena.database, aws.athena.workgroup
    # Each name with what ends it in an ARN (":" is added after each resource).
    names = (f"{REPO_NAME}-production", f"{REPO_NAME}/production/", f"workgroup/{workgroup}:",
             f":database/{database}:", f":table/{database}/", f"{bucket}/", f"{bucket}:",
             f"cdk-{bootstrap_qualifier(REPO_NAME, 'production')}")  # fmt: skip
    if statement["Action"] == ["ecr:GetAuthorizationToken"]:  # no resource of anyone's
        return []
    return [r for r in statement["Resource"] if r == "*" or any(n in f"{r}:" for n in names)]


@pytest.mark.parametrize("environment", NAMES)
def test_no_staging_role_or_bootstrap_reaches_a_production_resource(
    synthesized: Synthesized, environment: str
) -> None:
    """Staging has its own bucket, workgroup, database, cluster, secrets and CDK bootstrap:
    no statement of its stack, its deploy role or its CloudFormation execution policy names
    one of production's. Each bootstrap grants every service its stacks use."""
    from infra.access import execution_policy

    settings = synthesized.settings
    stacks = {"staging": ["staging"], "production": ["shared", "production"]}[environment]
    policy = execution_policy(settings, environment)["Statement"]
    granted = {action.split(":")[0] for statement in policy for action in statement["Action"]}
    templates = [synthesized.templates[stack] for stack in stacks]
    for template in templates:
        kinds = {resource["Type"].split("::")[1] for resource in template["Resources"].values()}
        assert {SERVICES.get(kind, kind.lower()) for kind in kinds - {"CDK"}} <= granted
    statements = every_statement(templates[-1])
{%- if cookiecutter.ci_provider == "github" %}
    deploy = f"{REPO_NAME}-{environment}-deploy"
    statements += role_statements(synthesized.templates["shared"], deploy)
{%- endif %}
    found = [r for s in [*statements, *policy] for r in production_resources(s, settings)]
    wide = [s["Resource"] for s in policy if s["Resource"] == ["*"]]
    assert wide == [["*"], ["*"]]  # the network and compute services, and generated passwords
    if environment == "staging":
        assert found == ["*", "*"]
    else:  # the check sees production's resources where they are granted
        assert len(found) > 10


def test_production_reaches_into_staging_only_to_read_its_releases(
    synthesized: Synthesized,
) -> None:
    """Production's jobs task (`promote --release`) reads what staging exported, nothing else."""
    staging = f"arn:aws:s3:::{environment_name(synthesized.settings.aws.s3.bucket, 'staging')}"
    template = synthesized.templates["production"]
    jobs = role_statements(template, f"{REPO_NAME}-production-jobs-task")
    reach = {(action, resource) for statement in every_statement(template)
             for action in statement["Action"] for resource in statement["Resource"]
             if resource == staging or str(resource).startswith(f"{staging}/")}  # fmt: skip
    assert reach == {("s3:ListBucket", staging), ("s3:GetObject", f"{staging}/releases/*")}
    assert any(f"{staging}/releases/*" in statement["Resource"] for statement in jobs)


# IAM's name of a CloudFormation namespace where it is not the namespace in lower case.
SERVICES = {"CertificateManager": "acm", "ElasticLoadBalancingV2": "elasticloadbalancing"}


def test_an_environment_without_a_certificate_stops_synthesis_with_one_line(
    tmp_path: Path,
) -> None:
    environment = {**os.environ, "CDK_OUTDIR": str(tmp_path)}
    synth = [sys.executable, "-m", "infra"]
    result = subprocess.run(synth, cwd=PROJECT_ROOT, env=environment, capture_output=True)
    assert result.returncode == 1
    assert result.stderr.decode().strip().splitlines()[-1] == (
        "error: environment staging has no TLS certificate: set domain_name (ACM validates it "
        "by DNS) or certificate_arn (an ACM certificate) in infra/environments.py"
    )
    assert not list(tmp_path.glob("*.template.json"))


def test_the_mlflow_server_starts_with_basic_auth_from_its_secrets(tmp_path: Path) -> None:
    """The container's script, run with stand-ins for `mlflow` and `python` that record their
    arguments, the config and the script that creates the read-only user (the auth store
    needs mlflow[auth], which only the image installs)."""
    from infra.environment_stack import MLFLOW_STARTUP

    for name, records in (
        ("mlflow", 'echo "$@" >"$OUT/args"; cp "$MLFLOW_AUTH_CONFIG_PATH" "$OUT/ini"'),
        ("python", 'cat >"$OUT/reader.py"; echo "$MLFLOW_READER_PASSWORD" >"$OUT/pw"'),
    ):
        (tmp_path / name).write_text(f"#!/bin/sh\n{records}\n")
        (tmp_path / name).chmod(0o755)
    script = MLFLOW_STARTUP % {"port": 5000, "artifacts": "s3://b/p"}
    script = script.replace("/tmp/", f"{tmp_path}/")
    secrets = {"DB_USERNAME": "u", "DB_PASSWORD": "pw1", "DB_HOST": "db", "DB_PORT": "5432",
               "MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": "pw2",
               "MLFLOW_READER_PASSWORD": "pw3"}  # fmt: skip
    environment = {"PATH": f"{tmp_path}:/usr/bin:/bin", "OUT": str(tmp_path), **secrets}
    subprocess.run(["/bin/sh", "-c", script], env=environment, check=True)
    args = (tmp_path / "args").read_text().split()
    assert args[:3] == ["server", "--app-name", "basic-auth"]
    assert args[args.index("--backend-store-uri") + 1] == "postgresql://u:pw1@db:5432/mlflow"
    assert args[args.index("--artifacts-destination") + 1] == "s3://b/p"
    ini = (tmp_path / "ini").read_text().splitlines()
    assert "admin_username = admin" in ini and "admin_password = pw2" in ini
    assert "default_permission = READ" in ini
    assert oct((tmp_path / "basic_auth.ini").stat().st_mode & 0o777) == "0o600"
    reader = (tmp_path / "reader.py").read_text()
    compile(reader, "reader.py", "exec")
    assert 'create_user("reader", password)' in reader
    assert (tmp_path / "pw").read_text().strip() == "pw3"

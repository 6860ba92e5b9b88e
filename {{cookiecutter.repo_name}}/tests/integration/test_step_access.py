"""Each heavy step, run against moto as its ECS task runs it, needs only what its role grants.

moto's server runs behind a recording WSGI layer, so every S3, Glue and Athena request is
seen whichever client sends it (boto3, PyIceberg's Glue catalog, PyArrow's own S3 client
under PyIceberg, PyAthena). Each becomes the IAM action and ARN AWS authorizes it as and
is checked against the role the synthesized production stack gives the step's task: Allow
statements with String/Arn Equals/Like conditions, which is all these roles use. moto runs
no SQL, so the transforms run on DuckDB over the same Glue tables and S3 files; what Athena
does as the caller (reads the tables' files, writes the result) has a query test of its own.
"""

from __future__ import annotations

import io
import json
import re
import threading
import xml.etree.ElementTree as ET  # nosec B405: moto's and the SDK's own XML
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from fnmatch import fnmatchcase
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote

import pytest

from src.context import ProjectContext, run_step
from src.data import lake as lake_module
from src.data.aws_integration import Athena, ensure_aws_resources, read_bytes, write_bytes
from src.data.intervals import DataInterval
from src.data.lake import Lake
from src.names import ECS_STEPS, PREDICTIONS_TABLE, REPO_NAME, EcsStep, database_prefix, result_key
from src.pipelines.DE.pipeline import read_blocked
from src.pipelines.DS.training_pipeline.promotion import promote_staged_version
from src.settings import Settings
from tests.conftest import (
    FAKE_AWS_ENV,
    SAMPLE_DAYS,
    SAMPLE_END,
    free_port,
    isolated_settings,
    land_raw_frame,
    point_pyarrow_s3_at,
    queue_athena_results,
    synthesize_rows,
)
from tests.infra_templates import ACCOUNT, Synthesized, managed_policy, role_statements

pytestmark = pytest.mark.integration
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
Statements = list[dict[str, Any]]


class Call(NamedTuple):
    """One authorization: an action on a resource, with the request's s3:prefix if any."""

    action: str
    resource: str
    origin: str
    prefix: str | None = None


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Recorder:
    """WSGI middleware in front of moto's app: each request, with the status it got."""

    app: Callable[..., Any]
    requests: list[Request] = field(default_factory=list)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        length, stream = environ.get("CONTENT_LENGTH"), environ["wsgi.input"]
        chunked = environ.get("wsgi.input_terminated")
        body = stream.read(int(length)) if length else stream.read() if chunked else b""
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {
            k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k[:5] == "HTTP_"
        }
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]

        def started(status: str, *args: Any) -> Any:
            self.requests.append(Request(method, path, query, headers, body, int(status[:3])))
            return start_response(status, *args)

        return self.app(environ, started)

    def take(self) -> list[Request]:
        taken, self.requests = self.requests, []
        return taken


def s3_calls(request: Request, origin: str) -> list[Call]:
    bucket, _, key = request.path.lstrip("/").partition("/")
    method, query, arn = request.method, set(request.query), f"arn:aws:s3:::{bucket}"
    if key and method in {"GET", "HEAD"}:
        # S3 says "no such key" only to a caller that may list the bucket (403 otherwise),
        # and a listing limited by s3:prefix does not count: the read carries no prefix.
        missing = [Call("s3:ListBucket", arn, f"{origin} (404)")] if request.status == 404 else []
        return [Call("s3:GetObject", f"{arn}/{key}", origin), *missing]
    if key and method == "DELETE":
        action = "s3:AbortMultipartUpload" if "uploadId" in query else "s3:DeleteObject"
        return [Call(action, f"{arn}/{key}", origin)]
    if key:  # PUT, or POST of a multipart upload; a copy reads its source
        source = unquote(request.headers.get("x-amz-copy-source", "")).lstrip("/")
        copied = [Call("s3:GetObject", f"arn:aws:s3:::{source}", origin)] if source else []
        return [Call("s3:PutObject", f"{arn}/{key}", origin), *copied]
    if "location" in query:
        return [Call("s3:GetBucketLocation", arn, origin)]
    if "delete" in query:  # DeleteObjects: one DeleteObject per key
        root = ET.fromstring(request.body)  # noqa: S314  # nosec B314
        return [
            Call("s3:DeleteObject", f"{arn}/{e.text}", origin)
            for e in root.iter()
            if e.tag.endswith("Key")
        ]
    return [Call("s3:ListBucket", arn, origin, request.query.get("prefix", [None])[0])]


@dataclass
class Translator:
    """Recorded requests -> IAM calls, with Athena's own reads and writes as the caller."""

    settings: Settings
    workgroup: str = "?"

    def calls(self, requests: list[Request]) -> list[Call]:
        return [call for request in requests for call in self.translate(request)]

    def translate(self, request: Request) -> list[Call]:
        scope = CREDENTIAL_SCOPE.search(request.headers.get("authorization", ""))
        service = scope.group(1) if scope else "unsigned"
        origin = f"{service} {request.method} {request.path} {request.body[:160]!r}"
        if service == "s3":
            return s3_calls(request, origin)
        action = f"{service}:{request.headers.get('x-amz-target', '').rpartition('.')[2]}"
        body = json.loads(request.body or b"{}")
        glue = f"arn:aws:glue:{self.settings.aws.region}:{ACCOUNT}:"
        if service == "glue":
            db = (
                body.get("DatabaseName")
                or body.get("DatabaseInput", {}).get("Name")
                or body["Name"]
            )
            table = "*" if action == "glue:GetTables" else body.get("TableInput", {}).get("Name")
            table = table or (body["Name"] if "DatabaseName" in body else None)
            names = ["catalog", f"database/{db}", *([f"table/{db}/{table}"] if table else [])]
            return [Call(action, glue + name, origin) for name in names]
        # The project runs every query in its own workgroup, named when the query starts.
        self.workgroup = body.get("WorkGroup", self.workgroup)
        arn = f"arn:aws:{service}:{self.settings.aws.region}:{ACCOUNT}:workgroup/{self.workgroup}"
        calls = [Call(action, arn, origin)]
        if action == "athena:StartQueryExecution":
            s3, db, caller = self.settings.aws.s3, self.settings.lake_database, f"{origin} (caller)"
            bucket = f"arn:aws:s3:::{s3.bucket}"
            calls.append(Call("s3:PutObject", f"{bucket}/{s3.athena_results_prefix}/q.csv", caller))
            for table in re.findall(rf'{db}\."?(\w+)', body["QueryString"]):
                location = f"{bucket}/{database_prefix(self.settings)}/{table}/data/x.parquet"
                calls.append(Call("glue:GetTable", f"{glue}table/{db}/{table}", caller))
                calls.append(Call("s3:GetObject", location, caller))
        return calls


def allows(statement: dict[str, Any], call: Call) -> bool:
    if statement["Effect"] != "Allow":
        return False
    if not any(fnmatchcase(call.action, action) for action in statement["Action"]):
        return False
    if not any(fnmatchcase(call.resource, pattern) for pattern in statement["Resource"]):
        return False
    for operator, tests in statement.get("Condition", {}).items():
        assert operator in {"StringEquals", "StringLike", "ArnEquals", "ArnLike"}, operator
        context = {"s3:prefix": call.prefix} if call.prefix is not None else {}
        for key, values in tests.items():
            values = values if isinstance(values, list) else [values]
            if key not in context or not any(fnmatchcase(context[key], v) for v in values):
                return False
    return True


def denied(calls: list[Call], statements: Statements) -> list[str]:
    refused = [call for call in calls if not any(allows(s, call) for s in statements)]
    return [f"{c.action} {c.resource} prefix={c.prefix} <- {c.origin}" for c in refused]


@dataclass(frozen=True)
class StepRun:
    settings: Settings
    endpoint: str
    recorder: Recorder
    translator: Translator
    calls: dict[EcsStep, list[Call]]


@pytest.fixture(scope="module")
def step_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepRun]:
    """A recording moto server, the sample raw files landed, then every step in order."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    recorder = Recorder(DomainDispatcherApplication(create_backend_app))
    server = make_server(
        "127.0.0.1", free_port(), recorder, True, request_handler=MotoRequestHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS_ENV.items():
            patch.setenv(name, value)
        # moto runs no SQL: the steps' transforms run on DuckDB over the Glue tables.
        patch.setattr(lake_module, "Athena", lambda _: None)
        endpoint = f"http://127.0.0.1:{server.server_port}"
        point_pyarrow_s3_at(patch, endpoint)
        root = tmp_path_factory.mktemp("step_access")
        settings = isolated_settings(root, app_env="aws", aws_endpoint_url=endpoint)
        ensure_aws_resources(settings)  # what the stacks and the producers of raw files do
        context = ProjectContext(settings)
        frame = synthesize_rows(context.view)
        frame.loc[0, context.view.entity.name] = None  # one row for the quarantine table
        land_raw_frame(context, frame)
        interval = DataInterval(SAMPLE_END - timedelta(days=SAMPLE_DAYS), SAMPLE_END)
        translator, calls = Translator(settings), dict[EcsStep, list[Call]]()
        for step in ECS_STEPS:
            recorder.take()
            context = ProjectContext(settings)  # each task starts afresh
            summary = run_step(context, step, interval, "access test", trials=2)
            # What the container's CLI does last: leave the result for the launching run.
            key = result_key(settings.aws.s3.runs_prefix, "flow", "run", step)
            write_bytes(context.store, key, json.dumps(summary, default=str).encode())
            calls[step] = translator.calls(recorder.take())
            if step == "training":  # which on AWS stages only: promoted as the CD would
                name = settings.model_name
                promote_staged_version(context.mlflow, name, summary["version"], context.guard)
        yield StepRun(settings, endpoint, recorder, translator, calls)
    server.shutdown()


def step_role(synthesized: Synthesized, step: str) -> Statements:
    return role_statements(
        synthesized.templates["production"], f"{REPO_NAME}-production-{step}-task"
    )


# What each step must be seen doing, so that the check is not vacuous.
SEEN: dict[EcsStep, list[tuple[str, str]]] = {
    "bronze": [("s3:GetObject", "/raw/"), ("s3:PutObject", "/quality/"),
               ("glue:UpdateTable", "_bronze_")],
    "silver": [("s3:PutObject", "/quality/"), ("glue:UpdateTable", "_silver_"),
               ("glue:UpdateTable", "_quarantine_")],
    "gold": [("glue:GetTable", "_silver_"), ("glue:UpdateTable", "_gold_")],
    "training": [("glue:GetTable", "_gold_"), ("s3:PutObject", "/leases/promotion/")],
    "batch-inference": [("s3:PutObject", "/processed/predictions/"),
                        ("glue:UpdateTable", "_predictions")],
    "drift-check": [("glue:GetTable", "_predictions"), ("glue:GetTable", "_labels")],
}  # fmt: skip


@pytest.mark.parametrize("step", ECS_STEPS)
def test_each_step_role_grants_every_call_the_step_makes(
    step_run: StepRun, synthesized: Synthesized, step: EcsStep
) -> None:
    calls = step_run.calls[step]
    assert denied(calls, step_role(synthesized, step)) == []
    for action, fragment in [*SEEN[step], ("s3:PutObject", "/runs/flow/")]:
        assert any(c.action == action and fragment in c.resource for c in calls), (action, fragment)


def test_athena_queries_need_the_workgroup_the_results_and_the_tables_as_the_caller(
    step_run: StepRun, synthesized: Synthesized
) -> None:
    """The data steps and the training set run SQL on Athena on AWS; the drift check none."""
    context = ProjectContext(step_run.settings)
    gold, on_duckdb = context.view.table, context.lake
    athena = Athena(step_run.settings)
    lake = Lake(on_duckdb.catalog, on_duckdb.database, on_duckdb.filesystem, athena)
    queue_athena_results(step_run.endpoint, [{"n": ("bigint", "3")}])
    step_run.recorder.take()
    lake.sql(f'SELECT count(*) AS n FROM {lake.database}."{gold}"')  # nosec B608
    calls = step_run.translator.calls(step_run.recorder.take())
    seen = {call.action for call in calls if "(caller)" in call.origin}
    assert {"s3:PutObject", "s3:GetObject", "glue:GetTable"} <= seen
    assert denied(calls, step_role(synthesized, "training")) == []
    refused = denied(calls, step_role(synthesized, "drift-check"))
    assert any(line.startswith("athena:StartQueryExecution") for line in refused)


def test_the_launch_policy_grants_what_the_dags_own_tasks_read(
    step_run: StepRun, synthesized: Synthesized
) -> None:
    """The orchestrator's sensors and checks: a day's quality reports, gold's and the
    predictions' metadata, and each step's result."""
    context, s3 = ProjectContext(step_run.settings), step_run.settings.aws.s3
    step_run.recorder.take()
    day = DataInterval.for_day(SAMPLE_END)  # no report: the sensor lists, finds none
    assert read_blocked(context.store, s3.quality_prefix, context.view.dataset, day) == []
    assert context.lake.count(context.view.table) and context.lake.count(PREDICTIONS_TABLE)
    read_bytes(context.store, result_key(s3.runs_prefix, "flow", "run", "batch-inference"))
    calls = step_run.translator.calls(step_run.recorder.take())
    policy = managed_policy(
        synthesized.templates["production"], f"{REPO_NAME}-production-launch-steps"
    )
    assert denied(calls, policy) == []
    assert denied(step_run.calls["gold"], policy)  # ... and it writes nothing

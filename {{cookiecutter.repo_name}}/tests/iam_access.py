"""What a process asks of AWS, as IAM sees it, and whether a role's policy allows it.

`RecordingProxy` stands between the code and moto's server and records every HTTP
request, whichever client sends it: boto3 (the object store, PyIceberg's Glue catalog,
PyAthena) and PyArrow's own S3 client, which PyIceberg writes and reads data files with
(it is C++, so botocore's event hooks never see it; the proxy does). `iam_calls` turns
each request into the IAM actions and resource ARNs AWS would authorize it as, and adds
what Athena does as the caller for a query (reads the tables the query names, writes the
ones it inserts into, writes the result file): moto runs no SQL, so those come from the
query text and the tables' locations in the catalog.

`denied` checks calls against policy statements the way IAM's allow evaluation does for
identity policies: an explicit Deny wins, otherwise some Allow must match the action, the
resource and every condition. Not modelled: NotAction / NotResource / NotPrincipal (a
statement using them fails the check loudly), policy variables, resource policies,
permission boundaries, SCPs and session policies, KMS, and the condition operators other
than String(Equals|Like) and Arn(Equals|Like). A read of a missing key (which S3 answers
with 404 only to a caller that may list the bucket, 403 otherwise) is checked as
s3:GetObject plus s3:ListBucket without an s3:prefix: the read carries none, so a listing
grant limited by prefix does not turn its 403 into the 404 PyIceberg and PyArrow expect.
"""

from __future__ import annotations

import fnmatch
import http.client
import json
import re
import threading
import xml.etree.ElementTree as ET  # nosec B405: moto's and the SDK's own XML
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

Statement = dict[str, Any]
# Headers the proxy sets itself or that describe one hop only.
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
# ListObjects(V2)'s parameters: anything else on a bucket GET is another operation.
LIST_PARAMETERS = {
    "list-type", "prefix", "delimiter", "continuation-token", "max-keys", "encoding-type",
    "start-after", "fetch-owner",
}  # fmt: skip
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    status: int
    answer: bytes

    @property
    def service(self) -> str:
        found = CREDENTIAL_SCOPE.search(self.headers.get("authorization", ""))
        return found.group(2) if found else "unsigned"

    @property
    def target(self) -> str:
        """The JSON protocol's operation (`AWSGlue.GetTable` -> `GetTable`)."""
        return self.headers.get("x-amz-target", "").rpartition(".")[2]

    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body or b"{}"))

    def describe(self) -> str:
        if self.target:
            return f"{self.service} {self.target} {self.body[:200].decode(errors='replace')}"
        return f"{self.service} {self.method} {self.path}{'?' + self.query if self.query else ''}"


@dataclass(frozen=True)
class Call:
    """One authorization: an action on resources, with the request's condition keys."""

    action: str
    resources: tuple[str, ...]
    origin: str
    context: tuple[tuple[str, str], ...] = ()


@dataclass
class Recording:
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)

    def take(self) -> list[Request]:
        with self.lock:
            taken, self.requests = self.requests, []
        return taken


class RecordingProxy:
    """An HTTP proxy on 127.0.0.1 that forwards to `upstream` and records each request."""

    def __init__(self, upstream: str, port: int) -> None:
        self.recording = Recording()
        target = urlsplit(upstream)
        recording = self.recording

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self) -> None:
                body = self.read_body()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                connection = http.client.HTTPConnection(
                    target.hostname or "", target.port, timeout=60
                )
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    answer = connection.getresponse()
                    content = answer.read()
                finally:
                    connection.close()
                path, _, query = self.path.partition("?")
                recording.add(
                    Request(
                        self.command,
                        unquote(path),
                        query,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        answer.status,
                        content,
                    )
                )
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in HOP_HEADERS:
                        self.send_header(name, value)
                length = answer.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(content)

            def read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        chunk = self.rfile.read(size)
                        self.rfile.readline()
                        if size == 0:
                            break
                        chunks.append(chunk)
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @contextmanager
    def running(self) -> Iterator[RecordingProxy]:
        self.thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=10)


@dataclass(frozen=True)
class Arns:
    """ARNs as the synthesized templates resolve them (tests/infra_templates.py)."""

    region: str
    account: str

    def bucket(self, bucket: str) -> str:
        return f"arn:aws:s3:::{bucket}"

    def object(self, bucket: str, key: str) -> str:
        return f"arn:aws:s3:::{bucket}/{key}"

    def glue(self, resource: str) -> str:
        return f"arn:aws:glue:{self.region}:{self.account}:{resource}"

    def workgroup(self, name: str) -> str:
        return f"arn:aws:athena:{self.region}:{self.account}:workgroup/{name}"


# Where a table's files are, for the calls Athena makes as the caller: (database, table)
# -> s3://bucket/prefix, or None when the catalog has no such table.
TableLocator = Callable[[str, str], str | None]


@dataclass
class Translator:
    """Requests -> IAM calls; remembers each Athena query's workgroup by its id."""

    arns: Arns
    database: str
    locate_table: TableLocator
    query_workgroups: dict[str, str] = field(default_factory=dict)

    def calls(self, requests: Sequence[Request]) -> list[Call]:
        found: list[Call] = []
        for request in requests:
            if request.service == "s3":
                found += self.s3_calls(request)
            elif request.service == "glue":
                found += self.glue_calls(request)
            elif request.service == "athena":
                found += self.athena_calls(request)
            else:
                action = f"{request.service}:{request.target or request.method}"
                found.append(Call(action, ("*",), request.describe()))
        return found

    def s3_calls(self, request: Request) -> list[Call]:
        bucket, _, key = request.path.lstrip("/").partition("/")
        query = parse_qs(request.query, keep_blank_values=True)
        origin = request.describe()
        method = request.method
        if not key:
            if method == "GET" and "location" in query:
                return [Call("s3:GetBucketLocation", (self.arns.bucket(bucket),), origin)]
            if method == "POST" and "delete" in query:
                keys = [
                    element.text or ""
                    for element in ET.fromstring(request.body).iter()  # noqa: S314  # nosec B314
                    if element.tag.endswith("Key")
                ]
                return [
                    Call("s3:DeleteObject", (self.arns.object(bucket, k),), origin) for k in keys
                ]
            if method == "GET" and set(query) <= LIST_PARAMETERS:
                prefix = query.get("prefix", [""])[0]
                return [
                    Call(
                        "s3:ListBucket",
                        (self.arns.bucket(bucket),),
                        origin,
                        (("s3:prefix", prefix),),
                    )
                ]
            if method == "HEAD" and not query:
                return [Call("s3:ListBucket", (self.arns.bucket(bucket),), origin)]
            return [Call(f"s3:Unknown{method}", (self.arns.bucket(bucket),), origin)]
        target = (self.arns.object(bucket, key),)
        if method in {"GET", "HEAD"} and set(query) <= {"partNumber", "versionId"}:
            calls = [Call("s3:GetObject", target, origin)]
            if request.status == 404:
                # S3 says "no such key" only to a caller that may list the bucket (403
                # otherwise), and a listing grant limited by s3:prefix does not count: the
                # read carries no prefix.
                listing = f"{origin} (answered 404: needs the bucket listing)"
                calls.append(Call("s3:ListBucket", (self.arns.bucket(bucket),), listing))
            return calls
        if method == "PUT" and set(query) <= {"partNumber", "uploadId"}:
            calls = [Call("s3:PutObject", target, origin)]
            source = request.headers.get("x-amz-copy-source")
            if source:
                source_bucket, _, source_key = unquote(source).lstrip("/").partition("/")
                calls.append(
                    Call("s3:GetObject", (self.arns.object(source_bucket, source_key),), origin)
                )
            return calls
        if method == "POST" and set(query) <= {"uploads", "uploadId"}:
            return [Call("s3:PutObject", target, origin)]
        if method == "DELETE" and not query:
            return [Call("s3:DeleteObject", target, origin)]
        if method == "DELETE" and set(query) == {"uploadId"}:
            return [Call("s3:AbortMultipartUpload", target, origin)]
        return [Call(f"s3:Unknown{method}", target, origin)]

    def glue_calls(self, request: Request) -> list[Call]:
        body = request.json()
        operation = request.target
        catalog = self.arns.glue("catalog")
        database = body.get("DatabaseName") or body.get("Name")
        if operation == "CreateDatabase":
            database = body["DatabaseInput"]["Name"]
        table = body.get("Name") if "DatabaseName" in body else None
        if "TableInput" in body:
            table = body["TableInput"]["Name"]
        if operation == "GetTables":
            table = "*"
        resources = [catalog]
        if database:
            resources.append(self.arns.glue(f"database/{database}"))
        if database and table:
            resources.append(self.arns.glue(f"table/{database}/{table}"))
        return [Call(f"glue:{operation}", tuple(resources), request.describe())]

    def athena_calls(self, request: Request) -> list[Call]:
        body = request.json()
        operation = request.target
        origin = request.describe()
        if operation == "StartQueryExecution":
            workgroup = body.get("WorkGroup", "primary")
            if 200 <= request.status < 300:
                answer = json.loads(request.answer)
                self.query_workgroups[answer["QueryExecutionId"]] = workgroup
                query_id = answer["QueryExecutionId"]
            else:
                query_id = "failed"
            calls = [Call("athena:StartQueryExecution", (self.arns.workgroup(workgroup),), origin)]
            output = body.get("ResultConfiguration", {}).get("OutputLocation")
            return calls + self.query_calls(body["QueryString"], output, query_id, origin)
        if "QueryExecutionId" in body:
            workgroup = self.query_workgroups.get(body["QueryExecutionId"], "unknown")
        else:
            workgroup = body.get("WorkGroup", "primary")
        return [Call(f"athena:{operation}", (self.arns.workgroup(workgroup),), origin)]

    def query_calls(self, sql: str, output: str | None, query_id: str, origin: str) -> list[Call]:
        """What Athena does with the caller's permissions to run `sql`."""
        origin = f"{origin} (Athena, as the caller)"
        calls: list[Call] = []
        if output:
            bucket, _, prefix = output.removeprefix("s3://").partition("/")
            result = self.arns.object(bucket, f"{prefix.rstrip('/')}/{query_id}.csv")
            calls += [
                Call("s3:GetBucketLocation", (self.arns.bucket(bucket),), origin),
                Call("s3:PutObject", (result,), origin),
            ]
        named = referenced_tables(sql, self.database)
        written = target_tables(sql, self.database)
        for table in sorted(named | written):
            scope = (
                self.arns.glue("catalog"),
                self.arns.glue(f"database/{self.database}"),
                self.arns.glue(f"table/{self.database}/{table}"),
            )
            calls += [
                Call("glue:GetDatabase", scope[:2], origin),
                Call("glue:GetTable", scope, origin),
            ]
            location = self.locate_table(self.database, table)
            if location is None:
                continue
            bucket, _, prefix = location.removeprefix("s3://").partition("/")
            # Athena's own object keys are unknown here: one key below the table's location
            # stands for all of them (metadata, manifests and data files alike).
            files = (self.arns.object(bucket, f"{prefix.rstrip('/')}/metadata/any"),)
            listed = (("s3:prefix", f"{prefix.rstrip('/')}/"),)
            calls += [
                Call("s3:ListBucket", (self.arns.bucket(bucket),), origin, listed),
                Call("s3:GetObject", files, origin),
            ]
            if table in written:
                calls += [
                    Call("glue:UpdateTable", scope, origin),
                    Call("s3:PutObject", files, origin),
                ]
        return calls


def referenced_tables(sql: str, database: str) -> set[str]:
    """Tables the query names as `<database>.<table>` (quoted or not)."""
    pattern = rf'(?<![\w.])"?{re.escape(database)}"?\s*\.\s*"?(\w+)"?'
    return set(re.findall(pattern, sql, flags=re.IGNORECASE))


def target_tables(sql: str, database: str) -> set[str]:
    """Tables the query writes: INSERT INTO, MERGE INTO, CREATE TABLE (AS), DELETE, UPDATE,
    OPTIMIZE, VACUUM."""
    verbs = (
        r"(?:INSERT\s+INTO|MERGE\s+INTO|CREATE\s+TABLE(?:\s+IF\s+NOT\s+EXISTS)?"
        r"|DELETE\s+FROM|UPDATE|OPTIMIZE|VACUUM)"
    )
    pattern = rf'\b{verbs}\s+"?{re.escape(database)}"?\s*\.\s*"?(\w+)"?'
    return set(re.findall(pattern, sql, flags=re.IGNORECASE))


def _matches(value: str, pattern: str) -> bool:
    # IAM's wildcards are * and ?; fnmatch would also read [..] as a character class.
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _condition_holds(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, checks in conditions.items():
        for key, expected in checks.items():
            values = expected if isinstance(expected, list) else [expected]
            if key not in context:
                return False
            actual = context[key]
            if operator in {"StringLike", "ArnLike"}:
                if not any(_matches(actual, str(value)) for value in values):
                    return False
            elif operator in {"StringEquals", "ArnEquals"}:
                if actual not in values:
                    return False
            else:
                raise ValueError(f"condition operator {operator} is not modelled")
    return True


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statement_matches(statement: Statement, call: Call, resource: str) -> bool:
    unsupported = {"NotAction", "NotResource", "NotPrincipal"} & set(statement)
    if unsupported:
        raise ValueError(f"statement {statement.get('Sid')} uses {unsupported}: not modelled")
    actions = _listed(statement["Action"])
    if not any(_matches(call.action.lower(), str(a).lower()) for a in actions):
        return False
    resources = _listed(statement["Resource"])
    if not any(_matches(resource, str(pattern)) for pattern in resources):
        return False
    return _condition_holds(statement.get("Condition", {}), dict(call.context))


def denied(calls: Sequence[Call], statements: Sequence[Statement]) -> list[str]:
    """One line per (call, resource) the statements do not allow, deduplicated."""
    refused: dict[str, None] = {}
    for call in calls:
        for resource in call.resources:
            matching = [s for s in statements if _statement_matches(s, call, resource)]
            if not any(s["Effect"] == "Allow" for s in matching) or any(
                s["Effect"] == "Deny" for s in matching
            ):
                context = "".join(f" [{k}={v!r}]" for k, v in call.context)
                refused[f"{call.action} on {resource}{context}  <- {call.origin}"] = None
    return list(refused)

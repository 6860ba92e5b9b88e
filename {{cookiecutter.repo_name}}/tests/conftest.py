"""Shared fixtures: each test has its own lake, MLflow store and reports (never the project's)."""

from __future__ import annotations

import functools
import io
import json
import os
import socket
import subprocess
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow.fs as pafs
import pytest

from src.context import ProjectContext
from src.data.aws_integration import write_bytes
from src.data.feature_store import INGEST_DATE, Column, FeatureView, cast_to_view
from src.data.intervals import DataInterval
from src.pipelines.DE.bronze import raw_day_prefix
from src.pipelines.DE.pipeline import gold_query
from src.settings import Settings
from tests.infra_templates import Synthesized, synthesize_app

# A fixed end date keeps the test data, and so every metric, identical between runs.
SAMPLE_END = date(2025, 1, 31)
SAMPLE_DAYS = 10
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# make's own exit status when a recipe fails, whatever the command's code was.
MAKE_FAILED = 2

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# A pytest-xdist worker (3.8) finds COLUMNS=80 and LINES=24 in its environment, which a
# serial run does not have: rich would fix the CLI's width at 80 when src.cli is imported,
# and a test's own COLUMNS would not count.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)


def isolated_settings(root: Path, **overrides: Any) -> Settings:
    """Settings whose state lives under `root`, ignoring the project's .env file."""
    values: dict[str, Any] = {
        "app_env": "local",
        "data_dir": root / "data",
        "reports_dir": root / "reports",
        "mlflow_tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
        "mlflow_artifact_root": (root / "mlartifacts").as_uri(),
        **overrides,
    }
    return Settings(_env_file=None, **values)


def isolated_env(root: Path) -> dict[str, str]:
    """Environment variables that point a subprocess (make, the CLI) at `root`."""
    return {
        **os.environ,
        "APP_ENV": "local",
        "DATA_DIR": str(root / "data"),
        "REPORTS_DIR": str(root / "reports"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "MLFLOW_ARTIFACT_ROOT": (root / "mlartifacts").as_uri(),
    }


def make(target: str, env: dict[str, str], *variables: str) -> subprocess.CompletedProcess[str]:
    """`make <target> [VAR=value ...]` in the project, as a user types it."""
    return subprocess.run(
        ["make", "--no-print-directory", target, *variables],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.fixture(scope="session")
def project_view() -> FeatureView:
    """The project's own contract, config/features.yaml."""
    from src.data.feature_store import load_feature_view
    from src.settings import FEATURES_FILE

    return load_feature_view(FEATURES_FILE)


@pytest.fixture
def context(tmp_path: Path) -> ProjectContext:
    return ProjectContext(isolated_settings(tmp_path))


@pytest.fixture
def lake_context(context: ProjectContext) -> ProjectContext:
    """A context whose lake holds the sample data through gold."""
    build_sample_lake(context)
    return context


@pytest.fixture(scope="session")
def trained_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectContext]:
    """One sample lake with a model in production, shared by tests that only read them."""
    from src.pipelines.DS.training_pipeline import run_training_pipeline

    context = ProjectContext(isolated_settings(tmp_path_factory.mktemp("trained")))
    build_sample_lake(context)
    run_training_pipeline(
        context.lake, context.view, context.training, context.mlflow, context.settings.model_name
    )
    yield context


def synthesize_rows(
    view: FeatureView, rows: int = 600, seed: int = 7, end: date = SAMPLE_END
) -> pd.DataFrame:
    """Raw rows that honour config/features.yaml, whatever dataset it describes: each column's
    dtype, bounds and allowed values, some missing values where a column is nullable, event
    times over the `SAMPLE_DAYS` days before `end`, and a label that follows the
    features (classes of `values`, or a number), so a model can learn it."""
    rng = np.random.default_rng(seed)
    start = datetime.combine(end - timedelta(days=SAMPLE_DAYS), datetime.min.time(), UTC)
    frame = pd.DataFrame({
        view.entity.name: [f"E{n:05d}" for n in range(rows)] if view.entity.dtype == "string"
        else np.arange(rows),
        view.event_timestamp: [start + timedelta(seconds=int(s))
                               for s in sorted(rng.integers(0, SAMPLE_DAYS * 86400, rows))],
    })  # fmt: skip
    signal = np.zeros(rows)
    for index, column in enumerate(c for c in view.raw_columns if c.name != view.label.name):
        values, effect = _column_values(column, rng, rows)
        frame[column.name] = values
        # The first columns weigh most: a model of one feature learns something, of all more.
        signal += rng.choice([-1.0, 1.0]) * (3.0 if index < 3 else 1.0) * effect
        if column.nullable:
            frame.loc[rng.random(rows) < 0.05, column.name] = None
    days = frame[view.event_timestamp].dt.date.to_numpy()
    frame[view.label.name] = _label_values(view.label, signal + rng.normal(0, 0.3, rows), days)
    return frame


def feature_rows(view: FeatureView, rows: int = 600, seed: int = 7) -> pd.DataFrame:
    """`synthesize_rows` as the feature view holds them (derived features by gold's query)."""
    raw = synthesize_rows(view, rows, seed)
    raw[INGEST_DATE] = raw[view.event_timestamp].dt.date
    with duckdb.connect() as database:
        database.register("raw", raw)
        table = database.execute(gold_query(view, "raw", "true")).to_arrow_table()
    return cast_to_view(table, view)


def other_labels(labels: pd.Series, task: str, shift: float = 1.0) -> pd.Series:
    """Each label swapped for a wrong one: the next class seen, or the number moved by `shift`."""
    if task != "classification":
        return labels + shift
    classes = sorted(labels.unique().tolist())
    return labels.map(dict(zip(classes, classes[1:] + classes[:1], strict=True)))


def _column_values(column: Column, rng: np.random.Generator, rows: int) -> tuple[Any, Any]:
    """Values of one contract column, and their standardised effect on the label."""
    if column.values:
        codes = rng.integers(0, len(column.values), rows)
        effect = (codes - codes.mean()) / (codes.std() or 1)
        return np.array(column.values, dtype=object)[codes], effect
    if column.dtype == "bool":
        flags = rng.random(rows) < 0.5
        return pd.array(flags, dtype="boolean"), flags * 2.0 - 1.0  # nullable: can hold None
    if column.dtype == "string":
        codes = rng.integers(0, 3, rows)
        return np.array(["a", "b", "c"], dtype=object)[codes], codes - 1.0
    low = column.min if column.min is not None else (column.max or 100.0) - 100.0
    high = column.max if column.max is not None else low + 100.0
    numbers = rng.uniform(low, high, rows)
    if column.dtype == "int64":
        numbers = np.round(numbers).astype("int64")
    return numbers, (numbers - numbers.mean()) / (numbers.std() or 1)


def _label_values(label: Column, signal: np.ndarray, days: np.ndarray) -> Any:
    classes = label.values or ([False, True] if label.dtype == "bool" else None)
    if classes is None and label.dtype == "string":
        classes = ["no", "yes"]
    if classes is not None:  # classes of equal share every day, ordered by the signal
        by_day = pd.Series(signal).groupby(days)
        ranks = (by_day.rank(method="first") - 1) * len(classes) // by_day.transform("size")
        return np.array(classes, dtype=object)[ranks.astype(int).to_numpy()]
    low = label.min if label.min is not None else 0.0
    values = low + 50.0 + 10.0 * signal
    values = np.clip(values, low, label.max) if label.max is not None else values
    return np.round(values).astype("int64") if label.dtype == "int64" else values


def land_raw_frame(context: ProjectContext, frame: pd.DataFrame, suffix: str = ".csv") -> None:
    """Write `frame` into the raw zone as one file per event day, in the format of `suffix`."""
    view = context.view
    for day, rows in frame.groupby(frame[view.event_timestamp].dt.date):
        prefix = raw_day_prefix(context.settings.aws.s3.raw_prefix, view.dataset, day)
        buffer = io.BytesIO()
        if suffix == ".parquet":
            rows.to_parquet(buffer, index=False)
        elif suffix == ".jsonl":
            rows.to_json(buffer, orient="records", lines=True, date_format="iso")
        else:
            rows.to_csv(buffer, index=False)
        write_bytes(context.store, f"{prefix}/part{suffix}", buffer.getvalue())


def build_sample_lake(context: ProjectContext, end: date = SAMPLE_END) -> DataInterval:
    """Contract data landed in the raw zone and built through gold; returns its interval."""
    land_raw_frame(context, synthesize_rows(context.view, end=end))
    interval = DataInterval(end - timedelta(days=SAMPLE_DAYS), end)
    context.run_data_pipeline(interval)
    return interval


@dataclass
class ReceivedRequest:
    method: str
    path: str
    body: bytes


@dataclass
class HttpReceiver:
    """A local HTTP server recording every request; answers with `status`."""

    url: str
    requests: list[ReceivedRequest] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """Stands in for a Slack webhook or a Pushgateway: records what is sent to it."""
    receiver = HttpReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def record(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            receiver.requests.append(ReceivedRequest(self.command, self.path, body))
            self.send_response(receiver.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_POST = do_PUT = record  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# Where the next search for a free port starts: a port is only probed, not held, so a
# caller asking for several (an API, a Pushgateway and a Prometheus) before starting any
# must get different ones.
_next_port_index = 0


def free_port() -> int:
    """A free port on 127.0.0.1, a different one on each call: in TEST_PORTS=first-last when
    set (a shared machine), each pytest-xdist worker in its own slice; else the system's."""
    global _next_port_index
    first, _, last = os.environ.get("TEST_PORTS", "0-0").partition("-")
    ports = range(int(first), int(last or first) + 1)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if ports.start and workers > 1:
        worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
        ports = ports[worker * (len(ports) // workers) :][: len(ports) // workers]
    for offset in range(len(ports)):
        index = (_next_port_index + offset) % len(ports)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", ports[index]))
            except OSError:
                continue
            _next_port_index = index + 1
            return int(probe.getsockname()[1])
    raise RuntimeError(f"no free port in {ports} (TEST_PORTS={os.environ.get('TEST_PORTS')})")


def answers(url: str) -> bool:
    """Whether `url` answers 200 now (a server being polled until it is ready)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto in server mode on 127.0.0.1: S3, Glue, Athena and ECR over real HTTP."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def moto_api(endpoint: str, path: str, body: dict[str, Any] | None = None) -> None:
    """POST to moto's own control API (reset, state transitions, canned Athena results)."""
    data, headers = json.dumps(body or {}).encode(), {"Content-Type": "application/json"}
    request = urllib.request.Request(f"{endpoint}/moto-api/{path}", data, headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass


# A queued Athena answer: column -> (Athena type, value).
Answer = dict[str, tuple[str, str | None]]


def queue_athena_results(endpoint: str, results: list[Answer]) -> None:
    """Queue the answers of the next queries, in order: per query, column -> (type, value);
    a query whose values are all None answers no rows."""
    queued = []
    for columns in results:
        header = {"Data": [{"VarCharValue": name} for name in columns]}
        row = {"Data": [{"VarCharValue": v} if v is not None else {} for _, v in columns.values()]}
        info = [
            {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name,
             "Label": name, "Type": kind, "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN",
             "CaseSensitive": True}
            for name, (kind, _) in columns.items()
        ]  # fmt: skip
        has_row = any(value is not None for _, value in columns.values())
        queued.append({"rows": [header, row] if has_row else [header], "column_info": info})
    moto_api(endpoint, "static/athena/query-results", {"region": "us-east-1", "results": queued})


# Dummy credentials: the AWS tests can only ever reach the moto server.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
    "AWS_SESSION_TOKEN": "testing",  # pragma: allowlist secret
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}


def point_pyarrow_s3_at(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """PyAthena's ArrowCursor reads Athena's result files with PyArrow's S3 client, which
    takes no endpoint from the environment: point it at moto like every other client."""
    address = urllib.parse.urlparse(endpoint)
    s3 = functools.partial(pafs.S3FileSystem, endpoint_override=address.netloc, scheme="http")
    monkeypatch.setattr(pafs, "S3FileSystem", s3)


@pytest.fixture
def aws_settings(tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """APP_ENV=aws settings pointed at a freshly reset moto server."""
    moto_api(moto_endpoint, "reset")
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    point_pyarrow_s3_at(monkeypatch, moto_endpoint)
    settings = isolated_settings(tmp_path, app_env="aws", aws_endpoint_url=moto_endpoint)
    # moto finishes a query on the second status poll; no need to wait a second per poll.
    settings.aws.athena.poll_interval_seconds = 0.05
    return settings


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The CDK app (infra/) synthesized once: every stack's template, cdk-nag's findings."""
    result = synthesize_app(tmp_path_factory.mktemp("cdk.out"))
    if isinstance(result, str):
        if os.environ.get("CI"):  # CI installs node: a missing tool there is a failure
            pytest.fail(result)
        pytest.skip(result)
    return result

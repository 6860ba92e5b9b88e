"""Concurrent runs: leases keep same-interval runs apart, promotion is compare-and-set,
silver and quarantine land as a pair, and S3 honours the conditional create leases use."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pytest

from src.context import ProjectContext
from src.data.aws_integration import LocalObjectStore, S3ObjectStore
from src.data.feature_store import INGEST_DATE
from src.data.intervals import DataInterval
from src.data.leases import LeasePolicy, acquire_lease, build_lease_guard
from src.data.sample_data import land_sample_files
from src.model.metrics import get_metric
from src.model.mlflow_manager import PRODUCTION_ALIAS
from src.model.predictor import Predictor
from src.names import bronze_table, quarantine_table, silver_table
from src.pipelines.DE.silver import PAIRED_QUARANTINE, build_silver
from src.pipelines.DS.training_pipeline.evaluation import Evaluation
from src.pipelines.DS.training_pipeline.promotion import decide_promotion, move_production
from src.settings import Settings
from tests.conftest import FAKE_AWS_ENV, PROJECT_ROOT, SAMPLE_END, isolated_env

pytestmark = pytest.mark.integration

DAY = SAMPLE_END - timedelta(days=2)


def start_cli(env: dict[str, str], *arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "src", *arguments],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def land_day(context: ProjectContext) -> None:
    land_sample_files(context.store, context.view, context.settings.aws.s3.raw_prefix, SAMPLE_END)


def test_two_concurrent_data_pipeline_runs_of_a_day_leave_one_runs_rows(
    context: ProjectContext, tmp_path: Path
) -> None:
    land_day(context)
    env = {**isolated_env(tmp_path), "LEASE__WAIT_SECONDS": "600", "LEASE__POLL_SECONDS": "0.2"}
    runs = [start_cli(env, "data-pipeline", "--start", DAY.isoformat()) for _ in range(2)]
    outputs = [run.communicate(timeout=600) for run in runs]
    codes = [run.returncode for run in runs]
    waited = sum("waiting for the lease" in err for _, err in outputs)
    print(f"\nconcurrent data-pipeline runs: exit codes {codes}, {waited} waited for the lease")
    assert codes == [0, 0], outputs
    where = f"{INGEST_DATE} = '{DAY.isoformat()}'"
    view = context.view
    bronze = context.lake.read(bronze_table(view.dataset), where=where)
    silver = context.lake.read(silver_table(view.dataset), where=where)
    quarantined = context.lake.read(quarantine_table(view.dataset), where=where)
    raw_rows = sum(
        len(context.store.get_bytes(key).decode().strip().splitlines()) - 1
        for key in context.store.list_keys(context.settings.aws.s3.raw_prefix)
        if f"ingest_date={DAY.isoformat()}" in key
    )
    # One run's rows: bronze holds each raw row once, silver + quarantine account for them.
    assert bronze.num_rows == raw_rows > 0
    assert silver.num_rows + quarantined.num_rows == raw_rows
    keys = silver.select(view.key_columns).to_pylist()
    assert len({tuple(row.values()) for row in keys}) == len(keys)


def test_a_run_refused_by_a_held_lease_exits_naming_the_setting(
    context: ProjectContext, tmp_path: Path
) -> None:
    land_day(context)
    holder = acquire_lease(
        context.store, "data-pipeline", str(DataInterval.for_day(DAY)), LeasePolicy(wait_seconds=0)
    )
    try:
        env = {**isolated_env(tmp_path), "LEASE__WAIT_SECONDS": "0"}
        run = start_cli(env, "data-pipeline", "--start", DAY.isoformat())
        _, err = run.communicate(timeout=600)
    finally:
        holder.release()
    assert run.returncode != 0
    assert "another run of data-pipeline" in err
    assert "LEASE__WAIT_SECONDS" in err
    assert not context.lake.table_exists(bronze_table(context.view.dataset))


def test_silver_commit_names_the_quarantine_snapshot_it_goes_with(
    lake_context: ProjectContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    context, view = lake_context, lake_context.view
    interval = DataInterval.for_day(DAY)
    silver_before = context.lake.fingerprint(silver_table(view.dataset))
    original = context.lake.overwrite_batches

    def fail_on_silver(table: str, chunks: Iterable[pa.Table], *args: Any, **kwargs: Any) -> Any:
        if table != silver_table(view.dataset):
            return original(table, chunks, *args, **kwargs)

        def dying() -> Iterator[pa.Table]:
            yield next(iter(chunks))  # one chunk of silver written, then the process dies
            raise OSError("the process died between the two commits")

        return original(table, dying(), *args, **kwargs)

    monkeypatch.setattr(context.lake, "overwrite_batches", fail_on_silver)
    with pytest.raises(OSError, match="between the two commits"):
        build_silver(context.lake, view, interval, context.quality)
    # Quarantine landed first; silver, what gold reads, is as it was: its written chunk
    # was never committed.
    assert context.lake.fingerprint(silver_table(view.dataset)) == silver_before
    monkeypatch.setattr(context.lake, "overwrite_batches", original)
    result = build_silver(context.lake, view, interval, context.quality)
    where = interval.filter(INGEST_DATE)
    bronze_rows = context.lake.read(bronze_table(view.dataset), where=where).num_rows
    assert result.rows_valid + result.rows_quarantined == bronze_rows
    silver = context.lake.load(silver_table(view.dataset)).current_snapshot()
    quarantine = context.lake.load(quarantine_table(view.dataset)).current_snapshot()
    assert silver is not None and quarantine is not None and silver.summary is not None
    assert silver.summary[PAIRED_QUARANTINE] == str(quarantine.snapshot_id)


def candidate_evaluation(
    context: ProjectContext, candidate: float, production: float
) -> Evaluation:
    metric = get_metric(context.training.task, context.training.promotion.gate_metric)
    worst = -1e6 if metric.higher_is_better else 1e6
    return Evaluation(
        candidate={metric.name: candidate},
        baseline={metric.name: worst},
        production={metric.name: production},
        production_version="1",
        gate_metric=metric.name,
        higher_is_better=metric.higher_is_better,
    )


def test_a_promotion_race_of_two_candidates_leaves_production_at_the_better_one(
    trained_context: ProjectContext, tmp_path: Path
) -> None:
    context = trained_context
    manager, name = context.mlflow, context.settings.model_name
    # MLflow resolves a models:/ source of create_model_version through its process-wide
    # tracking URI, which a test run before this one in the process may have moved.
    manager.activate()
    first = manager.get_version_by_number(name, "1")
    assert first.source is not None
    metric = get_metric(context.training.task, context.training.promotion.gate_metric)
    sign = 1.0 if metric.higher_is_better else -1.0
    versions = {
        label: str(manager.client.create_model_version(name, first.source, first.run_id).version)
        for label in ("better", "worse")
    }
    # Both candidates were evaluated against v1; each beats it, the better one by more.
    scores = {"1": 0.5, versions["worse"]: 0.5 + 0.1 * sign, versions["better"]: 0.5 + 0.3 * sign}

    def rescore(production: Predictor) -> tuple[dict[str, float] | None, str | None]:
        return {metric.name: scores[production.version]}, None

    guard = build_lease_guard(LocalObjectStore(tmp_path / "store"), LeasePolicy(wait_seconds=60))

    def promote(label: str) -> Callable[[], None]:
        def run() -> None:
            evaluation = candidate_evaluation(context, scores[versions[label]], scores["1"])
            decision = decide_promotion(evaluation, context.training)
            assert decision.promoted
            move_production(
                manager, name, versions[label], decision, evaluation, context.training,
                guard, rescore,
            )  # fmt: skip

        return run

    outcomes = {}
    try:
        for order in (("worse", "better"), ("better", "worse"), "threads"):
            manager.set_alias(name, PRODUCTION_ALIAS, "1")
            if order == "threads":
                threads = [threading.Thread(target=promote(label)) for label in versions]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(timeout=120)
            else:
                # Both read production v1 before either moved it: the stale-read race.
                for label in order:
                    promote(label)()
            production = manager.get_version(name, PRODUCTION_ALIAS)
            assert production is not None
            outcomes["+".join(order) if order != "threads" else order] = str(production.version)
    finally:
        manager.set_alias(name, PRODUCTION_ALIAS, "1")
    print(f"\npromotion race (better is v{versions['better']}): production after {outcomes}")
    assert set(outcomes.values()) == {versions["better"]}


def test_s3_refuses_a_second_conditional_create(aws_settings: Settings) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=aws_settings.aws_endpoint_url,
        region_name=aws_settings.aws.region,
        aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket=aws_settings.aws.s3.bucket)
    store = S3ObjectStore(client, aws_settings.aws.s3.bucket)
    assert store.put_bytes_if_absent("leases/x/0.json", b"first")
    assert not store.put_bytes_if_absent("leases/x/0.json", b"second")
    assert store.get_bytes("leases/x/0.json") == b"first"
    lease = acquire_lease(store, "step", "day", LeasePolicy(wait_seconds=0))
    with pytest.raises(Exception, match="another run of step"):
        acquire_lease(store, "step", "day", LeasePolicy(wait_seconds=0))
    lease.release()

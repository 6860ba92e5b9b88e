"""The data engineering pipeline end to end for one data interval.

Each step is idempotent for its interval: bronze skips files it already holds, silver
and gold replace the interval's partitions. Every run of bronze and silver writes a JSON
quality report to the object store; a blocking rule stops the pipeline with a
`DataQualityError` after its report is written.

A refused raw file is quarantined whole (bronze) with its reason. Under the schema rule's
`action: quarantine` the rest of the day goes on and the run succeeds, naming the file;
under `action: block` the day stops after bronze.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from src.data.aws_integration import ObjectStore
from src.data.feature_store import INGEST_DATE, FeatureView
from src.data.intervals import DataInterval
from src.data.lake import Lake
from src.data.quality import (
    DataQualityError,
    QualityConfig,
    QualityReport,
    write_quality_report,
)
from src.errors import ProjectError
from src.names import bronze_table, quarantine_table, silver_table
from src.pipelines.DE.bronze import INGESTED_AT, BronzeResult, ingest_bronze
from src.pipelines.DE.gold import GoldResult, build_gold
from src.pipelines.DE.silver import SilverResult, build_silver

Step = Literal["bronze", "silver", "gold"]
STEPS: tuple[Step, ...] = ("bronze", "silver", "gold")
DEFAULT_QUALITY_PREFIX = "quality"


def parse_steps(names: Sequence[str]) -> tuple[Step, ...]:
    """Validated step names in pipeline order; no names means every step."""
    unknown = sorted(set(names) - set(STEPS))
    if unknown:
        raise ProjectError(f"unknown step {unknown[0]!r}; the steps are {', '.join(STEPS)}")
    return tuple(step for step in STEPS if step in names or not names)


@dataclass
class DataPipelineResult:
    bronze: BronzeResult | None = None
    silver: SilverResult | None = None
    gold: GoldResult | None = None
    reports: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = []
        if self.bronze:
            parts.append(
                f"bronze: {self.bronze.files_ingested} files ingested, "
                f"{self.bronze.files_skipped} already there, "
                f"{self.bronze.files_rejected} refused"
            )
        if self.silver:
            parts.append(
                f"silver: {self.silver.rows_valid} rows valid, "
                f"{self.silver.rows_quarantined} quarantined"
            )
        if self.gold:
            parts.append(f"gold: {self.gold.rows} rows")
        return "; ".join(parts)

    def refusals(self) -> list[str]:
        """One line per refused raw file: the reason and where its quarantined copy is."""
        if not self.bronze:
            return []
        copies = self.bronze.quarantined_files
        return [
            f"{reason} (quarantined whole: {copies[source]})" if source in copies else reason
            for source, reason in self.bronze.rejected.items()
        ]


def _reported(
    store: ObjectStore,
    prefix: str,
    result: DataPipelineResult,
    run: Callable[[], QualityReport],
) -> None:
    """Run a step that produces a report; write the report even when a rule blocks."""
    try:
        report = run()
    except DataQualityError as error:
        report = error.report
    uri = write_quality_report(store, prefix, report)
    result.reports.append(uri)
    blocking = report.blocking()
    if blocking:
        problems = "; ".join(check.message for check in blocking)
        raise DataQualityError(
            f"data quality blocked {report.step}: {problems} (report: {uri})", report
        )


def run_data_pipeline(
    lake: Lake,
    store: ObjectStore,
    view: FeatureView,
    raw_prefix: str,
    interval: DataInterval,
    quality: QualityConfig | None = None,
    quality_prefix: str = DEFAULT_QUALITY_PREFIX,
    steps: tuple[Step, ...] = STEPS,
) -> DataPipelineResult:
    """Run `steps` (default all) for `interval`; refused raw files fail it at the end."""
    config = quality or QualityConfig()
    result = DataPipelineResult()

    def bronze() -> QualityReport:
        result.bronze = ingest_bronze(
            lake, store, view, raw_prefix, interval, config, quality_prefix
        )
        return result.bronze.report

    def silver() -> QualityReport:
        result.silver = build_silver(lake, view, interval, config)
        return result.silver.report

    if "bronze" in steps:
        _reported(store, quality_prefix, result, bronze)
    if "silver" in steps:
        _reported(store, quality_prefix, result, silver)
    if "gold" in steps:
        result.gold = build_gold(lake, view, interval)
    return result


def describe_step(
    lake: Lake, view: FeatureView, step: Step, interval: DataInterval
) -> dict[str, object]:
    """Rows and checksum of what `step` wrote for `interval`: same content, same description.

    DVC compares these descriptions to decide whether the next stage must run again.
    """
    tables = {
        "bronze": [bronze_table(view.dataset)],
        "silver": [silver_table(view.dataset), quarantine_table(view.dataset)],
        "gold": [view.table],
    }[step]
    where = interval.filter(INGEST_DATE)
    described: dict[str, object] = {"step": step, "interval": str(interval)}
    for table in tables:
        fingerprint = lake.fingerprint(table, where=where, exclude=[INGESTED_AT])
        described[table] = {"rows": fingerprint.rows, "checksum": fingerprint.checksum}
    return described

"""Data quality: declarative rules (config/quality.yaml), their evaluation and the report.

Rules are evaluated as DuckDB SQL built from the feature view's column names (checked
against `[a-z][a-z0-9_]*` when the configs load, and quoted) and literal values (escaped by
`_literal`); no text from the data itself ever becomes SQL.

Rules judge the rows of one data interval on their way from bronze to silver. A rule's
`action` says what a failure does: `quarantine` sets the failing rows aside in the
quarantine table with the rule's name and a reason, `warn` only reports them, and `block`
stops the pipeline before anything is written, naming the rule, the column and the count.

Four checks always run before the configured rules, because silver cannot hold rows that
fail them: `malformed` (a CSV line that does not split into the contract's columns),
`type` (a value that does not parse as its column's type), `missing_key` (no entity or
event time) and `duplicate_key` (an entity and event time seen again in the interval:
the latest ingested copy is kept).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, Field, model_validator

from src.config import load_yaml_config
from src.data.aws_integration import ObjectStore
from src.data.feature_store import INGEST_DATE, Column, FeatureView
from src.data.feature_store import quote_identifier as _q
from src.data.intervals import DataInterval
from src.errors import ConfigError, DataValidationError

Action = Literal["quarantine", "warn", "block"]
FEATURES_SELECTOR = "$features"
# Selectors of config/quality.yaml, so rules name no dataset's columns: every feature,
# the features that may not be missing (not `nullable`), the numeric and the categorical
# ones, and the label.
SELECTORS = ("$features", "$required", "$numeric", "$categorical", "$label")

# Bronze's metadata columns, which the evaluation reads for ordering and lineage.
SOURCE_FILE = "_source_file"
RAW_LINE = "_raw_line"
INGESTED_AT = "_ingested_at"
ROW = "_row"
REJECT_RULE = "_rule"
REJECT_REASON = "_reason"


class DataQualityError(DataValidationError):
    """A blocking rule failed; `report` says what was found."""

    def __init__(self, message: str, report: QualityReport) -> None:
        super().__init__(message)
        self.report = report


class _Rule(BaseModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""


class NotNullRule(_Rule):
    type: Literal["not_null"]
    columns: list[str] = Field(min_length=1)
    action: Action = "quarantine"


class RangeRule(_Rule):
    """Numbers within [min, max]; without either, each column's own min and max of
    config/features.yaml (columns without them are not checked)."""

    type: Literal["range"]
    columns: list[str] = Field(min_length=1)
    min: float | None = None
    max: float | None = None
    action: Action = "quarantine"

    @property
    def from_contract(self) -> bool:
        return self.min is None and self.max is None

    @model_validator(mode="after")
    def check_bounds(self) -> RangeRule:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class AllowedValuesRule(_Rule):
    """Values among `values`; without it, the column's `values` of config/features.yaml.
    `column` may be a selector ($label, $categorical)."""

    type: Literal["allowed_values"]
    column: str
    values: list[str | int | float | bool] | None = Field(default=None, min_length=1)
    action: Action = "quarantine"


class UniqueRule(_Rule):
    type: Literal["unique"]
    columns: list[str] = Field(min_length=1)
    action: Action = "quarantine"


class SchemaRule(_Rule):
    """Raw files must carry the contract's columns (and, optionally, no others).

    A failing file never enters bronze; it stays in the raw zone to be fixed. `quarantine`
    sets it aside and lets the other files go on; `block` also stops the pipeline after
    bronze, naming the file and what is wrong with it.
    """

    type: Literal["schema"]
    allow_extra_columns: bool = True
    action: Literal["quarantine", "block"] = "block"


class FreshnessRule(_Rule):
    """The newest event of the interval is at most `max_age_hours` before its end."""

    type: Literal["freshness"]
    max_age_hours: float = Field(gt=0)
    action: Literal["warn", "block"] = "warn"


Rule = Annotated[
    NotNullRule | RangeRule | AllowedValuesRule | UniqueRule | SchemaRule | FreshnessRule,
    Field(discriminator="type"),
]


class QualityConfig(BaseModel):
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def check_unique_names(self) -> QualityConfig:
        names = [rule.name for rule in self.rules]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"rule names must be unique; repeated: {', '.join(repeated)}")
        if sum(isinstance(rule, SchemaRule) for rule in self.rules) > 1:
            raise ValueError("at most one schema rule")
        return self

    def schema_rule(self) -> SchemaRule:
        for rule in self.rules:
            if isinstance(rule, SchemaRule):
                return rule
        return SchemaRule(name="raw_schema", type="schema")


def load_quality_config(path: Path, view: FeatureView) -> QualityConfig:
    """Load the rules and check that every column they name is in the feature view."""
    config = load_yaml_config(path, QualityConfig)
    # Rules judge silver rows: derived features do not exist yet (they are gold's).
    known = {*view.key_columns, *(column.name for column in view.raw_columns)}
    for rule in config.rules:
        columns = rule_columns(rule, view)
        unknown = sorted(set(columns) - known)
        if unknown:
            raise ConfigError(
                f"{path}: rule {rule.name!r} names columns that are not in feature view "
                f"{view.name!r}: {', '.join(unknown)}"
            )
        if isinstance(rule, RangeRule):
            named = [name for name in rule.columns if not name.startswith("$")]
            text = [
                name for name in named if (column := view.column(name)) and not column.is_numeric
            ]
            if text:
                raise ConfigError(
                    f"{path}: range rule {rule.name!r} applies to numbers; "
                    f"{', '.join(text)} are not"
                )
    return config


def rule_columns(rule: Rule, view: FeatureView) -> list[str]:
    if isinstance(rule, NotNullRule | RangeRule | UniqueRule):
        names = rule.columns
    elif isinstance(rule, AllowedValuesRule):
        names = [rule.column]
    elif isinstance(rule, FreshnessRule):
        names = [view.event_timestamp]
    else:
        names = []
    expanded: list[str] = []
    for name in names:
        selected = select_columns(name, view)
        if isinstance(rule, RangeRule) and name.startswith("$"):
            # A selector in a range rule stands for its numeric columns (a string label).
            selected = [c for c in selected if (col := view.column(c)) is None or col.is_numeric]
        expanded.extend(selected)
    return list(dict.fromkeys(expanded))


def select_columns(name: str, view: FeatureView) -> list[str]:
    """The columns a rule's entry stands for: a selector's columns, or the name itself."""
    # Derived features are computed in gold, after these rules: selectors leave them out.
    measured = [f for f in view.features if f.expression is None]
    selected = {
        "$features": [f.name for f in measured],
        "$required": [f.name for f in measured if not f.nullable],
        "$numeric": [f.name for f in measured if f.is_numeric],
        "$categorical": [f.name for f in measured if not f.is_numeric],
        "$label": [view.label.name],
    }
    if name.startswith("$") and name not in selected:
        raise ConfigError(
            f"unknown column selector {name!r}; choose one of: {', '.join(SELECTORS)}"
        )
    return selected.get(name, [name])


@dataclass
class CheckResult:
    """What one rule found: failing rows in total and per column."""

    name: str
    type: str
    action: str
    failed: int = 0
    columns: dict[str, int] = field(default_factory=dict)
    message: str = ""

    @property
    def status(self) -> str:
        if not self.failed:
            return "passed"
        return {"quarantine": "quarantined", "warn": "warned", "block": "blocked"}[self.action]


@dataclass
class QualityReport:
    """The JSON report of one step (bronze or silver) over one data interval."""

    dataset: str
    step: str
    interval_start: str
    interval_end: str
    rows_in: int = 0
    rows_valid: int = 0
    rows_quarantined: int = 0
    checks: list[CheckResult] = field(default_factory=list)
    files_ingested: list[str] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)
    files_rejected: dict[str, str] = field(default_factory=dict)
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def status(self) -> str:
        statuses = {check.status for check in self.checks}
        for status in ("blocked", "quarantined", "warned"):
            if status in statuses:
                return status
        return "passed"

    def blocking(self) -> list[CheckResult]:
        return [check for check in self.checks if check.status == "blocked"]

    def to_json(self) -> str:
        content: dict[str, Any] = asdict(self)
        content["status"] = self.status
        for check, raw in zip(self.checks, content["checks"], strict=True):
            raw["status"] = check.status
        return json.dumps(content, indent=2, sort_keys=True) + "\n"


def quality_report_key(prefix: str, report: QualityReport) -> str:
    start, end = report.interval_start, report.interval_end
    return report_key(prefix, report.dataset, report.step, start, end)


def report_key(prefix: str, dataset: str, step: str, start: str, end: str) -> str:
    return f"{prefix}/{dataset}/{step}/{start}_{end}.json"


def read_blocking_problems(
    store: ObjectStore, prefix: str, dataset: str, start: str, end: str
) -> list[str]:
    """What blocked the data pipeline of an interval, from its reports; empty if nothing.

    What a sensor downstream of the pipeline reads to fail at once with the reason instead
    of waiting out its timeout for rows that will not come until the data is fixed.
    """
    problems = []
    for step in ("bronze", "silver"):
        key = report_key(prefix, dataset, step, start, end)
        if not store.exists(key):
            continue
        content = json.loads(store.get_bytes(key))
        if content.get("status") != "blocked":
            continue
        messages = [
            str(check.get("message") or check.get("rule"))
            for check in content.get("checks", [])
            if check.get("status") == "blocked"
        ]
        problems.append(f"{step}: {'; '.join(messages)} (report: {store.uri(key)})")
    return problems


def write_quality_report(store: ObjectStore, prefix: str, report: QualityReport) -> str:
    key = quality_report_key(prefix, report)
    store.put_bytes(key, report.to_json().encode())
    return store.uri(key)


def raise_if_blocked(report: QualityReport) -> None:
    blocking = report.blocking()
    if blocking:
        problems = "; ".join(check.message for check in blocking)
        raise DataQualityError(f"data quality blocked {report.step}: {problems}", report)


# --- raw files -----------------------------------------------------------------------


def check_raw_columns(header: list[str], view: FeatureView, rule: SchemaRule) -> str | None:
    """Why a raw file's header breaks the contract, or None when it does not."""
    expected = [*view.key_columns, *(column.name for column in view.raw_columns)]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        return f"repeats columns: {', '.join(repeated)}"
    missing = [name for name in expected if name not in header]
    if missing:
        return f"misses columns: {', '.join(missing)}"
    extra = [name for name in header if name not in expected]
    if extra and not rule.allow_extra_columns:
        return f"has columns outside the contract: {', '.join(extra)}"
    return None


# --- rows ----------------------------------------------------------------------------


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _text(name: str) -> str:
    """The column holding `name`'s raw text, trimmed, NULL when blank (see `_typed_table_sql`)."""
    return _q("raw__" + name)


def _typed_expression(name: str, dtype: str) -> str:
    """DuckDB expression typing the trimmed text; NULL for blank text and for text that fails."""
    text = _text(name)
    if dtype == "float64":
        number = f"TRY_CAST({text} AS DOUBLE)"
        return f"CASE WHEN isfinite({number}) THEN {number} END"
    if dtype == "int64":
        # TRY_CAST('1.5' AS BIGINT) rounds to 2; only whole numbers may pass.
        number = f"TRY_CAST({text} AS DOUBLE)"
        return (
            f"CASE WHEN regexp_full_match({text}, '[+-]?[0-9]+') THEN TRY_CAST({text} AS BIGINT) "
            f"WHEN isfinite({number}) AND {number} = trunc({number}) "
            f"AND abs({number}) < 9007199254740992 THEN CAST({number} AS BIGINT) END"
        )
    if dtype == "bool":
        return f"TRY_CAST({text} AS BOOLEAN)"
    if dtype == "timestamp":
        return f"TRY_CAST({text} AS TIMESTAMPTZ)"
    return text


@dataclass(frozen=True)
class _Condition:
    rule: str
    type: str
    action: str
    column: str
    failed_sql: str
    reason_sql: str


def _empty(column: str) -> str:
    """True when the raw text of `column` is missing or blank."""
    return f"{_text(column)} IS NULL"


def _row_conditions(config: QualityConfig, view: FeatureView) -> list[_Condition]:
    malformed = _Condition(
        rule="malformed",
        type="malformed",
        action="quarantine",
        column=RAW_LINE,
        failed_sql=f"{_q(RAW_LINE)} IS NOT NULL",
        reason_sql="'line does not split into the contract''s columns: ' || "
        f"left({_q(RAW_LINE)}, 200)",
    )
    conditions = [malformed]
    for name, dtype in _contract_types(view).items():
        raw_text = f"left({_text(name)}, 80)"
        conditions.append(
            _Condition(
                rule="type",
                type="type",
                action="quarantine",
                column=name,
                failed_sql=f"NOT ({_empty(name)}) AND {_q(name)} IS NULL",
                reason_sql=f"'{name} = ' || {raw_text} || ' is not a valid {dtype}'",
            )
        )
    for name in view.key_columns:
        conditions.append(
            _Condition(
                "missing_key", "not_null", "quarantine", name, _empty(name), f"'{name} is empty'"
            )
        )
    for rule in config.rules:
        for column in rule_columns(rule, view):
            conditions.extend(_rule_conditions(rule, column, view.column(column)))
    return conditions


def _rule_conditions(rule: Rule, column: str, contract: Column | None = None) -> list[_Condition]:
    col = _q(column)
    shown = f"'{column} = ' || left(CAST({col} AS VARCHAR), 80)"
    found: list[tuple[str, str]] = []
    if isinstance(rule, NotNullRule):
        found.append((_empty(column), f"'{column} is empty'"))
    elif isinstance(rule, RangeRule):
        low, high = rule.min, rule.max
        if rule.from_contract and contract is not None:
            low, high = contract.min, contract.max
        if low is not None:
            found.append((f"{col} < {low!r}", f"{shown} || ' is below the minimum {low:g}'"))
        if high is not None:
            found.append((f"{col} > {high!r}", f"{shown} || ' is above the maximum {high:g}'"))
    elif isinstance(rule, AllowedValuesRule):
        allowed = rule.values or (contract.values if contract is not None else None)
        if not allowed:
            return []
        values = ", ".join(_literal(value) for value in allowed)
        listed = ", ".join(str(value) for value in allowed).replace("'", "''")
        found.append(
            (
                f"{col} IS NOT NULL AND {col} NOT IN ({values})",
                f"{shown} || ' is not one of [{listed}]'",
            )
        )
    return [
        _Condition(rule.name, rule.type, rule.action, column, failed, reason)
        for failed, reason in found
    ]


def _contract_types(view: FeatureView) -> dict[str, str]:
    types = {view.entity.name: view.entity.dtype, view.event_timestamp: "timestamp"}
    types.update({column.name: column.dtype for column in view.raw_columns})
    return types


@dataclass(frozen=True)
class RowEvaluation:
    valid: pa.Table
    rejected_rows: list[int]
    rejected_rules: list[str]
    rejected_reasons: list[str]


def evaluate_rows(
    bronze: pa.Table, view: FeatureView, config: QualityConfig, report: QualityReport
) -> RowEvaluation:
    """Type bronze rows and judge them; fills `report.checks`. Rows are numbered by position."""
    numbered = bronze.append_column(ROW, pa.array(range(bronze.num_rows), pa.int64()))
    conditions = _row_conditions(config, view)
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("bronze", numbered)
        connection.execute(_typed_table_sql(view))
        connection.execute(_judged_table_sql(conditions))
        _mark_duplicates(connection, view, config)
        report.checks.extend(_count_checks(connection, conditions, config, view))
        schema = view.silver_schema()
        valid = connection.sql(
            f"SELECT {', '.join(_q(name) for name in schema.names)} FROM judged "  # noqa: S608  # nosec B608
            f"WHERE {_q(REJECT_RULE)} IS NULL ORDER BY {', '.join(_q(c) for c in view.key_columns)}"
        ).to_arrow_table()
        rejected = connection.sql(
            f"SELECT {ROW}, {_q(REJECT_RULE)}, {_q(REJECT_REASON)} FROM judged "  # noqa: S608  # nosec B608
            f"WHERE {_q(REJECT_RULE)} IS NOT NULL ORDER BY {ROW}"
        ).to_arrow_table()
    finally:
        connection.close()
    return RowEvaluation(
        valid=valid.cast(view.silver_schema()),
        rejected_rows=rejected.column(ROW).to_pylist(),
        rejected_rules=rejected.column(REJECT_RULE).to_pylist(),
        rejected_reasons=rejected.column(REJECT_REASON).to_pylist(),
    )


def _typed_table_sql(view: FeatureView) -> str:
    """Trim each raw column once (inner query), then type it (outer query)."""
    types = _contract_types(view)
    trimmed = ", ".join(f"NULLIF(trim({_q(name)}), '') AS {_text(name)}" for name in types)
    typed = ", ".join(
        f"{_typed_expression(name, dtype)} AS {_q(name)}" for name, dtype in types.items()
    )
    return (
        f"CREATE TEMP TABLE typed AS SELECT *, {typed} FROM (SELECT {ROW}, "  # noqa: S608  # nosec B608
        f"{_q(SOURCE_FILE)}, {_q(RAW_LINE)}, {_q(INGESTED_AT)}, {_q(INGEST_DATE)}, {trimmed} "
        "FROM bronze)"
    )


def _judged_table_sql(conditions: list[_Condition]) -> str:
    quarantining = [c for c in conditions if c.action == "quarantine"]
    if not quarantining:
        return (
            f"CREATE TEMP TABLE judged AS SELECT *, NULL::VARCHAR AS {_q(REJECT_RULE)}, "  # noqa: S608  # nosec B608
            f"NULL::VARCHAR AS {_q(REJECT_REASON)} FROM typed"
        )
    # A malformed line has no values: only its own condition may judge it.
    rule = " ".join(f"WHEN {c.failed_sql} THEN {_literal(c.rule)}" for c in quarantining)
    reason = " ".join(f"WHEN {c.failed_sql} THEN {c.reason_sql}" for c in quarantining)
    return (
        f"CREATE TEMP TABLE judged AS SELECT *, CASE {rule} END AS {_q(REJECT_RULE)}, "  # noqa: S608  # nosec B608
        f"CASE {reason} END AS {_q(REJECT_REASON)} FROM typed"
    )


def _latest_first() -> str:
    return f"ORDER BY {_q(INGESTED_AT)} DESC, {_q(SOURCE_FILE)} DESC, {ROW} DESC"


def _all_present(columns: list[str]) -> str:
    """Rows whose key is complete: a missing value is not a duplicate of another missing one."""
    return " AND ".join(f"{_q(c)} IS NOT NULL" for c in columns)


def _mark_duplicates(
    connection: duckdb.DuckDBPyConnection, view: FeatureView, config: QualityConfig
) -> None:
    """Among rows still valid, keep the latest ingested copy of each key; mark the others."""
    unique_rules = [("duplicate_key", view.key_columns)]
    unique_rules += [
        (rule.name, rule_columns(rule, view))
        for rule in config.rules
        if isinstance(rule, UniqueRule) and rule.action == "quarantine"
    ]
    for name, columns in unique_rules:
        keys = ", ".join(_q(c) for c in columns)
        present = _all_present(columns)
        reason = _literal(f"duplicate of a later ingested row with the same {', '.join(columns)}")
        connection.execute(
            f"UPDATE judged SET {_q(REJECT_RULE)} = {_literal(name)}, "  # noqa: S608  # nosec B608
            f"{_q(REJECT_REASON)} = {reason} WHERE {ROW} IN (SELECT {ROW} FROM judged "
            f"WHERE {_q(REJECT_RULE)} IS NULL AND {present} QUALIFY row_number() OVER "
            f"(PARTITION BY {keys} {_latest_first()}) > 1)"
        )


def _count_checks(
    connection: duckdb.DuckDBPyConnection,
    conditions: list[_Condition],
    config: QualityConfig,
    view: FeatureView,
) -> list[CheckResult]:
    """Failing rows per rule and column, each rule counted on its own (not first-wins)."""
    by_rule: dict[str, list[_Condition]] = {}
    for condition in conditions:
        by_rule.setdefault(condition.rule, []).append(condition)
    checks = []
    for name, group in by_rule.items():
        population = "TRUE" if name == "malformed" else f"{_q(RAW_LINE)} IS NULL"
        counts = ", ".join(f"count(*) FILTER (WHERE {c.failed_sql})" for c in group)
        any_failed = " OR ".join(f"({c.failed_sql})" for c in group)
        row = connection.sql(
            f"SELECT count(*) FILTER (WHERE {any_failed}), {counts} "  # noqa: S608  # nosec B608
            f"FROM typed WHERE {population}"
        ).fetchall()[0]
        values = [int(value) for value in row] if row else [0] * (len(group) + 1)
        check = CheckResult(name, group[0].type, group[0].action, failed=values[0])
        for condition, failed in zip(group, values[1:], strict=True):
            if failed:
                check.columns[condition.column] = check.columns.get(condition.column, 0) + failed
        checks.append(check)
    for rule in config.rules:
        if (
            isinstance(rule, NotNullRule | RangeRule | AllowedValuesRule)
            and rule.name not in by_rule
        ):
            # A contract rule whose columns have no bounds or values checks nothing; it is
            # reported all the same, so the report lists every configured rule.
            checks.append(CheckResult(rule.name, rule.type, rule.action))
    unique_names = ("duplicate_key", *(r.name for r in config.rules if isinstance(r, UniqueRule)))
    checks.extend(_count_unique(connection, name, config, view) for name in unique_names)
    for check in checks:
        _summarise(check)
    return checks


def _count_unique(
    connection: duckdb.DuckDBPyConnection, name: str, config: QualityConfig, view: FeatureView
) -> CheckResult:
    if name == "duplicate_key":
        columns, action = view.key_columns, "quarantine"
    else:
        rule = next(r for r in config.rules if r.name == name)
        columns = rule_columns(rule, view)
        action = rule.action if isinstance(rule, UniqueRule) else "quarantine"
    check = CheckResult(name, "unique", action)
    if action == "quarantine":
        row = connection.sql(
            f"SELECT count(*) FROM judged WHERE {_q(REJECT_RULE)} = {_literal(name)}"  # noqa: S608  # nosec B608
        ).fetchall()[0]
    else:
        keys = ", ".join(_q(c) for c in columns)
        row = connection.sql(
            f"SELECT count(*) FROM (SELECT 1 FROM judged WHERE {_q(REJECT_RULE)} IS NULL "  # noqa: S608  # nosec B608
            f"AND {_all_present(columns)} "
            f"QUALIFY row_number() OVER (PARTITION BY {keys} {_latest_first()}) > 1)"
        ).fetchall()[0]
    check.failed = int(row[0]) if row else 0
    if check.failed:
        check.columns[", ".join(columns)] = check.failed
    return check


def _summarise(check: CheckResult) -> None:
    per_column = ", ".join(f"column {name}: {count} rows" for name, count in check.columns.items())
    check.message = (
        f"rule {check.name!r} ({check.type}) failed on {per_column}" if check.failed else ""
    )


def check_freshness(
    valid: pa.Table, view: FeatureView, config: QualityConfig, interval: DataInterval
) -> list[CheckResult]:
    """Freshness rules: the newest event must be recent relative to the interval's end."""
    checks = []
    end = datetime.combine(interval.end, time(), tzinfo=UTC)
    newest = pc.max(valid.column(view.event_timestamp)).as_py() if valid.num_rows else None
    for rule in config.rules:
        if not isinstance(rule, FreshnessRule):
            continue
        check = CheckResult(rule.name, rule.type, rule.action)
        if newest is None:
            check.failed = 1
            check.message = f"rule {rule.name!r} (freshness) failed: no valid rows in {interval}"
        else:
            age_hours = (end - newest).total_seconds() / 3600
            if age_hours > rule.max_age_hours:
                check.failed = 1
                check.message = (
                    f"rule {rule.name!r} (freshness) failed on column {view.event_timestamp}: "
                    f"newest event {newest.isoformat()} is {age_hours:.1f} h before the end of "
                    f"{interval}, more than {rule.max_age_hours:g} h"
                )
        if check.failed:
            check.columns[view.event_timestamp] = check.failed
        checks.append(check)
    return checks

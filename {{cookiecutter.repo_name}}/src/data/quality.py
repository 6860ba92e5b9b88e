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
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

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
#
# Silver is one definition: common table expressions over the interval's bronze rows
# (`_judged_ctes`), then three SELECTs over them (`SilverQueries`). The SQL is DuckDB's
# dialect restricted to what Athena (Trino) also runs once SQLGlot has transpiled it:
# no QUALIFY, no UPDATE, no `count(*) FILTER`, `substr` rather than `left`, anchored
# `regexp_matches` rather than `regexp_full_match`, a bound on `abs` rather than
# `isfinite`. What text counts as a number, a boolean or a timestamp is each engine's
# own cast: both accept `123`, `-1.5e3`, `true`/`false` and ISO 8601 timestamps
# `YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM]`; a reason quoting a number may print it
# differently (DuckDB `1.5`, Trino `1.5E0`).

# Bronze's position of a row within its source file: the tie-break between copies of
# a key ingested at the same time from the same file (the later line wins).
SOURCE_ROW = "_source_row"
# Every raw column is carried as received (`bronze__<name>`, what quarantine keeps) and
# trimmed (`raw__<name>`, what typing and the rules read).
_AS_RECEIVED = "bronze__"
_TRIMMED = "raw__"
# The largest finite double: NaN and the infinities fail `abs(x) <= it` in both engines.
_MAX_DOUBLE = "1.7976931348623157e308"


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _text(name: str) -> str:
    """The column holding `name`'s raw text, trimmed, NULL when blank."""
    return _q(_TRIMMED + name)


def _typed_expression(name: str, dtype: str) -> str:
    """The trimmed text typed; NULL for blank text and for text that fails."""
    text = _text(name)
    if dtype == "float64":
        number = f"TRY_CAST({text} AS DOUBLE)"
        return f"CASE WHEN abs({number}) <= {_MAX_DOUBLE} THEN {number} END"
    if dtype == "int64":
        # TRY_CAST('1.5' AS BIGINT) rounds to 2; only whole numbers may pass.
        number = f"TRY_CAST({text} AS DOUBLE)"
        return (
            f"CASE WHEN regexp_matches({text}, '^[+-]?[0-9]+$') THEN TRY_CAST({text} AS BIGINT) "
            f"WHEN abs({number}) < 9007199254740992 AND {number} = trunc({number}) "
            f"THEN CAST({number} AS BIGINT) END"
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
        f"substr({_q(RAW_LINE)}, 1, 200)",
    )
    conditions = [malformed]
    for name, dtype in _contract_types(view).items():
        raw_text = f"substr({_text(name)}, 1, 80)"
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
    shown = f"'{column} = ' || substr(CAST({col} AS VARCHAR), 1, 80)"
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


def _latest_first() -> str:
    """Newest ingested copy first; the raw text settles rows that tie on everything else."""
    return (
        f"ORDER BY {_q(INGESTED_AT)} DESC NULLS LAST, {_q(SOURCE_FILE)} DESC NULLS LAST, "
        f"{_q(SOURCE_ROW)} DESC NULLS LAST, {_q(RAW_LINE)} DESC NULLS LAST"
    )


def _all_present(columns: list[str]) -> str:
    """Rows whose key is complete: a missing value is not a duplicate of another missing one."""
    return " AND ".join(f"{_q(c)} IS NOT NULL" for c in columns)


@dataclass(frozen=True)
class _UniqueCheck:
    name: str
    columns: list[str]
    action: str


def _unique_checks(config: QualityConfig, view: FeatureView) -> list[_UniqueCheck]:
    """The always-on key check, then the unique rules, in the order they judge rows."""
    checks = [_UniqueCheck("duplicate_key", view.key_columns, "quarantine")]
    checks += [
        _UniqueCheck(rule.name, rule_columns(rule, view), rule.action)
        for rule in config.rules
        if isinstance(rule, UniqueRule)
    ]
    return checks


@dataclass(frozen=True)
class _Metric:
    """One column of the metrics query: what it counts for the report."""

    alias: str
    rule: str
    column: str | None  # None: the rule's total (rows failing any of its conditions)


@dataclass(frozen=True)
class SilverQueries:
    """Silver of one interval as SQL: the report's counts, the valid rows, the rejects.

    Each is one SELECT over `<database>.<bronze table>` in DuckDB's dialect; DuckDB runs
    it locally, Athena (transpiled) on AWS. `silver` selects silver's columns in order,
    `quarantine` the quarantine table's, `metrics` one row of counts (`read_metrics`).
    """

    metrics: str
    silver: str
    quarantine: str
    rule_column: str
    metric_columns: tuple[_Metric, ...]
    conditions: tuple[_Condition, ...]


def build_silver_queries(
    view: FeatureView,
    config: QualityConfig,
    bronze: str,
    interval_sql: str,
    quarantine_columns: list[str],
) -> SilverQueries:
    """Silver's SQL over table `bronze` (`<database>.<table>`) for rows in `interval_sql`."""
    conditions = _row_conditions(config, view)
    ctes, last, rule, reason = _judged_ctes(view, config, conditions, bronze, interval_sql)
    with_clause = "WITH " + ", ".join(f"{name} AS ({body})" for name, body in ctes)
    silver_columns = ", ".join(_q(name) for name in view.silver_schema().names)
    # Unsorted: ordering the interval's rows would cost a sort of all of them (spilled
    # to disk past the engine's memory) and no reader relies on the order of a table.
    silver = (
        f"{with_clause} SELECT {silver_columns} FROM {last} "  # noqa: S608  # nosec B608
        f"WHERE {rule} IS NULL"
    )
    raw = set(contract_names(view))
    rejected_columns = ", ".join(
        f"{_q(_AS_RECEIVED + name)} AS {_q(name)}"
        if name in raw
        else {
            REJECT_RULE: f"{rule} AS {_q(REJECT_RULE)}",
            REJECT_REASON: f"{reason} AS {_q(REJECT_REASON)}",
        }.get(name, _q(name))
        for name in quarantine_columns
    )
    quarantine = (
        f"{with_clause} SELECT {rejected_columns} FROM {last} "  # noqa: S608  # nosec B608
        f"WHERE {rule} IS NOT NULL ORDER BY {_q(SOURCE_FILE)}, {_q(SOURCE_ROW)}"
    )
    metrics, aggregates = _metric_aggregates(view, config, conditions, rule)
    metrics_sql = f"{with_clause} SELECT {', '.join(aggregates)} FROM {last}"  # noqa: S608  # nosec B608
    return SilverQueries(
        metrics=metrics_sql,
        silver=silver,
        quarantine=quarantine,
        rule_column=rule,
        metric_columns=tuple(metrics),
        conditions=tuple(conditions),
    )


def contract_names(view: FeatureView) -> list[str]:
    """The columns raw files carry: keys, measured features, source columns, label."""
    return [*view.key_columns, *(column.name for column in view.raw_columns)]


def _judged_ctes(
    view: FeatureView,
    config: QualityConfig,
    conditions: list[_Condition],
    bronze: str,
    interval_sql: str,
) -> tuple[list[tuple[str, str]], str, str, str]:
    """The CTEs judging every row; returns them, the last one's name, its rule and reason."""
    types = _contract_types(view)
    metadata = ", ".join(
        _q(c) for c in (SOURCE_FILE, SOURCE_ROW, RAW_LINE, INGESTED_AT, INGEST_DATE)
    )
    carried = ", ".join(f"{_q(name)} AS {_q(_AS_RECEIVED + name)}" for name in types)
    trimmed = ", ".join(f"NULLIF(trim({_q(name)}), '') AS {_text(name)}" for name in types)
    typed = ", ".join(f"{_typed_expression(n, dtype)} AS {_q(n)}" for n, dtype in types.items())
    ctes = [
        (
            "trimmed",
            f"SELECT {metadata}, {carried}, {trimmed} "  # noqa: S608  # nosec B608
            f"FROM {bronze} WHERE {interval_sql}",
        ),
        ("typed", f"SELECT *, {typed} FROM trimmed"),  # noqa: S608  # nosec B608
    ]
    quarantining = [c for c in conditions if c.action == "quarantine"]
    if quarantining:
        # First failing condition wins; a malformed line has no values, its own comes first.
        rule = " ".join(f"WHEN {c.failed_sql} THEN {_literal(c.rule)}" for c in quarantining)
        reason = " ".join(f"WHEN {c.failed_sql} THEN {c.reason_sql}" for c in quarantining)
        judged = (
            f"SELECT *, CASE {rule} END AS _rule_0, "  # noqa: S608  # nosec B608
            f"CASE {reason} END AS _reason_0 FROM typed"
        )
    else:
        judged = (
            "SELECT *, CAST(NULL AS VARCHAR) AS _rule_0, "
            "CAST(NULL AS VARCHAR) AS _reason_0 FROM typed"
        )
    ctes.append(("judged_0", judged))
    step, last = 0, "judged_0"
    # Among rows still valid, keep the latest ingested copy of each key, one unique check
    # after the other; ranking within "still valid" keeps rejected rows out of the count.
    for check in _unique_checks(config, view):
        if check.action != "quarantine":
            continue  # ranked once every quarantining check has run (below)
        keys = ", ".join(_q(c) for c in check.columns)
        eligible = f"_rule_{step} IS NULL AND {_all_present(check.columns)}"
        rank = (
            f"row_number() OVER (PARTITION BY CASE WHEN {eligible} THEN 1 ELSE 0 END, {keys} "
            f"{_latest_first()})"
        )
        reason = _literal(
            f"duplicate of a later ingested row with the same {', '.join(check.columns)}"
        )
        ranked = f"ranked_{step}"
        ctes.append((ranked, f"SELECT *, {rank} AS _rank_{step} FROM {last}"))  # noqa: S608  # nosec B608
        duplicate = f"{eligible} AND _rank_{step} > 1"
        ctes.append(
            (
                f"judged_{step + 1}",
                f"SELECT *, CASE WHEN {duplicate} "  # noqa: S608  # nosec B608
                f"THEN {_literal(check.name)} ELSE _rule_{step} END AS _rule_{step + 1}, "
                f"CASE WHEN {duplicate} THEN {reason} ELSE _reason_{step} END "
                f"AS _reason_{step + 1} FROM {ranked}",
            )
        )
        step, last = step + 1, f"judged_{step + 1}"
    # Unique checks that only warn or block judge the rows every other check left valid.
    final_rule = f"_rule_{step}"
    fixed = []
    for check in _unique_checks(config, view):
        if check.action == "quarantine":
            continue
        keys = ", ".join(_q(c) for c in check.columns)
        eligible = f"{final_rule} IS NULL AND {_all_present(check.columns)}"
        fixed.append(
            f"row_number() OVER (PARTITION BY CASE WHEN {eligible} THEN 1 ELSE 0 END, {keys} "
            f"{_latest_first()}) AS {_q('_final_rank_' + check.name)}"
        )
    if fixed:
        ctes.append(("ranked_final", f"SELECT *, {', '.join(fixed)} FROM {last}"))  # noqa: S608  # nosec B608
        last = "ranked_final"
    return ctes, last, final_rule, f"_reason_{step}"


def _metric_aggregates(
    view: FeatureView, config: QualityConfig, conditions: list[_Condition], rule: str
) -> tuple[list[_Metric], list[str]]:
    """Failing rows per rule and column, each rule counted on its own (not first-wins)."""
    by_rule: dict[str, list[_Condition]] = {}
    for condition in conditions:
        by_rule.setdefault(condition.rule, []).append(condition)
    aggregates = [
        "count(*) AS rows_in",
        f"count(CASE WHEN {rule} IS NULL THEN 1 END) AS rows_valid",
        f"count(CASE WHEN {rule} IS NOT NULL THEN 1 END) AS rows_quarantined",
        f"max(CASE WHEN {rule} IS NULL THEN epoch({_q(view.event_timestamp)}) END) AS newest_event",
    ]
    metrics: list[_Metric] = []

    def count(condition: str, rule_name: str, column: str | None) -> None:
        alias = f"m_{len(metrics)}"
        metrics.append(_Metric(alias, rule_name, column))
        aggregates.append(f"count(CASE WHEN {condition} THEN 1 END) AS {alias}")

    for name, group in by_rule.items():
        population = "TRUE" if name == "malformed" else f"{_q(RAW_LINE)} IS NULL"
        any_failed = " OR ".join(f"({c.failed_sql})" for c in group)
        count(f"({population}) AND ({any_failed})", name, None)
        for condition in group:
            count(f"({population}) AND ({condition.failed_sql})", name, condition.column)
    for check in _unique_checks(config, view):
        if check.action == "quarantine":
            count(f"{rule} = {_literal(check.name)}", check.name, None)
        else:
            rank = _q("_final_rank_" + check.name)
            count(
                f"{rule} IS NULL AND {_all_present(check.columns)} AND {rank} > 1", check.name, None
            )
    return metrics, aggregates


@dataclass(frozen=True)
class SilverMetrics:
    rows_in: int
    rows_valid: int
    rows_quarantined: int
    newest_event: datetime | None
    checks: list[CheckResult]


def read_metrics(
    row: dict[str, Any], queries: SilverQueries, config: QualityConfig, view: FeatureView
) -> SilverMetrics:
    """The report's counts from the one row `queries.metrics` returns."""
    by_rule: dict[str, list[_Condition]] = {}
    for condition in queries.conditions:
        by_rule.setdefault(condition.rule, []).append(condition)
    checks: dict[str, CheckResult] = {}
    for name, group in by_rule.items():
        checks[name] = CheckResult(name, group[0].type, group[0].action)
    for rule in config.rules:
        if (
            isinstance(rule, NotNullRule | RangeRule | AllowedValuesRule)
            and rule.name not in checks
        ):
            # A contract rule whose columns have no bounds or values checks nothing; it is
            # reported all the same, so the report lists every configured rule.
            checks[rule.name] = CheckResult(rule.name, rule.type, rule.action)
    uniques = _unique_checks(config, view)
    for unique in uniques:
        checks[unique.name] = CheckResult(unique.name, "unique", unique.action)
    unique_columns = {unique.name: ", ".join(unique.columns) for unique in uniques}
    for metric in queries.metric_columns:
        failed = _count(row, metric.alias)
        check = checks[metric.rule]
        if metric.column is None:
            check.failed = failed
            if metric.rule in unique_columns and failed:
                check.columns[unique_columns[metric.rule]] = failed
        elif failed:
            check.columns[metric.column] = check.columns.get(metric.column, 0) + failed
    for check in checks.values():
        _summarise(check)
    newest = row.get("newest_event")
    is_missing = newest is None or (isinstance(newest, float) and math.isnan(newest))
    return SilverMetrics(
        rows_in=_count(row, "rows_in"),
        rows_valid=_count(row, "rows_valid"),
        rows_quarantined=_count(row, "rows_quarantined"),
        newest_event=None if is_missing else datetime.fromtimestamp(float(str(newest)), tz=UTC),
        checks=list(checks.values()),
    )


def _count(row: dict[str, Any], name: str) -> int:
    value = row.get(name)
    if value is None:
        raise DataValidationError(f"the silver metrics query returned no {name}")
    return int(value)


def _summarise(check: CheckResult) -> None:
    per_column = ", ".join(f"column {name}: {count} rows" for name, count in check.columns.items())
    check.message = (
        f"rule {check.name!r} ({check.type}) failed on {per_column}" if check.failed else ""
    )


def check_freshness(
    newest: datetime | None, view: FeatureView, config: QualityConfig, interval: DataInterval
) -> list[CheckResult]:
    """Freshness rules: the newest valid event must be recent relative to the interval's end."""
    checks = []
    end = datetime.combine(interval.end, time(), tzinfo=UTC)
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

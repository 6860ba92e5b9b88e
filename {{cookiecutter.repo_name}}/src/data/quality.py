"""Data quality of the silver step: bronze rows judged against config/features.yaml's contract
and config/quality.yaml's checks, each failure quarantined, counted (`warn`) or blocking.

The judgement is SQL both DuckDB and (transpiled) Athena run; names and values come from
the config, never from the data.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import pyarrow as pa
import sqlglot
from pydantic import BaseModel, Field
from sqlglot import exp
from sqlglot.errors import SqlglotError

from src.data.feature_store import INGEST_DATE, Column, FeatureView
from src.data.feature_store import quote_identifier as q
from src.errors import ConfigError, DataValidationError
from src.settings import load_yaml_config

Action = Literal["quarantine", "warn", "block"]
# Bronze's lineage columns: the raw file, the row's place in it, a line that did not parse.
SOURCE_FILE, SOURCE_ROW = "_source_file", "_source_row"
RAW_LINE, INGESTED_AT = "_raw_line", "_ingested_at"
REJECT_RULE, REJECT_REASON = "_rule", "_reason"
RAW_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
# The largest finite double: NaN and the infinities fail `abs(x) <= it` in both engines.
MAX_DOUBLE = "1.7976931348623157e308"


class Check(BaseModel):
    """A team's own check: a row fails when `condition` (SQL over silver's columns) is false."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    condition: str = Field(min_length=1)
    action: Action = "warn"
    description: str = ""


class QualityConfig(BaseModel):
    features: Action = "quarantine"
    label: Action = "block"
    raw_files: Literal["quarantine", "block"] = "quarantine"
    allow_extra_columns: bool = True
    checks: list[Check] = Field(default_factory=list)


def load_quality_config(path: Path, view: FeatureView) -> QualityConfig:
    """Load the config; every check must parse and name only silver's columns."""
    config = load_yaml_config(path, QualityConfig)
    known = set(raw_columns(view))
    for check in config.checks:
        try:
            tree = sqlglot.parse_one(check.condition, read="duckdb")
        except SqlglotError as error:
            raise ConfigError(f"{path}: check {check.name!r} is not valid SQL: {error}") from error
        unknown = sorted({column.name for column in tree.find_all(exp.Column)} - known)
        if unknown:
            raise ConfigError(
                f"{path}: check {check.name!r} names columns that are not silver's: "
                + ", ".join(unknown)
            )
    return config


def raw_columns(view: FeatureView) -> list[str]:
    """What raw files carry: keys, measured features, source columns, label."""
    return [*view.key_columns, *(column.name for column in view.raw_columns)]


def check_raw_header(header: list[str], view: FeatureView, config: QualityConfig) -> str | None:
    """Why a raw file's columns break the contract, or None."""
    if missing := [name for name in raw_columns(view) if name not in header]:
        return f"misses columns: {', '.join(missing)}"
    extra = [name for name in header if name not in raw_columns(view)]
    if extra and not config.allow_extra_columns:
        return f"has columns outside the contract: {', '.join(extra)}"
    return None


@dataclass(frozen=True)
class Condition:
    """One way a row fails: `failed` is SQL true for a failing row, `reason` its SQL text."""

    name: str
    action: Action
    failed: str
    reason: str


def _text(name: str) -> str:
    """The column holding `name`'s raw text, trimmed, NULL when blank."""
    return q(f"raw__{name}")


def typed_expression(name: str, dtype: str) -> str:
    """The trimmed text in its contract type; NULL for blank text and text that fails."""
    text = _text(name)
    number = f"TRY_CAST({text} AS DOUBLE)"
    casts = {
        "float64": f"CASE WHEN abs({number}) <= {MAX_DOUBLE} THEN {number} END",
        # Only whole numbers: TRY_CAST('1.5' AS BIGINT) would round.
        "int64": f"CASE WHEN abs({number}) < 9007199254740992 AND {number} = trunc({number}) "
        f"THEN CAST({number} AS BIGINT) END",
        "bool": f"TRY_CAST({text} AS BOOLEAN)",
        "timestamp": f"TRY_CAST({text} AS TIMESTAMPTZ)",
    }
    return casts.get(dtype, text)


def contract_conditions(column: Column, action: Action, required: bool) -> list[Condition]:
    """A column's contract as conditions: type, presence, bounds, allowed values."""
    name, col, text = column.name, q(column.name), _text(column.name)
    found = [(f"{text} IS NOT NULL AND {col} IS NULL", f"is not of type {column.dtype}")]
    if column.min is not None:
        found.append((f"{col} < {column.min!r}", f"is below the minimum {column.min:g}"))
    if column.max is not None:
        found.append((f"{col} > {column.max!r}", f"is above the maximum {column.max:g}"))
    if column.values:
        allowed = ", ".join(exp.convert(value).sql() for value in column.values)
        listed = ", ".join(str(value) for value in column.values).replace("'", "''")
        found.append((f"{col} NOT IN ({allowed})", f"is not one of {listed}"))
    shown = f"'{name} = ' || substr({text}, 1, 80) || ' "
    conditions = [Condition(name, action, failed, f"{shown}{why}'") for failed, why in found]
    if required:  # a missing value compares as NULL, so no other condition fails on it
        conditions.append(Condition(name, action, f"{text} IS NULL", f"'{name} is missing'"))
    return conditions


def row_conditions(view: FeatureView, config: QualityConfig) -> list[Condition]:
    """Every condition, in the order they judge a row (the first failing one names it)."""
    conditions = [
        Condition("malformed", "quarantine", f"{q(RAW_LINE)} IS NOT NULL",
                  f"'line does not parse: ' || substr({q(RAW_LINE)}, 1, 200)"),
    ]  # fmt: skip
    for name, dtype in ((view.entity.name, view.entity.dtype), (view.event_timestamp, "timestamp")):
        reason = (f"CASE WHEN {_text(name)} IS NULL THEN '{name} is missing' ELSE '{name} = ' || "
                  f"substr({_text(name)}, 1, 80) || ' is not of type {dtype}' END")  # fmt: skip
        conditions.append(Condition("missing_key", "quarantine", f"{q(name)} IS NULL", reason))
    for column in view.raw_columns:
        is_label = column.name == view.label.name
        required = not column.nullable and not is_label
        action = config.label if is_label else config.features
        conditions += contract_conditions(column, action, required)
    for check in config.checks:
        reason = exp.convert(f"check {check.name} failed: {check.condition}").sql()
        conditions.append(Condition(check.name, check.action, f"NOT ({check.condition})", reason))
    return conditions


@dataclass(frozen=True)
class SilverQueries:
    """Silver of one interval as SELECTs over bronze: counts, valid rows, quarantined rows."""

    counts: str
    silver: str
    quarantine: str
    actions: dict[str, Action]  # of each condition's name, in judging order


def build_silver_queries(
    view: FeatureView, config: QualityConfig, bronze: str, interval_sql: str
) -> SilverQueries:
    """Silver's SQL over table `bronze` (`<database>.<table>`) for rows in `interval_sql`."""
    conditions = row_conditions(view, config)
    types = {view.entity.name: view.entity.dtype, view.event_timestamp: "timestamp"}
    types |= {column.name: column.dtype for column in view.raw_columns}
    judged = _judged(types, conditions, bronze, interval_sql)
    actions = {c.name: c.action for c in conditions}
    counts = ", ".join(
        f"count(CASE WHEN {'TRUE' if name == 'malformed' else f'{q(RAW_LINE)} IS NULL'} AND ("
        + " OR ".join(f"({c.failed})" for c in conditions if c.name == name)
        + f") THEN 1 END) AS {q('check_' + name)}"
        for name in actions
    )
    latest_first = (
        f"row_number() OVER (PARTITION BY {q(view.entity.name)}, {q(view.event_timestamp)} "
        f"ORDER BY {q(INGESTED_AT)} DESC, {q(SOURCE_FILE)} DESC, {q(SOURCE_ROW)} DESC)"
    )
    silver = ", ".join(q(name) for name in view.silver_schema().names)
    received = [f"{q('bronze__' + name)} AS {q(name)}" for name in types]
    lineage = [REJECT_RULE, REJECT_REASON, q(SOURCE_FILE), q(RAW_LINE), q(INGEST_DATE)]
    return SilverQueries(
        counts=f"{judged} SELECT count(*) AS rows_in, "  # noqa: S608  # nosec B608
        f"count({REJECT_RULE}) AS rows_quarantined, {counts} FROM judged",
        silver=f"{judged} SELECT {silver} FROM (SELECT *, {latest_first} AS _copy "  # noqa: S608  # nosec B608
        f"FROM judged WHERE {REJECT_RULE} IS NULL) AS valid WHERE _copy = 1",
        quarantine=f"{judged} SELECT {', '.join(received + lineage)} FROM judged "  # noqa: S608  # nosec B608
        f"WHERE {REJECT_RULE} IS NOT NULL",
        actions=actions,
    )


def quarantine_schema(view: FeatureView) -> pa.Schema:
    """Rejected rows as received (text), with the failed check, its reason and lineage."""
    text = [*raw_columns(view), REJECT_RULE, REJECT_REASON, SOURCE_FILE, RAW_LINE]
    return pa.schema([*((name, pa.string()) for name in text), (INGEST_DATE, pa.date32())])


def _judged(
    types: dict[str, str], conditions: list[Condition], bronze: str, interval_sql: str
) -> str:
    """CTEs up to `judged`: each row trimmed, typed, and its first quarantining failure."""
    lineage = ", ".join(q(c) for c in (SOURCE_FILE, SOURCE_ROW, RAW_LINE, INGESTED_AT, INGEST_DATE))
    trimmed = ", ".join(f"NULLIF(trim({q(name)}), '') AS {_text(name)}" for name in types)
    received = ", ".join(f"{q(name)} AS {q('bronze__' + name)}" for name in types)
    texts = ", ".join(_text(name) for name in types)
    typed = ", ".join(f"{typed_expression(n, t)} AS {q(n)}" for n, t in types.items())
    first = [c for c in conditions if c.action == "quarantine"]
    rule = " ".join(f"WHEN {c.failed} THEN {exp.convert(c.name).sql()}" for c in first)
    reason = " ".join(f"WHEN {c.failed} THEN {c.reason}" for c in first)
    return (
        f"WITH trimmed AS (SELECT {lineage}, {', '.join(q(n) for n in types)}, {trimmed} "  # noqa: S608  # nosec B608
        f"FROM {bronze} WHERE {interval_sql}), "
        f"typed AS (SELECT {lineage}, {received}, {texts}, {typed} FROM trimmed), "
        f"judged AS (SELECT *, CASE {rule} END AS {REJECT_RULE}, "
        f"CASE {reason} END AS {REJECT_REASON} FROM typed)"
    )


@dataclass
class QualityReport:
    """What the data pipeline found in one interval: the JSON report under quality/."""

    dataset: str
    interval: str
    files_ingested: list[str] = field(default_factory=list)
    files_refused: dict[str, str] = field(default_factory=dict)
    rows_in: int = 0
    rows_valid: int = 0
    rows_quarantined: int = 0
    duplicates: int = 0
    gold_rows: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    actions: dict[str, str] = field(default_factory=dict)
    # What stopped the interval (a blocking check or raw file); empty when nothing did.
    blocked: list[str] = field(default_factory=list)

    def problems(self, action: Action) -> list[str]:
        return [
            f"check {name!r} failed on {count} rows"
            for name, count in self.failed.items()
            if count and self.actions.get(name) == action
        ]

    def raise_if_blocked(self, config: QualityConfig) -> None:
        self.blocked = self.problems("block")
        if config.raw_files == "block":
            self.blocked += [f"{file} {why}" for file, why in self.files_refused.items()]
        if self.blocked:
            raise DataValidationError(
                f"data quality blocked {self.interval}: " + "; ".join(self.blocked)
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

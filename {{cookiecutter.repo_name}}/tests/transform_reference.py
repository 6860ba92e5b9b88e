"""The previous, in-worker implementation of silver and gold: the reference the SQL steps
are tested against.

Silver was typed and judged in DuckDB over an Arrow table of the whole interval, with
temporary tables, UPDATE statements and rows numbered by their position in the scan;
gold ran the derived features over an Arrow table of silver. Kept here as it was, so a
DuckDB run of the SQL definitions (src/data/quality.py, src/pipelines/DE/gold.py) can
be compared with it row for row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import duckdb
import pyarrow as pa

from src.data.feature_store import INGEST_DATE, Column, FeatureView, quote_identifier
from src.data.feature_store import quote_identifier as _q
from src.data.lake import Lake
from src.data.quality import (
    INGESTED_AT,
    RAW_LINE,
    REJECT_REASON,
    REJECT_RULE,
    SOURCE_FILE,
    AllowedValuesRule,
    CheckResult,
    NotNullRule,
    QualityConfig,
    QualityReport,
    RangeRule,
    Rule,
    UniqueRule,
    rule_columns,
)
from src.errors import ConfigError
from src.names import bronze_table
from src.pipelines.DE.bronze import SOURCE_CHECKSUM, SOURCE_ROW, bronze_schema

ROW = "_row"


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
            f"SELECT {', '.join(_q(name) for name in schema.names)} FROM judged "  # nosec B608
            f"WHERE {_q(REJECT_RULE)} IS NULL ORDER BY {', '.join(_q(c) for c in view.key_columns)}"
        ).to_arrow_table()
        rejected = connection.sql(
            f"SELECT {ROW}, {_q(REJECT_RULE)}, {_q(REJECT_REASON)} FROM judged "  # nosec B608
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
        f"CREATE TEMP TABLE typed AS SELECT *, {typed} FROM (SELECT {ROW}, "  # nosec B608
        f"{_q(SOURCE_FILE)}, {_q(RAW_LINE)}, {_q(INGESTED_AT)}, {_q(INGEST_DATE)}, {trimmed} "
        "FROM bronze)"
    )


def _judged_table_sql(conditions: list[_Condition]) -> str:
    quarantining = [c for c in conditions if c.action == "quarantine"]
    if not quarantining:
        return (
            f"CREATE TEMP TABLE judged AS SELECT *, NULL::VARCHAR AS {_q(REJECT_RULE)}, "  # nosec B608
            f"NULL::VARCHAR AS {_q(REJECT_REASON)} FROM typed"
        )
    # A malformed line has no values: only its own condition may judge it.
    rule = " ".join(f"WHEN {c.failed_sql} THEN {_literal(c.rule)}" for c in quarantining)
    reason = " ".join(f"WHEN {c.failed_sql} THEN {c.reason_sql}" for c in quarantining)
    return (
        f"CREATE TEMP TABLE judged AS SELECT *, CASE {rule} END AS {_q(REJECT_RULE)}, "  # nosec B608
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
            f"UPDATE judged SET {_q(REJECT_RULE)} = {_literal(name)}, "  # nosec B608
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
            f"SELECT count(*) FILTER (WHERE {any_failed}), {counts} "  # nosec B608
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
            f"SELECT count(*) FROM judged WHERE {_q(REJECT_RULE)} = {_literal(name)}"  # nosec B608
        ).fetchall()[0]
    else:
        keys = ", ".join(_q(c) for c in columns)
        row = connection.sql(
            f"SELECT count(*) FROM (SELECT 1 FROM judged WHERE {_q(REJECT_RULE)} IS NULL "  # nosec B608
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


def engineer_features(silver: pa.Table, view: FeatureView) -> pa.Table:
    """Silver rows to feature-view rows: entity id, event time, features, label.

    Measured features pass as they are; a derived feature is its `expression` of
    config/features.yaml, DuckDB SQL over the silver row, so that a rerun of an interval
    gives the same rows.
    """
    schema = view.arrow_schema()
    if not view.derived_features:
        return silver.select(schema.names).cast(schema)
    expressions = {feature.name: feature.expression for feature in view.derived_features}
    columns = [
        f"({expressions[name]}) AS {quote_identifier(name)}"
        if name in expressions
        else quote_identifier(name)
        for name in schema.names
    ]
    query = f"SELECT {', '.join(columns)} FROM silver"  # nosec B608
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("silver", silver)
        derived: pa.Table = connection.sql(query).to_arrow_table()
    except duckdb.Error as error:
        names = ", ".join(feature.name for feature in view.derived_features)
        raise ConfigError(
            f"a derived feature of config/features.yaml ({names}) does not compute: {error}"
        ) from error
    finally:
        connection.close()
    try:
        return derived.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise ConfigError(f"a derived feature does not give its dtype: {error}") from error


# A view with every dtype, a derived feature, and rules of every kind silver evaluates.
VIEW = FeatureView.model_validate(
    {
        "name": "customer_features",
        "dataset": "customers",
        "entity": {"name": "customer_id", "dtype": "string"},
        "event_timestamp": "event_time",
        "label": {"name": "segment", "dtype": "string", "values": ["a", "b", "c"]},
        "source_columns": [{"name": "calls", "dtype": "int64"}],
        "features": [
            {"name": "tenure", "dtype": "int64", "min": 0, "max": 100},
            {"name": "spend", "dtype": "float64", "nullable": True},
            {"name": "plan", "dtype": "string", "values": ["basic", "pro"]},
            {"name": "active", "dtype": "bool"},
            {"name": "per_call", "dtype": "float64", "expression": "tenure / (calls + 1)"},
        ],
    }
)
CONFIG = QualityConfig.model_validate(
    {
        "rules": [
            {"name": "present", "type": "not_null", "columns": ["$required"]},
            {"name": "in_range", "type": "range", "columns": ["$numeric"]},
            {"name": "spend_cap", "type": "range", "columns": ["spend"], "max": 1000},
            {"name": "plans", "type": "allowed_values", "column": "plan"},
            {"name": "labels", "type": "allowed_values", "column": "$label", "action": "warn"},
            {"name": "one_plan", "type": "unique", "columns": ["customer_id", "plan"]},
            {"name": "spend_once", "type": "unique", "columns": ["spend"], "action": "warn"},
            {"name": "fresh", "type": "freshness", "max_age_hours": 2, "action": "warn"},
        ]
    }
)
COLUMNS = ["customer_id", "event_time", "tenure", "spend", "plan", "active", "calls", "segment"]
# Two files of one day: (customer, time, tenure, spend, plan, active, calls, segment).
FIRST_FILE = [
    ("c1", "2025-02-10 08:00:00+00:00", "10", "5.5", "basic", "true", "1", "a"),
    ("c2", "2025-02-10 09:00:00+00:00", "1.5", "1", "pro", "false", "2", "b"),  # not whole
    ("c3", "2025-02-10 09:30:00+00:00", "2.0", "", "pro", "true", "0", "c"),  # 2, no spend
    ("c4", "2025-02-10 10:00:00+00:00", "150", "3", "basic", "true", "1", "a"),  # > max
    ("c5", "2025-02-10 10:30:00+00:00", "-1", "3", "basic", "true", "1", "a"),  # < min
    ("c6", "2025-02-10 11:00:00+00:00", "5", "abc", "basic", "true", "1", "a"),  # not float
    ("c7", "2025-02-10 11:30:00+00:00", "5", "inf", "basic", "true", "1", "a"),  # not finite
    ("c8", "2025-02-10 12:00:00+00:00", "5", "7", "gold", "true", "1", "a"),  # not a plan
    ("c9", "2025-02-10 12:30:00+00:00", "5", "8", "pro", "maybe", "1", "a"),  # not a bool
    ("  ", "2025-02-10 13:00:00+00:00", "5", "9", "pro", "true", "1", "a"),  # no entity
    ("c10", "not a time", "5", "10", "pro", "true", "1", "a"),  # not a timestamp
    ("c11", "2025-02-10 14:00:00+00:00", "5", "11", "pro", "true", "1", "z"),  # warned label
    ("c12", "2025-02-10 15:00:00+00:00", "5", "12", "pro", "true", "1", "b"),  # in both files
    ("c13", "2025-02-10 16:00:00+00:00", "5", "2000", "pro", "true", "1", "b"),  # spend cap
    ("c14", "2025-02-10 16:30:00+00:00", "", "13", "pro", "true", "1", "b"),  # no tenure
]
SECOND_FILE = [
    ("c12", "2025-02-10 15:00:00+00:00", "6", "12.5", "pro", "true", "1", "b"),  # later copy
    ("c15", "2025-02-10 17:00:00+00:00", "5", "14", "pro", "true", "3", "c"),
    ("c15", "2025-02-10 17:00:00+00:00", "7", "15", "pro", "true", "3", "c"),  # later line
    ("c16", "2025-02-10 18:00:00+00:00", "5", "16", "basic", "true", "1", "a"),
    ("c16", "2025-02-10 19:00:00+00:00", "5", "17", "basic", "true", "1", "a"),  # same plan
    ("c17", "2025-02-10 20:00:00+00:00", "5", "15", "basic", "true", "1", "a"),  # spend twice
    (" c18 ", " 2025-02-10 21:00:00+00:00 ", " 5 ", " 1e1 ", " pro ", " TRUE ", " 1 ", "a"),
]
MALFORMED_LINE = "c19,2025-02-10 22:00:00+00:00,too,few"


def bronze_part(
    rows: Sequence[tuple[str | None, ...]], source: str, ingested_at: datetime, day: date
) -> pa.Table:
    """One raw file's rows as bronze holds them (text, metadata, position in the file)."""
    schema = bronze_schema(VIEW)
    count = len(rows)
    columns: dict[str, Any] = {name: [row[i] for row in rows] for i, name in enumerate(COLUMNS)}
    columns[SOURCE_FILE] = [source] * count
    columns[SOURCE_CHECKSUM] = [source] * count
    columns[SOURCE_ROW] = list(range(count))
    columns[RAW_LINE] = [None] * count
    columns[INGESTED_AT] = [ingested_at] * count
    columns[INGEST_DATE] = [day] * count
    return pa.table(columns).select(schema.names).cast(schema)


def land_bronze(lake: Lake, day: date) -> pa.Table:
    """Both files of the day, and a malformed line, appended to bronze; returns them."""
    first = datetime.combine(day, time(1), tzinfo=UTC)
    second = datetime.combine(day, time(2), tzinfo=UTC)
    parts = [
        bronze_part(FIRST_FILE, "file:///raw/first.csv", first, day),
        bronze_part(SECOND_FILE, "file:///raw/second.csv", second, day),
    ]
    malformed = bronze_part([(None,) * len(COLUMNS)], "file:///raw/second.csv", second, day)
    malformed = malformed.set_column(
        malformed.schema.get_field_index(RAW_LINE), RAW_LINE, pa.array([MALFORMED_LINE])
    ).set_column(
        malformed.schema.get_field_index(SOURCE_ROW),
        SOURCE_ROW,
        pa.array([len(SECOND_FILE)], pa.int64()),
    )
    parts.append(malformed)
    table = bronze_table(VIEW.dataset)
    lake.create_table(table, bronze_schema(VIEW), partition_by=INGEST_DATE)
    lake.append_parts(table, parts)
    return pa.concat_tables(parts)

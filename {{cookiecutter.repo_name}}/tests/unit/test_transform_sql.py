"""The SQL of silver and gold: written once in DuckDB's dialect, valid Athena SQL once
transpiled, and the scans DuckDB plans for it read only what the query needs."""

from __future__ import annotations

from datetime import date

import pytest
import sqlglot
from pyiceberg import expressions as iceberg
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from src.data.intervals import DataInterval
from src.data.lake import interval_predicate, plan_scan, transpile_to_athena
from src.data.quality import build_silver_queries
from src.errors import ProjectError
from src.pipelines.DE.gold import gold_query
from src.pipelines.DE.silver import quarantine_schema
from tests.transform_reference import CONFIG, VIEW

INTERVAL = DataInterval.for_day(date(2025, 2, 10))
WHERE = interval_predicate("ingest_date", INTERVAL)
SCHEMA = ["customer_id", "event_time", "spend", "ingest_date"]


def step_queries() -> dict[str, str]:
    silver = build_silver_queries(
        VIEW, CONFIG, "lake.bronze_customers", WHERE, quarantine_schema(VIEW).names
    )
    return {
        "silver metrics": silver.metrics,
        "silver rows": silver.silver,
        "quarantine rows": silver.quarantine,
        "gold rows": gold_query(VIEW, "lake.silver_customers", WHERE),
    }


@pytest.mark.parametrize("step", list(step_queries()))
def test_each_step_transpiles_to_sql_that_parses_as_trino_with_known_functions(step: str) -> None:
    athena = transpile_to_athena(step_queries()[step])
    tree = sqlglot.parse_one(athena, read="trino", error_level=ErrorLevel.RAISE)

    # Every function is one SQLGlot knows in Trino: none passed through unmapped.
    assert not [node.sql("trino") for node in tree.find_all(exp.Anonymous)]
    # DuckDB-only syntax is gone: Trino has no QUALIFY, isfinite or regexp_full_match.
    assert not {"QUALIFY", "ISFINITE", "REGEXP_FULL_MATCH", "EPOCH("} & set(athena.upper().split())
    # The tables are the lake's, named <database>.<table>, read for the interval only.
    tables = {f"{t.db}.{t.name}" for t in tree.find_all(exp.Table) if t.db}
    assert tables == {"lake.silver_customers" if step == "gold rows" else "lake.bronze_customers"}
    assert "CAST('2025-02-10' AS DATE)" in athena


def test_the_statements_athena_gets_wrap_the_same_select() -> None:
    select = step_queries()["silver rows"]
    insert = transpile_to_athena(f"INSERT INTO lake.silver_customers (a) {select}")
    assert insert == f"INSERT INTO lake.silver_customers (a) {transpile_to_athena(select)}"


def test_sql_that_does_not_parse_is_an_error_naming_the_dialect() -> None:
    with pytest.raises(ProjectError, match="Athena's dialect"):
        transpile_to_athena("SELECT FROM WHERE (")


def plan(sql: str, table: str = "t") -> tuple[tuple[str, ...], BooleanExpression, bool]:
    scan = plan_scan(sqlglot.parse_one(sql, read="duckdb"), "lake", table, SCHEMA)
    return scan.columns, scan.row_filter, scan.read_once


def test_a_filtered_single_read_pushes_its_literal_terms_and_columns() -> None:
    columns, row_filter, once = plan(
        f"SELECT customer_id, count(*) FROM lake.t WHERE {WHERE} AND spend > 2 "
        "AND customer_id IN ('a', 'b') AND lower(customer_id) = 'a' GROUP BY 1"
    )
    assert columns == ("customer_id", "spend", "ingest_date")
    expected = iceberg.And(
        iceberg.And(
            iceberg.And(
                iceberg.GreaterThanOrEqual(term="ingest_date", value="2025-02-10"),
                iceberg.LessThan(term="ingest_date", value="2025-02-11"),
            ),
            iceberg.GreaterThan(term="spend", value=2),
        ),
        iceberg.In(term="customer_id", literals={"a", "b"}),
    )
    assert row_filter == expected  # lower(...) = 'a' is left to DuckDB
    assert once


@pytest.mark.parametrize(
    "sql",
    [
        # Read twice: each read has its own filter, none may be pushed into the one scan.
        "SELECT * FROM lake.t a JOIN lake.t b USING (customer_id) WHERE a.spend > 1",
        # The filter applies to the join's output, not to the table.
        "SELECT * FROM lake.t LEFT JOIN lake.u USING (customer_id) WHERE spend > 1",
        # A filter of the outer query, over a grouped subquery.
        "SELECT * FROM (SELECT customer_id, max(spend) AS spend FROM lake.t GROUP BY 1) "
        "WHERE spend > 1",
        "SELECT * FROM lake.t WHERE spend > 1 OR customer_id = 'a'",
    ],
)
def test_no_filter_is_pushed_where_it_could_change_the_answer(sql: str) -> None:
    _, row_filter, _ = plan(sql)
    assert row_filter == AlwaysTrue()


def test_a_star_on_the_table_reads_every_column_a_count_reads_one() -> None:
    assert plan("SELECT * FROM lake.t")[0] == tuple(SCHEMA)
    assert plan("WITH x AS (SELECT * FROM lake.t) SELECT spend FROM x")[0] == tuple(SCHEMA)
    assert plan("SELECT count(*) AS n FROM lake.t")[0] == ("customer_id",)


def test_a_table_or_cte_read_twice_is_not_streamed() -> None:
    assert not plan("SELECT * FROM lake.t UNION ALL SELECT * FROM lake.t")[2]
    assert not plan("WITH x AS (SELECT * FROM lake.t) SELECT * FROM x, x AS y")[2]
    assert plan("WITH x AS (SELECT * FROM lake.t), y AS (SELECT * FROM x) SELECT * FROM y")[2]
    assert plan("SELECT * FROM (SELECT * FROM lake.t) AS s")[2]
    # A subquery in an expression may run once per outer row.
    assert not plan("SELECT * FROM lake.u WHERE EXISTS (SELECT 1 FROM lake.t)")[2]
    assert not plan("SELECT (SELECT max(spend) FROM lake.t) AS m")[2]

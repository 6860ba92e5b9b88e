"""Names of the lake's tables and databases: the one place every layer looks them up.

Every table carries the project's prefix (from the cookiecutter answers), then the layer:
`<project>_bronze_<dataset>`, `<project>_silver_<dataset>`, ..., so two projects sharing
an AWS account, or a Glue database, never share a table. Each table also records its
owner (`OWNER_PROPERTY`); `Lake.create_table` refuses to adopt a table another project
created under the same name.

The deployment environment is a namespace: production uses the configured database,
any other environment (staging, dev) its own `<database>_<environment>`, so a staging
service's smoke traffic never lands in production's monitoring table. IAM policies are
built from these names (`database_names`, `table_names`).
"""

from __future__ import annotations

# The project's identity in the lake: table-name prefix and owner property value.
PROJECT = "{{ cookiecutter.repo_name|replace('-', '_') }}"
OWNER_PROPERTY = "project.owner"
PRODUCTION_ENVIRONMENT = "production"

BRONZE = "bronze"
SILVER = "silver"
QUARANTINE = "quarantine"
GOLD = "gold"
MONITORING = "monitoring"
LAYERS = (BRONZE, SILVER, QUARANTINE, GOLD, MONITORING)


def _table(layer: str, name: str) -> str:
    return f"{PROJECT}_{layer}_{name}"


def bronze_table(dataset: str) -> str:
    return _table(BRONZE, dataset)


def silver_table(dataset: str) -> str:
    return _table(SILVER, dataset)


def quarantine_table(dataset: str) -> str:
    return _table(QUARANTINE, dataset)


def gold_table(feature_view: str) -> str:
    return _table(GOLD, feature_view)


PREDICTIONS_TABLE = _table(MONITORING, "predictions")
LABELS_TABLE = _table(MONITORING, "labels")


def environment_database(database: str, environment: str) -> str:
    """The database of a deployment environment: production's own, or a suffixed one."""
    if environment == PRODUCTION_ENVIRONMENT:
        return database
    return f"{database}_{environment}"


def table_names(dataset: str, feature_view: str) -> list[str]:
    """Every table the project writes, for IAM policies and maintenance."""
    return [
        bronze_table(dataset),
        silver_table(dataset),
        quarantine_table(dataset),
        gold_table(feature_view),
        PREDICTIONS_TABLE,
        LABELS_TABLE,
    ]


def table_name_pattern() -> str:
    """A glob matching exactly this project's tables (IAM resource ARNs)."""
    return f"{PROJECT}_*"

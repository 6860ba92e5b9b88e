"""Names of the lake's tables: the one place every layer looks them up.

All tables live in the project's Athena/Glue database; the layer is a name prefix
(`bronze_<dataset>`, `silver_<dataset>`, ...) so that one `CREATE DATABASE` serves the
whole project and two projects in one AWS account never share a layer database.
"""

from __future__ import annotations

BRONZE = "bronze"
SILVER = "silver"
QUARANTINE = "quarantine"
GOLD = "gold"
MONITORING = "monitoring"


def bronze_table(dataset: str) -> str:
    return f"{BRONZE}_{dataset}"


def silver_table(dataset: str) -> str:
    return f"{SILVER}_{dataset}"


def quarantine_table(dataset: str) -> str:
    return f"{QUARANTINE}_{dataset}"


def gold_table(feature_view: str) -> str:
    return f"{GOLD}_{feature_view}"


PREDICTIONS_TABLE = f"{MONITORING}_predictions"
LABELS_TABLE = f"{MONITORING}_labels"

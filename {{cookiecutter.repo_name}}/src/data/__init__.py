"""Data layer: object store, Iceberg lake, quality rules and the feature store."""

"""The batch inference pipeline, one module per step of the seed:

1. loading     the rows to score, with schema validation
2. features    the same feature transformations as training
3. model       the `production` model from the registry
4. prediction  predictions, logged
5. storage     the object store and the Iceberg predictions table, idempotent per day
6. monitoring  hand-off to the drift check
"""

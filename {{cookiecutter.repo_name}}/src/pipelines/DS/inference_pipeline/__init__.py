"""The batch inference pipeline: the six steps of the seed, in order, in pipeline.py
(loading, features, model, prediction, storage; the drift report is
src/monitoring/drift.py's `check_batch_drift`)."""

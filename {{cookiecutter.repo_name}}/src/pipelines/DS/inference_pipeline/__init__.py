"""The batch inference pipeline: the six steps of the seed, in order, in pipeline.py
(loading, features, model, prediction, storage) and monitoring.py (the drift report)."""

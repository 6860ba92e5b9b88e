"""Inference layer: the online API and its Prometheus metrics."""

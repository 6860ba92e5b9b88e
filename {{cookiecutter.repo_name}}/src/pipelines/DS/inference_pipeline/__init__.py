"""Batch inference: the seed's six steps, in pipeline.py."""

"""The monitoring configuration (config/monitoring.yaml), typed."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from src.config import load_yaml_config


class DriftConfig(BaseModel):
    method: str | None = None
    column_threshold: float | None = Field(default=None, gt=0)
    drift_share: float = Field(default=0.5, gt=0, le=1)
    window_days: int = Field(default=7, ge=1)
    min_rows: int = Field(default=30, ge=1)


class AlertConfig(BaseModel):
    on_drift: bool = True


class MonitoringConfig(BaseModel):
    drift: DriftConfig = Field(default_factory=DriftConfig)
    alerts: AlertConfig = Field(default_factory=AlertConfig)


def load_monitoring_config(path: Path) -> MonitoringConfig:
    return load_yaml_config(path, MonitoringConfig)

"""The project's settings, read from the environment, `.env` and `config/aws_config.yaml`.

`APP_ENV` chooses where everything runs: `local` (folders, SQLite, DuckDB), `compose` (MinIO,
Postgres, MLflow server) or `aws` (S3, Glue, Athena).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from src.errors import ConfigError
from src.names import PRODUCTION_ENVIRONMENT, environment_database

ModelT = TypeVar("ModelT", bound=BaseModel)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = PROJECT_ROOT / "config"
AWS_CONFIG_FILE = CONFIG_DIR / "aws_config.yaml"
FEATURES_FILE = CONFIG_DIR / "features.yaml"


class S3Settings(BaseModel):
    bucket: str
    raw_prefix: str = "raw"
    processed_prefix: str = "processed"
    artifacts_prefix: str = "artifacts"
    warehouse_prefix: str = "warehouse"
    athena_results_prefix: str = "athena-results"
    quality_prefix: str = "quality"
    dvc_prefix: str = "dvc"
    mlflow_artifacts_prefix: str = "mlflow-artifacts"  # the MLflow server's, on AWS
    runs_prefix: str = "runs"


class AthenaSettings(BaseModel):
    database: str
    workgroup: str
    poll_interval_seconds: float = Field(default=1.0, gt=0)


class EcrSettings(BaseModel):
    repositories: list[str] = Field(default_factory=list)


class EcsSettings(BaseModel):
    """Where the heavy steps' ECS tasks run (orchestration.runner=ecs); names as in infra/."""

    cluster: str = "{{ cookiecutter.repo_name }}-production"
    environment: str = "production"
    launch_type: Literal["FARGATE", "EC2"] = "FARGATE"
    subnets: list[str] = Field(default_factory=list)
    security_groups: list[str] = Field(default_factory=list)
    assign_public_ip: bool = False
    log_group: str | None = None


class AwsSettings(BaseModel):
    region: str
    account_id: str = ""
    s3: S3Settings
    athena: AthenaSettings
    ecr: EcrSettings = Field(default_factory=EcrSettings)
    # owner/name of the GitHub repository whose workflows may assume the CI and deploy roles.
    github_repository: str = ""
    ecs: EcsSettings = Field(default_factory=EcsSettings)


ApiKeys = dict[str, SecretStr]


def parse_api_keys(value: str) -> ApiKeys:
    """`key_id:secret` pairs separated by commas; a bad entry is named by position, never echoed."""
    keys: ApiKeys = {}
    for position, entry in enumerate(filter(None, (item.strip() for item in value.split(","))), 1):
        key_id, separator, secret = entry.partition(":")
        if not separator or not key_id.strip() or not secret.strip():
            raise ValueError(f"entry {position} is not of the form key_id:secret")
        if key_id.strip() in keys:
            raise ValueError(f"entry {position} repeats the key id {key_id.strip()!r}")
        keys[key_id.strip()] = SecretStr(secret.strip())
    return keys


class ApiSettings(BaseModel):
    """The serving API (`make serve`, `make serve-prod`); env variables `API__<FIELD>`."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=2, ge=1)
    # Comma-separated "key_id:secret" pairs; when set, every prediction route needs X-API-Key.
    keys: SecretStr = SecretStr("")
    # serve-prod refuses to start without keys unless this says to serve everyone, on purpose.
    allow_open: bool = False
    max_batch_size: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    reload_interval_seconds: float = Field(default=30, gt=0)
    # The registry alias served: a staging deployment serves the candidate it smoke-tests.
    model_alias: Literal["staging", "production"] = "production"
    # In-flight requests' time to finish at shutdown (a container is given 10 s in all).
    graceful_shutdown_seconds: float = Field(default=5, gt=0, le=6)
    # The prediction log's buffer: appended every flush_seconds (what a crash can lose) or
    # at flush_rows; past max_rows (about 1.2 KB each) new rows are dropped and counted.
    prediction_log_enabled: bool = True
    prediction_log_flush_seconds: float = Field(default=60, gt=0)
    prediction_log_flush_rows: int = Field(default=50_000, ge=1)
    prediction_log_max_rows: int = Field(default=100_000, ge=1)

    @field_validator("keys")
    @classmethod
    def check_keys(cls, value: SecretStr) -> SecretStr:
        parse_api_keys(value.get_secret_value())
        return value

    @property
    def api_keys(self) -> ApiKeys:
        return parse_api_keys(self.keys.get_secret_value())


class DuckDbSettings(BaseModel):
    """DuckDB, the local and compose lake's SQL engine: past `memory_limit` it spills to
    `temp_directory` (default the system's) instead of growing with the data."""

    memory_limit: str = Field(default="2GB", pattern=r"^[0-9]+(\.[0-9]+)?\s*[KMGT]i?B$")
    temp_directory: Path | None = None


class OrchestrationSettings(BaseModel):
    """Where the heavy steps run: `local` in the caller's process, `ecs` each as an ECS task
    of the project's image (APP_ENV=aws only)."""

    runner: Literal["local", "ecs"] = "local"


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError as error:
        raise ConfigError(f"{path} is missing") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error


def describe_errors(error: ValidationError) -> str:
    """Every problem of a validation as `field.path: message`, in one line."""
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or '(top level)'}: {item['msg']}"
        for item in error.errors()
    )


def load_yaml_config(path: Path, model: type[ModelT]) -> ModelT:
    """A YAML file under config/ as `model`; a bad file is one ConfigError naming the field."""
    try:
        return model.model_validate(read_yaml(path))
    except ValidationError as error:
        raise ConfigError(f"{path}: {describe_errors(error)}") from error


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
    )

    app_env: Literal["local", "compose", "aws"] = "local"
    aws: AwsSettings
    # The endpoint overrides boto3 itself reads: every AWS API (moto), S3 only (MinIO).
    aws_endpoint_url: str | None = None
    aws_endpoint_url_s3: str | None = None

    data_dir: Path = PROJECT_ROOT / "data"
    reports_dir: Path = PROJECT_ROOT / "reports"
    # PyIceberg SQL catalog (local and compose); unused on aws, where Glue is the catalog.
    catalog_uri: str | None = None
    # DVC remote for `make data-push`/`data-pull`; default: a folder locally, the bucket otherwise.
    dvc_remote_url: str | None = None

    mlflow_tracking_uri: str | None = None
    mlflow_artifact_root: str | None = None
    mlflow_experiment_name: str = "{{ cookiecutter.mlflow_experiment_name }}"
    model_name: str = "{{ cookiecutter.model_name }}"
    # Production uses the configured database, any other `<database>_<environment>`.
    deployment_environment: str = Field(default=PRODUCTION_ENVIRONMENT, pattern=r"^[a-z][a-z0-9]*$")

    api: ApiSettings = Field(default_factory=ApiSettings)
    # `make lake-maintenance`: time travel reaches back this far; older snapshots expire.
    lake_snapshot_retention_hours: float = Field(default=168, gt=0)
    orchestration: OrchestrationSettings = Field(default_factory=OrchestrationSettings)
    duckdb: DuckDbSettings = Field(default_factory=DuckDbSettings)
    pushgateway_url: str | None = None
    alert_webhook_url: SecretStr | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # config/aws_config.yaml is `aws`, below every other source.
        aws = read_yaml(AWS_CONFIG_FILE)
        if not isinstance(aws, dict):
            raise ConfigError(f"{AWS_CONFIG_FILE} must hold a mapping")
        yaml_source = InitSettingsSource(settings_cls, {"aws": aws})
        return init_settings, env_settings, dotenv_settings, file_secret_settings, yaml_source

    @property
    def lake_database(self) -> str:
        """The Glue/Athena database (Iceberg namespace) of this deployment environment."""
        return environment_database(self.aws.athena.database, self.deployment_environment)

    @model_validator(mode="after")
    def check_runner(self) -> Settings:
        if self.orchestration.runner == "ecs":
            if self.app_env != "aws":
                raise ValueError(f"orchestration.runner=ecs needs APP_ENV=aws, not {self.app_env}")
            if self.aws.ecs.launch_type == "FARGATE" and not self.aws.ecs.subnets:
                raise ValueError("orchestration.runner=ecs on FARGATE needs aws.ecs.subnets")
        return self

    @property
    def is_local(self) -> bool:
        return self.app_env == "local"

    @property
    def object_store_root(self) -> str:
        """Where the bucket's layout lives: a local folder, or the S3 (MinIO) bucket."""
        if self.is_local:
            return str(self.data_dir / "lake")
        return f"s3://{self.aws.s3.bucket}"

    @property
    def warehouse_location(self) -> str:
        if self.is_local:
            return (self.data_dir / "lake" / self.aws.s3.warehouse_prefix).as_uri()
        return f"s3://{self.aws.s3.bucket}/{self.aws.s3.warehouse_prefix}"

    @property
    def athena_output_location(self) -> str:
        return f"s3://{self.aws.s3.bucket}/{self.aws.s3.athena_results_prefix}/"

    @property
    def resolved_catalog_uri(self) -> str:
        if self.catalog_uri:
            return self.catalog_uri
        if self.is_local:
            return f"sqlite:///{self.data_dir / 'catalog.db'}"
        raise ConfigError(f"CATALOG_URI must be set when APP_ENV={self.app_env}")

    @property
    def resolved_tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        if self.is_local:  # the embedded store: runs and registry in SQLite, artifacts in a folder
            return f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"
        raise ConfigError(f"MLFLOW_TRACKING_URI must be set when APP_ENV={self.app_env}")

    @property
    def resolved_artifact_root(self) -> str | None:
        """Artifact root for new experiments; None lets the tracking server decide."""
        if self.mlflow_artifact_root:
            return self.mlflow_artifact_root
        if self.is_local and self.resolved_tracking_uri.startswith("sqlite:"):
            return (PROJECT_ROOT / "mlartifacts").as_uri()
        return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Build the settings once per process; a bad value is a ConfigError naming it."""
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigError(f"invalid settings: {describe_errors(error)}") from error

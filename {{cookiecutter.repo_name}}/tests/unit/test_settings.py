from pathlib import Path

import pytest

from src.errors import ConfigError
from src.settings import Settings
from tests.conftest import isolated_settings


def test_local_defaults_are_embedded(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    assert settings.resolved_catalog_uri == f"sqlite:///{tmp_path / 'data' / 'catalog.db'}"
    assert settings.warehouse_location.startswith("file://")
    assert settings.object_store_root == str(tmp_path / "data" / "lake")


def test_aws_environment_uses_glue_and_s3(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, app_env="aws")
    assert settings.object_store_root == f"s3://{settings.aws.s3.bucket}"


def test_compose_needs_an_explicit_catalog_uri(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, app_env="compose")
    with pytest.raises(ConfigError, match="CATALOG_URI"):
        _ = settings.resolved_catalog_uri


def test_nested_aws_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS__S3__BUCKET", "another-bucket")
    monkeypatch.setenv("AWS__ATHENA__WORKGROUP", "analytics")
    settings = Settings(_env_file=None)
    assert settings.aws.s3.bucket == "another-bucket"
    assert settings.aws.athena.workgroup == "analytics"
    # Untouched values still come from config/aws_config.yaml.
    assert settings.aws.athena.database == "{{ cookiecutter.athena_database }}"


def test_invalid_app_env_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from src.settings import get_settings

    monkeypatch.setenv("APP_ENV", "staging")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="app_env"):
            get_settings()
    finally:
        get_settings.cache_clear()

from pathlib import Path

import pytest

from src.errors import ConfigError
from tests.conftest import isolated_settings


def test_local_defaults_are_embedded(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path)
    assert settings.resolved_catalog_uri == f"sqlite:///{tmp_path / 'data' / 'catalog.db'}"
    assert settings.warehouse_location.startswith("file://")
    assert settings.object_store_root == str(tmp_path / "data" / "lake")
    aws = isolated_settings(tmp_path, app_env="aws")
    assert aws.object_store_root == f"s3://{aws.aws.s3.bucket}"


def test_compose_needs_an_explicit_catalog_uri(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, app_env="compose")
    with pytest.raises(ConfigError, match="CATALOG_URI"):
        _ = settings.resolved_catalog_uri

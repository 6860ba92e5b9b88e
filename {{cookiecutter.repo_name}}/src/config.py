"""Typed loading of the YAML files under config/: a bad file is one clear ConfigError."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from src.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


def load_yaml_config(path: Path, model: type[ModelT]) -> ModelT:
    try:
        content = yaml.safe_load(path.read_text())
    except FileNotFoundError as error:
        raise ConfigError(f"{path} is missing") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    try:
        return model.model_validate(content)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '(top level)'}: {item['msg']}"
            for item in error.errors()
        )
        raise ConfigError(f"{path}: {problems}") from error

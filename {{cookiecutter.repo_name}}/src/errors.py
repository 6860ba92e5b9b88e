"""Errors the project raises on purpose; the CLI prints them as one line and exits non-zero."""


class ProjectError(Exception):
    """Base class: a failure with a message meant for the person running the command."""


class ConfigError(ProjectError):
    """A setting or configuration file is missing or invalid."""


class DataValidationError(ProjectError):
    """Input data breaks the schema or a blocking quality rule."""


class ModelNotFoundError(ProjectError):
    """No registered model version answers the requested alias."""

"""{{ cookiecutter.project_name }}: data pipelines, training, registry, serving and monitoring."""

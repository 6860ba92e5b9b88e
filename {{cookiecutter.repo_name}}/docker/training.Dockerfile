# Batch jobs of the project's CLI: `python -m src <command>` (train by default; also
# setup-lake, data-pipeline, batch-inference, drift-check, promote). Run as an ECS task by
# the CD workflow and with `make docker-train` on the docker-compose stack.
# Build from the repository root with the lock file (uv.lock ships with the project; `make lock` updates it):
#   docker build -f docker/training.Dockerfile -t {{ cookiecutter.repo_name }}/training .

FROM ghcr.io/astral-sh/uv:0.13.0 AS uv

FROM {{ cookiecutter._docker_python_images[cookiecutter.python_version] }} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    uv sync --locked --no-default-groups --no-install-project

FROM {{ cookiecutter._docker_python_images[cookiecutter.python_version] }} AS runtime
ARG APP_VERSION=0.0.0
ARG GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="{{ cookiecutter.repo_name }}-training" \
      org.opencontainers.image.description="Training and batch jobs of {{ cookiecutter.project_name }}" \
      org.opencontainers.image.version="${APP_VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}"
# LightGBM's native library links the system's OpenMP runtime (scikit-learn ships its own);
# the version follows the base image's Debian release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY src ./src
COPY config ./config
# The jobs write reports and scratch files; everything else stays read-only.
RUN mkdir -p /app/data /app/reports && chown app:app /app/data /app/reports
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_VERSION=${APP_VERSION} \
    GIT_COMMIT=${GIT_COMMIT} \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true
USER 10001:10001
# A job's health is its exit code: 0 done, 1 failed, 3 drift found by drift-check.
HEALTHCHECK NONE
ENTRYPOINT ["python", "-m", "src"]
CMD ["train"]

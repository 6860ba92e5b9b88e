# The MLflow tracking server and model registry: Postgres backend store, artifacts in S3
# (MinIO in docker-compose), proxied by the server so clients need no bucket credentials.
# It runs the MLflow version that uv.lock pins for the project's own clients.
#   docker build -f docker/mlflow.Dockerfile -t {{ cookiecutter.repo_name }}/mlflow .

FROM ghcr.io/astral-sh/uv:0.13.0 AS uv

FROM {{ cookiecutter._docker_python_images[cookiecutter.python_version] }} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /build
# The lock's `mlflow-server` group (the server, its auth extra and drivers) exported with
# hashes: every package pinned, and refused unless its download matches.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    uv export --locked --only-group mlflow-server --no-emit-project \
        --output-file /build/requirements.txt \
    && uv venv /opt/mlflow \
    && uv pip install --python /opt/mlflow/bin/python --require-hashes \
        --requirement /build/requirements.txt

FROM {{ cookiecutter._docker_python_images[cookiecutter.python_version] }} AS runtime
ARG APP_VERSION=0.0.0
ARG GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="{{ cookiecutter.repo_name }}-mlflow" \
      org.opencontainers.image.description="MLflow tracking server of {{ cookiecutter.project_name }}" \
      org.opencontainers.image.version="${APP_VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}"
RUN groupadd --system --gid 10001 mlflow \
    && useradd --system --uid 10001 --gid mlflow --home-dir /home/mlflow --create-home \
        --shell /usr/sbin/nologin mlflow
COPY --from=build /opt/mlflow /opt/mlflow
ENV PATH=/opt/mlflow/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true
USER 10001:10001
WORKDIR /home/mlflow
EXPOSE 5000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4)"]
# The stores come from MLFLOW_BACKEND_STORE_URI and MLFLOW_ARTIFACTS_DESTINATION, so the
# database password never shows in the process list.
ENTRYPOINT ["mlflow", "server"]
CMD ["--host", "0.0.0.0", "--port", "5000"]

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
# The lock, exported as constraints, fixes the versions of the server and its drivers
# without installing the rest of the project; the auth extra (Flask-WTF) serves the
# basic-auth app that docker-compose.yml runs.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    uv export --locked --no-default-groups --no-emit-project --no-hashes \
        --output-file /build/constraints.txt \
    && uv venv /opt/mlflow \
    && uv pip install --python /opt/mlflow/bin/python --constraint /build/constraints.txt \
        "mlflow[auth]" boto3 psycopg2-binary

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

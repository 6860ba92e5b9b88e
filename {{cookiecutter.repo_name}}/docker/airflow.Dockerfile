# Airflow 3 (official image) with the project installed: the DAGs of airflow/dags import
# `src` and run the same pipelines as the CLI. Build from the repository root with uv.lock:
#   docker build -f docker/airflow.Dockerfile -t {{ cookiecutter.repo_name }}/airflow .
# Keep the base image's Airflow version equal to the one uv.lock pins (the build fails
# when they differ, rather than silently replacing Airflow).

FROM ghcr.io/astral-sh/uv:0.13.0 AS uv

FROM {{ cookiecutter._docker_python_images[cookiecutter.python_version] }} AS requirements
COPY --from=uv /uv /usr/local/bin/uv
WORKDIR /build
RUN --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    uv export --locked --no-default-groups --group airflow --no-emit-project \
        --output-file /build/requirements.txt

FROM apache/airflow:3.3.2-python{{ cookiecutter.python_version }} AS runtime
ARG APP_VERSION=0.0.0
ARG GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="{{ cookiecutter.repo_name }}-airflow" \
      org.opencontainers.image.description="Airflow with the DAGs of {{ cookiecutter.project_name }}" \
      org.opencontainers.image.version="${APP_VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}"
COPY --from=requirements /build/requirements.txt /opt/airflow/project-requirements.txt
# As the image's airflow user, the way the Airflow image documents, every package pinned by
# the lock and checked against its hash; a lock pinning another Airflow than the image's
# fails the build rather than swap it. The folders are made by the airflow user before the
# COPYs, which would create them owned by root: the tasks write reports (and local state)
# under the project, and compose mounts a named volume on auth/ that must belong to the
# airflow user too.
RUN grep -q "^apache-airflow==${AIRFLOW_VERSION} " /opt/airflow/project-requirements.txt \
    || { echo "uv.lock pins another apache-airflow than the image's ${AIRFLOW_VERSION}" >&2; exit 1; } \
    && uv pip install --no-cache --require-hashes -r /opt/airflow/project-requirements.txt \
    && mkdir -p /opt/airflow/auth /opt/airflow/project/reports /opt/airflow/project/data
COPY src /opt/airflow/project/src
COPY config /opt/airflow/project/config
COPY airflow/dags /opt/airflow/dags
ENV PYTHONPATH=/opt/airflow/project \
    APP_VERSION=${APP_VERSION} \
    GIT_COMMIT=${GIT_COMMIT} \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true
# One image runs the api-server, scheduler and dag-processor: docker-compose.yml gives each
# service its own healthcheck.
HEALTHCHECK NONE

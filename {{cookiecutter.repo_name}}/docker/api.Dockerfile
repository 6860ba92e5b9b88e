# The prediction API: the project's FastAPI app serving models:/{{ cookiecutter.model_name }}@<alias>.
# Build from the repository root with the lock file (uv.lock ships with the project; `make lock` updates it):
#   docker build -f docker/api.Dockerfile -t {{ cookiecutter.repo_name }}/api .
# The image holds the project's runtime dependencies only: no dev tools{% if cookiecutter.include_airflow == "yes" %}, no Airflow{% endif %} and no
# optional dependency groups.

FROM ghcr.io/astral-sh/uv:0.13.0 AS uv

FROM {{ cookiecutter._docker_python_images[cookiecutter.python_version] }} AS build
COPY --from=uv /uv /usr/local/bin/uv
# Bytecode is compiled once here; files are copied out of the cache mount, not hard-linked;
# the image's own Python is used, never a downloaded one.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Only pyproject.toml and uv.lock feed this layer, so a code change does not reinstall the
# dependencies. --locked fails when uv.lock is out of date with pyproject.toml.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    uv sync --locked --no-default-groups --no-install-project

FROM {{ cookiecutter._docker_python_images[cookiecutter.python_version] }} AS runtime
ARG APP_VERSION=0.0.0
ARG GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="{{ cookiecutter.repo_name }}-api" \
      org.opencontainers.image.description="Prediction API of {{ cookiecutter.project_name }}" \
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
# The code stays owned by root: the server can read it, not change it. data/ is the one
# folder it writes: serve --prod keeps prometheus-client's multiprocess files there.
COPY src ./src
COPY config ./config
RUN mkdir -p /app/data && chown app:app /app/data
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_VERSION=${APP_VERSION} \
    GIT_COMMIT=${GIT_COMMIT} \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true
USER 10001:10001
EXPOSE 8000
# Liveness only: /ready also needs a model in the registry, which a fresh stack has not yet.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["python", "-m", "src", "serve", "--prod", "--host", "0.0.0.0", "--port", "8000"]

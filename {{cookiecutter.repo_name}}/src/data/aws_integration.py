"""Clients for the object store (local folder, MinIO or S3), Athena and the Iceberg catalog.

Every client is built from `Settings`, so the same pipeline code runs on the embedded
local lake, on the compose stack and on AWS. Endpoint overrides make MinIO and moto work.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.glue import GlueCatalog
from pyiceberg.catalog.sql import SqlCatalog

from src.errors import ProjectError

if TYPE_CHECKING:
    from src.settings import Settings

# Standard retry mode backs off exponentially and retries throttling and 5xx answers.
BOTO_CONFIG = BotoConfig(retries={"max_attempts": 8, "mode": "standard"})
MEGABYTE = 1024 * 1024


class ObjectStore(Protocol):
    """The bucket's interface, whether it is a local folder or S3."""

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def put_bytes_if_absent(self, key: str, data: bytes) -> bool:
        """Create the object only if no object has the key; False when one has (atomic)."""
        ...

    def get_bytes(self, key: str) -> bytes: ...

    def upload_file(self, path: Path, key: str) -> None: ...

    def download_file(self, key: str, path: Path) -> None: ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def list_modified(self, prefix: str) -> dict[str, datetime]:
        """Keys under `prefix` with their last-modified times (UTC)."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def uri(self, key: str) -> str: ...


class LocalObjectStore:
    """A folder laid out like the bucket: key `raw/x.csv` is file `<root>/raw/x.csv`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ProjectError(f"object key {key!r} points outside the store")
        return path

    def _partial(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.with_name(f".{path.name}.partial")

    def put_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        # Write then rename, so a reader never sees half an object.
        partial = self._partial(path)
        partial.write_bytes(data)
        partial.replace(path)

    def put_bytes_if_absent(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        # A partial file per writer: two writers racing for the key never share one.
        writer = f"{os.getpid()}.{threading.get_ident()}"
        partial = self._partial(path).with_name(f".{path.name}.{writer}.partial")
        partial.write_bytes(data)
        try:
            # link(2) fails if the target exists: an atomic create of a complete file.
            os.link(partial, path)
        except FileExistsError:
            return False
        finally:
            partial.unlink(missing_ok=True)
        return True

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as error:
            raise ProjectError(f"object {self.uri(key)} does not exist") from error

    def upload_file(self, path: Path, key: str) -> None:
        target = self._path(key)
        partial = self._partial(target)
        shutil.copyfile(path, partial)
        partial.replace(target)

    def download_file(self, key: str, path: Path) -> None:
        source = self._path(key)
        if not source.is_file():
            raise ProjectError(f"object {self.uri(key)} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)

    def list_keys(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self.root
        if base.is_file():
            return [prefix]
        if not base.is_dir():
            return []
        return sorted(
            path.relative_to(self.root).as_posix()
            for path in base.rglob("*")
            if path.is_file() and not path.name.startswith(".")
        )

    def list_modified(self, prefix: str) -> dict[str, datetime]:
        return {
            key: datetime.fromtimestamp((self.root / key).stat().st_mtime, tz=UTC)
            for key in self.list_keys(prefix)
        }

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()


class S3ObjectStore:
    """An S3 (or MinIO) bucket through boto3; large files go up and down in parts."""

    def __init__(self, client: Any, bucket: str, transfer: TransferConfig | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.transfer = transfer or TransferConfig()

    def put_bytes(self, key: str, data: bytes) -> None:
        if len(data) >= self.transfer.multipart_threshold:
            self.client.upload_fileobj(io.BytesIO(data), self.bucket, key, Config=self.transfer)
            return
        self._call("PutObject", key, self.client.put_object, Bucket=self.bucket, Key=key, Body=data)

    def put_bytes_if_absent(self, key: str, data: bytes) -> bool:
        try:
            # S3 conditional writes (If-None-Match: *); MinIO and moto honour them too.
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*")
        except ClientError as error:
            # 412: the key exists; 409: a concurrent conditional write of it is in flight.
            if error_code(error) in {"PreconditionFailed", "412", "ConditionalRequestConflict"}:
                return False
            raise ProjectError(f"PutObject on {self.uri(key)} failed: {error}") from error
        return True

    def get_bytes(self, key: str) -> bytes:
        answer = self._call("GetObject", key, self.client.get_object, Bucket=self.bucket, Key=key)
        body: bytes = answer["Body"].read()
        return body

    def upload_file(self, path: Path, key: str) -> None:
        try:
            self.client.upload_file(str(path), self.bucket, key, Config=self.transfer)
        except (ClientError, BotoCoreError) as error:
            raise ProjectError(f"upload of {path} to {self.uri(key)} failed: {error}") from error

    def download_file(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.client.download_file(self.bucket, key, str(path), Config=self.transfer)
        except ClientError as error:
            if error_code(error) in {"404", "NoSuchKey", "NotFound"}:
                raise ProjectError(f"object {self.uri(key)} does not exist") from error
            raise ProjectError(f"download of {self.uri(key)} failed: {error}") from error

    def list_keys(self, prefix: str) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        keys: list[str] = []
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except ClientError as error:
            raise ProjectError(f"listing {self.uri(prefix)} failed: {error}") from error
        return sorted(keys)

    def list_modified(self, prefix: str) -> dict[str, datetime]:
        paginator = self.client.get_paginator("list_objects_v2")
        found: dict[str, datetime] = {}
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    found[item["Key"]] = item["LastModified"].astimezone(UTC)
        except ClientError as error:
            raise ProjectError(f"listing {self.uri(prefix)} failed: {error}") from error
        return found

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error_code(error) in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise ProjectError(f"checking {self.uri(key)} failed: {error}") from error
        return True

    def delete(self, key: str) -> None:
        self._call("DeleteObject", key, self.client.delete_object, Bucket=self.bucket, Key=key)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _call(self, operation: str, key: str, method: Any, **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except ClientError as error:
            if error_code(error) in {"404", "NoSuchKey", "NotFound"}:
                raise ProjectError(f"object {self.uri(key)} does not exist") from error
            raise ProjectError(f"{operation} on {self.uri(key)} failed: {error}") from error


def error_code(error: ClientError) -> str:
    """The AWS error code of a failed call (NoSuchKey, 404, AccessDenied, ...)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def write_parquet(store: ObjectStore, key: str, table: pa.Table) -> None:
    """Write `table` as one Parquet object; a large one is uploaded in parts."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "object.parquet"
        pq.write_table(table, path, compression="zstd")
        store.upload_file(path, key)


def read_parquet(store: ObjectStore, key: str, columns: list[str] | None = None) -> pa.Table:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "object.parquet"
        store.download_file(key, path)
        try:
            return pq.read_table(path, columns=columns)
        except (pa.ArrowInvalid, OSError) as error:
            raise ProjectError(
                f"object {store.uri(key)} is not readable Parquet: {error}"
            ) from error


def build_aws_client(settings: Settings, service: str) -> Any:
    """A boto3 client for `service`, honouring the endpoint overrides of the settings."""
    endpoint = settings.aws_endpoint_url
    if service == "s3" and settings.aws_endpoint_url_s3:
        endpoint = settings.aws_endpoint_url_s3
    return boto3.client(
        service, region_name=settings.aws.region, endpoint_url=endpoint, config=BOTO_CONFIG
    )


def build_transfer_config(settings: Settings) -> TransferConfig:
    return TransferConfig(
        multipart_threshold=settings.aws.s3.multipart_threshold_mb * MEGABYTE,
        multipart_chunksize=settings.aws.s3.multipart_chunk_mb * MEGABYTE,
    )


def build_object_store(settings: Settings) -> ObjectStore:
    if settings.is_local:
        return LocalObjectStore(Path(settings.object_store_root))
    return S3ObjectStore(
        build_aws_client(settings, "s3"), settings.aws.s3.bucket, build_transfer_config(settings)
    )


def s3_fileio_properties(settings: Settings) -> dict[str, str]:
    """PyIceberg FileIO properties for data files on S3 or MinIO."""
    properties = {"s3.region": settings.aws.region}
    endpoint = settings.aws_endpoint_url_s3 or settings.aws_endpoint_url
    if endpoint:
        properties["s3.endpoint"] = endpoint
        # MinIO and moto serve buckets by path, not by virtual host.
        properties["s3.force-virtual-addressing"] = "false"
    return properties


def build_catalog(settings: Settings) -> Catalog:
    """The Iceberg catalog: SQL (SQLite or Postgres) locally and in compose, Glue on AWS."""
    if settings.catalog_kind == "glue":
        properties = {
            "glue.region": settings.aws.region,
            "warehouse": settings.warehouse_location,
            **s3_fileio_properties(settings),
        }
        if settings.aws_endpoint_url:
            properties["glue.endpoint"] = settings.aws_endpoint_url
        if settings.aws.account_id:
            properties["glue.id"] = settings.aws.account_id
        return GlueCatalog(settings.aws.glue.catalog_name, **properties)
    properties = {"uri": settings.resolved_catalog_uri, "warehouse": settings.warehouse_location}
    if settings.is_local:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    else:
        properties.update(s3_fileio_properties(settings))
    return SqlCatalog("lake", **properties)


class AthenaQueryError(ProjectError):
    """Athena refused, failed or timed out on a query; the message carries Athena's reason."""


class _QueryTimeoutError(Exception):
    pass


@dataclass(frozen=True)
class AthenaQueryRunner:
    """Runs SQL on Athena through PyAthena in the project's workgroup and result location."""

    region: str
    workgroup: str
    output_location: str
    database: str
    timeout_seconds: float
    endpoint_url: str | None = None
    poll_interval_seconds: float = 1.0

    def query_pandas(self, sql: str) -> pd.DataFrame:
        """Run `sql` and read its result file (written by Athena) into a DataFrame."""
        from pyathena.pandas.cursor import PandasCursor

        frame = self._run(sql, PandasCursor).as_pandas()
        # Without chunksize PandasCursor returns one DataFrame, never an iterator.
        if not isinstance(frame, pd.DataFrame):
            raise AthenaQueryError(f"Athena returned {type(frame).__name__}, not a DataFrame")
        return frame

    def execute(self, sql: str) -> str:
        """Run a statement (DDL) whose result nobody reads; returns the query id."""
        from pyathena.cursor import Cursor

        return str(self._run(sql, Cursor).query_id)

    def _run(self, sql: str, cursor_class: type[Any]) -> Any:
        # PyAthena (and the pandas it pulls in) is only imported where Athena is used.
        from pyathena import connect as athena_connect
        from pyathena.error import DatabaseError, OperationalError

        deadline = time.monotonic() + self.timeout_seconds

        def check_deadline(_: Any) -> None:
            if time.monotonic() > deadline:
                raise _QueryTimeoutError

        connection = athena_connect(
            s3_staging_dir=self.output_location,
            work_group=self.workgroup,
            region_name=self.region,
            schema_name=self.database,
            endpoint_url=self.endpoint_url,
            config=BOTO_CONFIG,
            poll_interval=min(self.poll_interval_seconds, self.timeout_seconds / 4),
            on_poll=check_deadline,
            cursor_class=cursor_class,
        )
        cursor = connection.cursor()
        try:
            return cursor.execute(sql)
        except _QueryTimeoutError:
            cursor.cancel()
            raise AthenaQueryError(
                f"Athena query {cursor.query_id} did not finish within "
                f"{self.timeout_seconds:g} s (athena.query_timeout_seconds); it was cancelled"
            ) from None
        except OperationalError as error:
            raise AthenaQueryError(
                f"Athena query {cursor.query_id or '(not started)'} failed: {error}"
            ) from error
        except DatabaseError as error:
            raise AthenaQueryError(f"Athena could not run the query: {error}") from error
        finally:
            connection.close()

    def query_arrow(self, sql: str) -> pa.Table:
        return pa.Table.from_pandas(self.query_pandas(sql), preserve_index=False)


def build_athena_runner(settings: Settings) -> AthenaQueryRunner:
    return AthenaQueryRunner(
        region=settings.aws.region,
        workgroup=settings.aws.athena.workgroup,
        output_location=settings.athena_output_location,
        database=settings.lake_database,
        timeout_seconds=settings.aws.athena.query_timeout_seconds,
        endpoint_url=settings.aws_endpoint_url,
        poll_interval_seconds=settings.aws.athena.poll_interval_seconds,
    )

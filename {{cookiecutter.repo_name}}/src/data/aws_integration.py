"""Clients for the object store (local folder, MinIO or S3) and the Iceberg catalog.

Every client is built from `Settings`, so the same pipeline code runs on the embedded
local lake, on the compose stack and on AWS. Endpoint overrides make MinIO and moto work.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.glue import GlueCatalog
from pyiceberg.catalog.sql import SqlCatalog

from src.errors import ProjectError

if TYPE_CHECKING:
    from src.settings import Settings

# Standard retry mode backs off exponentially and retries throttling and 5xx answers.
BOTO_CONFIG = BotoConfig(retries={"max_attempts": 8, "mode": "standard"})


class ObjectStore(Protocol):
    """The bucket's interface, whether it is a local folder or S3."""

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def exists(self, key: str) -> bool: ...

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

    def put_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half an object.
        partial = path.with_name(f".{path.name}.partial")
        partial.write_bytes(data)
        partial.replace(path)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as error:
            raise ProjectError(f"object {self.uri(key)} does not exist") from error

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

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()


class S3ObjectStore:
    """An S3 (or MinIO) bucket through boto3."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get_bytes(self, key: str) -> bytes:
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey as error:
            raise ProjectError(f"object {self.uri(key)} does not exist") from error
        return body

    def list_keys(self, prefix: str) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def build_aws_client(settings: Settings, service: str) -> Any:
    """A boto3 client for `service`, honouring the endpoint overrides of the settings."""
    endpoint = settings.aws_endpoint_url
    if service == "s3" and settings.aws_endpoint_url_s3:
        endpoint = settings.aws_endpoint_url_s3
    return boto3.client(
        service, region_name=settings.aws.region, endpoint_url=endpoint, config=BOTO_CONFIG
    )


def build_object_store(settings: Settings) -> ObjectStore:
    if settings.is_local:
        return LocalObjectStore(Path(settings.object_store_root))
    return S3ObjectStore(build_aws_client(settings, "s3"), settings.aws.s3.bucket)


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
        properties = {"glue.region": settings.aws.region, **s3_fileio_properties(settings)}
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

"""Where archive objects are kept: an S3 bucket, or a directory (the local stack, tests).

    store = open_store(ArchiveLocation.parse("s3://bucket/mmx/audit"), endpoint_url=...)
    await store.put("mmx/audit/date=.../x.ndjson.gz", body, content_type="application/gzip")

Keys are full keys (the location's prefix included). S3 is reached with boto3 in worker
threads, with short timeouts and few retries: an outage fails a write in seconds, and the
archive retries it itself (its entries stay pending in Redis meanwhile).

A put never overwrites: S3 is asked `If-None-Match: *` (a directory links the new file in
place, which fails if one is there). When the object is already there, a put of the same
bytes counts as written (a retried put whose first attempt landed though its answer was
lost), and one of other bytes raises `ObjectConflict`. So the archive runs under a bucket
policy or Object Lock that forbids overwrites, and never replaces what it archived.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

S3_CONNECT_TIMEOUT_S = 2.0
S3_READ_TIMEOUT_S = 10.0
S3_MAX_ATTEMPTS = 2
"""botocore's own tries per call (standard retry mode): the archive's retry loop does the rest."""


class ObjectConflict(Exception):
    """An object is already at the key with other bytes: the archive never overwrites."""


class ObjectMissing(Exception):
    """No object at the key."""


class ObjectStore(Protocol):
    """Put, get and list whole objects by key."""

    async def put(
        self, key: str, body: bytes, *, content_type: str, metadata: Mapping[str, str] | None = None
    ) -> None:
        """Write `body` at `key` unless an object is there: the same bytes count as written,
        other bytes raise `ObjectConflict` (see the module docstring)."""
        ...

    async def get(self, key: str) -> bytes:
        """The object at `key`; `ObjectMissing` when there is none. Any other failure (the
        network, permissions) raises as it is: the archive cannot be read, which is not the
        archive being wrong."""
        ...

    async def keys(self, prefix: str) -> list[str]:
        """Every key that starts with `prefix`, sorted."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ArchiveLocation:
    """An archive: `s3://bucket/prefix` or a directory (`file:///path`, or a plain path)."""

    scheme: Literal["s3", "file"]
    root: str
    """The bucket, or the directory."""
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> ArchiveLocation:
        parts = urlsplit(url)
        if parts.scheme == "s3":
            if not parts.netloc:
                raise ValueError(f"{url!r} names no bucket: expected s3://bucket/prefix")
            return cls("s3", parts.netloc, parts.path.strip("/"))
        if parts.scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise ValueError(f"{url!r}: expected file:///absolute/path")
            return cls("file", parts.path)
        if parts.scheme == "":
            return cls("file", str(Path(url).resolve()))
        raise ValueError(f"{url!r}: expected s3://bucket/prefix or a directory (file:///path)")

    def __str__(self) -> str:
        if self.scheme == "s3":
            return f"s3://{self.root}/{self.prefix}".rstrip("/")
        return f"file://{Path(self.root, self.prefix)}"


def aws_client(
    service: str,
    region: str | None,
    endpoint_url: str | None,
    session: Any = None,
    **config: Any,
) -> Any:
    """A boto3 client of `service` with the archive's short timeouts and few retries (an
    outage fails a call in seconds; the archive retries itself). boto3 is imported here, not
    at import: `mmx` starts without loading it."""
    import boto3
    from botocore.config import Config

    settings = Config(
        connect_timeout=S3_CONNECT_TIMEOUT_S,
        read_timeout=S3_READ_TIMEOUT_S,
        retries={"max_attempts": S3_MAX_ATTEMPTS, "mode": "standard"},
        **config,
    )
    session = session or boto3.session.Session()
    return session.client(service, region_name=region, endpoint_url=endpoint_url, config=settings)


class S3ObjectStore:
    """Objects in one S3 bucket (or anything speaking its API: moto, MinIO)."""

    def __init__(
        self,
        bucket: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        session: Any = None,
    ) -> None:
        self.bucket = bucket
        # a custom endpoint (moto, MinIO) has no per-bucket host names
        path_style = {"addressing_style": "path"} if endpoint_url else None
        self._client = aws_client("s3", region, endpoint_url, session, s3=path_style)

    async def put(
        self, key: str, body: bytes, *, content_type: str, metadata: Mapping[str, str] | None = None
    ) -> None:
        from botocore.exceptions import ClientError

        def write() -> None:
            try:
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentType=content_type,
                    Metadata=dict(metadata or {}),
                    IfNoneMatch="*",
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "PreconditionFailed":
                    raise
                held = self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                _same_or_conflict(key, held, body)

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        def read() -> bytes:
            try:
                reply = self._client.get_object(Bucket=self.bucket, Key=key)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise ObjectMissing(key) from error
                raise
            data: bytes = reply["Body"].read()
            return data

        return await asyncio.to_thread(read)

    async def keys(self, prefix: str) -> list[str]:
        def listed() -> list[str]:
            found: list[str] = []
            pages = self._client.get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=self.bucket, Prefix=prefix):
                found += [item["Key"] for item in page.get("Contents", [])]
            return sorted(found)

        return await asyncio.to_thread(listed)

    async def close(self) -> None:
        self._client.close()


class DirectoryObjectStore:
    """Objects as files under a directory, key = relative path. A put writes a temporary
    file and links it in place, so a reader never sees half an object and nothing is
    overwritten."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"key {key!r} leaves the archive directory {self.root}")
        return path

    async def put(
        self, key: str, body: bytes, *, content_type: str, metadata: Mapping[str, str] | None = None
    ) -> None:
        await asyncio.to_thread(self._write, self._path(key), body)

    @staticmethod
    def _write(path: Path, body: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                _same_or_conflict(str(path), path.read_bytes(), body)
        finally:
            Path(temporary).unlink(missing_ok=True)

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError as error:
            raise ObjectMissing(key) from error

    async def keys(self, prefix: str) -> list[str]:
        def listed() -> list[str]:
            top = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
            if not top.is_dir():
                return []
            found = (p.relative_to(self.root).as_posix() for p in top.rglob("*") if p.is_file())
            return sorted(k for k in found if k.startswith(prefix) and "/." not in f"/{k}")

        return await asyncio.to_thread(listed)

    async def close(self) -> None:
        return None


def _same_or_conflict(key: str, held: bytes, body: bytes) -> None:
    if held != body:
        raise ObjectConflict(
            f"{key} is already archived with other bytes ({len(held)} bytes, not the "
            f"{len(body)} to write): the archive never overwrites"
        )


def open_store(
    location: ArchiveLocation,
    *,
    region: str | None = None,
    endpoint_url: str | None = None,
    session: Any = None,
) -> ObjectStore:
    """The store of `location` (S3 with `region` and `endpoint_url`, or a directory)."""
    if location.scheme == "s3":
        return S3ObjectStore(
            location.root, region=region, endpoint_url=endpoint_url, session=session
        )
    return DirectoryObjectStore(location.root)

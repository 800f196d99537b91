"""Settings of the archive service, from `MMX_ARCHIVE_*` (and `REDIS_URL`).

Exactly one place to write to: `MMX_ARCHIVE_BUCKET` (S3, with `MMX_ARCHIVE_REGION` and, for
an S3-compatible endpoint such as moto or MinIO, `MMX_ARCHIVE_ENDPOINT_URL`) or
`MMX_ARCHIVE_DIR` (a directory: the local stack). AWS credentials come from the usual AWS
chain (environment, profile, instance role), never from these settings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from libs.common.service import ServiceSettings
from services.archive.store import ArchiveLocation

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_LOG_GROUP = re.compile(r"^[A-Za-z0-9_./#-]{1,512}$")
_PREFIX_SEGMENT = re.compile(r"^[A-Za-z0-9_.=-]+$")


class ArchiveSettings(ServiceSettings):
    """Where the audit trail goes and how it is batched."""

    model_config = SettingsConfigDict(env_prefix="MMX_ARCHIVE_", extra="ignore", frozen=True)

    port: int = 9104
    bucket: str | None = None
    """The S3 bucket of the archive; it must exist (the service does not create it)."""
    prefix: str = "mmx/audit"
    """Key prefix of every object: `{prefix}/date=YYYY-MM-DD/hour=HH/...`."""
    region: str | None = None
    """AWS region of the bucket and the log group (default: the AWS chain's)."""
    endpoint_url: str | None = None
    """An S3 / CloudWatch Logs endpoint other than AWS's (moto, MinIO, a VPC endpoint)."""
    dir: Path | None = None
    """A directory to archive into instead of S3 (the same layout): the local stack."""
    flush_interval_s: float = Field(60.0, gt=0, le=3600)
    """The longest an entry waits in memory before its object is written."""
    max_batch: int = Field(10_000, ge=1, le=100_000)
    """Entries that make a write happen before `flush_interval_s`; also the most held in
    memory while writes fail (reading stops there; the rest waits in Redis)."""
    log_group: str | None = None
    """Also send every event to this CloudWatch Logs group (one log stream per instance,
    created if missing; the group must exist)."""
    claim_idle_ms: int = Field(30_000, ge=1_000)
    """Entries another archive instance read and left pending this long (it died) are
    claimed and archived here."""
    retry_max_s: float = Field(30.0, gt=0, le=600)
    """The longest wait between two attempts of a failing write (from 1 s, doubling)."""

    @field_validator("bucket", "region", "endpoint_url", "log_group", "dir", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and (not _BUCKET.fullmatch(value) or ".." in value):
            raise ValueError(
                f"{cls.env_name(info.field_name)}={value!r} is not an S3 bucket name: expected "
                "3-63 lower-case letters, digits, dots and hyphens, starting and ending with a "
                "letter or digit"
            )
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix_segments(cls, value: str, info: ValidationInfo) -> str:
        prefix = value.strip("/")
        bad = [s for s in prefix.split("/") if prefix and (not _PREFIX_SEGMENT.fullmatch(s))]
        if bad or any(s in (".", "..") for s in prefix.split("/")):
            raise ValueError(
                f"{cls.env_name(info.field_name)}={value!r} is not a key prefix: expected "
                "segments of letters, digits and _ . = - separated by /, no . or .."
            )
        return prefix

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                f"{cls.env_name(info.field_name)}={value!r} is not an endpoint: expected "
                "http(s)://host[:port]"
            )
        return value

    @field_validator("log_group")
    @classmethod
    def _log_group_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not _LOG_GROUP.fullmatch(value):
            raise ValueError(
                f"{cls.env_name(info.field_name)}={value!r} is not a CloudWatch Logs group "
                "name: expected 1-512 of letters, digits and _ . / # -"
            )
        return value

    @model_validator(mode="after")
    def _one_destination(self) -> Self:
        bucket, directory = self.env_name("bucket"), self.env_name("dir")
        if self.bucket is None and self.dir is None:
            raise ValueError(
                f"the archive has nowhere to write: set {bucket} (an S3 bucket) or "
                f"{directory} (a directory)"
            )
        if self.bucket is not None and self.dir is not None:
            raise ValueError(
                f"{bucket} and {directory} are both set: the archive writes to one place; unset one"
            )
        return self

    @property
    def location(self) -> ArchiveLocation:
        """Where objects go: `s3://bucket/prefix`, or the directory with the prefix."""
        if self.bucket is not None:
            return ArchiveLocation("s3", self.bucket, self.prefix)
        assert self.dir is not None
        return ArchiveLocation("file", str(self.dir.resolve()), self.prefix)

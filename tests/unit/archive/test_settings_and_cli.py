"""The archive's settings fail fast, and `mmx audit` reads times and finds its archive."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.archive.settings import ArchiveSettings
from services.archive.store import ArchiveLocation
from services.audit_cli import AuditCliError, parse_time, resolve_archive
from services.cli import build_parser

NOW_MS = 1_714_564_800_000  # 2024-05-01T12:00:00Z


@pytest.fixture(autouse=True)
def no_archive_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BUCKET", "DIR", "PREFIX", "REGION", "ENDPOINT_URL", "LOG_GROUP"):
        monkeypatch.delenv(f"MMX_ARCHIVE_{name}", raising=False)


def test_the_archive_needs_exactly_one_place_to_write() -> None:
    with pytest.raises(ValidationError, match="nowhere to write: set MMX_ARCHIVE_BUCKET"):
        ArchiveSettings()
    with pytest.raises(ValidationError, match="both set"):
        ArchiveSettings(bucket="audit", dir=Path("/tmp/x"))


def test_settings_from_the_environment_name_the_s3_location(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MMX_ARCHIVE_BUCKET", "desk-audit")
    monkeypatch.setenv("MMX_ARCHIVE_PREFIX", "/prod/mmx/")
    monkeypatch.setenv("MMX_ARCHIVE_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("MMX_ARCHIVE_FLUSH_INTERVAL_S", "5")
    monkeypatch.setenv("MMX_ARCHIVE_DIR", "")  # empty is unset

    settings = ArchiveSettings()

    assert settings.location == ArchiveLocation("s3", "desk-audit", "prod/mmx")
    assert (settings.flush_interval_s, settings.max_batch) == (5.0, 10_000)
    assert settings.endpoint_url == "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("bucket", "Not_A_Bucket", "MMX_ARCHIVE_BUCKET='Not_A_Bucket' is not an S3 bucket"),
        ("prefix", "a/../b", "MMX_ARCHIVE_PREFIX='a/../b' is not a key prefix"),
        ("endpoint_url", "localhost:5000", "MMX_ARCHIVE_ENDPOINT_URL='localhost:5000'"),
        ("log_group", "no spaces", "MMX_ARCHIVE_LOG_GROUP='no spaces'"),
        ("flush_interval_s", 0, "greater than 0"),
        ("max_batch", 0, "greater than or equal to 1"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_variable(
    field: str, value: object, complaint: str
) -> None:
    with pytest.raises(ValidationError, match=complaint.replace("(", r"\(")):
        ArchiveSettings(**{"bucket": "audit", field: value})  # type: ignore[arg-type]


def test_locations_parse_from_s3_urls_and_directories(tmp_path: Path) -> None:
    assert ArchiveLocation.parse("s3://b/mmx/audit/") == ArchiveLocation("s3", "b", "mmx/audit")
    assert ArchiveLocation.parse(f"file://{tmp_path}") == ArchiveLocation("file", str(tmp_path))
    assert ArchiveLocation.parse(str(tmp_path)).root == str(tmp_path.resolve())
    assert str(ArchiveLocation("s3", "b", "p")) == "s3://b/p"
    with pytest.raises(ValueError, match="names no bucket"):
        ArchiveLocation.parse("s3:///p")
    with pytest.raises(ValueError, match="expected s3://"):
        ArchiveLocation.parse("gs://b/p")


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2024-05-01T12:00:00Z", NOW_MS),
        ("2024-05-01T14:00:00+02:00", NOW_MS),
        ("2024-05-01T12:00:00", NOW_MS),
        ("1714564800000", NOW_MS),
        ("90s", NOW_MS - 90_000),
        ("15m", NOW_MS - 900_000),
        ("2h", NOW_MS - 7_200_000),
        ("1d", NOW_MS - 86_400_000),
    ],
)
def test_times_are_iso_unix_ms_or_an_age(text: str, ms: int) -> None:
    assert parse_time(text, NOW_MS) == ms


def test_a_time_that_is_none_of_those_is_refused() -> None:
    with pytest.raises(AuditCliError, match="not a time"):
        parse_time("yesterday", NOW_MS)


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["audit", "query", "--since", "1h", *argv])


def test_the_archive_is_from_then_the_settings_then_mmx_ups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "archive").mkdir()
    local = _args("--data-dir", str(tmp_path))

    given = resolve_archive(_args("--from", "s3://b/p"), {})
    found = resolve_archive(local, {})
    monkeypatch.setenv("MMX_ARCHIVE_BUCKET", "desk-audit")
    configured = resolve_archive(local, {"MMX_ARCHIVE_BUCKET": "desk-audit"})

    assert given == ArchiveLocation("s3", "b", "p")
    assert found == ArchiveLocation("file", str(tmp_path / "archive"), "mmx/audit")
    assert configured == ArchiveLocation("s3", "desk-audit", "mmx/audit")


def test_without_any_archive_the_query_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(AuditCliError, match=r"which archive.*MMX_ARCHIVE_BUCKET"):
        resolve_archive(_args("--data-dir", str(tmp_path)), {})

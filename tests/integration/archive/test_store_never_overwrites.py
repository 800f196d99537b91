"""An archive object, once written, is never replaced: a put of the same bytes (a retried
write whose first attempt landed) counts as written; other bytes are refused. Against moto's
S3 over HTTP (`If-None-Match: *`) and a directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.archive.store import ArchiveLocation, ObjectConflict, ObjectStore, open_store
from tests.integration.archive.conftest import BUCKET
from tests.moto_server import REGION, Moto

pytestmark = pytest.mark.integration

KEY = "mmx/audit/date=2026-12-04/hour=14/1-a-000001.ndjson.gz"


@pytest.fixture(params=["s3", "directory"])
async def store(
    request: pytest.FixtureRequest, moto: Moto, tmp_path: Path
) -> AsyncIterator[ObjectStore]:
    if request.param == "s3":
        opened = open_store(
            ArchiveLocation.parse(f"s3://{BUCKET}"), region=REGION, endpoint_url=moto.url
        )
    else:
        opened = open_store(ArchiveLocation.parse(str(tmp_path / "archive")))
    yield opened
    await opened.close()


async def test_a_put_of_the_same_bytes_again_counts_as_written(store: ObjectStore) -> None:
    await store.put(KEY, b"first", content_type="application/gzip")

    await store.put(KEY, b"first", content_type="application/gzip")  # a retried write

    assert await store.get(KEY) == b"first"
    assert await store.keys("mmx/audit/") == [KEY]


async def test_a_put_of_other_bytes_is_refused_and_the_object_stays(store: ObjectStore) -> None:
    await store.put(KEY, b"first", content_type="application/gzip")

    with pytest.raises(ObjectConflict, match="already archived with other bytes"):
        await store.put(KEY, b"second", content_type="application/gzip")

    assert await store.get(KEY) == b"first"
    assert await store.keys("mmx/audit/") == [KEY]  # no temporary file left behind

"""A real moto server (S3 and CloudWatch Logs over HTTP, `tests.moto_server`), a TCP gate in
front of it that can go dark and come back (an S3 outage without losing moto's state), and
archive writers on the test's Redis, for a desk of two accounts (`ACCOUNTS`). AWS credentials
are dummies; nothing is read from ~/.aws.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from libs.common import topology
from libs.common.bus import ensure_groups
from libs.common.domain.ids import DEFAULT_ACCOUNT, AccountId
from libs.common.metrics import EngineMetrics
from libs.common.redis_server import free_port
from services.archive.cloudwatch import CloudWatchLogsSink
from services.archive.settings import ArchiveSettings
from services.archive.store import open_store
from services.archive.writer import ArchiveWriter, BacklogGauges
from tests.moto_server import REGION, Moto, aws_test_env, moto_server

BUCKET = "mmx-audit-test"
PREFIX = "mmx/audit"
ACCOUNTS = (DEFAULT_ACCOUNT, AccountId("alpha"))
"""The desk's accounts (`MMX_ACCOUNTS` of every writer here)."""
ARCHIVED = topology.consumed(ACCOUNTS)[topology.Group.ARCHIVE]
"""Every stream the writers read."""


@pytest.fixture(scope="session")
def moto_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    with moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy AWS identity and region; nothing may be read from this machine's ~/.aws."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "MMX_ARCHIVE_")):
            monkeypatch.delenv(name)
    for name, value in aws_test_env(tmp_path).items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def moto(moto_session: Moto) -> Moto:
    """The session's moto, emptied, with the archive's bucket."""
    moto_session.reset()
    moto_session.client("s3").create_bucket(Bucket=BUCKET)
    return moto_session


class Gate:
    """A TCP forwarder to moto on a port of its own. `close()` is an outage: connections are
    refused and the open ones cut; `open()` brings the same port back."""

    def __init__(self, upstream_port: int) -> None:
        self.port = free_port()
        self._upstream = upstream_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        try:
            await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}


@pytest.fixture
async def gate(moto: Moto) -> AsyncIterator[Gate]:
    gate = Gate(int(moto.url.rsplit(":", 1)[1]))
    await gate.open()
    try:
        yield gate
    finally:
        await gate.close()


@dataclass
class Writers:
    """Archive writers on the test's Redis, each with its own metrics; stopped after."""

    redis: aioredis.Redis
    endpoint_url: str
    started: list[ArchiveWriter] = field(default_factory=list)

    def settings(self, **overrides: Any) -> ArchiveSettings:
        values: dict[str, Any] = {
            "bucket": BUCKET,
            "prefix": PREFIX,
            "region": REGION,
            "endpoint_url": self.endpoint_url,
            "flush_interval_s": 0.2,
            "claim_idle_ms": 1_000,
            "retry_max_s": 0.5,
            "MMX_ACCOUNTS": ",".join(ACCOUNTS),
            **overrides,
        }
        return ArchiveSettings(**values)

    async def start(
        self,
        name: str,
        *,
        endpoint_url: str | None = None,
        log_group: str | None = None,
        run: bool = True,
        **overrides: Any,
    ) -> tuple[ArchiveWriter, BacklogGauges]:
        """A writer named `name`; with `run` False it is only built (drive it with `poll`),
        and never stopped: a process that dies."""
        settings = self.settings(endpoint_url=endpoint_url or self.endpoint_url, **overrides)
        store = open_store(settings.location, region=REGION, endpoint_url=settings.endpoint_url)
        logs = None
        if log_group is not None:
            logs = CloudWatchLogsSink(
                log_group, name, region=REGION, endpoint_url=settings.endpoint_url
            )
        metrics = EngineMetrics(CollectorRegistry())
        writer = ArchiveWriter(
            self.redis, store, settings=settings, metrics=metrics, consumer=name, logs=logs
        )
        if run:
            await writer.start()
            self.started.append(writer)
        return writer, BacklogGauges(self.redis, metrics, writer)


@pytest.fixture
async def writers(redis: aioredis.Redis, moto: Moto) -> AsyncIterator[Writers]:
    await ensure_groups(redis, topology.consumed(ACCOUNTS))
    made = Writers(redis, moto.url)
    try:
        yield made
    finally:
        for writer in made.started:
            await writer.stop()

"""`mmx audit replay` tells an archive it cannot read (exit 2) from an archive that is wrong
(exit 1): an object the store fails to hand over is not a corrupt archive."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from libs.common.messages import Envelope, OperatorAction
from libs.common.redis_server import start_redis_server
from services.archive.layout import ArchivedEvent, build_object
from services.cli import main

pytestmark = pytest.mark.integration


def test_an_object_the_store_cannot_read_is_unreachable_not_corrupt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ms = time.time_ns() // 1_000_000
    action = OperatorAction(action="key_issued", actor="ops")
    event = ArchivedEvent(stream="audit", entry_id=f"{ms}-0", envelope=Envelope.wrap(action))
    obj = build_object([event], prefix="mmx/audit", writer="archive-1", seq=1, written_ms=ms)
    root = tmp_path / "archive"
    (root / obj.manifest.key).parent.mkdir(parents=True)
    (root / obj.manifest.key).write_bytes(obj.manifest_json())
    (root / obj.key).mkdir()  # where the object should be, something no read can hand over
    server = start_redis_server()
    try:
        code = main(["audit", "replay", "--redis-url", server.url, "--from", str(root)])
    finally:
        server.stop()

    assert code == 2
    err = capsys.readouterr().err
    assert "the archive cannot be read: IsADirectoryError" in err
    assert "refused" not in err

"""A real moto server (`python -m moto.server`) on a free local port, for the tests of the
audit archive (S3 and CloudWatch Logs over HTTP). No moto import happens in the test process,
so moto's own warnings never reach pytest's `filterwarnings=error`."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from libs.common.redis_server import free_port

REGION = "us-east-1"


@dataclass
class Moto:
    url: str

    def reset(self) -> None:
        """Drop every bucket, object and log group."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()

    def client(self, service: str) -> Any:
        return boto3.session.Session().client(service, region_name=REGION, endpoint_url=self.url)


@contextlib.contextmanager
def moto_server(workdir: Path) -> Iterator[Moto]:
    """Run moto until the block ends (stopped by its pid)."""
    port = free_port()
    with (workdir / "moto.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Moto(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto exited: {(workdir / 'moto.log').read_text()}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{server.url}/moto-api/", timeout=1).close()
                break
            if time.monotonic() > deadline:
                raise RuntimeError("moto server not ready after 30 s")
            time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def aws_test_env(home: Path) -> dict[str, str]:
    """Dummy AWS identity and region; nothing read from this machine's ~/.aws or metadata."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }

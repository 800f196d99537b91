"""The `python -m services.<name>` entry point every service shares."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import TypeVar

from fastapi import FastAPI

from libs.common.service import ServiceSettings, run

S = TypeVar("S", bound=ServiceSettings)


def serve(
    name: str,
    argv: Sequence[str] | None,
    settings_type: Callable[..., S],
    create_app: Callable[[S], FastAPI],
    *,
    env_prefix: str,
    default_port: int,
) -> None:
    """Parse `--host`/`--port` (everything else comes from `{env_prefix}*`) and serve."""
    parser = argparse.ArgumentParser(
        prog=f"python -m services.{name}", description=f"run the {name} service"
    )
    parser.add_argument("--host", help=f"listen address ({env_prefix}HOST, default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, help=f"listen port ({env_prefix}PORT, default {default_port})"
    )
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = settings_type(**overrides)
    run(create_app(settings), settings, name=name)

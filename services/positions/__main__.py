"""`python -m services.positions [--host H] [--port P]`: run the positions service."""

from __future__ import annotations

from collections.abc import Sequence

from libs.common.serve import serve
from services.positions.app import create_app
from services.positions.settings import PositionsSettings


def main(argv: Sequence[str] | None = None) -> None:
    serve(
        "positions",
        argv,
        PositionsSettings,
        create_app,
        env_prefix="MMX_POSITIONS_",
        default_port=9103,
    )


if __name__ == "__main__":
    main()

"""`python -m services.router [--host H] [--port P]`: run the router service."""

from __future__ import annotations

from collections.abc import Sequence

from libs.common.serve import serve
from services.router.app import create_app
from services.router.settings import RouterSettings


def main(argv: Sequence[str] | None = None) -> None:
    serve("router", argv, RouterSettings, create_app, env_prefix="MMX_ROUTER_", default_port=9101)


if __name__ == "__main__":
    main()

"""`python -m services.gateway [--host H] [--port P]`: run the gateway service."""

from __future__ import annotations

from collections.abc import Sequence

from libs.common.serve import serve
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings


def main(argv: Sequence[str] | None = None) -> None:
    serve(
        "gateway", argv, GatewaySettings, create_app, env_prefix="MMX_GATEWAY_", default_port=8080
    )


if __name__ == "__main__":
    main()

"""`python -m services.risk [--host H] [--port P]`: run the risk service."""

from __future__ import annotations

from collections.abc import Sequence

from libs.common.serve import serve
from services.risk.app import create_app
from services.risk.settings import RiskSettings


def main(argv: Sequence[str] | None = None) -> None:
    serve("risk", argv, RiskSettings, create_app, env_prefix="MMX_RISK_", default_port=9102)


if __name__ == "__main__":
    main()

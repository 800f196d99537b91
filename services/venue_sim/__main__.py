"""`python -m services.venue_sim [--personality P] [--host H] [--port P]`: run the venue
simulator, Bybit V5 (default) or Binance USDⓈ-M futures."""

from __future__ import annotations

import argparse

from services.venue_sim.app import run
from services.venue_sim.settings import PERSONALITIES, SimSettings


def main(argv: list[str] | None = None) -> None:
    """Parse `--personality`/`--host`/`--port` (everything else comes from MMX_SIM_*) and
    serve."""
    parser = argparse.ArgumentParser(prog="python -m services.venue_sim", description=__doc__)
    parser.add_argument(
        "--personality",
        choices=PERSONALITIES,
        help="the venue simulated (MMX_SIM_PERSONALITY, default bybit)",
    )
    parser.add_argument("--host", help="listen address (MMX_SIM_HOST, default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        help="listen port (MMX_SIM_PORT, default 8090; 8091 for binance-usdm)",
    )
    args = parser.parse_args(argv)
    given = (("personality", args.personality), ("host", args.host), ("port", args.port))
    overrides = {k: v for k, v in given if v is not None}
    run(SimSettings(**overrides))


if __name__ == "__main__":
    main()

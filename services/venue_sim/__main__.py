"""`python -m services.venue_sim [--host H] [--port P]`: run the Bybit V5 simulator."""

from __future__ import annotations

import argparse

from services.venue_sim.app import run
from services.venue_sim.settings import SimSettings


def main(argv: list[str] | None = None) -> None:
    """Parse `--host`/`--port` (everything else comes from MMX_SIM_*) and serve."""
    parser = argparse.ArgumentParser(prog="python -m services.venue_sim", description=__doc__)
    parser.add_argument("--host", help="listen address (MMX_SIM_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (MMX_SIM_PORT, default 8090)")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    run(SimSettings(**overrides))


if __name__ == "__main__":
    main()

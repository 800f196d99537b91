"""Where a running `mmx up` can be found: small files in its data directory.

While it runs, `mmx up` writes `<data dir>/redis.url` (its embedded Redis) and
`<data dir>/gateway.url`, and removes them when it stops. `mmx keys` and `mmx dlq` read the
first when neither `--redis-url` nor REDIS_URL is given; `mmx status`, `orders`, `positions`,
`freeze` and `unfreeze` read the second when neither `--url` nor MMX_GATEWAY_URL is given.
The data directory is `--data-dir`, default `./.mmx` as for `mmx up`. Standard library only
(the operator verbs import it).

Between runs the data directory keeps the embedded Redis' AOF (`redis/`) and the simulator's
state (`venue-sim/state.json`), so that a second `mmx up` finds the engine's records and the
venue in agreement; `mmx up --fresh` removes both (`wipe_state`), the logs stay.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

DEFAULT_DATA_DIR = ".mmx"
REDIS_FILE = "redis.url"
GATEWAY_FILE = "gateway.url"
ARCHIVE_DIR = "archive"
"""The audit archive's directory in the data directory (`mmx up`, and `mmx audit` without a
location), unless MMX_ARCHIVE_BUCKET names a bucket."""


def write_url(data_dir: Path, file_name: str, url: str) -> Path:
    """Record `url` in `data_dir/file_name`, readable by its owner only (a Redis URL may
    carry a password)."""
    path = data_dir / file_name
    data_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(f"{url}\n")
    return path


def read_url(data_dir: Path, file_name: str) -> str | None:
    """The URL recorded in `data_dir/file_name`, or None when there is none."""
    try:
        text = (data_dir / file_name).read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return text or None


def remove_url(data_dir: Path, file_name: str, url: str) -> None:
    """Remove `data_dir/file_name` if it still records `url` (not another run's)."""
    if read_url(data_dir, file_name) == url:
        with contextlib.suppress(FileNotFoundError):
            (data_dir / file_name).unlink()


# -- the state `mmx up` keeps between runs -----------------------------------------------------

REDIS_DIR = "redis"
"""The embedded Redis' AOF."""
SIM_STATE = Path("venue-sim") / "state.json"
"""The simulator's orders, fills, positions and balances (`services.venue_sim.persist`)."""
BINANCE_SIM_STATE = Path("venue-sim-binance") / "state.json"
"""The same of the Binance USDⓈ-M simulator (`mmx up --venues bybit,binance-usdm`)."""


def has_redis_data(data_dir: Path) -> bool:
    """Whether an earlier run left Redis data (an AOF) in `data_dir`."""
    return any((data_dir / REDIS_DIR).glob("appendonly*"))


def wipe_state(data_dir: Path) -> list[Path]:
    """Remove the Redis data and the simulator state of earlier runs (not the logs); what
    was removed."""
    removed = []
    sims = ((data_dir / state).parent for state in (SIM_STATE, BINANCE_SIM_STATE))
    for path in (data_dir / REDIS_DIR, *sims):
        if path.exists():
            shutil.rmtree(path)
            removed.append(path)
    return removed

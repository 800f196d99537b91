"""HTTP and Redis access for the benchmark: the gateway's `/v1` API, the simulator's `/sim`
control API, and the order records and `positions.updates` stream in the stack's Redis."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis

from bench.e2e_orders import Body
from libs.common.bus_types import DATA_FIELD
from libs.common.domain.ids import AccountId, ClientOrderId
from libs.common.topology import POSITIONS_UPDATES, keys_of

REQUEST_TIMEOUT_S = 30.0


class CallFailed(RuntimeError):
    """An HTTP call answered an unexpected status."""


def session(connections: int) -> aiohttp.ClientSession:
    """A keep-alive session with up to `connections` connections."""
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    return aiohttp.ClientSession(connector=connector, timeout=timeout)


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    body: Any = None,
    *,
    ok: Sequence[int] = (200, 201, 202),
) -> Any:
    """One JSON call; raise CallFailed unless the status is in `ok`."""
    data = orjson.dumps(body) if body is not None else None
    headers = {"Content-Type": "application/json"}
    async with http.request(method, url, data=data, headers=headers) as resp:
        raw = await resp.read()
        if resp.status not in ok:
            raise CallFailed(f"{method} {url} answered {resp.status}: {raw[:300]!r}")
        return orjson.loads(raw) if raw else None


async def post_status(http: aiohttp.ClientSession, url: str, body: Body) -> int:
    """POST `body` and return only the status (the answer is read and dropped)."""
    async with http.post(
        url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}
    ) as resp:
        await resp.read()
        return resp.status


class Gateway:
    """The gateway's `/v1` API (auth disabled: every caller is an operator)."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base = base_url

    @property
    def orders_url(self) -> str:
        return f"{self.base}/v1/orders"

    @property
    def batch_url(self) -> str:
        return f"{self.base}/v1/orders/batch"

    async def put_limits(self, limits: dict[str, str]) -> Any:
        """PUT /v1/risk/limits."""
        return await call(self.http, "PUT", f"{self.base}/v1/risk/limits", limits)

    async def freeze(self, reason: str) -> Any:
        """POST /v1/risk/freeze."""
        return await call(self.http, "POST", f"{self.base}/v1/risk/freeze", {"reason": reason})

    async def place(self, body: Body) -> Any:
        """POST /v1/orders (no wait)."""
        return await call(self.http, "POST", self.orders_url, body)


class Sim:
    """The simulator's unsigned control API."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base = base_url

    async def health(self) -> dict[str, Any]:
        """GET /sim/health (counts of orders and open orders, retCodes)."""
        found: dict[str, Any] = await call(self.http, "GET", f"{self.base}/sim/health")
        return found

    async def open_orders(self) -> int:
        return int((await self.health())["openOrders"])

    async def receipts(self, since_ns: int = 0) -> dict[str, Any]:
        """GET /sim/receipts: {orders: [{orderLinkId, receivedNs, ...}], executions: [...]}."""
        found: dict[str, Any] = await call(
            self.http, "GET", f"{self.base}/sim/receipts?sinceNs={since_ns}"
        )
        if not isinstance(found.get("orders"), list):
            raise CallFailed("the simulator has no /sim/receipts: run it from this checkout")
        return found

    async def received_ns(self, since_ns: int = 0) -> dict[str, int]:
        """orderLinkId -> receivedNs of every order received since `since_ns`."""
        got = await self.receipts(since_ns)
        return {o["orderLinkId"]: int(o["receivedNs"]) for o in got["orders"]}


async def created_ns(redis: aioredis.Redis, ids: Mapping[str, AccountId]) -> dict[str, int]:
    """clientOrderId -> the record's `created_ts_ns` (the gateway's accept time), of orders
    given with their accounts. One MGET per account and 1,000 ids: an account's records
    share its hash slot, so each MGET stays in one slot on a cluster."""
    by_account: dict[AccountId, list[str]] = {}
    for cid, account in ids.items():
        by_account.setdefault(account, []).append(cid)
    found: dict[str, int] = {}
    for account, cids in by_account.items():
        for start in range(0, len(cids), 1000):
            chunk = cids[start : start + 1000]
            raws: list[Any] = await redis.mget(
                [keys_of(account).order(ClientOrderId(c)) for c in chunk]
            )
            for cid, raw in zip(chunk, raws, strict=True):
                if raw is not None:
                    found[cid] = int(orjson.loads(raw)["created_ts_ns"])
    return found


async def last_position_id(redis: aioredis.Redis) -> str:
    """The id of the newest entry of positions.updates ("0-0" when empty)."""
    entries: Any = await redis.xrevrange(POSITIONS_UPDATES.name, count=1)
    return str(entries[0][0].decode()) if entries else "0-0"


async def next_position(
    redis: aioredis.Redis, after: str, symbol: str, qty: str, timeout_s: float
) -> tuple[int, int] | None:
    """Wait for the first PositionUpdated of `symbol` with `qty` after entry `after`:
    (its envelope ts_ns, the time we read it), or None on timeout."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        reply: Any = await redis.xread({POSITIONS_UPDATES.name: after}, block=int(left * 1000) + 1)
        seen = time.time_ns()
        for _, entries in reply or ():
            for entry_id, fields in entries:
                after = entry_id.decode()
                envelope = orjson.loads(fields[DATA_FIELD])
                payload = envelope.get("payload", {})
                if envelope.get("type") != "PositionUpdated" or payload.get("symbol") != symbol:
                    continue
                if _same_qty(payload.get("qty"), qty):
                    return int(envelope["ts_ns"]), seen
    return None


def _same_qty(found: Any, want: str) -> bool:
    try:
        return Decimal(str(found)) == Decimal(want)
    except (InvalidOperation, ValueError):
        return False

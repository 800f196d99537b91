"""The simulator's venue state in a JSON file, so that a restart continues where it stopped.

`mmx up` keeps its Redis in a data directory across runs; the engine's records there (open
orders, positions) only agree with a venue that remembers the same orders and fills. With
`MMX_SIM_STATE_PATH` set, the simulator loads that file at start (when it exists), writes it
every `MMX_SIM_STATE_SAVE_INTERVAL_S` and once more on a clean shutdown.

What is kept: every order (open and closed, with the price-time queue of the open ones),
every execution (fills and funding settlements), every account (by UID: balances, locks,
margin, leverage per symbol, positions), each market's mid, touch and statistics, the order
sequence and the random walk's generator state; orders and executions name their account.
What is not: faults, rate-limit windows, fill receipts, DCP windows, WebSocket sessions
(the clients reconnect), and the recent public trades and candles
(`/v5/market/recent-trade`, `kline`: their history starts again).

Decimals are written as their exact strings (`str(Decimal)`), so they read back equal,
exponent included. The file is replaced atomically (write, fsync, rename): a crash leaves
the previous snapshot or the new one, never half of one. A field added to a record with a
default (e.g. an execution's `exec_type`) keeps older files readable: a missing key takes
the default (an account without `leverages` has the default leverage everywhere). A file
of format 1 (from before the simulator kept several accounts: one `account`, orders and
executions without a `uid`) loads as the state of the first account.
"""

from __future__ import annotations

import os
import random
import typing
from dataclasses import fields
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import orjson

from libs.common.domain.enums import Category
from services.venue_sim.engine import Exchange, Execution, Ledger, Position, SimOrder

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""1: one account (`account`), records without `uid`; 2: `accounts`, records with `uid`."""
_MARKET_FIELDS = (
    "mid", "bid", "ask", "last_price", "prev_price", "open_price", "high", "low", "volume",
    "turnover",
)  # fmt: skip


R = TypeVar("R", SimOrder, Execution, Position)


class PersistError(RuntimeError):
    """The state file cannot be read back into this simulator."""


# -- records <-> JSON ---------------------------------------------------------------------------


_TYPES = {cls: typing.get_type_hints(cls) for cls in (SimOrder, Execution, Position)}
"""Each record's field types (resolved once: the engine's modules postpone annotations)."""


def _encode(record: SimOrder | Execution | Position) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        out[f.name] = str(value) if isinstance(value, Decimal | Enum) else value
    return out


def _decode(cls: type[R], data: dict[str, Any], **defaults: Any) -> R:
    """A record from its JSON; `defaults` fill fields the data lacks (older files)."""
    hints = _TYPES[cls]
    values: dict[str, Any] = dict(defaults)
    for name, raw in data.items():
        kind = hints.get(name)
        if kind is None:
            raise PersistError(f"{cls.__name__} has no field {name!r}: a newer state file?")
        if isinstance(kind, type) and issubclass(kind, Decimal | Enum):
            values[name] = kind(raw)
        else:
            values[name] = raw
    return cls(**values)


# -- snapshot ----------------------------------------------------------------------------------


def snapshot(exchange: Exchange, rng: random.Random, *, saved_ms: int) -> dict[str, Any]:
    """The venue state of `exchange` (and the market's generator) as JSON-ready data."""
    queue = [
        order_id
        for book in exchange.books.values()
        for side in (book.bids, book.asks)
        for level in side.levels.values()
        for order_id in level
    ]
    ledgers = exchange.ledgers.values()
    version, internal, gauss = rng.getstate()
    return {
        "version": FORMAT_VERSION,
        "savedMs": saved_ms,
        "orderSeq": exchange.order_seq,
        "orders": [_encode(o) for o in exchange.orders.values()],
        "open": [order_id for ledger in ledgers for order_id in ledger.open_orders],
        "queue": queue,
        "executions": {
            c.value: [_encode(e) for ledger in ledgers for e in ledger.executions[c]]
            for c in Category
        },
        "accounts": [{"uid": ledger.uid, **_account_json(ledger)} for ledger in ledgers],
        "markets": [
            {"category": c.value, "symbol": s, **{f: str(getattr(m, f)) for f in _MARKET_FIELDS}}
            for (c, s), m in exchange.markets.items()
        ],
        "rng": [version, list(internal), gauss],
    }


def _account_json(ledger: Ledger) -> dict[str, Any]:
    account = ledger.account
    return {
        "balances": {k: str(v) for k, v in account.balances.items()},
        "locked": {k: str(v) for k, v in account.locked.items()},
        "orderIm": str(account.order_im),
        "cumRealised": str(account.cum_realised),
        "seq": account.seq,
        "leverages": {k: str(v) for k, v in account.leverages.items()},
        "positions": [_encode(p) for p in account.positions.values()],
    }


def _restore_account(ledger: Ledger, stored: dict[str, Any]) -> None:
    account = ledger.account
    account.balances.clear()
    account.balances.update({k: Decimal(v) for k, v in stored["balances"].items()})
    account.locked.clear()
    account.locked.update({k: Decimal(v) for k, v in stored["locked"].items()})
    account.order_im = Decimal(stored["orderIm"])
    account.cum_realised = Decimal(stored["cumRealised"])
    account.seq = int(stored["seq"])
    account.leverages = {k: Decimal(v) for k, v in stored.get("leverages", {}).items()}
    account.positions = {p["symbol"]: _decode(Position, p) for p in stored["positions"]}


def _stored_accounts(exchange: Exchange, data: dict[str, Any]) -> list[tuple[Ledger, Any]]:
    """(ledger, stored account) pairs; a format-1 file's one account is the first account."""
    if "accounts" not in data:
        return [(exchange.ledger(), data["account"])]
    pairs = []
    for stored in data["accounts"]:
        ledger = exchange.ledgers.get(stored["uid"])
        if ledger is None:
            raise PersistError(
                f"the state file has an account with UID {stored['uid']}, which no key of "
                f"MMX_SIM_KEYS trades (the simulator has {list(exchange.ledgers)}): add a key "
                f"for it ('key:secret:{stored['uid']}'), or start fresh (mmx up --fresh)"
            )
        pairs.append((ledger, stored))
    return pairs


def restore(exchange: Exchange, rng: random.Random, data: dict[str, Any]) -> None:
    """Put a `snapshot` back into a freshly built `exchange` (and the generator `rng`).

    Raises PersistError when the snapshot is of another format, names an instrument this
    simulator does not list, or an account no key trades.
    """
    if data.get("version") not in READABLE_VERSIONS:
        raise PersistError(
            f"state file format {data.get('version')!r}: expected one of {READABLE_VERSIONS}"
        )
    accounts = _stored_accounts(exchange, data)
    for item in data["markets"]:
        key = (Category(item["category"]), item["symbol"])
        market = exchange.markets.get(key)
        if market is None:
            continue  # a symbol no longer listed: its market is gone, orders are checked below
        for name in _MARKET_FIELDS:
            setattr(market, name, Decimal(item[name]))
    exchange.order_seq = int(data["orderSeq"])
    first = exchange.default_uid  # the owner of format-1 records
    for raw in data["orders"]:
        order = _decode(SimOrder, raw, uid=first)
        if (order.category, order.symbol) not in exchange.markets:
            raise PersistError(
                f"the state file has orders of {order.category} {order.symbol}, which this "
                "simulator does not list: add it to MMX_SIM_SYMBOLS, or start fresh "
                "(mmx up --fresh)"
            )
        exchange.orders[order.order_id] = order
        exchange.ledgers[order.uid].add(order)
    for order_id in data["open"]:
        order = exchange.orders[order_id]
        exchange.ledgers[order.uid].opened(order)
    for order_id in data["queue"]:
        order = exchange.orders[order_id]
        exchange.books[(order.category, order.symbol)].add(order)
    for items in data["executions"].values():
        for raw in items:
            execution = _decode(Execution, raw, uid=first)
            exchange.ledgers[execution.uid].add_execution(execution)
    for ledger, stored in accounts:
        _restore_account(ledger, stored)
    version, internal, gauss = data["rng"]
    rng.setstate((version, tuple(internal), gauss))


# -- the file ----------------------------------------------------------------------------------


def write(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` with `data` atomically (a temporary file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.tmp")
    with temporary.open("wb") as out:
        out.write(orjson.dumps(data))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def read(path: Path) -> dict[str, Any] | None:
    """The snapshot in `path`; None when there is no such file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise PersistError(
            f"{path} is not a simulator state file ({error}): remove it, or start fresh "
            "(mmx up --fresh)"
        ) from None
    if not isinstance(data, dict):
        raise PersistError(f"{path} holds {type(data).__name__}: expected a JSON object")
    return data


def summary(data: dict[str, Any]) -> str:
    """What a snapshot holds, in a few words, for the log."""
    accounts = data.get("accounts") or [data["account"]]
    positions = [p for a in accounts for p in a["positions"] if Decimal(p["size"])]
    executions = sum(len(items) for items in data["executions"].values())
    return (
        f"{len(data['orders'])} orders ({len(data['open'])} open), {executions} executions, "
        f"{len(positions)} open positions in {len(accounts)} account(s)"
    )

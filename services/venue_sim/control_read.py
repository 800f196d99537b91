"""Read-only control endpoints under `/sim/` (what the venue holds, counters), and the
account selector every account-scoped control endpoint takes.

The selector is a query parameter: `?uid=100100101` or `?apiKey=<a key of that account>`.
Endpoints of one account's state (`/sim/positions`, `POST /sim/funding`) act on the first
account without it; the venue-wide lists (`/sim/orders`, `/sim/executions`,
`/sim/receipts`) list every account's records without it, and the selected account's with
it. An unknown UID or key is HTTP 400 naming the accounts there are.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import orjson
from aiohttp import web

from libs.common.domain.enums import Category
from services.venue_sim.engine import Execution, Ledger
from services.venue_sim.faults import Faults
from services.venue_sim.gate import STATE
from services.venue_sim.ratelimit import Limits
from services.venue_sim.state import SimState
from services.venue_sim.wire import execution_item, order_item, position_item, wallet_item


def to_camel(name: str) -> str:
    """snake_case -> camelCase, leaving digits alone (ip_per_5s -> ipPer5s)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        body=orjson.dumps({"error": message}), content_type="application/json"
    )


def selected_uid(request: web.Request) -> str | None:
    """The UID the request's `?uid=` or `?apiKey=` selects, None when it names neither.

    Raises HTTP 400 when the UID or key is unknown, or when the two name different
    accounts."""
    state = request.app[STATE]
    uid = request.query.get("uid")
    key = request.query.get("apiKey")
    if uid is not None and uid not in state.exchange.ledgers:
        raise _bad_request(f"no account has uid {uid!r}: the accounts are {state.uids}")
    if key is not None:
        if key not in state.auth.keys:
            raise _bad_request(
                f"apiKey {key!r} is not a key of this simulator: expected a key of "
                f"MMX_SIM_KEYS (GET /sim/accounts lists them by account)"
            )
        if uid is not None and state.auth.uid_of(key) != uid:
            raise _bad_request(
                f"apiKey {key!r} trades uid {state.auth.uid_of(key)}, not the uid {uid} given"
            )
        uid = state.auth.uid_of(key)
    return uid


def account_uid(request: web.Request) -> str:
    """The selected account's UID (see `selected_uid`), else the first account's."""
    return selected_uid(request) or request.app[STATE].exchange.default_uid


def _ledgers(request: web.Request, uid: str | None) -> list[Ledger]:
    """The account `uid` (`selected_uid`), or every account when it is None."""
    ex = request.app[STATE].exchange
    return list(ex.ledgers.values()) if uid is None else [ex.ledgers[uid]]


def _executions(ledgers: list[Ledger]) -> list[Execution]:
    return [e for ledger in ledgers for cat in Category for e in ledger.executions[cat]]


def faults_json(faults: Faults) -> dict[str, Any]:
    data = {to_camel(f.name): getattr(faults, f.name) for f in fields(Faults)}
    data["paths"] = sorted(faults.paths) if faults.paths is not None else None
    data["fired"] = {to_camel(name): n for name, n in faults.fired.items()}
    return data


def limits_json(state: SimState) -> dict[str, Any]:
    data = {to_camel(f.name): getattr(state.limits, f.name) for f in fields(Limits)}
    data["maxActiveOrders"] = state.exchange.max_active_orders
    return data


async def orders(request: web.Request) -> web.Response:
    """GET /sim/orders[?uid=|apiKey=]: every order held (of every account, or of the
    selected one), oldest first, Bybit fields plus category."""
    ex = request.app[STATE].exchange
    uid = selected_uid(request)
    held = ex.orders.values() if uid is None else ex.ledgers[uid].orders.values()
    return json_response({"list": [order_item(o, ws=True) for o in held]})


async def executions(request: web.Request) -> web.Response:
    """GET /sim/executions[?uid=|apiKey=]: every execution (fills, funding) of every account
    (or of the selected one), account by account, oldest first per category."""
    ledgers = _ledgers(request, selected_uid(request))
    items = [execution_item(e, ws=True) for e in _executions(ledgers)]
    return json_response({"list": items})


async def receipts(request: web.Request) -> web.Response:
    """GET /sim/receipts[?sinceNs=N][&uid=|apiKey=]: when each order the venue took was
    received and when each fill was made, in wall-clock ns (`time.time_ns()`), at or after
    `sinceNs`: `{"orders": [{orderId, orderLinkId, symbol, category, receivedNs}],
    "executions": [{execId, orderId, orderLinkId, symbol, category, execNs}]}`."""
    state = request.app[STATE]
    try:
        since = int(request.query.get("sinceNs", "0"))
    except ValueError:
        return json_response({"error": "sinceNs must be an integer (ns)"}, 400)
    uid = selected_uid(request)
    ex, kept = state.exchange, state.receipts
    taken = []
    for order_id, received_ns in kept.received_ns.items():
        order = ex.orders.get(order_id)
        if order is not None and received_ns >= since and uid in (None, order.uid):
            taken.append(
                {
                    "orderId": order_id,
                    "orderLinkId": order.link_id,
                    "symbol": order.symbol,
                    "category": order.category.value,
                    "receivedNs": received_ns,
                }
            )
    fills = []
    for execution in _executions(_ledgers(request, uid)):
        exec_ns = kept.executed_ns.get(execution.exec_id)
        if exec_ns is not None and exec_ns >= since:
            fills.append(
                {
                    "execId": execution.exec_id,
                    "orderId": execution.order_id,
                    "orderLinkId": execution.link_id,
                    "symbol": execution.symbol,
                    "category": execution.category.value,
                    "execNs": exec_ns,
                }
            )
    return json_response({"orders": taken, "executions": fills})


async def positions(request: web.Request) -> web.Response:
    """GET /sim/positions[?uid=|apiKey=]: the linear position of every listed symbol, flat
    ones too, of the selected account (the first one by default)."""
    ex = request.app[STATE].exchange
    account = ex.ledger(account_uid(request)).account
    rows = [
        {**position_item(ex, account, account.position(symbol)), "category": "linear"}
        for category, symbol in ex.markets
        if category is Category.LINEAR
    ]
    return json_response({"list": rows})


async def accounts(request: web.Request) -> web.Response:
    """GET /sim/accounts: every account, the first one first: its uid, the API keys that
    trade it, how many orders it holds (and how many are open) and its wallet."""
    state = request.app[STATE]
    ex = state.exchange
    rows = [
        {
            "uid": ledger.uid,
            "apiKeys": state.auth.keys_of(ledger.uid),
            "orders": len(ledger.orders),
            "openOrders": len(ledger.open_orders),
            "wallet": wallet_item(ex, ledger.account),
        }
        for ledger in ex.ledgers.values()
    ]
    return json_response({"list": rows})


def _counts(state: SimState) -> tuple[int, int, int]:
    """(orders, open orders, executions) of every account."""
    ledgers = list(state.exchange.ledgers.values())
    open_orders = sum(len(ledger.open_orders) for ledger in ledgers)
    executed = sum(len(e) for ledger in ledgers for e in ledger.executions.values())
    return len(state.exchange.orders), open_orders, executed


async def health(request: web.Request) -> web.Response:
    """GET /sim/health: liveness plus counters (orders, retCodes answered, failed batch
    items' retCodes, faults fired) over every account."""
    state = request.app[STATE]
    held, open_orders, executed = _counts(state)
    return json_response(
        {
            "status": "ok",
            "time": state.now(),
            "seed": state.seed,
            "marketFrozen": state.market_frozen,
            "accounts": len(state.uids),
            "orders": held,
            "openOrders": open_orders,
            "executions": executed,
            "retCodes": {str(code): n for code, n in sorted(state.ret_codes.items())},
            "batchItemRetCodes": {str(c): n for c, n in sorted(state.item_codes.items())},
            "faults": faults_json(state.faults),
            "limits": limits_json(state),
            "dcpFired": [product for _, product in state.dcp.fired],
            "connections": state.connection_counts(),
        }
    )


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics: the simulator's own counters in Prometheus text format, so the stack's
    Prometheus scrapes it like every service (names prefixed `venue_sim_`)."""
    state = request.app[STATE]
    held, open_orders, executed = _counts(state)
    lines = [
        "# HELP venue_sim_orders Orders the simulator holds, any status.",
        "# TYPE venue_sim_orders gauge",
        f"venue_sim_orders {held}",
        "# HELP venue_sim_open_orders Orders resting on the simulator's books.",
        "# TYPE venue_sim_open_orders gauge",
        f"venue_sim_open_orders {open_orders}",
        "# HELP venue_sim_executions Fills the simulator has made.",
        "# TYPE venue_sim_executions gauge",
        f"venue_sim_executions {executed}",
        "# HELP venue_sim_responses_total Private REST answers by retCode.",
        "# TYPE venue_sim_responses_total counter",
    ]
    lines += [
        f'venue_sim_responses_total{{ret_code="{code}"}} {n}'
        for code, n in sorted(state.ret_codes.items())
    ]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8")

"""`/v5/private`: auth, ping, subscribe, and pushes of order / execution / position / wallet.

A connection trades as the account of the key it authenticated with, and gets that
account's updates only (subscriptions are kept per account).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from libs.common.domain.enums import Category
from services.venue_sim.auth import Authenticator
from services.venue_sim.dcp import DcpWatch
from services.venue_sim.engine import Changes, Exchange
from services.venue_sim.engine.model import Execution, SimOrder
from services.venue_sim.faults import Faults
from services.venue_sim.wire import (
    Json,
    execution_item,
    fmt,
    order_item,
    position_item,
    wallet_item,
)
from services.venue_sim.ws_common import WsConn

KINDS = ("order", "execution", "execution.fast", "position", "wallet", "greeks")
DCP_TOPICS = ("dcp", "dcp.future", "dcp.spot", "dcp.option")
TOPICS = frozenset(
    [*KINDS, *DCP_TOPICS] + [f"{kind}.{cat.value}" for kind in KINDS[:4] for cat in Category]
)


def fast_item(execution: Execution) -> Json:
    """An `execution.fast` item: fewer fields, and no orderLinkId on maker fills. Like
    Bybit's, the fast topic carries trades only (no funding)."""
    return {
        "category": execution.category.value,
        "symbol": execution.symbol,
        "execId": execution.exec_id,
        "execPrice": fmt(execution.price),
        "execQty": fmt(execution.qty),
        "orderId": execution.order_id,
        "isMaker": execution.is_maker,
        "orderLinkId": "" if execution.is_maker else execution.link_id,
        "side": execution.side.value,
        "execTime": str(execution.time),
        "seq": execution.seq,
    }


class PrivateHub:
    """Authenticated private connections and their subscriptions."""

    def __init__(
        self,
        auth: Authenticator,
        exchange: Callable[[], Exchange],
        clock: Callable[[], int],
        dcp: DcpWatch,
        faults: Callable[[], Faults] | None = None,
    ) -> None:
        self.auth = auth
        self.exchange = exchange
        self.clock = clock
        self.dcp = dcp
        self.faults = faults
        """The faults in force (`drop_private_next` drops pushes), when injected."""
        self.conns: set[WsConn] = set()
        self.authed: dict[WsConn, str] = {}
        """Authenticated connection -> the UID of its key's account."""
        self.subs: dict[tuple[str, str], set[WsConn]] = {}
        """(uid, topic) -> the account's connections subscribed to it."""
        self._msg_seq = 0

    # -- connection lifecycle ----------------------------------------------------------------

    def on_open(self, conn: WsConn) -> None:
        self.conns.add(conn)

    def on_close(self, conn: WsConn) -> None:
        self.conns.discard(conn)
        uid = self.authed.pop(conn, None)
        if uid is not None:
            for sub_uid, topic in list(self.subs):
                if sub_uid == uid:
                    self._unsubscribe(conn, uid, topic)
        self.dcp.disconnected(conn)

    def on_message(self, conn: WsConn, message: Any) -> None:
        if not isinstance(message, dict):
            conn.send({"success": False, "ret_msg": "Invalid request", "conn_id": conn.conn_id})
            return
        op = message.get("op")
        req_id = message.get("req_id")
        if op == "ping":
            now = str(self.clock())
            conn.send(
                {"req_id": req_id or "", "op": "pong", "args": [now], "conn_id": conn.conn_id}
            )
            return
        error = ""
        if op == "auth":
            if conn in self.authed:
                error = "Repeat auth"
            else:
                key, error = self.auth.check_ws(message.get("args"), self.clock())
                if key is not None:
                    self.authed[conn] = self.auth.uid_of(key)
        elif op in ("subscribe", "unsubscribe"):
            error = self._subscription(conn, op, message.get("args"))
        else:
            error = f"Invalid op: {op!r}"
        reply: Json = {"success": not error, "ret_msg": error, "op": op, "conn_id": conn.conn_id}
        if req_id is not None:
            reply["req_id"] = req_id
        conn.send(reply, ack=op in ("subscribe", "unsubscribe"))

    def _subscription(self, conn: WsConn, op: str, args: Any) -> str:
        uid = self.authed.get(conn)
        if uid is None:
            return "Request not authorized"
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            return "Params Error: args must be a non-empty list of topics"
        unknown = [topic for topic in args if topic not in TOPICS]
        if unknown:
            return f"Invalid topic: {unknown}"
        for kind in KINDS:
            if kind in args and any(f"{kind}.{cat.value}" in args for cat in Category):
                return "All-In-One topic and Categorised topic cannot be in the same request"
        for topic in args:
            if op == "subscribe":
                self.subs.setdefault((uid, topic), set()).add(conn)
                if topic in DCP_TOPICS:
                    self.dcp.subscribed(conn, uid, topic)
            else:
                self._unsubscribe(conn, uid, topic)
                if topic in DCP_TOPICS:
                    self.dcp.unsubscribed(conn, uid, topic)
        return ""

    def _unsubscribe(self, conn: WsConn, uid: str, topic: str) -> None:
        subscribers = self.subs.get((uid, topic))
        if subscribers is not None:
            subscribers.discard(conn)
            if not subscribers:
                del self.subs[(uid, topic)]

    def drop_all(self) -> int:
        """Close every private connection (server side); returns how many."""
        conns = list(self.conns)
        for conn in conns:
            conn.close()
        return len(conns)

    # -- pushes ------------------------------------------------------------------------------

    def dispatch(self, changes: Changes) -> None:
        """Push what an operation changed to the subscribed connections, each account's
        changes to that account's connections only."""
        if not self.subs:
            return
        subscribed = {uid for uid, _ in self.subs}
        for uid in changes.uids() & subscribed:
            self._dispatch_account(uid, changes)

    def _dispatch_account(self, uid: str, changes: Changes) -> None:
        orders: list[SimOrder] = [o for o in changes.orders.values() if o.uid == uid]
        if orders and self._wants(uid, "order"):
            self._publish(uid, "order", [(o.category, order_item(o, ws=True)) for o in orders])
        execs = [e for e in changes.executions if e.uid == uid]
        if execs:
            if self._wants(uid, "execution"):
                items = [(e.category, execution_item(e, ws=True)) for e in execs]
                self._publish(uid, "execution", items)
            trades = [e for e in execs if e.exec_type == "Trade"]
            if trades and self._wants(uid, "execution.fast"):
                self._publish(uid, "execution.fast", [(e.category, fast_item(e)) for e in trades])
        ex = self.exchange()
        account = ex.ledger(uid).account
        symbols = sorted(symbol for owner, symbol in changes.positions if owner == uid)
        if symbols and self._wants(uid, "position"):
            rows = [account.position(s) for s in symbols]
            items = [(Category.LINEAR, position_item(ex, account, p, ws=True)) for p in rows]
            self._publish(uid, "position", items)
        if uid in changes.wallets and (uid, "wallet") in self.subs:
            self._send(uid, "wallet", [wallet_item(ex, account)])

    def _wants(self, uid: str, kind: str) -> bool:
        subs = self.subs
        return (uid, kind) in subs or any((uid, f"{kind}.{cat.value}") in subs for cat in Category)

    def _publish(self, uid: str, kind: str, items: list[tuple[Category, Json]]) -> None:
        """Send `kind` to the account's all-in-one subscribers and `kind.{category}` to its
        categorised ones."""
        if (uid, kind) in self.subs:
            self._send(uid, kind, [item for _, item in items])
        for cat in Category:
            topic = f"{kind}.{cat.value}"
            if (uid, topic) in self.subs:
                self._send(uid, topic, [item for c, item in items if c is cat])

    def _send(self, uid: str, topic: str, data: list[Json]) -> None:
        subscribers = self.subs.get((uid, topic))
        if not data or not subscribers:
            return
        if self.faults is not None and self.faults().take("drop_private_next"):
            return
        self._msg_seq += 1
        encoded = orjson.dumps(
            {
                "id": f"sim-{self._msg_seq}",
                "topic": topic,
                "creationTime": self.clock(),
                "data": data,
            }
        )
        for conn in subscribers:
            conn.send(encoded)

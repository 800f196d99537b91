"""`/v5/private`: auth, ping, subscribe, and pushes of order / execution / position / wallet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from libs.common.domain.enums import Category
from services.venue_sim.auth import Authenticator
from services.venue_sim.dcp import DcpWatch
from services.venue_sim.engine import Changes, Exchange
from services.venue_sim.engine.model import Execution
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
    ) -> None:
        self.auth = auth
        self.exchange = exchange
        self.clock = clock
        self.dcp = dcp
        self.conns: set[WsConn] = set()
        self.authed: set[WsConn] = set()
        self.subs: dict[str, set[WsConn]] = {}
        self._msg_seq = 0

    # -- connection lifecycle ----------------------------------------------------------------

    def on_open(self, conn: WsConn) -> None:
        self.conns.add(conn)

    def on_close(self, conn: WsConn) -> None:
        self.conns.discard(conn)
        self.authed.discard(conn)
        for topic in list(self.subs):
            self._unsubscribe(conn, topic)
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
                    self.authed.add(conn)
        elif op in ("subscribe", "unsubscribe"):
            error = self._subscription(conn, op, message.get("args"))
        else:
            error = f"Invalid op: {op!r}"
        reply: Json = {"success": not error, "ret_msg": error, "op": op, "conn_id": conn.conn_id}
        if req_id is not None:
            reply["req_id"] = req_id
        conn.send(reply, ack=op in ("subscribe", "unsubscribe"))

    def _subscription(self, conn: WsConn, op: str, args: Any) -> str:
        if conn not in self.authed:
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
                self.subs.setdefault(topic, set()).add(conn)
                if topic in DCP_TOPICS:
                    self.dcp.subscribed(conn, topic)
            else:
                self._unsubscribe(conn, topic)
                if topic in DCP_TOPICS:
                    self.dcp.unsubscribed(conn, topic)
        return ""

    def _unsubscribe(self, conn: WsConn, topic: str) -> None:
        subscribers = self.subs.get(topic)
        if subscribers is not None:
            subscribers.discard(conn)
            if not subscribers:
                del self.subs[topic]

    def drop_all(self) -> int:
        """Close every private connection (server side); returns how many."""
        conns = list(self.conns)
        for conn in conns:
            conn.close()
        return len(conns)

    # -- pushes ------------------------------------------------------------------------------

    def dispatch(self, changes: Changes) -> None:
        """Push what an operation changed to the subscribed connections."""
        if not self.subs:
            return
        if changes.orders and self._wants("order"):
            orders = changes.orders.values()
            self._publish("order", [(o.category, order_item(o, ws=True)) for o in orders])
        if changes.executions:
            execs = changes.executions
            if self._wants("execution"):
                self._publish(
                    "execution", [(e.category, execution_item(e, ws=True)) for e in execs]
                )
            trades = [e for e in execs if e.exec_type == "Trade"]
            if trades and self._wants("execution.fast"):
                self._publish("execution.fast", [(e.category, fast_item(e)) for e in trades])
        ex = self.exchange()
        if changes.positions and self._wants("position"):
            rows = [ex.account.position(s) for s in sorted(changes.positions)]
            self._publish(
                "position", [(Category.LINEAR, position_item(ex, p, ws=True)) for p in rows]
            )
        if changes.wallet and "wallet" in self.subs:
            self._send("wallet", [wallet_item(ex)])

    def _wants(self, kind: str) -> bool:
        subs = self.subs
        return kind in subs or any(f"{kind}.{cat.value}" in subs for cat in Category)

    def _publish(self, kind: str, items: list[tuple[Category, Json]]) -> None:
        """Send `kind` to all-in-one subscribers and `kind.{category}` to categorised ones."""
        if kind in self.subs:
            self._send(kind, [item for _, item in items])
        for cat in Category:
            topic = f"{kind}.{cat.value}"
            if topic in self.subs:
                self._send(topic, [item for c, item in items if c is cat])

    def _send(self, topic: str, data: list[Json]) -> None:
        subscribers = self.subs.get(topic)
        if not data or not subscribers:
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

"""Operator verbs of the `mmx` command, talking HTTP to the gateway.

    mmx status                          trading state, limits, utilisation, recent freezes
    mmx orders [--symbol S]             open orders
    mmx positions                       positions with marks and P&L
    mmx freeze --reason TEXT            freeze trading now (cancels everything)
    mmx unfreeze --reason TEXT [--force]  resume trading (refused within the cooldown)
    mmx limits [--file F]               limits and their scaling rule; set from a YAML file

The gateway is `--url`, else `MMX_GATEWAY_URL`, else the gateway of the `mmx up` running with
the data directory `--data-dir` (default ./.mmx), else http://127.0.0.1:8080. The API key is
`MMX_API_KEY_GATEWAY` (or `--api-key`, which other users of the host can see in `ps`): a
viewer key reads; freeze, unfreeze and setting limits need an operator key; the audit trail
names the key's holder. A gateway with auth disabled (development) records the caller's login name
(`X-MMX-Actor`) instead. Standard library only (and PyYAML for `mmx limits`), so the verbs
work wherever mmx is installed.
Exit status: 0 done, 1 the gateway refused or failed, 2 it could not be reached.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from services import local_stack
from services.operator_limits import SCALED_HEADERS, limits_text, scaled_rows

DEFAULT_URL = "http://127.0.0.1:8080"
URL_ENV = "MMX_GATEWAY_URL"
KEY_ENV = "MMX_API_KEY_GATEWAY"
ACTOR_HEADER = "X-MMX-Actor"
KEY_HEADER = "X-API-Key"


class OperatorError(Exception):
    """The gateway answered with an error (`status` > 0) or could not be reached (0)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class GatewayClient:
    """A small JSON client of the gateway's `/v1` API."""

    def __init__(
        self,
        base_url: str,
        *,
        actor: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 10.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.actor = actor or _login()
        self.timeout_s = timeout_s
        self._headers = {"Content-Type": "application/json", ACTOR_HEADER: self.actor}
        if api_key:
            self._headers[KEY_HEADER] = api_key

    def __repr__(self) -> str:
        keyed = KEY_HEADER in self._headers
        return f"GatewayClient({self.base_url!r}, actor={self.actor!r}, api_key={keyed})"

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return self._call("GET", path + query, None)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("POST", path, body)

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("PUT", path, body)

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        request = urllib.request.Request(
            self.base_url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers=self._headers,
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise OperatorError(_error_text(error), error.code) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise OperatorError(f"gateway {self.base_url} unreachable: {reason}") from None


# -- What each verb shows --------------------------------------------------------------------


def status_text(client: GatewayClient, account: str | None = None) -> str:
    """Trading state (the desk's, and the account's own), limits, utilisation and the latest
    freezes, as text."""
    risk = client.get("/v1/risk", _of(account))
    lines = [_state_line("trading", risk["trading"])]
    if risk.get("accountTrading") is not None:
        lines.append(_state_line(f"account {risk['account']}", risk["accountTrading"]))
    lines.append("")
    configured = [(k, v) for k, v in risk["limits"].items() if k != "scaling"]
    lines += ["limits (as configured)", table(["LIMIT", "VALUE"], configured), ""]
    if scaled := scaled_rows(risk):
        lines += ["scaled now (the scaling rule)", table(SCALED_HEADERS, scaled), ""]
    rows = [
        [u["limit"], u["symbol"], f"{Decimal(u['ratio']) * 100:.1f}%", u["limitValue"]]
        for u in risk["utilisation"]
    ]
    lines += ["utilisation", table(["LIMIT", "SYMBOL", "USED", "OF"], rows), ""]
    lines += [f"P&L today {_money(risk['pnlToday'])}  net P&L {_money(risk['netPnl'])}", ""]
    history = [
        [_time(h["time"]), h["previous"], h["state"], h["actor"], h["reason"]]
        for h in risk["freezeHistory"][:10]
    ]
    lines += ["recent state changes", table(["TIME", "FROM", "TO", "ACTOR", "REASON"], history)]
    return "\n".join(lines)


def orders_text(
    client: GatewayClient, symbol: str | None = None, account: str | None = None
) -> str:
    """The open orders of an account (the default when None), oldest first, as a table."""
    params = ({"symbol": symbol} if symbol else {}) | (_of(account) or {})
    orders = client.get("/v1/orders", params or None)["orders"]
    rows = [
        [
            o["clientOrderId"],
            o["symbol"],
            o["side"],
            o["orderType"],
            o["qty"],
            o["filledQty"],
            o["price"] or "-",
            o["status"],
            _time(o["createdTime"]),
        ]
        for o in orders
    ]
    headers = ["CLIENT ORDER ID", "SYMBOL", "SIDE", "TYPE", "QTY", "FILLED", "PRICE", "STATUS"]
    return f"{table([*headers, 'CREATED'], rows)}\n{len(rows)} open order(s)"


def positions_text(client: GatewayClient, account: str | None = None) -> str:
    """Every position of an account (the default when None) with its mark and P&L."""
    answer = client.get("/v1/positions", _of(account))
    rows = [
        [
            p["symbol"],
            p["qty"],
            p["avgEntryPrice"] or "-",
            p["mark"] or "-",
            p["realizedPnl"],
            p["unrealizedPnl"] or "-",
            p["feesPaid"],
            p["fundingPaid"],
            p["netPnl"],
        ]
        for p in answer["positions"]
    ]
    headers = ["SYMBOL", "QTY", "ENTRY", "MARK", "REALIZED", "UNREALIZED", "FEES", "FUNDING", "NET"]
    return f"{table(headers, rows)}\nnet P&L {answer['netPnl']}"


def freeze_text(client: GatewayClient, reason: str, account: str | None = None) -> str:
    """Freeze trading (the desk's, or one account's); say whether this call froze it."""
    answer = client.post("/v1/risk/freeze", {"reason": reason} | _account_body(account))
    what = "trading" if account is None else f"account {account}"
    done = f"{what} FROZEN" if answer["changed"] else f"{what} was already FROZEN"
    return f"{done} (epoch {answer['epoch']})"


def unfreeze_text(
    client: GatewayClient, reason: str, force: bool = False, account: str | None = None
) -> str:
    """Resume trading (the desk's, or one account's own state); raises OperatorError (409)
    within the cooldown unless forced."""
    body = {"reason": reason, "force": force} | _account_body(account)
    answer = client.post("/v1/risk/unfreeze", body)
    what = "trading" if account is None else f"account {account}"
    done = f"{what} ACTIVE" if answer["changed"] else f"{what} was already ACTIVE"
    return f"{done} (epoch {answer['epoch']})"


def _of(account: str | None) -> dict[str, str] | None:
    return None if account is None else {"account": account}


def _account_body(account: str | None) -> dict[str, Any]:
    return {} if account is None else {"account": account}


def _state_line(what: str, trading: dict[str, Any]) -> str:
    since = f"  since {_time(trading['since'])}" if trading["since"] else ""
    who = f"  by {trading['actor']}: {trading['reason']}" if trading["actor"] else ""
    return f"{what}  {trading['state']}  epoch {trading['epoch']}{since}{who}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows under headers, columns padded to their widest cell."""
    if not rows:
        return "  (none)"
    cells = [[str(c) for c in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in cells)  # fmt: skip


# -- The argparse wiring -----------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `status`, `orders`, `positions`, `freeze`, `unfreeze` and `limits` to the `mmx`
    command."""
    verbs: list[tuple[str, str, Callable[[GatewayClient, argparse.Namespace], str]]] = [
        (
            "status",
            "trading state, limits, utilisation",
            lambda c, a: status_text(c, a.account),
        ),
        ("orders", "open orders", lambda c, a: orders_text(c, a.symbol, a.account)),
        (
            "positions",
            "positions with marks and P&L",
            lambda c, a: positions_text(c, a.account),
        ),
        ("freeze", "freeze trading now", lambda c, a: freeze_text(c, a.reason, a.account)),
        (
            "unfreeze",
            "resume trading",
            lambda c, a: unfreeze_text(c, a.reason, a.force, a.account),
        ),
        (
            "limits",
            "limits and their scaling rule; --file sets them",
            lambda c, a: limits_text(c, a.file),
        ),
    ]
    for name, help_text, show in verbs:
        parser = subparsers.add_parser(name, help=help_text)
        parser.add_argument(
            "--url",
            help=f"the gateway (default: {URL_ENV}, else the gateway of the `mmx up` using "
            f"--data-dir, else {DEFAULT_URL})",
        )
        parser.add_argument(
            "--data-dir",
            default=local_stack.DEFAULT_DATA_DIR,
            help=f"the data directory of that `mmx up` (default: ./{local_stack.DEFAULT_DATA_DIR})",
        )
        parser.add_argument(
            "--api-key",
            help=f"the gateway API key (default: {KEY_ENV}; prefer the variable, "
            "a command line is visible to other users of the host)",
        )
        parser.set_defaults(func=_runner(show))
        if name != "limits":
            scope = "the desk" if name in ("freeze", "unfreeze") else "the default account"
            parser.add_argument("--account", help=f"one account of MMX_ACCOUNTS (default: {scope})")
        if name == "orders":
            parser.add_argument("--symbol", help="only this symbol, e.g. BTCUSDT")
        if name in ("freeze", "unfreeze"):
            parser.add_argument("--reason", required=True, help="why, for the audit trail")
        if name == "unfreeze":
            parser.add_argument("--force", action="store_true", help="override the cooldown")
        if name == "limits":
            parser.add_argument(
                "--file", help="set the limits from this YAML or JSON file first (camelCase)"
            )


def _runner(
    show: Callable[[GatewayClient, argparse.Namespace], str],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        api_key = args.api_key or os.environ.get(KEY_ENV)
        try:
            print(show(GatewayClient(gateway_url(args), api_key=api_key), args))
        except OperatorError as error:
            print(f"mmx: {error}", file=sys.stderr)
            if error.status == 401 and not api_key:
                print(f"mmx: set {KEY_ENV} (or pass --api-key)", file=sys.stderr)
            return 1 if error.status else 2
        return 0

    return run


def gateway_url(args: argparse.Namespace) -> str:
    """`--url`, else MMX_GATEWAY_URL, else the running `mmx up`'s gateway (`local_stack`),
    else DEFAULT_URL."""
    data_dir = Path(args.data_dir).resolve()
    return (
        args.url
        or os.environ.get(URL_ENV)
        or local_stack.read_url(data_dir, local_stack.GATEWAY_FILE)
        or DEFAULT_URL
    )


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (e.g. a container's anonymous uid)
        return "operator"


def _money(value: str) -> str:
    """A money figure to 8 decimals, rounded half-even, as the gateway shows it (a gateway
    of an older version sent up to 28 digits)."""
    return f"{Decimal(value).quantize(Decimal('1e-8'), rounding=ROUND_HALF_EVEN):f}"


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _error_text(error: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(error.read())["error"]
    except (ValueError, KeyError, TypeError):
        message = error.reason
    return f"gateway answered {error.code}: {message}"

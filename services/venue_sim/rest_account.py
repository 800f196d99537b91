"""Query endpoints: orders, executions, positions, wallet, account and API key info, each of
the calling key's account only."""

from __future__ import annotations

from services.venue_sim.engine import errors, queries, validate
from services.venue_sim.gate import Call, Reply
from services.venue_sim.wire import execution_item, order_item, position_item, wallet_item

NO_PERMISSIONS = (
    "Earn", "FiatP2P", "FiatBitPay", "FiatConvertBroker", "BitCard", "ByXPost", "Affiliate",
    "BlockTrade", "NFT", "CopyTrading",
)  # fmt: skip
"""Permission groups of `/v5/user/query-api` the simulator's keys have nothing in."""


def _uid(call: Call) -> str:
    """The calling key's UID."""
    return call.uid or call.state.exchange.default_uid


def _nothing(name: str) -> Reply:
    """The empty page of a category the simulator lists nothing in."""
    return Reply({"category": name, "list": [], "nextPageCursor": ""})


def open_orders(call: Call) -> Reply:
    """GET /v5/order/realtime."""
    name, category = validate.any_category(call.params.get("category"))
    if category is None:
        return _nothing(name)
    page, cursor = queries.orders(
        call.state.exchange, category, call.params, history=False, uid=call.uid
    )
    items = [order_item(o) for o in page]
    return Reply({"category": category.value, "list": items, "nextPageCursor": cursor})


def order_history(call: Call) -> Reply:
    """GET /v5/order/history."""
    name, category = validate.any_category(call.params.get("category"))
    if category is None:
        return _nothing(name)
    page, cursor = queries.orders(
        call.state.exchange, category, call.params, history=True, uid=call.uid
    )
    items = [order_item(o) for o in page]
    return Reply({"category": category.value, "list": items, "nextPageCursor": cursor})


def executions(call: Call) -> Reply:
    """GET /v5/execution/list."""
    name, category = validate.any_category(call.params.get("category"))
    if category is None:
        return _nothing(name)
    page, cursor = queries.executions(call.state.exchange, category, call.params, call.uid)
    items = [execution_item(e) for e in page]
    return Reply({"category": category.value, "list": items, "nextPageCursor": cursor})


def positions(call: Call) -> Reply:
    """GET /v5/position/list."""
    name, category = validate.any_category(call.params.get("category"))
    if category is None:
        return _nothing(name)
    ex = call.state.exchange
    rows = queries.positions(ex, category, call.params, call.uid)
    account = ex.ledger(call.uid).account
    items = [position_item(ex, account, p) for p in rows]
    return Reply({"category": category.value, "list": items, "nextPageCursor": ""})


def wallet_balance(call: Call) -> Reply:
    """GET /v5/account/wallet-balance?accountType=UNIFIED[&coin=USDT,BTC]."""
    account_type = validate.text(call.params, "accountType", required=True)
    if account_type != "UNIFIED":
        raise errors.params(f"accountType only support UNIFIED, was {account_type!r}")
    ex = call.state.exchange
    item = wallet_item(ex, ex.ledger(call.uid).account)
    coins = validate.text(call.params, "coin")
    if coins:
        wanted = set(coins.split(","))
        item["coin"] = [c for c in item["coin"] if c["coin"] in wanted]
    return Reply({"list": [item]})


def fee_rate(call: Call) -> Reply:
    """GET /v5/account/fee-rate."""
    name, category = validate.any_category(call.params.get("category"))
    if category is None:
        return Reply({"category": name, "list": []})
    symbol = validate.text(call.params, "symbol")
    maker, taker = call.state.exchange.fees[category]
    symbols = sorted({s for c, s in call.state.exchange.markets if c is category})
    rows = [
        {"symbol": s, "baseCoin": "", "takerFeeRate": str(taker), "makerFeeRate": str(maker)}
        for s in symbols
        if not symbol or s == symbol
    ]
    return Reply({"list": rows})


def account_info(call: Call) -> Reply:
    """GET /v5/account/info."""
    return Reply(
        {
            "unifiedMarginStatus": 5,
            "marginMode": "REGULAR_MARGIN",
            "isMasterTrader": False,
            "spotHedgingStatus": "OFF",
            "updatedTime": str(call.state.now()),
            "dcpStatus": "ON",
            "timeWindow": call.state.dcp.windows(_uid(call))["DERIVATIVES"],
            "smpGroup": 0,
        }
    )


def dcp_info(call: Call) -> Reply:
    """GET /v5/account/query-dcp-info."""
    infos = [
        {"product": product, "dcpStatus": "ON", "timeWindow": str(window)}
        for product, window in call.state.dcp.windows(_uid(call)).items()
    ]
    return Reply({"dcpInfos": infos})


def query_api(call: Call) -> Reply:
    """GET /v5/user/query-api: the calling key's permissions (everything a trader needs)."""
    return Reply(
        {
            "id": "1",
            "note": "mmx venue simulator",
            "apiKey": call.api_key,
            "readOnly": 0,
            "secret": "",
            "permissions": {
                "ContractTrade": ["Order", "Position"],
                "Spot": ["SpotTrade"],
                "Wallet": ["AccountTransfer", "SubMemberTransfer"],
                "Options": ["OptionsTrade"],
                "Derivatives": ["DerivativesTrade"],
                "Exchange": ["ExchangeHistory"],
                **{group: [] for group in NO_PERMISSIONS},
            },
            "ips": ["*"],
            "type": 1,
            "deadlineDay": -1,
            "expiredAt": "",
            "createdAt": "2024-01-01T00:00:00Z",
            "unified": 0,
            "uta": 1,
            "userID": int(_uid(call)),
            "inviterID": 0,
            "vipLevel": "No VIP",
            "mktMakerLevel": "0",
            "affiliateID": 0,
            "rsaPublicKey": "",
            "isMaster": True,
            "parentUid": "0",
            "kycLevel": "LEVEL_DEFAULT",
            "kycRegion": "",
        }
    )

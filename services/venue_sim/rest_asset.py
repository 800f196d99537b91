"""GET /v5/asset/coin/query-info: coins and their deposit/withdrawal chains.

The coins are those the simulator knows: the settle coin, the base coins of the listed
symbols and the coins of the wallet. Their chains are a fixed table in Bybit's format: the
chain names and token contracts are the real ones, confirmations, fees and minimums are
indicative. A wallet coin not in the table gets one chain of its own name. The simulator
moves no coin in or out, so all of it is information only.
"""

from __future__ import annotations

from services.venue_sim.engine.account import SETTLE
from services.venue_sim.gate import Call, Reply
from services.venue_sim.wire import Json

Chain = tuple[str, str, str, str, str, str, str]
"""(chain, chainType, confirmation, withdrawFee, withdrawMin, minAccuracy, contractAddress)."""

ERC20, ARBITRUM, BSC = "Ethereum", "Arbitrum One", "BSC (BEP20)"
CHAINS: dict[str, tuple[Chain, ...]] = {
    "USDT": (
        ("ETH", ERC20, "6", "3", "10", "4", "0xdac17f958d2ee523a2206206994597c13d831ec7"),
        ("TRX", "TRC20", "20", "1", "10", "4", "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
        ("ARBI", ARBITRUM, "12", "0.3", "1", "4", "0xfd086bc7cd5c481dcc9c85ebe478a1c0b69fcbb9"),
        ("SOL", "Solana", "100", "1", "2", "4", "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB"),
        ("BSC", BSC, "15", "0.3", "10", "4", "0x55d398326f99059ff775485246999027b3197955"),
    ),
    "USDC": (
        ("ETH", ERC20, "6", "3", "10", "4", "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"),
        ("SOL", "Solana", "100", "1", "2", "4", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"),
    ),
    "BTC": (
        ("BTC", "BTC", "1", "0.0001", "0.0005", "8", ""),
        ("BSC", BSC, "15", "0.0000061", "0.0001", "8", ""),
    ),
    "ETH": (
        ("ETH", ERC20, "6", "0.0006", "0.0015", "8", ""),
        ("ARBI", ARBITRUM, "12", "0.0001", "0.0002", "8", ""),
    ),
    "SOL": (("SOL", "Solana", "100", "0.008", "0.16", "8", ""),),
    "XRP": (("XRP", "XRP", "1", "0.2", "1.5", "6", ""),),
    "DOGE": (("DOGE", "DOGE", "20", "5", "25", "8", ""),),
    "ADA": (("ADA", "Cardano", "20", "0.8", "2", "6", ""),),
    "AVAX": (("CAVAX", "AVAX C-Chain", "12", "0.008", "0.1", "8", ""),),
    "LINK": (
        ("ETH", ERC20, "6", "0.55", "1.6", "8", "0x514910771af9ca656af840dff83e8264ecf986ca"),
    ),
    "LTC": (("LTC", "LTC", "4", "0.001", "0.002", "8", ""),),
    "BNB": (("BSC", BSC, "15", "0.0005", "0.01", "8", ""),),
}


def _chain(chain: Chain) -> Json:
    name, chain_type, confirmations, fee, minimum, accuracy, contract = chain
    return {
        "chain": name,
        "chainType": chain_type,
        "confirmation": confirmations,
        "withdrawFee": fee,
        "depositMin": "0",
        "withdrawMin": minimum,
        "minAccuracy": accuracy,
        "chainDeposit": "1",
        "chainWithdraw": "1",
        "withdrawPercentageFee": "0",
        "contractAddress": contract,
        "safeConfirmNumber": confirmations,
        "withdrawMax": "-1",
    }


def known_coins(call: Call) -> list[str]:
    """The coins the simulator knows (the calling account's wallet coins among them),
    sorted."""
    coins = {SETTLE, *call.state.exchange.ledger(call.uid).account.balances}
    coins.update(spec.rules.base_coin for spec in call.state.specs)
    coins.update(spec.rules.quote_coin for spec in call.state.specs)
    return sorted(coins)


def coin_info(call: Call) -> Reply:
    """GET /v5/asset/coin/query-info[?coin=..] -> {rows: [{name, coin, remainAmount,
    chains}]}; an unknown coin gives no rows."""
    wanted = call.params.get("coin") or ""
    rows = [
        {
            "name": coin,
            "coin": coin,
            "remainAmount": "10000000",
            "chains": [
                _chain(chain)
                for chain in CHAINS.get(coin, ((coin, coin, "10", "0", "0", "8", ""),))
            ],
        }
        for coin in known_coins(call)
        if not wanted or coin == wanted
    ]
    return Reply({"rows": rows}, msg="success")

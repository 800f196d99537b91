"""Leverage per symbol and the position mode: the margin they move, Bybit's codes when
nothing changes or cannot, and the leverage's round trip through the state file."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest

from libs.common.domain.enums import Category
from services.venue_sim import persist
from services.venue_sim.engine import DEFAULT_UID, Exchange, SimError
from services.venue_sim.wire import position_item

from .helpers import FakeClock, limit, make_exchange, market

LINEAR = Category.LINEAR


def leverage(ex: Exchange, value: str, *, sell: str | None = None) -> None:
    params = {"symbol": "BTCUSDT", "buyLeverage": value, "sellLeverage": sell or value}
    ex.set_leverage(LINEAR, params)


def code_of(action: object) -> int:
    assert callable(action)
    with pytest.raises(SimError) as info:
        action()
    return info.value.code


def test_leverage_sets_the_symbols_position_and_order_margin(ex: Exchange) -> None:
    market(ex, "Buy", "0.100")  # 6000 USDT of BTC at the default 10x: 600 IM
    order = limit(ex, "Buy", "0.100", "59000")  # 5900 at 10x: 590 reserved
    assert ex.ledger().account.order_im == Decimal(590)

    changes = ex.set_leverage(
        LINEAR, {"symbol": "BTCUSDT", "buyLeverage": "20", "sellLeverage": "20"}
    )

    assert changes.positions == {(DEFAULT_UID, "BTCUSDT")} and changes.wallet
    assert (order.reserved, ex.ledger().account.order_im) == (Decimal(295), Decimal(295))
    item = position_item(ex, ex.ledger().account, ex.ledger().account.position("BTCUSDT"))
    assert (item["leverage"], item["positionIM"], item["positionIMByMp"]) == ("20", "300", "300")
    assert ex.ledger().account.leverage_of("ETHUSDT") == Decimal(
        10
    )  # other symbols keep the default


def test_the_same_leverage_again_is_110043_leverage_not_modified(ex: Exchange) -> None:
    leverage(ex, "5")
    with pytest.raises(SimError, match="leverage not modified") as info:
        leverage(ex, "5.00")
    assert info.value.code == 110043


@pytest.mark.parametrize(
    ("buy", "sell"), [("5", "6"), ("0.5", None), ("101", None), ("2.005", None), ("x", None)]
)
def test_unequal_or_out_of_range_leverage_is_10001(
    ex: Exchange, buy: str, sell: str | None
) -> None:
    assert code_of(lambda: leverage(ex, buy, sell=sell)) == 10001
    assert ex.ledger().account.leverage_of("BTCUSDT") == Decimal(10)


def test_lowering_leverage_beyond_the_available_margin_is_110044_and_changes_nothing(
    clock: FakeClock,
) -> None:
    ex = make_exchange(clock, balances={"USDT": Decimal(1000)})
    leverage(ex, "50")
    market(ex, "Buy", "0.500")  # 30000 USDT of BTC: 600 IM at 50x, 6000 at 5x
    assert code_of(lambda: leverage(ex, "5")) == 110044
    assert ex.ledger().account.leverage_of("BTCUSDT") == Decimal(50)


def test_one_way_is_already_the_mode_and_hedge_mode_is_not_supported(ex: Exchange) -> None:
    def switch(**params: object) -> object:
        return ex.switch_mode(LINEAR, params)

    assert code_of(lambda: switch(symbol="BTCUSDT", mode=0)) == 110025
    assert code_of(lambda: switch(coin="USDT", mode="0")) == 110025
    assert code_of(lambda: switch(symbol="BTCUSDT", mode=3)) == 110029
    assert code_of(lambda: switch(mode=0)) == 10001
    assert code_of(lambda: switch(symbol="BTCUSDT", mode=1)) == 10001
    assert code_of(lambda: ex.switch_mode(Category.SPOT, {"symbol": "BTCUSDT", "mode": 0})) == (
        10001
    )


def test_leverage_survives_the_state_file(ex: Exchange, clock: FakeClock, tmp_path: Path) -> None:
    leverage(ex, "25")
    path = tmp_path / "state.json"
    persist.write(path, persist.snapshot(ex, random.Random(1), saved_ms=clock.now))
    restored = make_exchange(clock)
    data = persist.read(path)
    assert data is not None
    persist.restore(restored, random.Random(1), data)
    assert restored.ledger().account.leverage_of("BTCUSDT") == Decimal(25)
    del data["accounts"][0]["leverages"]  # a file written before leverage was per symbol
    older = make_exchange(clock)
    persist.restore(older, random.Random(1), data)
    assert older.ledger().account.leverage_of("BTCUSDT") == Decimal(10)

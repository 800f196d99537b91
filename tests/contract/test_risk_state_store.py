"""Contract of RiskStateStore: limits, freeze / unfreeze with epochs and their broadcasts."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from libs.common.domain.ids import Symbol
from libs.common.domain.limit_scaling import ScalingRule, VolatilityRule, Window
from libs.common.domain.risk_checks import FreezeClass, RiskLimits, TradingState
from libs.common.messages import Envelope, TradingStateChanged
from libs.common.stores import InMemoryRiskStateStore, RiskStateStore, UnfreezeOutcome
from libs.common.topology import CONTROL
from tests.contract.conftest import Clients

BTC = Symbol("BTCUSDT")
ETH = Symbol("ETHUSDT")
T0 = 1_700_000_000_123_456_789
"""A realistic ns timestamp: above 2^53, so a double could not compare it to the ns."""
COOLDOWN = 60 * 10**9

Stores = tuple[RiskStateStore, RiskStateStore]


# -- limits -----------------------------------------------------------------------------------


async def test_limits_are_the_defaults_until_set(risk_stores: Stores) -> None:
    assert await risk_stores[0].get_limits() == RiskLimits()
    assert await risk_stores[0].get_limits(BTC) == RiskLimits()


async def test_set_limits_replaces_desk_limits_exactly(risk_stores: Stores) -> None:
    writer, reader = risk_stores
    limits = RiskLimits(max_inventory_usd=Decimal("12345.67"), max_open_orders_per_symbol=7)

    await writer.set_limits(limits)

    assert await reader.get_limits() == limits


async def test_the_scaling_rule_is_set_with_the_limits_kept_unless_named_and_removed_by_none(
    risk_stores: Stores,
) -> None:
    writer, reader = risk_stores
    rule = ScalingRule(
        volatility=VolatilityRule(limits=("max_inventory_usd",), reference_bps=Decimal(25)),
        schedule=(
            Window(
                name="weekend",
                start="00:00",
                end="24:00",
                days=("sat", "sun"),
                factor=Decimal("0.5"),
                limits=("max_total_notional",),
            ),
        ),
    )
    assert await reader.get_scaling() is None

    await writer.set_limits(RiskLimits(max_order_notional=Decimal(900)), scaling=rule)
    stored = await reader.get_scaling()
    await writer.set_limits(RiskLimits(max_order_notional=Decimal(800)))  # Keep.KEEP
    kept = await reader.get_scaling()
    await writer.set_limits(RiskLimits(), scaling=None)

    assert stored == rule and kept == rule
    assert await reader.get_scaling() is None
    assert await reader.get_limits() == RiskLimits()


async def test_symbol_overrides_apply_to_that_symbol_only(risk_stores: Stores) -> None:
    writer, reader = risk_stores
    await writer.set_limits(RiskLimits(max_order_notional=Decimal(1000)))

    await writer.set_symbol_overrides(BTC, {"max_inventory_usd": Decimal("2500.5")})

    btc = await reader.get_limits(BTC)
    assert btc.max_inventory_usd == Decimal("2500.5")
    assert btc.max_order_notional == 1000
    assert (await reader.get_limits(ETH)).max_inventory_usd == RiskLimits().max_inventory_usd
    await writer.set_symbol_overrides(BTC, {})
    assert await reader.get_limits(BTC) == RiskLimits(max_order_notional=Decimal(1000))


@pytest.mark.parametrize(
    "overrides", [{"max_inventory": Decimal(1)}, {"max_inventory_usd": Decimal(-1)}]
)
async def test_invalid_symbol_overrides_are_refused(
    risk_stores: Stores, overrides: dict[str, Decimal]
) -> None:
    with pytest.raises(ValueError, match="max_inventory"):
        await risk_stores[0].set_symbol_overrides(BTC, overrides)
    assert await risk_stores[0].get_limits(BTC) == RiskLimits()


# -- trading state ----------------------------------------------------------------------------


async def test_trading_state_is_active_at_epoch_zero_until_changed(risk_stores: Stores) -> None:
    status = await risk_stores[0].trading_state()

    assert (status.state, status.epoch) == (TradingState.ACTIVE, 0)
    assert await risk_stores[0].freeze_history() == []


async def test_freeze_sets_frozen_bumps_epoch_and_records_history(risk_stores: Stores) -> None:
    writer, reader = risk_stores

    result = await writer.freeze("edge collapsed", "risk-1", T0)

    assert result == (1, True)
    status = await reader.trading_state()
    assert status[:5] == (TradingState.FROZEN, 1, "edge collapsed", "risk-1", T0)
    assert status.generation
    (record,) = await reader.freeze_history()
    assert (record.state, record.previous, record.epoch) == (
        TradingState.FROZEN,
        TradingState.ACTIVE,
        1,
    )
    assert (record.reason, record.actor, record.ts_ns) == ("edge collapsed", "risk-1", T0)


async def test_freeze_when_frozen_keeps_first_freeze_and_reports_unchanged(
    risk_stores: Stores,
) -> None:
    await risk_stores[0].freeze("first", "a", T0)

    result = await risk_stores[1].freeze("second", "b", T0 + 5)

    assert result == (1, False)
    status = await risk_stores[0].trading_state()
    assert (status.reason, status.since_ns) == ("first", T0)
    assert len(await risk_stores[0].freeze_history()) == 1


async def test_concurrent_freezes_are_won_by_exactly_one_caller(risk_stores: Stores) -> None:
    results = await asyncio.gather(
        *(risk_stores[i % 2].freeze(f"breach {i}", f"risk-{i}", T0 + i) for i in range(20))
    )

    assert sum(changed for _, changed in results) == 1
    assert {epoch for epoch, _ in results} == {1}
    assert (await risk_stores[0].trading_state()).epoch == 1
    assert len(await risk_stores[1].freeze_history()) == 1


async def test_unfreeze_within_cooldown_is_refused_and_stays_frozen(risk_stores: Stores) -> None:
    await risk_stores[0].freeze("loss", "risk", T0)

    result = await risk_stores[1].unfreeze("ok", "op", T0 + COOLDOWN - 1, COOLDOWN)

    assert result == (1, UnfreezeOutcome.COOLDOWN)
    assert (await risk_stores[0].trading_state()).state is TradingState.FROZEN


async def test_unfreeze_at_cooldown_end_resumes_trading(risk_stores: Stores) -> None:
    await risk_stores[0].freeze("loss", "risk", T0)

    result = await risk_stores[1].unfreeze("ok", "op", T0 + COOLDOWN, COOLDOWN)

    assert result == (2, UnfreezeOutcome.RESUMED)
    status = await risk_stores[0].trading_state()
    assert status[:5] == (TradingState.ACTIVE, 2, "ok", "op", T0 + COOLDOWN)


async def test_forced_unfreeze_within_cooldown_resumes_trading(risk_stores: Stores) -> None:
    await risk_stores[0].freeze("loss", "risk", T0)

    result = await risk_stores[0].unfreeze("manual", "op", T0 + 1, COOLDOWN, force=True)

    assert result == (2, UnfreezeOutcome.RESUMED)
    assert (await risk_stores[1].trading_state()).state is TradingState.ACTIVE


async def test_unfreeze_when_active_changes_nothing(risk_stores: Stores) -> None:
    result = await risk_stores[0].unfreeze("ok", "op", T0, COOLDOWN)

    assert result == (0, UnfreezeOutcome.ALREADY_ACTIVE)
    assert await risk_stores[0].freeze_history() == []


async def test_reducing_is_entered_from_active_but_never_leaves_a_freeze(
    risk_stores: Stores,
) -> None:
    store = risk_stores[0]

    assert await store.set_reducing("daily loss", "risk", T0) == (1, True)
    assert await store.set_reducing("daily loss", "risk", T0 + 1) == (1, False)
    assert await store.freeze("edge", "risk", T0 + 2) == (2, True)
    assert await store.set_reducing("daily loss", "risk", T0 + 3) == (2, False)
    assert (await store.trading_state()).state is TradingState.FROZEN
    assert await store.unfreeze("ok", "op", T0 + 4, 0) == (3, UnfreezeOutcome.RESUMED)


async def test_freeze_history_is_newest_first_and_limited(risk_stores: Stores) -> None:
    store = risk_stores[0]
    await store.freeze("one", "a", T0)
    await store.unfreeze("two", "b", T0 + 1, 0)
    await store.freeze("three", "c", T0 + 2)

    records = await risk_stores[1].freeze_history(limit=2)

    assert [(r.reason, r.epoch, r.state) for r in records] == [
        ("three", 3, TradingState.FROZEN),
        ("two", 2, TradingState.ACTIVE),
    ]


async def test_limits_of_many_symbols_are_read_at_once_with_their_overrides(
    risk_stores: Stores,
) -> None:
    first, second = risk_stores
    await first.set_symbol_overrides(BTC, {"max_inventory_usd": Decimal(2_000)})
    limits = await second.get_limits_many([BTC, ETH])
    assert limits[BTC].max_inventory_usd == Decimal(2_000)
    assert limits[ETH] == await second.get_limits()


async def test_every_change_is_broadcast_in_its_own_step_with_epoch_and_generation(
    risk_stores: Stores, clients: Clients | None
) -> None:
    writer, reader = risk_stores
    await writer.freeze("edge", "risk-1", T0)
    await writer.freeze("again", "risk-2", T0 + 1)  # no change: no broadcast
    await writer.unfreeze("ok", "op", T0 + 2, 0)

    generation = (await reader.trading_state()).generation
    if clients is None:
        assert isinstance(writer, InMemoryRiskStateStore)
        said = list(writer.announced)
    else:
        entries = await clients[0].xrange(CONTROL.desk.name)
        said = [Envelope.from_json(f[b"__data__"]).open() for _, f in entries]
    assert [(m.state, m.epoch, m.generation, m.actor) for m in said] == [
        (TradingState.FROZEN, 1, generation, "risk-1"),
        (TradingState.ACTIVE, 2, generation, "op"),
    ]


# -- freeze classes and the auto-recovery's steps -----------------------------------------------


async def test_a_freeze_records_its_reason_code_and_class(risk_stores: Stores) -> None:
    writer, reader = risk_stores

    await writer.freeze("venue_circuit: 5 failures", "router-1", T0, code="venue_circuit",
                        freeze_class=FreezeClass.TRANSIENT)  # fmt: skip

    status = await reader.trading_state()
    assert (status.code, status.freeze_class) == ("venue_circuit", FreezeClass.TRANSIENT)
    await writer.unfreeze("ok", "op", T0 + 1, 0)
    assert (await reader.trading_state()).code == ""


async def test_a_freeze_without_a_class_is_hard(risk_stores: Stores) -> None:
    await risk_stores[0].freeze("edge collapsed", "risk", T0)

    status = await risk_stores[1].trading_state()
    assert (status.code, status.freeze_class) == ("", FreezeClass.HARD)


async def test_a_hard_freeze_takes_over_a_transient_one_once(
    risk_stores: Stores, clients: Clients | None
) -> None:
    writer, reader = risk_stores
    await writer.freeze("venue_circuit", "router", T0, code="venue_circuit",
                        freeze_class=FreezeClass.TRANSIENT)  # fmt: skip

    results = await asyncio.gather(
        *(
            risk_stores[i % 2].freeze(f"manual {i}", f"op-{i}", T0 + 1 + i, code="manual")
            for i in range(10)
        )
    )

    assert sum(changed for _, changed in results) == 1
    status = await reader.trading_state()
    assert (status.state, status.epoch, status.code) == (TradingState.FROZEN, 2, "manual")
    assert status.freeze_class is FreezeClass.HARD
    newest = (await reader.freeze_history(limit=1))[0]
    assert (newest.previous, newest.state, newest.epoch) == (
        TradingState.FROZEN,
        TradingState.FROZEN,
        2,
    )
    assert [m.epoch for m in await _announced(writer, clients)] == [1, 2]


async def test_a_transient_freeze_never_takes_over_a_freeze(risk_stores: Stores) -> None:
    store = risk_stores[0]
    await store.freeze("venue_circuit", "router", T0, code="venue_circuit",
                       freeze_class=FreezeClass.TRANSIENT)  # fmt: skip
    again = await store.freeze("positions_lag", "risk", T0 + 1, code="positions_lag",
                               freeze_class=FreezeClass.TRANSIENT)  # fmt: skip
    await store.unfreeze("ok", "op", T0 + 2, 0)
    await store.freeze("manual", "op", T0 + 3, code="manual")
    over_hard = await store.freeze("venue_circuit", "router", T0 + 4, code="venue_circuit",
                                   freeze_class=FreezeClass.TRANSIENT)  # fmt: skip

    assert (again, over_hard) == ((1, False), (3, False))
    assert (await risk_stores[1].trading_state()).code == "manual"


async def test_a_hard_reducing_takes_over_a_transient_reducing(risk_stores: Stores) -> None:
    store = risk_stores[0]
    await store.freeze("venue_circuit", "router", T0, code="venue_circuit",
                       freeze_class=FreezeClass.TRANSIENT)  # fmt: skip
    await store.recover(TradingState.REDUCING, "cleared", "auto", T0 + 1, epoch=1,
                        code="venue_circuit")  # fmt: skip

    result = await store.set_reducing("daily_loss_soft", "risk", T0 + 2, code="daily_loss_soft")

    assert result == (3, True)
    status = await risk_stores[1].trading_state()
    assert (status.state, status.code, status.freeze_class) == (
        TradingState.REDUCING,
        "daily_loss_soft",
        FreezeClass.HARD,
    )


async def test_a_transient_freeze_over_a_hard_reducing_stays_hard(risk_stores: Stores) -> None:
    """The venue's circuit opens while the daily loss holds trading REDUCING: the freeze is
    hard, so the auto-recovery (which only moves transient freezes) cannot end the REDUCING."""
    store = risk_stores[0]
    await store.set_reducing("daily_loss_soft", "risk", T0, code="daily_loss_soft")

    frozen = await store.freeze("venue_circuit", "router", T0 + 1, code="venue_circuit",
                                freeze_class=FreezeClass.TRANSIENT)  # fmt: skip

    status = await risk_stores[1].trading_state()
    assert frozen == (2, True)
    assert (status.state, status.code, status.freeze_class) == (
        TradingState.FROZEN,
        "venue_circuit",
        FreezeClass.HARD,
    )


async def test_recover_leaves_a_freeze_through_reducing_from_the_epoch_it_saw(
    risk_stores: Stores,
) -> None:
    writer, reader = risk_stores
    await writer.freeze("venue_circuit", "router", T0, code="venue_circuit",
                        freeze_class=FreezeClass.TRANSIENT)  # fmt: skip

    reducing = await writer.recover(
        TradingState.REDUCING, "cleared", "auto", T0 + 1, epoch=1, code="venue_circuit"
    )
    reducing_status = await reader.trading_state()
    active = await writer.recover(TradingState.ACTIVE, "warm", "auto", T0 + 2, epoch=2, code="")

    assert (reducing, active) == ((2, True), (3, True))
    assert reducing_status[:5] == (TradingState.REDUCING, 2, "cleared", "auto", T0 + 1)
    assert (reducing_status.code, reducing_status.freeze_class) == (
        "venue_circuit",
        FreezeClass.TRANSIENT,
    )
    status = await reader.trading_state()
    assert (status.state, status.code) == (TradingState.ACTIVE, "")
    states = [(r.previous, r.state) for r in reversed(await reader.freeze_history())]
    assert states == [
        (TradingState.ACTIVE, TradingState.FROZEN),
        (TradingState.FROZEN, TradingState.REDUCING),
        (TradingState.REDUCING, TradingState.ACTIVE),
    ]


async def test_recover_changes_nothing_once_the_state_moved_on(risk_stores: Stores) -> None:
    store = risk_stores[0]
    await store.freeze("venue_circuit", "router", T0, code="venue_circuit",
                       freeze_class=FreezeClass.TRANSIENT)  # fmt: skip
    await store.recover(TradingState.REDUCING, "cleared", "auto", T0 + 1, epoch=1,
                        code="venue_circuit")  # fmt: skip
    await store.freeze("manual", "op", T0 + 2, code="manual")  # during the warm-up

    late = await risk_stores[1].recover(TradingState.ACTIVE, "warm", "auto", T0 + 3, epoch=2,
                                        code="")  # fmt: skip

    assert late == (3, False)
    assert (await store.trading_state()).state is TradingState.FROZEN
    assert len(await store.freeze_history()) == 3


async def test_recover_never_freezes(risk_stores: Stores) -> None:
    with pytest.raises(ValueError, match="never to FROZEN"):
        await risk_stores[0].recover(TradingState.FROZEN, "x", "auto", T0, epoch=0, code="")


async def test_an_optional_limit_round_trips_unset_and_set(risk_stores: Stores) -> None:
    writer, reader = risk_stores
    await writer.set_limits(RiskLimits(daily_loss_soft_limit=Decimal("400.5")))
    assert (await reader.get_limits()).daily_loss_soft_limit == Decimal("400.5")

    await writer.set_limits(RiskLimits())

    assert (await reader.get_limits()).daily_loss_soft_limit is None


async def test_an_override_that_invalidates_a_desk_limit_resets_it_for_that_symbol(
    risk_stores: Stores,
) -> None:
    writer, reader = risk_stores
    await writer.set_symbol_overrides(BTC, {"daily_loss_limit": Decimal(300)})

    await writer.set_limits(RiskLimits(daily_loss_soft_limit=Decimal(500)))

    btc = await reader.get_limits(BTC)
    assert (btc.daily_loss_limit, btc.daily_loss_soft_limit) == (Decimal(300), None)
    assert (await reader.get_limits()).daily_loss_soft_limit == Decimal(500)


async def _announced(writer: RiskStateStore, clients: Clients | None) -> list[TradingStateChanged]:
    if clients is None:
        assert isinstance(writer, InMemoryRiskStateStore)
        return list(writer.announced)
    entries = await clients[0].xrange(CONTROL.desk.name)
    return [Envelope.from_json(f[b"__data__"]).open() for _, f in entries]

"""Position settings endpoints: set-leverage and switch-mode (see `engine.position_settings`)."""

from __future__ import annotations

from libs.common.domain.enums import Category
from services.venue_sim.engine import errors, validate
from services.venue_sim.gate import Call, Reply


def _linear(call: Call) -> Category:
    name, category = validate.any_category(call.params.get("category"))
    if category is None:
        raise errors.params(f"params error: the simulator lists no {name} contracts")
    return category


def set_leverage(call: Call) -> Reply:
    """POST /v5/position/set-leverage {category, symbol, buyLeverage, sellLeverage} -> {}.
    The position (and wallet) topics get the new leverage and margin."""
    changes = call.state.exchange.set_leverage(_linear(call), call.params, call.uid)
    call.state.publish(changes)
    return Reply({})


def switch_mode(call: Call) -> Reply:
    """POST /v5/position/switch-mode {category, symbol | coin, mode}: one-way only, so it
    always answers 110025 (mode 0) or 110029 (mode 3)."""
    call.state.exchange.switch_mode(_linear(call), call.params)

"""Binance's dead man's switch: `countdownCancelAll`, per symbol, renewed by a heartbeat.

Bybit's DCP cancels every order once the private stream has been gone for the window;
Binance's switch is a countdown per symbol that cancels the symbol's open orders when it
runs out unrenewed. So `set_dcp_window` arms it on every symbol with an open order and
every symbol placed through the adapter (`arm` before a symbol's first order), and
`BinancePrivateStream` renews it (`renew`) every third of the window while it is
connected: when the stream (or the process) is gone for the window, the venue cancels.
Each countdown costs 10 request weight.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from libs.common.venue.binance import wire
from libs.common.venue.binance.errors import classify, rejection
from libs.common.venue.errors import Outcome, VenueError

if TYPE_CHECKING:
    from libs.common.venue.binance.venue import BinanceVenue

log = logging.getLogger(__name__)


async def set_dcp_window(venue: BinanceVenue, seconds: int) -> None:
    if not 3 <= seconds <= 300:
        raise ValueError(f"DCP window {seconds} s is invalid: expected 3-300 seconds")
    await venue.account_symbols()  # every symbol with an open order is armed
    venue.dcp_window_ms = seconds * 1000
    venue.dcp_symbols.update(venue.tracked_symbols)
    await renew(venue)


async def renew(venue: BinanceVenue) -> None:
    window_ms = venue.dcp_window_ms
    if window_ms is None:
        return
    await asyncio.gather(*(countdown(venue, s, window_ms) for s in sorted(venue.dcp_symbols)))


async def countdown(venue: BinanceVenue, symbol: str, window_ms: int) -> None:
    """`POST /fapi/v1/countdownCancelAll` (weight 10): the symbol's orders are cancelled
    `window_ms` from now unless renewed; idempotent, so an ambiguous answer is resent once."""
    params = {"symbol": symbol, "countdownTime": window_ms}
    answer = await venue._send("POST", wire.COUNTDOWN_CANCEL_ALL, params)
    if classify(answer.code) is Outcome.AMBIGUOUS:
        answer = await venue._send("POST", wire.COUNTDOWN_CANCEL_ALL, params)
    if not answer.ok:
        raise rejection(answer.code, answer.msg, context=f"countdownCancelAll {symbol}")


async def arm(venue: BinanceVenue, symbol: str) -> None:
    """Arm the countdown on a symbol about to get its first order (when armed at all); a
    refusal is logged, as the router logs a refused DCP: the order still goes."""
    if venue.dcp_window_ms is None or symbol in venue.dcp_symbols:
        return
    venue.dcp_symbols.add(symbol)  # the heartbeat retries it if this fails
    try:
        await countdown(venue, symbol, venue.dcp_window_ms)
    except VenueError as exc:
        log.error("countdownCancelAll %s not armed: %s", symbol, exc)

"""How computed numbers are shown (the gateway's `/v1` answers, risk's EdgeMeasured): fixed
decimal places, rounded half-even.

The stores keep money exact (a VWAP entry is a division, so it can carry Decimal's 28
significant digits, and a P&L computed from it too). The answers round at the edge, here,
never in the stored values:

    Money   P&L, fees, prices and quantities on positions and P&L    8 places ("-0.52448700")
    Bps     edge figures                                              2 places ("-3.25")
    Ratio   limit utilisation (1 is at the limit)                     4 places ("0.6000")

The places are fixed, not "at most": every row of a listing shows each field with the same
places, and a zero is "0.00000000". The gateway does not know the instruments' tick and qty
steps (the router reads them from the venue), so money takes 8 places, Bybit's own precision
for P&L and finer than every linear instrument's tick and qty step. Rounding is
ROUND_HALF_EVEN (banker's rounding: no drift up or down over many figures). On the wire a
Decimal is a plain string, never in exponent form ("0E-8").
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer

MONEY_PLACES = 8
BPS_PLACES = 2
RATIO_PLACES = 4


def rounded(value: Decimal, places: int) -> Decimal:
    """`value` with exactly `places` decimals, rounded half-even."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def money(value: Decimal) -> Decimal:
    """`value` to `MONEY_PLACES` decimals."""
    return rounded(value, MONEY_PLACES)


def bps(value: Decimal) -> Decimal:
    """`value` to `BPS_PLACES` decimals."""
    return rounded(value, BPS_PLACES)


def ratio(value: Decimal) -> Decimal:
    """`value` to `RATIO_PLACES` decimals."""
    return rounded(value, RATIO_PLACES)


def plain(value: Decimal) -> str:
    """A Decimal as JSON shows it: positional notation, its places kept ("0.00000000")."""
    return format(value, "f")


_PLAIN = PlainSerializer(plain, return_type=str, when_used="json")

Money = Annotated[Decimal, AfterValidator(money), _PLAIN]
"""A Decimal shown with exactly 8 places (`MONEY_PLACES`)."""
Bps = Annotated[Decimal, AfterValidator(bps), _PLAIN]
"""A Decimal shown with exactly 2 places (`BPS_PLACES`)."""
Ratio = Annotated[Decimal, AfterValidator(ratio), _PLAIN]
"""A Decimal shown with exactly 4 places (`RATIO_PLACES`)."""

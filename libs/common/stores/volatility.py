"""Each symbol's realised-volatility estimate and the factor it puts on the limits, in Redis.

`RISK_VOLATILITY_KEY` is a hash: symbol -> JSON {mid, ts, var, n, bps, factor}, the
`domain.limit_scaling.VolatilityEstimate` fields, the volatility per minute in bps and the
factor in force. One writer (the risk instance holding the `risk-limit-scaling` lease)
replaces the entries it updates each tick; the risk view reads the hash in its one pipeline
and decodes it only while the rule scales with volatility (`RiskView.volatility`): the
checks, the gauges and `GET /v1/risk` all take it from there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from redis.asyncio import Redis

from libs.common.domain.ids import Symbol
from libs.common.domain.limit_scaling import VolatilityEstimate
from libs.common.stores._support import text
from libs.common.topology import RISK_VOLATILITY_KEY

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SymbolVolatility:
    """A symbol's estimate and the factor in force on its limits."""

    estimate: VolatilityEstimate
    factor: Decimal

    def encode(self) -> bytes:
        e = self.estimate
        return orjson.dumps(
            {
                "mid": str(e.mid),
                "ts": e.ts_ns,
                "var": e.variance,
                "n": e.returns,
                "bps": str(e.per_minute_bps),
                "factor": str(self.factor),
            }
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> SymbolVolatility:
        fields = orjson.loads(raw)
        return cls(
            VolatilityEstimate(
                mid=Decimal(fields["mid"]),
                ts_ns=int(fields["ts"]),
                variance=float(fields["var"]),
                returns=int(fields["n"]),
            ),
            Decimal(fields["factor"]),
        )


def decode_all(record: Mapping[Any, Any]) -> dict[Symbol, SymbolVolatility]:
    """The entries of the hash; one that does not decode is logged and left out (its symbol's
    limits then apply unscaled by volatility until the next tick rewrites it)."""
    decoded: dict[Symbol, SymbolVolatility] = {}
    for key, raw in record.items():
        try:
            decoded[Symbol(text(key))] = SymbolVolatility.decode(raw)
        except (ValueError, KeyError, TypeError, InvalidOperation) as error:
            log.error("volatility entry %r is invalid, ignored: %s", text(key), error)
    return decoded


async def read_all(redis: Redis) -> dict[Symbol, SymbolVolatility]:
    return decode_all(await redis.hgetall(RISK_VOLATILITY_KEY))


async def write(redis: Redis, entries: Mapping[Symbol, SymbolVolatility]) -> None:
    """Replace the entries of `entries`' symbols (others stay)."""
    if entries:
        await redis.hset(RISK_VOLATILITY_KEY, mapping={s: v.encode() for s, v in entries.items()})

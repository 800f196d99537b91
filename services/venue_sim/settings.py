"""Simulator settings: environment variables with the prefix `MMX_SIM_`.

`MMX_SIM_PERSONALITY` picks the venue the process simulates: `bybit` (Bybit V5, the default)
or `binance-usdm` (Binance USDⓈ-M futures, `services.venue_sim.binance`). Each personality
is a process of its own with its own state; the Binance one listens on 8091 and charges
Binance's default taker fee (0.0005) unless `MMX_SIM_PORT` / `MMX_SIM_TAKER_FEE` say else.

Lists and maps are plain comma-separated strings so they are easy to set from a shell:
`MMX_SIM_KEYS="key:secret,key2:secret2"`, `MMX_SIM_SYMBOLS="BTCUSDT,ETHUSDT"`,
`MMX_SIM_WALLET="USDT:100000,BTC:1"`.

Each key pair of `MMX_SIM_KEYS` trades an account of its own: the n-th pair (from 0) has
UID 100100100 + n, so the first one keeps 100100100. A third field names the UID instead
(`key:secret:uid`, a number): pairs with the same UID trade one account, e.g.
`a:sa:100100100,b:sb:100100100,c:sc` puts a and b on one account and c (third: 100100102)
on another.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, get_args

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.venue_sim.engine.model import DEFAULT_UID

DEV_KEY = "mmx-dev-key"
DEV_SECRET = "mmx-dev-secret"
Personality = Literal["bybit", "binance-usdm"]
PERSONALITIES: tuple[str, ...] = get_args(Personality)
DEFAULT_PORTS: dict[str, int] = {"bybit": 8090, "binance-usdm": 8091}
BINANCE_TAKER_FEE = Decimal("0.0005")
"""Binance USDⓈ-M's regular-user taker rate (its maker rate, 0.0002, is Bybit's too)."""


class ApiKey(NamedTuple):
    """One accepted key pair and the UID of the account it trades."""

    key: str
    secret: str
    uid: str


def parse_keys(value: Any) -> tuple[ApiKey, ...]:
    """`key:secret[:uid],...` (or a key -> secret mapping) as key pairs with their UIDs.

    A pair without a UID gets 100100100 + its position in the list. Raises ValueError on a
    malformed item, a UID that is not a number, or a key listed twice."""
    if isinstance(value, tuple | list) and all(isinstance(v, ApiKey) for v in value):
        return tuple(value)
    if isinstance(value, dict):
        items = [(str(k), str(v), "") for k, v in value.items()]
    elif isinstance(value, str):
        items = [_key_item(part.strip()) for part in value.split(",") if part.strip()]
    else:
        raise ValueError(f"MMX_SIM_KEYS: expected 'key:secret[:uid],...', was {value!r}")
    if not items:
        raise ValueError("MMX_SIM_KEYS: expected at least one 'key:secret' pair")
    pairs: list[ApiKey] = []
    for index, (key, secret, uid) in enumerate(items):
        if any(pair.key == key for pair in pairs):
            raise ValueError(
                f"MMX_SIM_KEYS: key {key!r} is listed twice: each API key trades one account, "
                "list it once (several keys share an account through the same 'key:secret:uid')"
            )
        pairs.append(ApiKey(key, secret, uid or str(int(DEFAULT_UID) + index)))
    return tuple(pairs)


def _key_item(item: str) -> tuple[str, str, str]:
    """(key, secret, uid or "") of one `key:secret[:uid]` item."""
    parts = [part.strip() for part in item.split(":")]
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(
            f"MMX_SIM_KEYS: expected 'key:secret' or 'key:secret:uid' items, was {item!r}"
        )
    if len(parts) == 2:
        return parts[0], parts[1], ""
    uid = parts[2]
    if not uid.isdigit() or not int(uid):
        raise ValueError(
            f"MMX_SIM_KEYS: the UID of key {parts[0]!r} must be a positive number (Bybit UIDs "
            f"are numeric), was {uid!r}"
        )
    return parts[0], parts[1], str(int(uid))


def _pairs(value: Any, what: str) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if not isinstance(value, str):
        raise ValueError(f"{what}: expected 'a:b,c:d', was {value!r}")
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, sep, rest = item.partition(":")
        if not sep or not name or not rest:
            raise ValueError(f"{what}: expected 'a:b,c:d', was item {item!r}")
        pairs[name.strip()] = rest.strip()
    if not pairs:
        raise ValueError(f"{what}: expected at least one 'a:b' pair")
    return pairs


class SimSettings(BaseSettings):
    """Everything the simulator can be configured with (all overridable by `MMX_SIM_*`)."""

    model_config = SettingsConfigDict(env_prefix="MMX_SIM_", extra="ignore")

    personality: Personality = "bybit"
    """The venue simulated: `bybit` (V5) or `binance-usdm` (USDⓈ-M futures)."""
    host: str = "127.0.0.1"
    port: int = 8090
    """8090, or 8091 for the Binance personality, unless set."""
    keys: Annotated[tuple[ApiKey, ...], NoDecode] = Field(
        default_factory=lambda: (ApiKey(DEV_KEY, DEV_SECRET, DEFAULT_UID),)
    )
    """The accepted key pairs, each with the UID of the account it trades (see the module's
    docstring): `MMX_SIM_KEYS="key:secret[:uid],..."`."""
    symbols: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    )
    """Symbols listed in both linear and spot, picked from the built-in catalogue."""

    seed: int = 7
    market_frozen: bool = False
    """When true the mids do not walk and no synthetic trades print (tests drive the market)."""
    tick_ms: int = Field(default=250, ge=10)
    volatility_bps: float = Field(default=2.0, ge=0)
    """Standard deviation of one tick's relative mid move, in basis points."""
    half_spread_ticks: int = Field(default=1, ge=1)
    public_interval_ms: int = Field(default=100, ge=10)
    """How often public order book and ticker changes are pushed on the public WebSocket."""
    ws_ack_delay_ms: int = Field(default=20, ge=0)
    """How long after a WebSocket subscribe/unsubscribe its ack is sent (a network's round
    trip; pybit fails on an ack that arrives before it recorded the subscription)."""

    taker_fee: Decimal = Decimal("0.00055")
    maker_fee: Decimal = Decimal("0.0002")
    spot_taker_fee: Decimal = Decimal("0.001")
    spot_maker_fee: Decimal = Decimal("0.001")
    leverage: Decimal = Decimal("10")
    wallet: Annotated[dict[str, str], NoDecode] = Field(default_factory=lambda: {"USDT": "100000"})
    """Starting coin balances of each (unified) account."""
    max_active_orders: int = Field(default=500, ge=1)
    """Open orders allowed per account and (category, symbol): 110020 / 170810 beyond it."""

    trade_per_second: int = Field(default=10, ge=1)
    """Linear create/amend/cancel, cancel-all and batch (per order) limit, rolling 1 s per UID."""
    spot_trade_per_second: int = Field(default=20, ge=1)
    query_per_second: int = Field(default=50, ge=1)
    dcp_per_second: int = Field(default=5, ge=1)
    ip_per_5s: int = Field(default=600, ge=1)
    ip_ban_seconds: int = Field(default=600, ge=0)

    log_level: str = "WARNING"

    state_path: Path | None = None
    """A JSON file of the venue state (orders, executions, account, markets): loaded at start
    when it exists, written every `state_save_interval_s` and on a clean shutdown (see
    `services.venue_sim.persist`). None: the simulator starts empty and forgets on exit."""
    state_save_interval_s: float = Field(default=5.0, gt=0)
    """How often the state file is rewritten while running, when orders, fills or balances
    changed (each write serialises the whole history: every order and fill)."""

    @model_validator(mode="after")
    def _personality_defaults(self) -> SimSettings:
        """The Binance personality's own defaults for what was not set explicitly."""
        if self.personality == "binance-usdm":
            if "port" not in self.model_fields_set:
                self.port = DEFAULT_PORTS[self.personality]
            if "taker_fee" not in self.model_fields_set:
                self.taker_fee = BINANCE_TAKER_FEE
        return self

    @field_validator("keys", mode="before")
    @classmethod
    def _parse_keys(cls, value: Any) -> tuple[ApiKey, ...]:
        return parse_keys(value)

    @field_validator("wallet", mode="before")
    @classmethod
    def _parse_wallet(cls, value: Any) -> dict[str, str]:
        pairs = _pairs(value, "MMX_SIM_WALLET")
        for coin, amount in pairs.items():
            Decimal(amount)  # raises on garbage
            if coin != coin.upper():
                raise ValueError(f"MMX_SIM_WALLET: coin {coin!r} must be upper-case")
        return pairs

    @field_validator("symbols", mode="before")
    @classmethod
    def _parse_symbols(cls, value: Any) -> list[str]:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not value:
            raise ValueError("MMX_SIM_SYMBOLS: expected a comma-separated list of symbols")
        return [str(v).upper() for v in value]

    def wallet_balances(self) -> dict[str, Decimal]:
        """Starting balances (of every account) as Decimals."""
        return {coin: Decimal(amount) for coin, amount in self.wallet.items()}

    def uids(self) -> list[str]:
        """The accounts' UIDs in the order their first key is listed (the first account
        first)."""
        return list(dict.fromkeys(pair.uid for pair in self.keys))

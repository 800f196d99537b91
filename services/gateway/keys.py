"""Whose key is it: presented API keys checked against the Redis store and, with
`MMX_SECRETS_ENV`, the keys listed in the secret `{env}/gateway/api-keys`.

The store holds the keys made with `mmx keys create` and every revocation (`mmx keys revoke`),
so a revocation takes effect on every gateway instance at the next request. A key listed in
the secret is used only when the store has no record of its id: a revocation tombstone in the
store blocks it at once, before the secret is edited. The secret is re-read every
`api_keys_refresh_s`; a failed re-read keeps the keys already loaded (and is logged), but at
startup a missing or malformed secret stops the gateway.
"""

from __future__ import annotations

import asyncio
import logging
import os

from libs.common.api_keys import (
    ApiKeyRecord,
    ApiKeyStore,
    InvalidApiKey,
    parse_key,
    records_from_secret,
    reject_unknown,
)
from libs.common.secrets import SecretsClient, SecretsSettings, mask
from libs.common.tasks import cancel_and_wait

log = logging.getLogger(__name__)

STATE_KEY = "keyring"
"""Where the KeyRing lives in `ServiceRuntime.state`."""
SECRET_SERVICE, SECRET_KIND = "gateway", "api-keys"


class KeyRefused(Exception):
    """The presented key is not accepted; the message is safe to show (no key in it)."""


def secret_id(env: str) -> str:
    """The id of the secret listing the gateway's keys: `{env}/gateway/api-keys`."""
    return f"{env}/{SECRET_SERVICE}/{SECRET_KIND}"


def secrets_client(principal: str) -> SecretsClient:
    """A client of the `SECRETS_*` environment that reads the store on every call (the list
    is re-read on our own schedule), audited as `principal` unless SECRETS_PRINCIPAL is set."""
    settings = SecretsSettings(ttl_s=0)
    if not os.environ.get("SECRETS_PRINCIPAL"):
        settings = settings.model_copy(update={"principal": principal})
    return SecretsClient(settings)


class SecretKeys:
    """The key records listed in a secret, re-read periodically (a Runner)."""

    def __init__(self, client: SecretsClient, env: str, refresh_s: float) -> None:
        self.secret_id = secret_id(env)
        self._client = client
        self._refresh_s = refresh_s
        self._records: dict[str, ApiKeyRecord] = {}
        self._task: asyncio.Task[None] | None = None

    def get(self, key_id: str) -> ApiKeyRecord | None:
        return self._records.get(key_id)

    def __len__(self) -> int:
        return len(self._records)

    async def load(self) -> None:
        """Read the secret and replace the records (raises SecretsError, InvalidKeyRecords)."""
        value = await asyncio.to_thread(self._client.get_secret, self.secret_id)
        records = records_from_secret(value)
        self._records = {r.key_id: r for r in records}
        log.info("api keys: %d key(s) from secret %s", len(records), self.secret_id)

    async def start(self) -> None:
        await self.load()
        self._task = asyncio.create_task(self._reload(), name="gateway:api-keys")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        self._client.close()

    async def _reload(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.load()
            except Exception as error:  # keep serving the keys loaded; say why not refreshed
                log.error("api keys: re-reading %s failed, keeping %d key(s): %s",
                          self.secret_id, len(self._records), error)  # fmt: skip


class KeyRing:
    """Checks presented keys: the store first (its records and revocations), then the secret."""

    def __init__(self, store: ApiKeyStore, secret_keys: SecretKeys | None = None) -> None:
        self.store = store
        self.secret_keys = secret_keys

    async def authenticate(self, presented: str) -> ApiKeyRecord:
        """The record of the key `presented`.

        Raises
        ------
        KeyRefused
            If it is not a key, unknown, revoked or its secret does not match.
        """
        try:
            key = parse_key(presented)
        except InvalidApiKey as error:
            raise KeyRefused(str(error)) from None
        record = await self.store.get(key.key_id)
        if record is None and self.secret_keys is not None:
            record = self.secret_keys.get(key.key_id)
        if record is None:
            reject_unknown(key)
            log.warning("api keys: unknown key id %s presented", mask(key.key_id))
            raise KeyRefused("unknown API key: no key has this id (ask an operator for one)")
        if record.revoked:
            log.warning("api keys: revoked key %s presented", record.actor)
            raise KeyRefused("this API key was revoked: ask an operator for a new one")
        if not record.accepts(key):
            log.warning("api keys: wrong secret presented for key %s", record.actor)
            raise KeyRefused("API key not accepted: its secret does not match its id")
        return record

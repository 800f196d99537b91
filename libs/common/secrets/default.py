"""Module-level convenience functions over one lazily built default `SecretsClient`.

The default client is built from `SecretsSettings()` (the `SECRETS_*` environment) on the
first call, never at import. A service's composition root may install its own with
`set_default_client`, e.g. to set the principal it is audited as.
"""

from __future__ import annotations

import threading
from typing import Any

from libs.common.secrets.client import SecretsClient
from libs.common.secrets.models import ApiCredentials
from libs.common.secrets.settings import SecretsSettings

_lock = threading.Lock()
_default: SecretsClient | None = None
_owned = False


def default_client() -> SecretsClient:
    """The client the module-level functions use; built from the environment on first use."""
    global _default, _owned
    with _lock:
        if _default is None:
            _default, _owned = SecretsClient(SecretsSettings()), True
        return _default


def set_default_client(client: SecretsClient | None) -> None:
    """Install `client` for the module-level functions; None goes back to lazy building.

    A default client this module built itself is closed when replaced; one installed by
    the caller stays the caller's to close.
    """
    global _default, _owned
    with _lock:
        previous, was_owned = _default, _owned
        _default, _owned = client, False
    if previous is not None and was_owned and previous is not client:
        previous.close()


def get_secret(secret_id: str) -> dict[str, Any] | str:
    """`SecretsClient.get_secret` on the default client."""
    return default_client().get_secret(secret_id)


def get_api_credentials(env: str, exchange: str) -> ApiCredentials:
    """`SecretsClient.get_api_credentials` on the default client."""
    return default_client().get_api_credentials(env, exchange)


def refresh_api_credentials(env: str, exchange: str) -> ApiCredentials:
    """`SecretsClient.refresh_api_credentials` on the default client (see its contract)."""
    return default_client().refresh_api_credentials(env, exchange)


def clear_cache() -> None:
    """Forget every value cached by the default client; builds nothing if there is none."""
    with _lock:
        client = _default
    if client is not None:
        client.clear_cache()

"""Venue API keys and other secrets from AWS Secrets Manager: cached, masked, audited.

    creds = get_api_credentials("prod", "bybit")    # reads `prod/bybit/api`
    venue = VenueConfig(venue="bybit-mainnet", api_key=creds.api_key, api_secret=creds.api_secret)
    ...
    creds = refresh_api_credentials("prod", "bybit")  # once, after a venue 10003 / 10004

Ids are `{env}/{service}/{type}`. Values stay in process memory only: `ApiCredentials`
masks itself in repr/str and refuses to be pickled, and the audit log (`mmx.audit.secrets`)
records who read which id, when, hit or miss and the outcome, never a value.
`SECRETS_MOCK_MODE=1` reads `BYBIT_API_KEY` / `BYBIT_API_SECRET` from the environment
instead (development only; refused for `prod/…`). See docs/SECURITY.md.
"""

from libs.common.secrets.client import AUDIT_LOGGER, SecretsClient
from libs.common.secrets.default import (
    clear_cache,
    default_client,
    get_api_credentials,
    get_secret,
    refresh_api_credentials,
    set_default_client,
)
from libs.common.secrets.errors import (
    InvalidSecret,
    InvalidSecretId,
    SecretAccessDenied,
    SecretNotFound,
    SecretsConfigError,
    SecretsError,
    SecretsUnavailable,
)
from libs.common.secrets.models import (
    ApiCredentials,
    SecretId,
    api_secret_id,
    mask,
    parse_secret_id,
)
from libs.common.secrets.settings import SecretsSettings

__all__ = [
    "AUDIT_LOGGER",
    "ApiCredentials",
    "InvalidSecret",
    "InvalidSecretId",
    "SecretAccessDenied",
    "SecretId",
    "SecretNotFound",
    "SecretsClient",
    "SecretsConfigError",
    "SecretsError",
    "SecretsSettings",
    "SecretsUnavailable",
    "api_secret_id",
    "clear_cache",
    "default_client",
    "get_api_credentials",
    "get_secret",
    "mask",
    "parse_secret_id",
    "refresh_api_credentials",
    "set_default_client",
]

"""Mock mode: secrets read from environment variables, for development without AWS.

`{env}/{exchange}/api` is built from `{EXCHANGE}_API_KEY` and `{EXCHANGE}_API_SECRET`
(`dev/bybit/api` from `BYBIT_API_KEY` / `BYBIT_API_SECRET`), whatever the env segment; an
account's `{env}/{exchange}/api-{account}` from `{EXCHANGE}_API_KEY_{ACCOUNT}` and
`{EXCHANGE}_API_SECRET_{ACCOUNT}` (`BYBIT_API_KEY_ALPHA`).
Any other id reads `SECRETS_MOCK_{ENV}_{SERVICE}_{TYPE}` (`dev/db/password` from
`SECRETS_MOCK_DEV_DB_PASSWORD`), holding a plain string or a JSON object.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from libs.common.secrets.errors import SecretNotFound, SecretsConfigError
from libs.common.secrets.models import SecretId


def env_name(segment: str) -> str:
    return segment.upper().replace("-", "_")


def is_api(secret_id: SecretId, api: bool) -> bool:
    """An exchange's API credentials: `api`, or an account's `api-{account}` when read as
    credentials (`api`; the gateway's `api-keys` is a plain secret)."""
    return secret_id.kind == "api" or (api and secret_id.kind.startswith("api-"))


def variables_for(secret_id: SecretId, api: bool = False) -> tuple[str, ...]:
    """The environment variables mock mode reads for `secret_id` (`api`: read as an
    exchange's API credentials)."""
    if is_api(secret_id, api):
        prefix = env_name(secret_id.service)
        account = secret_id.kind.removeprefix("api").removeprefix("-")
        suffix = f"_{env_name(account)}" if account else ""
        return (f"{prefix}_API_KEY{suffix}", f"{prefix}_API_SECRET{suffix}")
    parts = (secret_id.env, secret_id.service, secret_id.kind)
    return ("SECRETS_MOCK_" + "_".join(env_name(p) for p in parts),)


def read(
    secret_id: SecretId,
    environ: Mapping[str, str],
    forbidden_envs: frozenset[str],
    *,
    api: bool = False,
) -> str:
    """The secret string for `secret_id`, as the store would hold it (`api`: read as an
    exchange's API credentials).

    Raises
    ------
    SecretsConfigError
        If `secret_id` belongs to an environment mock mode must never serve (prod).
    SecretNotFound
        If a variable is unset or empty.
    """
    if secret_id.env in forbidden_envs:
        raise SecretsConfigError(
            str(secret_id),
            f"mock mode refuses secret {str(secret_id)!r}: '{secret_id.env}' keys come from "
            "AWS Secrets Manager only; unset SECRETS_MOCK_MODE and give the process its IAM role",
        )
    names = variables_for(secret_id, api)
    missing = [name for name in names if not environ.get(name)]
    if missing:
        raise SecretNotFound(
            str(secret_id),
            f"secret {str(secret_id)!r} was not found in mock mode: expected "
            f"{' and '.join(missing)} set in the environment "
            "(SECRETS_MOCK_MODE=1 reads the environment instead of AWS Secrets Manager)",
        )
    if is_api(secret_id, api):
        key, secret = (environ[name] for name in names)
        return json.dumps({"api_key": key, "api_secret": secret})
    return environ[names[0]]

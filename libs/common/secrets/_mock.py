"""Mock mode: secrets read from environment variables, for development without AWS.

`{env}/{exchange}/api` is built from `{EXCHANGE}_API_KEY` and `{EXCHANGE}_API_SECRET`
(`dev/bybit/api` from `BYBIT_API_KEY` / `BYBIT_API_SECRET`), whatever the env segment.
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


def variables_for(secret_id: SecretId) -> tuple[str, ...]:
    """The environment variables mock mode reads for `secret_id`."""
    if secret_id.kind == "api":
        prefix = env_name(secret_id.service)
        return (f"{prefix}_API_KEY", f"{prefix}_API_SECRET")
    parts = (secret_id.env, secret_id.service, secret_id.kind)
    return ("SECRETS_MOCK_" + "_".join(env_name(p) for p in parts),)


def read(secret_id: SecretId, environ: Mapping[str, str], forbidden_envs: frozenset[str]) -> str:
    """The secret string for `secret_id`, as the store would hold it.

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
    names = variables_for(secret_id)
    missing = [name for name in names if not environ.get(name)]
    if missing:
        raise SecretNotFound(
            str(secret_id),
            f"secret {str(secret_id)!r} was not found in mock mode: expected "
            f"{' and '.join(missing)} set in the environment "
            "(SECRETS_MOCK_MODE=1 reads the environment instead of AWS Secrets Manager)",
        )
    if secret_id.kind == "api":
        key, secret = (environ[name] for name in names)
        return json.dumps({"api_key": key, "api_secret": secret})
    return environ[names[0]]

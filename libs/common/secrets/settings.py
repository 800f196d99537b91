"""Secrets client settings, read from `SECRETS_*` environment variables.

There is deliberately no setting for AWS credentials: the process gets its identity from
the standard chain (an IAM role via instance profile, ECS/EKS, or GitHub OIDC).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_principal() -> str:
    """`<program>@<host>[<pid>]`, used when `SECRETS_PRINCIPAL` is not set."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return f"{program}@{socket.gethostname()}[{os.getpid()}]"


class SecretsSettings(BaseSettings):
    """How to reach the secret store. Environment: `SECRETS_MOCK_MODE`, `SECRETS_REGION`, ..."""

    model_config = SettingsConfigDict(env_prefix="SECRETS_", frozen=True, extra="ignore")

    mock_mode: bool = False
    """Read secrets from environment variables instead of AWS (development only)."""
    principal: str = Field(default_factory=default_principal, min_length=1)
    """Who is reading, for the audit log: the service name, e.g. `gateway`."""
    region: str | None = None
    """AWS region; None lets boto3 resolve it (`AWS_DEFAULT_REGION`, then the profile)."""
    endpoint_url: str | None = None
    """Overrides the Secrets Manager endpoint (tests, VPC endpoints)."""
    ttl_s: float = Field(300.0, ge=0)
    """How long a value is served from memory; 0 reads the store on every call."""
    connect_timeout_s: float = Field(5.0, gt=0)
    read_timeout_s: float = Field(10.0, gt=0)
    max_attempts: int = Field(3, ge=1, le=10)
    """Attempts per call, the first included (botocore adaptive retry mode)."""
    mock_forbidden_envs: frozenset[str] = frozenset({"prod"})
    """Environments mock mode refuses to serve: their keys come from the store only."""

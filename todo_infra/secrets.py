"""Kubernetes Secrets of one app namespace, each value from its own sensitive Terraform variable.

Values arrive as `TF_VAR_*` from GitHub environment secrets. The synthesized JSON holds only variable
references; Terraform state does hold the values, which is why the state bucket is private (README).
"""

from __future__ import annotations

from cdktf import Fn, TerraformVariable
from cdktf_cdktf_provider_kubernetes.secret_v1 import SecretV1, SecretV1Metadata
from constructs import Construct

from todo_infra.app_secrets import APP_SECRET_KEYS, APP_SECRETS_NAME, GHCR_PULL_SECRET_NAME, variable_name

GHCR_REGISTRY = "ghcr.io"


def sensitive_variable(scope: Construct, name: str, description: str, *, default: str | None = None) -> str:
    """Declare a sensitive string variable and return its reference."""
    return TerraformVariable(
        scope, name, type="string", sensitive=True, nullable=False, default=default, description=description
    ).string_value


class AppSecrets(Construct):
    """`app-secrets` with exactly the nine keys of seed §3."""

    def __init__(self, scope: Construct, id_: str, *, namespace: str) -> None:
        super().__init__(scope, id_)
        data = {
            # REDIS_PASSWORD is empty for the in-cluster Redis (seed §3); every other key must be given.
            key: sensitive_variable(
                scope, variable_name(key), f"app-secrets {key}", default="" if key == "REDIS_PASSWORD" else None
            )
            for key in APP_SECRET_KEYS
        }
        self.secret = SecretV1(
            self, "secret", metadata=SecretV1Metadata(name=APP_SECRETS_NAME, namespace=namespace), data=data
        )


class GhcrPullSecret(Construct):
    """`ghcr-pull-secret`: a dockerconfigjson for ghcr.io built from a username and a read-only token."""

    def __init__(self, scope: Construct, id_: str, *, namespace: str) -> None:
        super().__init__(scope, id_)
        username = sensitive_variable(scope, "ghcr_username", "GHCR user that owns the pull token")
        token = sensitive_variable(scope, "ghcr_token", "GHCR token with read:packages only")
        auth = Fn.base64encode(Fn.join(":", [username, token]))
        config = Fn.jsonencode({"auths": {GHCR_REGISTRY: {"username": username, "password": token, "auth": auth}}})
        self.secret = SecretV1(
            self,
            "secret",
            metadata=SecretV1Metadata(name=GHCR_PULL_SECRET_NAME, namespace=namespace),
            type="kubernetes.io/dockerconfigjson",
            data={".dockerconfigjson": config},
        )

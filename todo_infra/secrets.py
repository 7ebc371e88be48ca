"""Kubernetes Secrets whose values never reach Terraform state, plan files or outputs.

Every secret input is an ephemeral, sensitive Terraform variable (`TF_VAR_*`, from GitHub environment secrets).
Terraform lets an ephemeral value reach only write-only arguments, so each Secret is written through
`kubernetes_secret_v1.data_wo`, which the provider sends to the cluster and never stores. It sends it only when
`data_wo_revision` changes: that revision is a keyed digest of the values, the key names, the expressions and the
template files they read, computed by dev.py before Terraform runs (todo_infra/secret_revisions.py), so a rotated
secret, a renamed key or an edited template reaches the cluster on the next deploy by itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from cdktf import Fn, TerraformVariable
from cdktf_cdktf_provider_kubernetes.secret_v1 import SecretV1, SecretV1Metadata
from constructs import Construct

from todo_infra.app_secrets import (
    APP_SECRET_KEYS,
    APP_SECRETS_NAME,
    BACKUP_SPACES_SECRET_NAME,
    BACKUP_SPACES_VARIABLES,
    DAPR_APP_TOKEN_KEY,
    DAPR_APP_TOKEN_SEED_MIN_LENGTH,
    DAPR_APP_TOKEN_SEED_VARIABLE,
    GHCR_PULL_SECRET_NAME,
    OPTIONAL_APP_SECRET_KEYS,
    dapr_app_token_secret,
    variable_name,
)
from todo_infra.secret_revisions import DIGEST_KEY_ENV

GHCR_REGISTRY = "ghcr.io"
#: Shortest Redis password accepted (a rotation's second password too, when given): Redis is reachable from every pod
#: its NetworkPolicy admits, and a password is all that stands between them and the state store.
REDIS_PASSWORD_MIN_LENGTH = 16
#: app-secrets keys that are Redis passwords (the second one only during a rotation).
REDIS_PASSWORD_KEYS = ("REDIS_PASSWORD", "REDIS_PASSWORD_ROTATION")


def secret_variable(
    scope: Construct,
    name: str,
    description: str,
    *,
    default: str | None = None,
    min_length: int = 0,
    validation: tuple[str, str] | None = None,
) -> str:
    """Declare an ephemeral, sensitive string variable named `name` and return its reference. With `min_length`, a
    value shorter than that is refused at plan time (an empty one too, unless it is the default); `validation` is a
    (condition, error message) pair Terraform checks at plan time. The messages name the variable and the rule, never
    the value."""
    variable = TerraformVariable(
        scope, name, type="string", sensitive=True, nullable=False, default=default, description=description
    )
    variable.override_logical_id(name)
    variable.add_override("ephemeral", True)
    if min_length:
        empty_allowed = f'var.{name} == "" || ' if default == "" else ""
        variable.add_validation(
            condition=f"${{{empty_allowed}length(var.{name}) >= {min_length}}}",
            error_message=(
                f"{name} must be at least {min_length} characters"
                + (" (or empty: no rotation under way)" if default == "" else "")
                + " (e.g. `openssl rand -hex 32`)."
            ),
        )
    if validation:
        variable.add_validation(condition=validation[0], error_message=validation[1])
    return variable.string_value


def write_only_secret(
    scope: Construct, id_: str, *, name: str, namespace: str, data: Mapping[str, str], type_: str = "Opaque"
) -> SecretV1:
    """A Secret written only through `data_wo`, with a `<name>_revision` variable that dev.py derives.

    Created directly in `scope`, so a Secret keeps the Terraform address it had when it was written through `data`
    (the upgrade in docs/runbooks/deploy.md keeps every Secret in place)."""
    revision = TerraformVariable(
        scope,
        f"{id_}-revision",
        type="number",
        nullable=False,
        description=(
            f"Revision of the Secret {name}: a keyed digest of its values, key names and templates, set by dev.py "
            f"(HMAC under {DIGEST_KEY_ENV}); it changes whenever any of them changes"
        ),
    )
    revision.override_logical_id(revision_variable_name(name))
    revision.add_validation(
        condition=f"${{{revision.fqn} >= 1 && floor({revision.fqn}) == {revision.fqn}}}",
        error_message=f"The revision of {name} is a positive integer that dev.py computes; run through dev.py.",
    )
    return SecretV1(
        scope,
        id_,
        metadata=SecretV1Metadata(name=name, namespace=namespace),
        type=type_,
        data_wo=dict(data),
        data_wo_revision=revision.number_value,
    )


def revision_variable_name(secret_name: str) -> str:
    """app-secrets -> app_secrets_revision."""
    return f"{secret_name.replace('-', '_')}_revision"


class AppSecrets(Construct):
    """`app-secrets` with exactly the keys of the app's secret table (todo_infra/app_secrets.py). Every key must be
    given except the optional ones (empty by default); the Redis passwords are held to a minimum length."""

    def __init__(self, scope: Construct, id_: str, *, namespace: str) -> None:
        super().__init__(scope, id_)
        data = {
            key: secret_variable(
                self,
                variable_name(key),
                f"app-secrets {key}",
                default="" if key in OPTIONAL_APP_SECRET_KEYS else None,
                min_length=REDIS_PASSWORD_MIN_LENGTH if key in REDIS_PASSWORD_KEYS else 0,
            )
            for key in APP_SECRET_KEYS
        }
        self.secret = write_only_secret(self, "secret", name=APP_SECRETS_NAME, namespace=namespace, data=data)


class GhcrPullSecret(Construct):
    """`ghcr-pull-secret`: a dockerconfigjson for ghcr.io built from a username and a read-only token."""

    def __init__(self, scope: Construct, id_: str, *, namespace: str) -> None:
        super().__init__(scope, id_)
        username = secret_variable(self, "ghcr_username", "GHCR user that owns the pull token")
        token = secret_variable(self, "ghcr_token", "GHCR token with read:packages only")
        auth = Fn.base64encode(Fn.join(":", [username, token]))
        config = Fn.jsonencode({"auths": {GHCR_REGISTRY: {"username": username, "password": token, "auth": auth}}})
        self.secret = write_only_secret(
            self,
            "secret",
            name=GHCR_PULL_SECRET_NAME,
            namespace=namespace,
            type_="kubernetes.io/dockerconfigjson",
            data={".dockerconfigjson": config},
        )


class BackupSpacesSecret(Construct):
    """`redis-backup-spaces`: the Spaces key the Redis backup job copies backups off the cluster with (a key
    limited to the backup bucket, read/write: the job writes and, on restore, reads; it deletes nothing there)."""

    def __init__(self, scope: Construct, id_: str, *, namespace: str) -> None:
        super().__init__(scope, id_)
        data = {
            key: secret_variable(self, variable, f"{BACKUP_SPACES_SECRET_NAME} {key}: Spaces key of the backup bucket")
            for key, variable in BACKUP_SPACES_VARIABLES.items()
        }
        self.secret = write_only_secret(self, "secret", name=BACKUP_SPACES_SECRET_NAME, namespace=namespace, data=data)


def dapr_app_token_expression(app_id: str, seed: str) -> str:
    """One app-id's token: the SHA-256 (hex) of `dapr-app-token/<app-id>/<seed>`, computed by Terraform from the
    ephemeral seed, so it is ephemeral too and reaches only `data_wo`. Knowing one app's token tells nothing about the
    seed or another app's token (a preimage of SHA-256 would be needed)."""
    return Fn.sha256(f"dapr-app-token/{app_id}/{seed}")


class DaprAppTokens(Construct):
    """`dapr-app-token-<app-id>` (key `token`) for each Dapr app-id: what its sidecar sends as `dapr-api-token` on every
    call to its app, and what the app checks (docs/architecture.md, "Dapr sidecars"). One Secret per app-id, so an app
    holds only its own token and cannot pose as another app's sidecar. All derive from one seed per environment
    (GitHub environment secret DAPR_APP_TOKEN_SEED); a new seed rotates every token, and the new revisions roll the
    pods that read them."""

    def __init__(self, scope: Construct, id_: str, *, namespace: str, app_ids: tuple[str, ...]) -> None:
        super().__init__(scope, id_)
        seed = secret_variable(
            self,
            DAPR_APP_TOKEN_SEED_VARIABLE,
            "Seed of the environment's Dapr app API tokens (one token per app-id is derived from it)",
            min_length=DAPR_APP_TOKEN_SEED_MIN_LENGTH,
        )
        self.secrets = [
            write_only_secret(
                self,
                app_id,
                name=dapr_app_token_secret(app_id),
                namespace=namespace,
                data={DAPR_APP_TOKEN_KEY: dapr_app_token_expression(app_id, seed)},
            )
            for app_id in app_ids
        ]

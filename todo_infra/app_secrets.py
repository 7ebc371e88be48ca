"""The keys of the per-namespace `app-secrets` Secret (docs/architecture.md, "Secrets").

This tuple is the single source of truth: the app stacks create one sensitive Terraform variable per key,
and the chart tests check every `secretKeyRef` against it.
"""

from __future__ import annotations

APP_SECRETS_NAME = "app-secrets"
GHCR_PULL_SECRET_NAME = "ghcr-pull-secret"

APP_SECRET_KEYS: tuple[str, ...] = (
    "DATABASE_URL",
    "BETTER_AUTH_SECRET",
    "OPENAI_API_KEY",
    "REDPANDA_BROKERS",
    "REDPANDA_USERNAME",
    "REDPANDA_PASSWORD",
    "REDPANDA_SASL_MECHANISM",
    "REDIS_PASSWORD",
    "FRONTEND_DATABASE_URL",
    "REDIS_PASSWORD_ROTATION",
)

#: Keys that may be empty: a second Redis password, only while a rotation is under way (docs/runbooks/deploy.md,
#: "Rotate an app secret").
OPTIONAL_APP_SECRET_KEYS: tuple[str, ...] = ("REDIS_PASSWORD_ROTATION",)


#: The Spaces key of the Redis backups' offsite copy (chart: redis.backup.offsite.secretName): Secret key -> the
#: Terraform variable (and `TF_VAR_*` suffix) that feeds it.
BACKUP_SPACES_SECRET_NAME = "redis-backup-spaces"
BACKUP_SPACES_VARIABLES: dict[str, str] = {
    "ACCESS_KEY_ID": "backup_spaces_access_key_id",
    "SECRET_ACCESS_KEY": "backup_spaces_secret_access_key",
}

#: Each Dapr app-id's app API token (docs/architecture.md, "Dapr sidecars"): the Secret <prefix><app-id>, key `token`
#: (the only key the Dapr injector reads for dapr.io/app-token-secret), written by the app stack from one seed per
#: environment (todo_infra/secrets.py DaprAppTokens). The chart names it with the same prefix (dapr.appToken).
DAPR_APP_TOKEN_PREFIX = "dapr-app-token-"
DAPR_APP_TOKEN_KEY = "token"
#: The secret variable (and `TF_VAR_*` suffix; GitHub environment secret DAPR_APP_TOKEN_SEED) the tokens derive from.
DAPR_APP_TOKEN_SEED_VARIABLE = "dapr_app_token_seed"
#: Shortest seed accepted, as for the Redis password (and the length of the pull-request plans' public placeholder,
#: `plan-placeholder`): generate it with `openssl rand -hex 32`.
DAPR_APP_TOKEN_SEED_MIN_LENGTH = 16

#: The Secrets the app stack writes, each with its own revision (todo_infra/secret_revisions.py) that the chart's pod
#: templates carry (global.secretRevisions).
#: The app-token Secrets are not listed here: they follow the chart's Dapr app-ids (todo_infra/release.py
#: app_stack_secrets()).
APP_STACK_SECRETS: tuple[str, ...] = (APP_SECRETS_NAME, GHCR_PULL_SECRET_NAME, BACKUP_SPACES_SECRET_NAME)


def dapr_app_token_secret(app_id: str) -> str:
    """The Secret holding one Dapr app-id's app API token: backend -> dapr-app-token-backend."""
    return f"{DAPR_APP_TOKEN_PREFIX}{app_id}"


def variable_name(key: str) -> str:
    """Terraform variable (and `TF_VAR_*` suffix) that feeds one secret key: DATABASE_URL → database_url."""
    return key.lower()

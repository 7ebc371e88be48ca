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

#: The Secrets the app stack writes, each with its own revision (todo_infra/secret_revisions.py) that the chart's pod
#: templates carry (global.secretRevisions).
APP_STACK_SECRETS: tuple[str, ...] = (APP_SECRETS_NAME, GHCR_PULL_SECRET_NAME, BACKUP_SPACES_SECRET_NAME)


def variable_name(key: str) -> str:
    """Terraform variable (and `TF_VAR_*` suffix) that feeds one secret key: DATABASE_URL → database_url."""
    return key.lower()

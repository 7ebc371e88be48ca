"""Which Spaces key may reach which bucket, with which permission: the one table, derived from the settings.

Spaces keys are limited per bucket, not per prefix (a grant names a bucket and `read`, `readwrite` or `fullaccess`:
https://docs.digitalocean.com/reference/doctl/reference/spaces/keys/create/), so the buckets are cut along the
credentials (todo_infra/settings.py derives their names) and each GitHub environment holds one key whose grants are
exactly the buckets its jobs touch:

- a deploying environment (`production`, `staging`) — readwrite on the state bucket of every stack it deploys: the
  shared stacks are deployed from `production` (deploy-infrastructure.yml), `app-<env>` from `<env>`;
- its plan environment (`<env>-plan`, pull-request plans of the same stacks) — read on the same buckets;
- `drift` (the nightly refresh-only plan of the shared stacks, drift.yml) — read on the shared state bucket: refreshing
  an app stack would read its Secrets, so the nightly run leaves the app stacks alone;
- each app environment's backup key (`BACKUP_SPACES_*`, the Redis backup job) — readwrite on that environment's backup
  bucket only;
- the operator's key (held by no GitHub environment, created for a bootstrap or an upgrade and deleted afterwards) —
  readwrite on every bucket, for `python3 dev.py state-bucket --enable`.

The rule this table keeps (tested): a key of `staging` or `staging-plan` reaches only staging's own buckets, so a
credential of the environment that deploys every merge without a reviewer can neither read nor change anything of
production or of the shared stacks. The bootstrap guide's `doctl spaces keys create` commands are checked against this
table (tests/docs/test_spaces_grants.py). Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass

from todo_infra.contracts import CLUSTER_STACK, PLATFORM_STACK, stack_environment
from todo_infra.settings import Settings

READ = "read"
READWRITE = "readwrite"
#: The GitHub environment whose deploys write the shared stacks' state (deploy-infrastructure.yml).
SHARED_STACKS_ENVIRONMENT = "production"
#: The nightly drift check's environment (drift.yml): it plans the shared stacks, read only.
DRIFT_ENVIRONMENT = "drift"
PLAN_SUFFIX = "-plan"
#: The operator's key is held by no GitHub environment.
OPERATOR = ""
#: The GitHub secrets each kind of key is stored in.
STATE_SECRETS = ("SPACES_ACCESS_KEY_ID", "SPACES_SECRET_ACCESS_KEY")
BACKUP_SECRETS = ("BACKUP_SPACES_ACCESS_KEY_ID", "BACKUP_SPACES_SECRET_ACCESS_KEY")


@dataclass(frozen=True, order=True)
class Grant:
    bucket: str
    permission: str

    def __str__(self) -> str:
        """As doctl's `--grants` takes one grant."""
        return f"bucket={self.bucket};permission={self.permission}"


@dataclass(frozen=True)
class SpacesKey:
    """One Spaces access key: its name, the GitHub environment and secrets that hold it (none: the operator's), and
    its grants."""

    name: str
    environment: str
    secrets: tuple[str, str]
    grants: tuple[Grant, ...]

    @property
    def buckets(self) -> frozenset[str]:
        return frozenset(grant.bucket for grant in self.grants)

    def doctl(self) -> str:
        """The command that creates it (doctl's --grants: a comma-separated list of `bucket=...;permission=...`)."""
        return f"doctl spaces keys create {self.name} --grants '{','.join(str(grant) for grant in self.grants)}'"


def deploying_environment(stack_id: str) -> str:
    """The GitHub environment whose deploy writes the stack's state."""
    return stack_environment(stack_id) or SHARED_STACKS_ENVIRONMENT


def spaces_keys(settings: Settings) -> tuple[SpacesKey, ...]:
    """Every Spaces key of this configuration, with exactly the grants its jobs need."""
    state = settings.state
    deploys: dict[str, list[str]] = {}
    for stack_id in settings.stack_ids:
        buckets = deploys.setdefault(deploying_environment(stack_id), [])
        if state.bucket_for(stack_id) not in buckets:
            buckets.append(state.bucket_for(stack_id))
    keys = []
    for environment, buckets in deploys.items():
        keys.append(
            SpacesKey(
                f"{settings.project}-{environment}-state",
                environment,
                STATE_SECRETS,
                tuple(Grant(bucket, READWRITE) for bucket in buckets),
            )
        )
        keys.append(
            SpacesKey(
                f"{settings.project}-{environment}{PLAN_SUFFIX}-state",
                f"{environment}{PLAN_SUFFIX}",
                STATE_SECRETS,
                tuple(Grant(bucket, READ) for bucket in buckets),
            )
        )
    every_state_bucket = dict.fromkeys(state.bucket_for(stack_id) for stack_id in settings.stack_ids)
    drifted = dict.fromkeys(state.bucket_for(stack_id) for stack_id in (CLUSTER_STACK, PLATFORM_STACK))
    keys.append(
        SpacesKey(
            f"{settings.project}-{DRIFT_ENVIRONMENT}-state",
            DRIFT_ENVIRONMENT,
            STATE_SECRETS,
            tuple(Grant(bucket, READ) for bucket in drifted),
        )
    )
    backups = [settings.backup.bucket_for(env.name) for env in settings.environments]
    keys += [
        SpacesKey(f"{settings.project}-{env.name}-backups", env.name, BACKUP_SECRETS, (Grant(bucket, READWRITE),))
        for env, bucket in zip(settings.environments, backups, strict=True)
    ]
    keys.append(
        SpacesKey(
            f"{settings.project}-operator",
            OPERATOR,
            ("", ""),
            tuple(Grant(bucket, READWRITE) for bucket in [*every_state_bucket, *backups]),
        )
    )
    return tuple(keys)


def own_buckets(settings: Settings, environment: str) -> frozenset[str]:
    """An app environment's own buckets: its app stack's state bucket and its backup bucket."""
    env = next(env for env in settings.environments if env.name == environment)
    return frozenset({settings.state.bucket_for(env.stack_id), settings.backup.bucket_for(env.name)})


def isolation_problems(settings: Settings, keys: tuple[SpacesKey, ...]) -> list[str]:
    """What breaks the rule: a key of an environment that deploys no shared stack (staging, and its plans) reaching
    a bucket not its own; a plan or drift key that may write."""
    problems = []
    for env in settings.environments:
        if env.name == SHARED_STACKS_ENVIRONMENT:
            continue
        allowed = own_buckets(settings, env.name)
        for key in keys:
            if key.environment in (env.name, f"{env.name}{PLAN_SUFFIX}"):
                problems += [
                    f"key {key.name} ({key.environment}) reaches {bucket}, which is not one of {env.name}'s buckets"
                    for bucket in sorted(key.buckets - allowed)
                ]
    for key in keys:
        if key.environment.endswith(PLAN_SUFFIX) or key.environment == DRIFT_ENVIRONMENT:
            problems += [
                f"key {key.name} ({key.environment}) may write {grant.bucket}: plan and drift keys only read"
                for grant in key.grants
                if grant.permission != READ
            ]
    return problems

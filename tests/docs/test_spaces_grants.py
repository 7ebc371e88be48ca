"""The Spaces keys: the bootstrap guide's `doctl spaces keys create` commands grant exactly what the one table in
code says (todo_infra/spaces_grants.py), the table covers every bucket the stacks' backends and the chart's backup
settings use, and no key of staging reaches a bucket of production or of the shared stacks.

The guide's commands are parsed as doctl parses them (commands/spaces_keys.go: `--grants` is a string slice, so a
comma-separated list; each grant is `key=value` pairs split on `;`, keys `bucket` and `permission`, permissions
`read`, `readwrite`, `fullaccess`; anything else is refused). What Spaces then enforces cannot be tested here.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest

from main import embedded_context
from tests.docs.runbook_checks import BOOTSTRAP_GUIDE, REPO_ROOT, parse
from tests.synth import Synth
from todo_infra.settings import Settings, load_settings
from todo_infra.spaces_grants import (
    BACKUP_SECRETS,
    DRIFT_ENVIRONMENT,
    OPERATOR,
    PLAN_SUFFIX,
    READ,
    READWRITE,
    Grant,
    SpacesKey,
    deploying_environment,
    isolation_problems,
    spaces_keys,
)

DOCTL_PERMISSIONS = ("read", "readwrite", "fullaccess")
_KEY_TABLE_HEADER = "| key | GitHub environment | stored as | used by |"
_CELL_CODE = re.compile(r"`([^`]+)`")


@pytest.fixture(scope="module")
def settings() -> Settings:
    """The default configuration (cdktf.json, no overrides): the guide's names are its names."""
    return load_settings(embedded_context(), {})


@pytest.fixture(scope="module")
def guide() -> str:
    return (REPO_ROOT / BOOTSTRAP_GUIDE).read_text()


# --- the guide, read as doctl and a reader read it ------------------------------------------------------------------


def _doctl_grant(text: str) -> Grant:
    """One grant, as doctl's parseGrant reads it."""
    found = {"bucket": "", "permission": ""}
    for pair in text.removesuffix(";").split(";"):
        key, separator, value = pair.partition("=")
        if not separator or "=" in value:
            raise ValueError(f"a grant must be in the format 'key=value': {pair!r}")
        if key not in found:
            raise ValueError(f"unsupported grant argument {key!r}")
        if key == "permission" and value not in DOCTL_PERMISSIONS:
            raise ValueError(f"unsupported permission {value!r}")
        found[key] = value
    return Grant(found["bucket"], found["permission"])


def doctl_keys(text: str) -> dict[str, tuple[Grant, ...]]:
    """key name -> grants, from every `doctl spaces keys create` in the guide's code blocks."""
    keys: dict[str, tuple[Grant, ...]] = {}
    for block in parse(text).code_blocks:
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:4] != ["doctl", "spaces", "keys", "create"]:
                continue
            name, options = words[4], words[5:]
            grants: list[Grant] = []
            while options:
                option = options.pop(0)
                flag, _, value = option.partition("=")
                if flag not in ("--grants", "-g"):
                    raise ValueError(f"doctl spaces keys create {name}: unknown option {option!r}")
                value = value or options.pop(0)
                grants += [_doctl_grant(item) for item in value.split(",")]
            if name in keys:
                raise ValueError(f"key {name} is created twice")
            keys[name] = tuple(grants)
    return keys


def key_table(text: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """key name -> (GitHub environment, secret names), from the guide's table of keys ("none": no environment)."""
    rows: dict[str, tuple[str, tuple[str, ...]]] = {}
    lines = [line.strip() for line in text.splitlines()]
    start = lines.index(_KEY_TABLE_HEADER) + 2
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        name, environment, stored, _ = (cell.strip() for cell in line.strip("|").split("|"))
        environments = _CELL_CODE.findall(environment)
        rows[_CELL_CODE.findall(name)[0]] = (
            environments[0] if environments else OPERATOR,
            tuple(_CELL_CODE.findall(stored)),
        )
    return rows


def grant_problems(text: str, settings: Settings) -> list[str]:
    """Where the guide differs from the table in code, and any key of the guide that breaks the isolation rule."""
    expected = {key.name: key for key in spaces_keys(settings)}
    try:
        created = doctl_keys(text)
    except ValueError as error:
        return [f"{BOOTSTRAP_GUIDE}: doctl would refuse: {error}"]
    table = key_table(text)
    problems = [
        f"{BOOTSTRAP_GUIDE}: creates key {name}, which the table in code lacks"
        for name in created.keys() - expected.keys()
    ]
    problems += [f"{BOOTSTRAP_GUIDE}: does not create key {name}" for name in expected.keys() - created.keys()]
    for name in sorted(created.keys() & expected.keys()):
        if sorted(created[name]) != sorted(expected[name].grants):
            shown = ", ".join(map(str, created[name]))
            problems.append(f"{BOOTSTRAP_GUIDE}: key {name} grants {shown}; the table: {expected[name].doctl()}")
    for name, key in expected.items():
        secrets = tuple(secret for secret in key.secrets if secret) or ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        if table.get(name) != (key.environment, secrets):
            problems.append(
                f"{BOOTSTRAP_GUIDE}: the key table says {name} is {table.get(name)}, not {(key.environment, secrets)}"
            )
    as_written = tuple(
        SpacesKey(name, table.get(name, ("?", ()))[0], ("", ""), grants) for name, grants in created.items()
    )
    return problems + [f"{BOOTSTRAP_GUIDE}: {problem}" for problem in isolation_problems(settings, as_written)]


# --- the real guide -------------------------------------------------------------------------------------------------


def test_the_guide_creates_exactly_the_keys_of_the_table(guide: str, settings: Settings) -> None:
    assert grant_problems(guide, settings) == []
    assert len(doctl_keys(guide)) == len(spaces_keys(settings)) == 8


def test_the_table_for_the_default_configuration(settings: Settings) -> None:
    """The table itself, spelled out once (the report of the change quotes it)."""
    table = {
        key.name: (key.environment, {(g.bucket, g.permission) for g in key.grants}) for key in spaces_keys(settings)
    }
    state, staging, production = (
        "hackathon-todo-tfstate",
        "hackathon-todo-tfstate-staging",
        "hackathon-todo-tfstate-production",
    )
    assert table == {
        "hackathon-todo-production-state": ("production", {(state, READWRITE), (production, READWRITE)}),
        "hackathon-todo-production-plan-state": ("production-plan", {(state, READ), (production, READ)}),
        "hackathon-todo-staging-state": ("staging", {(staging, READWRITE)}),
        "hackathon-todo-staging-plan-state": ("staging-plan", {(staging, READ)}),
        "hackathon-todo-drift-state": ("drift", {(state, READ)}),
        "hackathon-todo-staging-backups": ("staging", {("hackathon-todo-backups-staging", READWRITE)}),
        "hackathon-todo-production-backups": ("production", {("hackathon-todo-backups-production", READWRITE)}),
        "hackathon-todo-operator": (
            OPERATOR,
            {
                (bucket, READWRITE)
                for bucket in (
                    state,
                    staging,
                    production,
                    "hackathon-todo-backups-staging",
                    "hackathon-todo-backups-production",
                )
            },
        ),
    }


# --- the table against what the stacks and the chart use -----------------------------------------------------------


def used_buckets(synth: Synth) -> dict[str, tuple[str, str]]:
    """bucket -> (what uses it, "state" or "backups"), from the synthesized backends and the releases' set keys."""
    used: dict[str, tuple[str, str]] = {}
    for stack_id, stack in synth.stacks.items():
        used.setdefault(stack["terraform"]["backend"]["s3"]["bucket"], (stack_id, "state"))
        for release in stack.get("resource", {}).get("helm_release", {}).values():
            for item in release.get("set", []):
                if item["name"] == "redis.backup.offsite.bucket":
                    used[item["value"]] = (stack_id, "backups")
    return used


def test_the_table_covers_every_bucket_the_stacks_and_the_chart_use(synth: Synth, settings: Settings) -> None:
    keys = spaces_keys(settings)
    used = used_buckets(synth)
    assert len(used) == 5
    granted = {grant.bucket for key in keys for grant in key.grants}
    assert granted == set(used), "a key reaches a bucket nothing uses, or a used bucket has no key"

    def holders(bucket: str, permission: str) -> set[str]:
        return {key.environment for key in keys if Grant(bucket, permission) in key.grants}

    for stack_id, stack in synth.stacks.items():
        bucket = stack["terraform"]["backend"]["s3"]["bucket"]
        environment = deploying_environment(stack_id)
        assert environment in holders(bucket, READWRITE), f"{stack_id}: its deploy cannot write {bucket}"
        readers = {f"{environment}{PLAN_SUFFIX}"} | (
            {DRIFT_ENVIRONMENT} if stack_id in ("cluster", "platform") else set()
        )
        assert holders(bucket, READ) == readers, stack_id
    for bucket, (stack_id, kind) in used.items():
        if kind != "backups":
            continue
        environment = deploying_environment(stack_id)
        (key,) = (key for key in keys if key.secrets == BACKUP_SECRETS and key.environment == environment)
        assert key.grants == (Grant(bucket, READWRITE),), f"{stack_id}'s backup job needs exactly {bucket}"


def test_no_staging_key_reaches_a_production_or_shared_bucket(synth: Synth, settings: Settings) -> None:
    used = used_buckets(synth)
    staging_buckets = {bucket for bucket, (stack_id, _) in used.items() if stack_id == "app-staging"}
    assert staging_buckets == {"hackathon-todo-tfstate-staging", "hackathon-todo-backups-staging"}
    for key in spaces_keys(settings):
        if key.environment in ("staging", f"staging{PLAN_SUFFIX}"):
            assert key.buckets <= staging_buckets, key.name
    assert isolation_problems(settings, spaces_keys(settings)) == []


def test_the_rule_holds_for_another_configuration_too() -> None:
    other = load_settings(embedded_context(), {"TODO_STATE_BUCKET": "acme-state", "TODO_BACKUP_BUCKET": "acme-backups"})
    keys = {key.name: key for key in spaces_keys(other)}
    assert keys["hackathon-todo-staging-state"].buckets == {"acme-state-staging"}
    assert keys["hackathon-todo-staging-backups"].buckets == {"acme-backups-staging"}
    assert isolation_problems(other, tuple(keys.values())) == []


# --- seeded failures: the checks find a guide or a table that drifted -----------------------------------------------

STAGING_GRANT = "--grants 'bucket=hackathon-todo-tfstate-staging;permission=readwrite'"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            STAGING_GRANT,
            "--grants 'bucket=hackathon-todo-tfstate-production;permission=readwrite'",
            "key hackathon-todo-staging-state (staging) reaches hackathon-todo-tfstate-production, which is not one "
            "of staging's buckets",
            id="staging's key granted production's state bucket",
        ),
        pytest.param(
            STAGING_GRANT,
            "--grants 'bucket=hackathon-todo-tfstate-staging;permission=readwrite,"
            "bucket=hackathon-todo-tfstate;permission=read'",
            "key hackathon-todo-staging-state (staging) reaches hackathon-todo-tfstate, which is not one of staging's",
            id="staging's key may read the shared bucket",
        ),
        pytest.param(
            "--grants 'bucket=hackathon-todo-backups-staging;permission=readwrite'",
            "--grants 'bucket=hackathon-todo-backups-production;permission=readwrite'",
            "key hackathon-todo-staging-backups (staging) reaches hackathon-todo-backups-production",
            id="staging's backup key granted production's backups",
        ),
        pytest.param(
            "--grants 'bucket=hackathon-todo-tfstate-staging;permission=read'",
            "--grants 'bucket=hackathon-todo-tfstate-staging;permission=readwrite'",
            "key hackathon-todo-staging-plan-state (staging-plan) may write hackathon-todo-tfstate-staging: plan and "
            "drift keys only read",
            id="a plan key that may write",
        ),
        pytest.param(
            "--grants 'bucket=hackathon-todo-tfstate-staging;permission=read'",
            "--grants 'bucket=hackathon-todo-tfstate-staging;permission=write'",
            "doctl would refuse: unsupported permission 'write'",
            id="a permission doctl does not know",
        ),
        pytest.param(
            "doctl spaces keys create hackathon-todo-production-backups",
            "doctl spaces keys create hackathon-todo-prod-backups",
            "does not create key hackathon-todo-production-backups",
            id="a key renamed",
        ),
        pytest.param(
            "| `hackathon-todo-staging-backups` | `staging` |",
            "| `hackathon-todo-staging-backups` | `production` |",
            "the key table says hackathon-todo-staging-backups is ('production'",
            id="a key stored in the wrong environment",
        ),
    ],
)
def test_seeded_a_drifted_guide_is_caught(guide: str, settings: Settings, old: str, new: str, expected: str) -> None:
    assert guide.count(old) == 1, f"the guide no longer has {old!r} exactly once: update the case"
    problems = grant_problems(guide.replace(old, new), settings)
    assert any(expected in problem for problem in problems), problems


def test_seeded_a_table_that_gives_staging_production_is_caught(settings: Settings) -> None:
    keys: list[Any] = list(spaces_keys(settings))
    index = next(i for i, key in enumerate(keys) if key.name == "hackathon-todo-staging-state")
    keys[index] = SpacesKey(
        keys[index].name,
        keys[index].environment,
        keys[index].secrets,
        (*keys[index].grants, Grant("hackathon-todo-backups-production", READ)),
    )
    assert isolation_problems(settings, tuple(keys)) == [
        "key hackathon-todo-staging-state (staging) reaches hackathon-todo-backups-production, which is not one of "
        "staging's buckets"
    ]

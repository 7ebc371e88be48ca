"""Revisions of the write-only secrets (todo_infra/secret_revisions.py): derived from the synthesized stacks, keyed,
changed by exactly the secrets they carry and by everything else the provider cannot diff (the write-only map's key
names, its expression text, the template files it reads), and refused without a proper key — through dev.py as the
workflows call it.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.synth import Synth
from todo_infra.app_secrets import (
    APP_SECRET_KEYS,
    DAPR_APP_TOKEN_SEED_VARIABLE,
    dapr_app_token_secret,
    variable_name,
)
from todo_infra.monitoring import ALERTMANAGER_CONFIG_KEY, ALERTMANAGER_TEMPLATE
from todo_infra.release import dapr_app_ids
from todo_infra.secret_revisions import (
    DigestKeyError,
    digest_key,
    files_read,
    revision,
    revision_inputs,
    revisions,
    write_only_arguments,
)
from todo_infra.secrets import revision_variable_name

ROOT = Path(__file__).resolve().parent.parent
KEY = {"SECRETS_DIGEST_KEY": "0123456789abcdef" * 4}


def every_secret(synth: Synth, value: str = "v") -> dict[str, str]:
    names = {n for stack in synth.stacks.values() for n, v in stack.get("variable", {}).items() if v.get("sensitive")}
    return {f"TF_VAR_{name}": f"{value}-{name}" for name in names}


def test_each_revision_carries_exactly_the_secrets_of_its_secret(synth: Synth) -> None:
    assert revision_inputs(synth.stacks["app-staging"]) == {
        "app_secrets_revision": tuple(sorted(variable_name(key) for key in APP_SECRET_KEYS)),
        "ghcr_pull_secret_revision": ("ghcr_token", "ghcr_username"),
        "redis_backup_spaces_revision": ("backup_spaces_access_key_id", "backup_spaces_secret_access_key"),
        **{
            revision_variable_name(dapr_app_token_secret(app_id)): (DAPR_APP_TOKEN_SEED_VARIABLE,)
            for app_id in dapr_app_ids()
        },
    }
    assert revision_inputs(synth.stacks["platform"]) == {
        "grafana_admin_revision": ("grafana_admin_password",),
        "alertmanager_config_revision": ("alertmanager_slack_webhook_url",),
    }
    assert revision_inputs(synth.stacks["cluster"]) == {}


def test_a_rotated_secret_changes_only_the_revision_of_its_secret(synth: Synth) -> None:
    stack = synth.stacks["app-production"]
    before = revisions(stack, every_secret(synth) | KEY)
    rotated = every_secret(synth) | KEY | {"TF_VAR_ghcr_token": "a-new-token"}
    after = revisions(stack, rotated)
    assert before["app_secrets_revision"] == after["app_secrets_revision"]
    assert before["ghcr_pull_secret_revision"] != after["ghcr_pull_secret_revision"]
    assert revisions(stack, every_secret(synth) | KEY) == before, "the same values give the same revisions"


def values_only(stack: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, int]:
    """The derivation before issue 21 (item 5), kept as the seeded failure: the HMAC of the carried variables'
    names and values only, blind to the map's keys, its expressions and the files they read."""
    found = {}
    for name, carried in revision_inputs(stack).items():
        message = json.dumps(sorted((v, environ[f"TF_VAR_{v}"]) for v in carried), separators=(",", ":")).encode()
        digest = hmac.new(digest_key(environ), message, hashlib.sha256).digest()
        found[name] = int.from_bytes(digest, "big") >> (256 - 52) | 1
    return found


@pytest.fixture
def platform_copy(synth: Synth, tmp_path: Path) -> Path:
    """A copy of the synthesized platform stack's directory (cdk.tf.json and its assets), free to edit."""
    return Path(shutil.copytree(synth.workdir("platform"), tmp_path / "platform"))


def alertmanager_template(workdir: Path, stack: Mapping[str, Any]) -> Path:
    (path,) = files_read(write_only_arguments(stack)["alertmanager_config_revision"])
    return workdir / path


def test_the_alertmanager_template_reaches_the_revision_as_the_file_terraform_renders(synth: Synth) -> None:
    """The template reaches the stack as a cdktf asset, read by templatefile() from the stack's directory: that
    file, byte for byte the one in k8s/addons/, is what the revision reads."""
    stack = synth.stacks["platform"]
    expression = write_only_arguments(stack)["alertmanager_config_revision"][ALERTMANAGER_CONFIG_KEY]
    assert expression.startswith('${templatefile("assets/')
    assert alertmanager_template(synth.workdir("platform"), stack).read_bytes() == ALERTMANAGER_TEMPLATE.read_bytes()


def test_an_edited_alertmanager_template_changes_its_revision_and_only_its(synth: Synth, platform_copy: Path) -> None:
    """Seeded failure: the old derivation (values only) leaves the revision unchanged, so the new routing would never
    reach the cluster. The edit keeps the asset's path (and the expression text): only the file's content differs."""
    stack = json.loads((platform_copy / "cdk.tf.json").read_text())
    env = every_secret(synth) | KEY
    before, old_before = revisions(stack, env, platform_copy), values_only(stack, env)
    template = alertmanager_template(platform_copy, stack)
    template.write_text(template.read_text().replace('channel: "#todo-alerts"', 'channel: "#todo-pager"'))
    after, old_after = revisions(stack, env, platform_copy), values_only(stack, env)
    assert after["alertmanager_config_revision"] != before["alertmanager_config_revision"]
    assert after["grafana_admin_revision"] == before["grafana_admin_revision"]
    assert old_after == old_before, "seeded: values only would have missed the edited receiver"


def test_a_renamed_key_of_a_write_only_map_changes_its_revision_and_only_its(synth: Synth) -> None:
    """DATABASE_URL -> DB_URL fed by the same variable: the same values, another Secret. Seeded failure: the old
    derivation leaves the revision unchanged, so the Secret would keep DATABASE_URL and lack DB_URL."""
    stack = synth.stacks["app-staging"]
    env = every_secret(synth) | KEY
    renamed = copy.deepcopy(stack)
    (secret,) = [r for r in renamed["resource"]["kubernetes_secret_v1"].values() if "DATABASE_URL" in r["data_wo"]]
    secret["data_wo"]["DB_URL"] = secret["data_wo"].pop("DATABASE_URL")
    before, after = revisions(stack, env), revisions(renamed, env)
    assert after["app_secrets_revision"] != before["app_secrets_revision"]
    assert {k: v for k, v in after.items() if k != "app_secrets_revision"} == {
        k: v for k, v in before.items() if k != "app_secrets_revision"
    }
    assert values_only(renamed, env) == values_only(stack, env), "seeded: values only would have missed the rename"


def test_an_edited_expression_changes_its_revision(synth: Synth) -> None:
    """The expression text is covered too: the same variables in another dockerconfigjson are another Secret."""
    stack = synth.stacks["app-staging"]
    env = every_secret(synth) | KEY
    edited = copy.deepcopy(stack)
    (secret,) = [r for r in edited["resource"]["kubernetes_secret_v1"].values() if ".dockerconfigjson" in r["data_wo"]]
    secret["data_wo"][".dockerconfigjson"] = secret["data_wo"][".dockerconfigjson"].replace(
        '"ghcr.io"', '"ghcr.example"'
    )
    assert revisions(edited, env)["ghcr_pull_secret_revision"] != revisions(stack, env)["ghcr_pull_secret_revision"]
    assert values_only(edited, env) == values_only(stack, env), "seeded: values only would have missed the edit"


def test_the_same_inputs_give_the_same_revisions_in_any_order(synth: Synth, platform_copy: Path) -> None:
    stack = json.loads((platform_copy / "cdk.tf.json").read_text())
    env = every_secret(synth) | KEY
    first = revisions(stack, env, platform_copy)
    reordered = copy.deepcopy(stack)
    for resource in reordered["resource"]["kubernetes_secret_v1"].values():
        resource["data_wo"] = dict(reversed(resource["data_wo"].items()))
    assert revisions(reordered, dict(reversed(env.items())), platform_copy) == first
    assert revisions(stack, env, synth.workdir("platform")) == first, "another copy of the same synthesis"
    app = synth.stacks["app-staging"]
    shuffled = copy.deepcopy(app)
    for resource in shuffled["resource"]["kubernetes_secret_v1"].values():
        resource["data_wo"] = dict(reversed(resource["data_wo"].items()))
    assert revisions(shuffled, env) == revisions(app, env)
    assert revision(b"k" * 32, {"a": "1", "b": "2"}) == revision(b"k" * 32, {"b": "2", "a": "1"})


def test_a_file_the_revision_cannot_read_is_refused_without_a_value(synth: Synth, platform_copy: Path) -> None:
    stack = json.loads((platform_copy / "cdk.tf.json").read_text())
    env = every_secret(synth) | KEY
    with pytest.raises(ValueError, match="the stack's directory is needed"):
        revisions(stack, env)
    alertmanager_template(platform_copy, stack).unlink()
    with pytest.raises(ValueError, match="synthesize first") as missing:
        revisions(stack, env, platform_copy)
    computed = {"data_wo": {"x": "${file(var.grafana_admin_password)}"}, "data_wo_revision": "${var.r}"}
    with pytest.raises(ValueError, match="not a plain string literal") as dynamic:
        revisions({"resource": {"kubernetes_secret_v1": {"s": computed}}}, env)
    reads = {"data_wo": {"x": '${templatefile("t.tpl", {})}'}, "data_wo_revision": "${var.r}"}
    (platform_copy / "t.tpl").write_text('url: ${file("webhook.txt")}\n')
    with pytest.raises(ValueError, match="reads a file itself") as nested:
        revisions({"resource": {"kubernetes_secret_v1": {"s": reads}}}, env, platform_copy)
    for refusal in (missing, dynamic, nested):
        assert not any(value in str(refusal.value) for value in env.values())


def test_revisions_are_keyed_positive_and_fit_a_json_number() -> None:
    values = {"database_url": "postgres://u:p@h/db"}
    one, other = revision(b"k" * 32, values), revision(b"x" * 32, values)
    assert one != other, "without the key a revision says nothing about the values"
    assert 1 <= one < 2**52 and 1 <= other < 2**52
    assert revision(b"k" * 32, {"database_url": "postgres://u:q@h/db"}) != one


def test_a_secret_left_out_leaves_its_revision_out_and_defaults_count(synth: Synth) -> None:
    stack = synth.stacks["platform"]
    found = revisions(stack, KEY, synth.workdir("platform"))  # no grafana password: that revision cannot be derived
    assert set(found) == set(), "production is deployed: the webhook has no default, so neither is derivable"
    # Without production (or with alerting "none") the webhook defaults to empty, and a default is a value.
    variables = {**stack["variable"]}
    webhook = "alertmanager_slack_webhook_url"
    variables[webhook] = {k: v for k, v in variables[webhook].items() if k != "validation"} | {"default": ""}
    found = revisions({**stack, "variable": variables}, KEY, synth.workdir("platform"))
    assert set(found) == {"alertmanager_config_revision"}, "the webhook's default (empty) is a value"


@pytest.mark.parametrize("key", ["", "short-key"])
def test_a_missing_or_short_digest_key_is_refused_in_one_line(key: str) -> None:
    with pytest.raises(DigestKeyError) as refused:
        digest_key({"SECRETS_DIGEST_KEY": key} if key else {})
    assert "SECRETS_DIGEST_KEY must be set to a random string of at least 32 characters" in str(refused.value)
    assert "\n" not in str(refused.value)


def dev(work: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TF_VAR_", "SECRETS_"))}
    return subprocess.run(
        [sys.executable, str(work / "dev.py"), *args],
        cwd=work,
        env=clean | env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_dev_py_prints_the_revisions_the_workflows_export(synth: Synth, tmp_path: Path) -> None:
    """`dev.py revisions` reads the synthesized stacks beside it: here a copy of dev.py next to this session's."""
    shutil.copy(ROOT / "dev.py", tmp_path / "dev.py")
    for name in ("toolchain", "todo_infra"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "cdktf.out").symlink_to(synth.outdir)
    result = dev(tmp_path, "revisions", "platform", env=every_secret(synth) | KEY)
    assert result.returncode == 0, result.stderr
    expected = revisions(synth.stacks["platform"], every_secret(synth) | KEY, synth.workdir("platform"))
    assert result.stdout.splitlines() == [f"export TF_VAR_{name}={value}" for name, value in sorted(expected.items())]
    assert not any(value in result.stdout + result.stderr for value in every_secret(synth).values())
    refused = dev(tmp_path, "revisions", "platform", env=every_secret(synth))
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith("dev.py: SECRETS_DIGEST_KEY must be set")

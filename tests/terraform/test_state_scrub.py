"""The one-time upgrade from Secrets written through `data` (todo_infra/state_scrub.py): stored values leave the
state, through Terraform's own `state pull` / `state push`, and nothing is scrubbed before the write-only layout is
deployed."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from preflight.terraform import Terraform, write_config
from todo_infra.state_scrub import ScrubError, scrub, scrub_stack

PROVIDER = 'provider["registry.terraform.io/hashicorp/kubernetes"]'


def secret(address: str, name: str, *, revision: int | None, data: dict[str, str] | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {"id": f"staging/{name}", "metadata": [{"name": name, "namespace": "staging"}]}
    attributes |= {"data": data, "binary_data": None, "data_wo_revision": revision, "type": "Opaque"}
    return {
        "mode": "managed",
        "type": "kubernetes_secret_v1",
        "name": address,
        "provider": PROVIDER,
        "instances": [{"schema_version": 0, "attributes": attributes, "sensitive_attributes": []}],
    }


def state(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 4,
        "terraform_version": "1.11.4",
        "serial": 3,
        "lineage": str(uuid.uuid4()),
        "outputs": {},
        "resources": list(resources),
        "check_results": None,
    }


OLD_LAYOUT = state(
    secret(
        "app-secrets_secret_CE86DAB4", "app-secrets", revision=2375483147220029, data={"DATABASE_URL": "pg://s3cr3t"}
    ),
    secret("ghcr-pull-secret_7D21386B", "ghcr-pull-secret", revision=17, data={".dockerconfigjson": "{}"}),
)


def test_scrub_drops_the_values_and_keeps_everything_else() -> None:
    scrubbed, changed = scrub(OLD_LAYOUT)
    assert changed == [
        "kubernetes_secret_v1.app-secrets_secret_CE86DAB4 (app-secrets)",
        "kubernetes_secret_v1.ghcr-pull-secret_7D21386B (ghcr-pull-secret)",
    ]
    assert "s3cr3t" not in json.dumps(scrubbed)
    assert scrubbed["serial"] == OLD_LAYOUT["serial"] + 1
    first = scrubbed["resources"][0]["instances"][0]["attributes"]
    assert first["data_wo_revision"] == 2375483147220029 and first["id"] == "staging/app-secrets"
    assert scrub(scrubbed)[1] == [], "a scrubbed state needs nothing more"


def test_scrub_refuses_a_state_deployed_before_the_write_only_layout() -> None:
    unmigrated = state(secret("app-secrets_secret_CE86DAB4", "app-secrets", revision=None, data={"A": "b"}))
    with pytest.raises(ScrubError, match="has no write-only revision yet: deploy the stack with this version first"):
        scrub(unmigrated)


def test_terraform_accepts_the_scrubbed_state(terraform: Terraform, tmp_path: Path) -> None:
    """With the real state commands, on a local backend: push the old layout, scrub it, pull it back."""
    write_config(tmp_path, {"terraform": {"backend": {"local": {"path": "stack.tfstate"}}}})
    assert terraform.run(tmp_path, "init", "-input=false", "-no-color").returncode == 0
    (tmp_path / "old.tfstate").write_text(json.dumps(OLD_LAYOUT))
    pushed = terraform.run(tmp_path, "state", "push", "old.tfstate")
    assert pushed.returncode == 0, pushed.output
    changed = scrub_stack(terraform.binary, tmp_path, terraform.env())
    assert len(changed) == 2
    pulled = terraform.run(tmp_path, "state", "pull")
    assert pulled.returncode == 0, pulled.output
    after = json.loads(pulled.stdout)
    assert "s3cr3t" not in pulled.stdout and after["lineage"] == OLD_LAYOUT["lineage"]
    assert [r["instances"][0]["attributes"]["data"] for r in after["resources"]] == [None, None]
    assert list(tmp_path.glob("*.tfstate.tmp*")) == [] and sorted(p.name for p in tmp_path.glob("tmp*")) == []

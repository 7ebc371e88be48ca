"""The Alertmanager configuration the platform stack produces, judged by Alertmanager's own tool: Terraform renders
what the platform writes into the Secret alertmanager-config (its write-only `data_wo` expression) for an empty and
for a set Slack webhook, and `amtool check-config` and `amtool config routes test` read the result."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

import toolchain
from preflight.terraform import Terraform, evaluate
from tests.synth import Synth
from todo_infra import yamlload
from todo_infra.monitoring import ALERTMANAGER_CONFIG_KEY, ALERTMANAGER_CONFIG_SECRET

WEBHOOK = "alertmanager_slack_webhook_url"
#: Which receiver each kind of alert reaches: (labels, receiver with no webhook, receiver with a webhook).
ROUTES = [
    ({"alertname": "Watchdog", "severity": "none"}, "null", "null"),
    ({"alertname": "HighErrorRate", "severity": "warning", "namespace": "production"}, "null", "slack"),
    ({"alertname": "PodCrashLooping", "severity": "critical", "namespace": "staging"}, "null", "slack"),
    ({"alertname": "KubeNodeNotReady", "severity": "info"}, "null", "null"),
]


def alertmanager_config(terraform: Terraform, synth: Synth, folder: Path, webhook: str) -> str:
    """alertmanager.yaml as Terraform renders it into the Secret the platform's Alertmanager reads. The empty
    webhook is what a platform without production, or with alerting "none", passes: the variable then has no
    validation (the default synth deploys production, whose validation refuses it: tests/terraform)."""
    stack = synth.stacks["platform"]
    if not webhook:
        variables = {**stack["variable"]}
        variables[WEBHOOK] = {k: v for k, v in variables[WEBHOOK].items() if k != "validation"} | {"default": ""}
        stack = {**stack, "variable": variables}
    (secret,) = [
        s
        for s in synth.resources("platform", "kubernetes_secret_v1").values()
        if s["metadata"]["name"] == ALERTMANAGER_CONFIG_SECRET
    ]
    stack_dir = synth.outdir / "stacks" / "platform"
    expression = secret["data_wo"][ALERTMANAGER_CONFIG_KEY]
    values = evaluate(
        terraform,
        folder,
        stack_dir=stack_dir,
        stack=stack,
        expressions={"config": expression},
        variables={WEBHOOK: webhook},
    )
    return str(values["config"])


def amtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(toolchain.find("amtool")), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def configs(terraform: Terraform, synth: Synth, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """alertmanager.yaml for both webhook states, written where amtool reads them."""
    folder = tmp_path_factory.mktemp("alertmanager")
    written = {}
    for state, webhook in (("empty", ""), ("set", "https://hooks.slack.com/services/T000/B000/XXXX")):
        path = folder / f"alertmanager-{state}.yaml"
        path.write_text(alertmanager_config(terraform, synth, folder / f"terraform-{state}", webhook))
        written[state] = path
    return written


@pytest.mark.parametrize("state", ["empty", "set"])
def test_amtool_accepts_the_configuration(configs: dict[str, Path], state: str) -> None:
    result = amtool("check-config", str(configs[state]), cwd=configs[state].parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("state", ["empty", "set"])
def test_every_route_names_its_receiver_as_a_string(configs: dict[str, Path], state: str) -> None:
    route = yamlload.load(configs[state].read_text())["route"]
    receivers = [route["receiver"], *(child["receiver"] for child in route["routes"])]
    assert all(isinstance(receiver, str) for receiver in receivers), receivers


@pytest.mark.parametrize("state", ["empty", "set"])
@pytest.mark.parametrize(("labels", "without", "with_webhook"), ROUTES, ids=[r[0]["alertname"] for r in ROUTES])
def test_amtool_routes_each_alert_to_its_receiver(
    configs: dict[str, Path], state: str, labels: dict[str, str], without: str, with_webhook: str
) -> None:
    expected = with_webhook if state == "set" else without
    pairs = [f"{key}={value}" for key, value in labels.items()]
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={configs[state]}",
        f"--verify.receivers={expected}",
        *pairs,
        cwd=configs[state].parent,
    )
    assert result.returncode == 0, f"{labels}: {result.stdout}{result.stderr}"
    assert result.stdout.strip() == expected


def test_the_webhook_is_in_the_secret_only_when_set(configs: dict[str, Path]) -> None:
    empty, set_ = (yamlload.load(configs[state].read_text()) for state in ("empty", "set"))
    assert "slack_api_url" not in empty["global"]
    assert set_["global"]["slack_api_url"] == "https://hooks.slack.com/services/T000/B000/XXXX"
    assert {r["name"]: r.get("slack_configs") for r in empty["receivers"]} == {"null": None, "slack": None}


def test_an_unquoted_null_receiver_only_works_by_inheritance(configs: dict[str, Path], tmp_path: Path) -> None:
    """Seeded failure: the severity route's receiver as YAML null, as main once rendered it for an empty webhook.
    It routed to "null" only by inheriting the root route's receiver; without that, amtool refuses the file."""
    config = yamlload.load(configs["empty"].read_text())
    config["route"]["routes"][1]["receiver"] = None
    inherited = tmp_path / "inherited.yaml"
    inherited.write_text(yaml.safe_dump(config))
    assert amtool("config", "routes", "test", f"--config.file={inherited}", "severity=critical", cwd=tmp_path).stdout
    del config["route"]["receiver"]
    broken = tmp_path / "alertmanager.yaml"
    broken.write_text(yaml.safe_dump(config))
    result = amtool("check-config", str(broken), cwd=tmp_path)
    assert result.returncode != 0, result.stdout
    assert "receiver" in result.stdout + result.stderr

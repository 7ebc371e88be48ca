"""Bad input through every channel an operator uses — main.py as the cdktf CLI runs it, `dev.py synth`,
`dev.py preflight`, `dev.py cdktf synth|diff`, TODO_* variables, TODO_CONTEXT_JSON, the chart's values files — is
refused the same way: exit code 2, one line naming what is wrong and what is allowed, no traceback, and nothing
written to cdktf.out/.

Each case runs in a sandbox copy of the repo (its own cdktf.out/, the installed tools linked in), all of them at
once, so the whole table costs a few seconds.
"""

from __future__ import annotations

import json
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from main import embedded_context
from tests import kept_runs
from tests.sandbox import clean_env, copy_repo
from tests.synth import Synth
from todo_infra.settings import REQUIRE_ENV, ConfigError, env_flag, load_settings, parse_bool

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
CONTEXT = json.loads((ROOT / "cdktf.json").read_text())["context"]
#: A valid bucket name (55 characters) whose environment buckets are not: `-production` makes it 66.
LONG_BUCKET = "hackathon-todo-terraform-state-of-every-stack-in-fra1-x"
DEPLOY_VARIABLES = {
    "TODO_DOMAIN": "todo-demo.dev",
    "TODO_REGION": "nyc3",
    "TODO_GHCR_OWNER": "acme-apps",
    "TODO_OPERATOR_EMAIL": "ops@todo-demo.dev",
    "TODO_STATE_BACKEND": "s3",
    "TODO_STATE_BUCKET": "todo-state",
}


@dataclass(frozen=True)
class Case:
    channel: str
    env: dict[str, str]
    expect: str
    #: <path in the repo> -> (old text, new text) edited in the sandbox before the run.
    edits: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: The whole line is `expect` (the cases of issue 24 state it exactly), not only a part of it.
    exact: bool = False


COMMANDS = {
    "main.py": [str(PYTHON), "main.py"],
    "dev.py synth": [sys.executable, "dev.py", "synth"],
    "dev.py preflight": [sys.executable, "dev.py", "preflight"],
    "dev.py cdktf synth": [sys.executable, "dev.py", "cdktf", "synth"],
    "dev.py cdktf diff platform": [sys.executable, "dev.py", "cdktf", "diff", "platform", "--skip-synth"],
    "dev.py cdktf diff platfrom": [sys.executable, "dev.py", "cdktf", "diff", "platfrom", "--skip-synth"],
    "dev.py cdktf diff app-production": [sys.executable, "dev.py", "cdktf", "diff", "app-production", "--skip-synth"],
    "dev.py cdktf deploy app-staging": [sys.executable, "dev.py", "cdktf", "deploy", "app-staging", "--skip-synth"],
    "dev.py state-bucket app-qa": [sys.executable, "dev.py", "state-bucket", "app-qa"],
    "dev.py state-bucket app-staging": [sys.executable, "dev.py", "state-bucket", "app-staging"],
}


def context(**changes: object) -> str:
    return json.dumps(changes)


def environments(**changes: object) -> str:
    return json.dumps({"environments": {**CONTEXT["environments"], **changes}})


#: One line of cdktf.json without its comma, one flow list of a values file never closed, one `replicas:` under an HPA.
CDKTF_JSON_COMMA = ('"region": "fra1",', '"region": "fra1"')
FLOW_LIST = ("  imagePullPolicy: Always", "  imagePullPolicy: [Always")
REPLICAS_UNDER_HPA = (
    "  frontend:\n    autoscaling: {enabled: true}",
    "  frontend:\n    autoscaling: {enabled: true}\n    replicas: 3",
)
#: The stacks of the committed configuration, sorted as dev.py lists them.
STACK_IDS = ", ".join(sorted(load_settings(embedded_context(), {}).stack_ids))
AUTOSCALING = ("  frontend:\n    autoscaling: {enabled: true}", '  frontend:\n    autoscaling: {enabled: "yes"}')
PULL_POLICY = ("  imagePullPolicy: Always", "  imagePulPolicy: Always")

CASES: dict[str, Case] = {
    # --- TODO_* variables, as the cdktf CLI runs main.py -------------------------------------------------------
    "empty domain": Case("main.py", {"TODO_DOMAIN": ""}, "invalid TODO_DOMAIN='': expected a value"),
    "empty environments": Case("main.py", {"TODO_ENVIRONMENTS": ""}, "invalid TODO_ENVIRONMENTS='': expected a value"),
    "empty environment item": Case("main.py", {"TODO_ENVIRONMENTS": ","}, "(an empty item)"),
    "repeated environment": Case("main.py", {"TODO_ENVIRONMENTS": "staging,staging"}, "(a repeated item)"),
    "unknown environment": Case("main.py", {"TODO_ENVIRONMENTS": "staging,qa"}, "invalid environments='qa'"),
    "unknown region": Case("main.py", {"TODO_REGION": "mars1"}, "invalid region='mars1': expected one of ams3"),
    "unknown edge": Case(
        "main.py", {"TODO_EDGE": "traefik"}, "invalid edge='traefik': expected one of envoy-gateway, ingress-nginx"
    ),
    "malformed domain": Case("main.py", {"TODO_DOMAIN": "todo_app..com"}, "invalid domain='todo_app..com'"),
    "malformed e-mail": Case("main.py", {"TODO_OPERATOR_EMAIL": "ops-at-example.com"}, "invalid operator_email="),
    "unknown backend": Case(
        "main.py", {"TODO_STATE_BACKEND": "gcs"}, "invalid state_backend='gcs': expected one of s3, local"
    ),
    "bucket name": Case("main.py", {"TODO_STATE_BUCKET": "Bad_Bucket"}, "invalid state_bucket='Bad_Bucket'"),
    "state bucket too long for production's": Case(
        "main.py",
        {"TODO_STATE_BUCKET": LONG_BUCKET},
        f"invalid state_bucket='{LONG_BUCKET}': expected at most 52 characters: production's state bucket "
        f"'{LONG_BUCKET}-production' would exceed Spaces' limit of 63",
    ),
    "backup bucket too long for staging's": Case(
        "main.py",
        {"TODO_BACKUP_BUCKET": "b" * 60, "TODO_ENVIRONMENTS": "staging"},
        "invalid backup_bucket='" + "b" * 60 + "': expected at most 55 characters: staging's Redis backups bucket",
    ),
    "backup bucket that is a state bucket": Case(
        "main.py",
        {"TODO_BACKUP_BUCKET": CONTEXT["state_bucket"]},
        f"staging's backup bucket '{CONTEXT['state_bucket']}-staging' is the state bucket of app-staging",
    ),
    "state bucket too long through preflight": Case(
        "dev.py preflight", {"TODO_STATE_BUCKET": LONG_BUCKET}, "preflight: invalid state_bucket="
    ),
    "plain http endpoint": Case(
        "main.py", {"TODO_STATE_ENDPOINT": "http://fra1.digitaloceanspaces.com"}, "an https:// endpoint"
    ),
    "upper-case owner": Case("main.py", {"TODO_GHCR_OWNER": "Example-Org"}, "invalid ghcr_owner='Example-Org'"),
    "unknown node size": Case(
        "main.py", {"TODO_NODE_SIZE": "s-1vcpu-2gb"}, "invalid node_size='s-1vcpu-2gb': expected one of s-2vcpu-4gb"
    ),
    "fractional nodes": Case("main.py", {"TODO_NODE_MIN": "3.7"}, "invalid node_min='3.7': expected an integer"),
    "nodes in words": Case("main.py", {"TODO_NODE_MAX": "five"}, "invalid node_max='five': expected an integer"),
    "min above max": Case(
        "main.py", {"TODO_NODE_MIN": "6", "TODO_NODE_MAX": "5"}, "invalid node_min=6: expected at most node_max (5)"
    ),
    "yes for a boolean": Case(
        "main.py", {"TODO_HA_CONTROL_PLANE": "yes"}, "invalid ha_control_plane='yes': expected true or false"
    ),
    "1 for a boolean": Case("main.py", {"TODO_DNS_ON_DIGITALOCEAN": "1"}, "expected true or false"),
    "misspelt variable": Case(
        "main.py", {"TODO_REGOIN": "ams3"}, "unknown variable 'TODO_REGOIN': did you mean 'TODO_REGION'?"
    ),
    "deploy without configuration": Case(
        "main.py", {"TODO_REQUIRE_CONFIGURATION": "true"}, "set TODO_DOMAIN, TODO_REGION, TODO_GHCR_OWNER"
    ),
    "deploy without one variable": Case(
        "main.py",
        {"TODO_REQUIRE_CONFIGURATION": "true", **DEPLOY_VARIABLES},
        "not the example defaults: set TODO_STATE_ENDPOINT, TODO_BACKUP_BUCKET, TODO_BACKUP_ENDPOINT (GitHub",
    ),
    # --- issue 24: crashes and silent fail-opens, now one exact line each ------------------------------------------
    "yes for the configuration guard": Case(
        "main.py",
        {"TODO_REQUIRE_CONFIGURATION": "yes"},
        "main.py: invalid TODO_REQUIRE_CONFIGURATION='yes': expected true or false",
        exact=True,
    ),
    "1 for the configuration guard": Case(
        "main.py",
        {"TODO_REQUIRE_CONFIGURATION": "1"},
        "main.py: invalid TODO_REQUIRE_CONFIGURATION='1': expected true or false",
        exact=True,
    ),
    "backups in the cluster's region": Case(
        "main.py",
        {"TODO_REGION": "ams3"},
        "main.py: invalid backup_endpoint='https://ams3.digitaloceanspaces.com': expected a Spaces endpoint in another "
        "region than the cluster's (ams3): backups in the cluster's region are lost with it",
        exact=True,
    ),
    "cdktf.json not JSON": Case(
        "main.py",
        {},
        "main.py: cdktf.json:13:5: not valid JSON: Expecting ',' delimiter",
        {"cdktf.json": CDKTF_JSON_COMMA},
        exact=True,
    ),
    "cdktf.json not JSON through preflight": Case(
        "dev.py preflight",
        {},
        "preflight: cdktf.json:13:5: not valid JSON: Expecting ',' delimiter",
        {"cdktf.json": CDKTF_JSON_COMMA},
        exact=True,
    ),
    "cdktf.json not JSON through the CLI": Case(
        "dev.py cdktf synth",
        {},
        "main.py: cdktf.json:13:5: not valid JSON: Expecting ',' delimiter",
        {"cdktf.json": CDKTF_JSON_COMMA},
        exact=True,
    ),
    "values file not YAML": Case(
        "main.py",
        {},
        "main.py: chart/values-staging.yaml:13:5: not valid YAML: expected ',' or ']', but got ':' (while parsing a "
        "flow sequence from line 11)",
        {"chart/values-staging.yaml": FLOW_LIST},
        exact=True,
    ),
    "values file not YAML through dev.py synth": Case(
        "dev.py synth",
        {},
        "main.py: chart/values-staging.yaml:13:5: not valid YAML: expected ',' or ']', but got ':' (while parsing a "
        "flow sequence from line 11)",
        {"chart/values-staging.yaml": FLOW_LIST},
        exact=True,
    ),
    "replicas under an HPA": Case(
        "main.py",
        {},
        "main.py: chart/values-production.yaml: services.frontend.replicas: ignored while "
        "services.frontend.autoscaling.enabled is true (the HPA sets the count): remove it, or change "
        "autoscaling.minReplicas/maxReplicas",
        {"chart/values-production.yaml": REPLICAS_UNDER_HPA},
        exact=True,
    ),
    "misspelt stack": Case(
        "dev.py cdktf diff platfrom",
        {},
        f"dev.py: unknown stack 'platfrom'; expected one of: {STACK_IDS}",
        exact=True,
    ),
    "yes for GitHub Actions": Case(
        "dev.py cdktf deploy app-staging",
        {"GITHUB_ACTIONS": "yes"},
        "dev.py: invalid GITHUB_ACTIONS='yes': expected true or false",
        exact=True,
    ),
    # --- TODO_CONTEXT_JSON --------------------------------------------------------------------------------------
    "misspelt context key": Case("main.py", {"TODO_CONTEXT_JSON": context(regoin="ams3")}, "did you mean 'region'?"),
    "fractional nodes in JSON": Case("main.py", {"TODO_CONTEXT_JSON": context(node_min=3.7)}, "invalid node_min=3.7"),
    "boolean node count": Case("main.py", {"TODO_CONTEXT_JSON": context(node_max=True)}, "invalid node_max=True"),
    "string for a JSON boolean": Case(
        "main.py", {"TODO_CONTEXT_JSON": context(ha_control_plane="yes")}, "expected true or false"
    ),
    "an address without a prefix in the control-plane firewall": Case(
        "main.py",
        {"TODO_CONTEXT_JSON": context(control_plane_allowed_addresses=["203.0.113.7"])},
        "invalid control_plane_allowed_addresses='203.0.113.7': expected a list of IPv4 CIDR networks",
    ),
    "the whole internet in the control-plane firewall": Case(
        "main.py",
        {"TODO_CONTEXT_JSON": context(control_plane_allowed_addresses=["0.0.0.0/0"])},
        "never 0.0.0.0/0",
    ),
    "host bits in a firewall network": Case(
        "main.py",
        {"TODO_CONTEXT_JSON": context(control_plane_allowed_addresses=["10.1.2.3/8"])},
        "invalid control_plane_allowed_addresses='10.1.2.3/8'",
    ),
    "number for a region": Case("main.py", {"TODO_CONTEXT_JSON": context(region=7)}, "invalid region=7"),
    "not JSON": Case(
        "main.py", {"TODO_CONTEXT_JSON": "{oops"}, "invalid TODO_CONTEXT_JSON='{oops': expected a JSON object"
    ),
    "a JSON list": Case("main.py", {"TODO_CONTEXT_JSON": "[1]"}, "expected a non-empty JSON object"),
    "an empty object": Case("main.py", {"TODO_CONTEXT_JSON": "{}"}, "expected a non-empty JSON object"),
    "unknown log shipper": Case(
        "main.py",
        {"TODO_CONTEXT_JSON": context(log_shipper="fluentbit")},
        "invalid log_shipper='fluentbit': expected one of alloy, promtail",
    ),
    "log shipper in capitals": Case(
        "main.py", {"TODO_CONTEXT_JSON": context(log_shipper="Alloy")}, "invalid log_shipper='Alloy'"
    ),
    "alerting off in words": Case(
        "main.py",
        {"TODO_CONTEXT_JSON": context(alerting="off")},
        "invalid alerting='off': expected one of slack, none",
    ),
    "half-hour window": Case(
        "main.py", {"TODO_CONTEXT_JSON": context(maintenance_start_time="03:30")}, "a full hour HH:00"
    ),
    "misspelt environment key": Case(
        "main.py",
        {"TODO_CONTEXT_JSON": environments(staging={"host_prefx": "staging.todo"})},
        "did you mean 'host_prefix'?",
    ),
    "moving default tag": Case(
        "main.py",
        {"TODO_CONTEXT_JSON": environments(staging={"host_prefix": "staging.todo", "default_image_tag": "latest"})},
        "invalid default_image_tag='latest': expected sha-<7 hex>",
    ),
    # --- the chart's values files (checked by Helm's schema validation) ----------------------------------------
    "yes for autoscaling": Case(
        "main.py",
        {},
        "chart/values-production.yaml: services.frontend.autoscaling.enabled: got string, want boolean",
        {"chart/values-production.yaml": AUTOSCALING},
    ),
    "misspelt values key": Case(
        "main.py",
        {},
        "chart/values-staging.yaml: global.imagePulPolicy: unknown key 'imagePulPolicy', "
        "did you mean 'imagePullPolicy'?",
        {"chart/values-staging.yaml": PULL_POLICY},
    ),
    "missing values file": Case(
        "main.py", {}, "chart/values-staging.yaml: missing", {"chart/values-staging.yaml": ("", "<delete>")}
    ),
    "values through preflight": Case(
        "dev.py preflight",
        {},
        "preflight: chart/values-production.yaml: services.frontend.autoscaling.enabled",
        {"chart/values-production.yaml": AUTOSCALING},
    ),
    "values through dev.py synth": Case(
        "dev.py synth",
        {},
        "main.py: chart/values-staging.yaml: global.imagePulPolicy",
        {"chart/values-staging.yaml": PULL_POLICY},
    ),
    # --- dev.py synth, preflight, cdktf ---------------------------------------------------------------------------
    "synth: unknown region": Case("dev.py synth", {"TODO_REGION": "mars1"}, "main.py: invalid region='mars1'"),
    "synth: empty environment item": Case("dev.py synth", {"TODO_ENVIRONMENTS": ","}, "(an empty item)"),
    "synth: the CLI's own variable": Case(
        "dev.py synth", {"CDKTF_CONTEXT_JSON": context(region="mars1")}, "CDKTF_CONTEXT_JSON belongs to the cdktf CLI"
    ),
    "preflight: unknown region": Case(
        "dev.py preflight", {"TODO_REGION": "mars1"}, "preflight: invalid region='mars1'"
    ),
    "preflight: min above max": Case(
        "dev.py preflight", {"TODO_NODE_MIN": "6", "TODO_NODE_MAX": "5"}, "preflight: invalid node_min=6"
    ),
    "preflight: misspelt key": Case(
        "dev.py preflight", {"TODO_CONTEXT_JSON": context(regoin="ams3")}, "did you mean 'region'?"
    ),
    "cdktf synth: unknown region": Case(
        "dev.py cdktf synth", {"TODO_REGION": "mars1"}, "main.py: invalid region='mars1'"
    ),
    "cdktf synth: the CLI's own variable": Case(
        "dev.py cdktf synth", {"CDKTF_CONTEXT_JSON": context(region="mars1")}, "put overrides in TODO_CONTEXT_JSON"
    ),
    "diff without credentials": Case(
        "dev.py cdktf diff platform",
        {},
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (the Spaces keys of the state bucket); DIGITALOCEAN_TOKEN",
    ),
    "diff with a short digest key": Case(
        "dev.py cdktf diff platform",
        {
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
            "DIGITALOCEAN_TOKEN": "t",
            "TF_VAR_grafana_admin_password": "p",
            "TF_VAR_alertmanager_slack_webhook_url": "https://hooks.slack.com/services/T0/B0/example",
            "SECRETS_DIGEST_KEY": "short",
        },
        "SECRETS_DIGEST_KEY must be set to a random string of at least 32 characters",
    ),
    "platform diff without the production alert receiver": Case(
        "dev.py cdktf diff platform",
        {
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
            "DIGITALOCEAN_TOKEN": "t",
            "TF_VAR_grafana_admin_password": "p",
        },
        "; TF_VAR_alertmanager_slack_webhook_url (a secret of the stack)",
    ),
    "state-bucket: unknown stack": Case(
        "dev.py state-bucket app-qa",
        {},
        "main.py: unknown stack 'app-qa': expected one of cluster, platform, app-staging, app-production",
    ),
    "state-bucket: too long a base name": Case(
        "dev.py state-bucket app-staging",
        {"TODO_STATE_BUCKET": LONG_BUCKET},
        "main.py: invalid state_bucket='" + LONG_BUCKET + "': expected at most 52 characters",
    ),
    "shell deploy without a break-glass issue": Case(
        "dev.py cdktf deploy app-staging",
        {"GITHUB_ACTIONS": "false"},
        "cdktf deploy from a shell bypasses the deploy workflows' gate and reviewers: open a break-glass issue",
    ),
    "shell deploy naming something else than an issue": Case(
        "dev.py cdktf deploy app-staging",
        {"GITHUB_ACTIONS": "false", "TODO_BREAK_GLASS": "because"},
        "set TODO_BREAK_GLASS to its URL (https://github.com/<owner>/<repo>/issues/<n>), not 'because'",
    ),
    "production diff without its tag and cluster identity": Case(
        "dev.py cdktf diff app-production",
        {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"},
        "TF_VAR_image_digests, TF_VAR_image_tag, TF_VAR_kube_ca_certificate, TF_VAR_kube_endpoint (a setting of the "
        "deploy)",
    ),
}


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    untouched: bool


def _sandbox(base: Path, case: Case) -> Path:
    root = copy_repo(base)
    for file, (old, new) in case.edits.items():
        path = root / file
        if new == "<delete>":
            path.unlink()
        else:
            text = path.read_text()
            assert old in text, f"{file} no longer has {old!r}: update the case"
            path.write_text(text.replace(old, new))
    return root


def _snapshot(outdir: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(outdir)), p.stat().st_mtime_ns) for p in outdir.rglob("*"))


def _run(base: Path, synth: Synth, case: Case) -> Outcome:
    root = _sandbox(base, case)
    shutil.copytree(synth.outdir, root / "cdktf.out")
    before = _snapshot(root / "cdktf.out")
    env = clean_env(case.env)
    result = kept_runs.run(COMMANDS[case.channel], root, env=env, timeout=180)
    return Outcome(result.returncode, result.stdout, result.stderr, _snapshot(root / "cdktf.out") == before)


@pytest.fixture(scope="module")
def outcomes(synth: Synth, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    base = tmp_path_factory.mktemp("bad-input")
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(_run, base, synth, case) for name, case in CASES.items()}
    return {name: future.result() for name, future in futures.items()}


def test_every_channel_has_cases() -> None:
    assert len(CASES) >= 40
    assert {case.channel for case in CASES.values()} == set(COMMANDS)


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_refused_in_one_line_with_exit_2_and_nothing_written(
    outcomes: dict[str, Outcome], name: str
) -> None:
    outcome, case = outcomes[name], CASES[name]
    lines = outcome.stderr.strip().splitlines()
    assert outcome.returncode == 2, outcome.stderr[-2000:]
    assert len(lines) == 1, outcome.stderr
    assert lines[0] == case.expect if case.exact else case.expect in lines[0]
    assert lines[0].split(":", 1)[0] in ("main.py", "dev.py", "preflight")
    assert "Traceback" not in outcome.stderr and outcome.stdout == ""
    assert outcome.untouched, "cdktf.out/ changed"


def test_one_boolean_parser_for_every_flag() -> None:
    """cdktf.json, TODO_CONTEXT_JSON, the TODO_* variables and the control variables share one boolean grammar: true or
    false (JSON booleans, or the words in any case); every other spelling is refused, never read as false."""
    for value, expected in ((True, True), (False, False), ("true", True), ("TRUE", True), ("False", False)):
        assert parse_bool("ha_control_plane", value) is expected
    for refused in ("yes", "1", "on", "no", "0", "", 1, None):
        with pytest.raises(ConfigError, match="expected true or false"):
            parse_bool("ha_control_plane", refused)
    assert env_flag({}, REQUIRE_ENV) is False
    assert env_flag({REQUIRE_ENV: "true"}, REQUIRE_ENV) is True
    with pytest.raises(ConfigError, match=f"invalid {REQUIRE_ENV}='yes'"):
        env_flag({REQUIRE_ENV: "yes"}, REQUIRE_ENV)

"""The runbooks stay true to the code: stacks, dev.py commands, file paths, secret and variable names, alerts.

Facts come from the code itself — the synthesized app (shared session fixture), dev.py's dispatch, the
workflow files and the chart rendered the way app-production releases it — never from a list written here.
The seeded-drift tests run the same checkers on mutated copies of the real runbooks and expect exactly the
one problem that was planted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import helm_python as helm
import pytest

from tests.chart.chart_support import CHART_DIR, Rendered, render_environment, stack_sets
from tests.docs.runbook_checks import (
    BOOTSTRAP_GUIDE,
    MONITORING_RUNBOOK,
    REFERENCE_DOCS,
    REPO_ROOT,
    RUNBOOKS,
    Facts,
    alert_sections,
    check_alerts,
    check_counts,
    check_dev_commands,
    check_document,
    check_names,
    check_paths,
    check_secret_coverage,
    check_stack_commands,
    dev_py_commands,
    environ_reads,
    gitignored_top_level,
    shell_reads,
    stack_commands,
    workflow_names,
)
from tests.synth import CREDENTIAL_ENV, Synth
from todo_infra.addons import ADDONS
from todo_infra.app_secrets import BACKUP_SPACES_VARIABLES
from todo_infra.settings import CONTROL_ENV, ENV_OVERRIDES

DEPLOY = "docs/runbooks/deploy.md"
ROLLBACK = "docs/runbooks/rollback.md"


@pytest.fixture(scope="module")
def production(synth: Synth) -> Rendered:
    """The chart rendered once as app-production releases it."""
    chart = helm.Chart.load(CHART_DIR)
    try:
        return render_environment(chart, "production", stack_sets(synth))
    finally:
        chart.close()


def container_env_names(release: Rendered) -> frozenset[str]:
    """Environment variables the chart gives its containers (a runbook may set them to run a job's tool by hand)."""
    names: set[str] = set()
    for document in release.manifests:
        spec = document.get("spec", {})
        pod = spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec") or spec.get(
            "template", {}
        ).get("spec", {})
        for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
            names.update(variable["name"] for variable in container.get("env", []))
    return frozenset(names)


@pytest.fixture(scope="module")
def alerts(production: Rendered) -> Iterator[dict[str, str]]:
    """alert -> runbook_url of the PrometheusRule, as app-production releases the chart."""
    yield {
        rule["alert"]: rule["annotations"]["runbook_url"]
        for document in production.of_kind("PrometheusRule")
        for group in document["spec"]["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


@pytest.fixture(scope="module")
def facts(synth: Synth, alerts: dict[str, str], production: Rendered) -> Facts:
    workflows = [path.read_text() for path in sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))]
    secrets, repo_variables, workflow_env = workflow_names(workflows)
    python_sources = [
        REPO_ROOT / "main.py",
        REPO_ROOT / "dev.py",
        *sorted((REPO_ROOT / "todo_infra").glob("*.py")),
        *sorted((REPO_ROOT / "preflight").glob("*.py")),
        REPO_ROOT / "tests" / "upstream.py",  # the test suite's one setting (docs/supply-chain.md)
    ]
    return Facts(
        root=REPO_ROOT,
        stacks={stack_id: frozenset(stack["dependencies"]) for stack_id, stack in synth.manifest["stacks"].items()},
        variables=frozenset(name for stack in synth.stacks.values() for name in stack.get("variable", {})),
        dev_commands=dev_py_commands(),
        workflow_secrets=secrets - {"GITHUB_TOKEN"},
        repo_variables=repo_variables,
        known_names=secrets
        | repo_variables
        | workflow_env
        | frozenset(ENV_OVERRIDES)
        | frozenset(CONTROL_ENV)
        | {"CDKTF_CONTEXT_JSON"}
        | frozenset(CREDENTIAL_ENV)
        | frozenset(BACKUP_SPACES_VARIABLES)  # keys of the Secret redis-backup-spaces
        | container_env_names(production)  # e.g. the rclone settings of the backup jobs
        | environ_reads(path.read_text() for path in python_sources)
        | shell_reads(path.read_text() for path in sorted((REPO_ROOT / "chart" / "files").glob("*.sh"))),
        alerts=alerts,
        generated=gitignored_top_level((REPO_ROOT / ".gitignore").read_text()),
        counts={
            "stacks": len(synth.stacks),
            # The add-ons a configuration deploys: every definition but the log shipper it does not select.
            "add-ons": len(
                {a.release for a in ADDONS} & {r["name"] for r in synth.resources("platform", "helm_release").values()}
            ),
            "helm releases": len(synth.resources("platform", "helm_release")),
            "alerts": len(alerts),
        },
    )


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return {doc: (REPO_ROOT / doc).read_text() for doc in (*RUNBOOKS, *REFERENCE_DOCS)}


# --- the real runbooks agree with the code ------------------------------------------------------


@pytest.mark.parametrize("doc", [*RUNBOOKS, *REFERENCE_DOCS])
def test_runbook_agrees_with_the_code(doc: str, texts: dict[str, str], facts: Facts) -> None:
    assert check_document(doc, texts[doc], facts) == []


def test_the_facts_are_read_from_the_code(facts: Facts) -> None:
    """Guards against checks that pass because a fact came back empty."""
    assert set(facts.stacks) == {"cluster", "platform", "app-staging", "app-production"}
    assert facts.stacks["app-production"] == {"platform"}
    assert {"synth", "test", "cdktf", "bootstrap"} <= facts.dev_commands
    assert {"image_tag", "database_url", "grafana_admin_password"} <= facts.variables
    assert {"DIGITALOCEAN_TOKEN", "GHCR_TOKEN", "ALERTMANAGER_SLACK_WEBHOOK_URL"} <= facts.workflow_secrets
    assert "TODO_DOMAIN" in facts.repo_variables
    assert len(facts.alerts) == 9
    assert facts.counts == {"stacks": 4, "add-ons": 7, "helm releases": 9, "alerts": 9}
    assert "cdktf.out" in facts.generated
    assert {"RCLONE_CONFIG_SPACES_ENDPOINT", "OFFSITE"} <= facts.known_names


def test_runbooks_show_deploys_of_every_stack(texts: dict[str, str]) -> None:
    deployed = {
        stack
        for doc in RUNBOOKS
        for command, stacks, _ in stack_commands(texts[doc])
        if command == "deploy"
        for stack in stacks
    }
    assert deployed == {"cluster", "platform", "app-staging", "app-production"}


def test_monitoring_has_exactly_one_section_per_alert(texts: dict[str, str], alerts: dict[str, str]) -> None:
    assert sorted(alert_sections(texts[MONITORING_RUNBOOK])) == sorted(alerts)


def test_runbook_urls_point_at_the_monitoring_runbook(alerts: dict[str, str]) -> None:
    for name, url in alerts.items():
        assert url.endswith(f"{MONITORING_RUNBOOK}#{name.lower()}"), url


# --- seeded drift: each planted error is reported, and only it ------------------------------------


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"seed target {old!r} not in the runbook any more"
    return text.replace(old, new)


def test_drift_unknown_stack(texts: dict[str, str], facts: Facts) -> None:
    text = texts[DEPLOY] + "\n```sh\npython3 dev.py cdktf deploy app-qa --ignore-missing-stack-dependencies\n```\n"
    problems = check_stack_commands(DEPLOY, text, facts.stacks)
    assert len(problems) == 1
    assert "`cdktf deploy app-qa` names no stack" in problems[0]


def test_drift_unknown_stack_in_npx_diff(texts: dict[str, str], facts: Facts) -> None:
    text = texts[ROLLBACK] + "\nThen `npx cdktf diff app-prod`.\n"
    assert check_stack_commands(ROLLBACK, text, facts.stacks) == [
        f"{ROLLBACK}: `cdktf diff app-prod` names no stack (stacks: app-production, app-staging, cluster, platform)"
    ]


def test_drift_dependent_stack_deployed_alone_without_the_flag(texts: dict[str, str], facts: Facts) -> None:
    text = _replace(
        texts[BOOTSTRAP_GUIDE],
        "python3 dev.py cdktf deploy platform --ignore-missing-stack-dependencies",
        "python3 dev.py cdktf deploy platform",
    )
    problems = check_stack_commands(BOOTSTRAP_GUIDE, text, facts.stacks)
    assert len(problems) == 1
    assert "deploys platform without its dependencies (cluster)" in problems[0]


def test_drift_unknown_dev_command(texts: dict[str, str], facts: Facts) -> None:
    text = texts[DEPLOY] + "\nRun `python3 dev.py release v1.2.3`.\n"
    problems = check_dev_commands(DEPLOY, text, facts.dev_commands)
    assert len(problems) == 1
    assert "`python3 dev.py release` is not a dev.py command" in problems[0]


def test_drift_missing_file(texts: dict[str, str], facts: Facts) -> None:
    text = _replace(texts[DEPLOY], "`k8s/addons/loki.yaml`", "`k8s/addons/loki-distributed.yaml`")
    assert check_paths(DEPLOY, text, facts) == [
        f"{DEPLOY}: `k8s/addons/loki-distributed.yaml` does not exist in the repository"
    ]


def test_drift_missing_file_in_a_code_block(texts: dict[str, str], facts: Facts) -> None:
    text = _replace(texts[DEPLOY], ".github/scripts/require_tf_vars.py", ".github/scripts/check_vars.py")
    assert check_paths(DEPLOY, text, facts) == [
        f"{DEPLOY}: `.github/scripts/check_vars.py` does not exist in the repository"
    ]


def test_drift_link_to_a_missing_section(texts: dict[str, str], facts: Facts) -> None:
    text = _replace(texts[ROLLBACK], "(deploy.md#manual-deploy-from-a-shell)", "(deploy.md#manual-deploy)")
    assert check_paths(ROLLBACK, text, facts) == [
        f"{ROLLBACK}: link (deploy.md#manual-deploy) points to a missing section #manual-deploy"
    ]


def test_drift_missing_alert_section(texts: dict[str, str], alerts: dict[str, str]) -> None:
    text = _replace(texts[MONITORING_RUNBOOK], "### PodNotReady\n", "")
    assert check_alerts(MONITORING_RUNBOOK, text, alerts) == [
        f"{MONITORING_RUNBOOK}: no section for alert PodNotReady",
        f"{MONITORING_RUNBOOK}: runbook_url of PodNotReady ends in #podnotready, which has no section",
    ]


def test_drift_renamed_alert_section(texts: dict[str, str], alerts: dict[str, str]) -> None:
    text = _replace(texts[MONITORING_RUNBOOK], "### HighCPU\n", "### HighCpuUsage\n")
    assert check_alerts(MONITORING_RUNBOOK, text, alerts) == [
        f"{MONITORING_RUNBOOK}: no section for alert HighCPU",
        f"{MONITORING_RUNBOOK}: section 'HighCpuUsage' is not an alert of the chart",
        f"{MONITORING_RUNBOOK}: runbook_url of HighCPU ends in #highcpu, which has no section",
    ]


def test_drift_a_count_the_code_outgrew(texts: dict[str, str], facts: Facts) -> None:
    """Seeded: the rollback page as it was before metrics-server, and a stack count in digits."""
    text = _replace(texts["docs/runbooks/rollback.md"], "the seven add-ons", "the six add-ons") + "\n5 stacks\n"
    assert check_counts("docs/runbooks/rollback.md", text, facts.counts) == [
        "docs/runbooks/rollback.md: says 'six add-ons', the code has 7",
        "docs/runbooks/rollback.md: says '5 stacks', the code has 4",
    ]


def test_drift_renamed_secret(texts: dict[str, str], facts: Facts) -> None:
    text = _replace(texts[BOOTSTRAP_GUIDE], "GHCR_TOKEN", "GHCR_PAT")
    problems = check_names(BOOTSTRAP_GUIDE, text, facts) + check_secret_coverage(BOOTSTRAP_GUIDE, text, facts)
    assert problems == [
        f"{BOOTSTRAP_GUIDE}: GHCR_PAT is neither a secret or variable the workflows use nor an environment "
        "variable the code reads",
        f"{BOOTSTRAP_GUIDE}: GitHub secret GHCR_TOKEN is not listed",
    ]


def test_drift_renamed_terraform_variable(texts: dict[str, str], facts: Facts) -> None:
    text = _replace(texts[BOOTSTRAP_GUIDE], "TF_VAR_database_url", "TF_VAR_db_url")
    problems = check_names(BOOTSTRAP_GUIDE, text, facts) + check_secret_coverage(BOOTSTRAP_GUIDE, text, facts)
    assert problems == [
        f"{BOOTSTRAP_GUIDE}: TF_VAR_db_url is not a variable of any stack",
        f"{BOOTSTRAP_GUIDE}: stack variable TF_VAR_database_url is not listed",
    ]


def test_drift_secret_the_workflows_gain(texts: dict[str, str], facts: Facts) -> None:
    """A new secret in the workflows fails the bootstrap guide until it is documented."""
    grown = Facts(**{**facts.__dict__, "workflow_secrets": facts.workflow_secrets | {"SENTRY_DSN"}})
    assert check_secret_coverage(BOOTSTRAP_GUIDE, texts[BOOTSTRAP_GUIDE], grown) == [
        f"{BOOTSTRAP_GUIDE}: GitHub secret SENTRY_DSN is not listed"
    ]


def import_table_types(text: str) -> set[str]:
    """The resource types the rollback runbook's import table (section "Lost state bucket") gives an ID for."""
    section = text.split("### Lost state bucket", 1)[1].split("\n### ", 1)[0]
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.MULTILINE))


def test_the_lost_state_runbook_can_import_every_resource_type(
    texts: dict[str, str], synth: Synth, variant: Synth
) -> None:
    """A state rebuilt by import must cover every type the stacks manage (the variant adds the DNS records)."""
    managed = {kind for build in (synth, variant) for stack in build.stacks.values() for kind in stack["resource"]}
    assert import_table_types(texts["docs/runbooks/rollback.md"]) == managed


def test_drift_a_resource_type_without_an_import_row() -> None:
    table = (
        "### Lost state bucket\n| `helm_release` | `<namespace>/<name>` | x |\n"
        "### Next\n| `digitalocean_vpc` | x | x |\n"
    )
    assert import_table_types(table) == {"helm_release"}


# --- the teardown destroys every stack, dependents first ------------------------------------------------------------

TEARDOWN = "docs/runbooks/teardown.md"


def teardown_order_problems(text: str, stacks: dict[str, frozenset[str]]) -> list[str]:
    """The destroy commands of the teardown's code blocks name every stack once, each after every stack that depends
    on it (`stacks`: stack -> the stacks it depends on)."""
    order = [
        stack for command, named, _ in stack_commands(text, blocks_only=True) if command == "destroy" for stack in named
    ]
    problems = [f"{stack} is not destroyed" for stack in sorted(set(stacks) - set(order))]
    problems += [f"{stack} is destroyed more than once" for stack in sorted({s for s in order if order.count(s) > 1})]
    for position, stack in enumerate(order):
        later = [dependent for dependent in order[position + 1 :] if stack in stacks.get(dependent, frozenset())]
        problems += [f"{stack} is destroyed before {dependent}, which depends on it" for dependent in later]
    return problems


def test_the_teardown_destroys_every_stack_dependents_first(texts: dict[str, str], facts: Facts) -> None:
    assert teardown_order_problems(texts[TEARDOWN], dict(facts.stacks)) == []


def test_a_teardown_in_the_wrong_order_is_caught(texts: dict[str, str], facts: Facts) -> None:
    text = texts[TEARDOWN]
    platform = "python3 dev.py cdktf destroy platform --ignore-missing-stack-dependencies\n"
    cluster = "python3 dev.py cdktf destroy cluster --ignore-missing-stack-dependencies\n"
    swapped = _replace(text, platform + cluster, cluster + platform)
    assert teardown_order_problems(swapped, dict(facts.stacks)) == [
        "cluster is destroyed before platform, which depends on it"
    ]
    staging = "python3 dev.py cdktf destroy app-staging "
    assert teardown_order_problems(
        _replace(text, staging, "python3 dev.py cdktf destroy app-production "), dict(facts.stacks)
    ) == [
        "app-staging is not destroyed",
        "app-production is destroyed more than once",
    ]

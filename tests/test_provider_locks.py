"""Providers by hash: each stack's committed lock (locks/<stack>.terraform.lock.hcl) covers exactly the providers and
versions the stack pins, main.py places it where Terraform runs, the workflows' `terraform init` takes it read-only,
and Terraform itself refuses a provider package whose checksum is not in it (offline: a local filesystem mirror)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

import toolchain
from tests.synth import Synth
from tests.workflows.gha_support import load_workflow
from todo_infra import provider_locks

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / ".github" / "workflows"
HELM = "registry.terraform.io/hashicorp/helm"


def _committed(stack_id: str) -> str | None:
    path = provider_locks.lock_path(stack_id)
    return path.read_text() if path.is_file() else None


def test_every_stack_s_committed_lock_covers_exactly_its_pinned_providers(synth: Synth) -> None:
    awaiting = provider_locks.awaiting()
    assert set(awaiting) <= set(synth.stacks), "locks/awaiting.json names stacks that do not exist"
    for stack_id, stack in synth.stacks.items():
        text = _committed(stack_id)
        if stack_id in awaiting:
            assert text is None, f"{stack_id} has a lock now: remove it from locks/awaiting.json"
            assert awaiting[stack_id].strip()
        else:
            assert provider_locks.problems(stack_id, stack, text) == []


def _all_committed() -> dict[str, str]:
    return {
        path.name: path.read_text() for path in sorted(provider_locks.LOCKS_DIR.glob(f"*{provider_locks.LOCK_NAME}"))
    }


def test_every_locked_provider_version_says_where_its_hashes_come_from() -> None:
    locks = _all_committed()
    assert {"cluster.terraform.lock.hcl", "platform.terraform.lock.hcl"} <= set(locks)
    assert provider_locks.source_problems(locks, provider_locks.sources()) == []


def test_the_same_provider_version_has_the_same_hashes_in_every_lock() -> None:
    seen: dict[str, tuple[str, ...]] = {}
    for name, text in _all_committed().items():
        for address, lock in provider_locks.parse(text).items():
            key = f"{address} {lock.version}"
            assert seen.setdefault(key, lock.hashes) == lock.hashes, f"{name}: {key} differs from another lock"


DO = "registry.terraform.io/digitalocean/digitalocean 2.71.0"


def _source(repository: str) -> dict[str, str]:
    return {"repository": repository, "commit": "0" * 40, "path": ".terraform.lock.hcl"}


def test_seeded_a_lock_without_enough_independent_sources_is_caught() -> None:
    locks = {"cluster": _committed("cluster") or ""}
    assert provider_locks.source_problems(locks, {}) == [
        f"{DO}: locked, but locks/sources.json does not say where its hashes come from"
    ]
    same_owner = {DO: [_source("someone/a"), _source("Someone/b")]}
    assert provider_locks.source_problems(locks, same_owner) == [
        f"{DO}: 1 owner(s) agree, 2 needed (or {provider_locks.REGISTRY!r}, or a reason under _one_source)"
    ]
    assert provider_locks.source_problems(locks, {**same_owner, "_one_source": {DO: "  "}}) != []
    assert provider_locks.source_problems(locks, {**same_owner, "_one_source": {DO: "why"}}) == []
    no_commit = {DO: [_source("a/x"), {**_source("b/y"), "commit": ""}]}
    assert provider_locks.source_problems(locks, no_commit) == [f"{DO}: each source needs repository, commit and path"]
    assert provider_locks.source_problems(locks, {DO: [_source("a/x"), _source("b/y")]}) == []
    assert provider_locks.source_problems(locks, {DO: provider_locks.REGISTRY}) == []
    stale = {DO: provider_locks.REGISTRY, "registry.terraform.io/hashicorp/helm 9.9.9": provider_locks.REGISTRY}
    assert provider_locks.source_problems(locks, stale) == [
        "registry.terraform.io/hashicorp/helm 9.9.9: in locks/sources.json, but no lock has it"
    ]


def test_no_lock_is_committed_for_a_stack_that_does_not_exist(synth: Synth) -> None:
    committed = {path.name.removesuffix(provider_locks.LOCK_NAME) for path in provider_locks.LOCKS_DIR.glob("*.hcl")}
    assert committed <= set(synth.stacks)


@pytest.fixture
def app_stack(synth: Synth) -> tuple[str, dict[str, Any], str]:
    stack_id = next(s for s in synth.stacks if _committed(s) is not None)
    text = _committed(stack_id)
    assert text is not None
    return stack_id, synth.stacks[stack_id], text


def _repin(stack: dict[str, Any], name: str, version: str) -> dict[str, Any]:
    changed: dict[str, Any] = json.loads(json.dumps(stack))
    changed["terraform"]["required_providers"][name]["version"] = version
    return changed


def test_a_provider_bump_without_a_new_lock_is_caught(app_stack: tuple[str, dict[str, Any], str]) -> None:
    stack_id, stack, text = app_stack
    found = provider_locks.problems(stack_id, _repin(stack, "helm", "9.9.9"), text)
    assert found == [f"{stack_id}: {HELM} is locked at 3.1.1, pinned at 9.9.9"]


def test_a_provider_missing_from_the_lock_or_locked_but_unused_is_caught(
    app_stack: tuple[str, dict[str, Any], str],
) -> None:
    stack_id, stack, text = app_stack
    start = text.index(f'provider "{HELM}"')
    without_helm = text[:start] + text[text.index("\n}\n", start) + 3 :]
    assert provider_locks.problems(stack_id, stack, without_helm) == [f"{stack_id}: {HELM} is pinned but not locked"]
    extra = json.loads(json.dumps(stack))
    del extra["terraform"]["required_providers"]["helm"]
    assert provider_locks.problems(stack_id, extra, text) == [f"{stack_id}: {HELM} is locked but not used"]


def test_a_lock_without_archive_hashes_or_with_malformed_ones_is_caught(
    app_stack: tuple[str, dict[str, Any], str],
) -> None:
    stack_id, stack, text = app_stack
    no_zh = "\n".join(line for line in text.splitlines() if '"zh:' not in line)
    assert f"{stack_id}: {HELM} has no zh: (release archive) hash" in provider_locks.problems(stack_id, stack, no_zh)
    malformed = text.replace('"zh:1a6d5ce9', '"zh:XYZ', 1)
    assert any("malformed hashes" in p for p in provider_locks.problems(stack_id, stack, malformed))
    assert provider_locks.problems(stack_id, stack, None) == [
        f"{stack_id}: no provider lock locks/{stack_id}.terraform.lock.hcl"
    ]


def test_the_synth_places_each_committed_lock_where_terraform_runs(synth: Synth) -> None:
    for stack_id in synth.stacks:
        placed = synth.workdir(stack_id) / provider_locks.LOCK_NAME
        committed = _committed(stack_id)
        if committed is None:
            assert not placed.exists(), stack_id
        else:
            assert placed.read_text() == committed, stack_id


def test_placing_removes_a_stale_lock_of_a_stack_without_one(tmp_path: Path) -> None:
    folder = tmp_path / "stacks" / "not-a-stack"
    folder.mkdir(parents=True)
    (folder / provider_locks.LOCK_NAME).write_text("stale")
    assert provider_locks.place(tmp_path) == []
    assert not (folder / provider_locks.LOCK_NAME).exists()


# --- Terraform enforces the lock (offline) ---------------------------------------------------------------------


def _mirror_with_a_package(root: Path) -> Path:
    """A filesystem mirror holding a helm 3.1.1 package that is not the registry's (packed, as the registry ships)."""
    platform = "_".join(toolchain.platform_key())
    package = root / "mirror" / "registry.terraform.io" / "hashicorp" / "helm"
    package.mkdir(parents=True)
    archive = package / f"terraform-provider-helm_3.1.1_{platform}.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("terraform-provider-helm_v3.1.1", "#!/bin/sh\necho not the registry's helm\n")
    (root / "cli.tfrc").write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{root / "mirror"}"\n  }}\n}}\n'
    )
    return archive


def _init(root: Path, lock: str) -> subprocess.CompletedProcess[str]:
    work = root / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    (work / "main.tf.json").write_text(
        json.dumps({"terraform": {"required_providers": {"helm": {"source": "hashicorp/helm", "version": "3.1.1"}}}})
    )
    (work / provider_locks.LOCK_NAME).write_text(lock)
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(root / "cli.tfrc"), "CHECKPOINT_DISABLE": "1"}
    command = [str(toolchain.find("terraform")), "init", "-input=false", "-no-color", "-lockfile=readonly"]
    return subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, check=False, timeout=120)


def _helm_only(text: str) -> str:
    return text[: text.index('provider "registry.terraform.io/hashicorp/kubernetes"')]


def test_terraform_refuses_a_provider_package_whose_checksum_is_not_in_the_committed_lock(tmp_path: Path) -> None:
    _mirror_with_a_package(tmp_path)
    lock = _committed("app-staging")
    assert lock is not None
    result = _init(tmp_path, _helm_only(lock))
    assert result.returncode != 0
    assert "doesn't match any of the checksums previously recorded in the dependency lock file" in " ".join(
        result.stderr.split()
    )


def test_the_same_package_installs_when_its_checksum_is_locked(tmp_path: Path) -> None:
    """The control of the test above: only the checksum differs between refusing and installing."""
    archive = _mirror_with_a_package(tmp_path)
    lock = _committed("app-staging")
    assert lock is not None
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    result = _init(tmp_path, _helm_only(lock).replace("  hashes = [\n", f'  hashes = [\n    "zh:{digest}",\n', 1))
    assert result.returncode == 0, result.stderr


def _validate(root: Path) -> str:
    """`terraform validate` in the folder _init() initialised: it loads the installed providers, checking each against
    the lock file on disk as every plan and apply does."""
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(root / "cli.tfrc"), "CHECKPOINT_DISABLE": "1"}
    command = [str(toolchain.find("terraform")), "validate", "-no-color"]
    result = subprocess.run(
        command, cwd=root / "work", env=env, capture_output=True, text=True, check=False, timeout=120
    )
    return " ".join((result.stdout + result.stderr).split())


_UNVERIFIABLE = "does not match any of the checksums recorded in the dependency lock file"


def test_a_lock_with_zh_hashes_only_passes_the_read_only_init_but_stops_every_plan(tmp_path: Path) -> None:
    """Terraform checks the unpacked package in .terraform/providers against h1: hashes only (a zh: hash is of the
    release archive, which it no longer has: internal/getproviders PackageMatchesAnyHash). With -lockfile=readonly the
    h1: the init computed is not saved, so a lock without an h1: for the runner's platform installs the provider and
    then refuses it at the next plan, apply or validate. Such a lock (every committed cluster/platform hash, and helm
    3.1.1 in every stack) is why the plan and deploy jobs complete it first (the tests below)."""
    archive = _mirror_with_a_package(tmp_path)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    lock = _helm_only(_committed("app-staging") or "")
    assert "h1:" not in lock, "helm 3.1.1 now has h1: hashes: adjust this test's premise (and docs/architecture.md)"
    zh_only = lock.replace("  hashes = [\n", f'  hashes = [\n    "zh:{digest}",\n', 1)
    init = _init(tmp_path, zh_only)
    assert init.returncode == 0, init.stderr
    assert "Provider lock file not updated" in " ".join((init.stdout + init.stderr).split())
    assert _UNVERIFIABLE in _validate(tmp_path)


def test_the_same_lock_with_the_package_s_h1_hash_passes_the_check_at_plan_time(tmp_path: Path) -> None:
    """The control: the same package, locked with its h1: too (Terraform's dirhash: SHA-256 over the sorted
    "<sha256>  <path>" lines of the unpacked files), is accepted; validate then fails only because the stand-in is no
    provider."""
    archive = _mirror_with_a_package(tmp_path)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    with zipfile.ZipFile(archive) as zipped:
        lines = "".join(
            f"{hashlib.sha256(zipped.read(name)).hexdigest()}  {name}\n" for name in sorted(zipped.namelist())
        )
    h1 = base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()
    lock = _helm_only(_committed("app-staging") or "")
    both = lock.replace("  hashes = [\n", f'  hashes = [\n    "h1:{h1}",\n    "zh:{digest}",\n', 1)
    init = _init(tmp_path, both)
    assert init.returncode == 0, init.stderr
    output = _validate(tmp_path)
    assert _UNVERIFIABLE not in output
    assert "Error" in output  # the stand-in binary is not a provider


def test_completing_a_zh_only_lock_adds_the_installed_package_s_h1_and_the_plan_check_passes(tmp_path: Path) -> None:
    """The fix for the test above, as the workflows run it before their read-only inits: the init verifies the package
    against the committed zh: hash and records its h1:, and the plan-time check then passes."""
    archive = _mirror_with_a_package(tmp_path)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    zh_only = _helm_only(_committed("app-staging") or "").replace(
        "  hashes = [\n", f'  hashes = [\n    "zh:{digest}",\n', 1
    )
    lock = tmp_path / f"app-staging{provider_locks.LOCK_NAME}"
    lock.write_text(zh_only)
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(tmp_path / "cli.tfrc"), "CHECKPOINT_DISABLE": "1"}
    assert provider_locks.complete(lock, toolchain.find("terraform"), env) == []
    completed = provider_locks.parse(lock.read_text())["registry.terraform.io/hashicorp/helm"]
    assert set(provider_locks.parse(zh_only)["registry.terraform.io/hashicorp/helm"].hashes) < set(completed.hashes)
    assert [value for value in completed.hashes if value.startswith("h1:")]
    init = _init(tmp_path, lock.read_text())  # the workflows' read-only init, on the completed lock
    assert init.returncode == 0, init.stderr
    assert _UNVERIFIABLE not in _validate(tmp_path)


def test_seeded_completion_refuses_a_package_the_committed_lock_does_not_hash(tmp_path: Path) -> None:
    _mirror_with_a_package(tmp_path)
    committed = _helm_only(_committed("app-staging") or "")
    lock = tmp_path / f"app-staging{provider_locks.LOCK_NAME}"
    lock.write_text(committed)
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(tmp_path / "cli.tfrc"), "CHECKPOINT_DISABLE": "1"}
    (problem,) = provider_locks.complete(lock, toolchain.find("terraform"), env)
    assert "terraform init refused the lock" in problem
    assert "doesn't match any of the checksums previously recorded" in problem
    assert lock.read_text() == committed  # nothing written


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t.replace('version     = "3.1.1"', 'version     = "3.1.2"'), "version changed from 3.1.1 to 3.1.2"),
        (
            lambda t: t.replace(
                '    "zh:1a6d5ce9',
                '    "zh:0000000000000000000000000000000000000000000000000000000000000000",\n    "zh:1a6d5ce9',
            ),
            "hashes other than h1: added",
        ),
        (
            lambda t: t.replace('    "zh:1a6d5ce931708aec29d1f3d9e360c2a0c35ba5a54d03eeaff0ce3ca597cd0275",\n', ""),
            "committed hashes dropped",
        ),
        (lambda t: "", "dropped by the init"),
    ],
    ids=["version", "zh-added", "hash-dropped", "provider-dropped"],
)
def test_seeded_a_completion_may_only_add_h1_hashes(change: Any, expected: str) -> None:
    before = _helm_only(_committed("app-staging") or "")
    assert provider_locks.completion_problems(before, before) == []
    (problem,) = provider_locks.completion_problems(before, change(before))
    assert expected in problem


# --- the workflows --------------------------------------------------------------------------------------------


#: A command line that makes Terraform initialise providers: a plan or a deploy, directly or through the project's
#: commands and scripts (echo/printf lines that only name them are not commands).
_RUNS_INIT = re.compile(
    r"(^|[\s/])(cdktf (deploy|diff|plan)|terraform (init|plan|apply)|dev\.py (cdktf|local up)|plan_stack\.sh|"
    r"provider_locks\.sh)\b"
)


def _runs_init(run: object) -> bool:
    lines = (line.strip() for line in str(run or "").splitlines())
    return any(_RUNS_INIT.search(line) for line in lines if line and not line.startswith(("echo", "printf", "#")))


#: Workflows whose init may change the lock, each for a reason the deploy runbook states ("Provider lock refused").
UNLOCKED_WORKFLOWS = {
    "provider-locks.yml": "it regenerates the locks, as a pull request a reviewer merges",
    "e2e.yml": "a throwaway kind cluster with no secret; the local platform stack has no committed lock yet",
}


def unlocked_init_steps(workflow: dict[str, Any]) -> list[str]:
    """The steps that run Terraform's init without `TF_CLI_ARGS_init=-lockfile=readonly` in their step, job or
    workflow environment."""
    found = []
    for job_name, job in workflow.get("jobs", {}).items():
        for step in job.get("steps", []):
            if not _runs_init(step.get("run")):
                continue
            env = {**workflow.get("env", {}), **job.get("env", {}), **step.get("env", {})}
            if env.get("TF_CLI_ARGS_init") != "-lockfile=readonly":
                found.append(f"{job_name}: {step.get('name', step.get('run'))}")
    return found


def test_every_workflow_that_runs_terraform_init_takes_the_lock_read_only() -> None:
    checked = 0
    for path in sorted(WORKFLOWS.glob("*.yml")):
        workflow = load_workflow(path)
        steps = unlocked_init_steps(workflow)
        if path.name in UNLOCKED_WORKFLOWS:
            continue
        assert steps == [], f"{path.name}: {steps}"
        checked += sum(
            1
            for job in workflow["jobs"].values()
            for s in job.get("steps", [])
            if _RUNS_INIT.search(str(s.get("run", "")))
        )
    assert checked >= 3  # deploy, the PR plan and the drift plan at least
    runbook = (REPO / "docs" / "runbooks" / "deploy.md").read_text()
    for name in UNLOCKED_WORKFLOWS:
        assert f"`{name}`" in runbook, f"the runbook does not say why {name} may change the lock"


def test_seeded_an_init_without_the_read_only_lock_is_found() -> None:
    steps = [{"name": "plan", "run": "npx cdktf diff platform"}, {"name": "say", "run": 'echo "cdktf diff platform"'}]
    workflow: dict[str, Any] = {"jobs": {"plan": {"steps": steps}}}
    assert unlocked_init_steps(workflow) == ["plan: plan"]
    workflow["jobs"]["plan"]["env"] = {"TF_CLI_ARGS_init": "-lockfile=readonly"}
    assert unlocked_init_steps(workflow) == []


_COMPLETES = re.compile(
    r'python3 -m todo_infra\.provider_locks complete "cdktf\.out/stacks/\$\{STACK\}/\.terraform\.lock\.hcl"'
)


def incomplete_lock_jobs(workflow: dict[str, Any]) -> list[str]:
    """Jobs that plan or deploy a stack through a read-only init without first completing that stack's placed lock
    for the runner (`todo_infra.provider_locks complete`, in a step that holds no secret)."""
    found = []
    for job_name, job in workflow.get("jobs", {}).items():
        completed = False
        for step in job.get("steps", []):
            run = str(step.get("run", ""))
            if _COMPLETES.search(run):
                env = {**job.get("env", {}), **step.get("env", {})}
                if any("secrets." in str(value) for value in env.values()):
                    found.append(f"{job_name}: the completion step holds a secret")
                completed = True
            elif ("plan_stack.sh" in run or "cdktf deploy" in run) and _runs_init(run) and not completed:
                found.append(f"{job_name}: {step.get('name')} runs before the lock is completed")
    return found


def test_every_plan_and_deploy_completes_the_placed_lock_first() -> None:
    """A committed lock may hold zh: hashes only (gathered offline); a read-only init would then install the provider
    and the plan refuse it (the test above). Each plan and deploy job completes the stack's lock first."""
    checked = 0
    for name in ("cdktf-diff.yml", "drift.yml", "deploy.yml"):
        workflow = load_workflow(WORKFLOWS / name)
        assert incomplete_lock_jobs(workflow) == [], name
        checked += sum(
            1
            for job in workflow["jobs"].values()
            for s in job.get("steps", [])
            if _COMPLETES.search(str(s.get("run", "")))
        )
    assert checked == 3


def test_seeded_a_plan_before_the_completion_or_a_completion_with_a_secret_is_found() -> None:
    complete = {
        "name": "complete",
        "run": 'python3 -m todo_infra.provider_locks complete "cdktf.out/stacks/${STACK}/.terraform.lock.hcl"',
    }
    plan = {"name": "plan", "run": "bash .github/scripts/plan_stack.sh"}
    assert incomplete_lock_jobs({"jobs": {"p": {"steps": [complete, plan]}}}) == []
    assert incomplete_lock_jobs({"jobs": {"p": {"steps": [plan, complete]}}}) == [
        "p: plan runs before the lock is completed"
    ]
    leaky = {**complete, "env": {"TOKEN": "${{ secrets.DIGITALOCEAN_TOKEN }}"}}
    assert incomplete_lock_jobs({"jobs": {"p": {"steps": [leaky, plan]}}}) == ["p: the completion step holds a secret"]


def test_the_regeneration_locks_every_stack_for_every_platform(tmp_path: Path) -> None:
    """provider_locks.sh against a fake terraform: every stack, every platform, the locks copied, awaiting.json
    emptied, the changed files listed (what makes the workflow open its pull request)."""
    work = tmp_path / "checkout"
    shutil.copytree(REPO / "locks", work / "locks")
    shutil.copytree(REPO / "todo_infra", work / "todo_infra", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "toolchain", work / "toolchain", ignore=shutil.ignore_patterns("__pycache__"))
    for stack in ("cluster", "app-staging"):
        (work / "cdktf.out" / "stacks" / stack).mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    (work / "locks" / "awaiting.json").write_text('{"cluster": "no lock yet"}\n')
    subprocess.run(["git", "add", "locks"], cwd=work, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "locks"], cwd=work, check=True
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "terraform"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{tmp_path}/terraform-calls"\n'
        'folder="${1#-chdir=}"\n'
        'echo "# regenerated for $folder" > "$folder/.terraform.lock.hcl"\n'
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", str(REPO / ".github" / "scripts" / "provider_locks.sh")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "terraform-calls").read_text().splitlines()
    assert len(calls) == 2
    for call in calls:
        assert call.split()[1:3] == ["providers", "lock"]
        assert [arg.removeprefix("-platform=") for arg in call.split()[3:]] == list(provider_locks.PLATFORMS)
    assert (work / "locks" / "cluster.terraform.lock.hcl").read_text().startswith("# regenerated")
    assert json.loads((work / "locks" / "awaiting.json").read_text()) == {}
    # What changed against the committed locks, as the workflow reads it (unchanged files are not listed).
    changed = {line.split()[-1] for line in result.stdout.splitlines()}
    assert {"locks/cluster.terraform.lock.hcl", "locks/awaiting.json", "locks/sources.json"} <= changed
    assert "locks/platform.terraform.lock.hcl" not in changed
    # Every provider the locks now hold is recorded as the registry's (the fake locks hold none; the two stacks it did
    # not regenerate keep theirs).
    recorded = json.loads((work / "locks" / "sources.json").read_text())
    kept = {
        f"{name} {lock.version}"
        for stack in ("platform", "app-production")
        for name, lock in provider_locks.parse(_committed(stack) or "").items()
    }
    assert recorded == dict.fromkeys(sorted(kept), provider_locks.REGISTRY)


def test_terraform_stops_when_the_lock_does_not_cover_a_provider_instead_of_adding_it(tmp_path: Path) -> None:
    """A stack whose lock is missing a provider (or has none) fails its read-only init: nothing unlocked installs."""
    _mirror_with_a_package(tmp_path)
    result = _init(tmp_path, "# no provider is locked\n")
    assert result.returncode != 0
    assert "Provider dependency changes detected" in result.stderr
    assert (tmp_path / "work" / provider_locks.LOCK_NAME).read_text() == "# no provider is locked\n"

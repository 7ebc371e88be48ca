"""build.yml: tests first, then the images. Only main's builds name the images deploys use (`sha-<7>`, written
once); pushes are attested (provenance and SBOM), pull requests are built and neither pushed nor attested."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.workflows.gha_support import (
    GITHUB_DIR,
    REPO,
    evaluate,
    github_context,
    install_fakes,
    interpolate,
    load_script,
    metadata_tags,
    run_script,
    step_env,
    step_named,
    step_using,
    steps,
    stub_command,
    triggers,
)
from todo_infra import services, settings, yamlload

images = load_script("images")

REPOSITORY = "example-org/hackathon-todo-infra"
MAIN = "refs/heads/main"
SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
#: Another commit with the same 7-digit prefix (the issue found one in under two minutes).
SAME_PREFIX = "4b825dc0000000000000000000000000000000ff"
DIGEST = "sha256:" + "ab" * 32
ATTEST = "actions/attest"


@pytest.fixture(scope="module")
def build(workflows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return workflows["build.yml"]


@pytest.fixture(scope="module")
def job(build: dict[str, Any]) -> dict[str, Any]:
    images_job: dict[str, Any] = build["jobs"]["images"]
    return images_job


def tags_for(build: dict[str, Any], *, event_name: str, ref: str, sha: str = SHA) -> set[str]:
    meta = step_using(build["jobs"]["images"], "docker/metadata-action")
    context = github_context(event_name=event_name, ref=ref, sha=sha)
    return metadata_tags(meta["with"]["tags"], meta["with"].get("flavor", ""), context)


# --- triggers and order -------------------------------------------------------------------------------


def test_runs_for_every_push_pull_request_and_release_tag(build: dict[str, Any]) -> None:
    on = triggers(build)
    assert set(on) == {"push", "pull_request"}
    assert on["push"]["branches"] == ["**"]
    assert on["push"]["tags"] == ["v*"]
    assert on["pull_request"] is None or not {"branches", "paths"} & set(on["pull_request"])


def test_the_test_suite_runs_with_the_readme_command_before_any_image(build: dict[str, Any]) -> None:
    runs = [step.get("run") for step in build["jobs"]["test"]["steps"]]
    assert "python3 dev.py test" in runs
    assert "test" in build["jobs"]["images"]["needs"]


def concurrency_of(build: dict[str, Any], event: str, ref: str, sha: str = SHA) -> tuple[str, str]:
    context = github_context(event_name=event, ref=ref, sha=sha)
    group = interpolate(build["concurrency"]["group"], context)
    return group, interpolate(build["concurrency"]["cancel-in-progress"], context)


def test_a_newer_push_cancels_only_pull_request_runs(build: dict[str, Any]) -> None:
    for event, ref, cancels in [
        ("pull_request", "refs/pull/7/merge", True),
        ("push", "refs/heads/main", False),
        ("push", "refs/tags/v1.0.0", False),
    ]:
        assert concurrency_of(build, event, ref)[1] == str(cancels).lower()
    assert "queue" not in build["concurrency"], "queue: max cannot be combined with cancel-in-progress"


def test_three_quick_pushes_to_main_are_all_built(build: dict[str, Any]) -> None:
    """Issue scenario: GitHub keeps one pending run per group, so with a shared group the middle push of three was
    never built. Every push now has its own group; a pull request's pushes still share one (newest wins)."""
    pushes = [SHA, "1" * 40, "2" * 40]
    groups = {concurrency_of(build, "push", "refs/heads/main", sha)[0] for sha in pushes}
    assert len(groups) == 3
    pull_request = {concurrency_of(build, "pull_request", "refs/pull/7/merge", sha)[0] for sha in pushes}
    assert pull_request == {"build-refs/pull/7/merge"}


# --- tags (docs/architecture.md, "Images"): only main names the images deploys use --------------------------


def test_main_push_tags_sha_and_main_latest(build: dict[str, Any]) -> None:
    assert tags_for(build, event_name="push", ref="refs/heads/main") == {"sha-4b825dc", "main-latest"}


def test_branch_push_gets_its_own_prefix_never_sha(build: dict[str, Any]) -> None:
    assert tags_for(build, event_name="push", ref="refs/heads/feature/login-form") == {
        "branch-4b825dc",
        "feature-login-form-latest",
    }


def test_a_branch_commit_with_the_same_7_digit_prefix_cannot_overwrite_main_s_image(build: dict[str, Any]) -> None:
    """Issue scenario: a branch commit sharing the prefix re-pushed `sha-<7>` with a new digest."""
    main_tags = tags_for(build, event_name="push", ref="refs/heads/main", sha=SHA)
    branch_tags = tags_for(build, event_name="push", ref="refs/heads/feature", sha=SAME_PREFIX)
    assert "sha-4b825dc" in main_tags
    assert not main_tags & branch_tags
    assert not any(tag.startswith("sha-") for tag in branch_tags)


@pytest.mark.parametrize("tag", ["v1.2.3", "v2.0.0-rc.1"])
def test_release_tag_build_pushes_only_the_version(build: dict[str, Any], tag: str) -> None:
    """Issue scenario: the tag build re-pushed the release commit's `sha-<7>` and moved `main-latest` back."""
    assert tags_for(build, event_name="push", ref=f"refs/tags/{tag}") == {tag}


def test_deployable_tags_follow_the_image_tag_grammar(build: dict[str, Any]) -> None:
    for ref in ["refs/heads/main", "refs/tags/v1.2.3", "refs/tags/v3.0.0-beta.2"]:
        for tag in tags_for(build, event_name="push", ref=ref):
            assert re.fullmatch(settings.IMAGE_TAG_PATTERN, tag), tag
    for tag in tags_for(build, event_name="push", ref="refs/heads/fix"):
        assert not re.fullmatch(settings.IMAGE_TAG_PATTERN, tag), f"{tag}: a branch image must not be deployable"


# --- push, attest, or neither ------------------------------------------------------------------------------


def push_context(event: str, ref: str, **steps_outputs: dict[str, Any]) -> dict[str, Any]:
    return {**github_context(event_name=event, ref=ref), "steps": steps_outputs}


def runs(step: dict[str, Any], context: dict[str, Any]) -> bool:
    return "if" not in step or bool(evaluate(step["if"], context))


def attest_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for step in steps(job) if str(step.get("uses", "")).split("@")[0] == ATTEST]


def test_pull_requests_build_without_logging_in_pushing_or_attesting(job: dict[str, Any]) -> None:
    """Issue 12: attestations on push, never on pull requests. The step chain is evaluated as the runner would: on a
    pull request `existing` and `pushed` are skipped, so their outputs are empty."""
    context = push_context("pull_request", "refs/pull/7/merge", existing={"outputs": {}}, pushed={"outputs": {}})
    assert not runs(step_named(job, "Written once"), context)
    assert runs(step_named(job, "Build"), context)
    assert interpolate(step_using(job, "docker/build-push-action")["with"]["push"], context) == "false"
    assert not runs(step_using(job, "docker/login-action"), context)
    context["steps"]["build"] = {"outcome": "success", "outputs": {"digest": DIGEST}}
    assert not runs(step_named(job, "Digest of the pushed image"), context)
    attested = [step for step in attest_steps(job) if runs(step, context)]
    assert attested == []
    assert not runs(step_named(job, "SBOM of the pushed image"), context)


@pytest.mark.parametrize("ref", ["refs/heads/main", "refs/heads/fix/x", "refs/tags/v1.2.3"])
def test_pushes_are_pushed_and_attested_with_provenance_and_an_sbom(job: dict[str, Any], ref: str) -> None:
    context = push_context("push", ref, existing={"outputs": {"digest": ""}})
    assert runs(step_using(job, "docker/login-action"), context)
    assert runs(step_named(job, "Build"), context)
    assert interpolate(step_using(job, "docker/build-push-action")["with"]["push"], context) == "true"
    context["steps"]["build"] = {"outcome": "success", "outputs": {"digest": DIGEST}}
    assert runs(step_named(job, "Digest of the pushed image"), context)
    context["steps"]["pushed"] = {"outputs": {"digest": DIGEST}}
    provenance, sbom = attest_steps(job)
    assert runs(provenance, context) and runs(sbom, context)
    for step in (provenance, sbom):
        given = {
            k: interpolate(str(v), {**context, "matrix": {"image": "ghcr.io/o/hackathon-todo/mcp"}})
            for k, v in step["with"].items()
        }
        assert given["subject-name"] == "ghcr.io/o/hackathon-todo/mcp"
        assert given["subject-digest"] == DIGEST
        assert step["with"]["push-to-registry"] is True, "stored with the image on ghcr.io"
    assert "sbom-path" not in provenance["with"], "no sbom-path: actions/attest makes SLSA build provenance"
    assert sbom["with"]["sbom-path"] == "${{ runner.temp }}/sbom.spdx.json"
    assert step_using(job, "docker/build-push-action")["with"]["sbom"] is True


def test_only_the_image_job_holds_the_attestation_grants(build: dict[str, Any], job: dict[str, Any]) -> None:
    assert job["permissions"] == {
        "contents": "read",
        "packages": "write",
        "id-token": "write",
        "attestations": "write",
    }
    for job_id, other in build["jobs"].items():
        if job_id != "images":
            assert not {"id-token", "attestations", "packages"} & set(other["permissions"]), job_id


def test_images_carry_metadata_tags_oci_labels_and_a_layer_cache(job: dict[str, Any]) -> None:
    build_push = step_using(job, "docker/build-push-action")["with"]
    assert build_push["tags"] == "${{ steps.meta.outputs.tags }}"
    assert build_push["labels"] == "${{ steps.meta.outputs.labels }}"
    assert build_push["context"] == "${{ matrix.context }}"
    assert build_push["cache-from"].startswith("type=gha")
    assert build_push["cache-to"].startswith("type=gha,mode=max")
    assert "${{ matrix.service }}" in build_push["cache-to"]  # one cache per service, not one shared
    assert step_using(job, "docker/metadata-action")["id"] == "meta"


# --- written once -----------------------------------------------------------------------------------------


def docker_stub(tmp_path: Path, body: str) -> Path:
    """A `docker` that answers `buildx imagetools inspect` as `body` says and logs every call."""
    stub_command(tmp_path / "bin", "docker", f'echo "$*" >> "{tmp_path}/docker-calls"\n{body}')
    return tmp_path / "bin"


def attested(digest: str = DIGEST, commit: str = SHA, **fields: Any) -> list[dict[str, Any]]:
    """The provenance and SBOM attestations main's build.yml signs for `digest` of `commit` (`fields` override)."""
    signed = {"repository": REPOSITORY, "workflow": f"{REPOSITORY}/.github/workflows/build.yml", "ref": MAIN}
    return [
        {"digest": digest, "predicate": predicate, "commit": commit, "self_hosted": False, **signed, **fields}
        for predicate in images.PREDICATES.values()
    ]


def run_existing(
    job: dict[str, Any], tmp_path: Path, docker: str, attestations: list[dict[str, Any]] | None = None
) -> Any:
    """The `existing` step against a `docker` answering as `docker` says and a `gh` holding `attestations`."""
    step = step_named(job, "Written once")
    context = {
        **github_context(event_name="push", ref=MAIN, sha=SHA, repository=REPOSITORY),
        "matrix": {"image": "ghcr.io/o/x"},
    }
    context["github"]["token"] = "ghs_fake"
    fakes = install_fakes(tmp_path / "fakes", {"attestations": attestations or []})
    stub_command(fakes.bin_dir, "docker", f'echo "$*" >> "{tmp_path}/docker-calls"\n{docker}')
    return run_script(step["run"], env=step_env(step, context), cwd=REPO, tmp_path=tmp_path, path_prepend=fakes.bin_dir)


def inspect_answer(digest: str = DIGEST) -> str:
    """A `docker buildx imagetools inspect` that finds the tag, pointing at `digest`."""
    return f'echo \'{{"mediaType":"x","digest":"{digest}","size":1}}\'\n'


def test_a_rerun_of_main_s_build_keeps_the_image_already_pushed(job: dict[str, Any], tmp_path: Path) -> None:
    """Issue scenario: a re-run of a main build re-pushed `sha-<7>` with a new digest. Now the existing digest, attested
    for this commit by main's build.yml, is kept and neither build, push nor attestation runs."""
    result = run_existing(job, tmp_path, inspect_answer(), attested())
    assert result.returncode == 0, result.text
    assert result.outputs == {"digest": DIGEST}
    assert "already pushed" in result.stdout
    assert "inspect ghcr.io/o/x:sha-4b825dc" in (tmp_path / "docker-calls").read_text()
    context = push_context(
        "push", "refs/heads/main", existing={"outputs": result.outputs}, build={"outcome": "skipped"}
    )
    assert not runs(step_named(job, "Build"), context)
    assert not runs(step_named(job, "Digest of the pushed image"), context)
    context["steps"]["pushed"] = {"outputs": {}}
    assert not any(runs(step, context) for step in attest_steps(job))


def test_a_first_build_of_a_main_commit_pushes(job: dict[str, Any], tmp_path: Path) -> None:
    result = run_existing(job, tmp_path, 'echo "ERROR: ghcr.io/o/x:sha-4b825dc: not found" >&2\nexit 1\n')
    assert result.returncode == 0, result.text
    assert result.outputs == {"digest": ""}
    assert runs(step_named(job, "Build"), push_context("push", "refs/heads/main", existing={"outputs": result.outputs}))


def test_an_unreadable_registry_stops_the_build_instead_of_overwriting(job: dict[str, Any], tmp_path: Path) -> None:
    result = run_existing(job, tmp_path, 'echo "ERROR: unexpected status: 503 Service Unavailable" >&2\nexit 1\n')
    assert result.returncode != 0
    assert "cannot read ghcr.io/o/x:sha-4b825dc from the registry: ERROR: unexpected status: 503" in result.stderr
    assert "digest" not in result.outputs


def test_the_first_push_of_a_new_package_is_not_blocked(job: dict[str, Any], tmp_path: Path) -> None:
    """GHCR answers `denied` for a package that does not exist yet; a token that may not read may not push either,
    so taking it as absent cannot overwrite anything."""
    result = run_existing(job, tmp_path, 'echo "ERROR: failed to authorize: denied: denied" >&2\nexit 1\n')
    assert result.returncode == 0, result.text
    assert result.outputs == {"digest": ""}


@pytest.mark.parametrize("digest", ["", "sha256:abc", "sha512:" + "0" * 128])
def test_a_build_without_a_digest_is_not_attested(job: dict[str, Any], tmp_path: Path, digest: str) -> None:
    step = step_named(job, "Digest of the pushed image")
    env = step_env(step, {"steps": {"build": {"outputs": {"digest": digest}}}, "matrix": {"image": "ghcr.io/o/x"}})
    result = run_script(step["run"], env=env, cwd=tmp_path, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "::error title=No digest for ghcr.io/o/x::" in result.stdout
    assert result.outputs == {}


def test_the_pushed_digest_is_recorded_on_the_run_page(job: dict[str, Any], tmp_path: Path) -> None:
    step = step_named(job, "Digest of the pushed image")
    env = step_env(step, {"steps": {"build": {"outputs": {"digest": DIGEST}}}, "matrix": {"image": "ghcr.io/o/x"}})
    result = run_script(step["run"], env=env, cwd=tmp_path, tmp_path=tmp_path)
    assert result.returncode == 0, result.text
    assert result.outputs == {"digest": DIGEST}
    assert f"| `ghcr.io/o/x` | `{DIGEST}` |" in result.summary


def sbom_inspect(document: dict[str, Any] | None) -> str:
    """What `imagetools inspect --format '{{ json .SBOM }}'` prints for a one-platform image index."""
    return json.dumps({"linux/amd64": {"SPDX": document}} if document is not None else {})


@pytest.mark.parametrize(
    ("inspected", "ok"),
    [
        (sbom_inspect({"spdxVersion": "SPDX-2.3", "name": "mcp", "packages": []}), True),
        (json.dumps({"SPDX": {"spdxVersion": "SPDX-2.3", "packages": []}}), True),
        (sbom_inspect(None), False),
        (sbom_inspect({"bomFormat": "CycloneDX"}), False),
        ("not json", False),
    ],
    ids=["per-platform", "single", "no-sbom", "not-spdx", "garbage"],
)
def test_the_sbom_attested_is_the_spdx_document_buildkit_attached(
    job: dict[str, Any], tmp_path: Path, inspected: str, ok: bool
) -> None:
    step = step_named(job, "SBOM of the pushed image")
    (tmp_path / "inspected").write_text(inspected)
    bin_dir = docker_stub(tmp_path, f'cat "{tmp_path}/inspected"\n')
    context = {"steps": {"pushed": {"outputs": {"digest": DIGEST}}}, "matrix": {"image": "ghcr.io/o/x"}}
    result = run_script(step["run"], env=step_env(step, context), cwd=REPO, tmp_path=tmp_path, path_prepend=bin_dir)
    assert f"inspect ghcr.io/o/x@{DIGEST} --format" in (tmp_path / "docker-calls").read_text()
    written = tmp_path / "runner_temp" / "sbom.spdx.json"
    if ok:
        assert result.returncode == 0, result.text
        assert json.loads(written.read_text())["spdxVersion"] == "SPDX-2.3"
    else:
        assert result.returncode != 0
        assert "::error title=images::" in result.stderr
        assert "Traceback" not in result.stderr


# --- where each image is built from -------------------------------------------------------------------


def images_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GITHUB_DIR / "scripts" / "images.py"), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_matrix_comes_from_the_one_declaration(build: dict[str, Any], tmp_path: Path) -> None:
    assert build["jobs"]["images"]["strategy"]["matrix"] == "${{ fromJSON(needs.services.outputs.matrix) }}"
    assert build["jobs"]["images"]["strategy"]["fail-fast"] is False
    read = step_named(build["jobs"]["services"], "Turn the image declarations")
    result = run_script(read["run"], env={"OWNER": "Example-Org"}, cwd=REPO, tmp_path=tmp_path)
    assert result.returncode == 0, result.text
    matrix = json.loads(result.outputs["matrix"])
    assert [entry["service"] for entry in matrix["include"]] == list(services.names())
    for entry in matrix["include"]:
        assert entry["image"] == f"ghcr.io/example-org/hackathon-todo/{entry['service']}"
        assert entry["context"] == f"services/{entry['service']}"


def test_a_broken_declaration_fails_the_matrix_step(build: dict[str, Any], tmp_path: Path) -> None:
    """Issue scenario: an images.py failure inside `echo "matrix=$(...)"` left the step green with an empty matrix."""
    work = tmp_path / "work"
    shutil.copytree(GITHUB_DIR / "scripts", work / ".github" / "scripts")
    (work / ".github" / "images.json").write_text(json.dumps({"registry": "ghcr.io", "services": []}))
    read = step_named(build["jobs"]["services"], "Turn the image declarations")
    result = run_script(read["run"], env={"OWNER": "o"}, cwd=work, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "'services' must be a non-empty list" in result.stderr
    assert result.outputs == {}


def test_a_missing_build_context_fails_naming_the_service_and_its_context(
    build: dict[str, Any], tmp_path: Path
) -> None:
    check = step_named(build["jobs"]["images"], "Check the build context")
    context = {
        **github_context(event_name="push", ref="refs/heads/main"),
        "matrix": {"service": "sse-gateway", "context": "services/sse-gateway"},
    }
    result = run_script(check["run"], env=step_env(check, context), cwd=tmp_path, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "::error" in result.stdout
    assert "sse-gateway" in result.stdout and "services/sse-gateway/Dockerfile" in result.stdout


def test_a_present_build_context_passes_the_check(build: dict[str, Any], tmp_path: Path) -> None:
    check = step_named(build["jobs"]["images"], "Check the build context")
    (tmp_path / "services" / "mcp").mkdir(parents=True)
    (tmp_path / "services" / "mcp" / "Dockerfile").write_text("FROM scratch\n")
    context = {
        **github_context(event_name="push", ref="refs/heads/main"),
        "matrix": {"service": "mcp", "context": "services/mcp"},
    }
    result = run_script(check["run"], env=step_env(check, context), cwd=tmp_path, tmp_path=tmp_path)
    assert result.returncode == 0, result.text


def test_images_script_refuses_a_release_tag_that_is_not_semver() -> None:
    for bad in ["1.2.3", "v1.2", "main-latest", "v1.2.3+build.5", "v01.2.3", "v1.2.3^{commit}"]:
        result = images_script("release-tag", "--tag", bad)
        assert result.returncode == 2, bad
        assert "is not v<semver>" in result.stderr
    assert images_script("release-tag", "--tag", "v1.2.3").returncode == 0


def test_images_script_refuses_a_pre_release_unless_allowed() -> None:
    refused = images_script("release-tag", "--tag", "v1.3.0-rc.1")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1, "one line"
    assert "'v1.3.0-rc.1' is a pre-release: production deploys it only with allow-prerelease set" in refused.stderr
    assert images_script("release-tag", "--tag", "v1.3.0-rc.1", "--allow-prerelease", "true").returncode == 0


def test_images_script_takes_a_full_commit_only() -> None:
    for bad in ["4b825dc", "4B825DC642CB6EB9A060E54BF8D69288FBEE4904", SHA + "0", "refs/heads/main"]:
        result = images_script("verify", "--owner", "o", "--repository", "o/r", "--commit", bad)
        assert result.returncode == 2, bad
        assert "is not a full commit id" in result.stderr


def test_release_tags_are_image_tags_the_app_accepts() -> None:
    for tag in ["v0.1.0", "v1.2.3", "v10.20.30-rc.1", "v1.0.0-alpha.beta-1"]:
        assert images.RELEASE_TAG.fullmatch(tag)
        assert re.fullmatch(settings.IMAGE_TAG_PATTERN, tag), tag
    assert images.COMMIT_TAG.fullmatch(images.commit_tag(SHA))
    assert re.fullmatch(settings.IMAGE_TAG_PATTERN, images.commit_tag(SHA))


def test_the_declaration_matches_the_chart() -> None:
    """The chart pulls the images build.yml pushes: same registry, repository and service names."""
    values = yamlload.load((REPO / "chart" / "values.yaml").read_text())
    declaration = json.loads((GITHUB_DIR / "images.json").read_text())
    assert declaration["registry"] == values["global"]["imageRegistry"]
    assert declaration["repository"] == values["global"]["imageRepository"]
    assert {entry["service"] for entry in declaration["services"]} == set(values["services"])
    schema = json.loads((REPO / "chart" / "values.schema.json").read_text())
    digests = schema["properties"]["global"]["properties"]["imageDigests"]["properties"]
    assert {entry["service"] for entry in declaration["services"]} == set(digests)

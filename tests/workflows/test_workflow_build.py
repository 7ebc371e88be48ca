"""build.yml: tests first, then the five images with the tags of docs/architecture.md, "Images"; pushed except on
pull requests."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.workflows.gha_support import (
    GITHUB_DIR,
    REPO,
    evaluate,
    github_context,
    interpolate,
    load_script,
    metadata_tags,
    run_script,
    step_env,
    step_named,
    step_using,
    triggers,
)
from todo_infra import settings

SEED_SERVICES = {"frontend", "backend", "mcp", "notification", "sse-gateway"}
SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@pytest.fixture(scope="module")
def build(workflows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return workflows["build.yml"]


def tags_for(build: dict[str, Any], *, event_name: str, ref: str) -> set[str]:
    meta = step_using(build["jobs"]["images"], "docker/metadata-action")
    context = github_context(event_name=event_name, ref=ref, sha=SHA)
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


def test_a_newer_push_cancels_only_pull_request_runs(build: dict[str, Any]) -> None:
    expression = build["concurrency"]["cancel-in-progress"]
    for event, ref, cancels in [
        ("pull_request", "refs/pull/7/merge", True),
        ("push", "refs/heads/main", False),
        ("push", "refs/tags/v1.0.0", False),
    ]:
        assert interpolate(expression, github_context(event_name=event, ref=ref)) == str(cancels).lower()


# --- tags (docs/architecture.md, "Images") ------------------------------------------------------------------


def test_branch_push_tags_sha_and_branch_latest(build: dict[str, Any]) -> None:
    assert tags_for(build, event_name="push", ref="refs/heads/feature/login-form") == {
        "sha-4b825dc",
        "feature-login-form-latest",
    }


def test_main_push_tags_sha_and_main_latest(build: dict[str, Any]) -> None:
    assert tags_for(build, event_name="push", ref="refs/heads/main") == {"sha-4b825dc", "main-latest"}


@pytest.mark.parametrize("tag", ["v1.2.3", "v2.0.0-rc.1"])
def test_release_tag_adds_main_latest_and_the_version(build: dict[str, Any], tag: str) -> None:
    assert tags_for(build, event_name="push", ref=f"refs/tags/{tag}") == {"sha-4b825dc", "main-latest", tag}


def test_deployable_tags_follow_the_image_tag_grammar(build: dict[str, Any]) -> None:
    for ref in ["refs/heads/main", "refs/tags/v1.2.3", "refs/tags/v3.0.0-beta.2"]:
        for tag in tags_for(build, event_name="push", ref=ref):
            assert re.fullmatch(settings.IMAGE_TAG_PATTERN, tag), tag


def test_pull_requests_build_without_logging_in_or_pushing(build: dict[str, Any]) -> None:
    job = build["jobs"]["images"]
    push = step_using(job, "docker/build-push-action")["with"]["push"]
    login_if = step_using(job, "docker/login-action")["if"]
    for event, ref, pushes in [
        ("pull_request", "refs/pull/7/merge", False),
        ("push", "refs/heads/main", True),
        ("push", "refs/tags/v1.2.3", True),
        ("push", "refs/heads/fix/x", True),
    ]:
        context = github_context(event_name=event, ref=ref)
        assert interpolate(push, context) == str(pushes).lower()
        assert evaluate(login_if, context) is pushes


def test_images_carry_metadata_tags_oci_labels_and_a_layer_cache(build: dict[str, Any]) -> None:
    job = build["jobs"]["images"]
    build_push = step_using(job, "docker/build-push-action")["with"]
    assert build_push["tags"] == "${{ steps.meta.outputs.tags }}"
    assert build_push["labels"] == "${{ steps.meta.outputs.labels }}"
    assert build_push["context"] == "${{ matrix.context }}"
    assert build_push["cache-from"].startswith("type=gha")
    assert build_push["cache-to"].startswith("type=gha,mode=max")
    assert "${{ matrix.service }}" in build_push["cache-to"]  # one cache per service, not one shared
    assert step_using(job, "docker/metadata-action")["id"] == "meta"
    assert job["permissions"] == {"contents": "read", "packages": "write"}


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
    assert {entry["service"] for entry in matrix["include"]} == SEED_SERVICES
    for entry in matrix["include"]:
        assert entry["image"] == f"ghcr.io/example-org/hackathon-todo/{entry['service']}"
        assert entry["context"] == f"services/{entry['service']}"


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
    assert images_script("release-tag", "--tag", "v1.2.3-rc.1").returncode == 0


def test_images_script_lists_the_images_of_one_commit_and_nothing_else() -> None:
    """A deploy pulls `sha-<7>` images only: a release tag or a moving tag is not a deployable image tag."""
    for bad in ["v1.2.3", "main-latest", "sha-4B825DC", "sha-4b825dc6", "sha-4b825d"]:
        result = images_script("refs", "--owner", "o", "--tag", bad)
        assert result.returncode == 2, bad
        assert "is not sha-<7>" in result.stderr
    good = images_script("refs", "--owner", "Example-Org", "--tag", "sha-4b825dc")
    assert good.returncode == 0
    assert set(good.stdout.split()) == {f"ghcr.io/example-org/hackathon-todo/{s}:sha-4b825dc" for s in SEED_SERVICES}


def test_release_tags_are_image_tags_the_app_accepts() -> None:
    images = load_script("images")

    for tag in ["v0.1.0", "v1.2.3", "v10.20.30-rc.1", "v1.0.0-alpha.beta-1"]:
        assert images.RELEASE_TAG.fullmatch(tag)
        assert re.fullmatch(settings.IMAGE_TAG_PATTERN, tag), tag
    assert images.COMMIT_TAG.fullmatch("sha-4b825dc")
    assert re.fullmatch(settings.IMAGE_TAG_PATTERN, "sha-4b825dc")


def test_the_declaration_matches_the_chart() -> None:
    """The chart pulls the images build.yml pushes: same registry, repository and service names."""
    values = yaml.safe_load((REPO / "chart" / "values.yaml").read_text())
    declaration = json.loads((GITHUB_DIR / "images.json").read_text())
    assert declaration["registry"] == values["global"]["imageRegistry"]
    assert declaration["repository"] == values["global"]["imageRepository"]
    assert {entry["service"] for entry in declaration["services"]} == set(values["services"])

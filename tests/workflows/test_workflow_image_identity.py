"""Image identity a writer cannot spoil. Any workflow with `packages: write` can push or move
`ghcr.io/<owner>/hackathon-todo/<svc>:sha-<7>`, so:
- build.yml keeps an existing `sha-<7>` only when its attestations verify for the commit; a planted tag, or one left by
  a run whose attestation failed after the push, is rebuilt, pushed and attested (never skipped silently);
- main's build records each digest in its own run (artifact image-digest-<service>), after attesting it;
- the deploy gate takes the digests from that record (the tag only when the record is gone, with a warning), and
  verifies each with the exact certificate identity of build.yml on refs/heads/main.
GitHub, the registry and the attestation service are faked (fake_cli.py); the steps' scripts run for real."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.workflows import fake_cli, worlds
from tests.workflows.gha_support import evaluate, step_named, step_using, steps
from tests.workflows.test_workflow_build import attested, inspect_answer, push_context, run_existing, runs
from tests.workflows.test_workflow_deploy import run_images
from tests.workflows.worlds import REPOSITORY, SERVICES, build_run, build_runs, built, recorded, world

images = worlds.images
SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
SAME_PREFIX = "4b825dc0000000000000000000000000000000ff"
DIGEST = "sha256:" + "ab" * 32
PLANTED = "sha256:" + "66" * 32
IDENTITY = f"https://github.com/{REPOSITORY}/.github/workflows/build.yml@refs/heads/main"
#: A workflow of the same repository whose SAN starts with build.yml's: `--signer-workflow` (a prefix) accepts it.
LOOK_ALIKE = f"{REPOSITORY}/.github/workflows/build.yml.yml"


@pytest.fixture(scope="module")
def job(workflows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    images_job: dict[str, Any] = workflows["build.yml"]["jobs"]["images"]
    return images_job


@pytest.fixture(scope="module")
def gate(workflows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    gate_job: dict[str, Any] = workflows["deploy.yml"]["jobs"]["gate"]
    return gate_job


def _calls(tmp_path: Path, *prefix: str) -> list[list[str]]:
    lines = (tmp_path / "fakes" / "calls.jsonl").read_text().splitlines()
    return [call for call in map(json.loads, lines) if call[: len(prefix)] == list(prefix)]


# --- build.yml: an existing sha-<7> is kept only when it is attested for the commit -----------------------------


def test_the_identity_is_exactly_build_yml_on_main() -> None:
    assert images.signer_identity(REPOSITORY) == IDENTITY


def test_an_existing_tag_attested_for_the_commit_is_kept_and_checked_with_the_exact_identity(
    job: dict[str, Any], tmp_path: Path
) -> None:
    result = run_existing(job, tmp_path, inspect_answer(), attested())
    assert result.returncode == 0, result.text
    assert result.outputs == {"digest": DIGEST}
    verifies = _calls(tmp_path, "gh", "attestation", "verify")
    assert len(verifies) == len(images.PREDICATES)
    for call in verifies:
        assert call[call.index("--cert-identity") + 1] == IDENTITY
        assert call[call.index("--source-digest") + 1] == SHA
        assert f"oci://ghcr.io/o/x@{DIGEST}" in call


@pytest.mark.parametrize(
    "attestations",
    [
        [],
        attested()[:1],
        attested(commit=SAME_PREFIX),
        attested(ref="refs/heads/feature"),
        attested(workflow=LOOK_ALIKE),
    ],
    ids=["planted-unattested", "attest-failed-after-push", "same-prefix-commit", "branch-build", "look-alike-workflow"],
)
def test_an_existing_tag_not_attested_for_the_commit_is_rebuilt_pushed_and_attested(
    job: dict[str, Any], tmp_path: Path, attestations: list[dict[str, Any]]
) -> None:
    """Issue scenarios: a branch workflow pre-planted sha-<main commit>; or the push succeeded and actions/attest
    failed, and the re-run found the tag. Either way the tag is not accepted: the build runs, pushes and attests."""
    result = run_existing(job, tmp_path, inspect_answer(), attestations)
    assert result.returncode == 0, result.text
    assert result.outputs == {"digest": ""}
    assert "::warning title=ghcr.io/o/x:sha-4b825dc is not attested for this commit::rebuilding" in result.stderr
    context = push_context("push", "refs/heads/main", existing={"outputs": result.outputs})
    assert runs(step_named(job, "Build"), context)
    context["steps"]["build"] = {"outcome": "success", "outputs": {"digest": DIGEST}}
    context["steps"]["pushed"] = {"outputs": {"digest": DIGEST}}
    attest = [step for step in steps(job) if str(step.get("uses", "")).startswith("actions/attest@")]
    assert len(attest) == 2 and all(runs(step, context) for step in attest)


# --- build.yml: the record --------------------------------------------------------------------------------------


def _record_steps(job: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return step_named(job, "Record the digest"), step_using(job, "actions/upload-artifact")


def test_main_s_build_records_each_digest_after_attesting_it(job: dict[str, Any]) -> None:
    record, upload = _record_steps(job)
    names = [step.get("name") or step.get("uses") for step in steps(job)]
    attest_positions = [
        i for i, step in enumerate(steps(job)) if str(step.get("uses", "")).startswith("actions/attest@")
    ]
    assert names.index(record["name"]) > max(attest_positions), "a recorded digest is an attested one"
    assert names.index(upload["name"]) == names.index(record["name"]) + 1
    assert "always()" not in record["if"] and "always()" not in upload["if"], "a failed attestation records nothing"
    assert re.fullmatch(r"actions/upload-artifact@[0-9a-f]{40}", upload["uses"])
    assert upload["with"]["name"] == images.RECORD_ARTIFACT.format(service="${{ matrix.service }}")
    assert upload["with"]["if-no-files-found"] == "error"
    assert upload["with"]["retention-days"] == 90


@pytest.mark.parametrize(
    "case",
    [
        ("push", "refs/heads/main", "", DIGEST, DIGEST),  # built, pushed, attested now
        ("push", "refs/heads/main", DIGEST, "", DIGEST),  # kept: attested for this commit
        ("push", "refs/heads/feature", "", DIGEST, None),  # branches name nothing deploys use
        ("pull_request", "refs/pull/7/merge", "", "", None),
    ],
)
def test_the_record_is_written_on_main_only(job: dict[str, Any], case: tuple[str, str, str, str, str | None]) -> None:
    event, ref, existing, pushed, recorded_digest = case
    record, upload = _record_steps(job)
    context = push_context(
        event, ref, existing={"outputs": {"digest": existing}}, pushed={"outputs": {"digest": pushed}}
    )
    assert runs(record, context) is (recorded_digest is not None)
    if recorded_digest:
        assert evaluate(record["env"]["DIGEST"], context) == recorded_digest
        context["steps"]["record"] = {"outcome": "success"}
        assert runs(upload, context)


def test_the_build_run_of_a_commit_is_main_s_successful_push_build_of_exactly_that_commit() -> None:
    candidates = {
        "workflow_runs": [
            {**build_run(SAME_PREFIX), "id": 1},
            {**build_run(SHA, branch="feature"), "id": 2},
            {**build_run(SHA, conclusion="failure"), "id": 3},
            {**build_run(SHA, event="pull_request"), "id": 4},
            {**build_run(SHA), "id": 5},
        ]
    }
    assert images.build_run(candidates, commit=SHA) == "5"
    assert images.build_run({"workflow_runs": candidates["workflow_runs"][:4]}, commit=SHA) == ""


# --- the deploy gate: digests from the record, verified with the exact identity ---------------------------------


def _digests(result: Any) -> dict[str, str]:
    assert result.returncode == 0, result.text
    found: dict[str, str] = json.loads(result.outputs["image_digests"])
    return found


def test_a_tag_moved_after_main_s_build_does_not_change_what_is_deployed(gate: dict[str, Any], tmp_path: Path) -> None:
    """A writer re-pushed every sha-<7> at an image of theirs after main's build: the gate never reads the tag, it
    deploys the digests main's build recorded (and verified)."""
    moved = {"registry": {f"{worlds.image(s)}:sha-4b825dc": PLANTED for s in SERVICES}}
    result, fakes = run_images(gate, tmp_path, world(built(SHA), moved, build_runs(build_run(SHA)), recorded(SHA)))
    assert _digests(result) == {s: worlds.digest(s, SHA) for s in SERVICES}
    assert fakes.called("docker") == [], "the tag is not read at all"
    downloads = fakes.called("gh", "run", "download")
    assert downloads == [
        [
            *("run", "download", str(worlds.run_id(SHA)), "--repo", REPOSITORY),
            *("--pattern", "image-digest-*", "--dir", str(tmp_path / "runner_temp" / "build-record")),
        ]
    ]


@pytest.mark.parametrize(
    "fragments", [[build_runs(build_run(SHA))], [build_runs()]], ids=["record-expired", "no-main-build-run"]
)
def test_without_a_record_the_tag_is_read_with_a_warning_and_verified_the_same_way(
    gate: dict[str, Any], tmp_path: Path, fragments: list[dict[str, Any]]
) -> None:
    result, fakes = run_images(gate, tmp_path, world(built(SHA), *fragments))
    assert _digests(result) == {s: worlds.digest(s, SHA) for s in SERVICES}
    assert "::warning title=No build" in result.stdout + result.stderr
    assert len(fakes.called("docker")) == len(SERVICES)
    assert all(call[call.index("--cert-identity") + 1] == IDENTITY for call in fakes.called("gh", "attestation"))


def test_without_a_record_a_moved_tag_is_refused_not_deployed(gate: dict[str, Any], tmp_path: Path) -> None:
    moved = {"registry": {f"{worlds.image(s)}:sha-4b825dc": PLANTED for s in SERVICES}}
    result, _fakes = run_images(gate, tmp_path, world(built(SHA), moved, build_runs(build_run(SHA))))
    assert result.returncode != 0
    assert result.outputs == {}
    assert "::error title=Image of frontend not verified::" in result.stderr


@pytest.mark.parametrize(
    ("fragments", "why"),
    [
        # The record names digests nothing attested for this commit (it can only have come from elsewhere).
        ([recorded(SHA, build="elsewhere")], "provenance attestation does not verify"),
        # Signed by a look-alike workflow whose identity starts with build.yml's.
        ([recorded(SHA, build="look-alike"), built(SHA, build="look-alike", workflow=LOOK_ALIKE)], "does not verify"),
        ([{"artifacts": {str(worlds.run_id(SHA)): {"image-digest-frontend": {"digest": "latest\n"}}}}], "no sha256"),
    ],
    ids=["unattested-record", "look-alike-signer", "garbage-record"],
)
def test_a_recorded_digest_is_deployed_only_when_it_verifies(
    gate: dict[str, Any], tmp_path: Path, fragments: list[dict[str, Any]], why: str
) -> None:
    result, _fakes = run_images(gate, tmp_path, world(built(SHA), build_runs(build_run(SHA)), *fragments))
    assert result.returncode != 0
    assert result.outputs == {}
    errors = [line for line in result.stderr.splitlines() if line.startswith("::error title=Image of frontend")]
    assert errors and why in errors[0], result.stderr


def test_the_look_alike_signer_passes_the_old_prefix_match_and_fails_the_exact_identity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The seeded failure of `--signer-workflow`: as gh implements it (a regular expression anchored only at the
    start), build.yml.yml on main passes for build.yml; `--cert-identity` refuses it."""
    fake_world = built(SHA, workflow=LOOK_ALIKE)
    digest = worlds.digest(SERVICES[0], SHA)
    common = ["attestation", "verify", f"oci://{worlds.image(SERVICES[0])}@{digest}", "--repo", REPOSITORY]
    common += ["--source-ref", "refs/heads/main", "--source-digest", SHA]
    old = fake_cli.gh(fake_world, [*common, "--signer-workflow", f"{REPOSITORY}/.github/workflows/build.yml"])
    new = fake_cli.gh(fake_world, [*common, "--cert-identity", images.signer_identity(REPOSITORY)])
    assert (old, new) == (0, 1)
    monkeypatch.setattr(images, "_run", worlds.in_process(fake_world))
    assert images.verify_attestations(worlds.image(SERVICES[0]), digest, repository=REPOSITORY, commit=SHA)


def test_the_gate_finds_main_s_build_of_the_commit_through_the_api(gate: dict[str, Any]) -> None:
    script = step_named(gate, "Resolve and verify the images of the commit")["run"]
    assert "actions/workflows/build.yml/runs?branch=main&event=push&status=success&head_sha=${COMMIT}" in script
    assert gate["permissions"]["actions"] == "read", "downloading a run's artifacts"

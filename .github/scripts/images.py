#!/usr/bin/env python3
"""The service images: where each one is built from, what it is called, and whether this repository built it.

`.github/images.json` is the only place that says which images exist. build.yml turns it into its build matrix and
asks here whether a commit's `sha-<7>` image is already on ghcr.io *and attested for that commit* (such a tag is
written once; one without valid attestations, planted by another workflow or left by a build whose attestation
failed, is rebuilt, pushed and attested). Main's build records each image's digest in its run (the artifact
`image-digest-<service>`), which no other workflow can write. The deploy workflow asks here for the digests of the
commit it deploys: taken from that record (from the `sha-<7>` tag only when the record is gone, with a warning), and
accepted only when the image's SLSA provenance and SBOM attestations verify with the exact certificate identity of
this repository's build.yml on refs/heads/main, for exactly that commit (`gh attestation verify`). The release then
runs those digests, never a tag (docs/architecture.md, "Release integrity"). Standard library only: it runs on the
runner's own python3, before any bootstrap; the registry is read through `docker buildx imagetools`, attestations
and the build record through `gh`.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DECLARATION = Path(__file__).resolve().parent.parent / "images.json"

#: `v<semver>` as a release tag (docs/architecture.md, "Images"). No `+build` part: `+` is not allowed in an image tag.
RELEASE_TAG = re.compile(r"^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")
#: `sha-<7>`: the tag build.yml gives the images of one commit of main, the only tag a deploy uses.
COMMIT_TAG = re.compile(r"^sha-[0-9a-f]{7}$")
#: A full commit id, as the deploy workflows pass it.
COMMIT = re.compile(r"^[0-9a-f]{40}$")
#: An image digest as the registry reports it, the chart accepts it and the app stacks validate it.
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
#: The digest pull-request plans give every image: all zeros, public, never the digest of a real image.
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
#: Who must have signed an image's attestations: this workflow, on this ref (see verify_attestations).
BUILD_WORKFLOW = ".github/workflows/build.yml"
MAIN_REF = "refs/heads/main"
#: The attestations build.yml creates for every image it pushes (actions/attest): provenance, and the SPDX SBOM.
PREDICATES = {"provenance": "https://slsa.dev/provenance/v1", "SBOM": "https://spdx.dev/Document/v2.3"}
#: The artifact in which main's build records the digest of one service's image (a file `digest`), per run.
RECORD_ARTIFACT = "image-digest-{service}"
#: The one platform build.yml builds, under which BuildKit files the image's SBOM.
PLATFORM = "linux/amd64"


class DeclarationError(ValueError):
    """images.json or an argument is not what the workflows expect; the message says what and where."""


class RegistryError(RuntimeError):
    """The registry or the attestation service did not answer as expected; the message says which image."""


def load(path: Path = DECLARATION) -> dict[str, Any]:
    declaration: dict[str, Any] = json.loads(path.read_text())
    services = declaration.get("services")
    if not isinstance(services, list) or not services:
        raise DeclarationError(f"{path}: 'services' must be a non-empty list")
    names = [entry.get("service") for entry in services]
    if len(set(names)) != len(names):
        raise DeclarationError(f"{path}: service names repeat: {names}")
    for entry in services:
        if set(entry) != {"service", "context"}:
            raise DeclarationError(f"{path}: {entry} must have exactly the keys 'service' and 'context'")
    return declaration


def image_name(declaration: dict[str, Any], *, owner: str, service: str) -> str:
    """`ghcr.io/<owner>/hackathon-todo/<service>`; GHCR wants the owner in lower case."""
    if not owner:
        raise DeclarationError("the image owner is empty")
    return f"{declaration['registry']}/{owner.lower()}/{declaration['repository']}/{service}"


def build_matrix(declaration: dict[str, Any], *, owner: str) -> dict[str, list[dict[str, str]]]:
    """The `strategy.matrix` of build.yml's image job: one entry per service."""
    return {
        "include": [
            {**entry, "image": image_name(declaration, owner=owner, service=entry["service"])}
            for entry in declaration["services"]
        ]
    }


def check_release_tag(tag: str, *, allow_prerelease: bool = False) -> str:
    """The release tag itself, refused unless it is `v<semver>`; a pre-release (`v1.4.0-rc.1`) only when allowed,
    because production deploys releases, and a pre-release reaches it only when someone says so."""
    match = RELEASE_TAG.fullmatch(tag)
    if not match:
        raise DeclarationError(f"release tag {tag!r} is not v<semver> (e.g. v1.4.0 or v1.4.0-rc.1)")
    if match.group(4) and not allow_prerelease:
        raise DeclarationError(
            f"release tag {tag!r} is a pre-release: production deploys it only with allow-prerelease set "
            "(deploy production → Run workflow → allow-prerelease)"
        )
    return tag


def commit_tag(commit: str) -> str:
    """`sha-<7>` of a full commit id, the tag build.yml gave that commit's images on main."""
    if not COMMIT.fullmatch(commit):
        raise DeclarationError(f"commit {commit!r} is not a full commit id (40 lower-case hex digits)")
    return f"sha-{commit[:7]}"


def placeholder_digests(declaration: dict[str, Any]) -> dict[str, str]:
    """`image_digests` for a pull-request plan: every service, the public placeholder digest."""
    return {entry["service"]: PLACEHOLDER_DIGEST for entry in declaration["services"]}


def spdx_document(inspected: Any, platform: str = PLATFORM) -> dict[str, Any]:
    """The SPDX document BuildKit attached to an image, from `imagetools inspect --format '{{ json .SBOM }}'`:
    buildx nests it under the platform for an index, or gives it directly; either way it must be SPDX."""
    sbom = inspected.get(platform, inspected) if isinstance(inspected, dict) else None
    document = sbom.get("SPDX") if isinstance(sbom, dict) else None
    if not isinstance(document, dict) or not str(document.get("spdxVersion", "")).startswith("SPDX-"):
        raise RegistryError(f"the image carries no SPDX SBOM for {platform} (was it built with `sbom: true`?)")
    return document


# --- the registry and the attestations ----------------------------------------------------------------------


def _run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, check=False, timeout=300)


def _reason(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {done.returncode}"


#: What the registry answers for a tag it does not have.
ABSENT = re.compile(r"\bnot found\b|manifest unknown|name unknown", flags=re.IGNORECASE)
#: What GHCR answers for a package that does not exist yet (before a repository's first push) as for one the token
#: may not read: absent for build.yml (a token that may not read may not push either, so nothing is overwritten).
DENIED = re.compile(r"\bdenied\b|unauthorized", flags=re.IGNORECASE)


def resolve_digest(reference: str, *, denied_is_absent: bool = False) -> str | None:
    """The digest `reference` (image:tag) points to, or None when the registry has no such tag.

    Any other failure raises: a registry that cannot be read (an outage) must never count as "absent", or build.yml
    would push over a `sha-<7>` tag that is written once.
    """
    done = _run(["docker", "buildx", "imagetools", "inspect", reference, "--format", "{{json .Manifest}}"])
    if done.returncode != 0:
        if ABSENT.search(done.stderr) or (denied_is_absent and DENIED.search(done.stderr)):
            return None
        raise RegistryError(f"cannot read {reference} from the registry: {_reason(done)}")
    try:
        digest = json.loads(done.stdout).get("digest", "")
    except (json.JSONDecodeError, AttributeError):
        digest = ""
    if not DIGEST.fullmatch(digest):
        raise RegistryError(f"the registry answered for {reference} without a sha256 digest: {done.stdout[:200]!r}")
    return str(digest)


def signer_identity(repository: str) -> str:
    """The Sigstore certificate identity (its SubjectAlternativeName) of build.yml running from main: the one
    identity whose attestations a deploy accepts, matched exactly (`--cert-identity`; `--signer-workflow` would
    match it as a prefix)."""
    return f"https://github.com/{repository}/{BUILD_WORKFLOW}@{MAIN_REF}"


def verify_attestations(image: str, digest: str, *, repository: str, commit: str) -> list[str]:
    """What is wrong with the attestations of image@digest; empty when both verify.

    Each must be signed for `repository` with exactly the certificate identity of its build.yml on refs/heads/main
    (`--cert-identity`), from refs/heads/main (`--source-ref`) at exactly `commit` (`--source-digest`), on a
    GitHub-hosted runner: so an image a branch, a tag build or another commit produced never passes, even under the
    right tag.
    """
    problems = []
    for kind, predicate in PREDICATES.items():
        done = _run(
            [
                "gh",
                "attestation",
                "verify",
                f"oci://{image}@{digest}",
                "--repo",
                repository,
                "--cert-identity",
                signer_identity(repository),
                "--source-ref",
                MAIN_REF,
                "--source-digest",
                commit,
                "--predicate-type",
                predicate,
                "--deny-self-hosted-runners",
                "--format",
                "json",
            ]
        )
        if done.returncode != 0:
            problems.append(f"its {kind} attestation does not verify ({_reason(done)})")
    return problems


def recorded_digest(record: Path | None, service: str) -> str | None:
    """The digest main's build recorded for `service` (downloaded into `record`), or None when there is none."""
    if record is None:
        return None
    path = record / RECORD_ARTIFACT.format(service=service) / "digest"
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if not DIGEST.fullmatch(text):
        raise RegistryError(f"main's build record of {service} holds no sha256 digest: {text[:80]!r}")
    return text


def verified_digests(
    declaration: dict[str, Any],
    *,
    owner: str,
    repository: str,
    commit: str,
    record: Path | None = None,
    notes: list[str] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """(service -> verified digest, service -> why it was refused) for every image of one commit of main.

    The digest comes from main's build record when `record` holds one, else from the `sha-<7>` tag (a note says so);
    either way it is deployed only when its attestations verify for the commit."""
    tag = commit_tag(commit)
    digests: dict[str, str] = {}
    refused: dict[str, str] = {}
    for entry in declaration["services"]:
        service = entry["service"]
        image = image_name(declaration, owner=owner, service=service)
        where = f"{image}:{tag}"
        try:
            digest = recorded_digest(record, service)
            if digest is None:
                if record is not None and notes is not None:
                    notes.append(
                        f"{service}: main's build of {commit[:7]} left no record of its digest: resolved {where}"
                    )
                digest = resolve_digest(where)
            else:
                where = f"{image}@{digest} (main's build record)"
            problems = ["it is not on ghcr.io"] if digest is None else []
            if digest is not None:
                problems += verify_attestations(image, digest, repository=repository, commit=commit)
        except RegistryError as error:
            problems = [str(error)]
        if problems:
            refused[service] = f"{where}: " + "; ".join(problems)
        else:
            assert digest is not None
            digests[service] = digest
    return digests, refused


def existing_digest(reference: str, *, repository: str, commit: str) -> tuple[str | None, list[str]]:
    """(digest of `reference` when it is on ghcr.io and attested for `commit` by main's build, why an existing one is
    not). A tag without valid attestations is not kept: build.yml rebuilds, pushes and attests it."""
    digest = resolve_digest(reference, denied_is_absent=True)
    if digest is None:
        return None, []
    problems = verify_attestations(reference.rsplit(":", 1)[0], digest, repository=repository, commit=commit)
    return (None, problems) if problems else (digest, [])


def build_run(runs: Any, *, commit: str) -> str:
    """The id of main's newest successful push build of `commit` in `GET .../workflows/build.yml/runs`, or ""."""
    for run in runs.get("workflow_runs", []) if isinstance(runs, dict) else []:
        if (run.get("head_sha"), run.get("head_branch"), run.get("event"), run.get("conclusion")) == (
            commit,
            "main",
            "push",
            "success",
        ):
            return str(int(run["id"]))
    return ""


# --- command line -------------------------------------------------------------------------------------------


def _verify(declaration: dict[str, Any], args: argparse.Namespace) -> int:
    notes: list[str] = []
    digests, refused = verified_digests(
        declaration, owner=args.owner, repository=args.repository, commit=args.commit, record=args.record, notes=notes
    )
    for note in notes:
        print(f"::warning title=No build record::{note} (verified the same way)", file=sys.stderr)
    for service, why in refused.items():
        # stderr: the step captures stdout (the digests), and the runner reads workflow commands from both.
        print(
            f"::error title=Image of {service} not verified::not deploying commit {args.commit[:7]}: {why}. "
            "Deploys run only images this repository's build.yml pushed and attested from main at that commit: "
            "see docs/runbooks/deploy.md, 'Image verification failed'",
            file=sys.stderr,
        )
    if refused:
        print(f"images.py: {len(refused)} of {len(refused) + len(digests)} images refused", file=sys.stderr)
        return 1
    print(json.dumps(digests, separators=(",", ":")))
    return 0


def _dispatch(declaration: dict[str, Any], args: argparse.Namespace) -> int:
    if args.command == "matrix":
        print(json.dumps(build_matrix(declaration, owner=args.owner), separators=(",", ":")))
    elif args.command == "release-tag":
        print(check_release_tag(args.tag, allow_prerelease=args.allow_prerelease == "true"))
    elif args.command == "placeholder-digests":
        print(json.dumps(placeholder_digests(declaration), separators=(",", ":")))
    elif args.command == "existing":
        commit_tag(args.commit)
        digest, problems = existing_digest(args.reference, repository=args.repository, commit=args.commit)
        if problems:
            print(
                f"::warning title={args.reference} is not attested for this commit::rebuilding, pushing and attesting "
                f"it: {'; '.join(problems)}",
                file=sys.stderr,
            )
        print(f"digest={digest or ''}")
    elif args.command == "build-run":
        commit_tag(args.commit)
        try:
            runs = json.load(sys.stdin)
        except json.JSONDecodeError as error:
            raise RegistryError(f"the build runs are not JSON: {error}") from None
        print(build_run(runs, commit=args.commit))
    elif args.command == "sbom":
        try:
            inspected = json.load(sys.stdin)
        except json.JSONDecodeError as error:
            raise RegistryError(f"imagetools printed no JSON for the SBOM: {error}") from None
        print(json.dumps(spdx_document(inspected)))
    else:
        commit_tag(args.commit)
        return _verify(declaration, args)
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("matrix", help="print build.yml's matrix as one line of JSON").add_argument(
        "--owner", required=True
    )
    release = commands.add_parser("release-tag", help="refuse a release tag that is not v<semver>")
    release.add_argument("--tag", required=True)
    release.add_argument("--allow-prerelease", choices=("true", "false"), default="false")
    commands.add_parser("placeholder-digests", help="print image_digests for a pull-request plan (JSON, one line)")
    existing = commands.add_parser(
        "existing", help="print digest=<digest of image:tag> when it is attested for the commit, else digest="
    )
    existing.add_argument("--reference", required=True)
    existing.add_argument("--repository", required=True, help="owner/name whose build.yml must have signed")
    existing.add_argument("--commit", required=True)
    runs = commands.add_parser("build-run", help="the id of main's successful build of the commit (runs JSON, stdin)")
    runs.add_argument("--commit", required=True)
    commands.add_parser("sbom", help="the SPDX document in `imagetools inspect --format '{{ json .SBOM }}'` (stdin)")
    verify = commands.add_parser("verify", help="print the verified digests of one commit's images (JSON)")
    verify.add_argument("--owner", required=True)
    verify.add_argument("--repository", required=True, help="owner/name whose build.yml must have signed")
    verify.add_argument("--commit", required=True)
    verify.add_argument("--record", type=Path, help="folder holding main's build record (image-digest-<service>/)")
    return root


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        return _dispatch(load(), args)
    except (DeclarationError, RegistryError) as error:
        print(f"::error title=images::{error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Stand-ins for `gh` and `docker` that the workflow steps find first on PATH, answering from a JSON "world".

Offline there is no GitHub API, registry or attestation service, so the steps run against this model of them: the
world says which environments exist with which settings, which workflow runs there are, which image tags point to
which digests, and which attestations were signed for which digest by which workflow, ref and commit.
`gh attestation verify` is modelled on its documented flags: it succeeds only when an attestation of the requested
predicate type exists for the digest and matches every identity flag given (repository, signer workflow,
certificate identity, source ref, source commit, GitHub-hosted runner). `gh run download` writes the artifacts the
world keeps for a run (each a folder of files). Every call is logged, so tests can assert what a step asked for.

Run as `python3 fake_cli.py --world W --calls C gh|docker <args>` (gha_support.install_fakes writes the wrappers).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _flag(args: Sequence[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


def _api(world: dict[str, Any], path: str) -> int:
    """The answer the world keeps for the path, its query string ignored (`.../runs?per_page=20` is `.../runs`): an
    exact path, so that `environments/staging` never answers for `environments/staging-plan`."""
    answers: dict[str, Any] = world.get("api", {})
    answer = answers.get(path.split("?", 1)[0])
    if answer is None:
        print(f"gh: Not Found (HTTP 404) {path}", file=sys.stderr)
        return 1
    print(json.dumps(answer))
    return 0


#: What `gh attestation verify` checks, by flag: the attestation field it compares exactly.
IDENTITY_FLAGS = {
    "--repo": "repository",
    "--source-ref": "ref",
    "--source-digest": "commit",
}


def _identity(attestation: dict[str, Any]) -> str:
    """The certificate's SubjectAlternativeName: the signing workflow's URL at the ref it ran from."""
    return f"https://github.com/{attestation['workflow']}@{attestation['ref']}"


def _identity_mismatch(args: Sequence[str], attestation: dict[str, Any]) -> list[str]:
    """--cert-identity must equal the SAN; --signer-workflow is, as in gh (cli/cli pkg/cmd/attestation/verify/
    policy.go), the regular expression `^https://github.com/<value>`: a prefix, its dots any character."""
    mismatched = []
    identity = _flag(args, "--cert-identity")
    if identity is not None and _identity(attestation) != identity:
        mismatched.append("--cert-identity")
    workflow = _flag(args, "--signer-workflow")
    if workflow is not None and not re.match(f"^https://github.com/{workflow}", _identity(attestation)):
        mismatched.append("--signer-workflow")
    return mismatched


def _verify(world: dict[str, Any], args: Sequence[str]) -> int:
    subject = args[0].removeprefix("oci://")
    digest = subject.rsplit("@", 1)[1] if "@" in subject else ""
    predicate = _flag(args, "--predicate-type") or "https://slsa.dev/provenance/v1"
    candidates = [a for a in world.get("attestations", []) if a["digest"] == digest and a["predicate"] == predicate]
    if not candidates:
        print(f"Error: no attestations found with predicate type: {predicate}", file=sys.stderr)
        return 1
    for attestation in candidates:
        mismatched = [
            flag
            for flag, field in IDENTITY_FLAGS.items()
            if _flag(args, flag) is not None and attestation[field] != _flag(args, flag)
        ]
        mismatched += _identity_mismatch(args, attestation)
        if "--deny-self-hosted-runners" in args and attestation.get("self_hosted"):
            mismatched.append("--deny-self-hosted-runners")
        if not mismatched:
            print(json.dumps([{"verificationResult": {"statement": {"predicateType": predicate}}}]))
            return 0
    print(f'Error: verifying with issuer "sigstore.dev": {", ".join(mismatched)} does not match', file=sys.stderr)
    return 1


def _download(world: dict[str, Any], args: Sequence[str]) -> int:
    """`gh run download RUN --pattern GLOB --dir DIR`: every artifact of the run whose name matches, as DIR/<name>/."""
    artifacts: dict[str, dict[str, str]] = world.get("artifacts", {}).get(args[0], {})
    pattern, folder = _flag(args, "--pattern") or "*", Path(_flag(args, "--dir") or ".")
    chosen = {name: files for name, files in artifacts.items() if fnmatch.fnmatchcase(name, pattern)}
    if not chosen:
        print("no valid artifacts found to download", file=sys.stderr)
        return 1
    for name, files in chosen.items():
        for file, text in files.items():
            (folder / name).mkdir(parents=True, exist_ok=True)
            (folder / name / file).write_text(text)
    return 0


def gh(world: dict[str, Any], args: Sequence[str]) -> int:
    if args[:2] == ["run", "download"]:
        return _download(world, args[2:])
    if args[:1] == ["api"]:
        return _api(world, args[1])
    if args[:2] == ["attestation", "verify"]:
        return _verify(world, args[2:])
    if args[:2] == ["issue", "list"]:
        print(json.dumps(world.get("issues", [])))
        return 0
    if args[:2] in (["workflow", "run"], ["run", "cancel"], ["label", "create"]) or args[:1] == ["issue"]:
        return int(world.get("fail", {}).get(" ".join(args[:2]), 0))
    print(f"fake gh: unsupported: {' '.join(args)}", file=sys.stderr)
    return 2


def docker(world: dict[str, Any], args: Sequence[str]) -> int:
    if list(args[:3]) != ["buildx", "imagetools", "inspect"]:
        print(f"fake docker: unsupported: {' '.join(args)}", file=sys.stderr)
        return 2
    reference, template = args[3], _flag(args, "--format") or ""
    if world.get("registry_error"):
        print(world["registry_error"], file=sys.stderr)
        return 1
    if ".SBOM" in template:
        print(json.dumps(world.get("sbom", {}).get(reference, {})))
        return 0
    digest = reference.rsplit("@", 1)[1] if "@" in reference else world.get("registry", {}).get(reference)
    if digest is None:
        print(f"ERROR: {reference}: not found", file=sys.stderr)
        return 1
    print(json.dumps({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": 1}))
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--world", type=Path, required=True)
    parser.add_argument("--calls", type=Path, required=True)
    parser.add_argument("tool", choices=("gh", "docker"))
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    with options.calls.open("a") as calls:
        calls.write(json.dumps([options.tool, *options.args]) + "\n")
    world = json.loads(options.world.read_text())
    return gh(world, options.args) if options.tool == "gh" else docker(world, options.args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""The five service images: where each one is built from and what it is called.

`.github/images.json` is the only place that says so. build.yml turns it into its build matrix, and
deploy-production.yml into the list of images that must exist before a release is deployed (the `sha-<7>`
images of the release commit, which staging ran), so the two can never disagree. Standard library only:
it runs on the runner's own python3, before any bootstrap.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

DECLARATION = Path(__file__).resolve().parent.parent / "images.json"

#: `v<semver>` as a release tag (docs/architecture.md, "Images"). No `+build` part: `+` is not allowed in an image tag.
RELEASE_TAG = re.compile(r"^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")
#: `sha-<7>`: the tag build.yml gives the images of one commit, the only tag a deploy uses.
COMMIT_TAG = re.compile(r"^sha-[0-9a-f]{7}$")
#: The digest pull-request plans give every image: all zeros, public, never the digest of a real image.
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64


class DeclarationError(ValueError):
    """images.json or an argument is not what the workflows expect; the message says what and where."""


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


def check_release_tag(tag: str) -> str:
    """The release tag itself, refused unless it is `v<semver>`."""
    if not RELEASE_TAG.fullmatch(tag):
        raise DeclarationError(f"release tag {tag!r} is not v<semver> (e.g. v1.4.0 or v1.4.0-rc.1)")
    return tag


def commit_refs(declaration: dict[str, Any], *, owner: str, tag: str) -> list[str]:
    """Every image a deploy of one commit pulls, as `image:sha-<7>`; refuses any other kind of tag."""
    if not COMMIT_TAG.fullmatch(tag):
        raise DeclarationError(f"image tag {tag!r} is not sha-<7> (the tag of the images of one commit)")
    return [f"{image_name(declaration, owner=owner, service=e['service'])}:{tag}" for e in declaration["services"]]


def placeholder_digests(declaration: dict[str, Any]) -> dict[str, str]:
    """`image_digests` for a pull-request plan: every service, the public placeholder digest."""
    return {entry["service"]: PLACEHOLDER_DIGEST for entry in declaration["services"]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    matrix = commands.add_parser("matrix", help="print build.yml's matrix as one line of JSON")
    matrix.add_argument("--owner", required=True)
    release = commands.add_parser("release-tag", help="refuse a release tag that is not v<semver>")
    release.add_argument("--tag", required=True)
    refs = commands.add_parser("refs", help="print the image references of one commit (sha-<7>), one per line")
    refs.add_argument("--owner", required=True)
    refs.add_argument("--tag", required=True)
    commands.add_parser("placeholder-digests", help="print image_digests for a pull-request plan (JSON, one line)")
    args = parser.parse_args(argv)
    try:
        declaration = load()
        if args.command == "matrix":
            print(json.dumps(build_matrix(declaration, owner=args.owner), separators=(",", ":")))
        elif args.command == "release-tag":
            print(check_release_tag(args.tag))
        elif args.command == "placeholder-digests":
            print(json.dumps(placeholder_digests(declaration), separators=(",", ":")))
        else:
            print("\n".join(commit_refs(declaration, owner=args.owner, tag=args.tag)))
    except DeclarationError as error:
        print(f"::error title=images.json::{error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

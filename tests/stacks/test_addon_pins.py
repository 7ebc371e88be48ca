"""Every pinned add-on version carries a record of where a public index (or release tag) was seen to list it,
so that a platform apply never asks a chart repository for a version it does not have."""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from urllib.parse import urlparse

import pytest

from todo_infra.addons import ADDONS, ALLOY, CERT_MANAGER, DAPR, Addon

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_PAGES = re.compile(r"^https://(?P<owner>[\w-]+)\.github\.io/(?P<repo>[\w.-]+?)/?$")


def record_problems(addon: Addon) -> list[str]:
    """What is wrong with an add-on's verification record (empty when it proves the pin)."""
    record = addon.verified
    problems = []
    url = urlparse(record.source)
    if url.scheme != "https" or url.netloc != "github.com":
        problems.append(f"{addon.release}: source {record.source!r} is not a public GitHub address")
    if not _COMMIT.match(record.commit):
        problems.append(f"{addon.release}: commit {record.commit!r} is not a full commit SHA")
    try:
        dated, read_on = date.fromisoformat(record.dated), date.fromisoformat(record.read_on)
    except ValueError:
        return [*problems, f"{addon.release}: dates must be YYYY-MM-DD"]
    if dated > read_on:
        problems.append(f"{addon.release}: index dated {dated} after it was read ({read_on})")
    pages = _PAGES.match(addon.repository)
    if "/releases/tag/" in url.path:
        # A release tag of the chart's version; a chart built from its project's repository (grafana/alloy) is tagged
        # helm-chart/<version> there.
        if not url.path.endswith((f"/releases/tag/{addon.version}", f"/releases/tag/helm-chart/{addon.version}")):
            problems.append(f"{addon.release}: tag {record.source!r} is not version {addon.version}")
    elif pages:
        expected = f"/{pages['owner']}/{pages['repo']}/blob/gh-pages/index.yaml"
        if url.path not in (expected, expected.replace("gh-pages", "master")):
            problems.append(f"{addon.release}: {record.source!r} is not the index of {addon.repository}")
    else:
        problems.append(f"{addon.release}: {record.source!r} is neither a chart index nor a release tag")
    return problems


@pytest.mark.parametrize("addon", ADDONS, ids=lambda addon: addon.release)
def test_every_pin_has_a_record_that_proves_it(addon: Addon) -> None:
    assert record_problems(addon) == []


def test_seeded_a_tag_of_another_version_is_refused() -> None:
    moved = dataclasses.replace(CERT_MANAGER, version="v1.21.2")
    assert record_problems(moved) == [f"cert-manager: tag {CERT_MANAGER.verified.source!r} is not version v1.21.2"]


def test_seeded_an_index_of_another_repository_is_refused() -> None:
    elsewhere = dataclasses.replace(DAPR, repository="https://example.github.io/charts")
    assert record_problems(elsewhere) == [
        f"dapr: {DAPR.verified.source!r} is not the index of https://example.github.io/charts"
    ]


def test_seeded_an_unreadable_record_is_refused() -> None:
    record = dataclasses.replace(DAPR.verified, commit="main", dated="2026-13-01")
    assert record_problems(dataclasses.replace(DAPR, verified=record)) == [
        "dapr: commit 'main' is not a full commit SHA",
        "dapr: dates must be YYYY-MM-DD",
    ]


def test_seeded_a_helm_chart_tag_of_another_version_is_refused() -> None:
    moved = dataclasses.replace(ALLOY, version="1.11.2")
    assert record_problems(moved) == [f"alloy: tag {ALLOY.verified.source!r} is not version 1.11.2"]

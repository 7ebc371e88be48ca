"""No credential or secret value anywhere in what synth writes."""

from __future__ import annotations

import re

import pytest

from tests.synth import CANARY, SECRET_VARIABLES, Synth, strings

CREDENTIAL = re.compile(r"kube_config|\.token\b|raw_config|cluster_ca_certificate|client_key|client_certificate")


def test_the_canary_set_as_every_secret_input_appears_nowhere_in_cdktf_out(synth: Synth, variant: Synth) -> None:
    for result in (synth, variant):
        files = [path for path in result.outdir.rglob("*") if path.is_file()]
        assert len(files) > 10
        leaked = [str(path) for path in files if CANARY.encode() in path.read_bytes()]
        assert leaked == []
        assert CANARY not in result.stdout + result.stderr


def test_every_sensitive_variable_is_covered_by_the_canary(synth: Synth) -> None:
    sensitive = {
        name
        for stack in synth.stacks.values()
        for name, variable in stack.get("variable", {}).items()
        if variable.get("sensitive")
    }
    assert sensitive == set(SECRET_VARIABLES)


def test_every_secret_variable_is_sensitive_and_has_no_real_default(synth: Synth) -> None:
    for stack in synth.stacks.values():
        for name, variable in stack.get("variable", {}).items():
            if name in SECRET_VARIABLES:
                assert variable["sensitive"] is True, name
                assert variable.get("default", "") == "", f"{name} must not carry a default value"


@pytest.mark.parametrize("stack", ["cluster", "platform", "app-staging", "app-production"])
def test_no_output_carries_a_credential(synth: Synth, stack: str) -> None:
    for name, output in synth.stacks[stack].get("output", {}).items():
        assert not CREDENTIAL.search(str(output["value"])), name
        assert not any(word in name for word in ("token", "kube", "cert", "password", "secret"))


@pytest.mark.parametrize("stack", ["cluster", "platform", "app-staging", "app-production"])
def test_no_resource_attribute_carries_a_credential(synth: Synth, stack: str) -> None:
    for kind, items in synth.stacks[stack].get("resource", {}).items():
        for name, resource in items.items():
            found = [text for text in strings(resource) if CREDENTIAL.search(text)]
            assert found == [], f"{kind}.{name}"


def test_no_kubernetes_manifest_anywhere(synth: Synth, variant: Synth) -> None:
    for result in (synth, variant):
        for stack in result.stacks.values():
            assert "kubernetes_manifest" not in stack.get("resource", {})

"""Charts and images by what their publishers sign (todo_infra/chart_signing.py): every add-on's chart is verified
against a pinned key or says why it cannot be, the platform's releases carry exactly that (Helm's `verify` with the
committed keyring), every image is by digest or says why not, and docs/architecture.md's table is this record."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from tests.synth import Synth
from todo_infra import chart_signing, yamlload
from todo_infra.addons import ADDONS, CERT_MANAGER, CERT_MANAGER_KEY, INGRESS_NGINX, LOKI, Addon, image_values
from todo_infra.chart_signing import ChartTrust, ImagePin, image_problems, primary_fingerprints, trust_problems

ROOT = Path(__file__).resolve().parents[2]
KEY = CERT_MANAGER_KEY


@pytest.mark.parametrize("addon", ADDONS, ids=lambda addon: addon.release)
def test_every_chart_is_verified_against_its_pinned_key_or_says_why_not(addon: Addon) -> None:
    assert trust_problems(addon.release, addon.chart_trust) == []


def test_the_signed_charts_are_the_ones_whose_publishers_sign() -> None:
    """What upstream publishes, as read on 2026-12-07 (docs/architecture.md, "Supply chain")."""
    signed = {addon.release: addon.chart_trust.signed_by.fingerprint for addon in ADDONS if addon.chart_trust.signed_by}
    assert signed == {
        "cert-manager": "1020CF3C033D4F35BAE1C19E1226061C665DF13E",
        "kube-prometheus-stack": "E2F102EFA9ACD882585BFE1A27252B168248743B",
        "loki": "84275654C470636BB88BDCD1C0EA64E52D7A0D41",
    }


def test_the_fingerprint_is_computed_as_gpg_computes_it() -> None:
    """The committed keys' fingerprints, as `gpg --show-keys` printed them (and as each publisher names its key)."""
    assert primary_fingerprints(KEY.path.read_bytes()) == ["1020CF3C033D4F35BAE1C19E1226061C665DF13E"]
    assert "1020CF3C033D4F35BAE1C19E1226061C665DF13E" in KEY.source  # cert-manager names the file by it


def test_seeded_a_wrong_fingerprint_is_refused() -> None:
    wrong = ChartTrust(signed_by=dataclasses.replace(KEY, fingerprint="0" * 40))
    assert trust_problems("cert-manager", wrong) == [
        "cert-manager: k8s/addons/keys/cert-manager.gpg holds ['1020CF3C033D4F35BAE1C19E1226061C665DF13E'],"
        " not ['0000000000000000000000000000000000000000']"
    ]
    lower = ChartTrust(signed_by=dataclasses.replace(KEY, fingerprint=KEY.fingerprint.lower()))
    assert trust_problems("cert-manager", lower)[0].startswith("cert-manager: fingerprint")


def test_seeded_a_replaced_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another key under the committed name (here: loki's publisher's), or a key altered by one byte."""
    loki_key = LOKI.chart_trust.signed_by
    assert loki_key is not None
    other = loki_key.path.read_bytes()
    monkeypatch.setattr(chart_signing, "KEYS_DIR", tmp_path)
    (tmp_path / KEY.keyring).write_bytes(other)
    assert trust_problems("cert-manager", CERT_MANAGER.chart_trust) == [
        f"cert-manager: k8s/addons/keys/cert-manager.gpg holds ['{loki_key.fingerprint}'], not ['{KEY.fingerprint}']"
    ]
    altered = bytearray((ROOT / "k8s" / "addons" / "keys" / KEY.keyring).read_bytes())
    altered[40] ^= 0x01  # inside the RSA modulus
    (tmp_path / KEY.keyring).write_bytes(bytes(altered))
    assert "holds" in trust_problems("cert-manager", CERT_MANAGER.chart_trust)[0]


def test_seeded_an_armored_or_missing_keyring_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Helm reads binary keyrings only: the ASCII-armored form the publishers serve would fail every install."""
    monkeypatch.setattr(chart_signing, "KEYS_DIR", tmp_path)
    assert trust_problems("cert-manager", CERT_MANAGER.chart_trust) == [
        "cert-manager: no keyring k8s/addons/keys/cert-manager.gpg"
    ]
    (tmp_path / KEY.keyring).write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGl0\n")
    assert trust_problems("cert-manager", CERT_MANAGER.chart_trust) == [
        "cert-manager: k8s/addons/keys/cert-manager.gpg is not a binary OpenPGP keyring (not an OpenPGP packet at"
        " byte 0)"
    ]


def test_seeded_an_add_on_with_neither_verification_nor_a_reason_is_refused() -> None:
    assert trust_problems("x", ChartTrust()) == [
        "x: its chart is neither verified (signed_by) nor says why not (unsigned)"
    ]
    assert trust_problems("x", ChartTrust(unsigned="  ")) != []
    assert trust_problems("x", ChartTrust(signed_by=KEY, unsigned="also")) == [
        "x: signed_by and unsigned are exclusive"
    ]
    elsewhere = dataclasses.replace(KEY, source="https://example.com/key.gpg")
    assert trust_problems("x", ChartTrust(signed_by=elsewhere)) == [
        "x: source 'https://example.com/key.gpg' is not a public GitHub address"
    ]


# --- what the platform stack does with it -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def releases(synth: Synth, variant: Synth) -> dict[str, tuple[Synth, dict[str, Any]]]:
    """Every add-on release of the default and the variant (the other edge and log shipper)."""
    found = {r["name"]: (variant, r) for r in variant.resources("platform", "helm_release").values()}
    return found | {r["name"]: (synth, r) for r in synth.resources("platform", "helm_release").values()}


@pytest.mark.parametrize("addon", ADDONS, ids=lambda addon: addon.release)
def test_a_signed_chart_is_installed_only_after_helm_verified_it_with_the_committed_key(
    addon: Addon, releases: dict[str, tuple[Synth, dict[str, Any]]]
) -> None:
    synthesized, release = releases[addon.release]
    assert release["repository"] == addon.repository
    key = addon.chart_trust.signed_by
    if key is None:
        assert "verify" not in release and "keyring" not in release
        return
    assert release["verify"] is True
    keyring = synthesized.workdir("platform") / release["keyring"]
    assert keyring.read_bytes() == key.path.read_bytes()


def test_cert_manager_comes_from_its_oci_registry_the_chart_that_carries_the_provenance() -> None:
    assert (CERT_MANAGER.repository, CERT_MANAGER.chart) == ("oci://quay.io/jetstack/charts", "cert-manager")


# --- images ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("addon", ADDONS, ids=lambda addon: addon.release)
def test_every_image_is_by_digest_or_says_why_not(addon: Addon) -> None:
    assert addon.images, f"{addon.release} lists no image"
    assert image_problems(addon.release, addon.images) == []


def test_seeded_an_image_without_digest_or_reason_or_with_a_bad_digest_is_refused() -> None:
    bare = ImagePin(values_key="image", image="example/x", tag="v1")
    assert image_problems("x", (bare,)) == ["x: example/x:v1: neither a digest nor the reason it is pulled by tag"]
    short = dataclasses.replace(bare, digest="sha256:abc", source="https://github.com/o/r/blob/0/values.yaml")
    assert image_problems("x", (short,)) == ["x: example/x:v1: digest 'sha256:abc' is not sha256:<64 hex>"]
    nowhere = dataclasses.replace(bare, digest="sha256:" + "a" * 64)
    assert image_problems("x", (nowhere,)) == ["x: example/x:v1: a digest needs its public source"]


def test_a_digest_reaches_the_release_values(releases: dict[str, tuple[Synth, dict[str, Any]]]) -> None:
    """ingress-nginx's two images are pinned by the digests its own chart carries; the release sets them."""
    _, release = releases[INGRESS_NGINX.release]
    generated = yamlload.load(release["values"][1])
    pinned = [pin for pin in INGRESS_NGINX.images if pin.digest]
    assert len(pinned) == 2
    for pin in pinned:
        node: Any = generated
        for key in pin.values_key.split("."):
            node = node[key]
        assert node["digest"] == pin.digest, pin.values_key
    assert image_values(dataclasses.replace(INGRESS_NGINX, images=())) == {}


# --- the architecture document ----------------------------------------------------------------------------------


def trust_row(addon: Addon) -> str:
    key = addon.chart_trust.signed_by
    chart = f"provenance, key `{key.fingerprint}`" if key else "none"
    digests = sum(1 for pin in addon.images if pin.digest)
    return f"| {addon.release} | {chart} | {digests} of {len(addon.images)} by digest |"


def test_the_architecture_table_is_the_record() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text[text.index("## Supply chain") :]
    section = section[: section.index("\n## ", 3)]
    rows = [line for line in section.splitlines() if re.match(r"^\| [a-z-]+ \| (provenance|none)", line)]
    assert rows == [trust_row(addon) for addon in ADDONS]


def test_seeded_a_table_row_that_overstates_is_caught() -> None:
    unsigned = dataclasses.replace(LOKI, chart_trust=ChartTrust(unsigned="why"))
    assert trust_row(unsigned) != trust_row(LOKI)

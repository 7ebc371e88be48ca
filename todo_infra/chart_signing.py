"""What the platform verifies of each third-party chart and image before it installs it (docs/architecture.md,
"Supply chain"): one record per add-on, read by the platform stack (Helm's `verify` with the pinned keyring), the
tests and the architecture document's table.

A chart repository that signs its charts publishes a Helm provenance file (`<chart>.tgz.prov`: the chart's SHA-256,
clear-signed with OpenPGP) beside each chart; `helm_release` with `verify = true` and a `keyring` fetches it and
refuses the chart unless its digest matches and a key of the keyring signed it
([Helm provenance](https://helm.sh/docs/topics/provenance/)). The keyrings are committed in `k8s/addons/keys/`
(binary OpenPGP, as Helm reads them); each record names the key's fingerprint and where the key is published, and a
test recomputes the fingerprint from the committed file.

Standard library only.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

KEYS_DIR = Path(__file__).resolve().parent.parent / "k8s" / "addons" / "keys"
_FINGERPRINT = re.compile(r"^[0-9A-F]{40}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
#: OpenPGP packet tags of a primary public key and a public subkey (RFC 4880, 4.3).
_PUBLIC_KEY, _PUBLIC_SUBKEY = 6, 14


@dataclass(frozen=True, kw_only=True)
class SigningKey:
    """The OpenPGP key a chart repository signs its provenance files with."""

    #: File in k8s/addons/keys/ (binary keyring, as published).
    keyring: str
    #: The primary key's v4 fingerprint, 40 upper-case hex digits.
    fingerprint: str
    #: Where the key is published: a public GitHub address at a commit.
    source: str
    #: Why this key signs this chart: the upstream document or release workflow that says so, at a commit.
    evidence: str

    @property
    def path(self) -> Path:
        return KEYS_DIR / self.keyring


@dataclass(frozen=True, kw_only=True)
class ChartTrust:
    """What is verified of a chart before Helm installs it: its provenance (signed_by), or, when its publisher signs
    nothing the Helm provider can check, why not (unsigned)."""

    signed_by: SigningKey | None = None
    unsigned: str = ""


@dataclass(frozen=True, kw_only=True)
class ImagePin:
    """One container image an add-on runs: by digest (resolved from the tag, from a public, attributable record), or
    by tag with the reason no digest is pinned."""

    #: The chart values key that holds the image (its repository / tag / digest sub-keys).
    values_key: str
    image: str
    tag: str
    digest: str = ""
    #: Where the digest was read (a public address at a commit), or why there is none.
    source: str = ""
    by_tag_because: str = ""


def primary_fingerprints(keyring: bytes) -> list[str]:
    """The v4 fingerprints of the primary public keys in a binary OpenPGP keyring (SHA-1 over 0x99, the two-byte
    length and the key packet's body: RFC 4880, 12.2)."""
    found, offset = [], 0
    while offset < len(keyring):
        tag, body, offset = _packet(keyring, offset)
        if tag == _PUBLIC_KEY:
            if not body or body[0] != 4:
                raise ValueError(f"a version {body[0] if body else '?'} key: only version 4 keys are read")
            found.append(hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper())
    return found


def _packet(data: bytes, offset: int) -> tuple[int, bytes, int]:
    """One OpenPGP packet at offset: its tag, its body and the offset after it (old and new formats, RFC 4880 4.2)."""
    header = data[offset]
    if not header & 0x80:
        raise ValueError(f"not an OpenPGP packet at byte {offset}")
    if header & 0x40:  # new format
        tag, offset = header & 0x3F, offset + 1
        first = data[offset]
        if first < 192:
            length, offset = first, offset + 1
        elif first < 224:
            length, offset = ((first - 192) << 8) + data[offset + 1] + 192, offset + 2
        elif first == 255:
            length, offset = int.from_bytes(data[offset + 1 : offset + 5], "big"), offset + 5
        else:
            raise ValueError("partial body lengths do not occur in a keyring")
    else:
        tag, kind, offset = (header >> 2) & 0x0F, header & 0x03, offset + 1
        if kind == 3:
            raise ValueError("indeterminate packet length")
        size = (1, 2, 4)[kind]
        length, offset = int.from_bytes(data[offset : offset + size], "big"), offset + size
    if offset + length > len(data):
        raise ValueError("truncated packet")
    return tag, data[offset : offset + length], offset + length


def trust_problems(release: str, trust: ChartTrust | None) -> list[str]:
    """What is wrong with an add-on's chart record: it must name a key whose committed keyring holds exactly that
    fingerprint, or say why its chart is not verified, not both, not neither."""
    if trust is None or (trust.signed_by is None and not trust.unsigned.strip()):
        return [f"{release}: its chart is neither verified (signed_by) nor says why not (unsigned)"]
    key = trust.signed_by
    if key is None:
        return []
    found = [f"{release}: signed_by and unsigned are exclusive"] if trust.unsigned else []
    if not _FINGERPRINT.match(key.fingerprint):
        found.append(f"{release}: fingerprint {key.fingerprint!r} is not 40 upper-case hex digits")
    for field in ("source", "evidence"):
        if not getattr(key, field).startswith("https://github.com/"):
            found.append(f"{release}: {field} {getattr(key, field)!r} is not a public GitHub address")
    if not key.path.is_file():
        return [*found, f"{release}: no keyring k8s/addons/keys/{key.keyring}"]
    try:
        fingerprints = primary_fingerprints(key.path.read_bytes())
    except (ValueError, IndexError) as error:
        return [*found, f"{release}: k8s/addons/keys/{key.keyring} is not a binary OpenPGP keyring ({error})"]
    if fingerprints != [key.fingerprint]:
        found.append(f"{release}: k8s/addons/keys/{key.keyring} holds {fingerprints}, not [{key.fingerprint!r}]")
    return found


def image_problems(release: str, pins: tuple[ImagePin, ...]) -> list[str]:
    """Each image is by digest with its source, or by tag with a reason; never both, never neither."""
    found = []
    for pin in pins:
        name = f"{release}: {pin.image}:{pin.tag}"
        if pin.digest:
            if not _DIGEST.match(pin.digest):
                found.append(f"{name}: digest {pin.digest!r} is not sha256:<64 hex>")
            if not pin.source.startswith("https://github.com/"):
                found.append(f"{name}: a digest needs its public source")
            if pin.by_tag_because:
                found.append(f"{name}: by digest and by tag at once")
        elif not pin.by_tag_because.strip():
            found.append(f"{name}: neither a digest nor the reason it is pulled by tag")
    return found

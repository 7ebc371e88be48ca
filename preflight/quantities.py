"""Kubernetes resource quantities as numbers: CPU in millicores, memory and storage in MiB."""

from __future__ import annotations

_BINARY = {"Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0, "Ti": 1024.0**2}
_DECIMAL = {"k": 1e3 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20, "T": 1e12 / 2**20}


def cpu_millicores(quantity: str | float) -> float:
    text = str(quantity).strip()
    return float(text[:-1]) if text.endswith("m") else float(text) * 1000


def mebibytes(quantity: str | float) -> float:
    text = str(quantity).strip()
    for suffix, factor in (*_BINARY.items(), *_DECIMAL.items()):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text) / 2**20

"""Bad configuration is refused as one line naming field, value and what is allowed; exit 2; nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.synth import run_main

CONTEXT = json.loads((Path(__file__).resolve().parents[2] / "cdktf.json").read_text())["context"]
BAD_TAG = {**CONTEXT["environments"], "staging": {"host_prefix": "staging.todo", "default_image_tag": "latest"}}

CASES = {
    "unknown backend mode": ({"TODO_STATE_BACKEND": "gcs"}, "state_backend", "'gcs'", "s3, local"),
    "malformed domain": ({"TODO_DOMAIN": "todo_app..com"}, "domain", "'todo_app..com'", "DNS domain"),
    "unknown region": ({"TODO_REGION": "mars1"}, "region", "'mars1'", "fra1"),
    "malformed e-mail": (
        {"TODO_OPERATOR_EMAIL": "ops-at-example.com"},
        "operator_email",
        "'ops-at-example.com'",
        "e-mail",
    ),
    "node min above max": ({"TODO_NODE_MIN": "6", "TODO_NODE_MAX": "5"}, "node_min", "6", "at most node_max (5)"),
    "non-numeric node max": ({"TODO_NODE_MAX": "five"}, "node_max", "'five'", "an integer"),
    "unknown environment": ({"TODO_ENVIRONMENTS": "staging,qa"}, "environments", "'qa'", "staging, production"),
    "malformed image tag default": (
        {"CDKTF_CONTEXT_JSON": json.dumps({"environments": BAD_TAG})},
        "default_image_tag",
        "'latest'",
        "sha-<7 hex>",
    ),
    "context overlay not JSON": ({"CDKTF_CONTEXT_JSON": "{oops"}, "CDKTF_CONTEXT_JSON", "'{oops'", "JSON object"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_in_one_line_with_exit_2_and_nothing_written(tmp_path: Path, case: str) -> None:
    overrides, field, value, allowed = CASES[case]
    outdir = tmp_path / "cdktf.out"
    process = run_main(outdir, overrides)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"main.py: invalid {field}={value}:")
    assert allowed in lines[0]
    assert "Traceback" not in stderr and stdout == ""
    assert not outdir.exists()

"""State keys, remote-state wiring and the stack dependency graph."""

from __future__ import annotations

import pytest

from tests.synth import Synth

STACKS = ("cluster", "platform", "app-staging", "app-production")
SKIP_FLAGS = (
    "skip_credentials_validation",
    "skip_region_validation",
    "skip_requesting_account_id",
    "skip_metadata_api_check",
    "skip_s3_checksum",
)


def test_the_app_has_exactly_the_four_stacks(synth: Synth) -> None:
    assert sorted(synth.manifest["stacks"]) == sorted(STACKS)


def test_dependency_graph_deploys_cluster_then_platform_then_apps(synth: Synth) -> None:
    dependencies = {stack: sorted(s["dependencies"]) for stack, s in synth.manifest["stacks"].items()}
    assert dependencies == {
        "cluster": [],
        "platform": ["cluster"],
        "app-staging": ["platform"],
        "app-production": ["platform"],
    }


@pytest.mark.parametrize("stack", STACKS)
def test_s3_backend_on_spaces(synth: Synth, stack: str) -> None:
    backend = synth.stacks[stack]["terraform"]["backend"]["s3"]
    assert backend["endpoints"] == {"s3": "https://fra1.digitaloceanspaces.com"}
    assert backend["region"] == "us-east-1"
    assert backend["use_lockfile"] is True
    assert all(backend[flag] is True for flag in SKIP_FLAGS)
    assert backend["key"] == f"hackathon-todo/{stack}.tfstate"


def test_shared_stacks_keep_state_in_the_state_bucket_and_each_app_stack_in_its_environments(synth: Synth) -> None:
    """One Spaces key is limited per bucket, so each environment's app state has a bucket of its own (derived from the
    one setting `state_bucket`); nothing but the app stack of an environment writes to it."""
    buckets = {stack: synth.stacks[stack]["terraform"]["backend"]["s3"]["bucket"] for stack in STACKS}
    assert buckets == {
        "cluster": "hackathon-todo-tfstate",
        "platform": "hackathon-todo-tfstate",
        "app-staging": "hackathon-todo-tfstate-staging",
        "app-production": "hackathon-todo-tfstate-production",
    }


def test_state_keys_are_distinct(synth: Synth, variant: Synth) -> None:
    s3_keys = {synth.stacks[s]["terraform"]["backend"]["s3"]["key"] for s in STACKS}
    local_paths = {variant.stacks[s]["terraform"]["backend"]["local"]["path"] for s in STACKS}
    assert len(s3_keys) == len(local_paths) == len(STACKS)


def test_local_mode_keeps_one_state_file_per_stack(variant: Synth) -> None:
    for stack in STACKS:
        assert variant.stacks[stack]["terraform"]["backend"] == {
            "local": {"path": f"../../../terraform.{stack}.tfstate"}
        }
    remote = variant.stacks["platform"]["data"]["terraform_remote_state"]["state-cluster"]
    assert (remote["backend"], remote["config"]["path"]) == ("local", "../../../terraform.cluster.tfstate")


@pytest.mark.parametrize(
    ("stack", "reads"),
    [
        ("cluster", set()),
        ("platform", {"cluster"}),
        ("app-staging", set()),
        ("app-production", set()),
    ],
)
def test_stacks_read_producers_through_explicit_remote_state(synth: Synth, stack: str, reads: set[str]) -> None:
    remote = synth.stacks[stack].get("data", {}).get("terraform_remote_state", {})
    assert {name.removeprefix("state-") for name in remote} == reads
    writer = synth.stacks["cluster"]["terraform"]["backend"]["s3"]
    for name, source in remote.items():
        config = source["config"]
        assert source["backend"] == "s3"
        assert config["key"] == f"hackathon-todo/{name.removeprefix('state-')}.tfstate"
        # the producers are shared stacks: their state is in the shared bucket, where the cluster's is
        assert {k: v for k, v in config.items() if k != "key"} == {
            k: v for k, v in writer.items() if k not in ("key", "use_lockfile")
        }


def test_synth_runs_quietly_on_a_supported_node(synth: Synth, variant: Synth) -> None:
    """jsii warns loudly on an end-of-life Node; the project gives it Node 22, so synth prints nothing."""
    for result in (synth, variant):
        assert "end-of-life" not in result.stderr
        assert result.stderr == "" and result.stdout == ""

"""cluster: VPC + DOKS cluster; names and ids out, never credentials."""

from __future__ import annotations

from tests.synth import Synth


def test_node_pool_is_seed_size_and_autoscales_3_to_5(synth: Synth) -> None:
    pool = synth.one("cluster", "digitalocean_kubernetes_cluster")["node_pool"]
    assert pool["size"] == "s-2vcpu-4gb"
    assert pool["auto_scale"] is True
    assert (pool["min_nodes"], pool["max_nodes"]) == (3, 5)
    assert "node_count" not in pool, "a fixed node_count would fight the autoscaler"


def test_kubernetes_version_comes_from_versions_data_source_with_pinned_minor(synth: Synth) -> None:
    versions = synth.one("cluster", "digitalocean_kubernetes_versions", data=True)
    assert versions["version_prefix"] == "1.35."
    cluster = synth.one("cluster", "digitalocean_kubernetes_cluster")
    assert cluster["version"].startswith("${data.digitalocean_kubernetes_versions.")
    assert cluster["version"].endswith(".latest_version}")


def test_cluster_patches_itself_in_a_maintenance_window(synth: Synth) -> None:
    cluster = synth.one("cluster", "digitalocean_kubernetes_cluster")
    assert cluster["auto_upgrade"] is True
    assert cluster["surge_upgrade"] is True
    assert cluster["maintenance_policy"] == {"day": "sunday", "start_time": "03:00"}


def test_cluster_lives_in_its_vpc_in_the_configured_region(synth: Synth, variant: Synth) -> None:
    cluster = synth.one("cluster", "digitalocean_kubernetes_cluster")
    vpc = synth.one("cluster", "digitalocean_vpc")
    assert cluster["vpc_uuid"].startswith("${digitalocean_vpc.")
    assert cluster["region"] == vpc["region"] == "fra1"
    assert variant.one("cluster", "digitalocean_kubernetes_cluster")["region"] == "nyc3"


def test_ha_control_plane_is_a_setting(synth: Synth, variant: Synth) -> None:
    assert synth.one("cluster", "digitalocean_kubernetes_cluster")["ha"] is False
    assert variant.one("cluster", "digitalocean_kubernetes_cluster")["ha"] is True


def test_the_control_plane_firewall_is_a_setting_off_by_default(synth: Synth, variant: Synth) -> None:
    assert "control_plane_firewall" not in synth.one("cluster", "digitalocean_kubernetes_cluster")
    assert variant.one("cluster", "digitalocean_kubernetes_cluster")["control_plane_firewall"] == {
        "enabled": True,
        "allowed_addresses": ["203.0.113.0/24", "198.51.100.7/32"],
    }


def test_outputs_are_exactly_the_named_ones(synth: Synth) -> None:
    outputs = synth.stacks["cluster"]["output"]
    assert set(outputs) == {"cluster_name", "cluster_id", "region", "vpc_id"}
    assert outputs["cluster_name"]["value"].endswith(".name}")


def test_auto_upgrades_are_not_undone_or_forced_by_a_later_apply(synth: Synth) -> None:
    cluster = synth.one("cluster", "digitalocean_kubernetes_cluster")
    assert cluster["lifecycle"]["ignore_changes"] == ["version"]

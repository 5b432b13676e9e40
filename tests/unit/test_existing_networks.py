"""The cluster's own networks next to the topology (``cluster.existing``), Multus' namespace isolation
(``cluster.multus_config``) and a run that uses the existing networks (``scope``, ``manifests``)."""

import json

import pytest

from macvlan_conformance import annotations as ann
from macvlan_conformance.cluster import existing, manifests, multus_config
from macvlan_conformance.cluster.scope import RunScope, scoped_topology
from macvlan_conformance.controlplane.bootstrap import installed_ipam
from macvlan_conformance import netconf
from macvlan_conformance.topology import load_topology, resolve_attachments

from ..conftest import TOPOLOGIES

CO = load_topology(TOPOLOGIES / "coordinator.yaml")
REF = load_topology(TOPOLOGIES / "reference.yaml")
DUAL = load_topology(TOPOLOGIES / "dual-stack.yaml")
V6 = load_topology(TOPOLOGIES / "ipv6-only.yaml")
SCOPE = RunScope("ex1")


def nad_of(network, topology=REF, **macvlan) -> dict:
    """The NAD a Spiderpool cluster holds for ``network`` (as the kube lab installs it), edited."""
    config = netconf.macvlan_conflist(network, installed_ipam(network, topology))
    config["plugins"][0].update(macvlan)
    return {"spec": {"config": json.dumps(config)}}


def stored_as_declared(topology, network) -> existing.StoredNetwork:
    return existing.StoredNetwork(nad_of(network, topology),
                                  {name: pool_of(topology.pool(name)) for name in network.pool_names})


def pool_of(pool, **spec) -> dict:
    stored = {"spec": manifests.ippool_spec(pool), "status": {"totalIPCount": len(pool.addresses), "allocatedIPCount": 0}}
    stored["spec"].update(spec)
    return stored


@pytest.mark.parametrize("topology", [REF, DUAL, V6], ids=lambda t: t.name)
def test_a_nad_and_pool_as_declared_have_no_difference(topology):
    for network in topology.networks:
        assert existing.differences(topology, network, stored_as_declared(topology, network)) == [], network.ref


@pytest.mark.parametrize("edit, line", [
    ({"master": "bond1.100"}, "master bond1.100 (topology: bond0.100)"),
    ({"mode": "private"}, "mode private (topology: bridge)"),
    ({"mtu": 9000}, "mtu 9000 (topology: unset, the master MTU)"),
])
def test_each_macvlan_field_that_differs_is_one_line(edit, line):
    """An absent mode is bridge, as the macvlan plugin reads it (containernetworking/plugins
    plugins/main/macvlan/macvlan.go modeFromString); an absent MTU is the master's."""
    network = REF.network("kube-system/macvlan-standalone-vlan100")
    assert existing.nad_differences(network, nad_of(network, **edit)) == [f"NAD {network.ref}: {line}"]


def test_absent_mode_is_bridge_and_chained_plugins_and_ipam_are_named():
    network = REF.network("kube-system/macvlan-standalone-vlan100")
    nad = nad_of(network)
    config = json.loads(nad["spec"]["config"])
    del config["plugins"][0]["mode"]
    assert existing.nad_differences(network, {"spec": {"config": json.dumps(config)}}) == []
    config["plugins"].append({"type": "coordinator", "mode": "auto"})
    config["plugins"].append({"type": "tuning"})
    config["plugins"][0]["ipam"] = {"type": "whereabouts"}
    lines = existing.nad_differences(network, {"spec": {"config": json.dumps(config)}})
    assert lines == [f"NAD {network.ref}: IPAM whereabouts (topology run: spiderpool)",
                     f"NAD {network.ref}: chains the coordinator, which the topology does not declare for this "
                     f"network (add coordinator: {{mode: ...}} to it)",
                     f"NAD {network.ref}: chains tuning, which the topology does not model (its expectations "
                     f"may not hold)"]


def test_the_chained_coordinator_is_compared_with_the_topologys():
    """cni_types.go Config: mode absent is the SpiderCoordinator's auto, tunePodRoutes absent is true; the
    plugin spells disabled ``disable``."""
    network = CO.network("kube-system/macvlan-standalone-vlan100")
    config = json.loads(nad_of(network)["spec"]["config"])
    assert existing.nad_differences(network, {"spec": {"config": json.dumps(config)}}) == []
    config["plugins"][1] = {"type": "coordinator", "tunePodRoutes": False}
    assert existing.nad_differences(network, {"spec": {"config": json.dumps(config)}}) == [
        f"NAD {network.ref}: coordinator mode 'auto' (topology: 'underlay')",
        f"NAD {network.ref}: coordinator tunePodRoutes False (topology: True)"]
    del config["plugins"][1]
    assert existing.nad_differences(network, {"spec": {"config": json.dumps(config)}}) == [
        f"NAD {network.ref}: does not chain the coordinator (topology: coordinator in mode underlay)"]


def test_missing_or_foreign_objects():
    network = REF.network("kube-system/macvlan-standalone-vlan100")
    assert "does not exist" in existing.nad_differences(network, None)[0]
    assert existing.nad_differences(network, {"spec": {"config": "{"}}) == [f"NAD {network.ref}: spec.config is not JSON"]
    bridge = {"spec": {"config": json.dumps({"cniVersion": "1.0.0", "name": "x", "type": "bridge"})}}
    assert existing.nad_differences(network, bridge) == [f"NAD {network.ref} is not a macvlan network (plugins: bridge)"]
    assert existing.pool_differences(REF.pool("vlan100-v4"), None, 1) == [
        "IPv4 SpiderIPPool vlan100-v4 does not exist; create it (or run with --networks create)"]


def test_pool_differences_subnet_gateway_addresses_and_free_ips():
    """Spiderpool's SpiderIPPool v2beta1: spec.subnet, spec.gateway, spec.ips minus spec.excludeIPs, and the
    status counts (totalIPCount, allocatedIPCount) the free addresses are read from."""
    pool = REF.pool("vlan100-v4")
    assert existing.pool_differences(pool, pool_of(pool, gateway="10.100.0.254"), 1) == [
        "SpiderIPPool vlan100-v4: gateway 10.100.0.254 (topology: 10.100.0.1)"]
    assert existing.pool_differences(pool, pool_of(pool, ips=["10.100.0.100-10.100.0.120"]), 1) == [
        "SpiderIPPool vlan100-v4: 21 addresses (topology: 99); missing: 10.100.0.121..."]
    full = pool_of(pool)
    full["status"]["allocatedIPCount"] = len(pool.addresses) - 2
    assert existing.pool_differences(pool, full, 3) == ["SpiderIPPool vlan100-v4: 2 free addresses of 99, the run needs 3"]
    assert existing.pool_differences(pool, full, 2) == []


def test_an_existing_networks_run_keeps_the_topologys_nads_and_pools():
    """The pods move into the run namespace; every reference is qualified as the topology meant it (Multus:
    a bare default network is in its own namespace, kube-system; a bare extra network is in the pod's)."""
    scoped = scoped_topology(REF, SCOPE, create_networks=False)
    assert [n.ref for n in scoped.networks] == [n.ref for n in REF.networks]
    assert [p.name for p in scoped.ippools] == [p.name for p in REF.ippools]
    for pod in REF.pods:
        moved = scoped.pod(pod.name)
        assert moved.namespace == SCOPE.namespace
        before = [(a.ifname, a.network and a.network.ref, a.pool and a.pool.name) for a in resolve_attachments(REF, pod)]
        after = [(a.ifname, a.network and a.network.ref, a.pool and a.pool.name) for a in resolve_attachments(scoped, moved)]
        assert before == after, pod.name
    objects = manifests.render(scoped, SCOPE, create_networks=False)
    assert {o["kind"] for o in objects} == {"Namespace", "Pod"}
    for pod in (o for o in objects if o["kind"] == "Pod"):
        entries = json.loads(pod["metadata"]["annotations"].get(ann.IPPOOLS, "[]"))
        assert {p for e in entries for p in e["ipv4"]} <= {p.name for p in REF.ippools}


@pytest.mark.parametrize("args, enabled, globals_", [
    (["--namespace-isolation=true", "--global-namespaces=default,kube-system"], True, ("default", "kube-system")),
    (["--namespace-isolation"], True, ("default",)),
    (["--namespace-isolation=false"], False, ("default",)),
    (["--multus-conf-file=auto"], None, None),
])
def test_isolation_from_the_thin_plugins_flags(args, enabled, globals_):
    """multus-cni cmd/thin_entrypoint/main.go: --namespace-isolation (a bool flag), --global-namespaces (a
    comma separated list that replaces the default, "default": pkg/types/conf.go)."""
    found = multus_config.from_args(args, "flags")
    assert (found is None) if enabled is None else (found.enabled, found.global_namespaces) == (enabled, globals_)


def test_isolation_from_a_daemon_config_and_what_it_refuses():
    """Isolation applies to the networks annotation only, never to the default network (multus-cni
    pkg/k8sclient/k8sclient.go: GetNetworkDelegates checks it, tryLoadK8sPodDefaultNetwork does not)."""
    found = multus_config.from_config_text(json.dumps({"namespaceIsolation": True, "globalNamespaces": "default"}), "cm")
    assert found.enabled and found.global_namespaces == ("default",)
    assert multus_config.from_config_text("not json", "cm") is None
    scoped = scoped_topology(REF, SCOPE, create_networks=False)
    refused = multus_config.problems(scoped, SCOPE.namespace, found)
    extra = sorted({a.network.ref for p in scoped.pods for a in scoped.attachments(p.name)[1:] if a.network})
    assert extra and [line.split(" refuses NAD ")[1].split(" ")[0] for line in refused] == extra
    assert all("add kube-system to Multus' globalNamespaces" in line for line in refused)
    allowed = multus_config.Isolation(True, ("kube-system",), "cm")
    assert multus_config.problems(scoped, SCOPE.namespace, allowed) == []
    assert multus_config.problems(scoped, SCOPE.namespace, multus_config.Isolation()) == []


# --- dual stack ----------------------------------------------------------------------------------
DUAL_NET = DUAL.network("kube-system/macvlan-standalone-vlan100")


def ipam_edited(network, topology, **ipam) -> dict:
    """The installed NAD of ``network`` with its IPAM keys replaced (None: removed)."""
    config = json.loads(nad_of(network, topology)["spec"]["config"])
    config["plugins"][0]["ipam"].update(ipam)
    config["plugins"][0]["ipam"] = {k: v for k, v in config["plugins"][0]["ipam"].items() if v is not None}
    return {"spec": {"config": json.dumps(config)}}


def test_installed_nads_default_to_the_pool_of_each_family():
    """A SpiderMultusConfig's ``macvlan.ippools`` ``ipv4`` / ``ipv6`` lists become the NAD IPAM's
    ``default_ipv4_ippool`` / ``default_ipv6_ippool`` (spidernet-io/spiderpool pkg/multuscniconfig/
    multusconfig_informer.go generateMacvlanCNIConf), which pool selection reads when the pod names no pool (pkg/ipam/
    pool_selections.go getPoolFromNetConf)."""
    assert installed_ipam(DUAL_NET, DUAL) == {"type": "spiderpool", "default_ipv4_ippool": ["vlan100-v4"],
                                              "default_ipv6_ippool": ["vlan100-v6"]}
    v6 = V6.network(DUAL_NET.ref)
    assert installed_ipam(v6, V6) == {"type": "spiderpool", "default_ipv6_ippool": ["vlan100-v6"]}
    assert installed_ipam(REF.network(DUAL_NET.ref), REF) == {"type": "spiderpool",
                                                              "default_ipv4_ippool": ["vlan100-v4"]}


@pytest.mark.parametrize("ipam, line", [
    ({"default_ipv6_ippool": ["vlan200-v6"]}, "Spiderpool's default IPv6 pool vlan200-v6 (topology: vlan100-v6)"),
    ({"default_ipv6_ippool": None}, "Spiderpool's default IPv6 pool unset (topology: vlan100-v6)"),
    ({"default_ipv4_ippool": ["vlan200-v4"]}, "Spiderpool's default IPv4 pool vlan200-v4 (topology: vlan100-v4)"),
])
def test_a_default_pool_of_either_family_that_differs_is_named_by_family(ipam, line):
    pools = [DUAL.pool(n) for n in DUAL_NET.pool_names]
    assert existing.nad_differences(DUAL_NET, ipam_edited(DUAL_NET, DUAL, **ipam), "spiderpool", pools) == \
        [f"NAD {DUAL_NET.ref}: {line}"]


def test_default_pools_are_judged_only_when_the_nad_lists_some():
    """A NAD without defaults serves the run's pods, which name their pools; one with a default of a family the
    network has no pool of gives its pods an address the topology does not declare."""
    pools = [DUAL.pool(n) for n in DUAL_NET.pool_names]
    bare = ipam_edited(DUAL_NET, DUAL, default_ipv4_ippool=None, default_ipv6_ippool=None)
    assert existing.nad_differences(DUAL_NET, bare, "spiderpool", pools) == []
    network = REF.network(DUAL_NET.ref)
    extra = ipam_edited(network, REF, default_ipv6_ippool=["vlan100-v6"])
    assert existing.differences(REF, network, existing.StoredNetwork(extra, {"vlan100-v4": pool_of(REF.pool(
        "vlan100-v4"))})) == [f"NAD {network.ref}: Spiderpool's default IPv6 pool vlan100-v6 (topology: none, the "
                              f"network has no IPv6 pool)"]


def test_each_familys_pool_object_is_compared():
    """Both of a dual-stack network's SpiderIPPools: a missing IPv6 pool and an IPv6 pool whose gateway or
    addresses differ are one line each, naming the pool; IPv6 spellings of one address are equal."""
    stored = stored_as_declared(DUAL, DUAL_NET)
    v6 = DUAL.pool("vlan100-v6")
    missing = existing.StoredNetwork(stored.nad, {**stored.pools, "vlan100-v6": None})
    assert existing.differences(DUAL, DUAL_NET, missing) == [
        "IPv6 SpiderIPPool vlan100-v6 does not exist; create it (or run with --networks create)"]
    edited = existing.StoredNetwork(stored.nad, {**stored.pools, "vlan100-v6": pool_of(
        v6, gateway="fd00:100::fe", ips=["fd00:100::100-fd00:100::10f"])})
    assert existing.differences(DUAL, DUAL_NET, edited) == [
        "SpiderIPPool vlan100-v6: gateway fd00:100::fe (topology: fd00:100::1)",
        "SpiderIPPool vlan100-v6: 16 addresses (topology: 255); missing: fd00:100::110..."]
    respelled = pool_of(v6, subnet="fd00:100:0:0::/64", gateway="fd00:100:0::1",
                        ips=["fd00:100::100-fd00:100:0:0::1ff"], excludeIPs=["FD00:100::150"])
    assert existing.pool_differences(v6, respelled, 1) == []
    assert existing.pool_differences(v6, pool_of(v6, subnet="fd00:100::1/64"), 1) == [
        "SpiderIPPool vlan100-v6: subnet fd00:100::1/64 (topology: fd00:100::/64)"]


def test_a_dual_stack_nic_uses_an_address_of_each_pool():
    usage = existing.pool_usage(DUAL)
    assert usage["vlan100-v4"] == usage["vlan100-v6"] == 5  # sa-w1-a, sa-w1-b, sa-w2-a, sa-w2-dual net1, ov-w1
    assert set(existing.pool_usage(V6)) == {p.name for p in V6.ippools}


def test_an_existing_networks_run_keeps_both_families_pools():
    scoped = scoped_topology(DUAL, SCOPE, create_networks=False)
    assert [n.pool_names for n in scoped.networks] == [n.pool_names for n in DUAL.networks]
    for pod in (o for o in manifests.render(scoped, SCOPE, create_networks=False) if o["kind"] == "Pod"):
        for entry in json.loads(pod["metadata"]["annotations"].get(ann.IPPOOLS, "[]")):
            assert (DUAL.pool(entry["ipv4"][0]).family, DUAL.pool(entry["ipv6"][0]).family) == (4, 6)

"""Allocation and network-status judging on synthetic facts (what an agent and Multus would report)."""

import copy

import pytest

from macvlan_conformance.allocation import allocation_problems, network_status_problems
from macvlan_conformance.topology import load_topology

from ..conftest import TOPOLOGIES

REF = load_topology(TOPOLOGIES / "reference.yaml")
MAC = "02:00:00:00:00:aa"
MAC1 = "02:00:00:00:00:bb"


def link(name, kind, mode=None, parent=None, mac=MAC, up=True):
    return {"name": name, "index": 2, "kind": kind, "mode": mode, "mac": mac, "mtu": 1500, "state": "UP", "up": up,
            "parent_index": parent, "parent_netnsid": 0 if parent else None}


@pytest.fixture
def dual():
    """What sa-w2-dual sees when all is well: eth0 on bond0.200 (ifindex 20), net1 on bond0.100 (10)."""
    return {
        "links": [link("lo", None), link("eth0", "macvlan", "bridge", 20), link("net1", "macvlan", "bridge", 10, MAC1)],
        "addresses": [{"ifname": "lo", "address": "127.0.0.1", "prefixlen": 8},
                      {"ifname": "eth0", "address": "10.200.0.102", "prefixlen": 24},
                      {"ifname": "net1", "address": "10.100.0.101", "prefixlen": 24}],
        "routes": [{"dst": "0.0.0.0/0", "gateway": "10.200.0.1", "dev": "eth0"},
                   {"dst": "10.200.0.0/24", "gateway": None, "dev": "eth0"},
                   {"dst": "10.100.0.0/24", "gateway": None, "dev": "net1"}],
        "neighbours": [],
    }


MASTERS = {"bond0.200": 20, "bond0.100": 10}


def test_healthy_dual_pod(dual):
    assert allocation_problems(REF, "sa-w2-dual", dual, MASTERS) == []


@pytest.mark.parametrize("breakage, expected", [
    (lambda d: d["links"][1].update(mode="private"), "eth0: macvlan mode private, expected bridge"),
    (lambda d: d["links"][1].update(parent_index=10), "eth0: parent ifindex 10, expected 20 (bond0.200)"),
    (lambda d: d["links"][2].update(kind="ipvlan"), "net1: kind ipvlan, expected macvlan on bond0.100"),
    (lambda d: d["addresses"][1].update(address="10.200.0.5"), "eth0: 10.200.0.5 is not in pool vlan200-v4"),
    (lambda d: d["routes"].pop(0), "eth0: no default route"),
    (lambda d: d["routes"][0].update(gateway="10.200.0.254"), "default route via 10.200.0.254, expected 10.200.0.1"),
    (lambda d: d["routes"].append({"dst": "0.0.0.0/0", "gateway": "10.100.0.1", "dev": "net1"}),
     "net1: carries a default route in the main table; only eth0 may"),
    (lambda d: d["links"].pop(2), "net1: missing"),
    (lambda d: d["links"].append(link("net2", "macvlan", "bridge", 10)), "unexpected interfaces ['net2']"),
    (lambda d: d["links"][1].update(up=False), "eth0: is down"),
])
def test_each_breakage_is_named(dual, breakage, expected):
    breakage(dual)
    problems = allocation_problems(REF, "sa-w2-dual", dual, MASTERS)
    assert any(expected in p for p in problems), problems


def test_interfaces_the_cluster_adds_to_every_pod_are_tolerated_only_when_declared(dual):
    """calico with IPIP (and any loaded tunnel module) puts tunl0 into every pod's namespace: a topology lists
    such interfaces under overlay.extraInterfaces, and only those are tolerated."""
    dual["links"].append(link("tunl0", "ipip"))
    assert any("unexpected interfaces ['tunl0']" in p for p in allocation_problems(REF, "sa-w2-dual", dual, MASTERS))
    data = REF.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["overlay"]["extraInterfaces"] = ["tunl0"]
    from macvlan_conformance.topology import parse_topology
    calico = parse_topology(data)
    assert allocation_problems(calico, "sa-w2-dual", dual, MASTERS) == []
    dual["links"].append(link("gre0", "gre"))
    assert any("unexpected interfaces ['gre0']" in p for p in allocation_problems(calico, "sa-w2-dual", dual, MASTERS))


def test_overlay_pod_keeps_eth0_from_the_overlay():
    seen = {"links": [link("lo", None), link("eth0", "veth"), link("net1", "macvlan", "bridge", 10, MAC1)],
            "addresses": [{"ifname": "eth0", "address": "10.244.1.2", "prefixlen": 24},
                          {"ifname": "net1", "address": "10.100.0.102", "prefixlen": 24}],
            "routes": [{"dst": "0.0.0.0/0", "gateway": "10.244.1.1", "dev": "eth0"}], "neighbours": []}
    assert allocation_problems(REF, "ov-w1", seen, {"bond0.100": 10}) == []
    wrong = copy.deepcopy(seen)
    wrong["addresses"][0]["address"] = "10.244.2.9"
    assert "eth0: 10.244.2.9 is outside the node's pod CIDR 10.244.1.0/24" in \
        allocation_problems(REF, "ov-w1", wrong, {"bond0.100": 10})


def status(dual_ok=True):
    return [{"name": "kube-system/macvlan-standalone-vlan200", "interface": "eth0", "ips": ["10.200.0.102"],
             "mac": MAC, "default": True, "dns": {}},
            {"name": "kube-system/macvlan-standalone-vlan100", "interface": "net1", "ips": ["10.100.0.101"],
             "mac": MAC1, "dns": {}}]


def test_network_status_consistent(dual):
    assert network_status_problems(REF, "sa-w2-dual", status(), dual) == []


@pytest.mark.parametrize("breakage, expected", [
    (lambda s: s[1].update(default=True), "2 entries have default: true"),
    (lambda s: s[0].update(default=False), "0 entries have default: true"),
    (lambda s: s[1].update(mac="02:00:00:00:00:cc"), "net1: network-status mac 02:00:00:00:00:cc"),
    (lambda s: s[0].update(ips=["10.200.0.9"]), "eth0: network-status ips ['10.200.0.9'] but the pod has"),
    (lambda s: s[1].update(name="kube-system/other"), "net1: network-status name 'kube-system/other'"),
    (lambda s: s.pop(1), "net1: no network-status entry"),
])
def test_network_status_breakage(dual, breakage, expected):
    entries = status()
    breakage(entries)
    problems = network_status_problems(REF, "sa-w2-dual", entries, dual)
    assert any(expected in p for p in problems), problems


def test_network_status_mtu_and_ipv6_addresses_are_compared_with_the_pod(dual):
    """network-attachment-definition-client CreateNetworkStatuses writes ``mtu`` where the CNI result has it, and
    every address of both families: each is held to what the pod has (global IPv6 addresses read by the agent)."""
    entries = status()
    entries[0]["mtu"] = 1500
    assert network_status_problems(REF, "sa-w2-dual", entries, dual) == []
    entries[0]["mtu"] = 9000
    assert "eth0: network-status mtu 9000 but the pod has 1500" in network_status_problems(REF, "sa-w2-dual", entries,
                                                                                           dual)
    entries = status()
    entries[0]["ips"].append("fd00:200::102")
    assert any("network-status ips" in p for p in network_status_problems(REF, "sa-w2-dual", entries, dual))
    dual["addresses6"] = [{"ifname": "eth0", "address": "fd00:200::102", "prefixlen": 64}]
    assert network_status_problems(REF, "sa-w2-dual", entries, dual) == []

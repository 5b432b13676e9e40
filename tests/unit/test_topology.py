"""The topology model: the shipped topologies load, resolve as Multus would, and every bad input fails
with one message naming the field and the fix."""

import pytest

from macvlan_conformance.topology import TopologyError, load_topology, parse_topology

from ..conftest import TOPOLOGIES


def test_reference_resolves_like_multus():
    t = load_topology(TOPOLOGIES / "reference.yaml")
    by_pod = {p.name: t.attachments(p.name) for p in t.pods}
    eth0 = by_pod["sa-w1-a"][0]
    assert (eth0.ifname, eth0.kind, eth0.network.name, eth0.pool.name, eth0.vlan.id) == \
        ("eth0", "standalone", "macvlan-standalone-vlan100", "vlan100-v4", 100)
    dual = by_pod["sa-w2-dual"]
    assert [(a.ifname, a.vlan.id, a.default) for a in dual] == [("eth0", 200, True), ("net1", 100, False)]
    overlay = by_pod["ov-w1"]
    assert overlay[0].network is None and overlay[0].kind == "overlay"
    assert (overlay[1].ifname, overlay[1].network.name, overlay[1].pool.name) == \
        ("net1", "macvlan-overlay-vlan100", "vlan100-v4")
    assert [a.ifname for a in by_pod["plain-w2"]] == ["eth0"]
    assert str(t.node_pod_cidr("worker1")) == "10.244.1.0/24"
    assert str(t.node_pod_cidr("worker2")) == "10.244.2.0/24"


@pytest.mark.parametrize("name", ["reference", "minimal", "scale"])
def test_shipped_topologies_load(name):
    if not (TOPOLOGIES / f"{name}.yaml").exists():
        pytest.fail(f"topologies/{name}.yaml is missing")
    assert load_topology(TOPOLOGIES / f"{name}.yaml").name == name


def test_pool_addresses_honour_exclusions():
    t = load_topology(TOPOLOGIES / "reference.yaml")
    pool = t.pool("vlan100-v4")
    addresses = [str(a) for a in pool.addresses]
    assert len(addresses) == 99 and "10.100.0.150" not in addresses and addresses[0] == "10.100.0.100"


def _mutate(data, path, value):
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


_DELETE = object()

BAD_INPUTS = [
    # (case, path, value, words the message must contain)
    ("unknown key", ("pods", 0, "nod"), "worker1", ["pods[0].nod", "unknown key"]),
    ("missing key", ("vlans", 0, "subnet"), _DELETE, ["vlans[0].subnet", "required"]),
    ("vlan id 0", ("vlans", 1, "id"), 0, ["vlans[1].id", "greater than or equal to 1"]),
    ("vlan id 4095", ("vlans", 1, "id"), 4095, ["vlans[1].id", "less than or equal to 4094"]),
    ("gateway MAC malformed", ("vlans", 1, "gatewayMac"), "00:1c:73:00:64",
     ["vlans[1].gatewayMac", "not a MAC address", "six hex pairs"]),
    ("gateway outside subnet", ("vlans", 1, "gateway"), "10.99.0.1",
     ["vlans[1].gateway", "outside subnet 10.100.0.0/24", "use an address inside it"]),
    ("untrunked master", ("nodes", 1, "vlans"), [100], ["pods[", "VLAN 200 is not trunked to node worker2",
                                                         "add 200 to worker2's vlans"]),
    ("unknown node", ("pods", 0, "node"), "worker9", ["pods[0].node", "'worker9' is not a node", "worker1, worker2"]),
    ("undefined network", ("pods", 0, "annotations"),
     {"v1.multus-cni.io/default-network": "kube-system/nope"}, ["pods[0].annotations", "'kube-system/nope'",
                                                                 "not defined"]),
    ("nic name too long", ("nodes", 0, "bond", "members"), ["ens224", "enp0s31f6abcdefg"],
     ["nodes[0].bond.members[1]", "'enp0s31f6abcdefg'", "16 bytes long, Linux allows at most 15"]),
    ("ifname too long", ("pods", 7, "annotations", "k8s.v1.cni.cncf.io/networks"),
     "kube-system/macvlan-standalone-vlan100@averyverylongname", ["interface name 'averyverylongname'"]),
    ("pool outside every vlan", ("ippools", 0, "subnet"), "10.77.0.0/24", ["ippools[0].subnet", "not the subnet of any VLAN"]),
    ("pool range reversed", ("ippools", 0, "ips"), ["10.6.0.199-10.6.0.100"], ["ippools[0].ips", "ends before it starts"]),
    ("pool range garbage", ("ippools", 0, "ips"), ["ten.six"], ["ippools[0].ips", "not an IPv4 address or range"]),
    ("pool contains gateway", ("ippools", 0, "ips"), ["10.6.0.1-10.6.0.20"], ["ippools[0].ips", "contains the gateway",
                                                                                "excludeIPs"]),
    ("network pool unknown", ("networks", 0, "ippool"), "nope", ["networks[0].ippool", "'nope' is not defined"]),
    ("network master unknown vlan", ("networks", 1, "master"), "bond0.300",
     ["networks[1].master", "VLAN 300, which is not defined"]),
    ("network master not the bond", ("networks", 1, "master"), "eth7", ["networks[1].master", "neither the bond"]),
    ("macvlan mode", ("networks", 1, "mode"), "bridged", ["networks[1].mode", "bridge"]),
    ("overlay network as default", ("pods", 0, "annotations"),
     {"v1.multus-cni.io/default-network": "kube-system/macvlan-overlay-vlan100"},
     ["pods[0].annotations", "type overlay and may never be the default network"]),
    ("standalone plus overlay", ("pods", 0, "annotations", "k8s.v1.cni.cncf.io/networks"),
     "kube-system/macvlan-overlay-vlan200", ["pods[0].annotations", "never mixed"]),
    ("duplicate pod", ("pods", 1, "name"), "sa-w1-a", ["pods[1].name", "duplicate 'sa-w1-a'"]),
    ("bad pod name", ("pods", 0, "name"), "Sa_W1", ["pods[0].name", "DNS-1123"]),
    ("node ip off the native vlan", ("nodes", 0, "ip"), "10.100.0.11", ["nodes[0].ip", "outside the native VLAN"]),
    ("native vlan undefined", ("switch", "nativeVlan"), 7, ["switch.nativeVlan", "VLAN 7 is not defined"]),
    ("bad JSON networks annotation", ("pods", 8, "annotations", "k8s.v1.cni.cncf.io/networks"), "[{bad",
     ["pods[8].annotations", "not valid JSON"]),
    ("pool selection unknown", ("pods", 8, "annotations", "ipam.spidernet.io/ippool"), '{"ipv4":["nope"]}',
     ["pods[8].annotations", "IP pool 'nope'"]),
]


@pytest.mark.parametrize("case, path, value, words", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_names_field_and_fix(reference_data, case, path, value, words):
    data = _mutate(reference_data, path, value)
    with pytest.raises(TopologyError) as info:
        parse_topology(data, "bad.yaml")
    message = str(info.value)
    assert message.startswith("bad.yaml: ")
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    assert "\n" not in message


def test_overlapping_pools(reference_data):
    reference_data["ippools"].append({"name": "extra", "subnet": "10.200.0.0/24", "ips": ["10.200.0.110"]})
    with pytest.raises(TopologyError, match=r"ippools\[3\]\.ips: overlaps ippools\[2\] \(vlan200-v4\) at "
                                            r"10\.200\.0\.110; pools must not share addresses"):
        parse_topology(reference_data, "t")


def test_pool_capacity(reference_data):
    reference_data["ippools"][1]["ips"] = ["10.100.0.100-10.100.0.102"]
    with pytest.raises(TopologyError, match=r"pool vlan100-v4 has 3 addresses but 5 interfaces use it; widen"):
        parse_topology(reference_data, "t")


def test_file_errors(tmp_path):
    with pytest.raises(TopologyError, match="cannot read the file .*; check --topology"):
        load_topology(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nvlans: [\n")
    with pytest.raises(TopologyError, match=r"not valid YAML at line \d+"):
        load_topology(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(TopologyError, match="top level must be a mapping"):
        load_topology(bad)

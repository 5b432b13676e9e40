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
    ("missing key", ("nodes", 0, "bond"), _DELETE, ["nodes[0].bond", "required"]),
    ("subnet missing", ("vlans", 0, "subnet"), _DELETE, ["vlans[0]", "gateway without subnet", "give both"]),
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


# --- address conflicts, duplicates in lists, pool selection against the pod's interfaces ----------------
SEMANTIC_BAD_INPUTS = [
    # (case, path, value, words the message must contain)
    ("vlan gateway is the network address", ("vlans", 1, "gateway"), "10.100.0.0",
     ["vlans[1].gateway: 10.100.0.0 is the network address of 10.100.0.0/24", "such as 10.100.0.1"]),
    ("vlan gateway is the broadcast address", ("vlans", 1, "gateway"), "10.100.0.255",
     ["vlans[1].gateway", "broadcast address of 10.100.0.0/24", "use a host address"]),
    ("pool gateway is the broadcast address", ("ippools", 1, "gateway"), "10.100.0.255",
     ["ippools[1].gateway", "broadcast address", "use a host address"]),
    ("pool gateway differs from the vlan's", ("ippools", 1, "gateway"), "10.100.0.254",
     ["ippools[1].gateway: 10.100.0.254 differs from vlans[1].gateway 10.100.0.1",
      "Spiderpool pods route through the pool gateway while the switch vlanif holds the VLAN gateway",
      "set the pool's gateway to 10.100.0.1 or leave it out"]),
    ("excludeIPs outside the subnet", ("ippools", 1, "excludeIPs"), ["10.100.0.150", "10.99.0.5"],
     ["ippools[1].excludeIPs[1]: 10.99.0.5 is outside subnet 10.100.0.0/24, so it excludes nothing"]),
    ("ips outside the subnet", ("ippools", 1, "ips"), ["10.100.0.100-10.100.1.10"],
     ["ippools[1].ips[0]: 10.100.1.10 is outside subnet 10.100.0.0/24", "list only addresses"]),
    ("ips hold the broadcast address", ("ippools", 1, "ips"), ["10.100.0.10", "10.100.0.200-10.100.0.255"],
     ["ippools[1].ips[1]: includes 10.100.0.255, the broadcast address", "end it at 10.100.0.254 or add"]),
    ("ips hold the network address", ("ippools", 2, "ips"), ["10.200.0.0-10.200.0.0", "10.200.0.100-10.200.0.199"],
     ["ippools[2].ips[0]: includes 10.200.0.0, the network address", "start it at 10.200.0.1"]),
    ("pool too large", ("ippools", 1, "ips"), ["10.100.0.100-10.101.40.0"],
     ["ippools[1].ips", "more than the 65536 a pool may list", "narrow the ranges"]),
    ("node ip in a pool", ("nodes", 0, "ip"), "10.6.0.150",
     ["nodes[0].ip: 10.6.0.150 is in ippools[0] (vlan0-v4)", "add 10.6.0.150 to the pool's excludeIPs"]),
    ("node ip is the gateway", ("nodes", 0, "ip"), "10.6.0.1",
     ["nodes[0].ip: 10.6.0.1 is the gateway vlans[0].gateway", "give the node another address"]),
    ("node ip is the network address", ("nodes", 1, "ip"), "10.6.0.0",
     ["nodes[1].ip: 10.6.0.0 is the network address of the native VLAN's subnet"]),
    ("node ip is the broadcast address", ("nodes", 1, "ip"), "10.6.0.255", ["nodes[1].ip", "broadcast address"]),
    ("two nodes with one ip", ("nodes", 1, "ip"), "10.6.0.11",
     ["nodes[1].ip: 10.6.0.11 is also the IP of nodes[0] (worker1)", "its own address"]),
    ("vlan twice on a node", ("nodes", 0, "vlans"), [100, 200, 100],
     ["nodes[0].vlans[2]: VLAN 100 is listed twice (first at nodes[0].vlans[0]); list each VLAN once"]),
    ("vlanif twice", ("switch", "vlanifs"), [1, 100, 200, 100],
     ["switch.vlanifs[3]: VLAN 100 is listed twice (first at switch.vlanifs[1])"]),
    ("ippools without an entry for a NIC", ("pods", 7, "annotations", "ipam.spidernet.io/ippools"),
     '[{"interface":"eth0","ipv4":["vlan200-v4"]}]',
     ["pods[7].annotations: ipam.spidernet.io/ippools has no entry for interface net1",
      'add {"interface": "net1", "ipv4": ["vlan100-v4"]}']),
    ("ippools names an interface the pod lacks", ("pods", 7, "annotations", "ipam.spidernet.io/ippools"),
     '[{"interface":"eth0","ipv4":["vlan200-v4"]},{"interface":"net9","ipv4":["vlan100-v4"]}]',
     ["pods[7].annotations: ipam.spidernet.io/ippools[1].interface: this pod has no interface 'net9'",
      "its interfaces are eth0, net1"]),
    ("ippools ipv4 not a list", ("pods", 7, "annotations", "ipam.spidernet.io/ippools"),
     '[{"interface":"eth0","ipv4":"vlan200-v4"},{"interface":"net1","ipv4":["vlan100-v4"]}]',
     ["pods[7].annotations: ipam.spidernet.io/ippools[0].ipv4 must be a list of pool names"]),
    ("unnamed ippools on an overlay pod", ("pods", 8, "annotations", "ipam.spidernet.io/ippools"),
     '[{"ipv4":["vlan100-v4"]}]', ["pods[8].annotations", "no entry for interface net1"]),
    ("annotation value not a string", ("pods", 7, "annotations", "ipam.spidernet.io/ippools"),
     [{"interface": "eth0"}], ["pods[7].annotations.ipam.spidernet.io/ippools: Input should be a valid string",
                               "quote the value"]),
    ("wrong type with its fix", ("vlans", 1, "id"), "hundred",
     ["vlans[1].id: Input should be a valid integer", "write a whole number"]),
]


@pytest.mark.parametrize("case, path, value, words", SEMANTIC_BAD_INPUTS, ids=[b[0] for b in SEMANTIC_BAD_INPUTS])
def test_semantic_bad_input_names_field_and_fix(reference_data, case, path, value, words):
    with pytest.raises(TopologyError) as info:
        parse_topology(_mutate(reference_data, path, value), "bad.yaml")
    message = str(info.value)
    assert message.startswith("bad.yaml: ") and "\n" not in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_pool_gateway_may_be_left_out(reference_data):
    del reference_data["ippools"][1]["gateway"]
    assert parse_topology(reference_data).pool("vlan100-v4").gateway is None
    reference_data["ippools"][1]["ips"] = ["10.100.0.1-10.100.0.20"]
    with pytest.raises(TopologyError, match=r"ippools\[1\]\.ips: contains 10\.100\.0\.1, the gateway of VLAN 100"):
        parse_topology(reference_data)


def test_network_and_broadcast_addresses_are_fine_when_excluded_or_on_31(reference_data):
    reference_data["ippools"][1].update(ips=["10.100.0.0-10.100.0.20", "10.100.0.250-10.100.0.255"],
                                         excludeIPs=["10.100.0.0-10.100.0.1", "10.100.0.255"])
    reference_data["vlans"].append({"id": 300, "subnet": "10.30.0.0/31", "gateway": "10.30.0.0"})
    reference_data["vlans"].append({"id": 301, "subnet": "10.31.0.7/32", "gateway": "10.31.0.7"})
    t = parse_topology(reference_data)
    assert str(t.pool("vlan100-v4").addresses[0]) == "10.100.0.2" and t.vlan(300).gateway == t.vlan(300).subnet[0]


def test_pools_too_large_in_all(reference_data):
    reference_data["vlans"].append({"id": 300, "subnet": "172.16.0.0/12", "gateway": "172.16.0.1"})
    reference_data["ippools"] += [{"name": f"big{i}", "subnet": "172.16.0.0/12",
                                   "ips": [f"172.{17 + i}.0.0-172.{17 + i}.255.255"]} for i in range(5)]
    with pytest.raises(TopologyError, match=r"ippools: 327981 addresses in all, more than the 262144 a topology may "
                                            r"list; narrow"):
        parse_topology(reference_data)


def test_many_errors_are_one_short_line(reference_data):
    reference_data.update({f"x{i}": 1 for i in range(30)})
    with pytest.raises(TopologyError) as info:
        parse_topology(reference_data, "bad.yaml")
    assert str(info.value).endswith("and 27 more errors (fix these first)") and len(str(info.value)) < 300

"""The topology model: the shipped topologies load, resolve as Multus would, and every bad input fails
with one message naming the field and the fix."""

import copy

import pytest
import yaml

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


@pytest.mark.parametrize("name", ["reference", "minimal", "scale", "coordinator", "dual-stack", "ipv6-only"])
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
    ("pool too large", ("ippools", 1), {"name": "vlan100-v4", "subnet": "10.96.0.0/12",
                                        "ips": ["10.100.0.100-10.101.40.0"]},
     ["ippools[1].ips", "more than the 65536 a pool may list", "narrow the ranges"]),
    ("a range reaching far outside the subnet", ("ippools", 1, "ips"), ["10.100.0.100-10.101.40.0"],
     ["ippools[1].ips[0]: 10.101.40.0 is outside subnet 10.100.0.0/24", "list only addresses"]),
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


# --- dual stack: IPv4 and/or IPv6 per VLAN, pools of one family each, one pool per family per network ------
def _load(name: str) -> dict:
    return copy.deepcopy(yaml.safe_load((TOPOLOGIES / f"{name}.yaml").read_text()))


@pytest.fixture
def dual_data():
    """The dual-stack topology as plain data: vlans 0/1/2 = vlan0/vlan100/vlan200; ippools 0-2 the IPv4 pools,
    3-5 the IPv6 ones (vlan0-v6, vlan100-v6, vlan200-v6); pods 7 = sa-w2-dual, 8 = ov-w1."""
    return _load("dual-stack")


def _without_ipv6_on_vlan200(data: dict) -> dict:
    """``data`` (dual stack) with VLAN 200 IPv4-only: no subnet6/gateway6, no vlan200-v6 pool, nothing naming it."""
    del data["vlans"][2]["subnet6"], data["vlans"][2]["gateway6"]
    data["ippools"] = [p for p in data["ippools"] if p["name"] != "vlan200-v6"]
    for net in data["networks"]:
        net["ippools"] = [name for name in net["ippools"] if name != "vlan200-v6"]
    data["pods"][7]["annotations"]["ipam.spidernet.io/ippools"] = \
        '[{"interface":"eth0","ipv4":["vlan200-v4"]},{"interface":"net1","ipv4":["vlan100-v4"],"ipv6":["vlan100-v6"]}]'
    return data


def test_dual_stack_and_ipv6_only_resolve_per_family():
    dual = load_topology(TOPOLOGIES / "dual-stack.yaml")
    assert dual.ip_families == (4, 6) and dual.vlan(100).families == (4, 6)
    eth0 = dual.attachments("sa-w1-a")[0]
    assert [p.name for p in eth0.pools] == ["vlan100-v4", "vlan100-v6"] and eth0.families == (4, 6)
    assert (eth0.pool.name, eth0.pool_of(6).name) == ("vlan100-v4", "vlan100-v6")
    assert [(a.ifname, a.families) for a in dual.attachments("sa-w2-dual")] == [("eth0", (4, 6)), ("net1", (4, 6))]
    assert dual.attachments("ov-w1")[0].families == (4,)  # the overlay's eth0
    assert dual.vlan_of_subnet(dual.pool("vlan200-v6").subnet).id == 200
    v6 = load_topology(TOPOLOGIES / "ipv6-only.yaml")
    assert v6.ip_families == (6,) and v6.vlan(1).families == (4, 6) and v6.vlan(100).families == (6,)
    for pod in v6.pods:
        for att in v6.attachments(pod.name):
            if att.network is not None:
                assert att.families == (6,) and att.pool_of(4) is None and att.pool.family == 6, att
    assert v6.network("kube-system/macvlan-standalone-vlan100").pool_names == ("vlan100-v6",)


def test_a_nic_may_take_one_family_on_a_dual_stack_topology(dual_data):
    """Spiderpool allocates the families a NIC's pools name; on a dual-stack cluster one family alone is fine
    (spidernet-io/spiderpool pkg/ipam/config.go filterPoolMisspecified: "for dual stack environment, support only
    ipv4 or ipv6 address")."""
    dual_data["pods"][8]["annotations"]["ipam.spidernet.io/ippool"] = '{"ipv6":["vlan100-v6"]}'
    dual_data["networks"][2]["ippools"] = ["vlan200-v4"]
    dual_data["networks"][5] = {k: v for k, v in dual_data["networks"][5].items() if k != "ippools"} | \
        {"ippool": "vlan200-v6"}
    t = parse_topology(dual_data)
    assert [(a.ifname, a.families) for a in t.attachments("ov-w1")] == [("eth0", (4,)), ("net1", (6,))]
    assert t.attachments("sa-w1-c")[0].families == (4,)
    assert [p.name for p in t.attachments("ov-w2")[1].pools] == ["vlan200-v6"]
    t = parse_topology(_without_ipv6_on_vlan200(_load("dual-stack")))
    assert t.vlan(200).families == (4,) and t.attachments("sa-w1-c")[0].families == (4,)
    assert [(a.ifname, a.families) for a in t.attachments("sa-w2-dual")] == [("eth0", (4,)), ("net1", (4, 6))]


def test_ipv6_prefixes_up_to_126_and_ipv6_only_vlans_are_fine(dual_data):
    dual_data["vlans"].append({"id": 300, "subnet6": "fd00:300::/126", "gateway6": "fd00:300::1"})
    dual_data["ippools"].append({"name": "vlan300-v6", "subnet": "fd00:300::/126", "ips": ["fd00:300::-fd00:300::3"],
                                 "excludeIPs": ["fd00:300::", "fd00:300::1"], "gateway": "fd00:300::1"})
    t = parse_topology(dual_data)
    assert t.vlan(300).families == (6,) and [str(a) for a in t.pool("vlan300-v6").addresses] == \
        ["fd00:300::2", "fd00:300::3"]


DUAL_BAD_INPUTS = [
    # (case, {path: value}, words the message must contain); paths into the dual-stack topology
    ("ipv6 prefix /127", {("vlans", 1, "subnet6"): "fd00:100::/127"},
     ["vlans[1].subnet6: /127 leaves no room for a gateway and a pod", "use a prefix of at most /126"]),
    ("ipv6 prefix /128", {("vlans", 1, "subnet6"): "fd00:100::1/128"}, ["vlans[1].subnet6", "at most /126"]),
    ("gateway6 outside subnet6", {("vlans", 1, "gateway6"): "fd00:99::1"},
     ["vlans[1].gateway6: fd00:99::1 is outside subnet fd00:100::/64", "use an address inside it (e.g. fd00:100::1)"]),
    ("subnet6 without gateway6", {("vlans", 1, "gateway6"): _DELETE},
     ["vlans[1]: subnet6 without gateway6", "give both"]),
    ("gateway6 without subnet6", {("vlans", 2, "subnet6"): _DELETE},
     ["vlans[2]: gateway6 without subnet6", "give both"]),
    ("vlan with no subnet at all", {("vlans", 1): {"id": 100, "name": "vlan100"}},
     ["vlans[1]: no subnet", "give subnet + gateway (IPv4) and/or subnet6 + gateway6 (IPv6)"]),
    ("overlapping subnet6", {("vlans", 2, "subnet6"): "fd00:100::/48", ("vlans", 2, "gateway6"): "fd00:100::2"},
     ["vlans[2].subnet6: fd00:100::/48 overlaps vlans[1] (fd00:100::/64)", "give each VLAN its own subnet"]),
    ("ipv6 subnet under subnet", {("vlans", 1, "subnet"): "fd00:100::/64"},
     ["vlans[1].subnet", "write an IPv4 subnet", "an IPv6 subnet goes in subnet6"]),
    ("ipv6 gateway under gateway", {("vlans", 1, "gateway"): "fd00:100::1"},
     ["vlans[1].gateway", "write an IPv4 address", "an IPv6 gateway goes in gateway6"]),
    ("ipv4 address as gateway6", {("vlans", 1, "gateway6"): "10.100.0.1"},
     ["vlans[1].gateway6", "write an IPv6 address like fd00:100::1"]),
    ("ipv6 pool with ipv4 ips", {("ippools", 4, "ips"): ["10.100.0.100-10.100.0.199"]},
     ["ippools[4].ips: '10.100.0.100-10.100.0.199' is IPv4, but the pool's subnet is IPv6",
      "write 'fd00:100::10' or 'fd00:100::10-fd00:100::20'"]),
    ("ipv6 range mixing families", {("ippools", 4, "ips"): ["fd00:100::100-10.100.0.5"]},
     ["ippools[4].ips", "mixes IPv4 and IPv6", "write 'fd00:100::10'"]),
    ("ipv6 range reversed", {("ippools", 4, "ips"): ["fd00:100::1ff-fd00:100::100"]},
     ["ippools[4].ips: range 'fd00:100::1ff-fd00:100::100' ends before it starts", "write the lower address first"]),
    ("ipv6 pool with an ipv4 gateway", {("ippools", 4, "gateway"): "10.100.0.1"},
     ["ippools[4].gateway: is an IPv4 address but the pool's subnet fd00:100::/64 is IPv6", "give an IPv6 gateway"]),
    ("ipv4 pool with an ipv6 gateway", {("ippools", 1, "gateway"): "fd00:100::1"},
     ["ippools[1].gateway: is an IPv6 address but the pool's subnet 10.100.0.0/24 is IPv4", "give an IPv4 gateway"]),
    ("pool gateway6 differs from the vlan's", {("ippools", 4, "gateway"): "fd00:100::fe"},
     ["ippools[4].gateway: fd00:100::fe differs from vlans[1].gateway6 fd00:100::1",
      "set the pool's gateway to fd00:100::1 or leave it out"]),
    ("ipv6 pool holding the vlan's gateway6", {("ippools", 4, "ips"): ["fd00:100::1-fd00:100::20"],
                                               ("ippools", 4, "gateway"): _DELETE},
     ["ippools[4].ips: contains fd00:100::1, the gateway of VLAN 100", "add it to excludeIPs"]),
    ("ipv6 pool holding its gateway", {("ippools", 4, "ips"): ["fd00:100::1-fd00:100::20"]},
     ["ippools[4].ips: contains the gateway fd00:100::1", "add it to excludeIPs"]),
    ("subnet-router anycast in a pool", {("ippools", 4, "ips"): ["fd00:100::-fd00:100::ff"]},
     ["ippools[4].ips[0]: includes fd00:100::, the Subnet-Router anycast address of fd00:100::/64",
      "start it at fd00:100::1 or add fd00:100:: to excludeIPs"]),
    ("subnet-router anycast as vlan gateway6", {("vlans", 1, "gateway6"): "fd00:100::"},
     ["vlans[1].gateway6: fd00:100:: is the Subnet-Router anycast address of fd00:100::/64",
      "use a host address such as fd00:100::1"]),
    ("subnet-router anycast as pool gateway", {("ippools", 4, "gateway"): "fd00:100::"},
     ["ippools[4].gateway: fd00:100:: is the Subnet-Router anycast address", "use a host address"]),
    ("ipv6 range typo reaching outside subnet6", {("ippools", 4, "ips"): ["fd00:100::100-fd00:1000::1ff"]},
     ["ippools[4].ips[0]: fd00:1000::1ff is outside subnet fd00:100::/64", "list only addresses of the pool's subnet"]),
    ("ipv6 excludeIPs outside subnet6", {("ippools", 4, "excludeIPs"): ["fd00:99::150"]},
     ["ippools[4].excludeIPs[0]: fd00:99::150 is outside subnet fd00:100::/64, so it excludes nothing"]),
    ("ipv6 pool too large", {("ippools", 4, "ips"): ["fd00:100::100-fd00:100::1:ffff"]},
     ["ippools[4].ips: 130816 addresses, more than the 65536 a pool may list", "narrow the ranges"]),
    ("ipv6 pool subnet of no vlan", {("ippools", 4, "subnet"): "fd00:77::/64", ("ippools", 4, "ips"): ["fd00:77::10"],
                                     ("ippools", 4, "excludeIPs"): [], ("ippools", 4, "gateway"): _DELETE},
     ["ippools[4].subnet: fd00:77::/64 is not the subnet of any VLAN", "use one of", "fd00:100::/64"]),
    ("network with ippool and ippools", {("networks", 1, "ippool"): "vlan100-v4"},
     ["networks[1]: both ippool and ippools are given", "keep one: ippool (one pool) or ippools"]),
    ("network without a pool", {("networks", 1, "ippools"): _DELETE},
     ["networks[1]: no pool", "give ippool (one pool) or ippools (one pool per family"]),
    ("network with an empty ippools", {("networks", 1, "ippools"): []}, ["networks[1]: no pool", "give ippool"]),
    ("network with two ipv4 pools", {("networks", 1, "ippools"): ["vlan100-v4", "vlan0-v4"]},
     ["networks[1].ippools[1]: vlan0-v4 is a second IPv4 pool (after vlan100-v4)", "list one pool per family"]),
    ("network with two ipv6 pools", {("networks", 1, "ippools"): ["vlan100-v6", "vlan200-v6"]},
     ["networks[1].ippools[1]: vlan200-v6 is a second IPv6 pool (after vlan100-v6)", "list one pool per family"]),
    ("network with one pool twice", {("networks", 1, "ippools"): ["vlan100-v4", "vlan100-v4"]},
     ["networks[1].ippools[1]: vlan100-v4 is listed twice", "list one pool per family"]),
    ("network with three pools", {("networks", 1, "ippools"): ["vlan100-v4", "vlan100-v6", "vlan200-v6"]},
     ["networks[1].ippools: List should have at most 2 items", "list one pool per family"]),
    ("network pool of another vlan", {("networks", 1, "ippools"): ["vlan100-v4", "vlan200-v6"]},
     ["networks[1].ippools[1]: pool vlan200-v6 (fd00:200::/64) is not in VLAN 100 (10.100.0.0/24, fd00:100::/64)",
      "use a pool of fd00:100::/64 (vlan100-v6)"]),
    ("network pool of another vlan, none of its own", {
        ("ippools", 5): _DELETE, ("networks", 2, "ippools"): ["vlan200-v4", "vlan100-v6"],
        ("networks", 5, "ippools"): ["vlan200-v4"], ("pods", 7, "annotations", "ipam.spidernet.io/ippools"):
        '[{"interface":"eth0","ipv4":["vlan200-v4"]},{"interface":"net1","ipv4":["vlan100-v4"]}]'},
     ["networks[2].ippools[1]: pool vlan100-v6 (fd00:100::/64) is not in VLAN 200",
      "define a pool of fd00:200::/64 under 'ippools'"]),
    ("network ippool of another vlan", {("networks", 1, "ippools"): _DELETE, ("networks", 1, "ippool"): "vlan0-v6"},
     ["networks[1].ippool: pool vlan0-v6 (fd00:6::/64) is not in VLAN 100", "use a pool of fd00:100::/64"]),
    ("ipv6 pool listed under ipv4", {("pods", 8, "annotations", "ipam.spidernet.io/ippool"): '{"ipv4":["vlan100-v6"]}'},
     ["pods[8].annotations: interface net1 lists IP pool vlan100-v6 under ipv4, but it is an IPv6 pool",
      "list it under ipv6"]),
    ("ipv4 pool listed under ipv6", {("pods", 7, "annotations", "ipam.spidernet.io/ippools"):
                                     '[{"interface":"eth0","ipv4":["vlan200-v4"],"ipv6":["vlan200-v4"]},'
                                     '{"interface":"net1","ipv4":["vlan100-v4"]}]'},
     ["pods[7].annotations: interface eth0 lists IP pool vlan200-v4 under ipv6, but it is an IPv4 pool",
      "list it under ipv4"]),
    ("annotation selecting another vlan's ipv6 pool",
     {("pods", 8, "annotations", "ipam.spidernet.io/ippool"): '{"ipv4":["vlan100-v4"],"ipv6":["vlan200-v6"]}'},
     ["pods[8].annotations: net1 selects pool vlan200-v6 (fd00:200::/64), which is not in VLAN 100",
      "use a pool of fd00:100::/64 (vlan100-v6)"]),
    ("native vlan without ipv4", {("vlans", 0, "subnet"): _DELETE, ("vlans", 0, "gateway"): _DELETE},
     ["vlans[0].subnet: the native VLAN 1 has no IPv4 subnet, but the nodes' IPs live there",
      "give it subnet + gateway (IPv4)"]),
    ("ippools entry suggestion names both families", {("pods", 7, "annotations", "ipam.spidernet.io/ippools"):
                                                      '[{"interface":"eth0","ipv4":["vlan200-v4"]}]'},
     ["pods[7].annotations: ipam.spidernet.io/ippools has no entry for interface net1",
      'add {"interface": "net1", "ipv4": ["vlan100-v4"], "ipv6": ["vlan100-v6"]}']),
]


def _refusal(data: dict, changes: dict) -> str:
    """The one-line refusal of a copy of ``data`` with ``changes`` ({path: value}) applied."""
    data = copy.deepcopy(data)
    for path, value in changes.items():
        data = _mutate(data, path, value)
    with pytest.raises(TopologyError) as info:
        parse_topology(data, "bad.yaml")
    message = str(info.value)
    assert message.startswith("bad.yaml: ") and "\n" not in message
    return message


@pytest.mark.parametrize("case, changes, words", DUAL_BAD_INPUTS, ids=[b[0] for b in DUAL_BAD_INPUTS])
def test_dual_stack_bad_input_names_field_and_fix(dual_data, case, changes, words):
    message = _refusal(dual_data, changes)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_asking_for_ipv6_on_a_vlan_without_subnet6_is_refused():
    """A NIC's pools are in the VLAN its master carries: an IPv6 pool for a NIC of an IPv4-only VLAN (Spiderpool
    would hand out an address of another VLAN's subnet) is refused, in both annotation forms and in the network."""
    data = _without_ipv6_on_vlan200(_load("dual-stack"))
    message = _refusal(data, {("pods", 3, "annotations", "ipam.spidernet.io/ippool"):
                              '{"ipv4":["vlan200-v4"],"ipv6":["vlan100-v6"]}'})
    assert "pods[3].annotations: eth0 selects pool vlan100-v6 (fd00:100::/64), which is not in VLAN 200 " \
           "(10.200.0.0/24)" in message
    assert "VLAN 200 has no IPv6 subnet: drop the ipv6 pools of this NIC or give the VLAN subnet6 + gateway6" in message
    message = _refusal(data, {("pods", 7, "annotations", "ipam.spidernet.io/ippools"):
                              '[{"interface":"eth0","ipv6":["vlan100-v6"]},'
                              '{"interface":"net1","ipv4":["vlan100-v4"]}]'})
    assert "pods[7].annotations: eth0 selects pool vlan100-v6" in message and "VLAN 200 has no IPv6 subnet" in message
    message = _refusal(data, {("networks", 2, "ippools"): ["vlan200-v4", "vlan100-v6"]})
    assert "networks[2].ippools[1]: pool vlan100-v6 (fd00:100::/64) is not in VLAN 200 (10.200.0.0/24)" in message
    assert "VLAN 200 has no IPv6 subnet: drop vlan100-v6 or give the VLAN subnet6 + gateway6" in message


IPV6_ONLY_BAD_INPUTS = [
    # (case, {path: value}, words the message must contain); paths into the ipv6-only topology
    ("native vlan without ipv4", {("vlans", 0, "subnet"): _DELETE, ("vlans", 0, "gateway"): _DELETE},
     ["vlans[0].subnet: the native VLAN 1 has no IPv4 subnet", "give it subnet + gateway (IPv4) beside subnet6"]),
    ("ipv6 pool listed under ipv4", {("pods", 8, "annotations", "ipam.spidernet.io/ippool"): '{"ipv4":["vlan100-v6"]}'},
     ["pods[8].annotations: interface net1 lists IP pool vlan100-v6 under ipv4", "list it under ipv6"]),
    ("ipv4 asked of an ipv6-only topology", {("pods", 8, "annotations", "ipam.spidernet.io/ippool"):
                                             '{"ipv4":["vlan100-v4"],"ipv6":["vlan100-v6"]}'},
     ["pods[8].annotations: interface net1 selects IP pool 'vlan100-v4', which is not defined",
      "use one of: vlan0-v6, vlan100-v6, vlan200-v6"]),
    ("an ipv4 pool on an ipv6-only vlan", {("ippools", 1): {"name": "vlan100-v4", "subnet": "10.100.0.0/24",
                                                            "ips": ["10.100.0.100"]}},
     ["ippools[1].subnet: 10.100.0.0/24 is not the subnet of any VLAN", "use one of 10.6.0.0/24, fd00:6::/64"]),
]


@pytest.mark.parametrize("case, changes, words", IPV6_ONLY_BAD_INPUTS, ids=[b[0] for b in IPV6_ONLY_BAD_INPUTS])
def test_ipv6_only_bad_input_names_field_and_fix(case, changes, words):
    message = _refusal(_load("ipv6-only"), changes)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"

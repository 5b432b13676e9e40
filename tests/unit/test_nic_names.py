"""Bond members are real Linux NIC names (issue 16): every name the kernel accepts validates and renders,
every name it refuses is refused naming the field and the fix; the lab maps members to short link names of
its own (``n<node>-e<member>``, ``s<node>-e<member>``) and translates back at its boundary."""

import subprocess
import sys

import pytest
import yaml

from macvlan_conformance.faults import BondMemberDown
from macvlan_conformance.ifnames import ifname_problem
from macvlan_conformance.lab import builder as lab_builder
from macvlan_conformance.lab import target as lab_target
from macvlan_conformance.lab.names import LabNames
from macvlan_conformance.topology import TopologyError, load_topology, parse_topology

from ..conftest import ROOT

LONG = ROOT / "tests" / "data" / "long-nic-names.yaml"


@pytest.fixture
def long_data():
    return yaml.safe_load(LONG.read_text())


# --- validation ------------------------------------------------------------------------------------
VALID = ["enp175s0f0np0", "enp175s0f1np1", "enP2p175s0f0np0", "eth0", "e", "ens1f0.100", "net-a_b@x", "wlp0s20f3",
         "nic-é", "a" * 15]


@pytest.mark.parametrize("name", VALID)
def test_every_name_linux_accepts_is_a_member(long_data, name):
    long_data["nodes"][0]["bond"]["members"] = ["ethx", name]
    node = parse_topology(long_data, "t.yaml").nodes[0]
    assert node.bond.members[1] == name and ifname_problem(name) is None


INVALID = [
    ("16 bytes", "enp175s0f0np0abc", "is 16 bytes long, Linux allows at most 15"),
    ("16 bytes of 8 two-byte letters", "é" * 8, "is 16 bytes long"),
    ("slash", "ens/224", "contains '/'"),
    ("colon (an alias label)", "ens224:1", "contains ':'"),
    ("space", "ens 224", "contains whitespace"),
    ("tab", "ens\t224", "contains whitespace"),
    ("no-break space (the kernel's isspace)", "ens\u00a0224", "contains whitespace"),
    ("template", "eth%d", "contains '%'"),
    ("NUL", "ens\x00224", "contains a NUL byte"),
    ("dot", ".", "is reserved"),
    ("dot dot", "..", "is reserved"),
    ("empty", "", "is empty"),
]


@pytest.mark.parametrize("case, name, problem", INVALID, ids=[c[0] for c in INVALID])
def test_names_linux_refuses_are_refused(long_data, case, name, problem):
    long_data["nodes"][1]["bond"]["members"][1] = name
    with pytest.raises(TopologyError) as info:
        parse_topology(long_data, "bad.yaml")
    message = str(info.value)
    assert message.startswith("bad.yaml: nodes[1].bond.members[1]: "), message
    assert problem in message and "use the NIC's name exactly as `ip link` shows it on the node" in message
    assert "\n" not in message


@pytest.mark.parametrize("name, words", [
    ("enp175s0f0np0", ["nodes[0].bond.members[1]", "duplicate NIC 'enp175s0f0np0'", "list each NIC once"]),
    ("bond0", ["nodes[0].bond.members[1]", "'bond0' is the bond or one of its VLAN masters"]),
    ("bond0.100", ["nodes[0].bond.members[1]", "'bond0.100' is the bond or one of its VLAN masters"]),
])
def test_a_member_is_a_distinct_nic(long_data, name, words):
    long_data["nodes"][0]["bond"]["members"][1] = name
    with pytest.raises(TopologyError) as info:
        parse_topology(long_data, "bad.yaml")
    assert all(word in str(info.value) for word in words), str(info.value)


def test_bond_and_master_names_stay_within_linux_limits(long_data):
    long_data["nodes"][0]["bond"]["name"] = "bond:0"
    with pytest.raises(TopologyError, match=r"nodes\[0\]\.bond\.name: 'bond:0' contains ':'; use the bond's name"):
        parse_topology(long_data, "bad.yaml")
    long_data["nodes"][0]["bond"]["name"] = "uplinkbond01"  # 12 bytes, but uplinkbond01.100 is 16
    with pytest.raises(TopologyError, match=r"nodes\[0\]\.bond\.name: 'uplinkbond01\.100' is longer than 15"):
        parse_topology(long_data, "bad.yaml")


def test_long_names_render_for_a_cluster():
    """`macvlan-conformance render` (manifests, and the nmstate host config with the real NIC names)."""
    cli = [sys.executable, "-m", "macvlan_conformance.cli", "render", "--topology", str(LONG)]
    manifests = subprocess.run(cli, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert manifests.returncode == 0, manifests.stderr
    assert any(o["kind"] == "NetworkAttachmentDefinition" for o in yaml.safe_load_all(manifests.stdout))
    host = subprocess.run(cli + ["--host-config"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert host.returncode == 0, host.stderr
    ports = {o["spec"]["nodeSelector"]["kubernetes.io/hostname"]:
             next(i for i in o["spec"]["desiredState"]["interfaces"] if i["type"] == "bond")["link-aggregation"]["port"]
             for o in yaml.safe_load_all(host.stdout)}
    assert ports == {"worker1": ["enp175s0f0np0", "enp175s0f1np1"], "worker2": ["enP2p175s0f0np0", "enP2p175s0f1np1"]}


# --- the lab's names ---------------------------------------------------------------------------------
def _many_nodes(count: int, members: int) -> dict:
    """A topology of ``count`` nodes, each bonding ``members`` NICs with 15-byte names."""
    return {
        "name": "many", "vlans": [{"id": 1, "subnet": "10.6.0.0/24", "gateway": "10.6.0.1"},
                                  {"id": 4094, "subnet": "10.94.0.0/24", "gateway": "10.94.0.1"}],
        "switch": {"nativeVlan": 1}, "overlay": {"podCIDR": "10.244.0.0/16"},
        "nodes": [{"name": f"w{n}", "ip": f"10.6.0.{10 + n}", "vlans": [4094],
                   "bond": {"members": [f"enP{j}p175s0f0np0" for j in range(members)]}} for n in range(count)],
        "ippools": [{"name": "p", "subnet": "10.94.0.0/24", "ips": ["10.94.0.100"], "gateway": "10.94.0.1"}],
        "networks": [{"name": "n", "type": "standalone", "master": "bond0.4094", "ippool": "p"}],
    }


def _fabric_names(t) -> list[str]:
    """Every link and port name the lab gives the topology's fabric (global to its OVS instance)."""
    names = [n for m in lab_builder.plan_members(t) for n in (m.link, m.port)]
    for i, node in enumerate(t.nodes, 1):
        names += [LabNames.node_bridge(i), LabNames.node_bond_port(i)]
        names += [LabNames.node_master_port(i, vid) for vid in [t.switch.native_vlan, *node.vlans]]
    return names + [LabNames.vlanif(v) for v in t.routed_vlans] + [LabNames.SWITCH_BRIDGE]


@pytest.mark.parametrize("count, members", [(2, 2), (64, 2), (64, 8)])
def test_lab_names_are_unique_and_valid_for_long_names_and_many_nodes(count, members):
    t = parse_topology(_many_nodes(count, members), "t.yaml")
    names = _fabric_names(t)
    assert len(names) == len(set(names))
    assert [n for n in names if ifname_problem(n)] == []
    plan = lab_builder.plan_members(t)
    assert len(plan) == count * members
    assert (plan[-1].node, plan[-1].link, plan[-1].port) == (f"w{count - 1}", f"n{count}-e{members - 1}",
                                                             f"s{count}-e{members - 1}")


def test_lab_names_follow_the_member_index():
    t = load_topology(LONG)
    assert [(m.node, m.nic, m.link, m.port) for m in lab_builder.plan_members(t)] == [
        ("worker1", "enp175s0f0np0", "n1-e0", "s1-e0"), ("worker1", "enp175s0f1np1", "n1-e1", "s1-e1"),
        ("worker2", "enP2p175s0f0np0", "n2-e0", "s2-e0"), ("worker2", "enP2p175s0f1np1", "n2-e1", "s2-e1")]


class FakeIPRoute:
    """Records what the builder and the target ask of pyroute2 in the fabric namespace."""

    def __init__(self):
        self.index: dict[str, int] = {"lo": 1}
        self.veths: list[tuple[str, str]] = []
        self.states: list[tuple[str, str]] = []

    def __call__(self, netns):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def link(self, command, **kw):
        if command == "add":
            self.veths.append((kw["ifname"], kw["peer"]["ifname"]))
            for name in self.veths[-1]:
                self.index[name] = len(self.index) + 1
        elif command == "set" and "state" in kw:
            self.states.append((next(n for n, i in self.index.items() if i == kw["index"]), kw["state"]))

    def link_lookup(self, ifname):
        return [self.index[ifname]]


@pytest.fixture
def planned(monkeypatch, tmp_path):
    """The builder's fabric step on the long-names topology, with pyroute2, ethtool and OVS recorded."""
    monkeypatch.setenv("MACVLAN_CONFORMANCE_RUN_ROOT", str(tmp_path))
    fake, commands = FakeIPRoute(), []
    monkeypatch.setattr(lab_builder, "iproute", fake)
    monkeypatch.setattr(lab_builder, "run", lambda argv, **kw: commands.append(argv))
    b = lab_builder.LabBuilder(load_topology(LONG), LONG, "t1")
    monkeypatch.setattr(b.ovs, "transaction", lambda tx: commands.extend(tx))
    b._fabric()
    return b, fake, commands


def test_the_builder_creates_the_mapped_links(planned):
    b, fake, commands = planned
    assert fake.veths == [("n1-e0", "s1-e0"), ("n1-e1", "s1-e1"), ("n2-e0", "s2-e0"), ("n2-e1", "s2-e1")]
    bond = next(c for c in commands if c[:2] == ["add-bond", "br-n1"])
    assert bond[:5] == ["add-bond", "br-n1", "n1-bond", "n1-e0", "n1-e1"]
    switch_ports = [c[2] for c in commands if c[:2] == ["add-port", "br-switch"]]
    assert switch_ports[:4] == ["s1-e0", "s1-e1", "s2-e0", "s2-e1"]
    nics = {nic for node in b.t.nodes for nic in node.bond.members}
    assert not [arg for c in commands for arg in c if any(nic in arg for nic in nics)]  # OVS never sees them
    assert b.state.nodes["worker2"].bond.members == {"enP2p175s0f0np0": "n2-e0", "enP2p175s0f1np1": "n2-e1"}
    assert [(p.node, p.nic, p.port) for p in b.state.trunk_ports][:2] == [("worker1", "enp175s0f0np0", "s1-e0"),
                                                                         ("worker1", "enp175s0f1np1", "s1-e1")]


@pytest.fixture
def lab(planned, tmp_path, monkeypatch):
    """A LabTarget over the planned state, its OVS answering as after the first member went down."""
    b, fake, _ = planned
    state_file = tmp_path / "state.json"
    b.state.save(state_file)
    target = lab_target.LabTarget(state_file)
    monkeypatch.setattr(lab_target, "iproute", fake)
    monkeypatch.setattr(target.ovs, "vsctl", lambda *a, **kw: '"n1-e0",down\n"s1-e0",down\n')
    monkeypatch.setattr(target.ovs, "appctl", lambda *a: "---- n1-bond ----\nmember n1-e0: disabled\n"
                        "active member mac: 02:00:00:00:00:01(n1-e1)\n")
    return target, fake


def test_the_target_takes_and_returns_the_topologys_names(lab):
    target, fake = lab
    target.set_bond_member("worker1", "enp175s0f0np0", up=False)
    assert fake.states[-1] == ("n1-e0", "down")
    assert target.active_bond_member("worker1") == "enp175s0f1np1"
    assert "n2-e1 (switch end s2-e1): worker2/enP2p175s0f1np1" in target.member_links().splitlines()


def test_the_fault_names_the_topologys_nic(lab):
    target, fake = lab
    fault = BondMemberDown()
    assert fault.summary(target.topology).startswith("worker1's enp175s0f0np0 down")
    fault.apply(target)
    assert fake.states[-1] == ("n1-e0", "down")


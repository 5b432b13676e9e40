"""Spiderpool's coordinator in the model: the mode each NIC runs in, its refusals, where routes end up, how the
NAD renders it, and the expectations that follow (veth0, the one default route, the node through veth0, the
Services, the attachment rules). Each behaviour is read at spidernet-io/spiderpool ``cmd/coordinator/cmd``
(v1.0.3-146-ga7fbd3b29), cited per test."""

import copy
import re

import pytest
import yaml

from macvlan_conformance import coordinator, netconf
from macvlan_conformance import expectations as ex
from macvlan_conformance.allocation import allocation_problems
from macvlan_conformance.coordinator import CoordinatorRefusal, resolve_nic
from macvlan_conformance.topology import TopologyError, load_topology, parse_topology
from macvlan_conformance.verdicts import Verdict

from ..conftest import TOPOLOGIES
from .test_allocation import MAC1, MASTERS, link

REF = load_topology(TOPOLOGIES / "reference.yaml")
CO = load_topology(TOPOLOGIES / "coordinator.yaml")


def coordinator_data() -> dict:
    return yaml.safe_load((TOPOLOGIES / "coordinator.yaml").read_text())


# --- the mode of one NIC ----------------------------------------------------------------------------------
def test_auto_is_underlay_on_the_first_nic_and_where_veth0_exists_else_overlay():
    """utils.go autoModeToSpecificMode: the pod's first NIC (podDefaultCniNic, eth0) or an existing veth0 mean
    underlay; otherwise overlay. Tables: 101 for the first NIC (100 is eth0's), later NICs count the up links
    (coordinatorModeAndFirstInvoke: len(links) + 98 in underlay, 99 + len(links) in overlay)."""
    assert resolve_nic("auto", "eth0", False, 1) == coordinator.NicPlan("eth0", "underlay", True, 101)
    assert resolve_nic("auto", "net1", True, 3) == coordinator.NicPlan("net1", "underlay", False, 101)
    assert resolve_nic("auto", "net2", True, 4) == coordinator.NicPlan("net2", "underlay", False, 102)
    assert resolve_nic("auto", "net1", False, 2) == coordinator.NicPlan("net1", "overlay", True, 101)
    assert resolve_nic("auto", "net2", False, 3) == coordinator.NicPlan("net2", "overlay", False, 102)


@pytest.mark.parametrize("mode, ifname, veth, links, words", [
    ("underlay", "net1", False, 2, "when creating interface net1 in underlay mode, it detects that the auxiliary "
                                   "interface eth0 was not created by previous interface"),
    ("overlay", "eth0", False, 1, "when creating interface eth0 in overlay mode, it detects that the current "
                                  "interface is first interface named eth0"),
    ("overlay", "net1", True, 3, "when creating interface net1 in overlay mode, it detects that the auxiliary "
                                 "interface veth0 of underlay mode exists"),
    ("bogus", "eth0", False, 1, "unknown tuneMode: bogus"),
])
def test_explicit_modes_refuse_the_mixes_with_the_plugins_words(mode, ifname, veth, links, words):
    """utils.go coordinatorModeAndFirstInvoke: the three errors the multus-underlay mixes meet, verbatim."""
    with pytest.raises(CoordinatorRefusal, match=words):
        resolve_nic(mode, ifname, veth, links)
    assert any(marker in words for marker in coordinator.REFUSAL_MARKERS) or mode == "bogus"


def test_the_coordinator_topology_gives_standalone_pods_veth0_and_moves_extra_default_routes():
    """utils.go tunePodRoutes + route.go MoveRouteTable: the NIC holding the main default route keeps it, a later
    NIC's default route moves to its table (101 for sa-w2-dual's net1); underlay first NICs are not tuned."""
    dual = CO.attachments("sa-w2-dual")
    assert coordinator.has_veth(dual) and coordinator.route_tables(dual) == {"eth0": None, "net1": 101}
    assert coordinator.default_route_nic(dual) == "eth0"
    overlay = CO.attachments("ov-w1")
    assert not coordinator.has_veth(overlay) and coordinator.route_tables(overlay) == {"eth0": None, "net1": 101}
    assert not any(coordinator.has_veth(REF.attachments(p.name)) for p in REF.pods)


def test_pod_default_route_nic_naming_the_added_nic_takes_the_main_table_over():
    """utils.go tunePodRoutes: with podDefaultRouteNIC = the NIC being added, the holder's routes move to that
    NIC's table and the added NIC keeps its default route in main."""
    data = coordinator_data()
    for network in data["networks"]:
        if network["name"] == "macvlan-standalone-vlan100":
            network["coordinator"] = {"mode": "underlay", "podDefaultRouteNIC": "net1"}
    dual = parse_topology(data).attachments("sa-w2-dual")
    assert coordinator.route_tables(dual) == {"eth0": 101, "net1": None}
    assert coordinator.default_route_nic(dual) == "net1"


# --- the NAD ----------------------------------------------------------------------------------------------
def test_the_nad_chains_the_coordinator_as_spidermultusconfig_renders_it():
    """pkg/multuscniconfig/multusconfig_informer.go generateCoordinatorCNIConf: type coordinator after the main
    plugin, the spec's mode, tunePodRoutes and podDefaultRouteNic; cni_types.go spells disabled as disable."""
    network = CO.network("kube-system/macvlan-standalone-vlan100")
    conf = netconf.macvlan_conflist(network, netconf.spiderpool_ipam())
    assert [p["type"] for p in conf["plugins"]] == ["macvlan", "coordinator"]
    assert conf["plugins"][1] == {"type": "coordinator", "mode": "underlay", "tunePodRoutes": True}
    with_cidrs = netconf.macvlan_conflist(network, netconf.spiderpool_ipam(), cluster_cidrs=netconf.cluster_cidrs(CO))
    assert with_cidrs["plugins"][1]["serviceCIDR"] == ["10.96.0.0/16"]
    assert with_cidrs["plugins"][1]["overlayPodCIDR"] == ["10.244.0.0/16"]
    disabled = network.model_copy(update={"coordinator": network.coordinator.model_copy(update={"mode": "disabled"})})
    assert netconf.coordinator_plugin(disabled.coordinator)["mode"] == "disable"
    assert len(netconf.macvlan_conflist(REF.network("kube-system/macvlan-standalone-vlan100"), {})["plugins"]) == 1


@pytest.mark.parametrize("change, words", [
    (lambda d: d["overlay"].update(serviceCIDR="10.96.0.0/12"), "overlay.serviceCIDR: 10.96.0.0/12 overlaps vlans[1]"),
    (lambda d: d["overlay"].update(serviceCIDR="10.244.0.0/20"), "overlay.serviceCIDR: 10.244.0.0/20 overlaps overlay.podCIDR"),
    (lambda d: d["networks"][0].update(coordinator={"mode": "sometimes"}), "networks[0].coordinator.mode"),
    (lambda d: d["networks"][0].update(coordinator={"podDefaultRouteNIC": "net 1"}), "is not an interface name"),
    (lambda d: d["networks"][0].update(coordinator={"hostRuleTable": 254}), "networks[0].coordinator.hostRuleTable"),
    (lambda d: d["networks"][2].update(coordinator={"mode": "overlay"}),
     "pods[3]: the coordinator of its networks would refuse this pod (when creating interface eth0 in overlay mode"),
])
def test_coordinator_fields_are_validated(change, words):
    data = coordinator_data()
    change(data)
    with pytest.raises(TopologyError, match=re.escape(words)):
        parse_topology(data)


# --- expectations ------------------------------------------------------------------------------------------
def test_node_reachability_follows_the_coordinator_mode():
    """With veth0 the own node is reached directly through it; without, from the native VLAN the own master is
    blocked (macvlan parent isolation, with a control from another node) and from a tagged VLAN routed."""
    with_veth = {c.id: c for c in ex.node_reachability_cases(CO)}
    own = with_veth["vlan100/sa-w1-a -> node worker1 (10.6.0.11)"]
    assert own.expected == Verdict.REACHABLE_L2 and own.params["dev"] == "veth0"
    assert with_veth["vlan100/sa-w1-a -> node worker2 (10.6.0.12)"].expected == Verdict.REACHABLE_ROUTED
    plain = {c.id: c for c in ex.node_reachability_cases(REF)}
    blocked = plain["vlan0/sa-w1-n -> node worker1 (10.6.0.11)"]
    assert blocked.expected == Verdict.BLOCKED and blocked.control.src.node == "worker2"
    assert plain["vlan100/sa-w1-a -> node worker1 (10.6.0.11)"].expected == Verdict.REACHABLE_ROUTED
    assert plain["vlan0/sa-w1-n -> node worker2 (10.6.0.12)"].expected == Verdict.REACHABLE_L2
    assert ex.own_master_cases(CO) == [] and ex.own_master_cases(REF)


def test_services_are_expected_from_overlay_pods_and_from_pods_with_veth0():
    assert {c.src.pod for c in ex.service_cases(REF)} == {"ov-w1", "ov-w2", "plain-w2"}
    assert {c.src.pod for c in ex.service_cases(CO)} == {p.name for p in CO.pods}


def test_ip_reuse_has_one_victim_per_vlan_watched_from_another_node():
    cases = ex.ip_reuse_cases(REF)
    assert {c.dst.vlan for c in cases} == {1, 100, 200}
    assert all(c.src.node != c.dst.node and c.src.vlan == c.dst.vlan for c in cases)
    assert all(c.control.expected == Verdict.REACHABLE for c in cases)


# --- allocation with the coordinator ------------------------------------------------------------------------
@pytest.fixture
def dual_with_coordinator():
    """sa-w2-dual on the coordinator topology: veth0, net1's default route moved to table 101 with its rule."""
    return {
        "links": [link("lo", None), link("eth0", "macvlan", "bridge", 20), link("net1", "macvlan", "bridge", 10, MAC1),
                  link("veth0", "veth", mac="02:00:00:00:00:cc")],
        "addresses": [{"ifname": "eth0", "address": "10.200.0.102", "prefixlen": 24},
                      {"ifname": "net1", "address": "10.100.0.101", "prefixlen": 24}],
        "routes": [{"dst": "0.0.0.0/0", "gateway": "10.200.0.1", "dev": "eth0"},
                   {"dst": "10.6.0.12/32", "gateway": None, "dev": "veth0"},
                   {"dst": "10.200.0.0/24", "gateway": None, "dev": "eth0"},
                   {"dst": "10.100.0.0/24", "gateway": None, "dev": "net1"}],
        "policy_routes": [{"table": 101, "dst": "0.0.0.0/0", "gateway": "10.100.0.1", "dev": "net1"}],
        "rules": [{"priority": 999, "table": 101, "src": "10.100.0.101/32", "fwmark": None}],
        "neighbours": [],
    }


def test_a_coordinator_pod_as_it_should_be(dual_with_coordinator):
    assert allocation_problems(CO, "sa-w2-dual", dual_with_coordinator, MASTERS) == []


@pytest.mark.parametrize("breakage, expected", [
    (lambda d: d["links"].pop(3), "veth0: missing"),
    (lambda d: d["routes"].pop(1), "veth0: no route to the node's address 10.6.0.12"),
    (lambda d: d["policy_routes"].clear(), "net1: no default route via 10.100.0.1 in table 101"),
    (lambda d: d["rules"].clear(), "net1: no rule 'from 10.100.0.101 lookup 101'"),
    (lambda d: d["routes"].append({"dst": "0.0.0.0/0", "gateway": "10.100.0.1", "dev": "net1"}),
     "net1: carries a default route in the main table; only eth0 may"),
])
def test_each_coordinator_breakage_is_named(dual_with_coordinator, breakage, expected):
    broken = copy.deepcopy(dual_with_coordinator)
    breakage(broken)
    problems = allocation_problems(CO, "sa-w2-dual", broken, MASTERS)
    assert any(expected in p for p in problems), problems


def test_veth0_is_unexpected_where_no_coordinator_runs(dual_with_coordinator):
    problems = allocation_problems(REF, "sa-w2-dual", dual_with_coordinator, MASTERS)
    assert "unexpected interfaces ['veth0']" in problems


def test_a_cluster_runs_scoped_topology_keeps_the_coordinator():
    """The cluster target re-validates the topology it scopes to its run (both --networks modes)."""
    from macvlan_conformance.cluster.scope import RunScope, scoped_topology
    for create in (False, True):
        scoped = scoped_topology(CO, RunScope("co1"), create)
        assert [n.coordinator for n in scoped.networks] == [n.coordinator for n in CO.networks]


def test_rendered_pod_annotations_clean_the_gateway_only_where_the_model_does():
    """Spiderpool gives every NIC a default route unless its ippools entry says cleangateway (cmd/spiderpool/cmd/
    command_add.go, pkg/utils/convert/convert.go); with the coordinator, sa-w2-dual's net1 keeps it (the
    coordinator moves it to table 101), while the reference topology cleans it."""
    import json
    from macvlan_conformance.cluster.manifests import pod_annotations
    for topology, cleaned in ((CO, False), (REF, True)):
        pod = topology.pod("sa-w2-dual")
        entries = json.loads(pod_annotations(pod, topology.attachments(pod.name))["ipam.spidernet.io/ippools"])
        assert [e["cleangateway"] for e in entries] == [False, cleaned]


def test_the_stand_in_and_networks_declared_treat_disabled_as_the_plugin_does():
    """cni_types.go: ModeDisable is "disable"; "disabled" (the CRD's spelling, copied into the NAD by
    generateCoordinatorCNIConf) reaches coordinatorModeAndFirstInvoke as an unknown mode."""
    import io
    import json
    from macvlan_conformance.cluster import existing
    from macvlan_conformance.coordinator_standin.plugin import main
    env = {"CNI_COMMAND": "ADD", "CNI_NETNS": "/nonexistent", "CNI_IFNAME": "eth0", "CNI_CONTAINERID": "c" * 64}
    out = io.StringIO()
    conf = {"cniVersion": "1.0.0", "name": "n", "type": "coordinator", "mode": "disabled", "prevResult": {}}
    assert main(env, io.BytesIO(json.dumps(conf).encode()), out) == 1
    assert json.loads(out.getvalue())["msg"] == "unknown tuneMode: disabled"
    out = io.StringIO()
    assert main(env, io.BytesIO(json.dumps({**conf, "mode": "disable", "prevResult": {"ips": []}}).encode()), out) == 0
    assert json.loads(out.getvalue()) == {"ips": []}  # passed through
    network = CO.network("kube-system/macvlan-standalone-vlan100")
    nad = {"spec": {"config": json.dumps(netconf.macvlan_conflist(
        network, netconf.spiderpool_ipam()) | {"plugins": [{"type": "macvlan", "master": "bond0.100",
                                                             "ipam": {"type": "spiderpool",
                                                                      "default_ipv4_ippool": ["vlan100-v4"]}},
                                                            {"type": "coordinator", "mode": "disabled"}]})}}
    assert any("unknown tuneMode: disabled" in line for line in existing.nad_differences(network, nad))


def test_pod_default_route_nic_naming_a_third_nic_moves_the_holders_routes_and_a_missing_one_refuses():
    """utils.go tunePodRoutes: a configured podDefaultRouteNIC other than the holder moves the holder's routes
    to the added NIC's table, whichever existing NIC it names (here veth0; the added NIC keeps its default route
    in main); a NIC the pod does not have fails the ADD ("podDefaultRouteNIC: X don't exist in pod")."""
    def topology_with(nic):
        data = coordinator_data()
        for network in data["networks"]:
            if network["name"] == "macvlan-standalone-vlan100":
                network["coordinator"] = {"mode": "underlay", "podDefaultRouteNIC": nic}
        return parse_topology(data)
    assert coordinator.route_tables(topology_with("veth0").attachments("sa-w2-dual")) == {"eth0": 101, "net1": None}
    with pytest.raises(TopologyError, match=re.escape("pods[7]: the coordinator of its networks would refuse this "
                                                      "pod (failed to tunePodRoutes: podDefaultRouteNIC: net7 don't "
                                                      "exist in pod)")):
        topology_with("net7")


def test_rule_controls_use_networks_whose_coordinator_lets_them_come_up():
    """A control must keep the contract under the topology's coordinators: an overlay network declared in
    underlay mode would refuse an extra NIC of an overlay pod, so another overlay network serves the control."""
    data = coordinator_data()
    data["networks"][3]["coordinator"] = {"mode": "underlay"}  # macvlan-overlay-vlan0
    rules = {r.name: r for r in ex.rule_cases(parse_topology(data))}
    assert rules["overlay-as-extra"].pod.annotations["k8s.v1.cni.cncf.io/networks"] == \
        "kube-system/macvlan-overlay-vlan100"

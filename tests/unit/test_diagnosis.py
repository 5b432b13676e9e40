"""The diagnosis: likely causes named by place, from the pattern of failed and passed checks.

Three kinds of evidence that the rules reason from the topology and are not tuned to the fault catalogue:
the self-test's real runs on the reference lab (tests/data/diagnosis-reference.json); faults the catalogue
never stages, synthesized on the reference, minimal, scale and a three-node topology by a small network
simulator written apart from the diagnosis (``netsim``), on dual-stack and IPv6-only topologies too; and a
sweep over every place of a topology. Each asserts the place of the first cause.
"""

import copy
import json

import pytest
import yaml

from macvlan_conformance import checks, diagnosis, faults
from macvlan_conformance import expectations as ex
from macvlan_conformance.diagnosis import diagnose, place_matches, rules, unexplained
from macvlan_conformance.report import schema
from macvlan_conformance.topology import load_topology, parse_topology

from ..conftest import ROOT, TOPOLOGIES
from .netsim import Net, Sim, records

DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="module")
def reference():
    return load_topology(TOPOLOGIES / "reference.yaml")


@pytest.fixture(scope="module")
def recorded():
    """The self-test's runs: topology, healthy records, and per fault its records."""
    data = json.loads((DATA / "diagnosis-reference.json").read_text())
    runs = {}
    for name, changes in data["faults"].items():
        run = copy.deepcopy(data["healthy"])
        for record in run:
            record.update(changes.get(record["nodeid"], {}))
        runs[name] = run
    return parse_topology(data["topology"]), data["healthy"], runs


def first(topology, net: Net) -> dict:
    causes = diagnose(topology, records(topology, net))
    assert causes, "a run with failures has a diagnosis"
    return causes[0]


def assert_at(cause, place: dict):
    assert place_matches(cause.place, place), f"first cause at {cause.place} ({cause.cause}), expected {place}"


# --- the self-test's real runs -----------------------------------------------------------------------
def test_the_recorded_healthy_runs_have_no_diagnosis(recorded):
    topology, healthy, _ = recorded
    assert diagnose(topology, healthy) == []
    old = json.loads((DATA / "healthy.json").read_text())
    assert diagnose(parse_topology(old["topology"]), old["checks"]) == []


RECORDED = sorted(json.loads((DATA / "diagnosis-reference.json").read_text())["faults"])


def test_every_fault_that_applies_to_the_recorded_topology_was_recorded(recorded):
    assert set(faults.catalogue(recorded[0])) == set(RECORDED)


@pytest.mark.parametrize("name", RECORDED)
def test_each_recorded_fault_run_is_diagnosed_at_the_fault_place(recorded, name):
    topology, _, runs = recorded
    causes = diagnose(topology, runs[name])
    assert_at(causes[0], faults.catalogue(topology)[name].place(topology))
    failed = {r["nodeid"] for r in runs[name] if r["outcome"] == "failed"}
    assert causes[0].explains and set(causes[0].explains) <= failed and causes[0].evidence


def test_a_recorded_cause_explains_its_failures_and_says_why(recorded):
    topology, _, runs = recorded
    cause = diagnose(topology, runs["vlanif-down"])[0]
    assert cause.place == {"kind": "vlanif", "vlan": 100}
    assert "all 50 checks through vlanif 100 fail" in cause.evidence and "gateway.arp 5" in cause.evidence
    assert "host.node-reachability 6" in cause.evidence
    assert "other checks of the same endpoints pass" in cause.evidence
    failed = {r["nodeid"] for r in runs["vlanif-down"] if r["outcome"] == "failed"}
    assert set(cause.explains) == failed and len(cause.explains) == 50
    assert unexplained(runs["vlanif-down"], [cause]) == []
    # a failure no place explains is said so (here: one routed pair of VLANs 200 and 0 made to fail as well)
    odd = next(r for r in runs["vlanif-down"] if r["id"] == "inter-vlan.ttl-expiry" and r["outcome"] == "passed"
               and "vlan200/" in r["src"] and "vlan0/" in r["dst"])
    broken = [dict(r, outcome="failed", observed="blocked") if r is odd else r for r in runs["vlanif-down"]]
    assert unexplained(broken, diagnose(topology, broken)) == [odd["nodeid"]]


def test_a_bond_member_found_down_by_its_drill_is_named(recorded):
    topology, _, runs = recorded
    cause = diagnose(topology, runs["bond-member-down"])[0]
    assert cause.place == {"kind": "bond-member", "node": "worker1", "member": "ens224"}
    assert "ens224 was already down" in cause.evidence


def test_a_pod_in_the_wrong_vlan_is_told_from_a_pod_that_is_down(recorded):
    topology, _, runs = recorded
    wrong = diagnose(topology, runs["master-in-wrong-vlan"])[0]
    down = diagnose(topology, runs["pod-interface-down"])[0]
    route = diagnose(topology, runs["pod-default-route-removed"])[0]
    assert wrong.place["pod"] == down.place["pod"] == route.place["pod"] == "sa-w1-a"
    assert "VLAN 200's broadcast domain" in wrong.cause
    assert "down or detached" in down.cause and "default route" in route.cause


# --- faults the catalogue never stages -----------------------------------------------------------------
def at(kind, **fields):
    return {"kind": kind, **fields}


def iface(pod, ifname="eth0"):
    return at("pod-interface", pod=pod, ifname=ifname)


# The catalogue's victims on the reference are vlanif 100, worker2 (trunk, VLAN 200, ports), sa-w1-a, the
# pair 100 -> 200, worker1/ens224, the address of sa-w2-a and network vlan100: these are elsewhere.
UNSEEN = {
    "the vlanif of the other tagged VLAN down": (Net(vlanifs_down={200}), at("vlanif", vlan=200)),
    "the native VLAN's vlanif down": (Net(vlanifs_down={1}), at("vlanif", vlan=1)),
    "a one-way filter on another VLAN pair": (Net(drops={(200, 1)}), at("vlan-pair", src_vlan=200, dst_vlan=1)),
    "a stateful one-way filter": (Net(new_drops={(1, 100)}), at("vlan-pair", src_vlan=1, dst_vlan=100)),
    "another pod's interface down": (Net(down={"sa-w2-b/eth0"}), iface("sa-w2-b")),
    "a second NIC down": (Net(down={"sa-w2-dual/net1"}), iface("sa-w2-dual", "net1")),
    "a native-VLAN pod's default route removed": (Net(no_default_route={"sa-w2-n"}), iface("sa-w2-n")),
    "the other node loses its trunk": (Net(members_down={("worker1", "ens224"), ("worker1", "ens256")}),
                                       at("node", node="worker1")),
    "another VLAN removed from the other node's trunk": (Net(trunk_without={("worker1", 100)}),
                                                          at("node-vlan", node="worker1", vlan=100)),
    "the native VLAN removed from a trunk": (Net(trunk_without={("worker2", 1)}),
                                             at("node-vlan", node="worker2", vlan=1)),
    "a master down on a node": (Net(masters_down={("worker2", 200)}), at("node-vlan", node="worker2", vlan=200)),
    "the other member of another node down": (Net(members_down={("worker2", "ens256")}),
                                              at("bond-member", node="worker2", member="ens256")),
    "the other node's switch ports' MTU lowered": (Net(port_mtu={"worker1": 1400}), at("switch-port", node="worker1")),
    "a vlanif's MTU lowered": (Net(vlanif_mtu={200: 1400}), at("vlanif", vlan=200)),
    "another network in private mode": (Net(private={"sa-w1-c/eth0", "sa-w2-b/eth0", "sa-w2-dual/eth0"}),
                                        at("network", network="kube-system/macvlan-standalone-vlan200")),
    "another pod's address claimed twice": (Net(claimed={"sa-w1-c/eth0": "worker2"}),
                                            at("address", pod="sa-w1-c", ifname="eth0")),
    "another pod in another wrong VLAN": (Net(elsewhere={"sa-w2-n/eth0": 100}), iface("sa-w2-n")),
}


@pytest.mark.parametrize("name", UNSEEN)
def test_a_fault_never_in_the_catalogue_is_diagnosed_at_its_place(reference, name):
    net, place = UNSEEN[name]
    assert_at(first(reference, net), place)


def test_the_cause_says_what_broke_not_only_where(reference):
    assert "MTU" in first(reference, Net(vlanif_mtu={200: 1400})).cause
    assert "is down or missing" in first(reference, Net(vlanifs_down={200})).cause
    assert "VLAN 100's broadcast domain" in first(reference, Net(elsewhere={"sa-w2-n/eth0": 100})).cause
    assert "master for VLAN 200 is down" in first(reference, Net(masters_down={("worker2", 200)})).cause
    assert "one-way" in first(reference, Net(new_drops={(1, 100)})).cause


def test_two_faults_at_once_are_two_causes(reference):
    run = records(reference, Net(vlanifs_down={200}, down={"sa-w1-b/eth0"}))
    causes = diagnose(reference, run)
    assert {c.place["kind"] for c in causes[:2]} == {"vlanif", "pod-interface"}
    assert any(c.place == {"kind": "vlanif", "vlan": 200} for c in causes[:2])
    assert any(c.place.get("pod") == "sa-w1-b" for c in causes[:2])
    assert unexplained(run, causes) == []
    assert not set(causes[0].explains) & set(causes[1].explains)


def _single_interface_networks(topology):
    eps = ex.endpoints(topology)
    return {e.key: e.network for e in eps if e.network and sum(x.network == e.network for x in eps) == 1}


def _places(topology):
    """Every place of the topology with a fault there (the sweep), and every family-specific one per family."""
    yield from _family_places(topology)
    for vid in topology.routed_vlans:
        yield {"kind": "vlanif", "vlan": vid}, Net(vlanifs_down={vid})
    for a in topology.routed_vlans:
        for b in (b for b in topology.routed_vlans if b != a):
            yield {"kind": "vlan-pair", "src_vlan": a, "dst_vlan": b}, Net(new_drops={(a, b)})
    for node in topology.nodes:
        yield {"kind": "node", "node": node.name}, Net(members_down={(node.name, m) for m in node.bond.members})
        yield {"kind": "switch-port", "node": node.name}, Net(port_mtu={node.name: 1400})
        for nic in node.bond.members:
            yield {"kind": "bond-member", "node": node.name, "member": nic}, Net(members_down={(node.name, nic)})
        for vid in [topology.switch.native_vlan, *node.vlans]:
            yield {"kind": "node-vlan", "node": node.name, "vlan": vid}, Net(trunk_without={(node.name, vid)})
    for e in (e for e in ex.endpoints(topology) if e.macvlan):
        where = {"kind": "pod-interface", "pod": e.pod, "ifname": e.ifname}
        yield where, Net(down={e.key})
        yield {"kind": "address", "pod": e.pod, "ifname": e.ifname}, Net(claimed={e.key: topology.nodes[-1].name})
        other = next(v for v in topology.routed_vlans if v != e.vlan)
        yield where, Net(elsewhere={e.key: other})


def _family_places(topology):
    """The router, gateway addresses, filters, addresses and default routes of one family broken: on a topology
    of several families the place names the family (``ip_version``), on one of a single family it need not."""
    dual = len(topology.ip_families) > 1

    def at_family(place: dict, f: int) -> dict:
        return {**place, "ip_version": f} if dual else place

    for f in topology.ip_families:
        yield at_family({"kind": "router"}, f), Net(forwarding_off={f})
        yield at_family({"kind": "router"}, f), Net(icmp_filtered={f})
        for vid in (v for v in topology.routed_vlans if f in topology.vlan(v).families):
            yield at_family({"kind": "vlanif", "vlan": vid}, f), Net(gateways_missing={(vid, f)})
        for a, b in ((a, b) for a in topology.routed_vlans for b in topology.routed_vlans if a != b):
            yield at_family({"kind": "vlan-pair", "src_vlan": a, "dst_vlan": b}, f), Net(new_drops={(a, b, f)})
        for e in (e for e in ex.endpoints(topology) if e.macvlan and f in e.families):
            yield (at_family({"kind": "address", "pod": e.pod, "ifname": e.ifname}, f),
                   Net(claimed={(e.key, f): topology.nodes[-1].name}))
            if e.default:
                yield (at_family({"kind": "pod-interface", "pod": e.pod, "ifname": e.ifname}, f),
                       Net(no_default_route={(e.pod, f)}))
    if 6 in topology.ip_families:
        for vid in topology.routed_vlans:
            yield {"kind": "vlan", "vlan": vid}, Net(rogue_ra={vid})


@pytest.mark.parametrize("name", ["reference", "minimal", "dual-stack", "ipv6-only"])
def test_a_fault_at_any_place_of_the_topology_is_diagnosed_there(name):
    """A place that the runs cannot tell from another (the same records fail, the same pass) may be named as
    that other place: on the one-node minimal topology, VLAN 1 missing from worker1's trunk and vlanif 1 down
    both break exactly the tagged pods' routed pings to their node, and nothing else."""
    topology = load_topology(TOPOLOGIES / f"{name}.yaml")
    alone = _single_interface_networks(topology)
    staged_runs = [(place, records(topology, net)) for place, net in _places(topology)]
    outcomes = [(place, {r["nodeid"]: r["outcome"] for r in run}) for place, run in staged_runs]
    misses, staged, equivalent = [], 0, 0
    for place, run in staged_runs:
        if not any(r["outcome"] == "failed" for r in run):
            continue  # nothing observable breaks (no case crosses the place)
        staged += 1
        cause = diagnose(topology, run)[0]
        same = place_matches(cause.place, place) or (  # a network of one interface is that interface
            cause.place.get("network") is not None and alone.get(f"{place.get('pod')}/{place.get('ifname')}")
            == cause.place["network"])
        seen = {r["nodeid"]: r["outcome"] for r in run}
        if not same and any(place_matches(cause.place, other) and o == seen for other, o in outcomes):
            equivalent += 1
            continue
        if not same:
            misses.append(f"{place} diagnosed as {cause.place}")
    assert staged >= 10 and not misses and equivalent <= 2


@pytest.fixture(scope="module")
def three_nodes():
    """The reference with a third worker and VLAN 200 without vlanif (its traffic must not be routed)."""
    data = yaml.safe_load((TOPOLOGIES / "reference.yaml").read_text())
    data["switch"]["vlanifs"] = [1, 100]
    data["nodes"].append({"name": "worker3", "ip": "10.6.0.13", "bond": {"members": ["eno1", "eno2"]},
                          "vlans": [100, 200]})
    for pod, vlan in (("sa-w3-a", 100), ("sa-w3-b", 200), ("sa-w3-n", 0)):
        data["pods"].append({"name": pod, "node": "worker3", "annotations": {
            "v1.multus-cni.io/default-network": f"kube-system/macvlan-standalone-vlan{vlan}"}})
    return parse_topology(data)


@pytest.mark.parametrize("net,place", [
    (Net(extra_vlanifs={200}), {"kind": "vlanif", "vlan": 200}),
    (Net(members_down={("worker3", "eno1"), ("worker3", "eno2")}), {"kind": "node", "node": "worker3"}),
    (Net(trunk_without={("worker3", 100)}), {"kind": "node-vlan", "node": "worker3", "vlan": 100}),
    (Net(down={"sa-w3-b/eth0"}), {"kind": "pod-interface", "pod": "sa-w3-b", "ifname": "eth0"}),
    (Net(vlanifs_down={1}), {"kind": "vlanif", "vlan": 1}),
    (Net(members_down={("worker3", "eno2")}), {"kind": "bond-member", "node": "worker3", "member": "eno2"}),
], ids=["routed-without-vlanif", "node-cut", "trunk-vlan", "pod-down", "native-vlanif", "member"])
def test_faults_on_a_three_node_topology_with_an_unrouted_vlan(three_nodes, net, place):
    cause = first(three_nodes, net)
    assert_at(cause, place)
    if net.extra_vlanifs:
        assert "routed although the topology gives it no vlanif" in cause.cause


@pytest.mark.parametrize("net,place", [
    (Net(vlanifs_down={300}), {"kind": "vlanif", "vlan": 300}),
    (Net(trunk_without={("worker3", 400)}), {"kind": "node-vlan", "node": "worker3", "vlan": 400}),
    (Net(down={"sa-v200-w2-1/eth0"}), {"kind": "pod-interface", "pod": "sa-v200-w2-1", "ifname": "eth0"}),
    (Net(drops={(400, 300)}), {"kind": "vlan-pair", "src_vlan": 300, "dst_vlan": 400}),
    (Net(forwarding=False), {"kind": "router"}),
], ids=["vlanif", "trunk-vlan", "pod-down", "pair", "router"])
def test_faults_on_the_scale_topology(net, place):
    topology = load_topology(TOPOLOGIES / "scale.yaml")
    assert_at(first(topology, net), place)


def test_healthy_synthetic_runs_have_no_diagnosis(reference, three_nodes, dual_stack):
    for topology in (reference, three_nodes, dual_stack, *(load_topology(TOPOLOGIES / f"{name}.yaml")
                                                           for name in ("minimal", "ipv6-only"))):
        assert diagnose(topology, records(topology)) == []


def test_every_probed_check_is_simulated_and_has_a_rule():
    """A check the diagnosis has no rule for bears on nothing: its failures are left unexplained."""
    for check in checks.case_checks():
        assert hasattr(Sim, "_" + check.id.replace(".", "_").replace("-", "_")), f"netsim does not simulate {check.id}"
        assert check.id in rules.CASE_RULES, f"the diagnosis has no rule for {check.id}"


# --- address families ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dual_stack():
    return load_topology(TOPOLOGIES / "dual-stack.yaml")


V6, V4 = {"ip_version": 6}, {"ip_version": 4}
DUAL = {  # on the dual-stack topology: a fault of one family is diagnosed at its place, in that family
    "IPv6 forwarding off": (Net(forwarding_off={6}), at("router", **V6)),
    "ICMPv6 filtered on the router": (Net(icmp_filtered={6}), at("router", **V6)),
    "a duplicate IPv6 address": (Net(claimed={("sa-w2-a/eth0", 6): "worker1"}), at("address", pod="sa-w2-a",
                                                                                     ifname="eth0", **V6)),
    "the IPv6 gateway missing from a vlanif": (Net(gateways_missing={(200, 6)}), at("vlanif", vlan=200, **V6)),
    "a pod's IPv6 default route removed": (Net(no_default_route={("sa-w1-a", 6)}), {**iface("sa-w1-a"), **V6}),
    "an IPv6 one-way filter": (Net(new_drops={(100, 200, 6)}), at("vlan-pair", src_vlan=100, dst_vlan=200, **V6)),
    "IPv4 forwarding off": (Net(forwarding_off={4}), at("router", **V4)),
    "a duplicate IPv4 address": (Net(claimed={("sa-w2-a/eth0", 4): "worker1"}), at("address", pod="sa-w2-a",
                                                                                    ifname="eth0", **V4)),
    "a pod's IPv4 default route removed": (Net(no_default_route={("sa-w1-a", 4)}), {**iface("sa-w1-a"), **V4}),
    "a rogue router advertisement": (Net(rogue_ra={100}), at("vlan", vlan=100)),
}


@pytest.mark.parametrize("name", DUAL)
def test_a_fault_of_one_family_on_dual_stack_is_diagnosed_at_its_place_in_that_family(dual_stack, name):
    net, place = DUAL[name]
    cause = first(dual_stack, net)
    assert_at(cause, place)
    assert cause.place.get("ip_version") == place.get("ip_version")
    failed = {r["nodeid"] for r in records(dual_stack, net) if r["outcome"] == "failed"}
    assert set(cause.explains) == failed


@pytest.mark.parametrize("net,place", [
    (Net(vlanifs_down={100}), at("vlanif", vlan=100)),
    (Net(forwarding=False), at("router")),
    (Net(claimed={"sa-w2-a/eth0": "worker1"}), at("address", pod="sa-w2-a", ifname="eth0", vlan=100)),
    (Net(down={"sa-w2-b/eth0"}), iface("sa-w2-b") | {"vlan": 200}),
    (Net(members_down={("worker1", "ens224"), ("worker1", "ens256")}), at("node", node="worker1")),
    (Net(trunk_without={("worker2", 200)}), at("node-vlan", node="worker2", vlan=200)),
], ids=["vlanif-down", "forwarding-off", "both-addresses-claimed", "pod-down", "node-cut", "trunk-vlan"])
def test_a_fault_of_every_family_on_dual_stack_names_no_family(dual_stack, net, place):
    """Links carry both families, and a family-specific element broken in both is one cause, not one per family."""
    causes = diagnose(dual_stack, records(dual_stack, net))
    assert causes[0].place == place
    assert unexplained(records(dual_stack, net), causes[:1]) == []


def test_ipv6_forwarding_off_is_not_contradicted_by_the_ipv4_passes_of_the_same_pairs(dual_stack):
    """The IPv4 pass of a routed pair does not exonerate the router's IPv6 forwarding: the cause names the family,
    its evidence the IPv6 cases, and the record of every family is read as its own case."""
    run = records(dual_stack, Net(forwarding_off={6}))
    cause = diagnose(dual_stack, run)[0]
    assert "does not forward IPv6" in cause.cause and "the router (IPv6) fail" in cause.evidence
    assert "[ipv6]" in cause.evidence and "through it pass" not in cause.evidence
    ipv4 = [r for r in run if r["id"] == "inter-vlan.routed" and r["ip_version"] == 4]
    assert ipv4 and all(r["outcome"] == "passed" for r in ipv4)
    assert {r["nodeid"] for r in run if r["outcome"] == "failed"} == set(cause.explains)


@pytest.mark.parametrize("name", ["router-ipv6-forwarding-off", "icmpv6-filtered-on-router", "duplicate-ipv6"])
def test_the_ipv6_faults_of_the_catalogue_simulated_are_diagnosed_at_their_place(dual_stack, name):
    fault = faults.catalogue(dual_stack)[name]
    place = fault.place(dual_stack)
    net = {"router-ipv6-forwarding-off": Net(forwarding_off={6}), "icmpv6-filtered-on-router": Net(icmp_filtered={6}),
           "duplicate-ipv6": Net(claimed={(f"{place.get('pod')}/{place.get('ifname')}", 6): dual_stack.nodes[0].name})}
    assert fault.families(dual_stack) == {6}
    assert_at(first(dual_stack, net[name]), place)


def test_a_rogue_router_advertisement_names_its_vlan(dual_stack):
    """Its advertisements reach every pod of the VLAN, whichever node the rogue sits on: the diagnosis names the
    VLAN, not the node (the fault declares where its rogue sits, one VLAN on one node)."""
    declared = faults.catalogue(dual_stack)["rogue-router-advertisement"].place(dual_stack)
    cause = first(dual_stack, Net(rogue_ra={declared["vlan"]}))
    assert cause.place == {"kind": "vlan", "vlan": declared["vlan"]} and "router advertisements" in cause.cause


def test_ipv6_only_faults_are_diagnosed_without_naming_the_only_family():
    topology = load_topology(TOPOLOGIES / "ipv6-only.yaml")
    assert first(topology, Net(forwarding_off={6})).place == {"kind": "router"}
    assert first(topology, Net(claimed={"sa-w1-c/eth0": "worker2"})).place == at(
        "address", pod="sa-w1-c", ifname="eth0", vlan=200)
    assert first(topology, Net(down={"sa-w1-c/eth0"})).place == iface("sa-w1-c") | {"vlan": 200}


def test_a_duplicate_found_by_dad_alone_is_the_address_and_a_silent_dad_probe_its_path(dual_stack):
    """addressing.dad: a probe defended by another MAC too bears on the claim, one defended by nobody (or an address
    left tentative) on the path."""
    run = records(dual_stack, Net(claimed={("sa-w1-c/eth0", 6): "worker2"}))
    only_dad = [r for r in run if r["id"] != "addressing.unique-ip" or r["ip_version"] == 4]  # IPv4's pass
    assert diagnose(dual_stack, only_dad)[0].place == at("address", pod="sa-w1-c", ifname="eth0", vlan=200, **V6)
    down = diagnose(dual_stack, records(dual_stack, Net(down={"sa-w1-c/eth0"})))[0]
    assert down.place == iface("sa-w1-c") | {"vlan": 200}
    assert any("addressing.dad" in n for n in down.explains)


# --- the match rule, the format -----------------------------------------------------------------------
def test_the_match_rule():
    node = {"kind": "node", "node": "worker2"}
    assert place_matches({"kind": "node", "node": "worker2"}, node)
    assert not place_matches({"kind": "node-vlan", "node": "worker2", "vlan": 200}, node)  # more specific
    assert not place_matches(node, {"kind": "node-vlan", "node": "worker2", "vlan": 200})  # less specific
    assert place_matches({"kind": "pod-interface", "pod": "a", "ifname": "eth0", "vlan": 100},
                         {"kind": "pod-interface", "pod": "a", "ifname": "eth0"})  # the diagnosis may say more
    both = {"kind": "vlan-pair", "src_vlan": 100, "dst_vlan": 200, "direction": "both"}
    assert place_matches(both, {"kind": "vlan-pair", "src_vlan": 200, "dst_vlan": 100})
    assert not place_matches({"kind": "vlan-pair", "src_vlan": 100, "dst_vlan": 200},
                             {"kind": "vlan-pair", "src_vlan": 200, "dst_vlan": 100})


def test_every_fault_declares_a_place_in_the_vocabulary(reference):
    kinds = set(diagnosis.places.KINDS.values())
    for fault in faults.catalogue(reference).values():
        assert fault.place(reference)["kind"] in kinds


def test_the_format_agreed_with_the_report(recorded):
    topology, _, runs = recorded
    causes = [c.to_dict() for c in diagnose(topology, runs["bond-both-down"])]
    assert list(causes[0]) == ["cause", "place", "evidence", "explains"]
    assert causes[0]["place"] == {"kind": "node", "node": "worker2"}
    schema.Results.model_validate({"run": {}, "checks": runs["bond-both-down"], "diagnosis": causes})
    lines = diagnosis.summary_lines(causes, runs["bond-both-down"])
    assert lines[0].startswith("likely cause 1: nothing crosses worker2's trunk") and len(lines) == 1
    assert diagnosis.one_line(causes[0]).startswith("worker2's trunk and bond: ")


def test_old_results_files_get_their_diagnosis_computed():
    old = json.loads((DATA / "broken-vlanif-down.json").read_text())
    assert "diagnosis" not in old
    assert diagnosis.for_results(old)[0]["place"] == {"kind": "vlanif", "vlan": 100}
    assert diagnosis.for_results({**old, "diagnosis": []}) == []   # a file's own diagnosis is kept
    assert diagnosis.for_results({**old, "topology": {"name": "x"}}) == []  # a topology we cannot read


def test_announcements_and_the_coordinators_host_route_are_places_of_their_own(reference):
    """Faults of this turn's checks, synthesized: gratuitous ARP that never leaves its node (ip-reuse across
    nodes fails, everything else passes), and a node without the coordinator's route back to one pod."""
    assert first(reference, Net(announcements_dropped=True)).place == {"kind": "announcements"}
    coordinated = load_topology(TOPOLOGIES / "coordinator.yaml")
    cause = first(coordinated, Net(host_route_missing={"sa-w2-b"}))
    assert cause.place == {"kind": "host-route", "pod": "sa-w2-b"} and "veth0" in cause.cause

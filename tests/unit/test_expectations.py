"""Expectations derived from the model, without root: who must reach whom, how, and what proves it."""

import pytest

from macvlan_conformance import checks
from macvlan_conformance import expectations as ex
from macvlan_conformance.expectations import Verdict
from macvlan_conformance.verdicts import judge
from macvlan_conformance.topology import load_topology

from ..conftest import TOPOLOGIES

REF = load_topology(TOPOLOGIES / "reference.yaml")


def ids(cases):
    return {c.id for c in cases}


def test_intra_vlan_pairs_are_direct_l2_from_the_peer():
    cases = ex.intra_vlan_cases(REF)
    same = {c.id: c for c in cases if c.check == "intra-vlan.same-node"}
    cross = {c.id: c for c in cases if c.check == "intra-vlan.cross-node"}
    case = same["vlan100/sa-w1-a -> vlan100/sa-w1-b"]
    assert (case.expected, case.ttl, str(case.mac_owner)) == (Verdict.REACHABLE_L2, 64, "endpoint sa-w1-b/eth0")
    assert "vlan100/sa-w1-a -> vlan100/sa-w2-dual:net1" in cross
    assert "vlan100/sa-w1-a -> vlan100/ov-w1:net1" in same
    # never across VLANs, never to itself
    assert all(c.src.vlan == c.dst.vlan and c.src.pod != c.dst.pod for c in cases)
    assert len(cases) == 5 * 4 + 4 * 3 + 2 * 1  # vlan100: 5 NICs, vlan200: 4, vlan0: 2


def test_inter_vlan_one_hop_through_the_source_vlanif():
    cases = {c.id: c for c in ex.inter_vlan_cases(REF)}
    case = cases["vlan100/sa-w1-a -> vlan200/sa-w1-c"]
    assert (case.expected, case.ttl, str(case.mac_owner)) == (Verdict.REACHABLE_ROUTED, 63, "vlanif 100")
    assert cases["vlan200/sa-w1-c -> vlan100/sa-w1-a"].mac_owner.ref == "200"
    # the dual-homed pod answers vlan100 directly, so it is not an inter-VLAN pair with vlan100 pods
    assert not any("sa-w2-dual" in i and "vlan100/" in i for i in cases)
    # overlay pods' macvlan NICs carry no default route: not routed endpoints
    assert not any("ov-w" in i for i in cases)


def test_unrouted_vlan_is_blocked(reference_data):
    from macvlan_conformance.topology import parse_topology
    reference_data["switch"]["vlanifs"] = [1, 100]
    t = parse_topology(reference_data)
    cases = {c.id: c for c in ex.inter_vlan_cases(t)}
    blocked = cases["vlan100/sa-w1-a -> vlan200/sa-w1-c"]
    assert blocked.expected == Verdict.BLOCKED
    assert blocked.control.expected == Verdict.REACHABLE_L2 and blocked.control.dst.vlan == 100
    assert cases["vlan100/sa-w1-a -> vlan0/sa-w1-n"].expected == Verdict.REACHABLE_ROUTED
    gateways = {c.src.key: c for c in ex.gateway_cases(t)}
    assert gateways["sa-w1-c/eth0"].expected == Verdict.NO_ARP_REPLY
    assert gateways["sa-w1-c/eth0"].control.expected == Verdict.ARP_REPLY


def test_every_negative_case_has_a_positive_control():
    negatives = ex.cross_vlan_arp_cases(REF) + ex.broadcast_cases(REF) + ex.own_master_cases(REF)
    assert negatives
    for case in negatives:
        assert case.expected in (Verdict.NO_ARP_REPLY, Verdict.NOT_SEEN, Verdict.BLOCKED)
        assert case.control is not None and case.control.expected in (Verdict.ARP_REPLY, Verdict.SEEN,
                                                                      Verdict.REACHABLE)
    own = {c.src.pod: c for c in ex.own_master_cases(REF)}
    assert own["sa-w1-n"].params["ip"] == "10.6.0.11" and own["sa-w1-n"].control.src.pod == "sa-w2-n"


def test_no_negative_case_without_a_control_on_one_node():
    t = load_topology(TOPOLOGIES / "minimal.yaml")
    assert ex.own_master_cases(t) == []  # no pod on another node could serve as the control
    for case in checks.all_cases(t):
        if case.expected in (Verdict.BLOCKED, Verdict.NO_ARP_REPLY, Verdict.NOT_SEEN):
            assert case.control is not None, case.id


def test_broadcast_receivers_exclude_the_senders_vlan():
    for case in ex.broadcast_cases(REF):
        assert case.control.dst.vlan == case.src.vlan
        for key in case.params["receivers"]:
            pod, ifname = key.split("/")
            att = next(a for a in REF.attachments(pod) if a.ifname == ifname)
            assert att.vlan.id == case.params["vlan"] != case.src.vlan


def test_broadcast_senders_cover_every_vlan_and_node_with_a_pod():
    """A leak only one node's trunk creates is probed from that node: every (VLAN, node) that has a macvlan
    interface and a same-VLAN witness sends into every other VLAN that has receivers."""
    eps = [e for e in ex.endpoints(REF) if e.macvlan]
    sent = {(c.src.vlan, c.src.node, c.params["vlan"]) for c in ex.broadcast_cases(REF)}
    for e in eps:
        if not any(w.vlan == e.vlan and w.pod != e.pod for w in eps):
            continue
        for other in {w.vlan for w in eps} - {e.vlan}:
            assert (e.vlan, e.node, other) in sent, (e.vlan, e.node, other)
    assert len({(v, n) for v, n, _ in sent}) > len({v for v, _, _ in sent})  # more than one sender per VLAN


def test_rule_cases_expect_refusals_only_where_a_coordinator_enforces_them():
    """Only the coordinator in an explicit mode refuses the multus-underlay mixes (spidernet-io/spiderpool
    cmd/coordinator/cmd/utils.go coordinatorModeAndFirstInvoke); Multus itself refuses none of them."""
    plain = {r.name: r for r in ex.rule_cases(REF)}
    assert {n: r.expected for n, r in plain.items()} == dict.fromkeys(plain, Verdict.CREATED)
    assert all("not enforced, as the topology declares" in plain[n].why
               for n in ("overlay-as-default", "standalone-plus-overlay", "overlay-plus-standalone"))
    enforced = {r.name: r for r in ex.rule_cases(load_topology(TOPOLOGIES / "coordinator.yaml"))}
    assert enforced["overlay-as-default"].expected == Verdict.REFUSED
    assert "in overlay mode, it detects that the current interface is first interface" in \
        enforced["overlay-as-default"].enforcer
    assert "auxiliary interface veth0 of underlay mode exists" in enforced["standalone-plus-overlay"].enforcer
    assert "was not created by previous interface" in enforced["overlay-plus-standalone"].enforcer
    assert enforced["overlay-as-extra"].expected == enforced["standalone-plus-standalone"].expected == Verdict.CREATED
    assert enforced["overlay-as-extra"].control and not enforced["overlay-as-default"].control


def test_judge():
    case = ex.intra_vlan_cases(REF)[0]
    assert judge(case, Verdict.REACHABLE_L2).passed
    assert not judge(case, Verdict.REACHABLE_ROUTED).passed
    assert not judge(case, Verdict.BLOCKED).passed
    negative = ex.cross_vlan_arp_cases(REF)[0]
    assert judge(negative, Verdict.NO_ARP_REPLY, control=Verdict.ARP_REPLY).passed
    inconclusive = judge(negative, Verdict.NO_ARP_REPLY, control=Verdict.NO_ARP_REPLY)
    assert not inconclusive.passed and inconclusive.observed == Verdict.INCONCLUSIVE
    assert "proves nothing" in inconclusive.detail
    blocked = ex.own_master_cases(REF)[0]
    assert judge(blocked, Verdict.NO_ARP_REPLY, control=Verdict.REACHABLE).passed
    missing = judge(blocked, Verdict.BLOCKED)  # the control did not run: proves nothing
    assert not missing.passed and missing.observed == Verdict.INCONCLUSIVE


def test_test_ids_read_like_the_network():
    assert "vlan100/sa-w2-dual:net1 -> vlan100/sa-w1-a" in ids(ex.intra_vlan_cases(REF))
    assert all(" -> " in i for i in ids(checks.all_cases(REF)))


def test_the_fault_catalogue_refuses_a_topology_without_pods(reference_data):
    from macvlan_conformance.faults import catalogue
    from macvlan_conformance.topology import parse_topology
    reference_data["pods"] = []
    with pytest.raises(ValueError, match="has no pods: the fault catalogue needs pods"):
        catalogue(parse_topology(reference_data))
    assert len(catalogue(load_topology(TOPOLOGIES / "reference.yaml"))) == 13  # control

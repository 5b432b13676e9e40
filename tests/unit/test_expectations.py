"""Expectations derived from the model, without root: who must reach whom, how, and what proves it."""

import pytest

from macvlan_conformance import annotations as ann
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


# --- dual stack and IPv6-only pods -------------------------------------------------------------------------
DUAL = load_topology(TOPOLOGIES / "dual-stack.yaml")
V6 = load_topology(TOPOLOGIES / "ipv6-only.yaml")
NEEDS_POD_IPV4 = ("intra-vlan.same-node", "intra-vlan.cross-node", "inter-vlan.routed", "inter-vlan.ttl-expiry",
                  "gateway.arp", "mtu.df-ping", "addressing.unique-ip", "isolation.cross-vlan-arp")


def _dual_data_where(pod: str, ippools: str) -> dict:
    """The dual-stack topology as plain data, ``pod`` annotated with ``ipam.spidernet.io/ippools`` = ``ippools``."""
    import yaml
    data = yaml.safe_load((TOPOLOGIES / "dual-stack.yaml").read_text())
    next(p for p in data["pods"] if p["name"] == pod).setdefault("annotations", {})[ann.IPPOOLS] = ippools
    return data


def _macvlan_nics(t, family: int) -> list[str]:
    """``pod/ifname`` of every macvlan NIC with an address of ``family``, from the attachments themselves."""
    return [f"{pod.name}/{att.ifname}" for pod in t.pods for att in t.attachments(pod.name)
            if att.network is not None and family in att.families]


@pytest.mark.parametrize("generator", [ex.intra_vlan_cases, ex.inter_vlan_cases], ids=lambda g: g.__name__)
def test_dual_stack_has_every_reachability_case_once_per_family(generator):
    """The dual-stack topology is the reference one plus IPv6: its IPv4 cases are the reference's, ids and all,
    and each has one IPv6 twin whose id ends in " [ipv6]"."""
    cases = generator(DUAL)
    per_family = {f: [c for c in cases if c.ip_version == f] for f in (4, 6)}
    assert len(per_family[4]) + len(per_family[6]) == len(cases) and per_family[6]
    pairs = {f: [(c.check, c.src.key, c.dst.key, c.expected) for c in per_family[f]] for f in (4, 6)}
    assert len(set(pairs[4])) == len(pairs[4]) and sorted(pairs[4]) == sorted(pairs[6])  # once per family
    assert sorted(c.id for c in per_family[4]) == sorted(c.id for c in generator(REF))
    assert not any("[ipv" in c.id for c in per_family[4])
    assert sorted(c.id for c in per_family[6]) == sorted(f"{c.id} [ipv6]" for c in per_family[4])
    for case in per_family[6]:
        assert case.control is None or case.control.ip_version == 6


def test_dual_stack_ipv4_cases_are_the_reference_ones():
    """Adding IPv6 changes no IPv4 case of any check: a dual-stack run compares with an IPv4 baseline."""
    ref = sorted((c.check, c.id) for c in checks.all_cases(REF))
    assert sorted((c.check, c.id) for c in checks.all_cases(DUAL) if c.ip_version == 4) == ref
    assert all(c.id.endswith(" [ipv6]") for c in checks.all_cases(DUAL) if c.ip_version == 6)


def test_ipv6_only_has_no_ipv4_case_that_needs_a_pod_ipv4_address():
    cases = ex.by_check(checks.all_cases(V6))
    for check in NEEDS_POD_IPV4:
        assert cases.get(check), f"no {check} case on ipv6-only"
        for case in cases[check]:
            assert case.ip_version == 6 and case.id.endswith(" [ipv6]"), case.id
            assert case.control is None or case.control.ip_version == 6, case.id
    assert "addressing.ip-reuse" not in cases  # a gratuitous ARP announces an IPv4 address


def test_node_checks_have_no_case_for_ipv6_only_pods():
    """The nodes' addresses are IPv4 (on the native VLAN): an IPv6-only pod NIC neither probes them nor serves as
    the control of a pod that does."""
    assert ex.node_reachability_cases(V6) == [] and ex.own_master_cases(V6) == []
    assert {c.src.pod for c in ex.own_master_cases(DUAL)} == {"sa-w1-n", "sa-w2-n"}
    from macvlan_conformance.topology import parse_topology
    t = parse_topology(_dual_data_where("sa-w1-n", '[{"interface":"eth0","ipv6":["vlan0-v6"]}]'))
    assert t.attachments("sa-w1-n")[0].families == (6,)
    node_cases = ex.node_reachability_cases(t)
    assert node_cases and "sa-w1-n" not in {c.src.pod for c in node_cases}
    assert "sa-w1-n" not in {c.control.src.pod for c in node_cases if c.control}
    assert ex.own_master_cases(t) == []  # sa-w2-n's control would be sa-w1-n, which has no IPv4 address
    # the same goes for sa-w2-n's blocked case towards its own node; every other case stays
    own_node = "vlan0/sa-w2-n -> node worker2 (10.6.0.12)"
    before = {c.id: c for c in ex.node_reachability_cases(DUAL) if c.src.pod != "sa-w1-n"}
    assert before[own_node].control.src.pod == "sa-w1-n"
    assert {c.id for c in node_cases} == set(before) - {own_node}


@pytest.mark.parametrize("topology", [REF, DUAL, V6], ids=["reference", "dual-stack", "ipv6-only"])
def test_dad_and_ra_have_one_case_per_ipv6_macvlan_nic(topology):
    nics = _macvlan_nics(topology, 6)
    for generator, check in ((ex.dad_cases, "addressing.dad"), (ex.ra_cases, "gateway.ra")):
        cases = generator(topology)
        assert sorted(c.src.key for c in cases) == sorted(nics), check
        assert all(c.check == check and c.ip_version == 6 and c.id.endswith(" [ipv6]") for c in cases)
    assert bool(nics) == (topology is not REF)
    if topology is not REF:
        assert len(nics) == len(_macvlan_nics(REF, 4)) == 11


def test_dad_and_ra_leave_out_nics_without_ipv6():
    from macvlan_conformance.topology import parse_topology
    t = parse_topology(_dual_data_where("sa-w2-dual", '[{"interface":"eth0","ipv4":["vlan200-v4"]},'
                                                      '{"interface":"net1","ipv6":["vlan100-v6"]}]'))
    for generator in (ex.dad_cases, ex.ra_cases):
        keys = [c.src.key for c in generator(t)]
        assert "sa-w2-dual/eth0" not in keys and keys.count("sa-w2-dual/net1") == 1 and len(keys) == 10
    with_ipv6 = set(_macvlan_nics(t, 6))
    for case in ex.dad_cases(t):  # the newcomer's DAD probe comes from a NIC that has IPv6, of another pod
        assert case.params["peer"] in with_ipv6 and case.params["peer"].split("/")[0] != case.src.pod, case.id

"""What must happen, derived from the topology model alone, as data.

Every case names its endpoints by model identity (``pod/ifname``) and the evidence that proves it by
*owner* (``endpoint sa-w1-b/eth0``, ``vlanif 100``), not by address: addresses and MACs are facts of a
deployment, resolved at run time. Nothing here touches a network; ``judge`` compares an observed verdict
with an expected one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import annotations as ann
from . import coordinator
from .topology import Pod, Topology, resolve_attachments
from .verdicts import Verdict


@dataclass(frozen=True)
class Endpoint:
    """One pod interface, by model identity."""

    pod: str
    ifname: str
    node: str
    kind: str               # standalone | overlay
    vlan: int | None        # None for the overlay's eth0
    vlan_label: str
    default: bool
    network: str | None
    families: tuple[int, ...] = (4,)   # the address families the interface has (4, 6)

    @property
    def key(self) -> str:
        return f"{self.pod}/{self.ifname}"

    @property
    def label(self) -> str:
        suffix = "" if self.ifname == "eth0" else f":{self.ifname}"
        return f"{self.vlan_label}/{self.pod}{suffix}"

    @property
    def macvlan(self) -> bool:
        return self.network is not None


@dataclass(frozen=True)
class MacOwner:
    """Who must have sent a frame: an endpoint (``pod/ifname``) or a VLAN's vlanif."""

    kind: str   # endpoint | vlanif
    ref: str    # "pod/ifname" or VLAN id

    def __str__(self) -> str:
        return f"{self.kind} {self.ref}"


@dataclass(frozen=True)
class Case:
    """One check instance: expected verdict and the evidence that proves it."""

    check: str
    src: Endpoint
    dst: Endpoint | None
    expected: Verdict
    ttl: int | None = None
    mac_owner: MacOwner | None = None
    target: str | None = None          # for non-endpoint destinations: "gateway 100", "master worker1"
    control: "Case | None" = None      # the positive control run in the same window (negative cases)
    params: dict = field(default_factory=dict, compare=False, hash=False)
    ip_version: int = 4                # the address family probed; IPv6 cases end their id in " [ipv6]"

    @property
    def id(self) -> str:
        suffix = "" if self.ip_version == 4 else f" [ipv{self.ip_version}]"
        if self.dst is not None:
            return f"{self.src.label} -> {self.dst.label}{suffix}"
        return (f"{self.src.label} -> {self.target}" if self.target else self.src.label) + suffix


def common_families(*eps: Endpoint) -> tuple[int, ...]:
    """The address families every one of ``eps`` has, IPv4 first."""
    return tuple(f for f in (4, 6) if all(f in e.families for e in eps))


def endpoints(topology: Topology) -> list[Endpoint]:
    """Every pod interface of the topology, in pod order."""
    result = []
    for pod in topology.pods:
        for att in topology.attachments(pod.name):
            vlan = att.vlan.id if att.vlan else None
            label = att.vlan.label if att.vlan else "overlay"
            result.append(Endpoint(pod.name, att.ifname, pod.node, att.kind, vlan, label, att.default,
                                   att.network.ref if att.network else None, att.families))
    return result


def _vlan_pods(eps: list[Endpoint], vlan: int) -> set[str]:
    return {e.pod for e in eps if e.vlan == vlan}


# --- reachability --------------------------------------------------------------------------------
def intra_vlan_cases(topology: Topology) -> list[Case]:
    """Every ordered pair of macvlan interfaces of different pods in the same VLAN: direct L2."""
    eps = [e for e in endpoints(topology) if e.macvlan]
    cases = []
    for src in eps:
        for dst in eps:
            if src.pod != dst.pod and src.vlan == dst.vlan:
                check = "intra-vlan.same-node" if src.node == dst.node else "intra-vlan.cross-node"
                cases += [Case(check, src, dst, Verdict.REACHABLE_L2, ttl=64, mac_owner=MacOwner("endpoint", dst.key),
                               ip_version=f) for f in common_families(src, dst)]
    return cases


def routed_endpoints(topology: Topology) -> list[Endpoint]:
    """Interfaces that carry the pod's default route through their VLAN's gateway (standalone eth0)."""
    return [e for e in endpoints(topology) if e.macvlan and e.default]


def inter_vlan_cases(topology: Topology) -> list[Case]:
    """Ordered pairs of routed interfaces in different VLANs: one hop through the source's vlanif.

    Pairs where either pod also has an interface in the other's VLAN are left out: such pods answer
    over that interface directly (an asymmetric path, not the routing under test).
    A pair that must stay blocked (a VLAN without vlanif) carries a positive control: the source reaches
    a peer of its own VLAN. Without such a peer the pair is not probed: silence alone proves nothing.
    """
    all_eps = endpoints(topology)
    eps = routed_endpoints(topology)
    macvlans = [e for e in all_eps if e.macvlan]
    routed = set(topology.routed_vlans)
    cases = []
    for src in eps:
        for dst in eps:
            if src.vlan == dst.vlan or src.pod in _vlan_pods(all_eps, dst.vlan) \
                    or dst.pod in _vlan_pods(all_eps, src.vlan):
                continue
            for f in common_families(src, dst):
                if src.vlan in routed and dst.vlan in routed:
                    cases.append(Case("inter-vlan.routed", src, dst, Verdict.REACHABLE_ROUTED, ttl=63,
                                      mac_owner=MacOwner("vlanif", str(src.vlan)), ip_version=f))
                    continue
                peer = next((e for e in macvlans if e.vlan == src.vlan and e.pod != src.pod and f in e.families), None)
                if peer is not None:
                    control = Case("inter-vlan.blocked-control", src, peer, Verdict.REACHABLE_L2, ttl=64,
                                   mac_owner=MacOwner("endpoint", peer.key), ip_version=f)
                    cases.append(Case("inter-vlan.routed", src, dst, Verdict.BLOCKED, control=control, ip_version=f))
    return cases


def ttl_expiry_cases(topology: Topology) -> list[Case]:
    """Per routed interface and other VLAN: a TTL=1 probe is answered with time-exceeded by the gateway."""
    cases = []
    seen = set()
    for case in inter_vlan_cases(topology):
        key = (case.src.key, case.dst.vlan, case.ip_version)
        if case.expected == Verdict.REACHABLE_ROUTED and key not in seen:
            seen.add(key)
            cases.append(Case("inter-vlan.ttl-expiry", case.src, case.dst, Verdict.TIME_EXCEEDED,
                              mac_owner=MacOwner("vlanif", str(case.src.vlan)),
                              params={"gateway_vlan": case.src.vlan}, ip_version=case.ip_version))
    return cases


def gateway_cases(topology: Topology) -> list[Case]:
    """Every macvlan interface resolves its VLAN's gateway to that VLAN's vlanif, and only to it. In a VLAN
    without vlanif nobody answers (with a same-VLAN ARP as control; without a peer the case is left out)."""
    routed = set(topology.routed_vlans)
    eps = [e for e in endpoints(topology) if e.macvlan]
    cases = []
    for e, f in ((e, f) for e in eps for f in e.families):
        common = {"mac_owner": MacOwner("vlanif", str(e.vlan)), "target": f"gateway vlan{e.vlan}",
                  "params": {"vlan": e.vlan}, "ip_version": f}
        if e.vlan in routed:
            cases.append(Case("gateway.arp", e, None, Verdict.ARP_FROM_VLANIF, **common))
            continue
        peer = next((p for p in eps if p.vlan == e.vlan and p.pod != e.pod and f in p.families), None)
        if peer is not None:  # no vlanif: silence, next to a control that ARP works from this pod at all
            control = Case("gateway.arp-control", e, peer, Verdict.ARP_REPLY, ip_version=f)
            cases.append(Case("gateway.arp", e, None, Verdict.NO_ARP_REPLY, control=control, **common))
    return cases


def unique_ip_cases(topology: Topology) -> list[Case]:
    """Every macvlan interface's address is answered for by that interface alone (no duplicate IP), per family.

    A peer in the same VLAN (on another node when there is one) sends the ARP who-has (IPv6: the Neighbor
    Solicitation).
    """
    eps = [e for e in endpoints(topology) if e.macvlan]
    cases = []
    for dst, f in ((e, f) for e in eps for f in e.families):
        peers = [e for e in eps if e.vlan == dst.vlan and e.pod != dst.pod and f in e.families]
        peers.sort(key=lambda e: e.node == dst.node)  # prefer a peer on another node
        if peers:
            cases.append(Case("addressing.unique-ip", peers[0], dst, Verdict.ARP_REPLY,
                              mac_owner=MacOwner("endpoint", dst.key), ip_version=f))
    return cases


def dad_cases(topology: Topology) -> list[Case]:
    """Every macvlan interface with an IPv6 address: its addresses finished duplicate address detection (none is
    tentative or dadfailed, DAD is on), and a newcomer's DAD probe for its address, sent by a peer of the same
    VLAN (on another node when there is one), is defended by this interface alone. Without a peer only the
    interface's own state is checked."""
    eps = [e for e in endpoints(topology) if e.macvlan and 6 in e.families]
    cases = []
    for e in eps:
        peers = sorted((p for p in eps if p.vlan == e.vlan and p.pod != e.pod), key=lambda p: p.node == e.node)
        cases.append(Case("addressing.dad", e, None, Verdict.MATCHES, mac_owner=MacOwner("endpoint", e.key),
                          target="duplicate address detection", ip_version=6,
                          params={"peer": peers[0].key if peers else None}))
    return cases


def ra_cases(topology: Topology) -> list[Case]:
    """Every macvlan interface with an IPv6 address takes nothing from router advertisements (no route, no SLAAC
    address): its routes are those Spiderpool returned, since no topology of ours announces a router. The control:
    the interface's own IPv6 subnet route is seen (the routes were read at all)."""
    cases = []
    for e in (e for e in endpoints(topology) if e.macvlan and 6 in e.families):
        control = Case("gateway.ra-control", e, None, Verdict.MATCHES, target="its IPv6 subnet route", ip_version=6)
        cases.append(Case("gateway.ra", e, None, Verdict.MATCHES, target="router advertisements", control=control,
                          ip_version=6, params={"vlan": e.vlan}))
    return cases


IP_REUSE_BOUND_S = 3.0  # a peer's kernel learns the new MAC from the gratuitous ARP at once; a stale entry lasts 15-45 s


def ip_reuse_cases(topology: Topology) -> list[Case]:
    """Per VLAN, one pod NIC whose address is reused with a new MAC (the victim, ``dst``), watched by a peer of
    the same VLAN (``src``; on another node when there is one, so the announcement must cross the trunk).

    Victims and peers are the macvlan NICs of pods with no other macvlan NIC, so they sit in one VLAN each and
    the cases of a batch (one per VLAN) touch different pods. The control: the peer reaches the victim before."""
    eps = [e for e in endpoints(topology) if e.macvlan and 4 in e.families]  # announced by gratuitous ARP
    single = [e for e in eps if sum(1 for o in eps if o.pod == e.pod) == 1]
    cases = []
    for vlan in dict.fromkeys(e.vlan for e in single):
        in_vlan = [e for e in single if e.vlan == vlan]
        for victim in in_vlan:
            peers = sorted((e for e in in_vlan if e.pod != victim.pod), key=lambda e: e.node == victim.node)
            if peers:
                control = Case("addressing.ip-reuse-control", peers[0], victim, Verdict.REACHABLE)
                cases.append(Case("addressing.ip-reuse", peers[0], victim, Verdict.REACHABLE, control=control,
                                  params={"bound_s": IP_REUSE_BOUND_S}))
                break
    return cases


def overlay_cases(topology: Topology) -> list[Case]:
    """Overlay eth0 of every pod with an overlay eth0 (plain and macvlan-overlay pods) reach each other."""
    eps = [e for e in endpoints(topology) if e.kind == "overlay" and not e.macvlan]
    return [Case("overlay.coexistence", src, dst, Verdict.REACHABLE) for src in eps for dst in eps
            if src.pod != dst.pod]


# --- isolation ------------------------------------------------------------------------------------
def cross_vlan_arp_cases(topology: Topology) -> list[Case]:
    """ARP for an address of another VLAN is never answered; control: ARP for a same-VLAN peer is."""
    eps = [e for e in endpoints(topology) if e.macvlan]
    cases = []
    for src, f in ((e, f) for e in eps for f in e.families):
        peers = [e for e in eps if e.vlan == src.vlan and e.pod != src.pod and f in e.families]
        if not peers:
            continue
        peers.sort(key=lambda e: e.node == src.node)  # prefer a control across the trunk
        control = Case("isolation.arp-control", src, peers[0], Verdict.ARP_REPLY, ip_version=f)
        others = {}
        for e in eps:
            if e.vlan != src.vlan and e.vlan not in others and e.pod != src.pod and f in e.families:
                others[e.vlan] = e
        for dst in others.values():
            cases.append(Case("isolation.cross-vlan-arp", src, dst, Verdict.NO_ARP_REPLY, control=control,
                              ip_version=f))
    return cases


def broadcast_cases(topology: Topology) -> list[Case]:
    """A broadcast sent in one VLAN is not seen in another; control: a same-VLAN receiver sees it.

    One sender per (VLAN, node) that has a pod in the VLAN, so that a leak only one node's trunk creates is
    probed from that node too; one case per sender and other VLAN, whose receivers are that VLAN's macvlan
    interfaces. A sender without a same-VLAN witness (its control) is not a case.
    """
    eps = [e for e in endpoints(topology) if e.macvlan]
    vlans = sorted({e.vlan for e in eps})
    cases = []
    for a in vlans:
        in_vlan = [e for e in eps if e.vlan == a]
        for node in dict.fromkeys(e.node for e in in_vlan):
            sender = next(e for e in in_vlan if e.node == node)
            # a witness across the trunk first
            witnesses = sorted((w for w in in_vlan if w.pod != sender.pod), key=lambda w: w.node == node)
            if not witnesses:
                continue
            control = Case("isolation.broadcast-control", sender, witnesses[0], Verdict.SEEN)
            for b in (v for v in vlans if v != a):
                receivers = [e for e in eps if e.vlan == b and e.pod != sender.pod]
                if receivers:
                    cases.append(Case("isolation.broadcast", sender, None, Verdict.NOT_SEEN, control=control,
                                      target=f"vlan{b} ({len(receivers)} receivers)",
                                      params={"receivers": [r.key for r in receivers], "vlan": b}))
    return cases


def own_master_cases(topology: Topology) -> list[Case]:
    """A macvlan child cannot reach its own master's IP; control: a pod on another node in that VLAN can.

    Only masters with an IP in the model (the node IP on the native VLAN's ``bond0``) are covered, and only
    where a pod on another node can serve as the control; pods with the coordinator's veth0 reach their node
    through it instead (``node_reachability_cases``).
    """
    native = topology.switch.native_vlan
    eps = [e for e in endpoints(topology) if e.macvlan and e.vlan == native and 4 in e.families]  # node IPs: IPv4
    cases = []
    for src in eps:
        if coordinator.has_veth(topology.attachments(src.pod)):
            continue  # the coordinator routes the node's addresses through veth0: host.node-reachability
        node = topology.node(src.node)
        control_src = next((e for e in eps if e.node != src.node), None)
        if control_src is None:
            continue
        control = Case("isolation.own-master-control", control_src, None, Verdict.REACHABLE,
                       target=f"master {node.name}", params={"ip": str(node.ip)})
        cases.append(Case("isolation.own-master", src, None, Verdict.BLOCKED, control=control,
                          target=f"master {node.name} ({node.bond.name} {node.ip})", params={"ip": str(node.ip)}))
    return cases


# --- the pod's node and the cluster's Services ------------------------------------------------------------
def node_reachability_cases(topology: Topology) -> list[Case]:
    """Every standalone pod's eth0 to the address of each node (its ``bond0``, native VLAN).

    Its own node: through ``veth0`` with no router on the path where the coordinator gave it one; without one, a
    native-VLAN pod cannot reach its own master (macvlan parent isolation; control: a pod of another node
    reaches that address) and a tagged-VLAN pod reaches it through the vlanifs (one routing hop). Other nodes:
    directly from the native VLAN, through the vlanifs from a routed tagged VLAN; no case otherwise.
    """
    native, routed = topology.switch.native_vlan, set(topology.routed_vlans)
    macvlans = [e for e in endpoints(topology) if e.macvlan and 4 in e.families]  # the nodes' addresses are IPv4
    cases = []
    for src in (e for e in macvlans if e.default):
        veth = coordinator.has_veth(topology.attachments(src.pod))
        for node in topology.nodes:
            common = {"target": f"node {node.name} ({node.ip})"}
            params = {"ip": str(node.ip), "node": node.name}
            if node.name == src.node and veth:
                cases.append(Case("host.node-reachability", src, None, Verdict.REACHABLE_L2, ttl=64,
                                  params={**params, "dev": coordinator.VETH}, **common))
            elif src.vlan == native:
                if node.name != src.node:
                    cases.append(Case("host.node-reachability", src, None, Verdict.REACHABLE_L2, ttl=64,
                                      params={**params, "dev": src.ifname}, **common))
                    continue
                peer = next((e for e in macvlans if e.vlan == native and e.node != node.name), None)
                if peer is not None:
                    control = Case("host.node-control", peer, None, Verdict.REACHABLE, params=params, **common)
                    cases.append(Case("host.node-reachability", src, None, Verdict.BLOCKED, control=control,
                                      params={**params, "dev": src.ifname}, **common))
            elif native is not None and {src.vlan, native} <= routed:  # the probe checks TTL and the gateway
                cases.append(Case("host.node-reachability", src, None, Verdict.REACHABLE_ROUTED, ttl=63,
                                  params={**params, "dev": src.ifname}, **common))
    return cases


def service_cases(topology: Topology) -> list[Case]:
    """Every pod with a path to the cluster's Services reaches the ``kubernetes`` Service on its ClusterIP: pods
    whose eth0 is the overlay's (their node's Service rules) and standalone pods with the coordinator's veth0
    (it routes the Service CIDR to the node). A standalone pod without one has no path: not a case."""
    first_nics = {e.pod: e for e in reversed(endpoints(topology))}  # each pod's first interface
    cases = []
    for pod in topology.pods:
        atts = topology.attachments(pod.name)
        eth0 = first_nics[pod.name]
        if atts[0].network is None or coordinator.has_veth(atts):
            params = {"dev": coordinator.VETH} if atts[0].network is not None else {}  # overlay: its own path
            cases.append(Case("services.cluster-ip", eth0, None, Verdict.REACHABLE,
                              target="service default/kubernetes", params=params))
    return cases


# --- attachment rules -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleCase:
    """A pod probing the multus-underlay contract: whether the cluster must refuse it, and why.

    ``enforcer`` is the coordinator's error that refuses it (None for a pod that must come up); a refusal counts
    as enforcement only when it carries ``marker``, the part of that error which names the rule."""

    name: str
    pod: Pod
    expected: Verdict
    why: str
    enforcer: str | None = None
    control: bool = False   # a pod that keeps the contract (it must come up)

    @property
    def marker(self) -> str | None:
        """The fragment of ``enforcer`` that names the rule (``coordinator.REFUSAL_MARKERS``), if any."""
        return next((m for m in coordinator.REFUSAL_MARKERS if m in (self.enforcer or "")), None)


def rule_cases(topology: Topology) -> list[RuleCase]:
    """Pods that break the multus-underlay contract, and the controls that keep it (they must come up).

    Only the coordinator enforces the contract, and only in an explicit mode (spidernet-io/spiderpool
    ``cmd/coordinator/cmd/utils.go`` ``coordinatorModeAndFirstInvoke``; Multus enforces none of it, and ``auto``
    never refuses): a contract-breaking pod is expected REFUSED where the topology's coordinator refuses it, and
    CREATED, reported as "not enforced, as the topology declares", where nothing does.
    """
    standalone = [n for n in topology.networks if n.type == "standalone"]
    overlay = [n for n in topology.networks if n.type == "overlay"]
    node = topology.nodes[0]

    def usable(net) -> bool:
        vid = topology.master_vlan(net.master, node.bond.name)
        return vid == topology.switch.native_vlan or vid in node.vlans

    standalone = [n for n in standalone if usable(n)]
    overlay = [n for n in overlay if usable(n)]

    def pod(name: str, annotations: dict) -> Pod:
        return Pod(name=name, namespace="default", node=node.name, annotations=annotations)

    def breaking(name: str, probe: Pod, why: str) -> RuleCase:
        refusal = coordinator.refusal(resolve(probe))
        if refusal is None:
            return RuleCase(name, probe, Verdict.CREATED, f"{why}: not enforced, as the topology declares (no "
                            f"coordinator in an explicit mode refuses it)")
        return RuleCase(name, probe, Verdict.REFUSED, why, enforcer=refusal)

    def resolve(probe: Pod):
        return resolve_attachments(topology, probe)

    def allowed(name: str, annotations: dict) -> Pod | None:
        """A control pod, if the topology's coordinators let it come up (a network in an explicit mode that does
        not fit this use would refuse even a pod that keeps the contract)."""
        probe = pod(name, annotations)
        return probe if coordinator.refusal(resolve(probe)) is None else None

    cases = []
    if overlay:
        o = overlay[0]
        cases.append(breaking("overlay-as-default", pod("rule-ovl-default", {ann.DEFAULT_NETWORK: o.ref}),
                              f"{o.ref} (type overlay) as the default network"))
        control = next(((n, p) for n in overlay if (p := allowed("rule-ovl-extra", {ann.NETWORKS: n.ref}))), None)
        if control:
            cases.append(RuleCase("overlay-as-extra", control[1], Verdict.CREATED,
                                  f"{control[0].ref} as an extra NIC of an overlay pod (control)", control=True))
    if standalone and overlay:
        s, o = standalone[0], overlay[0]
        cases.append(breaking("standalone-plus-overlay",
                              pod("rule-mix-sa", {ann.DEFAULT_NETWORK: s.ref, ann.NETWORKS: o.ref}),
                              f"standalone eth0 {s.ref} with overlay extra {o.ref}"))
        cases.append(breaking("overlay-plus-standalone", pod("rule-mix-ov", {ann.NETWORKS: s.ref}),
                              f"overlay eth0 with standalone extra {s.ref}"))
    pairs = [(s, extra) for s in standalone for extra in standalone if extra is not s] + \
        [(s, s) for s in standalone]  # another network as the extra NIC first
    control = next(((s, extra, p) for s, extra in pairs if (p := allowed(
        "rule-sa-sa", {ann.DEFAULT_NETWORK: s.ref, ann.NETWORKS: f"{extra.ref}@net1"}))), None)
    if control:
        s, extra, probe = control
        cases.append(RuleCase("standalone-plus-standalone", probe, Verdict.CREATED,
                              f"standalone eth0 {s.ref} with standalone extra {extra.ref} (control)", control=True))
    return cases


# --- MTU ---------------------------------------------------------------------------------------------
def mtu_cases(topology: Topology) -> list[Case]:
    """Per macvlan interface in a routed VLAN and family: pod MTU = master MTU; a ping that fills the MTU (IPv4 DF:
    MTU-28 bytes of payload, IPv6: MTU-48, and IPv6 never fragments on path) passes, one byte more does not."""
    routed = set(topology.routed_vlans)
    cases = []
    for e in endpoints(topology):
        if not e.macvlan or e.vlan not in routed:
            continue
        network = topology.network(e.network)
        mtu = network.mtu or topology.switch.mtu
        cases += [Case("mtu.df-ping", e, None, Verdict.MATCHES, target=f"gateway vlan{e.vlan}",
                       params={"mtu": mtu, "vlan": e.vlan}, ip_version=f) for f in e.families]
    return cases


def by_check(cases: list[Case]) -> dict[str, list[Case]]:
    grouped: dict[str, list[Case]] = {}
    for case in cases:
        grouped.setdefault(case.check, []).append(case)
    return grouped


def bond_path_cases(topology: Topology) -> list[Case]:
    """The pairs that must carry traffic across node bonds: cross-node intra-VLAN and routed inter-VLAN
    pairs expected to be reachable (a bond failover can only be seen on traffic that flows)."""
    return [c for c in intra_vlan_cases(topology) + inter_vlan_cases(topology)
            if c.check in ("intra-vlan.cross-node", "inter-vlan.routed")
            and c.expected in (Verdict.REACHABLE_L2, Verdict.REACHABLE_ROUTED)]

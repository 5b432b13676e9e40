"""The check registry: every conformance check declared once, as data.

A ``Check`` says what the check is (stable id, area, MUST lines), which modes it concerns, what it is
run over (``subject``: probed ``case``s from a generator, or a ``pod``, a ``rule`` pod, a ``bond_member``),
how its cases are probed (``probe``: a name in ``probes.PROBES``), whether they wait out a window, may be
sampled, are drawn as a matrix, which Allure category a failure falls in, and which target capabilities
it needs. Everything else (suite parametrization, probing, sampling, reports, Allure, faults, the
catalogue) reads from here; an id that is not registered is an ``UnknownCheck`` error wherever it appears.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum

from . import expectations as ex
from .topology import Topology


class Capability(str, Enum):
    """What a target can observe or do. A check needing one the target lacks says so in its result."""

    MASTER_IFINDEX = "master ifindex"        # the ifindex of each node's bond0.<vid> (macvlan parent check)
    MASTER_MTU = "master MTU"                # the MTU of each node's masters
    BOND_CONTROL = "bond control"            # taking a node's bond members down and up
    MAC_TABLES = "switch MAC tables"         # the switch's learned MACs (diagnostics of resilience)
    NETWORK_OBJECTS = "network objects"      # the NADs and SpiderIPPools as the cluster's API stores them
    SERVICE_ROUTING = "service routing"      # Services answer on their ClusterIP (kube-proxy or a replacement)
    NIC_RECREATION = "NIC recreation"        # a pod's macvlan NIC recreated with its address and a new MAC


class Category(str, Enum):
    """Allure categories of failures."""

    ISOLATION = "isolation breach"
    ROUTING = "routing failure"
    ALLOCATION = "allocation error"
    RULES = "rule not enforced"
    RESILIENCE = "resilience failure"


class UnknownCheck(ValueError):
    pass


STANDALONE, OVERLAY, FABRIC = "macvlan-standalone", "macvlan-overlay", "fabric"


@dataclass(frozen=True)
class Check:
    id: str
    area: str
    summary: str
    must: tuple[str, ...]
    category: Category
    subject: str = "case"                                  # case | pod | rule | bond_member | network
    generate: Callable[[Topology], list[ex.Case]] | None = None  # subject "case": may yield other checks' cases
    probe: str | None = None                               # subject "case": a name in probes.PROBES
    modes: tuple[str, ...] = (STANDALONE, OVERLAY)
    windowed: bool = False          # its probes wait out a window: probed in the run's one windowed batch
    sampled: bool = False           # --matrix sampled keeps one case per (VLAN pair, node pair)
    matrix: bool = False            # drawn in the report's per-VLAN connectivity matrices
    exclusive: bool = False         # changes the network: no other test probes meanwhile
    needs: frozenset[Capability] = field(default_factory=frozenset)     # else parts are "not checked"
    requires: frozenset[Capability] = field(default_factory=frozenset)  # else not applicable

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]

    def cases(self, topology: Topology) -> list[ex.Case]:
        if self.generate is None:
            return []
        return [c for c in self.generate(topology) if c.check == self.id]


_REACH = "MUST an ICMP echo is answered with TTL 64 (no router on the path)."
_PEER_MAC = "MUST the reply's source MAC is the peer's own interface MAC."

CHECKS: tuple[Check, ...] = (
    Check("allocation.interfaces", "allocation", "Each pod's interfaces match its Multus annotations.", (
        "MUST standalone: eth0 is a macvlan child (bridge mode, or the network's mode) of that node's bond0.<vid>.",
        "MUST standalone: eth0's IP is in the selected pool; the default route goes via the pool gateway.",
        "MUST overlay: eth0 is the overlay's interface (IP in the node's pod CIDR) and keeps the default route.",
        "MUST overlay: the macvlan is net1 (or the annotated name), IP in its pool, no default route in the main "
        "table.",
        "MUST dual-NIC standalone: the extra macvlan NIC sits on its own VLAN master, without a default route in "
        "the main table.",
        "MUST exactly one default route in the main table, on the NIC that keeps it (the first NIC that has one, or "
        "the coordinator's podDefaultRouteNIC).",
        "MUST with the coordinator: a NIC whose routes it moved has its default route (where Spiderpool gave it "
        "one) in that NIC's table, and a rule from its address to that table; in underlay mode the pod has veth0 "
        "(an up veth) with the node's address routed through it, and no other extra interface.",
    ), Category.ALLOCATION, subject="pod", needs=frozenset({Capability.MASTER_IFINDEX})),
    Check("networks.declared", "allocation",
          "The cluster's NADs and SpiderIPPools that the pods attach to are what the topology declares.", (
              "MUST the NAD exists and its macvlan plugin has the topology's master, mode (absent: bridge) and MTU "
              "(absent: the master's).",
              "MUST its IPAM is the run's (Spiderpool: the pool it defaults to is the network's pool), and it chains "
              "no plugin the topology does not model.",
              "MUST with Spiderpool, the network's SpiderIPPool exists with the topology's subnet, gateway and "
              "addresses, and has at least as many free addresses as the run's pods take from it.",
          ), Category.ALLOCATION, subject="network", requires=frozenset({Capability.NETWORK_OBJECTS})),
    Check("network-status.consistent", "allocation",
          "The network-status annotation matches the model and what the pod sees.", (
              "MUST exactly one entry has default: true, and it is eth0.",
              "MUST every attachment has an entry with the network's namespace/name (the overlay's name for its eth0).",
              "MUST each entry's ips and mac equal the addresses and MAC the pod has on that interface.",
          ), Category.ALLOCATION, subject="pod"),
    Check("intra-vlan.same-node", "intra-VLAN",
          "Same VLAN, same node: macvlan bridge mode switches the frame between siblings.", (_REACH, _PEER_MAC),
          Category.ROUTING, generate=ex.intra_vlan_cases, probe="echo", sampled=True, matrix=True),
    Check("intra-vlan.cross-node", "intra-VLAN",
          "Same VLAN, different nodes: across both bonds and the switch trunk, still one L2 domain.",
          (_REACH, _PEER_MAC), Category.ROUTING, generate=ex.intra_vlan_cases, probe="echo", sampled=True,
          matrix=True),
    Check("gateway.arp", "inter-VLAN",
          "ARP (IPv6: Neighbor Solicitation) for the pool gateway is answered by the switch vlanif of the pod's "
          "VLAN, and only by it.", (
              "MUST exactly one MAC answers ARP (IPv6: a Neighbor Advertisement) for the gateway IP.",
              "MUST that MAC is the vlanif of the pod's VLAN.",
          ), Category.ROUTING, generate=ex.gateway_cases, probe="gateway", windowed=True),
    Check("gateway.ra", "inter-VLAN",
          "Pods take no route and no address from IPv6 router advertisements: their routes are Spiderpool's.", (
              "MUST a pod's macvlan interface has no route learned from a router advertisement (proto ra) and no "
              "global IPv6 address Spiderpool did not give it (SLAAC).",
              "MUST (control) the interface's own IPv6 subnet route is seen.",
          ), Category.ROUTING, generate=ex.ra_cases, probe="ra"),
    Check("inter-vlan.routed", "inter-VLAN", "A pod reaches a pod of another VLAN through its gateway.", (
        "MUST an ICMP echo is answered with TTL 63 (exactly one routing hop).",
        "MUST the reply arrives from the source VLAN's vlanif MAC.",
    ), Category.ROUTING, generate=ex.inter_vlan_cases, probe="echo", sampled=True, matrix=True),
    Check("inter-vlan.ttl-expiry", "inter-VLAN", "The first hop towards another VLAN is the pod's gateway.", (
        "MUST an ICMP echo with TTL 1 (IPv6: hop limit 1) is answered by time-exceeded from the gateway IP.",
        "MUST that answer arrives from the source VLAN's vlanif MAC.",
    ), Category.ROUTING, generate=ex.ttl_expiry_cases, probe="ttl", sampled=True),
    Check("addressing.unique-ip", "isolation",
          "No address is claimed twice in a VLAN (Spiderpool pools must not hand one out twice).", (
              "MUST an ARP who-has (IPv6: a Neighbor Solicitation) for a pod's address, sent by a peer in the same "
              "VLAN, is answered by exactly one MAC: the pod interface's own.",
          ), Category.ALLOCATION, generate=ex.unique_ip_cases, probe="unique_ip", windowed=True),
    Check("addressing.dad", "isolation",
          "IPv6 duplicate address detection ran and would catch a duplicate (RFC 4862 5.4).", (
              "MUST no IPv6 address of a pod's macvlan interface is tentative or dadfailed, and DAD is on there "
              "(accept_dad >= 1).",
              "MUST a newcomer's DAD probe for the address (a Neighbor Solicitation from ::), sent by a peer in the "
              "same VLAN, is defended by exactly one MAC: the interface's own.",
          ), Category.ALLOCATION, generate=ex.dad_cases, probe="dad", windowed=True),
    Check("addressing.ip-reuse", "isolation",
          "A pod NIC recreated with the same IP and a new MAC is reached by its peers without flushing their "
          "neighbour tables (stale ARP after IP reuse).", (
              "MUST (control) before the reuse, the peer reaches the pod with its own ping (kernel neighbour table).",
              f"MUST after the NIC is recreated with the same address and a new MAC, the peer's own ping reaches it "
              f"within {ex.IP_REUSE_BOUND_S:g} s, and the peer's neighbour entry names the new MAC.",
          ), Category.ALLOCATION, generate=ex.ip_reuse_cases, probe="ip_reuse", exclusive=True,
          requires=frozenset({Capability.NIC_RECREATION})),
    Check("isolation.cross-vlan-arp", "isolation", "ARP and IPv6 Neighbor Discovery do not cross VLANs.", (
        "MUST an ARP who-has (IPv6: a Neighbor Solicitation) for an address in another VLAN gets no reply.",
        "MUST (control) the same for a same-VLAN peer from the same pod gets a reply.",
    ), Category.ISOLATION, generate=ex.cross_vlan_arp_cases, probe="cross_arp", windowed=True),
    Check("isolation.broadcast", "isolation", "A broadcast frame stays in its VLAN.", (
        "MUST a broadcast marker sent in one VLAN is not captured by any interface of another VLAN.",
        "MUST (control) the same marker is captured by another pod in the sender's VLAN.",
    ), Category.ISOLATION, generate=ex.broadcast_cases, probe="broadcast", windowed=True),
    Check("isolation.own-master", "isolation",
          "macvlan parent isolation: a child cannot talk to its own master (pods with the coordinator's veth0 reach "
          "their node through it instead: host.node-reachability).", (
              "MUST a ping from a macvlan pod to its own master's IP (the node IP on bond0) gets no reply.",
              "MUST (control) a pod of the same VLAN on another node reaches that master IP.",
          ), Category.ISOLATION, generate=ex.own_master_cases, probe="echo", windowed=True, modes=(STANDALONE,)),
    Check("host.node-reachability", "host", "A standalone pod reaches the nodes as its coordinator mode says.", (
        "MUST with the coordinator's veth0 (underlay mode): the pod's own ping to its node's address leaves "
        "through veth0 and is answered with TTL 64 (no router on the path).",
        "MUST without it, from the native VLAN: the pod's own node does not answer (macvlan parent isolation), "
        "while (control) a pod on another node reaches that address.",
        "MUST without it, from a routed tagged VLAN: the own node answers through the vlanifs (TTL 63).",
        "MUST other nodes: answered with TTL 64 from the native VLAN, with TTL 63 through the vlanifs from a "
        "routed tagged VLAN.",
    ), Category.ROUTING, generate=ex.node_reachability_cases, probe="host", windowed=True, modes=(STANDALONE,)),
    Check("services.cluster-ip", "services",
          "Pods reach the cluster's kubernetes Service on its ClusterIP (a standalone pod without the coordinator's "
          "veth0 has no path to the node's Service rules: not a case).", (
              "MUST a TCP connection to the ClusterIP and port of Service default/kubernetes is accepted from every "
              "pod whose eth0 is the overlay's and every standalone pod with the coordinator's veth0 (it routes the "
              "Service CIDR to the node), and from the latter it leaves through veth0.",
          ), Category.ROUTING, generate=ex.service_cases, probe="service",
        requires=frozenset({Capability.SERVICE_ROUTING})),
    Check("rules.attachment", "rules",
          "Pods that break the contract are refused where the coordinator enforces it; pods that keep it come up.", (
              "MUST where the topology's coordinator (explicit overlay mode) refuses it: a pod whose default network "
              "(eth0) is a macvlan-overlay network is refused, and the refusal is the coordinator's error for it.",
              "MUST where the coordinator refuses it (explicit modes): a pod mixing standalone and overlay networks is "
              "refused, either way round, by the coordinator's error for it.",
              "MUST where nothing in the topology enforces the contract (no coordinator, or auto mode): such pods come "
              "up, reported as not enforced.",
              "MUST (control) an overlay pod with a macvlan-overlay extra NIC, and a standalone pod with a "
              "standalone extra NIC, come up.",
          ), Category.RULES, subject="rule"),
    Check("overlay.coexistence", "overlay",
          "Overlay eth0 of plain overlay pods and of macvlan-overlay pods reach each other, across nodes.", (
              "MUST an ICMP echo over eth0 between overlay interfaces is answered.",
          ), Category.ROUTING, generate=ex.overlay_cases, probe="echo", sampled=True, modes=(OVERLAY,)),
    Check("mtu.df-ping", "MTU",
          "The pod's MTU is its master's and the path to the gateway carries full-size frames.", (
              "MUST the pod interface MTU equals the network MTU and the master's MTU.",
              "MUST a DF ping of MTU-28 bytes (IPv6: MTU-48; `-M do` forbids fragmenting at the source, and routers "
              "never fragment IPv6) to the gateway passes.",
              "MUST a DF ping of MTU-27 bytes (IPv6: MTU-47) does not.",
          ), Category.ROUTING, generate=ex.mtu_cases, probe="mtu", windowed=True,
          needs=frozenset({Capability.MASTER_MTU})),
    Check("resilience.bond-member-down", "resilience",
          "With one member of a node's bond down, the node's underlay paths behave exactly as before.", (
              "MUST with either bond member down, every intra-VLAN (cross-node) and inter-VLAN pair involving the "
              "node's pods (with --matrix sampled: one per VLAN pair and node pair) gives the verdict it gave just "
              "before, once the bond and the switch's MAC learning have converged (within 5 s; the first full "
              "round that matches is the measurement, its time is recorded).",
              "MUST when the active member goes down, the bond fails over to the other member.",
              "MUST after the member is restored, the pairs again give the verdicts they gave before.",
              "MUST (control) at least one of those pairs is reachable before the fault, so that \"unchanged\" "
              "means something.",
              "MUST judge only the pairs whose verdict was the one the topology expects both in their own check "
              "and in a round just before the fault; the others are listed as not judged (a pair broken already "
              "is its own check's failure, not the bond's).",
          ), Category.RESILIENCE, subject="bond_member", modes=(FABRIC,), exclusive=True,
          requires=frozenset({Capability.BOND_CONTROL})),
)

REGISTRY: dict[str, Check] = {c.id: c for c in CHECKS}
assert len(REGISTRY) == len(CHECKS), "a check id is declared twice"


def get(check_id: str, where: str = "") -> Check:
    """The registered check ``check_id``; ``UnknownCheck`` naming ``where`` it was found otherwise."""
    try:
        return REGISTRY[check_id]
    except (KeyError, TypeError):
        place = f"{where}: " if where else ""
        raise UnknownCheck(f"{place}unknown check id {check_id!r}; known checks: {', '.join(REGISTRY)}") from None


def require(check_ids: Iterable[str], where: str = "") -> frozenset[str]:
    """``check_ids`` as a set, each one verified to be registered."""
    return frozenset(get(c, where).id for c in check_ids)


def case_checks() -> list[Check]:
    return [c for c in CHECKS if c.subject == "case"]


def cases_for(topology: Topology, check_id: str) -> list[ex.Case]:
    """Every case of one probed check (``intra-vlan.cross-node``, ``gateway.arp``, ...)."""
    return get(check_id).cases(topology)


def all_cases(topology: Topology) -> list[ex.Case]:
    return [case for check in case_checks() for case in check.cases(topology)]


def sample(cases: list[ex.Case]) -> list[ex.Case]:
    """For very large matrices: one case per (check, source VLAN, destination VLAN, source node, destination
    node) of the sampled checks, so every VLAN pair and node pair stays covered. Other cases are kept."""
    kept, seen = [], set()
    for case in cases:
        if not get(case.check).sampled or case.dst is None:
            kept.append(case)
            continue
        key = (case.check, case.src.vlan, case.dst.vlan, case.src.node, case.dst.node, case.ip_version)
        if key not in seen:
            seen.add(key)
            kept.append(case)
    return kept


def area(check_id: str | None) -> str:
    """The report area of a check (an unregistered id from an old results file: its prefix)."""
    check = REGISTRY.get(check_id or "")
    return check.area if check else (check_id or "other").split(".", 1)[0]


def allure_categories() -> list[dict]:
    """Allure's categories.json: each category matches the failure messages of its checks (``[<id>] ...``)."""
    categories = []
    for category in Category:
        ids = [c.id for c in CHECKS if c.category == category]
        if ids:
            pattern = "|".join(i.replace(".", r"\.") for i in ids)
            categories.append({"name": category.value, "matchedStatuses": ["failed"],
                               "messageRegex": rf"(?s).*\[({pattern})\].*"})
    categories.append({"name": "probe error", "matchedStatuses": ["failed"], "messageRegex": r"(?s).*probe-error.*"})
    categories.append({"name": "flaky", "matchedStatuses": ["passed", "failed"], "flaky": True})
    return categories

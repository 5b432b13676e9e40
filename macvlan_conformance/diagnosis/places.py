"""Tokens as places (the ``place`` of a diagnosis, the vocabulary the fault catalogue declares too) and
as a one-sentence cause. A family-specific token of one family (``paths.family``) names its place's
``ip_version`` and says the family in its sentence."""

from __future__ import annotations

from collections import Counter

from .observations import Observation
from .paths import Paths, Token, family

KINDS = {  # token kind -> place kind
    "if": "pod-interface", "if-vlan": "pod-interface", "route": "pod-interface", "if-mode": "pod-interface",
    "if-mtu": "pod-interface", "address": "address", "net-down": "network", "net-vlan": "network",
    "net-mode": "network", "net-mtu": "network", "node-vlan": "node-vlan", "master": "node-vlan",
    "node": "node", "bond": "node", "member": "bond-member", "port-mtu": "switch-port", "vlanif": "vlanif",
    "vlanif-mtu": "vlanif", "gateway": "vlanif", "gateway-ip": "address", "router": "router",
    "router-filter": "router", "icmp-filter": "router", "ra": "vlan", "pair": "vlan-pair", "pair-1": "vlan-pair",
    "l2-leak": "vlan-pair", "overlay": "overlay", "admission": "admission", "pod": "pod", "announce": "announcements",
    "host-route": "host-route",
}
# The order of preference between places that explain the same results equally well (the same records
# through them): the narrower claim first (one VLAN pair before every pair), a network's mode or VLAN before
# one interface's (macvlan mode and master are settings of a network), one interface's link before its network.
# Between the tokens of one kind, every family before one family: a claim of one family only where the records
# tell the families apart.
PREFERENCE = ("net-mode", "net-vlan", "net-mtu", "if", "if-vlan", "route", "if-mode", "if-mtu", "address",
              "net-down", "member", "node-vlan", "master", "node", "bond", "port-mtu", "vlanif", "vlanif-mtu",
              "gateway", "gateway-ip", "pair-1", "pair", "l2-leak", "router-filter", "icmp-filter", "router", "ra",
              "overlay", "announce", "host-route", "admission", "pod")
assert set(PREFERENCE) == set(KINDS)


def preference(token: Token) -> tuple[int, int]:
    """The tie-break between equally good places, lower first: the kind's rank in ``PREFERENCE``, then every
    family before one family."""
    return PREFERENCE.index(token[0]), int(family(token) is not None)


def place(token: Token, paths: Paths) -> dict:
    """The place of ``token``: ``kind`` plus the fields that name it."""
    kind, args = token[0], token[1:]
    out: dict = {"kind": KINDS[kind]}
    if kind in ("if", "if-vlan", "route", "if-mode", "if-mtu", "address"):
        out.update(pod=args[0], ifname=args[1])
        endpoint = paths.endpoint(f"{args[0]}/{args[1]}")
        if endpoint is not None and endpoint.vlan is not None:
            out["vlan"] = endpoint.vlan
    elif kind.startswith("net-"):
        out["network"] = args[0]
    elif kind in ("node-vlan", "master"):
        out.update(node=args[0], vlan=args[1])
    elif kind in ("node", "bond", "port-mtu"):
        out["node"] = args[0]
    elif kind == "member":
        out.update(node=args[0], member=args[1])
    elif kind in ("vlanif", "vlanif-mtu", "gateway", "ra"):
        out["vlan"] = args[0]
    elif kind == "gateway-ip":
        out.update(vlan=args[0], ip=_gateways(paths, args[0], family(token)))
    elif kind in ("pair", "l2-leak"):
        out.update(src_vlan=args[0], dst_vlan=args[1], direction="both")
    elif kind == "pair-1":
        out.update(src_vlan=args[0], dst_vlan=args[1])
    elif kind in ("pod", "host-route"):
        out["pod"] = args[0]
    if family(token) is not None:
        out["ip_version"] = family(token)
    return out


def _gateways(paths: Paths, vid: int, f: int | None) -> str:
    """The VLAN's gateway address of family ``f`` (None: of every family it has, joined by " and ")."""
    vlan = paths.topology.vlan(vid)
    return " and ".join(str(vlan.gateway_of(x)) for x in vlan.families if f in (None, x))


def _ip(token: Token) -> str:
    """"IPv6 " for a token of IPv6 alone ("" for every family), to put before a noun."""
    f = family(token)
    return f"IPv{f} " if f is not None else ""


def cause(token: Token, paths: Paths, explained: list[Observation]) -> str:
    """One sentence: what is broken, and where."""
    kind, a, ip, f = token[0], token[1:], _ip(token), family(token)
    if kind == "if-vlan":
        heard = _heard_vlan(token, paths, explained)
        where = f"VLAN {heard}'s broadcast domain" if heard else "another broadcast domain"
        return (f"{a[0]}/{a[1]} sits in {where}, not VLAN {_vlan(paths, a)}'s: its macvlan master (or that "
                f"master's VLAN) is wrong")
    if kind == "vlanif" and a[0] not in paths.topology.routed_vlans:
        return f"VLAN {a[0]} is routed although the topology gives it no vlanif"
    sentences = {
        "if": lambda: f"{a[0]}/{a[1]} is down or detached: nothing goes in or out of it",
        "route": lambda: f"{a[0]} cannot route {ip}off its subnet through {a[1]}: its {ip}default route via the "
                         f"gateway is missing or wrong",
        "if-mode": lambda: f"{a[0]}/{a[1]} does not talk to its siblings on its master: its macvlan mode is not "
                           f"bridge",
        "if-mtu": lambda: f"{a[0]}/{a[1]} has the wrong MTU",
        "address": lambda: f"another host also claims the {ip}address of {a[0]}/{a[1]} (a duplicate IP)",
        "net-down": lambda: f"every interface of network {a[0]} is down or detached (its master?)",
        "net-vlan": lambda: f"network {a[0]} puts its pods in another VLAN's broadcast domain: its master is wrong",
        "net-mode": lambda: f"network {a[0]} attaches its pods in a macvlan mode that stops siblings on one node "
                            f"talking (not bridge)",
        "net-mtu": lambda: f"network {a[0]}'s pods have the wrong MTU",
        "node-vlan": lambda: f"VLAN {a[1]} does not cross {a[0]}'s trunk (missing from its switch ports' allowed "
                             f"VLANs, or from its bond)",
        "master": lambda: f"{a[0]}'s master for VLAN {a[1]} is down: its pods in that VLAN are cut off, siblings "
                          f"included",
        "node": lambda: f"nothing crosses {a[0]}'s trunk: its bond has no working member, or its switch ports "
                        f"are down",
        "bond": lambda: f"{a[0]}'s bond is down on the node: every master and every pod of it is cut off",
        "member": lambda: f"{a[0]}'s bond member {a[1]} is down or does not carry traffic: the bond has no "
                          f"redundancy left",
        "port-mtu": lambda: f"full-size frames do not cross {a[0]}'s link to the switch: its switch ports' (or "
                            f"bond's) MTU is below the network's",
        "vlanif": lambda: f"the vlanif of VLAN {a[0]} (gateway {_gateways(paths, a[0], None)}) is down or missing",
        "vlanif-mtu": lambda: f"the vlanif of VLAN {a[0]} drops full-size frames: its MTU is below the network's",
        "gateway": lambda: f"the vlanif of VLAN {a[0]} does not answer for its {ip}gateway "
                           f"{_gateways(paths, a[0], f)} (the address missing there, or {ip}off on it)",
        "gateway-ip": lambda: f"another host also answers for VLAN {a[0]}'s {ip}gateway {_gateways(paths, a[0], f)}",
        "router": lambda: f"the router does not forward {ip}between VLANs ({ip or 'IP '}forwarding off?)",
        "router-filter": lambda: f"the router drops every forwarded {ip}packet (a filter)",
        "icmp-filter": lambda: _icmp_filter(f),
        "pair": lambda: f"the router drops {ip}traffic between VLAN {a[0]} and VLAN {a[1]} (a filter or route, one "
                        f"way or both: an echo needs both)",
        "pair-1": lambda: f"the router drops what VLAN {a[0]} starts towards VLAN {a[1]} (a one-way, stateful "
                          f"{ip}filter)",
        "ra": lambda: f"a router advertises itself in VLAN {a[0]} (IPv6 router advertisements): its pods learn a "
                      f"route or an address Spiderpool did not give them (a rogue router, or advertisements sent by "
                      f"the switch)",
        "l2-leak": lambda: f"VLAN {a[0]} and VLAN {a[1]} are one broadcast domain (bridged somewhere)",
        "overlay": lambda: "the overlay network does not connect its pods",
        "admission": lambda: "the cluster does not enforce the multus-underlay attachment rules",
        "host-route": lambda: f"{a[0]}'s node does not answer it through veth0: the coordinator's route back to "
                              f"the pod (its address via the host veth, in the host rule table) or the veth is missing",
        "announce": lambda: "address announcements (gratuitous ARP) do not reach pods on other nodes: a pod whose "
                            "address moves to a new MAC stays unreachable until its peers' neighbour entries expire",
        "pod": lambda: f"{a[0]}'s network-status or annotations do not match what it has",
    }
    return sentences[kind]()


def _icmp_filter(f: int | None) -> str:
    """The ICMP filter's sentence: ICMPv6 carries Neighbor Discovery, so it silences the gateways too."""
    what = {None: "ICMP", 4: "ICMP (IPv4)", 6: "ICMPv6"}[f]
    nd = ": Neighbor Discovery with the gateways too" if f == 6 else ""
    return f"the router drops {what} it receives, forwards or sends (a filter){nd}"


def _vlan(paths: Paths, args) -> str:
    endpoint = paths.endpoint(f"{args[0]}/{args[1]}")
    return str(endpoint.vlan) if endpoint is not None else "?"


def _heard_vlan(token: Token, paths: Paths, explained: list[Observation]) -> int | None:
    """The VLAN an interface answers and hears in, from the breaches it explains: the VLAN of the other
    end of each cross-VLAN ARP answered or broadcast captured."""
    key = f"{token[1]}/{token[2]}"
    votes: Counter = Counter()
    for obs in explained:
        case = obs.case
        if obs.mode != "wrong" or case is None:
            continue
        if case.src.key == key and case.dst is not None:
            votes[case.dst.vlan] += 1
        elif case.src.key == key and case.params.get("vlan") is not None:
            votes[case.params["vlan"]] += 1
        elif case.src.key != key:
            votes[case.src.vlan] += 1
    own = paths.endpoint(key)
    votes.pop(own.vlan if own else None, None)
    return votes.most_common(1)[0][0] if votes else None


def describe(where: dict) -> str:
    """A place in a few words, for evidence sentences."""
    text = _words(where)
    return f"{text} (IPv{where['ip_version']})" if where.get("ip_version") else text


def _words(where: dict) -> str:
    kind = where["kind"]
    if kind == "pod-interface":
        return f"{where['pod']}/{where['ifname']}"
    if kind == "address":
        return f"the address of {where['pod']}/{where['ifname']}" if "pod" in where else \
            f"the gateway address {where.get('ip')} of VLAN {where.get('vlan')}"
    if kind == "node-vlan":
        return f"VLAN {where['vlan']} on {where['node']}'s trunk"
    words = {
        "network": lambda: f"network {where['network']}", "node": lambda: f"{where['node']}'s trunk and bond",
        "bond-member": lambda: f"{where['node']}'s bond member {where['member']}",
        "switch-port": lambda: f"{where['node']}'s switch ports", "vlanif": lambda: f"vlanif {where['vlan']}",
        "router": lambda: "the router", "overlay": lambda: "the overlay", "admission": lambda: "the admission",
        "announcements": lambda: "the address announcements",
        "host-route": lambda: f"the coordinator's path between {where['pod']} and its node",
        "vlan-pair": lambda: (f"VLAN {where['src_vlan']} -> VLAN {where['dst_vlan']}" if "direction" not in where
                              else f"VLANs {where['src_vlan']} and {where['dst_vlan']}"),
        "pod": lambda: f"pod {where['pod']}", "vlan": lambda: f"VLAN {where['vlan']}",
    }
    return words.get(kind, lambda: kind)()

"""The probes of the registered checks: each turns one case into an ``Observation`` through the target's
agents. A probe never asserts; whatever it raises becomes a ``probe-error`` observation in ``Prober``.
Registered by name in ``PROBES`` (``checks.Check.probe``)."""

from __future__ import annotations

import ipaddress
import time
import uuid

from typing import TYPE_CHECKING

from .checks import Capability
from .expectations import Case
from .observation import NEGATIVE, Observation
from .verdicts import Verdict

if TYPE_CHECKING:
    from .probing import Prober


def _ping_argv(case: Case, *args: str) -> list[str]:
    """The reproducer's ``ping`` (``ping -6`` for an IPv6 case)."""
    return ["ping"] + (["-6"] if case.ip_version == 6 else []) + list(args)


def _neighbour_argv(case: Case, ip: str) -> list[str]:
    """The reproducer of an ARP probe: ``arping``, or for IPv6 ``ndisc6`` (Neighbor Solicitation, every answer)."""
    if case.ip_version == 6:
        return ["ndisc6", "-m", ip, case.src.ifname]
    return ["arping", "-c", "3", "-I", case.src.ifname, ip]


def echo(p: Prober, case: Case, known_macs: bool = False) -> Observation:
    dst_ip = p.ip_of(case.dst.key, case.ip_version) if case.dst else case.params["ip"]
    negative = case.expected in NEGATIVE
    count = 3 if negative else 1
    hop_mac = p.next_hop_mac(case) if known_macs else None

    def attempt():
        ev = p.send_echo(case.src, dst_ip, count=count, next_hop_mac=hop_mac)
        return p.classify_echo(case, ev), ev

    verdict, ev, attempts = p.retry(attempt, case.expected)
    obs = Observation(verdict, ev, attempts, reproducer=p.target.reproducer(
        case.src.pod, _ping_argv(case, "-c", str(count), "-W", "1", "-I", case.src.ifname, dst_ip)))
    if case.control is not None:
        control = echo(p, case.control)
        obs.control, obs.control_evidence = control.verdict, control.evidence
    return obs


def ttl(p: Prober, case: Case) -> Observation:
    """A TTL (IPv6: hop limit) 1 echo towards another VLAN: time-exceeded from the gateway, from its vlanif MAC."""
    dst_ip = p.ip_of(case.dst.key, case.ip_version)
    gateway_ip = p.gateway_ip(case.params["gateway_vlan"], case.ip_version)
    expected_mac = p.expected_mac(case)

    def attempt():
        ev = p.target.agent(case.src.pod).call("ping", dst=dst_ip, iface=case.src.ifname, ttl=1,
                                                  timeout=p.window)
        expired = [r for r in ev.get("replies", []) if r["kind"] == "time-exceeded"]
        if expired and expired[0]["src_ip"] == gateway_ip and expired[0]["src_mac"] == expected_mac:
            return Verdict.TIME_EXCEEDED, ev
        if ev.get("replies"):
            return Verdict.REACHABLE_OTHER, ev
        return p.classify_echo(case, ev), ev

    verdict, ev, attempts = p.retry(attempt, case.expected)
    return Observation(verdict, ev, attempts, reproducer=p.target.reproducer(
        case.src.pod, ["traceroute"] + (["-6"] if case.ip_version == 6 else []) + ["-n", "-m", "1", "-i",
                                                                                   case.src.ifname, dst_ip]))


def gateway(p: Prober, case: Case) -> Observation:
    return _arp_owner(p, case, p.gateway_ip(case.params["vlan"], case.ip_version), Verdict.ARP_FROM_VLANIF)


def unique_ip(p: Prober, case: Case) -> Observation:
    return _arp_owner(p, case, p.ip_of(case.dst.key, case.ip_version), Verdict.ARP_REPLY)


def _arp_owner(p: Prober, case: Case, ip: str, owned: Verdict) -> Observation:
    """ARP (IPv6: Neighbor Solicitation) for ``ip`` collecting every answer over the window: ``owned`` when exactly
    the expected MAC answered, ARP_OTHER when another MAC (or several) did, NO_ARP_REPLY when nobody did."""
    expected_mac = p.expected_mac(case)

    def attempt():
        ev = p.send_arp(case.src, ip, multi=True)
        if not ev["macs"]:
            return Verdict.NO_ARP_REPLY, ev
        return (owned if ev["macs"] == [expected_mac] else Verdict.ARP_OTHER), ev

    verdict, ev, attempts = p.retry(attempt, case.expected)
    ev["expected_mac"] = expected_mac
    obs = Observation(verdict, ev, attempts,
                      detail=f"answered by {ev['macs']}" if verdict == Verdict.ARP_OTHER else "",
                      reproducer=p.target.reproducer(case.src.pod, _neighbour_argv(case, ip)))
    if case.control is not None:
        obs.control, obs.control_evidence, _ = p.arp_verdict(
            case.control.src, p.ip_of(case.control.dst.key, case.ip_version), case.control.expected)
    return obs


def cross_arp(p: Prober, case: Case) -> Observation:
    control_verdict, control_ev, _ = p.arp_verdict(case.control.src, p.ip_of(case.control.dst.key, case.ip_version),
                                                   case.control.expected)
    dst_ip = p.ip_of(case.dst.key, case.ip_version)
    verdict, ev, attempts = p.arp_verdict(case.src, dst_ip, case.expected)
    return Observation(verdict, ev, attempts, control_verdict, control_ev,
                       reproducer=p.target.reproducer(case.src.pod, _neighbour_argv(case, dst_ip)))


def broadcast(p: Prober, case: Case) -> Observation:
    """A marker broadcast in the sender's VLAN, watched by a same-VLAN witness (the control) and by every
    receiver of the other VLAN. A window whose witness saw nothing proves nothing, so it is repeated with a
    new marker, up to the prober's retries (a pass after a repeat is kept as flaky); a leak seen in any
    window is the breach at once."""
    for attempt in range(1, p.retries + 1):
        observation = _broadcast_window(p, case)
        observation.attempts = attempt
        if observation.verdict == Verdict.SEEN or observation.control == Verdict.SEEN:
            break
    return observation


def _broadcast_window(p: Prober, case: Case) -> Observation:
    marker = f"mcmark-{uuid.uuid4().hex[:12]}"
    witness = case.control.dst
    receivers = [(key.split("/", 1)[0], key.split("/", 1)[1]) for key in case.params["receivers"]]
    watched = [(witness.pod, witness.ifname)] + receivers
    tokens = []
    try:
        for pod, ifname in watched:
            token = f"{marker}-{pod}-{ifname}"
            p.target.agent(pod).call("sniff_start", iface=ifname, marker=marker, token=token)
            tokens.append((pod, token))
        sent = p.target.agent(case.src.pod).call("broadcast", iface=case.src.ifname, marker=marker)
        time.sleep(p.window / 2)  # the window in which the marker must (control) / must not arrive
    finally:
        seen, failures = {}, []
        for pod, token in tokens:  # stop every capture, even after one of them failed
            try:
                seen[token] = p.target.agent(pod).call("sniff_stop", token=token)
            except Exception as exc:  # noqa: BLE001
                failures.append(exc)
        if failures:
            raise failures[0]
    witness_seen = seen[f"{marker}-{witness.pod}-{witness.ifname}"]["seen"]
    leaked = {f"{pod}/{ifname}": seen[f"{marker}-{pod}-{ifname}"]["seen"] for pod, ifname in receivers
              if seen[f"{marker}-{pod}-{ifname}"]["seen"]}
    evidence = {"marker": marker, "sent": sent, "witness": f"{witness.pod}/{witness.ifname}",
                "witness_seen": witness_seen, "leaked_to": leaked}
    return Observation(Verdict.SEEN if leaked else Verdict.NOT_SEEN, evidence,
                       control=Verdict.SEEN if witness_seen else Verdict.NOT_SEEN,
                       control_evidence={"seen": witness_seen},
                       reproducer=p.target.reproducer(
                           case.src.pod, ["tcpdump", "-i", case.src.ifname, "-e", "ether", "broadcast"]),
                       detail=f"leaked to {', '.join(leaked)}" if leaked else "")

IP_ICMP_HEADERS = {4: 28, 6: 48}  # IPv4 + ICMP, IPv6 + ICMPv6 echo headers: a payload of MTU minus these fills it


def mtu(p: Prober, case: Case) -> Observation:
    """The pod's MTU against the model and its master, and pings that fill it exactly (pass) or by one byte more
    (must not pass), with ``-M do``: IPv4's DF bit, and for IPv6 no fragmenting at the source (routers never
    fragment IPv6: a too-big packet gets packet-too-big or silence)."""
    mtu = case.params["mtu"]
    headers = IP_ICMP_HEADERS[case.ip_version]
    gateway_ip = p.gateway_ip(case.params["vlan"], case.ip_version)
    agent = p.target.agent(case.src.pod)
    links = {link["name"]: link for link in agent.call("describe")["links"]}
    pod_mtu = links.get(case.src.ifname, {}).get("mtu")
    node = p.target.topology.node(case.src.node)
    master = node.master_name(case.src.vlan, p.target.topology.switch.native_vlan)
    known = Capability.MASTER_MTU in p.target.capabilities
    master_mtu = p.target.master_mtu(case.src.node, master) if known else None

    def fits():
        ev = agent.call("sys_ping", dst=gateway_ip, iface=case.src.ifname, size=mtu - headers, df=True,
                        timeout=p.window)
        return (Verdict.MATCHES if ev["ok"] else Verdict.MISMATCH), ev

    _, fit, attempts = p.retry(fits, Verdict.MATCHES)
    over = agent.call("sys_ping", dst=gateway_ip, iface=case.src.ifname, size=mtu - headers + 1, df=True,
                      timeout=p.window)
    problems = []
    if pod_mtu != mtu:
        problems.append(f"pod MTU {pod_mtu} != expected {mtu}")
    if known and pod_mtu != master_mtu:
        problems.append(f"pod MTU {pod_mtu} != master {master} MTU {master_mtu}")
    if not fit["ok"]:
        problems.append(f"DF ping of {mtu - headers} bytes (= MTU {mtu}) to the gateway failed")
    if over["ok"]:
        problems.append(f"DF ping of {mtu - headers + 1} bytes (MTU {mtu} + 1) got through")
    evidence = {"pod_mtu": pod_mtu, "master": master, "master_mtu": master_mtu, "expected_mtu": mtu,
                "df_fit": fit, "df_over": over}
    return Observation(Verdict.MISMATCH if problems else Verdict.MATCHES, evidence, attempts,
                       detail="; ".join(problems),
                       not_checked=[] if known else [f"pod MTU = {master} MTU: {Capability.MASTER_MTU.value} "
                                                     f"unknown on this target"],
                       reproducer=p.target.reproducer(
                           case.src.pod, _ping_argv(case, "-c", "1", "-M", "do", "-s", str(mtu - headers), "-I",
                                                    case.src.ifname, gateway_ip)))


def ip_reuse(p: Prober, case: Case) -> Observation:
    """The peer (``src``) pings the victim (``dst``) with its own ``ping``, so through its kernel's neighbour
    table (the control); the target recreates the victim's NIC with the same address and a new MAC; the peer
    pings again, without touching its neighbour table, until a reply or ``bound_s``. REACHABLE when a reply
    came and the peer's neighbour entry names the new MAC; BLOCKED when none came (the entry's MAC says why)."""
    peer, victim = case.src, case.dst
    ip, old_mac = p.ip_of(victim.key), p.target.endpoint_mac(victim.key)
    agent = p.target.agent(peer.pod)

    def warm_up():
        ev = agent.call("sys_ping", dst=ip, iface=peer.ifname, count=1, timeout=1.0)
        return (Verdict.REACHABLE if ev["ok"] else Verdict.BLOCKED), ev

    control, warm, _ = p.retry(warm_up, Verdict.REACHABLE)  # the control, retried as every positive probe
    before = _neighbour(agent, ip, peer.ifname)
    new_mac = p.target.recreate_nic(victim.pod, victim.ifname)
    started = time.monotonic()
    attempts, reply = 0, None
    while reply is None and (attempts == 0 or time.monotonic() - started < case.params["bound_s"]):
        attempts += 1
        ev = agent.call("sys_ping", dst=ip, iface=peer.ifname, count=1, timeout=0.5)
        reply = ev if ev["ok"] else None
    took = round(time.monotonic() - started, 3)
    after = _neighbour(agent, ip, peer.ifname)
    learned = (after or {}).get("mac")
    if reply is None:
        verdict, detail = Verdict.BLOCKED, (f"no reply within {case.params['bound_s']:g} s of the reuse; the peer's "
                                            f"neighbour entry for {ip} names {learned} (old {old_mac}, new {new_mac})")
    elif learned != new_mac:  # not a pass: the MUST names the neighbour entry
        verdict, detail = Verdict.MISMATCH, f"answered, but the peer's neighbour entry names {learned}"
    else:
        verdict, detail = Verdict.REACHABLE, ""
    evidence = {"ip": ip, "old_mac": old_mac, "new_mac": new_mac, "neighbour_before": before,
                "neighbour_after": after, "seconds_to_reply": took if reply else None, "pings": attempts,
                "last_ping": ev}
    return Observation(verdict, evidence, 1, control=control, control_evidence=warm, detail=detail,
                       reproducer=p.target.reproducer(peer.pod, ["ping", "-c", "1", "-I", peer.ifname, ip]))


def host(p: Prober, case: Case) -> Observation:
    """The pod's own ping to a node address, where the pod's routes send it (as an application's traffic goes):
    REACHABLE_L2 for a TTL 64 reply, REACHABLE_ROUTED for TTL 63 through the source VLAN's gateway, and
    REACHABLE_OTHER when the route leaves through another device than ``params["dev"]``; BLOCKED without reply.
    A negative case sends 3 echoes over the window, next to its control (another pod's probe of the address)."""
    ip = case.params["ip"]
    agent = p.target.agent(case.src.pod)
    count = 3 if case.expected in NEGATIVE else 1

    def attempt():  # a negative case's echoes go out within its window
        ev = agent.call("sys_ping", dst=ip, count=count, timeout=p.window, interval=p.window / 5 if count > 1 else None)
        ev["route"] = agent.call("route_get", dst=ip)
        return _host_verdict(p, case, ev), ev

    verdict, ev, attempts = p.retry(attempt, case.expected)
    left = ev["route"].get("dev")
    detail = f"the route leaves through {left} (expected {case.params['dev']})" \
        if ev["ok"] and case.params.get("dev") not in (None, left) else ""
    obs = Observation(verdict, ev, attempts, detail=detail,
                      reproducer=p.target.reproducer(case.src.pod, ["ping", "-c", str(count), "-W", "1", ip]))
    if case.control is not None:
        control = host(p, case.control)
        obs.control, obs.control_evidence = control.verdict, control.evidence
    return obs


def _host_verdict(p: Prober, case: Case, ev: dict) -> Verdict:
    if not ev["ok"]:
        return Verdict.BLOCKED
    route, wanted = ev["route"], case.params.get("dev")
    if wanted is not None and route.get("dev") != wanted:
        return Verdict.REACHABLE_OTHER
    gateway = str(p.target.topology.vlan(case.src.vlan).gateway) if case.src.vlan is not None else None
    if ev["ttl"] == 64 and not route.get("gateway"):
        return Verdict.REACHABLE_L2
    if ev["ttl"] == 63 and route.get("gateway") == gateway:
        return Verdict.REACHABLE_ROUTED
    return Verdict.REACHABLE_OTHER


def service(p: Prober, case: Case) -> Observation:
    """A TCP connection from the pod to the ``kubernetes`` Service's ClusterIP and port (the target says which);
    the pod's route to it is kept as evidence (veth0 with the coordinator, eth0 on the overlay)."""
    ip, port = p.target.service_address()
    agent = p.target.agent(case.src.pod)
    wanted = case.params.get("dev")

    def attempt():
        ev = agent.call("tcp_connect", ip=ip, port=port, timeout=max(2.0, p.window * 2))
        ev["route"] = agent.call("route_get", dst=ip)
        if ev["ok"] and wanted and ev["route"].get("dev") != wanted:
            return Verdict.MISMATCH, ev  # answered, but not along the path the coordinator sets up
        return (Verdict.REACHABLE if ev["ok"] else Verdict.BLOCKED), ev

    verdict, ev, attempts = p.retry(attempt, case.expected)
    detail = "" if verdict == Verdict.REACHABLE else (
        f"answered through {ev['route'].get('dev')}, expected {wanted}" if ev["ok"] else
        f"{ev.get('error')}; the pod routes {ip} through {ev['route'].get('dev')}")
    return Observation(verdict, ev, attempts, detail=detail, reproducer=p.target.reproducer(
        case.src.pod, ["python3", "-c", f"import socket; socket.create_connection(('{ip}', {port}), 3)"]))


def _neighbour(agent, ip: str, ifname: str) -> dict | None:
    """The agent's pod's kernel neighbour entry for ``ip`` on ``ifname`` (None when it has none)."""
    return next((n for n in agent.call("describe")["neighbours"] if n["ip"] == ip and n["dev"] == ifname), None)

def dad(p: Prober, case: Case) -> Observation:
    """The interface's configured IPv6 address as its pod sees it (present, neither tentative nor dadfailed, DAD on:
    ``accept_dad`` of the interface or ``all`` at least 1 and ``dad_transmits`` at least 1), then a newcomer's DAD
    probe for it from the case's peer: MATCHES when exactly the interface's MAC defended it. An address still
    tentative is waited for over the window first: a DAD probe for it would make its own kernel give it up."""
    e, address = case.src, p.ip_of(case.src.key, 6)
    agent = p.target.agent(e.pod)
    deadline = time.monotonic() + p.window
    while True:
        described = agent.call("describe")
        states = [a for a in described.get("ipv6_states", []) if a["ifname"] == e.ifname and a["permanent"]
                  and a["scope"] == "global"]
        if not any(a["tentative"] and not a["dadfailed"] for a in states) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    problems = _dad_state_problems(e.ifname, address, states, described.get("ipv6_sysctls", {}))
    evidence: dict = {"addresses": states, "sysctls": {k: described.get("ipv6_sysctls", {}).get(k) for k in
                                                        ("all", e.ifname)}}
    attempts, reproducer = 1, p.target.reproducer(e.pod, ["ip", "-6", "addr", "show", "dev", e.ifname])
    if case.params.get("peer") and not problems:
        peer_pod, peer_if = case.params["peer"].split("/", 1)
        expected_mac = p.expected_mac(case)

        def attempt():
            # the defence goes to all-nodes, which macvlan delivers through its broadcast queue: a whole window
            ev = p.target.agent(peer_pod).call("dad_probe", ip=address, iface=peer_if, timeout=p.window)
            return (Verdict.MATCHES if ev["macs"] == [expected_mac] else Verdict.MISMATCH), ev

        verdict, probe_ev, attempts = p.retry(attempt, Verdict.MATCHES)
        evidence.update(dad_probe=probe_ev, expected_mac=expected_mac, peer=case.params["peer"])
        if verdict != Verdict.MATCHES:
            problems.append(f"a DAD probe for {address} from {case.params['peer']} was defended by "
                            f"{probe_ev['macs'] or 'nobody'} (expected {expected_mac})")
        # ndisc6 solicits from the peer's own address; a DAD probe proper is sent from :: (scapy, as the probe does)
        reproducer = p.target.reproducer(peer_pod, ["ndisc6", "-m", address, peer_if])
    return Observation(Verdict.MISMATCH if problems else Verdict.MATCHES, evidence, attempts,
                       detail="; ".join(problems), reproducer=reproducer)


def _dad_state_problems(ifname: str, address: str, states: list[dict], sysctls: dict) -> list[str]:
    """What is wrong with the configured address ``address`` of ``ifname`` and the DAD settings, one line each."""
    mine = [a for a in states if ipaddress.ip_address(a["address"]) == ipaddress.ip_address(address)]
    if not mine:
        return [f"{address} (network-status) is not configured on {ifname} (configured: "
                f"{[a['address'] for a in states]})"]
    problems = [f"{a['address']} is {'dadfailed' if a['dadfailed'] else 'tentative'}" for a in states
                if a["tentative"] or a["dadfailed"]]
    accept = [sysctls.get(name, {}).get("accept_dad") for name in ("all", ifname)]
    transmits = sysctls.get(ifname, {}).get("dad_transmits")
    if None in accept or transmits is None:
        problems.append(f"the DAD settings of {ifname} could not be read (accept_dad all/{ifname}: {accept}, "
                        f"dad_transmits: {transmits})")
    elif max(accept) < 1 or transmits < 1:
        problems.append(f"duplicate address detection is off on {ifname} (accept_dad all/{ifname}: {accept}, "
                        f"dad_transmits: {transmits}): a duplicate would go unnoticed")
    return problems


def ra(p: Prober, case: Case) -> Observation:
    """The interface's IPv6 routes and addresses: MISMATCH for any route learned from a router advertisement or
    global address Spiderpool did not configure (SLAAC); the control is the interface's own subnet route."""
    e = case.src
    vlan = p.target.topology.vlan(case.params["vlan"])
    described = p.target.agent(e.pod).call("describe")
    routes = [r for r in described.get("routes6", []) if r["dev"] == e.ifname]
    learned = [r for r in routes if r.get("proto") == "ra"]
    slaac = [a["address"] for a in described.get("ipv6_states", [])
             if a["ifname"] == e.ifname and a["scope"] == "global" and not a["permanent"]]
    problems = [f"route {r['dst']} via {r['gateway']} from a router advertisement" for r in learned]
    problems += [f"address {a} from SLAAC (a router advertisement's prefix)" for a in slaac]
    own = any(r["dst"] == str(vlan.subnet6) and r["gateway"] is None for r in routes)
    evidence = {"routes6": routes, "slaac_addresses": slaac,
                "accept_ra": described.get("ipv6_sysctls", {}).get(e.ifname, {}).get("accept_ra")}
    return Observation(Verdict.MISMATCH if problems else Verdict.MATCHES, evidence,
                       control=Verdict.MATCHES if own else Verdict.MISMATCH,
                       control_evidence={"subnet_route": str(vlan.subnet6), "seen": own},
                       detail="; ".join(problems),
                       reproducer=p.target.reproducer(e.pod, ["ip", "-6", "route", "show", "dev", e.ifname]))


PROBES = {
    "echo": echo,
    "ttl": ttl,
    "gateway": gateway,
    "unique_ip": unique_ip,
    "cross_arp": cross_arp,
    "broadcast": broadcast,
    "mtu": mtu,
    "ip_reuse": ip_reuse,
    "host": host,
    "service": service,
    "dad": dad,
    "ra": ra,
}

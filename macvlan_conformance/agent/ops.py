"""The probe agent's operations. They run inside the pod's network namespace and never assert: each
returns evidence (a JSON-able dict). Every operation has a timeout.

Same code on every target: in the lab a thread of the agent host that entered the pod's namespace with
``setns``; in a cluster ``python -m macvlan_conformance.agent`` started with ``kubectl exec``.

Namespaces are per thread, so every operation works in the namespace of the thread that calls it. scapy's
interface cache (``conf.ifaces``) is per process and would hand one pod another pod's ``eth0``: operations
therefore never give scapy an interface *name*. :func:`_interface` looks the interface up in the calling
thread's namespace (``localnet``) and hands scapy a ``NetworkInterface`` built from that, which scapy
uses as is (for the socket's bind name and the source MAC). Nothing here reads ``conf.route``. Sockets
are never put in promiscuous mode: a probe needs only the pod's own unicast and broadcasts, and scapy
would look the promiscuous-mode index up by name in that per-process cache.

Operations run concurrently in one agent (one thread each). ``srp`` is always called with
``threaded=False``: scapy's threaded mode stops its sniffer from the sender thread and can write to a
pipe that was already closed (whose fd number another thread's socket may have reused by then).
"""

from __future__ import annotations

import json
import os
import socket
import random
import re
import subprocess
import threading
import time

from pyroute2 import IPRoute
from scapy.arch.linux import LinuxInterfaceProvider
from scapy.config import conf
from scapy.interfaces import NetworkInterface
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import (ICMPv6EchoRequest, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, IPv6, in6_getnsma,
                                in6_getnsmac, inet_pton)
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw
from scapy.sendrecv import AsyncSniffer, sendp, srp

from . import localnet
from .classify import (carries_marker, classify_arp_replies, classify_icmp_reply, classify_icmpv6_reply,
                       classify_neighbor_adverts, frame_summary)

conf.verb = 0
conf.sniff_promisc = False
BROADCAST = "ff:ff:ff:ff:ff:ff"
RT_PROTOCOLS = {2: "kernel", 3: "boot", 4: "static", 9: "ra", 16: "dhcp"}
MACVLAN_MODES = {1: "private", 2: "vepa", 4: "bridge", 8: "passthru", 16: "source"}
_sniffers: dict[str, tuple[AsyncSniffer, bytes]] = {}
_sniffers_lock = threading.Lock()


def _interface(iface: str) -> NetworkInterface:
    """``iface`` as the calling thread's namespace sees it, as the object scapy takes in place of a name.
    Raises ``ValueError`` naming the interface if the pod has none."""
    nic = localnet.interface(iface)
    return NetworkInterface(conf.ifaces.providers[LinuxInterfaceProvider], data={
        "name": iface, "network_name": iface, "description": iface, "index": nic.index, "mac": nic.mac,
        "ips": [nic.ipv4] if nic.ipv4 else [], "flags": nic.flags})


def _ipv4(nic: NetworkInterface) -> str:
    if not nic.ip:
        raise ValueError(f"interface {nic.name!r} has no IPv4 address")
    return nic.ip


def _ipv6(nic: NetworkInterface) -> str:
    """The interface's usable global IPv6 address (the source of a probe)."""
    address = localnet.global_ipv6(nic.name)
    if address is None:
        raise ValueError(f"interface {nic.name!r} has no usable global IPv6 address (none, tentative or dadfailed)")
    return address


def _version(ip: str) -> int:
    return 6 if ":" in ip else 4


def _solicited_node(ip: str) -> tuple[str, str]:
    """The solicited-node multicast address of ``ip`` and its Ethernet group MAC (RFC 4291 2.7.1, RFC 2464 7)."""
    group = socket.inet_ntop(socket.AF_INET6, in6_getnsma(inet_pton(socket.AF_INET6, ip)))
    return group, in6_getnsmac(inet_pton(socket.AF_INET6, group))


# --- describe ------------------------------------------------------------------------------------
def describe() -> dict:
    """Links (kind, macvlan mode, VLAN id, MAC, MTU, parent ifindex/netnsid, master ifindex), IPv4 addresses and
    the permanent global IPv6 addresses (those an IPAM configured; SLAAC's are in no CNI result), main-table
    routes, the other tables' routes and the rules (policy routing), and neighbours."""
    with IPRoute() as ipr:
        names = {}
        links = []
        for link in ipr.get_links():
            info = link.get_attr("IFLA_LINKINFO")
            kind = info.get_attr("IFLA_INFO_KIND") if info else None
            data = info.get_attr("IFLA_INFO_DATA") if info else None
            mode = vlan_id = None
            if kind == "vlan" and data is not None:
                vlan_id = data.get_attr("IFLA_VLAN_ID")
            if kind == "macvlan" and data is not None:
                raw_mode = data.get_attr("IFLA_MACVLAN_MODE")
                mode = MACVLAN_MODES.get(raw_mode, raw_mode) if isinstance(raw_mode, int) else raw_mode
            names[link["index"]] = link.get_attr("IFLA_IFNAME")
            links.append({
                "name": link.get_attr("IFLA_IFNAME"), "index": link["index"], "kind": kind, "mode": mode,
                "mac": link.get_attr("IFLA_ADDRESS"), "mtu": link.get_attr("IFLA_MTU"),
                "state": link.get_attr("IFLA_OPERSTATE"), "up": bool(link["flags"] & 1),
                "parent_index": link.get_attr("IFLA_LINK"), "parent_netnsid": link.get_attr("IFLA_LINK_NETNSID"),
                "vlan_id": vlan_id, "master_index": link.get_attr("IFLA_MASTER"),
            })
        addresses = [{"ifname": names.get(a["index"]), "address": a.get_attr("IFA_ADDRESS"),
                      "prefixlen": a["prefixlen"]} for a in ipr.get_addr(family=2)]
        ipv6_states = [{"ifname": name, "address": a.address, "prefixlen": a.prefixlen, "scope": a.scope,
                        "tentative": a.tentative, "dadfailed": a.dadfailed, "permanent": a.permanent}
                       for name, a in localnet.addresses6()]
        addresses6 = [{k: a[k] for k in ("ifname", "address", "prefixlen")} for a in ipv6_states
                      if a["scope"] == "global" and a["permanent"]]
        routes6 = []
        for r in ipr.get_routes(family=10, table=254):
            dst = r.get_attr("RTA_DST")
            if r["type"] != 1 or (dst or "").startswith("ff"):
                continue
            common = {"dst": f"{dst}/{r['dst_len']}" if dst else "::/0",
                      "proto": RT_PROTOCOLS.get(r["proto"], r["proto"])}
            hops = r.get_attr("RTA_MULTIPATH")  # IPv6 merges routes of one metric through several gateways
            for gateway, oif in ([(h.get_attr("RTA_GATEWAY"), h["oif"]) for h in hops] if hops else
                                 [(r.get_attr("RTA_GATEWAY"), r.get_attr("RTA_OIF"))]):
                routes6.append({**common, "gateway": gateway, "dev": names.get(oif)})
        routes = []
        for r in ipr.get_routes(family=2, table=254):
            dst = r.get_attr("RTA_DST")
            routes.append({"dst": f"{dst}/{r['dst_len']}" if dst else "0.0.0.0/0",
                           "gateway": r.get_attr("RTA_GATEWAY"), "dev": names.get(r.get_attr("RTA_OIF"))})
        neighbours = [{"ip": n.get_attr("NDA_DST"), "mac": n.get_attr("NDA_LLADDR"), "dev": names.get(n["ifindex"]),
                       "state": n["state"]} for n in ipr.get_neighbours(family=2)]
        policy_routes = []  # routes of the other tables (policy routing), main and local left out
        for r in ipr.get_routes(family=2):  # every table
            table = r.get_attr("RTA_TABLE") or r["table"]
            if table in (254, 255) or r["type"] != 1:  # main, local; unicast routes only
                continue
            dst = r.get_attr("RTA_DST")
            policy_routes.append({"table": table, "dst": f"{dst}/{r['dst_len']}" if dst else "0.0.0.0/0",
                                  "gateway": r.get_attr("RTA_GATEWAY"), "dev": names.get(r.get_attr("RTA_OIF"))})
        rules = [{"priority": rule.get_attr("FRA_PRIORITY"), "table": rule.get_attr("FRA_TABLE") or rule["table"],
                  "src": f"{rule.get_attr('FRA_SRC')}/{rule['src_len']}" if rule.get_attr("FRA_SRC") else None,
                  "fwmark": rule.get_attr("FRA_FWMARK")} for rule in ipr.get_rules(family=2)]
    return {"links": links, "addresses": addresses, "addresses6": addresses6, "ipv6_states": ipv6_states,
            "routes": routes, "routes6": routes6, "neighbours": neighbours, "policy_routes": policy_routes,
            "rules": rules, "ipv6_sysctls": _ipv6_sysctls(["all"] + [link["name"] for link in links])}


def _ipv6_sysctls(names: list[str]) -> dict:
    """Per interface (and ``all``), the IPv6 settings that decide what router advertisements and duplicate address
    detection do (the calling thread's namespace: net sysctls are resolved for the task that opens them)."""
    settings = {}
    for name in names:
        values = {}
        for key in ("accept_ra", "accept_dad", "dad_transmits", "forwarding", "disable_ipv6"):
            try:
                with open(f"/proc/sys/net/ipv6/conf/{name}/{key}") as f:
                    values[key] = int(f.read())
            except (OSError, ValueError):
                pass
        settings[name] = values
    return settings


# --- ARP -----------------------------------------------------------------------------------------
def arp(ip: str, iface: str, timeout: float = 1.0, tries: int = 1, multi: bool = True) -> dict:
    """ARP who-has ``ip`` on ``iface``. With ``multi`` every reply within ``timeout`` is collected (several
    MACs = a duplicate address); without, it returns at the first reply."""
    replies = _arp_replies(_interface(iface), ip, timeout, tries, multi)
    return {"target": ip, "iface": iface, "replies": replies, "macs": sorted({r["hwsrc"] for r in replies})}


def _arp_replies(nic: NetworkInterface, ip: str, timeout: float, tries: int = 1, multi: bool = True) -> list[dict]:
    request = Ether(dst=BROADCAST, src=nic.mac) / ARP(op=1, hwsrc=nic.mac, psrc=_ipv4(nic), pdst=ip)
    replies = []
    for _ in range(tries):
        answered, _ = srp(request, iface=nic, timeout=timeout, multi=multi, verbose=0, threaded=False)
        replies = classify_arp_replies([r for _, r in answered], ip)
        if replies:
            break
    return replies


# --- ICMP ----------------------------------------------------------------------------------------
def ping(dst: str, iface: str, ttl: int = 64, count: int = 1, timeout: float = 1.0, size: int = 0,
         df: bool = False, system_ping: bool = False, next_hop_mac: str | None = None) -> dict:
    """ICMP echo (ICMPv6 for an IPv6 ``dst``) with scapy from ``iface``: the replies' kind, TTL (hop limit), source
    IP and MAC, RTT.

    ``count`` requests are sent together and answered within ``timeout``; ``stage`` says where it
    stopped: ``route`` (no route), ``arp`` (next hop did not answer ARP, or Neighbor Solicitation), ``icmp``
    (sent, see replies).
    With ``next_hop_mac`` the frame goes straight to that MAC (no ARP): for large matrices, where the
    MACs are known facts and ARP is checked on its own.
    """
    result: dict = {"dst": dst, "iface": iface, "ttl_sent": ttl, "count": count, "replies": []}
    nic = _interface(iface)  # a pod without the interface is an error of the probe, not a missing route
    ipv6 = _version(dst) == 6
    try:
        hop = localnet.next_hop(dst, iface)
    except ValueError as exc:
        return {**result, "stage": "route", "error": str(exc)}
    src = _ipv6(nic) if ipv6 else _ipv4(nic)
    if next_hop_mac:
        macs = [next_hop_mac]
    else:  # callers retry whole probes; IPv6 finds the next hop by Neighbor Solicitation
        answers = _neighbor_adverts(nic, src, hop, timeout=min(timeout, 1.0), multi=False) if ipv6 else \
            _arp_replies(nic, hop, timeout=min(timeout, 1.0), multi=False)
        macs = sorted({r["hwsrc"] for r in answers})
    result["next_hop"] = {"ip": hop, "macs": macs,
                          "resolved_by": "given" if next_hop_mac else ("ndp" if ipv6 else "arp")}
    if not macs:
        return {**result, "stage": "arp"}
    frames = [Ether(src=nic.mac, dst=macs[0]) / layers
              for layers in _echo_requests(src, dst, ttl, count, size, df, ipv6)]
    started = time.monotonic()
    answered, _ = srp(frames, iface=nic, timeout=timeout, verbose=0, threaded=False)
    for sent, reply in answered:
        evidence = classify_icmpv6_reply(reply) if ipv6 else classify_icmp_reply(reply)
        evidence["rtt_ms"] = round((reply.time - sent.sent_time) * 1000, 3) if sent.sent_time else None
        result["replies"].append(evidence)
    result["stage"] = "icmp"
    result["elapsed_ms"] = round((time.monotonic() - started) * 1000, 1)
    if system_ping:
        result["system_ping"] = sys_ping(dst, iface, timeout=timeout)
    return result


def _echo_requests(src: str, dst: str, ttl: int, count: int, size: int, df: bool, ipv6: bool) -> list:
    """``count`` echo requests of one identifier: ICMP with ``ttl`` (and DF), or ICMPv6 with hop limit ``ttl`` (IPv6
    has no DF bit: routers never fragment, they answer packet-too-big)."""
    ident = random.randint(1, 0xFFFF)
    if ipv6:
        return [IPv6(src=src, dst=dst, hlim=ttl) / ICMPv6EchoRequest(id=ident, seq=seq, data=b"\x00" * size)
                for seq in range(1, count + 1)]
    return [IP(src=src, dst=dst, ttl=ttl, flags="DF" if df else 0) / ICMP(id=ident, seq=seq) / Raw(b"\x00" * size)
            for seq in range(1, count + 1)]


# --- Neighbor Discovery -----------------------------------------------------------------------------
def ndisc(ip: str, iface: str, timeout: float = 1.0, tries: int = 1, multi: bool = True) -> dict:
    """Neighbor Solicitation for ``ip`` on ``iface`` (to its solicited-node group, from the interface's global
    address): every Neighbor Advertisement within ``timeout`` with ``multi``, else the first. As ``arp``."""
    nic = _interface(iface)
    replies = []
    for _ in range(tries):
        replies = _neighbor_adverts(nic, _ipv6(nic), ip, timeout, multi)
        if replies:
            break
    return {"target": ip, "iface": iface, "replies": replies, "macs": sorted({r["hwsrc"] for r in replies})}


def _neighbor_adverts(nic: NetworkInterface, src: str, ip: str, timeout: float, multi: bool) -> list[dict]:
    """Solicit ``ip`` and collect the advertisements for it (captured, not matched by scapy: an answer may
    come to another address than the solicitation's source, as a duplicate's does)."""
    group, group_mac = _solicited_node(ip)
    solicitation = (Ether(src=nic.mac, dst=group_mac) / IPv6(src=src, dst=group, hlim=255)
                    / ICMPv6ND_NS(tgt=ip) / ICMPv6NDOptSrcLLAddr(lladdr=nic.mac))
    return _solicit(nic, solicitation, ip, timeout, multi)


def _solicit(nic: NetworkInterface, frame, ip: str, timeout: float, multi: bool) -> list[dict]:
    """Send ``frame`` and capture the Neighbor Advertisements for ``ip`` that arrive within ``timeout`` (until the
    first with ``multi`` off)."""
    started = threading.Event()
    stop_first = (lambda f: bool(classify_neighbor_adverts([f], ip))) if not multi else None
    sniffer = AsyncSniffer(iface=nic, store=True, lfilter=lambda f: bool(classify_neighbor_adverts([f], ip)),
                           started_callback=started.set, stop_filter=stop_first)
    sniffer.start()
    if not started.wait(5):
        sniffer.stop(join=False)
        raise TimeoutError(f"capture on {nic.name} did not start within 5 s")
    sendp(frame, iface=nic, verbose=0)
    sniffer.join(timeout)
    frames = sniffer.stop() if sniffer.running else sniffer.results
    return classify_neighbor_adverts(frames or [], ip)


def dad_probe(ip: str, iface: str, timeout: float = 1.0) -> dict:
    """Duplicate address detection as a newcomer runs it for ``ip`` (RFC 4862 5.4: a Neighbor Solicitation from
    the unspecified address to the solicited-node group): every holder of ``ip`` must defend it with a Neighbor
    Advertisement to all-nodes. Returns who did."""
    nic = _interface(iface)
    group, group_mac = _solicited_node(ip)
    probe = Ether(src=nic.mac, dst=group_mac) / IPv6(src="::", dst=group, hlim=255) / ICMPv6ND_NS(tgt=ip)
    replies = _solicit(nic, probe, ip, timeout, multi=True)
    return {"target": ip, "iface": iface, "replies": replies, "macs": sorted({r["hwsrc"] for r in replies})}


def sys_ping(dst: str, iface: str | None = None, count: int = 1, timeout: float = 1.0, size: int | None = None,
             df: bool = False, interval: float | None = None) -> dict:
    """The pod's own ``ping`` command, as a user would type it (without ``iface``: where the routes send it;
    ``interval``: seconds between echoes, 1 by default)."""
    argv = ["ping", "-n", "-c", str(count), "-W", str(max(1, round(timeout)))] + (["-I", iface] if iface else [])
    if interval is not None:
        argv += ["-i", f"{interval:g}"]
    if size is not None:
        argv += ["-s", str(size)]
    if df:
        argv += ["-M", "do"]
    argv.append(dst)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout * count + 5)
    ttl = re.search(r"ttl=(\d+)", proc.stdout)
    received = re.search(r"(\d+) received", proc.stdout)
    # iputils exits 0 on "local error: message too long": success is a received reply, not the exit code
    ok = proc.returncode == 0 and received is not None and int(received.group(1)) > 0
    return {"argv": argv, "ok": ok, "rc": proc.returncode,
            "ttl": int(ttl.group(1)) if ttl else None,
            "output": (proc.stdout + proc.stderr).strip().splitlines()[-2:]}


# --- broadcast marker ----------------------------------------------------------------------------
def sniff_start(iface: str, marker: str, token: str) -> dict:
    """Start capturing frames on ``iface`` that carry ``marker``; returns once the capture is running."""
    started = threading.Event()
    needle = marker.encode()
    sniffer = AsyncSniffer(iface=_interface(iface), store=True, lfilter=lambda f: carries_marker(f, needle),
                           started_callback=started.set)
    sniffer.start()
    if not started.wait(5):
        sniffer.stop(join=False)
        raise TimeoutError(f"capture on {iface} did not start within 5 s")
    with _sniffers_lock:
        _sniffers[token] = (sniffer, needle)
    return {"token": token, "iface": iface}


def sniff_stop(token: str) -> dict:
    """Stop a capture; returns how many marker frames it saw and from whom."""
    with _sniffers_lock:
        sniffer, _ = _sniffers.pop(token)
    frames = sniffer.stop() or []
    return {"token": token, "seen": len(frames), "frames": [frame_summary(f) for f in frames[:10]]}


def broadcast(iface: str, marker: str, count: int = 3) -> dict:
    """Send ``count`` Ethernet-broadcast UDP frames carrying ``marker`` out of ``iface``."""
    nic = _interface(iface)
    frame = (Ether(src=nic.mac, dst=BROADCAST) / IP(src=nic.ip or "0.0.0.0", dst="255.255.255.255")
             / UDP(sport=40000, dport=40000) / Raw(marker.encode()))
    sendp([frame] * count, iface=nic, verbose=0, inter=0.01)
    return {"iface": iface, "sent": count, "src_mac": nic.mac}


def arp_announce(iface: str, ips: list[str], gap: float = 0.002) -> dict:
    """One ARP who-has per address out of ``iface``, ``gap`` seconds apart, without waiting for replies:
    each target learns this interface's MAC from the request (the probes' warm-up, not a check)."""
    nic = _interface(iface)
    mac, src = nic.mac, _ipv4(nic)
    frames = [Ether(src=mac, dst=BROADCAST) / ARP(op=1, hwsrc=mac, psrc=src, pdst=ip) for ip in ips]
    if frames:
        sendp(frames, iface=nic, verbose=0, inter=gap)
    return {"iface": iface, "sent": len(frames)}


def tcp_connect(ip: str, port: int, timeout: float = 2.0) -> dict:
    """A TCP connection to ``ip:port`` as the pod's routing table sends it (no interface given): whether the
    handshake completed, the local address it left from, and the error otherwise."""
    started = time.monotonic()
    try:
        with socket.create_connection((ip, port), timeout=timeout) as sock:
            local = sock.getsockname()
        return {"ip": ip, "port": port, "ok": True, "local": f"{local[0]}:{local[1]}",
                "elapsed_ms": round((time.monotonic() - started) * 1000, 1)}
    except OSError as exc:
        return {"ip": ip, "port": port, "ok": False, "error": f"{type(exc).__name__}: {exc}",
                "elapsed_ms": round((time.monotonic() - started) * 1000, 1)}


def route_get(dst: str) -> dict:
    """The kernel's route to ``dst`` from this pod (``ip route get``): device, gateway, source."""
    proc = subprocess.run(["ip", "-j", "route", "get", dst], capture_output=True, text=True, timeout=5)
    if proc.returncode != 0:
        return {"dst": dst, "error": (proc.stderr or proc.stdout).strip()}
    route = (json.loads(proc.stdout) or [{}])[0]
    return {"dst": dst, "dev": route.get("dev"), "gateway": route.get("gateway"), "src": route.get("prefsrc")}


def whoami() -> dict:
    """The serving process and the network namespace this agent works in (its thread's)."""
    return {"pid": os.getpid(), "netns_inode": os.stat("/proc/thread-self/ns/net").st_ino}


OPERATIONS = {
    "describe": describe, "arp": arp, "ping": ping, "sys_ping": sys_ping, "sniff_start": sniff_start,
    "sniff_stop": sniff_stop, "broadcast": broadcast, "arp_announce": arp_announce, "whoami": whoami,
    "tcp_connect": tcp_connect, "route_get": route_get, "ndisc": ndisc, "dad_probe": dad_probe,
}

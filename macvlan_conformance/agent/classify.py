"""Pure frame classification: turn captured scapy packets into evidence dicts. No sockets, no namespaces.

Kept apart from the operations so it can be tested on stored packets without root.
"""

from __future__ import annotations

import ipaddress

from scapy.layers.inet import ICMP, IP
from scapy.layers.inet6 import IPv6, ICMPv6ND_NA
from scapy.layers.l2 import ARP, Dot1Q, Ether

ICMP_ECHO_REPLY = 0
ICMP_DEST_UNREACH = 3
ICMP_TIME_EXCEEDED = 11


def classify_icmp_reply(reply) -> dict:
    """Evidence from the frame answering an ICMP echo request (or an ICMP error about it)."""
    ip, icmp = reply[IP], reply[ICMP]
    kind = {ICMP_ECHO_REPLY: "echo-reply", ICMP_TIME_EXCEEDED: "time-exceeded",
            ICMP_DEST_UNREACH: "unreachable"}.get(icmp.type, f"icmp-{icmp.type}")
    return {
        "kind": kind, "icmp_type": int(icmp.type), "icmp_code": int(icmp.code),
        "ttl": int(ip.ttl), "src_ip": ip.src, "src_mac": reply[Ether].src if Ether in reply else None,
        "vlan": int(reply[Dot1Q].vlan) if Dot1Q in reply else None,
    }


ICMPV6_KINDS = {129: "echo-reply", 3: "time-exceeded", 1: "unreachable", 2: "packet-too-big"}


def classify_icmpv6_reply(reply) -> dict:
    """As ``classify_icmp_reply``, for the ICMPv6 frame answering an echo request; ``ttl`` is the hop limit."""
    ip = reply[IPv6]
    icmp = ip.payload
    kind = ICMPV6_KINDS.get(int(icmp.type), f"icmpv6-{icmp.type}")
    return {
        "kind": kind, "icmp_type": int(icmp.type), "icmp_code": int(icmp.code),
        "ttl": int(ip.hlim), "src_ip": ip.src, "src_mac": reply[Ether].src if Ether in reply else None,
        "vlan": int(reply[Dot1Q].vlan) if Dot1Q in reply else None,
    }


def classify_neighbor_adverts(frames, target_ip: str) -> list[dict]:
    """Every Neighbor Advertisement for ``target_ip``: who answered (the target link-layer address option, else
    the frame's source), and whether it was solicited."""
    found = []
    for frame in frames:
        if ICMPv6ND_NA in frame and ipaddress.ip_address(frame[ICMPv6ND_NA].tgt) == ipaddress.ip_address(target_ip):
            na = frame[ICMPv6ND_NA]
            option = na.payload
            lladdr = getattr(option, "lladdr", None) or (frame[Ether].src if Ether in frame else None)
            found.append({"hwsrc": lladdr, "psrc": target_ip, "frame_src": frame[Ether].src if Ether in frame else None,
                          "solicited": bool(na.S), "dst": frame[IPv6].dst})
    return found


def classify_arp_replies(replies, target_ip: str) -> list[dict]:
    """Every ARP is-at for ``target_ip``: who answered (hwsrc) and from which frame source."""
    found = []
    for frame in replies:
        if ARP in frame and frame[ARP].op == 2 and frame[ARP].psrc == target_ip:
            found.append({"hwsrc": frame[ARP].hwsrc, "psrc": frame[ARP].psrc,
                          "frame_src": frame[Ether].src if Ether in frame else None})
    return found


def carries_marker(frame, marker: bytes) -> bool:
    """True if the frame's bytes contain the broadcast marker."""
    return marker in bytes(frame)


def frame_summary(frame) -> dict:
    """Source MAC and 802.1Q VLAN id (rebuilt by scapy from PACKET_AUXDATA) of a captured frame."""
    return {"src_mac": frame[Ether].src if Ether in frame else None,
            "vlan": int(frame[Dot1Q].vlan) if Dot1Q in frame else None}

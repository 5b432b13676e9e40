"""What a probe needs to know about its pod, read in the calling thread's network namespace.

Interfaces come from ``ioctl``s on a socket opened by the calling thread, routes from
``/proc/thread-self/net/route`` (the thread's namespace, main table): a few system calls per probe.
pyroute2's ``IPRoute`` would do the same over netlink but builds an asyncio event loop per instance,
which cost more than the probe itself at 64 pods. Both are read afresh on every call, so a fault that
changes a pod's address or routes is seen by the next probe.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from dataclasses import dataclass

SIOCGIFFLAGS, SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFHWADDR, SIOCGIFINDEX = 0x8913, 0x8915, 0x891B, 0x8927, 0x8933
ROUTE_TABLE = "/proc/thread-self/net/route"
ROUTE6_TABLE = "/proc/thread-self/net/ipv6_route"
ADDRESSES6 = "/proc/thread-self/net/if_inet6"
IFA_F_DADFAILED, IFA_F_TENTATIVE, IFA_F_PERMANENT = 0x08, 0x40, 0x80
RTF_UP, RTF_GATEWAY = 0x1, 0x2


@dataclass(frozen=True)
class Interface:
    name: str
    index: int
    mac: str
    flags: int
    ipv4: str | None            # the primary address (what SIOCGIFADDR returns), if any
    network: ipaddress.IPv4Network | None


def _ifreq(sock: socket.socket, request: int, name: str) -> bytes:
    return fcntl.ioctl(sock.fileno(), request, struct.pack("16s24x", name.encode()))


def interface(name: str) -> Interface:
    """``name`` as the calling thread's namespace sees it. Raises ``ValueError`` if there is none."""
    if not 0 < len(name.encode()) < 16:  # IFNAMSIZ: a longer name would be cut to another interface's
        raise ValueError(f"no interface {name!r} in this pod (names have 1-15 bytes)")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            index = struct.unpack_from("i", _ifreq(sock, SIOCGIFINDEX, name), 16)[0]
        except OSError:
            raise ValueError(f"no interface {name!r} in this pod") from None
        mac = ":".join(f"{b:02x}" for b in _ifreq(sock, SIOCGIFHWADDR, name)[18:24])
        flags = struct.unpack_from("H", _ifreq(sock, SIOCGIFFLAGS, name), 16)[0]
        try:
            ipv4 = socket.inet_ntoa(_ifreq(sock, SIOCGIFADDR, name)[20:24])
            mask = socket.inet_ntoa(_ifreq(sock, SIOCGIFNETMASK, name)[20:24])
        except OSError:  # EADDRNOTAVAIL: no IPv4 address
            ipv4 = mask = None
    network = ipaddress.IPv4Network(f"{ipv4}/{mask}", strict=False) if ipv4 else None
    return Interface(name, index, mac, flags, ipv4, network)


def routes(iface: str) -> list[tuple[ipaddress.IPv4Network, str | None, int]]:
    """The main table's usable routes out of ``iface``: (destination, gateway or None, metric)."""
    found = []
    with open(ROUTE_TABLE) as table:
        next(table)
        for line in table:
            fields = line.split()
            if len(fields) < 8 or fields[0] != iface:
                continue
            flags = int(fields[3], 16)
            if not flags & RTF_UP:
                continue
            dst, gateway, mask = (socket.inet_ntoa(struct.pack("<I", int(f, 16))) for f in (fields[1], fields[2], fields[7]))
            found.append((ipaddress.IPv4Network(f"{dst}/{mask}"), gateway if flags & RTF_GATEWAY else None,
                          int(fields[6])))
    return found


def next_hop(dst: str, iface: str) -> str:
    """The IP whose MAC a frame to ``dst`` out of ``iface`` must carry: ``dst`` itself if the best route
    (longest prefix, then lowest metric) is on-link, else that route's gateway. IPv4 or IPv6 (as ``dst``)."""
    address = ipaddress.ip_address(dst)
    table = routes6(iface) if address.version == 6 else routes(iface)
    candidates = [r for r in table if address in r[0]]
    if not candidates:
        raise ValueError(f"no route to {dst} via {iface}")
    _, gateway, _ = max(candidates, key=lambda r: (r[0].prefixlen, -r[2]))
    return gateway or dst


# --- IPv6 ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Address6:
    address: str
    prefixlen: int
    scope: str          # global | link | host | site
    tentative: bool     # duplicate address detection has not finished (or failed)
    dadfailed: bool     # another node holds the address
    permanent: bool     # configured (an IPAM's), not learned from a router advertisement


def _hex6(text: str) -> str:
    return str(ipaddress.IPv6Address(bytes.fromhex(text)))


def addresses6(iface: str | None = None) -> list[tuple[str, Address6]]:
    """Every IPv6 address of the namespace (of ``iface`` only, when given) as (interface, address), from
    ``if_inet6``: with the flags duplicate address detection sets."""
    scopes = {0x00: "global", 0x20: "link", 0x10: "host", 0x40: "site"}
    found = []
    try:
        lines = open(ADDRESSES6).read().splitlines()
    except FileNotFoundError:  # IPv6 disabled in this kernel
        return []
    for line in lines:
        address, _, prefixlen, scope, flags, name = line.split()
        if iface is not None and name != iface:
            continue
        flags_value = int(flags, 16)
        found.append((name, Address6(_hex6(address), int(prefixlen, 16), scopes.get(int(scope, 16), scope),
                                     bool(flags_value & IFA_F_TENTATIVE), bool(flags_value & IFA_F_DADFAILED),
                                     bool(flags_value & IFA_F_PERMANENT))))
    return found


def global_ipv6(iface: str) -> str | None:
    """The interface's first usable (neither tentative nor failed) global IPv6 address, configured ones first."""
    usable = [a for _, a in addresses6(iface) if a.scope == "global" and not a.tentative and not a.dadfailed]
    usable.sort(key=lambda a: not a.permanent)
    return usable[0].address if usable else None


def routes6(iface: str) -> list[tuple[ipaddress.IPv6Network, str | None, int]]:
    """The IPv6 routes out of ``iface`` the kernel lists (those of every table: ``ipv6_route`` names none; the
    coordinator's IPv6 policy tables are not modelled): (destination, gateway or None, metric); local and
    multicast destinations left out."""
    found = []
    with open(ROUTE6_TABLE) as table:
        for line in table:
            fields = line.split()
            if len(fields) < 10 or fields[9] != iface:
                continue
            flags = int(fields[8], 16)
            if not flags & RTF_UP or flags & 0x80000000:  # RTF_LOCAL
                continue
            dst = ipaddress.IPv6Network(f"{_hex6(fields[0])}/{int(fields[1], 16)}")
            if dst.is_multicast:
                continue
            gateway = _hex6(fields[4]) if flags & RTF_GATEWAY else None
            found.append((dst, gateway, int(fields[5], 16)))
    return found


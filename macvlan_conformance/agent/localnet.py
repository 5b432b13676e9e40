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
    (longest prefix, then lowest metric) is on-link, else that route's gateway."""
    address = ipaddress.IPv4Address(dst)
    candidates = [r for r in routes(iface) if address in r[0]]
    if not candidates:
        raise ValueError(f"no route to {dst} via {iface}")
    _, gateway, _ = max(candidates, key=lambda r: (r[0].prefixlen, -r[2]))
    return gateway or dst

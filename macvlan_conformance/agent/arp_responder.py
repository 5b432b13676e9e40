"""A duplicate address for the fault catalogue: answer ARP who-has ``--ip`` (an IPv6 ``--ip``: Neighbor
Solicitations for it, duplicate address detection's too) on ``--iface`` after ``--delay`` seconds, until killed.
Run inside a lab namespace (cleanup removes it with the namespace). Prints ``ready`` on stdout once its capture
socket is open.

The delay keeps the duplicate second: ARP and Neighbor Discovery users that take the first answer (the kernel,
echo probes) still reach the real owner, while a check that listens for every answer sees two MACs. IPv6 answers
carry no Override flag, so a late one never replaces the owner's MAC in a neighbour cache (RFC 4861 7.2.5).
"""

import argparse
import ipaddress
import threading

from scapy.all import conf, get_if_hwaddr, sendp, sniff
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, IPv6
from scapy.layers.l2 import ARP, Ether

ALL_NODES, ALL_NODES_MAC = "ff02::1", "33:33:00:00:00:01"


def _arp_answerer(ip: str, mac: str):
    def wanted(frame) -> bool:
        return ARP in frame and frame[ARP].op == 1 and frame[ARP].pdst == ip

    def reply(frame):
        return Ether(src=mac, dst=frame[ARP].hwsrc) / ARP(op=2, hwsrc=mac, psrc=ip, hwdst=frame[ARP].hwsrc,
                                                          pdst=frame[ARP].psrc)
    return wanted, reply


def _nd_answerer(ip: str, mac: str):
    target = ipaddress.ip_address(ip)

    def wanted(frame) -> bool:
        return ICMPv6ND_NS in frame and ipaddress.ip_address(frame[ICMPv6ND_NS].tgt) == target

    def reply(frame):
        dad = frame[IPv6].src == "::"  # a newcomer's duplicate address detection: defend to all-nodes
        dst, dst_mac = (ALL_NODES, ALL_NODES_MAC) if dad else (frame[IPv6].src, frame[Ether].src)
        return (Ether(src=mac, dst=dst_mac) / IPv6(src=ip, dst=dst, hlim=255)
                / ICMPv6ND_NA(tgt=ip, R=0, S=0 if dad else 1, O=0) / ICMPv6NDOptDstLLAddr(lladdr=mac))
    return wanted, reply


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ip", required=True)
    parser.add_argument("--iface", required=True)
    parser.add_argument("--delay", type=float, default=0.2)
    args = parser.parse_args()
    conf.verb = 0
    mac = get_if_hwaddr(args.iface)
    wanted, reply = (_nd_answerer if ":" in args.ip else _arp_answerer)(args.ip, mac)

    def answer(frame) -> None:
        threading.Timer(args.delay, sendp, args=(reply(frame),), kwargs={"iface": args.iface, "verbose": 0}).start()

    sniff(iface=args.iface, store=False, prn=answer, started_callback=lambda: print("ready", flush=True),
          lfilter=wanted)


if __name__ == "__main__":
    main()

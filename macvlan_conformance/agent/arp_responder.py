"""A duplicate address for the fault catalogue: answer ARP who-has ``--ip`` on ``--iface`` after
``--delay`` seconds, until killed. Run inside a lab namespace (cleanup removes it with the namespace).
Prints ``ready`` on stdout once its capture socket is open.

The delay keeps the duplicate second: ARP users that take the first answer (the kernel, echo probes)
still reach the real owner, while a check that listens for every answer sees two MACs.
"""

import argparse
import threading

from scapy.all import conf, get_if_hwaddr, sendp, sniff
from scapy.layers.l2 import ARP, Ether


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ip", required=True)
    parser.add_argument("--iface", required=True)
    parser.add_argument("--delay", type=float, default=0.2)
    args = parser.parse_args()
    conf.verb = 0
    mac = get_if_hwaddr(args.iface)

    def answer(frame) -> None:
        reply = Ether(src=mac, dst=frame[ARP].hwsrc) / ARP(op=2, hwsrc=mac, psrc=args.ip, hwdst=frame[ARP].hwsrc,
                                                           pdst=frame[ARP].psrc)
        threading.Timer(args.delay, sendp, args=(reply,), kwargs={"iface": args.iface, "verbose": 0}).start()

    sniff(iface=args.iface, store=False, prn=answer, started_callback=lambda: print("ready", flush=True),
          lfilter=lambda f: ARP in f and f[ARP].op == 1 and f[ARP].pdst == args.ip)


if __name__ == "__main__":
    main()

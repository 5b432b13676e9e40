"""The agent's pure frame classification, on stored (built) packets: no sockets, no root."""

from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw

from macvlan_conformance.agent.classify import (carries_marker, classify_arp_replies, classify_icmp_reply,
                                                frame_summary)

PEER = "02:00:00:00:00:02"
VLANIF = "02:00:00:00:01:00"


def test_echo_reply_evidence():
    frame = Ether(src=PEER, dst="02:00:00:00:00:01") / IP(src="10.100.0.101", dst="10.100.0.100", ttl=64) / ICMP(type=0)
    frame = Ether(bytes(frame))
    assert classify_icmp_reply(frame) == {"kind": "echo-reply", "icmp_type": 0, "icmp_code": 0, "ttl": 64,
                                          "src_ip": "10.100.0.101", "src_mac": PEER, "vlan": None}


def test_time_exceeded_from_the_gateway():
    inner = IP(src="10.100.0.100", dst="10.200.0.100", ttl=1) / ICMP(type=8)
    frame = Ether(bytes(Ether(src=VLANIF) / IP(src="10.100.0.1", dst="10.100.0.100", ttl=64)
                        / ICMP(type=11, code=0) / inner))
    evidence = classify_icmp_reply(frame)
    assert (evidence["kind"], evidence["src_ip"], evidence["src_mac"]) == ("time-exceeded", "10.100.0.1", VLANIF)


def test_vlan_tag_is_reported():
    frame = Ether(bytes(Ether(src=PEER) / Dot1Q(vlan=200) / IP(ttl=63) / ICMP(type=0)))
    assert classify_icmp_reply(frame)["vlan"] == 200
    assert frame_summary(frame) == {"src_mac": PEER, "vlan": 200}


def test_arp_replies_keep_every_answer_for_the_target_only():
    frames = [Ether(bytes(Ether(src=m) / ARP(op=2, hwsrc=m, psrc=ip)))
              for m, ip in ((VLANIF, "10.100.0.1"), (PEER, "10.100.0.1"), (PEER, "10.100.0.9"))]
    frames.append(Ether(bytes(Ether(src=PEER) / ARP(op=1, hwsrc=PEER, psrc="10.100.0.1"))))
    assert [r["hwsrc"] for r in classify_arp_replies(frames, "10.100.0.1")] == [VLANIF, PEER]


def test_marker():
    frame = Ether(dst="ff:ff:ff:ff:ff:ff") / IP(dst="255.255.255.255") / UDP() / Raw(b"mcmark-abc")
    assert carries_marker(frame, b"mcmark-abc") and not carries_marker(frame, b"mcmark-xyz")

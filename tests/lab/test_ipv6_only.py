"""The IPv6-only topology on a lab of its own: every check that applies runs per IPv6 case and passes, no
IPv4 case of the pod underlay exists, and what the pods hold is what the model says (addresses from the real CNI
plugins, through duplicate address detection)."""

from macvlan_conformance.checks import REGISTRY

from ..conftest import TOPOLOGIES, run_suites
from .conftest import host_snapshot

UNDERLAY_CHECKS = {"intra-vlan.same-node", "intra-vlan.cross-node", "inter-vlan.routed", "inter-vlan.ttl-expiry",
                   "gateway.arp", "addressing.unique-ip", "addressing.dad", "gateway.ra", "mtu.df-ping",
                   "isolation.cross-vlan-arp"}


def test_ipv6_only_lab_passes_every_ipv6_check(tmp_path):
    before = host_snapshot()
    proc, results = run_suites(tmp_path, "--topology", str(TOPOLOGIES / "ipv6-only.yaml"))
    assert proc.returncode == 0, proc.stdout[-4000:]
    records = results["checks"]
    assert all(r["outcome"] in ("passed", "flaky") for r in records)
    ran = {r["id"] for r in records}
    assert UNDERLAY_CHECKS <= ran and ran <= set(REGISTRY)
    underlay = [r for r in records if r["id"] in UNDERLAY_CHECKS]
    assert underlay and all(r["ip_version"] == 6 and r["nodeid"].endswith(" [ipv6]]") for r in underlay)
    # checks of IPv4 paths only have no case without an IPv4 pod address
    assert not ran & {"addressing.ip-reuse", "host.node-reachability", "isolation.own-master"}
    routed = next(r for r in records if r["id"] == "inter-vlan.routed")
    assert routed["evidence"]["replies"][0]["ttl"] == 63 and "ping -6" in routed["reproducer"]
    status = next(r for r in records if r["id"] == "network-status.consistent")
    assert status["outcome"] == "passed"
    assert host_snapshot() == before

"""Synthetic results.json contents at scale, without a lab: a record for every case the suites would probe on
topologies/scale.yaml (64 standalone pods), healthy or with the vlanif of VLAN 300 down; and one VLAN
of 64 pods, the widest matrix; and every case of topologies/dual-stack.yaml, IPv4 and IPv6, healthy or with
IPv6 routing through the vlanif of VLAN 200 down (its IPv4 routing intact)."""

from __future__ import annotations

from collections import Counter

from macvlan_conformance import checks
from macvlan_conformance.topology import load_topology

from ..conftest import TOPOLOGIES

VLANIF_DOWN = 300
DUAL_STACK_DOWN = 200
ROUTED = {"inter-vlan.routed", "inter-vlan.ttl-expiry", "gateway.arp"}


def scale_results(broken: bool) -> dict:
    """Every case of the scale topology, as expected; ``broken``: routing through vlanif 300 fails."""
    topology = load_topology(TOPOLOGIES / "scale.yaml")
    records = [_record(case, broken and _through_vlanif(case, VLANIF_DOWN)) for case in checks.all_cases(topology)]
    return _results("scale", records, topology.model_dump(mode="json", by_alias=True))


def dual_stack_results(broken: bool) -> dict:
    """Every case of the dual-stack topology, as expected; ``broken``: IPv6 routing through vlanif 200 fails.
    Its facts give every macvlan NIC an IPv4 and an IPv6 address."""
    topology = load_topology(TOPOLOGIES / "dual-stack.yaml")
    records = [_record(case, broken and case.ip_version == 6 and _through_vlanif(case, DUAL_STACK_DOWN))
               for case in checks.all_cases(topology)]
    results = _results("dual-stack", records, topology.model_dump(mode="json", by_alias=True))
    results["facts"]["endpoints"] = _dual_stack_endpoints(topology)
    return results


def _dual_stack_endpoints(topology) -> dict:
    """``facts.endpoints`` as a target writes them: addresses of both families on every macvlan NIC."""
    endpoints = {}
    for n, att in enumerate(a for pod in topology.pods for a in topology.attachments(pod.name)):
        vlan = att.vlan.id if att.vlan else None
        endpoints[f"{att.pod}/{att.ifname}"] = {
            "ip": f"10.{vlan % 256}.0.{100 + n}" if vlan else f"10.244.0.{n}",
            "ipv6": f"fd00:{vlan}::{100 + n:x}" if vlan else None, "mac": f"02:00:00:00:00:{n:02x}",
            "pool": att.pool.name if att.pool else None, "vlan": vlan, "mtu": 1500}
    return endpoints


def one_vlan_results(pods: int = 64) -> dict:
    """``pods`` pods in one VLAN on 4 nodes, every ordered pair probed; the last pod reaches none of the first 3."""
    names = [f"vlan100/sa-w{1 + i % 4}-{i:02d}" for i in range(pods)]
    return _results("one-vlan", [_pair(s, d, s == names[-1] and d in names[:3]) for s in names for d in names
                                 if s != d], None)


def _pair(src: str, dst: str, fails: bool) -> dict:
    return {"id": "intra-vlan.cross-node", "nodeid": f"suites/test_intra_vlan.py::test_cross_node[{src} -> {dst}]",
            "outcome": "failed" if fails else "passed", "mode": "macvlan-standalone", "src": src, "dst": dst,
            "expected": "reachable-l2", "observed": "blocked" if fails else "reachable-l2", "attempts": 1,
            "evidence": {}}


def _through_vlanif(case, vlan: int) -> bool:
    """A routed check whose source or destination is in ``vlan``: its traffic goes through that vlanif."""
    return case.check in ROUTED and vlan in (case.src.vlan, case.dst.vlan if case.dst else None)


def _record(case, fails: bool) -> dict:
    observed = ("no-arp-reply" if case.src.vlan == VLANIF_DOWN else "blocked") if fails else case.expected.value
    dst = case.dst.label if case.dst else case.target
    return {"id": case.check, "nodeid": f"suites/test_{case.check.split('.')[0]}.py::test[{case.id}]",
            "outcome": "failed" if fails else "passed", "duration_s": 0.01,
            "mode": "macvlan-standalone" if case.src.kind == "standalone" else "macvlan-overlay",
            "src": case.src.label, "dst": dst, "ip_version": case.ip_version, "expected": case.expected.value,
            "observed": observed,
            "passed": not fails, "attempts": 1, "detail": "", "evidence": {"case": case.id},
            "reproducer": f"ip netns exec mcl-scale-pod-{case.src.pod} ping -c 1 -W 1 {dst}"}


def _results(name: str, records: list[dict], topology: dict | None) -> dict:
    counts = Counter(r["outcome"] for r in records)
    return {"schema_version": 1,
            "run": {"started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:10:00+00:00",
                    "target": "lab", "topology": name, "lab": "scale", "exitstatus": int(bool(counts["failed"]))},
            "summary": {"passed": counts["passed"], "failed": counts["failed"], "flaky": 0, "skipped": 0,
                        "total": len(records)},
            "not_applicable": [], "topology": topology, "facts": {"gateway_macs": {}, "endpoints": {}},
            "checks": records}

"""The self-test command end to end on the dual-stack topology with a representative subset of the fault catalogue
(the whole catalogue runs with `make selftest`; five more faults are covered by test_suites.py): every IPv6 fault,
and one that breaks both families, each detected with no collateral, an IPv6 fault's failures IPv6 cases only.
The runs leave out the three checks that change the network or create pods (``--select``), which none of these
faults declares: they take half of a dual-stack run's time."""

import json
import re

from .conftest import cli, host_snapshot

IPV6_FAULTS = ["router-ipv6-forwarding-off", "rogue-router-advertisement", "duplicate-ipv6",
               "icmpv6-filtered-on-router"]


def test_selftest_detects_faults_without_collateral(tmp_path):
    before = host_snapshot()
    proc = cli("selftest", "--topology", "dual-stack", "--faults", ",".join(["router-one-way-filter", *IPV6_FAULTS]),
               "--select", "not bond_member and not ip_reuse and not attachment_rule", "--output",
               str(tmp_path / "selftest.json"), "--html", str(tmp_path / "selftest.html"), "--workdir",
               str(tmp_path / "runs"), check=False, timeout=900)
    matrix = json.loads((tmp_path / "selftest.json").read_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert matrix["ok"] and matrix["healthy"]["failed"] == []
    rows = {r["name"]: r for r in matrix["faults"]}
    assert rows["router-one-way-filter"]["detected"] == ["inter-vlan.routed"]
    assert rows["router-ipv6-forwarding-off"]["detected"] == ["inter-vlan.routed", "inter-vlan.ttl-expiry"]
    assert rows["rogue-router-advertisement"]["detected"] == ["gateway.ra"]
    assert rows["duplicate-ipv6"]["detected"] == ["addressing.dad", "addressing.unique-ip"]
    assert rows["icmpv6-filtered-on-router"]["detected"] == ["gateway.arp", "inter-vlan.routed",
                                                             "inter-vlan.ttl-expiry", "mtu.df-ping"]
    assert all(not r["missed"] and not r["collateral"] for r in rows.values())
    for fault in IPV6_FAULTS:  # its failures are IPv6 cases only (an IPv4 one would be collateral above)
        failed = [c for c in json.loads((tmp_path / "runs" / f"{fault}.json").read_text())["checks"]
                  if c["outcome"] == "failed"]
        assert failed and all(c["ip_version"] == 6 and c["nodeid"].endswith(" [ipv6]]") for c in failed), fault
    assert re.search(r"^router-one-way-filter\s+detected", proc.stdout, re.M), proc.stdout
    assert all(r["diagnosis_ok"] for r in rows.values()), [(r["name"], r["diagnosed"]) for r in rows.values()]
    healthy = json.loads((tmp_path / "runs" / "healthy.json").read_text())
    assert not {c["id"] for c in healthy["checks"]} & {"resilience.bond-member-down", "addressing.ip-reuse",
                                                       "rules.attachment"}  # --select reached every run
    page = (tmp_path / "selftest.html").read_text()
    assert 'id="selftest"' in page and "router-one-way-filter" in page
    assert host_snapshot() == before

"""The self-test command end to end on a representative subset of the fault catalogue (the whole
catalogue runs with `make selftest`; five more faults are covered by test_suites.py)."""

import json
import re

from .conftest import cli, host_snapshot


def test_selftest_detects_faults_without_collateral(tmp_path):
    before = host_snapshot()
    proc = cli("selftest", "--faults", "router-one-way-filter,switch-port-mtu-lowered", "--output",
               str(tmp_path / "selftest.json"), "--html", str(tmp_path / "selftest.html"), "--workdir",
               str(tmp_path / "runs"), check=False, timeout=600)
    matrix = json.loads((tmp_path / "selftest.json").read_text())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert matrix["ok"] and matrix["healthy"]["failed"] == []
    rows = {r["name"]: r for r in matrix["faults"]}
    assert rows["router-one-way-filter"]["detected"] == ["inter-vlan.routed"]
    assert rows["switch-port-mtu-lowered"]["detected"] == ["mtu.df-ping"]
    assert all(not r["missed"] and not r["collateral"] for r in rows.values())
    assert re.search(r"^router-one-way-filter\s+detected", proc.stdout, re.M), proc.stdout
    assert "diagnosis: 2/2 first cause at the fault's place" in proc.stdout, proc.stdout  # and none when healthy
    page = (tmp_path / "selftest.html").read_text()
    assert 'id="selftest"' in page and "router-one-way-filter" in page
    assert host_snapshot() == before

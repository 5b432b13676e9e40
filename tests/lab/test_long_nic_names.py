"""A lab whose bond members have real server NIC names (13 and 15 bytes, issue 16): the lab's own links
are ``n<node>-e<member>``/``s<node>-e<member>``, and everything users read names the topology's NICs."""

import json
from pathlib import Path

import pytest

from macvlan_conformance.faults import BondMemberDown
from macvlan_conformance.lab.names import LabNames
from macvlan_conformance.lab.target import LabTarget
from macvlan_conformance.topology import load_topology

from ..conftest import ROOT, run_suites
from .conftest import cli, ip_json, lab_name, sh

LONG = ROOT / "tests" / "data" / "long-nic-names.yaml"
TOPOLOGY = load_topology(LONG)
LAB_LINKS = {"n1-e0", "n1-e1", "n2-e0", "n2-e1", "s1-e0", "s1-e1", "s2-e0", "s2-e1"}


@pytest.fixture(scope="module")
def long_lab():
    name = lab_name("nic")
    out = cli("lab", "up", "--name", name, "--topology", str(LONG))
    yield name, json.loads(Path(out.stdout.strip()).read_text())
    cli("lab", "down", "--name", name, check=False)


def test_fabric_links_are_the_mapped_names(long_lab):
    _, state = long_lab
    links = {l["ifname"] for l in ip_json("link", netns=state["fabric_netns"])}
    assert LAB_LINKS <= links
    assert not {nic for n in TOPOLOGY.nodes for nic in n.bond.members} & links
    assert state["nodes"]["worker2"]["bond"]["members"] == {"enP2p175s0f0np0": "n2-e0", "enP2p175s0f1np1": "n2-e1"}
    bond = sh("ovs-appctl", "-t", f"{state['run_dir']}/ovs/ovs-vswitchd.ctl", "bond/show", "n1-bond")
    assert "member n1-e0: enabled" in bond and "member n1-e1: enabled" in bond


def test_bond_member_fault_speaks_the_topologys_names(long_lab):
    name, _ = long_lab
    target = LabTarget(LabNames(name).state_file)
    fault = BondMemberDown()
    try:
        fault.apply(target)
        assert not target.bond_member_is_up("worker1", "enp175s0f0np0")
        assert target.active_bond_member("worker1") == "enp175s0f1np1"
        assert "n1-e0 (switch end s1-e0): worker1/enp175s0f0np0" in target.diagnostics()["lab links of bond members"]
    finally:
        fault.revert(target)
        target.close()
    assert target.bond_member_is_up("worker1", "enp175s0f0np0")


def test_suites_pass_and_report_the_topologys_nics(long_lab, tmp_path):
    name, _ = long_lab
    proc, results = run_suites(tmp_path, "--lab", name)
    assert proc.returncode == 0, proc.stdout[-4000:]
    resilience = {c["src"] for c in results["checks"] if c["id"] == "resilience.bond-member-down"}
    assert resilience == {f"{n.name}/{nic}" for n in TOPOLOGY.nodes for nic in n.bond.members}
    assert all(c["outcome"] in ("passed", "flaky") for c in results["checks"])

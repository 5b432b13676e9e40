"""The check registry: one declaration per check, and a misspelt check id is loud wherever it is written."""

import json
import subprocess
import sys
import types

import pytest

from macvlan_conformance import catalogue, checks, faults
from macvlan_conformance.report.results import ResultsError, load
from macvlan_conformance.topology import load_topology, parse_topology
from macvlan_conformance.verdicts import Verdict, judge
from macvlan_conformance import expectations as ex

from fixtures.conformance import check_of

from ..conftest import ROOT, TOPOLOGIES

REF = load_topology(TOPOLOGIES / "reference.yaml")


def test_every_registered_check_has_one_suite_test_and_every_marker_is_registered():
    entries = catalogue.build()
    assert [e.id for e in entries] == [c.id for c in checks.CHECKS]
    assert all(e.must and all(line.startswith("MUST") for line in e.must) for e in entries)


def test_a_misspelt_marker_in_a_suite_file_is_an_error(tmp_path):
    (tmp_path / "test_x.py").write_text('import pytest\n\n@pytest.mark.check("intra-vlan.same-nod")\n'
                                        'def test_x(case):\n    pass\n')
    with pytest.raises(checks.UnknownCheck, match=r"test_x.py::test_x: unknown check id 'intra-vlan.same-nod'"):
        catalogue.suite_tests(tmp_path)


def test_a_misspelt_marker_fails_collection_instead_of_deselecting():
    marker = types.SimpleNamespace(args=("gateway.arpp",))
    node = types.SimpleNamespace(nodeid="suites/test_gateway.py::test_x", get_closest_marker=lambda name: marker)
    with pytest.raises(pytest.fail.Exception, match="unknown check id 'gateway.arpp'"):
        check_of(node)
    unmarked = types.SimpleNamespace(nodeid="suites/test_y.py::test_y", get_closest_marker=lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="must declare its check"):
        check_of(unmarked)


def test_a_fault_breaking_an_unknown_check_is_refused_at_definition():
    with pytest.raises(checks.UnknownCheck, match="fault typo: breaks: unknown check id 'mtu.df-pong'"):
        type("Typo", (faults.Fault,), {"name": "typo", "breaks": frozenset({"mtu.df-pong"})})


def test_a_baseline_with_an_unknown_check_id_is_refused(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"run": {}, "checks": [{"id": "intra-vlan.sam-node", "nodeid": "x",
                                                        "outcome": "passed"}]}))
    with pytest.raises(ResultsError, match=rf"{path}: unknown check id 'intra-vlan.sam-node'"):
        load(path)


def test_an_unknown_fault_name_is_refused_before_any_lab_is_built():
    proc = subprocess.run([sys.executable, "-m", "macvlan_conformance.cli", "selftest", "--faults",
                           "vlanif-down,vlanif-dwn"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and "--faults: unknown vlanif-dwn; choose from: vlan-removed-from-trunk" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_faults_that_do_not_apply_say_why_instead_of_raising(reference_data):
    reference_data["switch"]["vlanifs"] = [1, 100]
    t = parse_topology(reference_data)
    skipped = faults.not_applicable(t)
    assert skipped["router-one-way-filter"] == "needs two tagged VLANs with a vlanif"
    assert skipped["master-in-wrong-vlan"] == "needs two tagged VLANs with a vlanif"
    assert "vlanif-down" in faults.catalogue(t)  # VLAN 100 still has its vlanif
    assert set(skipped) | set(faults.catalogue(t)) == set(faults.NAMES)


def test_registry_flags_drive_sampling_and_windows():
    cases = checks.all_cases(load_topology(TOPOLOGIES / "dual-stack.yaml"))  # every probed check has cases
    sampled = checks.sample(cases)
    for check in checks.case_checks():
        kept = [c for c in sampled if c.check == check.id]
        assert kept, check.id
        if not check.sampled:
            assert kept == [c for c in cases if c.check == check.id]
    assert {c.id for c in checks.CHECKS if c.windowed} == {
        "isolation.cross-vlan-arp", "isolation.broadcast", "isolation.own-master", "gateway.arp",
        "addressing.unique-ip", "mtu.df-ping", "host.node-reachability", "addressing.dad"}


def test_allure_categories_match_the_failure_message_of_every_check():
    import re
    categories = checks.allure_categories()
    for check in checks.CHECKS:
        message = f"[{check.id}] somewhere: something failed"
        names = [c["name"] for c in categories if "messageRegex" in c and re.match(c["messageRegex"], message)]
        assert names == [check.category.value], (check.id, names)


def test_a_probe_error_fails_and_an_observed_breach_needs_no_control():
    case = next(c for c in checks.cases_for(REF, "isolation.cross-vlan-arp"))
    assert not judge(case, Verdict.PROBE_ERROR, control=Verdict.ARP_REPLY).passed
    breach = judge(case, Verdict.ARP_REPLY, control=Verdict.NO_ARP_REPLY)
    assert not breach.passed and breach.observed == Verdict.ARP_REPLY  # the breach, not "inconclusive"
    silent = judge(case, Verdict.NO_ARP_REPLY, control=Verdict.NO_ARP_REPLY)
    assert not silent.passed and silent.observed == Verdict.INCONCLUSIVE


def test_every_generated_case_belongs_to_a_registered_check():
    generated = {c.check for check in checks.case_checks() for c in check.generate(REF)}
    assert generated <= set(checks.REGISTRY), generated - set(checks.REGISTRY)
    assert all(isinstance(c, ex.Case) for c in checks.all_cases(REF))

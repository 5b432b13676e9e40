"""Where the diagnosis shows: results.json, the terminal, JUnit's suite properties, the HTML report (it opens
with the likely causes and the failures grouped by them), ``macvlan-conformance report`` on files written
before the diagnosis existed, and the self-test's measure of it."""

import json
import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

from macvlan_conformance import diagnosis, faults, selftest
from macvlan_conformance.report import html
from macvlan_conformance.report import results as res
from macvlan_conformance.report import schema
from macvlan_conformance.topology import load_topology

from ..conftest import ROOT, TOPOLOGIES
from .netsim import Net, records

DATA = ROOT / "tests" / "data"


class _Reporter:
    def __init__(self):
        self.lines = []

    def write_line(self, line):
        self.lines.append(line)


class _Xml:
    def __init__(self):
        self.properties = []

    def add_global_property(self, name, value):
        self.properties.append((name, value))


def _plugin(tmp_path, run: list[dict]):
    """A ResultsPlugin of the reference topology fed ``run`` (records as the suites report them)."""
    from _pytest.junitxml import xml_key
    from fixtures.results import ResultsPlugin
    from fixtures.state import RunState
    reporter, xml = _Reporter(), _Xml()
    options = {"--results": str(tmp_path / "results.json"), "--html-report": str(tmp_path / "r.html"),
               "--history": str(tmp_path / "h.jsonl"), "--catalogue": str(tmp_path / "c.yaml"), "--target": "lab",
               "--matrix": "full", "--probe-next-hop": "auto", "--baseline": None}
    config = SimpleNamespace(getoption=options.__getitem__, option=SimpleNamespace(collectonly=False),
                             pluginmanager=SimpleNamespace(get_plugin=lambda name: reporter), stash={xml_key: xml})
    state = RunState(load_topology(TOPOLOGIES / "reference.yaml"), "reference.yaml", is_worker=False)
    plugin = ResultsPlugin(config, state)
    for record in run:
        result = {k: v for k, v in record.items() if k not in ("id", "nodeid", "outcome")}
        plugin.pytest_runtest_logreport(SimpleNamespace(
            user_properties=[("mc_result", {**result, "check": record["id"]})], when="call", outcome=record["outcome"],
            nodeid=record["nodeid"], duration=0.1, failed=record["outcome"] == "failed"))
    return plugin, reporter, xml


def _finish(plugin, status=pytest.ExitCode.TESTS_FAILED):
    session = SimpleNamespace(exitstatus=status)
    plugin.pytest_sessionfinish_diagnose(session, status)   # tryfirst: before the JUnit writer's sessionfinish
    plugin.pytest_sessionfinish(session, status)


def test_a_run_writes_its_diagnosis_says_it_first_and_gives_it_to_junit(tmp_path):
    topology = load_topology(TOPOLOGIES / "reference.yaml")
    plugin, reporter, xml = _plugin(tmp_path, records(topology, Net(vlanifs_down={200})))
    _finish(plugin)
    written = res.load(tmp_path / "results.json")
    assert written["diagnosis"][0]["place"] == {"kind": "vlanif", "vlan": 200}
    assert set(written["diagnosis"][0]) == {"cause", "place", "evidence", "explains"}
    causes = [i for i, line in enumerate(reporter.lines) if "likely cause 1: the vlanif of VLAN 200" in line]
    counts = [i for i, line in enumerate(reporter.lines) if " passed, " in line and " failed, " in line]
    assert causes and counts and causes[0] < counts[0]  # the cause before the counts
    assert xml.properties[0][0] == "diagnosis.1" and xml.properties[0][1].startswith("vlanif 200: the vlanif of")
    assert 'id="diagnosis"' in (tmp_path / "r.html").read_text()


def test_a_healthy_run_writes_an_empty_diagnosis(tmp_path):
    topology = load_topology(TOPOLOGIES / "reference.yaml")
    plugin, reporter, xml = _plugin(tmp_path, records(topology))
    _finish(plugin, pytest.ExitCode.OK)
    assert res.load(tmp_path / "results.json")["diagnosis"] == []
    assert not xml.properties and not any("likely cause" in line for line in reporter.lines)
    assert 'id="diagnosis"' not in (tmp_path / "r.html").read_text()


def test_the_junit_properties_reach_the_xml_file(tmp_path):
    """pytest takes the plugin's tryfirst ``pytest_sessionfinish_diagnose`` for a sessionfinish hook (a hook
    method's name must start with ``pytest_``), and runs it before the JUnit writer writes its file."""
    (tmp_path / "conftest.py").write_text(
        "import pytest\n"
        "from fixtures.results import ResultsPlugin\n"
        "class Plugin:\n"
        "    pytest_sessionfinish_diagnose = ResultsPlugin.pytest_sessionfinish_diagnose\n"
        "    def __init__(self, config):\n"
        "        self.config = config\n"
        "    def _diagnose(self):\n"
        "        return [{'cause': 'the router does not forward', 'place': {'kind': 'router'}, 'evidence': '',"
        " 'explains': []}]\n"
        "def pytest_configure(config):\n"
        "    config.pluginmanager.register(Plugin(config), 'diagnosis')\n")
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--rootdir={tmp_path}",
                           "--junitxml", str(tmp_path / "junit.xml"), str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert '<property name="diagnosis.1" value="the router: the router does not forward" />' in \
        (tmp_path / "junit.xml").read_text()


def test_the_report_opens_with_the_causes_and_groups_the_failures_by_them():
    topology = load_topology(TOPOLOGIES / "reference.yaml")
    old = json.loads((DATA / "broken-vlanif-down.json").read_text())  # written before the diagnosis existed
    page = html.render(old)
    assert page.index('id="diagnosis"') < page.index('id="summary"') < page.index('id="matrices"')
    groups = re.findall(r'<details class="diagnosis-group[^"]*"', page)
    assert len(groups) == 2 and 'class="diagnosis-group unexplained"' in page  # vlanif 100, and the unexplained
    section = page[page.index('id="diagnosis"'):page.index('id="summary"')]
    assert "the vlanif of VLAN 100" in section and "vlanif vlan=100" in section and "evidence: all 44" in section
    assert section.count('<a href="#ev-') == old["summary"]["failed"]  # every failure in one group
    assert page.count('class="failure"') == old["summary"]["failed"]    # the per-failure rows stay
    both = records(topology, Net(down={"sa-w2-b/eth0"}, vlanifs_down={1}))
    page = html.render({"run": {}, "topology": json.loads(topology.model_dump_json(by_alias=True)), "checks": both})
    assert len(re.findall(r'<details class="diagnosis-group"', page)) == 2 and "unexplained" not in page


def test_report_recomputes_the_diagnosis_of_an_old_file(tmp_path):
    done = subprocess.run([sys.executable, "-m", "macvlan_conformance.cli", "report",
                           str(DATA / "broken-vlanif-down.json"), "--html", str(tmp_path / "r.html"),
                           "--history", str(tmp_path / "h.jsonl")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "likely cause 1: the vlanif of VLAN 100" in done.stderr
    assert "3 failures fit no single place" in done.stderr
    assert "Likely causes" in (tmp_path / "r.html").read_text()


def _row(name, topology, diagnosed):
    fault = faults.catalogue(topology)[name]
    return selftest.FaultRow(name, "", sorted(fault.breaks), sorted(fault.breaks), [], [], 3, fault.place(topology),
                             diagnosed, "a cause" if diagnosed else "")


def test_the_self_test_measures_the_first_cause_and_refuses_a_diagnosed_healthy_run():
    topology = load_topology(TOPOLOGIES / "reference.yaml")
    healthy = {"summary": {"passed": 3, "failed": 0}, "checks": [], "topology": None}
    rows = [_row("vlanif-down", topology, {"kind": "vlanif", "vlan": 100}),
            _row("bond-both-down", topology, {"kind": "node-vlan", "node": "worker2", "vlan": 200})]
    matrix = selftest.matrix(healthy, rows)
    assert matrix["ok"] and matrix["diagnosis"] == {"first_cause_at_place": 1, "of": 2}
    text = selftest.render_text(matrix)
    assert "diagnosis: 1/2 first cause at the fault's place" in text
    assert "first cause NOT at the fault's place (VLAN 200 on worker2's trunk; the fault is at worker2's trunk" in text
    diagnosed = {**healthy, "diagnosis": [{"cause": "x", "place": {"kind": "router"}, "evidence": "", "explains": []}]}
    assert not selftest.matrix(diagnosed, rows)["ok"]
    assert "healthy run has a diagnosis" in selftest.render_text(selftest.matrix(diagnosed, rows))
    page = html.render({"run": {}, "checks": []}, selftest=matrix)
    assert 'id="selftest-diagnosis"' in page and "1/2 first cause" in page


def test_a_cause_of_one_family_says_its_family_and_the_self_test_counts_it_at_the_faults_place():
    """Dual stack, IPv6 forwarding off: the cause names the router's IPv6 (``ip_version`` in its place, "(IPv6)" in
    its words), results.json takes it, and the self-test finds it at the place the fault declares."""
    topology = load_topology(TOPOLOGIES / "dual-stack.yaml")
    run = records(topology, Net(forwarding_off={6}))
    causes = [c.to_dict() for c in diagnosis.diagnose(topology, run)]
    assert causes[0]["place"] == {"kind": "router", "ip_version": 6}
    assert diagnosis.one_line(causes[0]).startswith("the router (IPv6): the router does not forward IPv6")
    schema.Results.model_validate({"run": {}, "checks": run, "diagnosis": causes})
    assert selftest.diagnosis_ok(_row("router-ipv6-forwarding-off", topology, causes[0]["place"]))

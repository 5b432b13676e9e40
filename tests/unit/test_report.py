"""Reports from recorded results.json files: the numbers, the matrix cells, baselines and history; what the
results plugin writes for a complete and for an interrupted run; a dual-stack run's matrices, regressions and
topology, per address family (synthetic results)."""

import copy
import json
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

from macvlan_conformance.report import baseline, history, html, outputs, topology_svg
from macvlan_conformance.report import results as res
from macvlan_conformance.topology import load_topology

from ..conftest import ROOT, TOPOLOGIES
from ..report.synthetic import dual_stack_results

DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="module")
def healthy():
    return res.load(DATA / "healthy.json")


@pytest.fixture(scope="module")
def broken():
    return res.load(DATA / "broken-vlanif-down.json")


@pytest.fixture(scope="module")
def dual_stack():
    """Every case of the dual-stack topology; IPv6 routing through vlanif 200 fails, IPv4 passes."""
    return dual_stack_results(broken=True)


def test_area_summary_counts_every_record(healthy, broken):
    for results in (healthy, broken):
        areas = res.area_summary(results)
        assert sum(c["passed"] + c["failed"] + c["flaky"] for c in areas.values()) == len(results["checks"])
    broken_areas = res.area_summary(broken)
    assert broken_areas["inter-VLAN"]["failed"] == sum(
        1 for r in broken["checks"] if r["outcome"] == "failed" and r["id"].split(".")[0] in ("inter-vlan", "gateway"))
    assert res.area_summary(healthy)["inter-VLAN"]["failed"] == 0


def test_matrix_cells(broken):
    matrices = {(m.src_vlan, m.dst_vlan): m for m in res.matrices(broken)}
    assert set(matrices) >= {("vlan100", "vlan100"), ("vlan100", "vlan200"), ("vlan0", "vlan200")}
    routed = matrices[("vlan100", "vlan200")].cell("vlan100/sa-w1-a", "vlan200/sa-w1-c")
    assert (routed["outcome"], routed["expected"], routed["observed"]) == ("failed", "reachable-routed", "no-arp-reply")
    intra = matrices[("vlan100", "vlan100")].cell("vlan100/sa-w1-a", "vlan100/sa-w2-a")
    assert intra["outcome"] == "passed" and intra["observed"] == "reachable-l2"
    assert matrices[("vlan100", "vlan100")].cell("vlan100/sa-w1-a", "vlan100/sa-w1-a") is None


def test_html_shows_summary_failures_and_matrix(broken):
    page = html.render(broken)
    failed = broken["summary"]["failed"]
    assert f"{failed} failed" in page
    cell = re.search(r'<td class="cell fail" title="inter-vlan.routed: expected reachable-routed, observed '
                     r'no-arp-reply"><a href="#ev-(\d+)">✗</a></td>', page)
    assert cell, "a failed matrix cell with expected vs observed and a link to its evidence"
    assert f'id="ev-{cell.group(1)}"' in page
    assert "reproduce: <code>ip netns exec mcl-" in page
    assert page.count('class="failure"') == failed


def test_flaky_outcomes_are_shown_as_such(healthy):
    flaky = copy.deepcopy(healthy)
    record = next(r for r in flaky["checks"] if r["id"] == "intra-vlan.cross-node")
    record["outcome"], record["attempts"] = "flaky", 2
    page = html.render(flaky)
    assert '<td class="cell flaky"' in page and "2 attempts" in page
    assert res.area_summary(flaky)["intra-VLAN"]["flaky"] == 1


def test_baseline_lists_regressions_fixes_and_drift(healthy, broken):
    down = baseline.compare(healthy, broken)
    failing = {r["nodeid"] for r in broken["checks"] if r["outcome"] == "failed"}
    assert {r["nodeid"] for r in down.regressions} == failing and down.has_regressions
    up = baseline.compare(broken, healthy)
    assert {r["nodeid"] for r in up.fixes} == failing and not up.has_regressions
    changed = copy.deepcopy(healthy)
    changed["facts"]["gateway_macs"]["100"] = "02:00:00:00:99:99"
    changed["facts"]["endpoints"]["sa-w1-a/eth0"]["mtu"] = 1400
    changed["facts"]["endpoints"]["sa-w1-b/eth0"]["pool"] = "other-pool"
    removed = changed["checks"].pop()
    drift = baseline.compare(healthy, changed)
    assert "gateway MAC of VLAN 100: 02:6d:63:00:00:64 -> 02:00:00:00:99:99" in drift.drift
    assert "MTU of sa-w1-a/eth0: 1500 -> 1400" in drift.drift
    assert "pool of sa-w1-b/eth0: vlan100-v4 -> other-pool" in drift.drift
    assert drift.removed == [removed["nodeid"]] and not drift.regressions


def test_report_cli_exit_status(tmp_path):
    def report(*args):
        return subprocess.run([sys.executable, "-m", "macvlan_conformance.cli", "report", *args,
                               "--html", str(tmp_path / "r.html"), "--history", str(tmp_path / "h.jsonl")],
                              capture_output=True, text=True, cwd=ROOT)
    regression = report(str(DATA / "broken-vlanif-down.json"), "--baseline", str(DATA / "healthy.json"))
    assert regression.returncode == 1 and "REGRESSION" in regression.stdout
    assert report(str(DATA / "healthy.json"), "--baseline", str(DATA / "broken-vlanif-down.json")).returncode == 0
    bad = report(str(tmp_path / "missing.json"))
    assert bad.returncode == 2 and "cannot read" in bad.stderr


def test_history_trend(tmp_path, healthy, broken):
    path = tmp_path / "history.jsonl"
    history.append(path, healthy)
    history.append(path, broken)
    path.open("a").write("not json\n")
    trend = history.read(path)
    assert [e["summary"]["failed"] for e in trend.entries] == [0, broken["summary"]["failed"]]
    assert trend.skipped == [f"{path}:3: not JSON (Expecting value at line 1 column 1), skipped"]
    page = html.render(broken, history=trend.entries)
    assert 'id="trend"' in page and f'<td class="fail">{broken["summary"]["failed"]}</td>' in page


def test_results_file_errors(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{")
    with pytest.raises(res.ResultsError, match="not JSON"):
        res.load(bad)
    bad.write_text(json.dumps({"foo": 1}))
    with pytest.raises(res.ResultsError, match="not a macvlan-conformance results.json"):
        res.load(bad)


def test_outputs_of_a_complete_and_an_interrupted_run(tmp_path):
    complete = outputs.plan(tmp_path / "results.json", tmp_path / "conformance.html", tmp_path / "h.jsonl", False)
    assert (complete.results, complete.html, complete.history) == (
        tmp_path / "results.json", tmp_path / "conformance.html", tmp_path / "h.jsonl")
    assert complete.stale == [tmp_path / "results.interrupted.json", tmp_path / "conformance.interrupted.html"]
    stopped = outputs.plan(tmp_path / "results.json", tmp_path / "conformance.html", tmp_path / "h.jsonl", True)
    assert (stopped.results, stopped.html, stopped.history, stopped.stale) == (
        tmp_path / "results.interrupted.json", tmp_path / "conformance.interrupted.html", None, [])
    assert outputs.interrupted_line(stopped) == (
        f"interrupted: partial results in {stopped.results} (report {stopped.html}); no complete run's report at "
        f"{tmp_path / 'results.json'} yet")
    (tmp_path / "results.json").write_text("{}")
    assert outputs.interrupted_line(stopped).endswith(f"; the previous report {tmp_path / 'results.json'} is untouched")


def test_only_pytest_interrupted_counts_as_an_interrupted_run():
    from fixtures.results import is_interrupted
    assert is_interrupted(pytest.ExitCode.INTERRUPTED) and is_interrupted(2)
    assert not any(is_interrupted(s) for s in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, 1, 0))


class _Reporter:
    def __init__(self):
        self.lines = []

    def write_line(self, line):
        self.lines.append(line)


class _Config:
    """What ResultsPlugin reads of pytest's config."""

    def __init__(self, tmp_path, reporter):
        self.options = {"--results": str(tmp_path / "results.json"), "--html-report": str(tmp_path / "r.html"),
                        "--history": str(tmp_path / "h.jsonl"), "--catalogue": str(tmp_path / "c.yaml"),
                        "--target": "lab", "--matrix": "full", "--probe-next-hop": "auto", "--baseline": None}
        self.option = SimpleNamespace(collectonly=False)
        self.pluginmanager = SimpleNamespace(get_plugin=lambda name: reporter)

    def getoption(self, name):
        return self.options[name]


def _finish_run(tmp_path, healthy, exitstatus, count=3):
    """A ResultsPlugin fed ``count`` recorded tests, finished with pytest's ``exitstatus``."""
    from fixtures.results import ResultsPlugin
    from fixtures.state import RunState
    from macvlan_conformance.topology import load_topology
    reporter = _Reporter()
    state = RunState(load_topology(ROOT / "topologies" / "reference.yaml"), "reference.yaml", is_worker=False)
    plugin = ResultsPlugin(_Config(tmp_path, reporter), state)
    for record in healthy["checks"][:count]:
        result = {k: v for k, v in record.items() if k not in ("id", "nodeid", "outcome", "duration_s")}
        plugin.pytest_runtest_logreport(SimpleNamespace(
            user_properties=[("mc_result", {**result, "check": record["id"]})], when="call", outcome="passed",
            nodeid=record["nodeid"], duration=0.1, failed=False))
    plugin.pytest_sessionfinish(SimpleNamespace(exitstatus=exitstatus), exitstatus)
    return reporter.lines


def test_a_complete_run_writes_a_valid_versioned_results_json_and_a_history_line(tmp_path, healthy):
    (tmp_path / "results.interrupted.json").write_text("{}")  # left by an earlier interrupted run
    lines = _finish_run(tmp_path, healthy, pytest.ExitCode.OK)
    written = res.load(tmp_path / "results.json")  # what the writer writes, the reader reads
    assert written["schema_version"] == 1 and written["run"]["interrupted"] is False
    assert written["summary"]["passed"] == 3 and (tmp_path / "r.html").exists()
    assert len(history.read(tmp_path / "h.jsonl").entries) == 1
    assert not (tmp_path / "results.interrupted.json").exists()
    assert any(f"results in {tmp_path / 'results.json'}" in line for line in lines)


def test_an_interrupted_run_leaves_the_last_complete_run_alone(tmp_path, healthy):
    _finish_run(tmp_path, healthy, pytest.ExitCode.OK)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    lines = _finish_run(tmp_path, healthy, pytest.ExitCode.INTERRUPTED, count=1)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name in before} == before  # history too
    partial = res.load(tmp_path / "results.interrupted.json")
    assert partial["run"]["interrupted"] is True and partial["summary"]["total"] == 1
    assert 'id="interrupted"' in (tmp_path / "r.interrupted.html").read_text()
    with pytest.raises(res.ResultsError, match="cannot be a baseline"):
        res.load_baseline(tmp_path / "results.interrupted.json")
    said = [line for line in lines if "interrupted" in line]
    assert said == [f"macvlan-conformance: 1 passed, 0 failed, 0 flaky before the run was interrupted: partial "
                    f"results in {tmp_path / 'results.interrupted.json'} (report {tmp_path / 'r.interrupted.html'}); "
                    f"the previous report {tmp_path / 'results.json'} and {tmp_path / 'r.html'} are untouched"]


def test_the_run_tells_of_history_lines_it_skipped(tmp_path, healthy):
    (tmp_path / "h.jsonl").write_bytes(b'{"summary": []}\n')
    lines = _finish_run(tmp_path, healthy, pytest.ExitCode.OK)
    assert f"macvlan-conformance: warning: {tmp_path / 'h.jsonl'}:1: not a history entry (summary: should be a " \
           f"valid dictionary, got an array ([])), skipped" in lines
    assert 'id="trend"' in (tmp_path / "r.html").read_text()


def test_dual_stack_has_a_matrix_per_family_and_vlan_pair(dual_stack, healthy):
    matrices = {(m.src_vlan, m.dst_vlan, m.ip_version): m for m in res.matrices(dual_stack)}
    assert set(matrices) == {(s, d, v) for s, d, _ in matrices for v in (4, 6)}
    v4, v6 = matrices[("vlan100", "vlan200", 4)], matrices[("vlan100", "vlan200", 6)]
    assert (v4.anchor, v4.family, v6.anchor, v6.family) == (
        "m-vlan100-vlan200-ipv4", "IPv4", "m-vlan100-vlan200-ipv6", "IPv6")
    ipv4, ipv6 = (m.cell("vlan100/sa-w1-a", "vlan200/sa-w1-c") for m in (v4, v6))
    assert (ipv4["outcome"], ipv4["ip_version"], ipv6["outcome"], ipv6["ip_version"]) == ("passed", 4, "failed", 6)
    assert v4.outcomes == {"passed": 6} and v6.outcomes == {"failed": 6}
    assert [(o.family, o.anchor) for o in res.vlan_pairs(list(matrices.values()))] == [
        ("IPv4", "vlan-pairs-ipv4"), ("IPv6", "vlan-pairs-ipv6")]
    plain = res.matrices(healthy)  # an IPv4-only run: matrices and overview as before dual stack
    assert all(m.family == "" and m.anchor == f"m-{m.src_vlan}-{m.dst_vlan}" for m in plain)
    assert [(o.family, o.anchor) for o in res.vlan_pairs(plain)] == [("", "vlan-pairs")]


def _matrix_groups(page: str) -> dict[str, tuple[bool, str]]:
    """The page's matrix groups: anchor -> (open, content)."""
    found = re.findall(r'<details class="matrix-group" id="([^"]+)"( open)?>(.*?)</details>', page, re.S)
    return {anchor: (bool(opened), body) for anchor, opened, body in found}


def test_dual_stack_page_shows_each_family_with_its_own_outcomes(dual_stack):
    page = html.render(dual_stack)
    groups = _matrix_groups(page)
    assert len(groups) == len(res.matrices(dual_stack))
    (v4_open, v4), (v6_open, v6) = groups["m-vlan100-vlan200-ipv4"], groups["m-vlan100-vlan200-ipv6"]
    assert "<b>vlan100 &rarr; vlan200 IPv4</b>" in v4 and 'data-ip-version="4"' in v4
    assert "<b>vlan100 &rarr; vlan200 IPv6</b>" in v6 and 'data-ip-version="6"' in v6
    assert not v4_open and v4.count('class="cell pass"') == 6 and 'class="cell fail"' not in v4
    assert v6_open and v6.count('class="cell fail"') == 6 and 'class="cell pass"' not in v6
    assert 'title="inter-vlan.routed [ipv6]: expected reachable-routed, observed blocked"' in v6
    overviews = dict(re.findall(r'<table class="pairs" id="([^"]+)">(.*?)</table>', page, re.S))
    assert '<td class="pass"><a href="#m-vlan100-vlan200-ipv4">✓ 6</a></td>' in overviews["vlan-pairs-ipv4"]
    assert '<td class="fail"><a href="#m-vlan100-vlan200-ipv6">✗ 6/6</a></td>' in overviews["vlan-pairs-ipv6"]
    failures = re.findall(r'<div class="failure">(.*?)</div>', page, re.S)
    assert len(failures) == dual_stack["summary"]["failed"] and all(" [ipv6]" in f for f in failures)


def test_a_baseline_names_the_family_of_a_regression(dual_stack):
    comparison = baseline.compare(dual_stack_results(broken=False), dual_stack)
    failing = {r["nodeid"] for r in dual_stack["checks"] if r["outcome"] == "failed"}
    assert {r["nodeid"] for r in comparison.regressions} == failing
    assert {r["ip_version"] for r in comparison.regressions} == {6}
    text = baseline.render_text(comparison, "before.json", "after.json")
    regressions = [line for line in text.splitlines() if "REGRESSION" in line]
    assert len(regressions) == len(failing) and all("[ipv6]" in line for line in regressions)
    assert ("  REGRESSION: suites/test_inter-vlan.py::test[vlan100/sa-w1-a -> vlan200/sa-w1-c [ipv6]]: passed -> "
            "failed") in text
    assert "<li class=\"fail\">REGRESSION suites/test_inter-vlan.py::test[vlan100/sa-w1-a -&gt; vlan200/sa-w1-c " \
           "[ipv6]]: passed &rarr; failed</li>" in html.render(dual_stack, comparison=comparison)
    untagged = {**comparison.regressions[0], "nodeid": "suites/test_addressing.py::test_dad[sa-w1-a/eth0]"}
    assert res.named(untagged) == "suites/test_addressing.py::test_dad[sa-w1-a/eth0] [ipv6]"
    assert res.named({**untagged, "ip_version": 4}) == res.named({**untagged, "ip_version": None}) == untagged["nodeid"]


def test_pod_addresses_of_either_family_are_no_drift(dual_stack):
    moved = copy.deepcopy(dual_stack)
    moved["facts"]["endpoints"]["sa-w1-a/eth0"].update(ip="10.100.0.199", ipv6="fd00:100::1ff")
    assert baseline.compare(dual_stack, moved).drift == []


def test_the_topology_shows_the_addresses_of_both_families(dual_stack, healthy):
    svg = topology_svg.render(dual_stack["topology"], dual_stack["facts"])
    fact = dual_stack["facts"]["endpoints"]["sa-w1-a/eth0"]
    assert f'>eth0 {fact["ip"]}</text>' in svg and f'>{fact["ipv6"]}</text>' in svg
    assert ">10.100.0.1 </text>" in svg and ">fd00:100::1</text>" in svg  # the vlanif's gateways, then its MAC
    topology = load_topology(TOPOLOGIES / "ipv6-only.yaml")
    facts = {"endpoints": {"sa-w1-a/eth0": {"ip": None, "ipv6": "fd00:100::100", "vlan": 100}}}
    only = topology_svg.render(topology.model_dump(mode="json", by_alias=True), facts)
    assert ">eth0 fd00:100::100</text>" in only and ">fd00:100::1 </text>" in only and "None" not in only
    plain = topology_svg.render(healthy["topology"], healthy["facts"])  # IPv4 only: one line per chip, as before
    assert 'height="70" rx="8"' in plain and 'height="34" rx="4"' in plain and 'height="28"' not in plain

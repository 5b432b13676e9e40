"""Reports from recorded results.json files: the numbers, the matrix cells, baselines and history."""

import copy
import json
import re
import subprocess
import sys

import pytest

from macvlan_conformance.report import baseline, history, html
from macvlan_conformance.report import results as res

from ..conftest import ROOT

DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="module")
def healthy():
    return res.load(DATA / "healthy.json")


@pytest.fixture(scope="module")
def broken():
    return res.load(DATA / "broken-vlanif-down.json")


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
    entries = history.read(path)
    assert [e["summary"]["failed"] for e in entries] == [0, broken["summary"]["failed"]]
    page = html.render(broken, history=entries)
    assert 'id="trend"' in page and f'<td class="fail">{broken["summary"]["failed"]}</td>' in page


def test_results_file_errors(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{")
    with pytest.raises(res.ResultsError, match="not JSON"):
        res.load(bad)
    bad.write_text(json.dumps({"foo": 1}))
    with pytest.raises(res.ResultsError, match="not a macvlan-conformance results.json"):
        res.load(bad)

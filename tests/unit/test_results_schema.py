"""Everything read back is read defensively: results.json against its versioned schema, history lines,
state files. Each problem is one line naming the file and the field, never a traceback."""

import copy
import json
import subprocess
import sys

import pytest

from macvlan_conformance.json_files import StateFileError
from macvlan_conformance.lab.state import LabState
from macvlan_conformance.report import history, html
from macvlan_conformance.report import results as res
from macvlan_conformance.report.schema import SCHEMA_VERSION
from macvlan_conformance.shared_batches import SharedBatches

from ..conftest import ROOT

DATA = ROOT / "tests" / "data"
HEALTHY = json.loads((DATA / "healthy.json").read_text())


def _write(tmp_path, data, name="old.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def _refused(path, pattern):
    with pytest.raises(res.ResultsError, match=pattern) as info:
        res.load(path)
    assert "\n" not in str(info.value) and len(str(info.value)) < 1200, str(info.value)
    return str(info.value)


def _broken(**changes):
    data = copy.deepcopy(HEALTHY)
    for where, value in changes.items():
        data[where] = value
    return data


def test_the_recorded_files_have_no_schema_version_and_are_read_as_version_0():
    assert "schema_version" not in HEALTHY
    for name in ("healthy.json", "broken-vlanif-down.json"):
        assert res.load(DATA / name)["checks"]


def test_a_version_1_file_is_read(tmp_path):
    assert res.load(_write(tmp_path, _broken(schema_version=SCHEMA_VERSION)))["schema_version"] == 1


def test_a_newer_schema_version_asks_for_an_upgrade(tmp_path):
    path = _write(tmp_path, _broken(schema_version=SCHEMA_VERSION + 1, checks="a newer shape"))
    _refused(path, rf"^{path}: schema_version 2: written by a newer macvlan-conformance \(this version reads up "
                   rf"to 1\); upgrade$")


@pytest.mark.parametrize("version", ["1", -1, True, 1.5])
def test_a_schema_version_that_is_not_a_count_is_refused(tmp_path, version):
    _refused(_write(tmp_path, _broken(schema_version=version)), r": schema_version: ")


def test_a_binary_file_is_refused_in_one_line(tmp_path):
    path = tmp_path / "old.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff")
    _refused(path, rf"^{path}: not UTF-8 text \(byte 0x89 at offset 0: a binary file\?\)$")


def test_a_file_nested_too_deeply_is_refused_in_one_line(tmp_path):
    path = tmp_path / "old.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    _refused(path, "nested too deeply")


@pytest.mark.parametrize("data, pattern", [
    ([1, 2], r"not a macvlan-conformance results.json \(needs 'run' and 'checks', got an array \(\[1, 2\]\)\)"),
    ("text", r"not a macvlan-conformance results.json"),
    ({"run": {}}, r": checks: required key is missing$"),
    (_broken(checks={"a": 1}), r": checks: should be a valid list, got an object"),
    (_broken(run=[]), r": run: should be a valid dictionary, got an array"),
    (_broken(summary={"passed": "185"}), r": summary.passed: should be a valid integer, got a string \(\"185\"\)"),
    (_broken(checks=["passed"]), r": checks\[0\]: should be a valid dictionary"),
    (_broken(facts={"gateway_macs": {"100": 7}}),
     r": facts.gateway_macs\['100'\]: should be a valid string, got a number \(7\)"),
    (_broken(facts={"endpoints": {"sa-w1-a/eth0": {"ipv6": 6}}}),
     r": facts.endpoints\['sa-w1-a/eth0'\].ipv6: should be a valid string, got a number \(6\)$"),
    (_broken(checks=[{**HEALTHY["checks"][0], "ip_version": 5}]), r": checks\[0\].ip_version: 5 is not one of 4 or 6$"),
])
def test_wrong_shapes_name_the_field(tmp_path, data, pattern):
    _refused(_write(tmp_path, data), pattern)


def test_a_record_without_nodeid_names_it(tmp_path):
    data = copy.deepcopy(HEALTHY)
    del data["checks"][3]["nodeid"]
    path = _write(tmp_path, data)
    _refused(path, rf"^{path}: checks\[3\].nodeid: required key is missing$")


def test_outcome_and_id_are_checked(tmp_path):
    data = copy.deepcopy(HEALTHY)
    data["checks"][0]["outcome"] = "errored"
    data["checks"][1]["id"] = 42
    del data["checks"][2]["id"]
    data["checks"][3]["attempts"] = "2"
    message = _refused(_write(tmp_path, data), r"checks\[0\].outcome: \"errored\" is not one of 'passed', 'failed', "
                                               r"'flaky' or 'skipped'; checks\[1\].id: should be a valid string")
    assert message.endswith("checks[2].id: required key is missing; and 1 more")


def test_an_unknown_check_id_keeps_its_message_and_says_where(tmp_path):
    data = copy.deepcopy(HEALTHY)
    data["checks"][5]["id"] = "intra-vlan.sam-node"
    path = _write(tmp_path, data)
    _refused(path, rf"^{path}: unknown check id 'intra-vlan.sam-node' at checks\[5\].id \(not a check of this "
                   rf"version; known: ")


def test_a_record_with_no_check_id_is_valid(tmp_path):
    data = copy.deepcopy(HEALTHY)
    data["checks"][0].update(id=None, outcome="skipped")
    assert res.load(_write(tmp_path, data))["checks"][0]["id"] is None


def test_an_interrupted_run_is_refused_as_a_baseline(tmp_path):
    data = _broken(schema_version=1)
    data["run"]["interrupted"] = True
    path = _write(tmp_path, data)
    assert res.load(path)["run"]["interrupted"]  # its own report can still be rendered
    with pytest.raises(res.ResultsError, match=rf"^{path}: run.interrupted: the partial results of an interrupted "
                                               rf"run cannot be a baseline; use the results.json of a complete run$"):
        res.load_baseline(path)


def _report(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "macvlan_conformance.cli", "report", *args, "--html",
                           str(tmp_path / "r.html"), "--history", str(tmp_path / "h.jsonl")],
                          capture_output=True, text=True, cwd=ROOT)


def test_report_refuses_bad_baselines_in_one_line(tmp_path):
    binary = tmp_path / "old.json"
    binary.write_bytes(b"\xff\xfe\x00")
    interrupted = _broken()
    interrupted["run"]["interrupted"] = True
    for baseline, says in ((binary, "not UTF-8 text"), (_write(tmp_path, interrupted, "int.json"),
                                                       "cannot be a baseline")):
        proc = _report(tmp_path, str(DATA / "healthy.json"), "--baseline", str(baseline))
        assert proc.returncode == 2 and says in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "r.html").exists()


def test_report_never_adds_an_interrupted_run_to_the_history(tmp_path):
    interrupted = _broken()
    interrupted["run"]["interrupted"] = True
    proc = _report(tmp_path, str(_write(tmp_path, interrupted)), "--append-history")
    assert proc.returncode == 2 and "interrupted run; the history has complete runs only" in proc.stderr
    assert not (tmp_path / "h.jsonl").exists()
    proc = _report(tmp_path, str(_write(tmp_path, interrupted)))
    assert proc.returncode == 0 and 'id="interrupted"' in (tmp_path / "r.html").read_text()


def test_pytest_baseline_is_a_usage_error_before_anything_is_built(tmp_path):
    binary = tmp_path / "old.json"
    binary.write_bytes(b"\x00\xff")
    proc = subprocess.run([sys.executable, "-m", "pytest", "suites", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "--baseline", str(binary), "--results", str(tmp_path / "r.json"),
                           "--html-report", str(tmp_path / "r.html"), "--history", str(tmp_path / "h.jsonl"),
                           "--catalogue", str(tmp_path / "c.yaml")], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert f"ERROR: --baseline: {binary}: not UTF-8 text" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("r.*"))


BAD_LINES = [b"[1, 2]", b'{"finished": "x"}', b'{"summary": {"passed": "1", "failed": 0, "flaky": 0}}',
             b'{"finished": "2026-12-01T00:00:00+00:00", "summary": {"pass', b"\xff\xfe not utf-8", b"null"]


def _history_with_bad_lines(tmp_path, healthy):
    path = tmp_path / "h.jsonl"
    history.append(path, healthy)
    with path.open("ab") as fh:
        fh.write(b"\n".join(BAD_LINES) + b"\n")
    history.append(path, healthy)
    return path


def test_bad_history_lines_are_named_and_skipped(tmp_path):
    path = _history_with_bad_lines(tmp_path, HEALTHY)
    trend = history.read(path)
    assert len(trend.entries) == 2 and len(trend.skipped) == len(BAD_LINES)
    assert [line.split(": ", 1)[0] for line in trend.skipped] == [f"{path}:{n}" for n in range(2, 8)]
    assert all(line.endswith(", skipped") and "\n" not in line for line in trend.skipped)
    assert "not a history entry (summary: required key is missing)" in trend.skipped[1]
    assert "summary.passed: should be a valid integer" in trend.skipped[2]
    assert "not JSON (Unterminated string" in trend.skipped[3] and "not UTF-8 text" in trend.skipped[4]


def test_the_report_is_written_despite_bad_history_lines(tmp_path):
    path = _history_with_bad_lines(tmp_path, HEALTHY)
    proc = subprocess.run([sys.executable, "-m", "macvlan_conformance.cli", "report", str(DATA / "healthy.json"),
                           "--html", str(tmp_path / "r.html"), "--history", str(path), "--append-history"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert f"warning: {path}:2: not a history entry" in proc.stderr and "Traceback" not in proc.stderr
    assert 'id="trend"' in (tmp_path / "r.html").read_text()
    assert len(history.read(path).entries) == 3


def test_a_line_cut_by_a_crash_does_not_swallow_the_next_entry(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"finished": "2026-12-01T00:00:00+00:00", "summ')
    history.append(path, HEALTHY)
    trend = history.read(path)
    assert len(trend.entries) == 1 and trend.skipped[0].startswith(f"{path}:1: not JSON")


def test_the_page_leaves_out_history_entries_it_cannot_show():
    entries = [json.loads(b) for b in (b"[1]", b'{"summary": {"passed": "x"}}', b"7")]
    page = html.render(HEALTHY, history=entries + [history.entry(HEALTHY)])
    assert "Trend of the last 1 runs" in page


def test_an_unreadable_history_is_one_warning(tmp_path):
    (tmp_path / "h.jsonl").mkdir()
    trend = history.read(tmp_path / "h.jsonl")
    assert trend.entries == [] and trend.skipped == [f"{tmp_path / 'h.jsonl'}: cannot read (Is a directory); "
                                                     f"no trend shown"]


@pytest.mark.parametrize("content", [b"{", b"\xff", b"[]", b'{"name": "x"}'])
def test_a_damaged_lab_state_file_says_to_clean_the_lab_up(tmp_path, content):
    path = tmp_path / "lab1" / "state.json"
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(StateFileError) as info:
        LabState.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert message.endswith("remove the lab with `macvlan-conformance lab cleanup --name lab1` and start it again")


@pytest.mark.parametrize("content", [b"{", b'{"a": 1}', b"[{}]"])
def test_a_damaged_shared_batch_is_one_line(tmp_path, content):
    batches = SharedBatches(tmp_path)
    cases = [type("Case", (), {"check": "gateway.arp", "id": f"c{i}"})() for i in range(2)]
    (tmp_path / f"{batches.key(cases)}.json").write_bytes(content)
    with pytest.raises(StateFileError, match=rf"^{tmp_path}/\w+\.json: .*; something other than this run wrote it"):
        batches.observe(cases, probe=lambda batch: pytest.fail("probed a batch that was written already"))

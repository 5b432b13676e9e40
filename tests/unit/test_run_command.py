"""``macvlan-conformance run``: its arguments, the pytest command it builds (the Makefile's report paths, the
installed plugin, nothing of the working directory), its exit status and its signal relay. No lab."""

import re
import signal
import sys
from pathlib import Path

import pytest

from macvlan_conformance import cli, run_command
from macvlan_conformance.shipped import shipped_dir

from ..conftest import ROOT


def _argv(tmp_path, monkeypatch, *args, status=0):
    """What ``run`` would execute, and its exit status, with pytest replaced by a recorder."""
    seen = []
    monkeypatch.setattr(run_command, "run_pytest", lambda argv: seen.append(argv) or status)
    code = cli.main(["run", *args])
    return code, (seen[0] if seen else None)


def _option(argv, name):
    for i, arg in enumerate(argv):
        if arg == name:
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def test_the_pytest_command_writes_every_report_where_the_makefile_does(tmp_path, monkeypatch):
    reports = tmp_path / "out" / "reports"
    code, argv = _argv(tmp_path, monkeypatch, "--topology", "minimal", "--reports", str(reports))
    assert code == 0 and reports.is_dir()
    recipe = re.search(r"^conformance:.*?\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    make_reports = dict(re.findall(r"(--[a-z-]+)[= ]\$\(REPORTS\)/(\S+)", recipe))
    assert len(make_reports) == 6
    for option, name in make_reports.items():
        assert _option(argv, option) == str(reports / name), option
    assert argv[:4] == [sys.executable, "-P", "-m", "pytest"]
    assert _option(argv, "--target") == "lab"
    assert _option(argv, "--topology") == str(shipped_dir("topologies") / "minimal.yaml")
    suites = shipped_dir("suites")
    assert str(suites) in argv and _option(argv, "--rootdir") == str(suites.parent)
    assert {"--noconftest", run_command.PLUGIN, "no:cacheprovider"} <= set(argv)
    ini = _option(argv, "-c")
    assert ini == str(shipped_dir("fixtures") / "run.ini") and Path(ini).read_text().split()[-1] == "[pytest]"


def test_pytest_args_after_the_separator_go_last_and_the_exit_status_is_pytests(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, argv = _argv(tmp_path, monkeypatch, "--target", "cluster", "--", "-k", "gateway", "--kubeconfig", "k",
                       status=5)
    assert code == 5, "5: pytest collected nothing"
    assert argv[-4:] == ["-k", "gateway", "--kubeconfig", "k"] and _option(argv, "--target") == "cluster"
    assert "--topology" not in argv, "no --topology: pytest's default, and --lab NAME stays possible"
    assert _option(argv, "--results") == str(tmp_path / "reports" / "results.json"), "default ./reports"


@pytest.mark.parametrize("case", ["unknown topology", "reports is a file", "reports under a file"])
def test_bad_arguments_are_one_line_exit_2_and_write_nothing(case, tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("x")
    args = {"unknown topology": ["--topology", "no-such-topology", "--reports", str(tmp_path / "r")],
            "reports is a file": ["--reports", str(tmp_path / "file")],
            "reports under a file": ["--reports", str(tmp_path / "file" / "r")]}[case]
    before = sorted(tmp_path.rglob("*"))
    code, argv = _argv(tmp_path, monkeypatch, *args)
    err = capsys.readouterr().err.strip()
    assert code == 2 and argv is None and len(err.splitlines()) == 1, err
    assert ("no-such-topology" in err and "check --topology" in err) if case == "unknown topology" \
        else f"--reports {tmp_path / 'file'}" in err and "is a file, not a directory" in err
    assert sorted(tmp_path.rglob("*")) == before


def test_a_run_option_before_the_separator_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["run", "-k", "gateway"])
    assert stopped.value.code == 2 and "unrecognized arguments: -k" in capsys.readouterr().err


CHILD = """
import os, signal, sys, time
got = []
for s in (signal.SIGINT, signal.SIGTERM):
    signal.signal(s, lambda n, f: got.append(n))
print("own-group" if os.getpgrp() != os.getpgid(os.getppid()) else "same-group", flush=True)
os.kill(os.getppid(), int(sys.argv[1]))
deadline = time.monotonic() + 10
while not got and time.monotonic() < deadline:
    time.sleep(0.01)
time.sleep(0.2)  # a second, doubled signal would arrive meanwhile
sys.exit(10 * len(got) + (got[0] if got else 0))
"""


@pytest.mark.parametrize("sent,received", [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGTERM),
                                           (signal.SIGHUP, signal.SIGTERM)])
def test_signals_to_run_reach_pytest_once(sent, received, capfd):
    """pytest runs in its own process group; each signal to ``run`` is passed on exactly once."""
    before = signal.getsignal(sent)
    code = run_command.run_pytest([sys.executable, "-c", CHILD, str(int(sent))])
    assert "own-group" in capfd.readouterr().out
    assert code == 10 + received, f"exit {code}: the child got {code // 10} signal(s), want 1 x {received!r}"
    assert signal.getsignal(sent) is before


def test_a_pytest_killed_by_a_signal_is_128_plus_its_number():
    assert run_command.run_pytest([sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"]) == 137

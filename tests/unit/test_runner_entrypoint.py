"""The runner's entrypoint end to end, without a cluster: in-cluster credentials from a temporary service-
account directory become a kubeconfig the cluster target accepts; a stand-in suite tree
(``$MACVLAN_CONFORMANCE_HOME``) takes the suites' options and checks what it is given; the reports land per
run (PVC mode) or as Sonobuoy's layout, whose ``done`` file is written on success, failure, a run that
could not start and SIGTERM. The real suites run with it on the kube lab (tests/kube/test_runner.py)."""

import json
import os
import signal
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest

from macvlan_conformance.runner import RunnerError, credentials, entrypoint

from ..conftest import TOPOLOGIES

STANDIN_CONFTEST = '''
import os
from pathlib import Path
import pytest
from macvlan_conformance.signals import sigterm_as_interrupt

def pytest_addoption(parser):
    for name in ("--target", "--kubeconfig", "--topology", "--results", "--catalogue", "--html-report", "--history",
                 "--probe-image"):
        parser.addoption(name)

def pytest_configure(config):
    sigterm_as_interrupt()
    if os.environ["STANDIN_MODE"] == "usage":
        raise pytest.UsageError("preflight failed, nothing was created: node worker9 does not exist")

def pytest_sessionfinish(session):
    option = session.config.getoption
    for name in ("--results", "--catalogue", "--html-report"):
        Path(option(name)).write_text(name)
    with open(option("--history"), "a") as history:
        history.write("{}\\n")

@pytest.fixture
def option(request):
    return request.config.getoption
'''
STANDIN_TEST = '''
import json, os, stat, time
from pathlib import Path

def test_the_run_gets_in_cluster_credentials(option):
    from macvlan_conformance.cluster.kube import connect
    path = Path(option("--kubeconfig"))
    cluster = connect(str(path))
    Path(os.environ["STANDIN_SEEN"]).write_text(json.dumps({
        "mode": stat.S_IMODE(path.stat().st_mode), "kubeconfig": str(path), "server": cluster.server,
        "context": cluster.context, "auth": cluster.api.configuration.api_key.get("BearerToken"),
        "target": option("--target"), "topology": option("--topology"), "probe_image": option("--probe-image")}))

def test_a_check():
    if os.environ["STANDIN_MODE"] == "sigterm":
        Path(os.environ["STANDIN_SEEN"] + ".started").write_text("")
        time.sleep(60)
    assert os.environ["STANDIN_MODE"] != "fail", "intra-vlan.same-node: expected reachable-l2, observed blocked"
'''


@pytest.fixture
def account(tmp_path) -> Path:
    directory = tmp_path / "serviceaccount"
    directory.mkdir()
    (directory / "token").write_text("t0ken-of-the-runner")
    (directory / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    return directory


@pytest.fixture
def env(tmp_path, account) -> dict[str, str]:
    home = tmp_path / "home"
    (home / "suites").mkdir(parents=True)
    (home / "conftest.py").write_text(STANDIN_CONFTEST)
    (home / "pytest.ini").write_text("[pytest]\n")
    (home / "suites" / "test_standin.py").write_text(STANDIN_TEST)
    return {**os.environ, "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
            credentials.SERVICEACCOUNT_DIR_ENV: str(account), entrypoint.HOME_ENV: str(home),
            "STANDIN_MODE": "pass", "STANDIN_SEEN": str(tmp_path / "seen.json"),
            "SONOBUOY_RESULTS_DIR": str(tmp_path / "sb")}


def runner(env, *argv, mode="pass") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "macvlan_conformance.runner", "--topology",
                           str(TOPOLOGIES / "minimal.yaml"), *argv], env={**env, "STANDIN_MODE": mode},
                          capture_output=True, text=True, timeout=120)


def sonobuoy_junit(results: Path) -> ElementTree.Element:
    """The JUnit inside the archive the done file names (as Sonobuoy's aggregator unpacks it)."""
    archive = Path((results / "done").read_text())
    assert archive.is_absolute() and archive.parent == results and archive.name.endswith(".tar.gz")
    with tarfile.open(archive) as tar:
        return ElementTree.fromstring(tar.extractfile("junit.xml").read())


def test_a_pvc_run_gets_its_own_reports_directory_and_the_in_cluster_credentials(env, tmp_path):
    proc = runner(env, "--reports", str(tmp_path / "reports"), "--", "--probe-image", "reg/probe:1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    latest = tmp_path / "reports" / "latest"
    assert latest.is_symlink() and latest.resolve().parent == (tmp_path / "reports").resolve()
    assert {p.name for p in latest.iterdir()} == {"junit.xml", "results.json", "conformance.html", "catalogue.yaml"}
    assert (tmp_path / "reports" / "history.jsonl").read_text() == "{}\n"
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen["mode"] == 0o600 and seen["target"] == "cluster" and seen["probe_image"] == "reg/probe:1"
    assert seen["server"] == "https://10.96.0.1:443" and seen["context"] == "in-cluster"
    assert seen["auth"] == "Bearer t0ken-of-the-runner"
    assert not Path(seen["kubeconfig"]).exists()  # the private directory went with the run
    assert "t0ken" not in proc.stdout + proc.stderr
    assert f"reports in {latest.resolve()}" in proc.stdout and proc.stdout.rstrip().endswith("exit status 0")
    again = runner(env, "--reports", str(tmp_path / "reports"))
    assert again.returncode == 0 and len(list((tmp_path / "reports").glob("20*"))) == 2
    assert (tmp_path / "reports" / "history.jsonl").read_text() == "{}\n{}\n"


@pytest.mark.parametrize("mode, status", [("pass", 0), ("fail", 1)])
def test_sonobuoy_mode_writes_the_archive_and_the_done_file_naming_it(env, tmp_path, mode, status):
    proc = runner(env, "--sonobuoy", mode=mode)
    assert proc.returncode == status, proc.stdout + proc.stderr
    suite = sonobuoy_junit(tmp_path / "sb")
    cases = suite.iter("testcase")
    assert len(list(cases)) == 2 and len(list(suite.iter("failure"))) == (mode == "fail")
    with tarfile.open(Path((tmp_path / "sb" / "done").read_text())) as tar:
        assert {"junit.xml", "results.json", "conformance.html", "catalogue.yaml"} <= set(tar.getnames())


def test_a_run_that_cannot_start_still_gives_sonobuoy_a_failed_junit(env, tmp_path):
    proc = runner(env, "--sonobuoy", mode="usage")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    failure = next(sonobuoy_junit(tmp_path / "sb").iter("failure"))
    assert "exit status 4" in failure.get("message") and "worker9 does not exist" in failure.text


def test_missing_credentials_are_one_line_and_sonobuoy_still_gets_its_done_file(env, tmp_path):
    del env["KUBERNETES_SERVICE_HOST"]
    proc = runner(env, "--sonobuoy")
    assert proc.returncode == 4
    assert proc.stderr.splitlines()[0] == ("macvlan-conformance runner: no in-cluster credentials: "
                                           "KUBERNETES_SERVICE_HOST not set; run the runner in a pod (the kubelet "
                                           "sets them), or set them to the API server's address")
    assert "KUBERNETES_SERVICE_HOST not set" in next(sonobuoy_junit(tmp_path / "sb").iter("failure")).get("message")


def test_sigterm_reaches_the_run_once_and_the_done_file_is_still_written(env, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "macvlan_conformance.runner", "--topology",
                             str(TOPOLOGIES / "minimal.yaml"), "--sonobuoy"], env={**env, "STANDIN_MODE": "sigterm"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = tmp_path / "seen.json.started"
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert started.exists(), proc.communicate()[0]
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out  # pytest's "interrupted": the suites' cleanup path ran
    assert (tmp_path / "sb" / "done").exists() and sonobuoy_junit(tmp_path / "sb") is not None


def test_suite_options_the_runner_sets_itself_are_refused(env):
    proc = runner(env, "--sonobuoy", "--", "--kubeconfig", "/elsewhere")
    assert proc.returncode == 2 and "--kubeconfig: the runner sets it" in proc.stderr


@pytest.mark.parametrize("change, message", [
    (lambda d, e: e.pop("KUBERNETES_SERVICE_PORT"), "KUBERNETES_SERVICE_PORT not set"),
    (lambda d, e: e.update(KUBERNETES_SERVICE_PORT="https"), "is not a port number"),
    (lambda d, e: (d / "token").unlink(), "token") ,
    (lambda d, e: (d / "ca.crt").write_text(""), "ca.crt is empty"),
])
def test_missing_or_bad_credentials_name_what_and_the_fix(account, change, message):
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
           credentials.SERVICEACCOUNT_DIR_ENV: str(account)}
    change(account, env)
    with pytest.raises(RunnerError, match=message) as caught:
        credentials.in_cluster(env)
    assert "\n" not in str(caught.value) and "t0ken" not in str(caught.value)


def test_the_kubeconfig_is_private_and_an_ipv6_server_is_bracketed(account, tmp_path):
    (account / "token").write_text("t0ken\n")  # a trailing newline would break the Authorization header
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443",
           credentials.SERVICEACCOUNT_DIR_ENV: str(account)}
    path = credentials.write_kubeconfig(tmp_path, env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    from macvlan_conformance.cluster.kube import connect
    cluster = connect(str(path))
    assert cluster.server == "https://[fd00::1]:6443"
    assert cluster.api.configuration.api_key["BearerToken"] == "Bearer t0ken"
    assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600


def test_the_installed_run_command_is_used_when_no_source_tree_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(entrypoint, "has_run_command", lambda: True)
    argv, cwd = entrypoint.suite_command(tmp_path / "kc", tmp_path / "t.yaml", tmp_path / "out", tmp_path / "h.jsonl",
                                         ["--host-probe"], env={})
    assert argv[1:5] == ["-m", "macvlan_conformance.cli", "run", "--target"] and cwd == tmp_path / "out"
    assert argv[argv.index("--reports") + 1] == str(tmp_path / "out")
    assert argv[argv.index("--") + 1:] == [f"--kubeconfig={tmp_path / 'kc'}", f"--history={tmp_path / 'h.jsonl'}", "-q",
                                           "--host-probe"]

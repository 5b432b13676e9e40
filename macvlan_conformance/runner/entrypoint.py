"""``python -m macvlan_conformance.runner [--topology FILE] [--reports DIR | --sonobuoy] [-- SUITE OPTIONS]``

Runs the conformance suites on the cluster the process runs in: the pod's service-account credentials
become a kubeconfig (0600, in a private temporary directory removed at the end; ``credentials``), and the
suites run on ``--target cluster`` with it (``suite_command``: ``macvlan-conformance run`` where installed,
else ``python -m pytest suites`` in the source tree), the suite options after ``--`` passed on
(``--probe-image``, ``--ipam``, ``--host-probe``...). Their output goes to the log as it comes.

Reports (JUnit, results.json, the HTML report, the catalogue): under ``--reports DIR`` in a directory per
run (``reports``), or with ``--sonobuoy`` in Sonobuoy's results directory followed by the archive and the
``done`` file, written on every path (``sonobuoy``). A run that wrote no JUnit gets one failed test case
saying why.

Exit status: pytest's (0 every check passed, 1 a check failed, 2 interrupted: SIGTERM is passed to the
run, which then removes its objects, 3 internal error, 4 the run could not start: options, topology,
preflight), 4 also for the runner's own setup errors (no in-cluster credentials, no topology file, no
suites; one line on stderr), 128+N when the run was killed by signal N.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from . import RunnerError, credentials, reports, sonobuoy
from .manifests import REPORTS_DIR, TOPOLOGY_DIR, TOPOLOGY_KEY

HOME_ENV = "MACVLAN_CONFORMANCE_HOME"
SETUP_ERROR = 4
OWN_OPTIONS = ("--target", "--kubeconfig", "--context", "--topology", "--results", "--catalogue", "--html-report",
               "--history", "--junitxml", "--junit-xml")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m macvlan_conformance.runner", description=__doc__.splitlines()[0])
    parser.add_argument("--topology", default=f"{TOPOLOGY_DIR}/{TOPOLOGY_KEY}", help="the topology file")
    parser.add_argument("--reports", default=REPORTS_DIR, help="reports volume: one directory per run, and latest")
    parser.add_argument("--sonobuoy", action="store_true",
                        help=f"Sonobuoy mode: reports in ${sonobuoy.RESULTS_DIR_ENV} (default "
                             f"{sonobuoy.DEFAULT_RESULTS_DIR}), then the archive and the done file")
    return parser


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The runner's options, and the suite options after ``--`` (those the runner sets itself are refused)."""
    own, suite = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    args = _parser().parse_args(own)
    clash = [a for a in suite if a.split("=", 1)[0] in OWN_OPTIONS]
    if clash:
        _parser().error(f"{clash[0]}: the runner sets it (its options: --topology, --reports, --sonobuoy)")
    return args, suite


def suites_home(env: dict[str, str] | None = None) -> Path:
    """The source tree holding ``suites/`` and the root ``conftest.py``: ``$MACVLAN_CONFORMANCE_HOME``, else
    the directory above the package (a clone, or an editable install)."""
    env = os.environ if env is None else env
    home = Path(env.get(HOME_ENV) or Path(__file__).resolve().parents[2])
    if not (home / "suites").is_dir() or not (home / "conftest.py").is_file():
        raise RunnerError(f"no conformance suites in {home} (suites/ and conftest.py); set {HOME_ENV} to the "
                          f"macvlan-conformance source tree")
    return home


def has_run_command() -> bool:
    return importlib.util.find_spec("macvlan_conformance.run_command") is not None


def suite_command(kubeconfig: Path, topology: Path, out: Path, history: Path, suite_args: list[str],
                  env: dict[str, str] | None = None) -> tuple[list[str], Path]:
    """The command of the run and its working directory: ``macvlan-conformance run --target cluster`` (the
    installed suites) when this installation has that command and ``$MACVLAN_CONFORMANCE_HOME`` names no
    source tree; otherwise ``python -m pytest suites`` in the source tree (``suites_home``). Both write
    ``reports.FILES`` into ``out``."""
    env = os.environ if env is None else env
    # --option=value: pytest's early parse takes the value of an option it does not know yet for a path
    common = [f"--kubeconfig={kubeconfig}", f"--history={history}", "-q"]
    if has_run_command() and not env.get(HOME_ENV):
        return [sys.executable, "-m", "macvlan_conformance.cli", "run", "--target", "cluster", "--topology",
                str(topology), "--reports", str(out), "--", *common, *suite_args], out
    files = {k: out / v for k, v in reports.FILES.items()}
    argv = [sys.executable, "-m", "pytest", "suites", "-p", "no:cacheprovider", "--target=cluster",
            f"--topology={topology}", f"--junitxml={files['junit']}", f"--results={files['results']}",
            f"--catalogue={files['catalogue']}", f"--html-report={files['html']}", *common, *suite_args]
    return argv, suites_home(env)


def stream(argv: list[str], cwd: Path, keep: int = 40) -> tuple[int, list[str]]:
    """Run ``argv``, copying its output to ours line by line; SIGTERM and SIGINT are passed on to it, once
    (the suites then remove their run). Returns its exit status (128+N if killed by signal N) and its last lines."""
    tail: collections.deque[str] = collections.deque(maxlen=keep)
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", start_new_session=True)  # a terminal's Ctrl-C reaches it once
    forward = {s: signal.signal(s, lambda signum, frame: proc.send_signal(signum)) for s in (signal.SIGTERM,
                                                                                            signal.SIGINT)}
    try:
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            tail.append(line.rstrip("\n"))
        code = proc.wait()
    finally:
        for s, previous in forward.items():
            signal.signal(s, previous)
    return (128 - code if code < 0 else code), list(tail)


def _run(args: argparse.Namespace, suite_args: list[str], out: Path, history: Path) -> tuple[int, list[str]]:
    topology = Path(args.topology)
    if not topology.is_file():
        raise RunnerError(f"--topology {topology}: no such file; mount the topology ConfigMap there (render --runner "
                          f"does) or pass --topology FILE")
    with tempfile.TemporaryDirectory(prefix="macvlan-conformance-runner-") as private:
        kubeconfig = credentials.write_kubeconfig(Path(private))
        argv, cwd = suite_command(kubeconfig, topology.resolve(), out, history, suite_args)
        print(f"macvlan-conformance runner: topology {topology}, reports in {out}: {' '.join(argv[1:5])} ...",
              flush=True)
        return stream(argv, cwd)


def _outputs(args: argparse.Namespace) -> tuple[Path, Path]:
    """This run's reports directory and the history file."""
    if args.sonobuoy:
        out = reports.make_dir(sonobuoy.results_dir(), f"${sonobuoy.RESULTS_DIR_ENV}")
        return out, out / reports.HISTORY
    base = Path(args.reports)
    out = reports.run_dir(base)
    reports.point_latest(base, out)
    return out, base / reports.HISTORY


def _finish(args: argparse.Namespace, out: Path, code: int, tail: list[str]) -> None:
    junit = out / reports.FILES["junit"]
    if reports.ensure_junit(junit, code, tail):
        print(f"macvlan-conformance runner: the run wrote no JUnit report; {junit} records why (exit status {code})",
              file=sys.stderr)
    if args.sonobuoy:
        print(f"macvlan-conformance runner: Sonobuoy results {sonobuoy.finish(out)}, done file written; exit status "
              f"{code}", flush=True)
    else:
        print(f"macvlan-conformance runner: reports in {out} ({', '.join(reports.FILES.values())}); exit status {code}",
              flush=True)


def main(argv: list[str] | None = None) -> int:
    args, suite_args = parse(sys.argv[1:] if argv is None else argv)
    try:
        out, history = _outputs(args)
    except RunnerError as exc:
        print(f"macvlan-conformance runner: {exc}", file=sys.stderr)
        return SETUP_ERROR
    code, tail = 3, ["the runner failed unexpectedly; see its log"]
    try:
        code, tail = _run(args, suite_args, out, history)
    except RunnerError as exc:
        print(f"macvlan-conformance runner: {exc}", file=sys.stderr)
        code, tail = SETUP_ERROR, [str(exc)]
    finally:  # on every path: Sonobuoy waits for its done file until the plugin's timeout otherwise
        _finish(args, out, code, tail)
    return code

"""``macvlan-conformance run``: the conformance suites (of this installation, or of the clone of an editable
install) in a separate ``python -m pytest``, every report under one directory.

The suites' pytest runs in its own process group, so that each Ctrl-C, SIGTERM or SIGHUP reaches it exactly
once, passed on by this command (SIGHUP as SIGTERM), and its cleanup (lab teardown, cluster run deletion)
runs to its end while this command waits. Exit status: pytest's (0 every check passed, 1 some failed, 2
interrupted, 3 internal error, 4 pytest usage error, 5 nothing collected, e.g. a ``-k`` that matches no
test); a bad argument of ``run`` itself is one line and exit 2 before anything is written.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from .shipped import shipped_dir

PLUGIN = "macvlan_conformance.fixtures.plugin"
REPORTS = {"junit": "junit.xml", "allure": "allure-results", "results": "results.json",
           "catalogue": "catalogue.yaml", "html": "conformance.html", "history": "history.jsonl"}
FORWARDED = {signal.SIGINT: signal.SIGINT, signal.SIGTERM: signal.SIGTERM, signal.SIGHUP: signal.SIGTERM}


def add_parser(sub) -> None:
    """Register ``run`` on the CLI's subparsers."""
    run = sub.add_parser(
        "run", help="run the conformance suites with every report under --reports (exit status: pytest's)",
        description="Run the conformance suites (python -m pytest) with every report under --reports: "
                    + ", ".join(REPORTS.values()) + ". Exit status: pytest's (0 every check passed, 1 some "
                    "failed, 2 interrupted, 4 usage error, 5 no test collected); 2 for a bad argument of run.")
    run.add_argument("--target", choices=["lab", "cluster", "kube"], default="lab",
                     help="the embedded lab built for the run (default; needs root), a live cluster (its "
                          "options after --, e.g. -- --kubeconfig PATH), or a kube lab built for the run")
    run.add_argument("--topology", metavar="FILE|NAME",
                     help="topology YAML file, or a shipped name: reference (default), minimal, scale")
    run.add_argument("--reports", metavar="DIR", default="reports",
                     help="directory of every report, created if missing (default: ./reports)")
    run.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS",
                     help="anything after -- goes to pytest as it is: -k EXPR, -n 2 --dist loadfile, --lab NAME, "
                          "--baseline OLD.json, the cluster options, ... (see pytest -p " + PLUGIN + " --help)")
    run.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    topology = _topology(args.topology)
    reports = _reports(Path(args.reports))
    reports.mkdir(parents=True, exist_ok=True)
    return run_pytest(pytest_argv(args.target, topology, reports, args.pytest_args))


def suites_command() -> list[str]:
    """``python -m pytest`` on the suites (the clone's or the installed ones) with their plugin, reading no
    conftest, ini file (``fixtures/run.ini`` is empty) or module (``-P``) of the working directory; node ids
    ``suites/test_*.py::...`` in both layouts. Options follow."""
    suites = shipped_dir("suites")
    return [sys.executable, "-P", "-m", "pytest", "-p", PLUGIN, "-p", "no:cacheprovider", "--noconftest",
            "-c", str(shipped_dir("fixtures") / "run.ini"), "--rootdir", str(suites.parent), str(suites)]


def pytest_argv(target: str, topology: Path | None, reports: Path, extra: list[str]) -> list[str]:
    """The pytest command of a run: every report under ``reports``, ``extra`` last."""
    out = {key: str(reports / name) for key, name in REPORTS.items()}
    return [*suites_command(), "--target", target, *(["--topology", str(topology)] if topology else []),
            f"--junitxml={out['junit']}", f"--alluredir={out['allure']}", "--results", out["results"],
            "--catalogue", out["catalogue"], "--html-report", out["html"], "--history", out["history"], *extra]


def run_pytest(argv: list[str]) -> int:
    """Run ``argv`` in its own process group, passing signals on; its exit status (128+N if killed by N)."""
    child: list[subprocess.Popen] = []
    pending: list[int] = []

    def forward(signum, frame):
        if child:
            child[0].send_signal(FORWARDED[signum])
        else:
            pending.append(FORWARDED[signum])
    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED}
    try:
        child.append(subprocess.Popen(argv, process_group=0))
        for signum in pending:
            child[0].send_signal(signum)
        code = child[0].wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return code if code >= 0 else 128 - code


def _topology(value: str | None) -> Path | None:
    """The topology file, validated now (a bad one raises ``TopologyError``); None: pytest's default."""
    if value is None:
        return None
    from .topology import load_topology, resolve_topology_path
    path = resolve_topology_path(value)
    load_topology(path)
    return path.resolve()


def _reports(path: Path) -> Path:
    """The reports directory, absolute; ``ValueError`` when it cannot be one (nothing is created here)."""
    path = path.resolve()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise ValueError(f"--reports {path}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"--reports {path}: {existing} is not writable")
    return path

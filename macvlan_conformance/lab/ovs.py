"""A private Open vSwitch instance: its own database and ovs-vswitchd (userspace datapath) running in
the lab's fabric namespace, so that every tap it opens stays in lab namespaces."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from .commands import CommandError, run
from .names import OVS_MARK

SCHEMA_CANDIDATES = ("/usr/share/openvswitch/vswitch.ovsschema",)


class OvsInstance:
    """Start/stop one private OVS and run ``ovs-vsctl``/``ovs-appctl`` against it."""

    def __init__(self, run_dir: Path, netns: str, lab: str):
        self.dir = run_dir / "ovs"
        self.netns = netns
        self.lab = lab

    @property
    def db_sock(self) -> Path:
        return self.dir / "db.sock"

    def _pidfile(self, daemon: str) -> Path:
        return self.dir / f"{daemon}.pid"

    def start(self) -> None:
        """Create the database and start both daemons (detached, pidfiles in the run dir)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        schema = next((s for s in SCHEMA_CANDIDATES if Path(s).exists()), None)
        if schema is None:
            raise CommandError(["ovsdb-tool"], 1, "", "vswitch.ovsschema not found; apt-get install openvswitch-switch")
        run(["ovsdb-tool", "create", str(self.dir / "conf.db"), schema])
        run(["ovsdb-server", str(self.dir / "conf.db"), f"--remote=punix:{self.db_sock}",
             f"--pidfile={self._pidfile('ovsdb-server')}", f"--unixctl={self.dir / 'ovsdb-server.ctl'}",
             f"--log-file={self.dir / 'ovsdb-server.log'}", "--detach", "-vconsole:off"])
        self.vsctl("--no-wait", "init")
        run(["ovs-vswitchd", f"unix:{self.db_sock}", "--disable-system",
             f"--pidfile={self._pidfile('ovs-vswitchd')}", f"--unixctl={self.dir / 'ovs-vswitchd.ctl'}",
             f"--log-file={self.dir / 'ovs-vswitchd.log'}", "--detach", "-vconsole:off"], netns=self.netns)

    def vsctl(self, *args: str, timeout: float = 30) -> str:
        return run(["ovs-vsctl", f"--db=unix:{self.db_sock}", f"--timeout={int(timeout)}", *args],
                   timeout=timeout + 5).stdout

    def transaction(self, commands: list[list[str]]) -> str:
        """Run several ovs-vsctl commands as one transaction (joined with ``--``)."""
        argv: list[str] = []
        for command in commands:
            argv += ["--", *command]
        return self.vsctl(*argv)

    def appctl(self, *args: str) -> str:
        return run(["ovs-appctl", "-t", str(self.dir / "ovs-vswitchd.ctl"), *args]).stdout

    def mark(self, table: str, record: str) -> list[str]:
        """An ovs-vsctl command that marks a row as ours."""
        return ["set", table, record, f"external_ids:{OVS_MARK}={self.lab}"]

    def pids(self) -> list[int]:
        found = []
        for daemon in ("ovs-vswitchd", "ovsdb-server"):
            try:
                found.append(int(self._pidfile(daemon).read_text().strip()))
            except (OSError, ValueError):
                pass
        return found

    def stop(self) -> None:
        """Stop both daemons (vswitchd first). Safe to call when they are not running."""
        stop_pids(self.pids())


def stop_pids(pids: list[int], timeout: float = 3.0) -> None:
    """SIGTERM, wait, then SIGKILL whatever is still alive. Reaps our own children."""
    alive = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
            alive.append(pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        if alive:
            time.sleep(0.02)
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False

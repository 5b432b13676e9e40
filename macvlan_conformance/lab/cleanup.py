"""Remove what a lab owns, by its marks only: namespaces named ``mcl-<lab>-*``, processes living in
them or started with the lab's run directory on their command line, and the run directory itself.

``teardown(lab)`` is safe on a half-built or already removed lab; ``sweep()`` finds every lab of ours
(from run directories and namespace names) and tears each down. Nothing without our marks is touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path

from . import neighbours
from .names import LabNames, lab_of_netns, run_root
from .ovs import stop_pids

NETNS_DIR = Path("/run/netns")


def list_netns() -> list[str]:
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir())
    except FileNotFoundError:
        return []


def lab_namespaces(lab: str) -> list[str]:
    prefix = LabNames(lab).ns_prefix
    return [ns for ns in list_netns() if ns.startswith(prefix)]


def _netns_inode(name: str) -> int | None:
    try:
        return os.stat(NETNS_DIR / name).st_ino
    except OSError:
        return None


def owned_pids(lab: str) -> list[int]:
    """Processes of this lab: inside one of its namespaces, or naming its run directory on the command line."""
    inodes = {f"net:[{ino}]" for ns in lab_namespaces(lab) if (ino := _netns_inode(ns)) is not None}
    marker = (str(LabNames(lab).run_dir) + "/").encode()
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if os.readlink(entry / "ns" / "net") in inodes or marker in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def delete_namespaces(names: list[str]) -> None:
    """Delete network namespaces by name (one ``ip -batch``); missing ones are not an error."""
    if not names:
        return
    script = "".join(f"netns del {name}\n" for name in names)
    subprocess.run(["ip", "-force", "-batch", "-"], input=script, text=True, capture_output=True)
    for name in names:  # whatever the batch could not remove (should be nothing)
        if (NETNS_DIR / name).exists():
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


@contextmanager
def _uninterruptible():
    """Ctrl-C and SIGTERM wait until the block is done (a half-done teardown would leave debris)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def teardown(lab: str) -> list[str]:
    """Remove everything lab ``lab`` owns. Returns the namespaces removed. Idempotent, and not interrupted by
    Ctrl-C or SIGTERM. The last lab to go also puts back the host's neighbour-table limits."""
    with _uninterruptible():
        return _teardown(lab)


def _teardown(lab: str) -> list[str]:
    names = LabNames(lab)
    stop_pids(owned_pids(lab))
    namespaces = lab_namespaces(lab)
    delete_namespaces(namespaces)
    shutil.rmtree(names.run_dir, ignore_errors=True)
    if not known_labs():
        neighbours.restore()
    return namespaces


def known_labs() -> list[str]:
    """Every lab of ours on this host: run directories plus namespace marks (a crash may leave either)."""
    labs = {lab for ns in list_netns() if (lab := lab_of_netns(ns))}
    root = run_root()
    if root.is_dir():
        labs |= {p.name for p in root.iterdir() if p.is_dir()}
    return sorted(labs)



def sweep() -> dict[str, list[str]]:
    """Tear down every lab of ours. Returns ``{lab: namespaces removed}``."""
    return {lab: teardown(lab) for lab in known_labs()}

"""Enter a network namespace from one thread, without forking.

pyroute2's ``IPRoute(netns=...)`` forks a helper to open its socket. Forking from a process with threads
runs the interpreter's at-fork hooks (the logging lock among them); a Ctrl-C landing inside them leaves
a lock held and every later fork blocked, so a run hung instead of stopping. ``setns(2)`` for a network
namespace is per thread: :func:`inside` switches only the calling thread and always switches it back,
and a socket keeps the namespace it was created in.
"""

from __future__ import annotations

import ctypes
import os
from contextlib import contextmanager
from typing import Iterator

from pyroute2 import IPRoute

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"
_libc = ctypes.CDLL(None, use_errno=True)


def netns_path(name_or_path: str) -> str:
    """``/run/netns/<name>`` for a bare name; a path is returned unchanged."""
    return name_or_path if "/" in name_or_path else f"{NETNS_DIR}/{name_or_path}"


def _setns_fd(fd: int, what: str) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns({what}): {os.strerror(err)}")


def setns(name_or_path: str) -> None:
    """Move the calling thread into the namespace for good (an agent host thread serving one pod)."""
    path = netns_path(name_or_path)
    fd = os.open(path, os.O_RDONLY)
    try:
        _setns_fd(fd, path)
    finally:
        os.close(fd)


@contextmanager
def inside(name_or_path: str) -> Iterator[None]:
    """Run the block with the calling thread in the namespace (threads started inside the block start
    there too); the thread's own namespace is restored on every exit. A missing namespace raises
    ``FileNotFoundError`` before anything changes."""
    path = netns_path(name_or_path)
    target = os.open(path, os.O_RDONLY)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _setns_fd(target, path)
        try:
            yield
        finally:
            _setns_fd(home, "the thread's own namespace")
    finally:
        os.close(target)
        os.close(home)


def iproute(name_or_path: str) -> IPRoute:
    """An ``IPRoute`` whose netlink socket lives in the namespace (opened in this thread, no fork)."""
    with inside(name_or_path):
        return IPRoute()

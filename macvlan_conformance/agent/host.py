"""The lab's agent host: imports scapy once, then forks one agent per pod namespace.

``python -m macvlan_conformance.agent.host --control-fd N --mark DIR``. The controller sends, over the
control socket, a JSON line ``{"netns": "/run/netns/<pod>"}`` with one file descriptor attached (its
end of a fresh socketpair); the host forks, the child ``setns``-es into the pod and serves the agent
protocol on that socket, exactly as an in-pod agent does on stdin/stdout. EOF on the control socket ends
the host. ``--mark`` puts the lab's run directory on the command line so cleanup can find the host.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import socket

from ..netns import setns


def _child(netns: str, fd: int) -> None:
    from . import ops
    from .server import serve
    setns(netns)
    ops.refresh_scapy()
    sock = socket.socket(fileno=fd)
    with sock.makefile("r") as rfile, sock.makefile("w") as wfile:
        serve(rfile, wfile)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--mark", default="")
    args = parser.parse_args()
    from . import ops, server  # noqa: F401  (the point of the host: pay scapy's import once)

    # Everything imported so far is shared with the forked agents. Moving it out of the collector's reach
    # keeps the children's garbage collections from writing to (and so copying) those pages.
    gc.freeze()

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    control = socket.socket(fileno=args.control_fd)
    buffer = b""
    while True:
        data, fds, _, _ = socket.recv_fds(control, 4096, 4)
        if not data:
            return
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                control.close()
                code = 0
                try:
                    _child(request["netns"], fds[0])
                except BaseException:
                    code = 1
                os._exit(code)
            for fd in fds:
                os.close(fd)
            fds = []
            control.sendall((json.dumps({"pid": pid}) + "\n").encode())


if __name__ == "__main__":
    main()

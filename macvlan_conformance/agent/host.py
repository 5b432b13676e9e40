"""The lab's agent host: one process, one scapy import, one thread per pod namespace.

``python -m macvlan_conformance.agent.host --control-fd N --mark DIR``. The controller sends, over the
control socket, a JSON line ``{"netns": "/run/netns/<pod>"}`` with one file descriptor attached (its
end of a fresh socketpair) and gets ``{"pid": ...}`` back. The host starts a thread that ``setns``-es
itself into the pod and serves the agent protocol on that socket, exactly as an in-pod agent does on
stdin/stdout; the threads it starts for requests inherit the namespace. A namespace that cannot be
entered is answered on the agent socket with ``{"ready": false, "error": ...}``. EOF on the control
socket ends the host. ``--mark`` puts the lab's run directory on the command line so cleanup can find it.

Threads, not forks: 64 forked agents each counted the host's ~80 MiB as their own resident memory.
Operations must therefore never rely on scapy's per-process interface cache (see ``ops``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import threading

from ..netns import setns


def _serve_in(netns: str, fd: int) -> None:
    from .server import serve
    sock = socket.socket(fileno=fd)
    with sock, sock.makefile("r") as rfile, sock.makefile("w") as wfile:
        try:
            setns(netns)  # this thread only; the host's main thread stays where it was started
        except OSError as exc:
            wfile.write(json.dumps({"ready": False, "error": f"cannot enter {netns}: {exc.strerror}"}) + "\n")
            wfile.flush()
            return
        serve(rfile, wfile)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--mark", default="")
    args = parser.parse_args()
    from . import ops, server  # noqa: F401  (the point of the host: pay scapy's import once)

    control = socket.socket(fileno=args.control_fd)
    buffer = b""
    try:
        while True:
            data, fds, _, _ = socket.recv_fds(control, 4096, 4)
            if not data:
                return
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                agent_fd, *extra = fds
                for fd in extra:
                    os.close(fd)
                fds = []
                threading.Thread(target=_serve_in, args=(request["netns"], agent_fd), daemon=True,
                                 name=f"agent {request['netns']}").start()
                control.sendall((json.dumps({"pid": os.getpid()}) + "\n").encode())
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the controller cleans up
        return


if __name__ == "__main__":
    main()

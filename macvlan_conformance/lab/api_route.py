"""The kube lab's nodes reach the API server: a TCP relay listening on ``127.0.0.1:<port>`` inside a node's
network namespace, connecting to ``127.0.0.1:<port>`` of the host, where kube-apiserver listens.

Multus and its delegates run in the node's namespace (where the masters are), and a real node reaches the
API server over its network; the lab keeps every link out of the host's namespace, so this relay is the
node's path to the control plane. It carries bytes only: TLS and authentication stay end to end between
the client and kube-apiserver. The listening socket is opened from a thread inside the node namespace
(``netns.inside``); sockets keep the namespace they were made in, so connections go out from the host's.
"""

from __future__ import annotations

import socket
import threading

from ..netns import inside

CHUNK = 65536


class ApiRelay:
    def __init__(self, netns: str, port: int, address: str = "127.0.0.1"):
        """Listen on ``address:port`` in ``netns`` (the node's loopback, or the node's address where the
        kube-proxy stand-in sends the ``kubernetes`` Service), relay to the host's ``127.0.0.1:port``."""
        self.netns = netns
        self.port = port
        with inside(netns):
            self._listener = socket.create_server((address, port), reuse_port=False)
        self._thread = threading.Thread(target=self._accept, name=f"api-relay {netns}", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)

    def close(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        self._listener.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy until EOF or an error, then close both ends (the other pump then ends too)."""
    try:
        while data := source.recv(CHUNK):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

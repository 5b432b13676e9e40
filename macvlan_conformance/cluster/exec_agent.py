"""The probe agent inside a pod, over the Kubernetes exec stream (``kubectl exec -i`` as an API call).

The agent speaks the same JSON-lines protocol on stdin/stdout as in the lab; this module only carries
the lines over the exec websocket (channel 0 in, channel 1 out, channel 2 the agent's stderr).
"""

from __future__ import annotations

import json
import threading
import time

from kubernetes import client
from kubernetes.stream import stream
from websocket import WebSocketException

from ..agent.client import AgentClient, AgentError
from .kube import Cluster
from .manifests import AGENT_COMMAND

CONTAINER = "probe"


class ExecChannel:
    """Line channel over one exec websocket: ``send`` from any thread, ``recv`` from the reader thread."""

    def __init__(self, ws):
        self.ws = ws
        self._buffer = ""
        self._stderr = ""
        self._send_lock = threading.Lock()

    def send(self, obj: dict) -> None:
        with self._send_lock:
            self.ws.write_stdin(json.dumps(obj) + "\n")

    def recv(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while "\n" not in self._buffer:
            if not self.ws.is_open():
                detail = self._stderr.strip().splitlines()[-1:] or [self.ws.read_channel(3) or "stream closed"]
                raise AgentError(f"the agent exited: {detail[0]}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AgentError(f"no answer within {timeout:.1f} s")
            try:
                self.ws.update(timeout=min(remaining, 1.0))
                if self.ws.peek_stdout():
                    self._buffer += self.ws.read_stdout()
                if self.ws.peek_stderr():
                    self._stderr = (self._stderr + self.ws.read_stderr())[-4000:]
            except (WebSocketException, TypeError, ValueError) as exc:  # TypeError/ValueError: socket closed
                raise AgentError(f"exec stream lost ({exc or type(exc).__name__})") from None
        line, self._buffer = self._buffer.split("\n", 1)
        return json.loads(line)

    def close(self) -> None:
        self.ws.close()


def start_agent(cluster: Cluster, namespace: str, pod: str) -> AgentClient:
    """Exec the agent in ``pod`` and wait for its ready line.

    ``kubernetes.stream.stream`` swaps the transport of the ApiClient it is given while it connects, so
    each exec gets an ApiClient of its own: other threads keep using the shared one undisturbed."""
    api = client.ApiClient(cluster.api.configuration)
    try:
        ws = stream(client.CoreV1Api(api).connect_get_namespaced_pod_exec, pod, namespace, container=CONTAINER,
                    command=AGENT_COMMAND, stdin=True, stdout=True, stderr=True, tty=False,
                    _preload_content=False)
    except Exception as exc:  # the websocket handshake reports API errors as plain exceptions
        raise AgentError(f"{pod}: cannot exec the agent ({str(exc).strip().splitlines()[0]})") from None
    finally:
        api.close()
    channel = ExecChannel(ws)
    return AgentClient(channel, pod)

"""The agent client fails fast: once an agent's stream died, pending and later calls fail at once."""

import json
import socket
import threading

import pytest

from macvlan_conformance.agent.client import AgentClient, AgentError, _LineChannel


def _agent_that_dies_after(requests: int):
    """A socket whose far end says ready, reads ``requests`` requests without answering, then closes."""
    mine, theirs = socket.socketpair()

    def serve():
        with theirs, theirs.makefile("rw") as stream:
            stream.write(json.dumps({"ready": True, "pid": 0}) + "\n")
            stream.flush()
            for _ in range(requests):
                stream.readline()
    threading.Thread(target=serve, daemon=True).start()
    return mine


def test_pending_and_later_calls_fail_at_once_when_the_stream_dies():
    sock = _agent_that_dies_after(1)
    channel = _LineChannel(sock)
    client = AgentClient(channel, "pod-a", release=channel.release)
    try:
        with pytest.raises(AgentError, match="pod-a: the agent exited"):
            client.call("ping", wait=30)  # pending when the stream ends: fails then, not after 30 s
        for _ in range(3):  # later calls: no waiting at all
            with pytest.raises(AgentError, match="pod-a: the agent exited"):
                client.call("describe", wait=30)
    finally:
        client.close()

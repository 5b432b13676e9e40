"""The controller's side of the agent protocol: clients over sockets, and the lab's agent host."""

from __future__ import annotations

import itertools
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path


class AgentError(RuntimeError):
    """The agent could not run an operation (it answered with an error, timed out, or died)."""


class _LineChannel:
    """JSON lines over a socket, reading with a deadline. ``close`` shuts the socket down, which wakes a
    reader blocked in ``recv`` (it sees EOF); the descriptor itself is released by ``release``, once no
    thread can be reading it any more (a closed number is soon reused by another file)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.read_fd = sock.fileno()
        self._buffer = b""

    def send(self, obj: dict) -> None:
        self.sock.sendall((json.dumps(obj) + "\n").encode())

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def release(self) -> None:
        self.sock.close()

    def recv(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AgentError(f"no answer within {timeout:.1f} s")
            ready, _, _ = select.select([self.read_fd], [], [], remaining)
            if ready:
                chunk = os.read(self.read_fd, 65536)
                if not chunk:
                    raise AgentError("the agent exited")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)


class AgentClient:
    """Calls operations on one agent. Thread-safe and concurrent: requests are matched to answers by id
    by a reader thread, so many probes can be in flight on one agent at once. Once the stream dies, every
    pending call and every later one fails at once with the reason (no call waits out its timeout)."""

    def __init__(self, channel, name: str, release=None):
        """``channel`` has ``send(obj)``, ``recv(timeout)`` and ``close()`` (which must end a blocked
        ``recv``); ``release`` frees what is left once the reader thread has stopped."""
        self.channel = channel
        self.name = name
        self._release = release
        self._closed = False
        self._send_lock = threading.Lock()
        self._pending: dict[int, Future] = {}
        self._pending_lock = threading.Lock()
        self._dead: AgentError | None = None  # why the stream ended, once it has
        self._ids = itertools.count(1)
        hello = channel.recv(timeout=30)
        if not hello.get("ready"):
            raise AgentError(f"agent for {name} did not start: {hello.get('error', hello)}")
        self.pid = hello.get("pid")
        self._reader = threading.Thread(target=self._read_answers, name=f"agent-{name}", daemon=True)
        self._reader.start()

    def _read_answers(self) -> None:
        error = AgentError(f"the agent of {self.name} exited")
        while True:
            try:
                answer = self.channel.recv(timeout=3600)
            except AgentError as exc:
                error = AgentError(f"{self.name}: {exc}")
                break
            except (OSError, ValueError) as exc:
                error = AgentError(f"{self.name}: connection lost ({exc})")
                break
            with self._pending_lock:
                future = self._pending.pop(answer.get("id"), None)
            if future is not None:
                future.set_result(answer)
        self._die(error)

    def _die(self, error: AgentError) -> None:
        with self._pending_lock:
            if self._dead is None:
                self._dead = error
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_exception(self._dead)

    def call(self, op: str, *, wait: float = 30.0, **args) -> dict:
        """Run ``op`` with ``args`` on the agent; ``wait`` bounds the wait for its answer."""
        request_id = next(self._ids)
        future: Future = Future()
        with self._pending_lock:
            if self._dead is not None:
                raise self._dead
            self._pending[request_id] = future
        try:
            with self._send_lock:
                self.channel.send({"id": request_id, "op": op, "args": args})
        except OSError as exc:
            self._die(AgentError(f"{self.name}: connection lost ({exc})"))
        try:
            answer = future.result(timeout=wait)
        except FutureTimeout:
            with self._pending_lock:
                self._pending.pop(request_id, None)
            raise AgentError(f"{self.name}: {op} got no answer within {wait:.0f} s") from None
        if not answer.get("ok"):
            raise AgentError(f"{self.name}: {op} failed: {answer.get('error')}")
        return answer["result"]

    def close(self) -> None:
        """Stop the agent's connection: wake and join the reader thread, then release the channel."""
        if self._closed:
            return
        self._closed = True
        self.channel.close()
        self._reader.join(timeout=5)
        if self._release:
            self._release()


class AgentHost:
    """The lab's agent host process (``agent.host``): one scapy import, one agent thread per pod namespace."""

    def __init__(self, mark: str = ""):
        self._control, child_end = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "macvlan_conformance.agent.host", "--control-fd", str(child_end.fileno()),
             "--mark", mark],
            pass_fds=[child_end.fileno()], cwd=str(Path(__file__).resolve().parents[2]))
        child_end.close()
        self._lock = threading.Lock()
        self._channel = _LineChannel(self._control)

    def spawn(self, netns_path: str, name: str) -> AgentClient:
        """A new agent inside ``netns_path``."""
        mine, theirs = socket.socketpair()
        with self._lock:
            socket.send_fds(self._control, [(json.dumps({"netns": netns_path}) + "\n").encode()],
                            [theirs.fileno()])
            theirs.close()
            self._channel.recv(timeout=30)
        channel = _LineChannel(mine)
        return AgentClient(channel, name, release=channel.release)

    def close(self) -> None:
        self._control.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


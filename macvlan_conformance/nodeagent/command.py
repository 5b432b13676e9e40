"""One exec'd command and its status, whatever transport carries its streams.

Contract: ``exec_options`` parses the kubelet's exec query (``HttpError`` 400 when it names no command or no
std stream); ``run_command`` starts the command in a session of its own, feeds it with ``read_input(command)``
while ``Command.pump`` sends its output as ``send(channel, bytes)`` on ``STDOUT``/``STDERR``, kills its
process group when done and returns the kubelet's ``Status`` (``exit_status``/``error_status``);
``status_bytes`` renders it for a channel protocol. ``drain_until_closed`` waits for the client to hang up.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
from dataclasses import dataclass
from typing import Awaitable, Callable

from .http1 import HttpError

Send = Callable[[int, bytes], Awaitable[None]]

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
JSON_STATUS = {"v5.channel.k8s.io", "v4.channel.k8s.io"}  # older protocols: plain text, nothing on success
CHUNK = 32 * 1024
FINISH_TIMEOUT_S = 60.0  # how long the client gets to close the connection after the status


@dataclass(frozen=True)
class ExecOptions:
    command: list[str]
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def _flag(query: dict[str, list[str]], *names: str) -> bool:
    return any(v.lower() in ("1", "true") for n in names for v in query.get(n, []))


def exec_options(query: dict[str, list[str]]) -> ExecOptions:
    """The kubelet's ``NewOptions``: at least one std stream; with a TTY there is no separate stderr."""
    command = query.get("command", [])
    if not command or not command[0]:
        raise HttpError(400, "you must specify a command")
    tty = _flag(query, "tty")
    opts = ExecOptions(command, _flag(query, "input", "stdin"), _flag(query, "output", "stdout"),
                       _flag(query, "error", "stderr") and not tty, tty)
    if not (opts.stdin or opts.stdout or opts.stderr):
        raise HttpError(400, "you must specify at least 1 of stdin, stdout, stderr")
    return opts


def exit_status(returncode: int) -> dict:
    """The ``Status`` the kubelet writes on the error stream when the command ended (a signal counts as
    128 + its number, as container runtimes report it)."""
    if returncode == 0:
        return {"metadata": {}, "status": "Success"}
    code = returncode if returncode > 0 else 128 - returncode
    return {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": f"command terminated with non-zero exit code: exit status {code}",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def error_status(message: str) -> dict:
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500}


def status_bytes(status: dict, protocol: str) -> bytes:
    """The error-stream payload: JSON for v4/v5, the message alone (nothing on success) before v4."""
    if protocol in JSON_STATUS:
        return json.dumps(status, separators=(",", ":")).encode()
    return b"" if status["status"] == "Success" else status.get("message", "error").encode()


class Command:
    """One exec'd process: ``feed``/``close_stdin`` from the transport's reader, ``pump`` sends its output."""

    def __init__(self, argv: list[str], opts: ExecOptions):
        self.argv, self.opts = argv, opts
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        pipe, null = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
        err = asyncio.subprocess.STDOUT if self.opts.tty else (pipe if self.opts.stderr else null)
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=pipe if self.opts.stdin else null, stdout=pipe if self.opts.stdout else null,
            stderr=err, start_new_session=True)

    async def feed(self, data: bytes) -> None:
        stdin = self.proc.stdin if self.proc else None
        if stdin is not None and not stdin.is_closing():
            try:
                stdin.write(data)
                await stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass

    def close_stdin(self) -> None:
        if self.proc and self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()

    def kill(self) -> None:
        """The whole process group: what the command started must let go of the pipes too."""
        if self.proc and self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    async def pump(self, send: Send) -> int:
        async def copy(stream, channel: int) -> None:
            while chunk := await stream.read(CHUNK):
                await send(channel, chunk)

        await asyncio.gather(*(copy(s, ch) for s, ch in ((self.proc.stdout, STDOUT), (self.proc.stderr, STDERR))
                               if s is not None))
        return await self.proc.wait()


async def run_command(argv: list[str], opts: ExecOptions, send: Send, read_input) -> dict:
    """Start the command, feed it with ``read_input(command)`` while ``pump`` sends its output; its status."""
    command = Command(argv, opts)
    try:
        await command.start()
    except OSError as exc:
        return error_status(f"failed to exec in container: {exc}")
    reader_task = asyncio.ensure_future(read_input(command))
    try:
        returncode = await command.pump(send)
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        return error_status(f"stream lost: {exc}")
    finally:
        reader_task.cancel()
        command.kill()  # a no-op once it ended; a command whose session is cancelled must not outlive it
    return exit_status(returncode)


async def drain_until_closed(reader: asyncio.StreamReader, timeout: float = FINISH_TIMEOUT_S) -> None:
    """Wait (reading and dropping) until the client closes the connection, at most ``timeout``."""
    async def drain() -> None:
        while await reader.read(CHUNK):
            pass

    try:
        await asyncio.wait_for(drain(), timeout)
    except (asyncio.TimeoutError, ConnectionError, ssl.SSLError):
        pass

"""The kubelet's exec endpoint, which the real kube-apiserver proxies ``pods/exec`` to.

Contract: HTTPS on ``host:port`` (port 0 picks a free one, ``ExecServer.port`` says which) with the given
serving certificate, refusing at the TLS handshake any client without a certificate signed by
``client_ca`` (the API server presents its ``--kubelet-client-certificate``). Routes, as the kubelet's:

* ``GET /healthz`` -> ``ok``;
* ``GET|POST /exec/{namespace}/{pod}/{container}`` and ``/exec/{namespace}/{pod}/{uid}/{container}`` with
  ``command=`` (repeated), ``input``/``output``/``error``/``tty`` ``=1`` (what the API server's
  ``streamLocation`` sends; ``stdin``/``stdout``/``stderr``/``tty`` ``=true`` are accepted too).

The API server reaches it in one of two ways, and both are served:

* a **WebSocket** upgrade passed through unchanged (a client that offered no ``v5.channel.k8s.io``, or
  the ``TranslateStreamCloseWebsocketRequests`` gate off): sub-protocols ``v5.channel.k8s.io``,
  ``v4.channel.k8s.io``, ``channel.k8s.io`` (and none), one byte of channel before each message:
  0 stdin, 1 stdout, 2 stderr, 3 the status at the end (v4/v5: a JSON ``Status``), 4 resize (ignored),
  255 (v5) close of a stream;
* a **SPDY/3.1** upgrade (``POST``, ``X-Stream-Protocol-Version``): what the API server's stream
  translator sends when the client offered ``v5.channel.k8s.io`` (the Python client 37 does) and the gate
  is on (its default). The client opens an ``error`` stream and one stream a requested std stream
  (header ``streamtype``); the status goes on ``error`` (v4: JSON ``Status``), then every stream is
  closed and the server waits for the client to close the connection, as the kubelet does.

The command runs as ``argv_for(namespace, pod, uid, container, command)`` says (``LookupError`` -> 404,
``ValueError`` -> 400); the node agent makes it ``ip netns exec <pod's netns> ...``. A TTY is not emulated:
with ``tty=1`` stderr joins stdout. Everything runs on one asyncio loop in a thread of its own.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import signal
import ssl
import struct
import threading
import zlib
from dataclasses import dataclass, field
from typing import Awaitable, Callable
from urllib.parse import parse_qs, unquote, urlsplit

ArgvFor = Callable[[str, str, "str | None", str, list[str]], list[str]]
Send = Callable[[int, bytes], Awaitable[None]]

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
WS_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
SPDY_PROTOCOLS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io")
JSON_STATUS = {"v5.channel.k8s.io", "v4.channel.k8s.io"}  # older protocols: plain text, nothing on success
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HEADER = 64 * 1024
CHUNK = 32 * 1024
STREAM_CREATION_TIMEOUT_S = 30.0
FINISH_TIMEOUT_S = 60.0  # how long the client gets to close the connection after the status


class HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# --- HTTP/1.1 --------------------------------------------------------------------------------------
@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, list[str]] = field(default_factory=dict)

    def header(self, name: str) -> str:
        return ", ".join(self.headers.get(name.lower(), []))

    def tokens(self, name: str) -> list[str]:
        """A header's comma-separated values, over all its lines, in order."""
        return [t.strip() for line in self.headers.get(name.lower(), []) for t in line.split(",") if t.strip()]


def parse_request(head: bytes) -> Request:
    """The request line and headers (``head`` without the blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _version = lines[0].split(" ", 2)
    except ValueError:
        raise HttpError(400, "malformed request line") from None
    url = urlsplit(target)
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(400, "malformed header")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return Request(method.upper(), unquote(url.path), parse_qs(url.query, keep_blank_values=True), headers)


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError:
        raise HttpError(431, "request header too large") from None
    request = parse_request(head[:-4])
    length = int(request.header("content-length") or 0)
    if length:
        await reader.readexactly(length)  # exec carries no body; drain it
    return request


def http_response(status: int, body: str, headers: dict[str, str] | None = None) -> bytes:
    reasons = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
               431: "Request Header Fields Too Large", 500: "Internal Server Error"}
    data = body.encode()
    lines = [f"HTTP/1.1 {status} {reasons.get(status, 'Error')}", "Content-Type: text/plain; charset=utf-8",
             f"Content-Length: {len(data)}", "Connection: close",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def switching_protocols(headers: dict[str, str]) -> bytes:
    lines = ["HTTP/1.1 101 Switching Protocols", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --- exec options and status (pure) ------------------------------------------------------------------
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


# --- the command -----------------------------------------------------------------------------------
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


# --- WebSocket (RFC 6455, server side) -----------------------------------------------------------------
class WebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.close_sent = False

    async def send(self, opcode: int, payload: bytes = b"") -> None:
        n = len(payload)
        head = bytes([0x80 | opcode]) + (bytes([n]) if n < 126 else
                                         struct.pack(">BH", 126, n) if n < 65536 else struct.pack(">BQ", 127, n))
        self.writer.write(head + payload)
        await self.writer.drain()

    async def send_close(self, code: int = 1000) -> None:
        if not self.close_sent:
            self.close_sent = True
            await self.send(0x8, struct.pack(">H", code))

    async def _frame(self) -> tuple[bool, int, bytes]:
        b1, b2 = await self.reader.readexactly(2)
        n = b2 & 0x7F
        if n == 126:
            (n,) = struct.unpack(">H", await self.reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack(">Q", await self.reader.readexactly(8))
        mask = await self.reader.readexactly(4) if b2 & 0x80 else b""
        payload = await self.reader.readexactly(n)
        if mask and n:
            key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
            payload = (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")
        return bool(b1 & 0x80), b1 & 0x0F, payload

    async def messages(self):
        """Data messages (fragments joined) until the peer closes; pings answered, close echoed."""
        parts: list[bytes] = []
        while True:
            fin, opcode, payload = await self._frame()
            if opcode == 0x8:
                await self.send_close()
                return
            if opcode == 0x9:
                await self.send(0xA, payload)
            elif opcode in (0x0, 0x1, 0x2):
                parts.append(payload)
                if fin:
                    yield b"".join(parts)
                    parts = []


def websocket_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def pick_ws_protocol(request: Request) -> str:
    """The first offered sub-protocol this server speaks, "" when none was offered."""
    offered = request.tokens("sec-websocket-protocol")
    if not offered:
        return ""
    for protocol in offered:
        if protocol in WS_PROTOCOLS:
            return protocol
    raise HttpError(400, f"none of the requested sub-protocols {offered} is supported: {list(WS_PROTOCOLS)}")


async def serve_websocket(request: Request, reader, writer, opts: ExecOptions, argv: list[str]) -> None:
    protocol = pick_ws_protocol(request)
    key = request.header("sec-websocket-key")
    if not key:
        raise HttpError(400, "missing Sec-WebSocket-Key")
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": websocket_accept(key)}
    if protocol:
        headers["Sec-WebSocket-Protocol"] = protocol
    writer.write(switching_protocols(headers))
    ws = WebSocket(reader, writer)
    first = STDOUT if opts.stdout else STDERR if opts.stderr else ERROR
    await ws.send(0x2, bytes([first]))  # as the kubelet: tells the client the streams are up

    async def send(channel: int, data: bytes) -> None:
        await ws.send(0x2, bytes([channel]) + data)

    async def read_input(command: Command) -> None:
        async for message in ws.messages():
            if message[:1] == bytes([STDIN]) and len(message) > 1:
                await command.feed(message[1:])
            elif message[:2] == bytes([CLOSE, STDIN]):
                command.close_stdin()
        command.kill()  # the client went away

    status = await run_command(argv, opts, send, read_input)
    payload = status_bytes(status, protocol)
    if payload and not ws.close_sent:
        await send(ERROR, payload)
    await ws.send_close()
    await _drain_until_closed(reader)


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


async def _drain_until_closed(reader: asyncio.StreamReader, timeout: float = FINISH_TIMEOUT_S) -> None:
    """Wait (reading and dropping) until the client closes the connection, at most ``timeout``."""
    async def drain() -> None:
        while await reader.read(CHUNK):
            pass

    try:
        await asyncio.wait_for(drain(), timeout)
    except (asyncio.TimeoutError, ConnectionError, ssl.SSLError):
        pass


# --- SPDY/3.1 (the subset spdystream and client-go's remotecommand use) -------------------------------------
def _spdy_dictionary() -> bytes:
    """The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00, 2.6.10.1)."""
    words = ("options head post put delete trace accept accept-charset accept-encoding accept-language "
             "accept-ranges age allow authorization cache-control connection content-base content-encoding "
             "content-language content-length content-location content-md5 content-range content-type date "
             "etag expect expires from host if-match if-modified-since if-none-match if-range "
             "if-unmodified-since last-modified location max-forwards pragma proxy-authenticate "
             "proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
             "user-agent vary via warning www-authenticate method get status").split() + [
        "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
    tail = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
            "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
            "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
            "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
            "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
            "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in words) + tail.encode()


SPDY_DICT = _spdy_dictionary()
SYN_STREAM, SYN_REPLY, RST_STREAM, PING, GOAWAY, HEADERS = 1, 2, 3, 6, 7, 8
FLAG_FIN = 0x01
RST_CANCEL = 5


@dataclass
class Frame:
    control: bool
    kind: int        # control: frame type; data: stream id
    flags: int
    payload: bytes


class SpdyCodec:
    """Frames and header blocks; one zlib context a direction for the whole connection, as SPDY wants."""

    def __init__(self):
        self._deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, SPDY_DICT)
        self._inflate = zlib.decompressobj(15, SPDY_DICT)

    def encode_headers(self, headers: dict[str, list[str]]) -> bytes:
        block = struct.pack(">I", len(headers))
        for name, values in headers.items():
            key, value = name.lower().encode(), "\x00".join(values).encode()
            block += struct.pack(">I", len(key)) + key + struct.pack(">I", len(value)) + value
        return self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def decode_headers(self, compressed: bytes) -> dict[str, list[str]]:
        block = self._inflate.decompress(compressed)
        (count,), pos, headers = struct.unpack_from(">I", block), 4, {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", block, pos)
            name = block[pos + 4:pos + 4 + n].decode()
            pos += 4 + n
            (n,) = struct.unpack_from(">I", block, pos)
            headers[name] = block[pos + 4:pos + 4 + n].decode().split("\x00")
            pos += 4 + n
        return headers

    @staticmethod
    def control(kind: int, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | 3, kind, (flags << 24) | len(payload)) + payload

    @staticmethod
    def data(stream_id: int, flags: int, payload: bytes) -> bytes:
        return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(payload)) + payload

    @staticmethod
    async def read(reader: asyncio.StreamReader) -> Frame:
        first, second = struct.unpack(">II", await reader.readexactly(8))
        payload = await reader.readexactly(second & 0xFFFFFF)
        if first & 0x80000000:
            return Frame(True, first & 0xFFFF, second >> 24, payload)
        return Frame(False, first & 0x7FFFFFFF, second >> 24, payload)


class SpdySession:
    """The server end of client-go's SPDY remotecommand connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer, self.codec = reader, writer, SpdyCodec()
        self.streams: dict[str, int] = {}   # streamtype -> stream id
        self.closed = False

    async def write(self, frame: bytes) -> None:
        self.writer.write(frame)
        await self.writer.drain()

    async def send_data(self, stream_type: str, data: bytes, fin: bool = False) -> None:
        stream_id = self.streams.get(stream_type)
        if stream_id is not None:
            for i in range(0, max(len(data), 1), 0xFFFFFF):
                last = i + 0xFFFFFF >= len(data)
                await self.write(SpdyCodec.data(stream_id, FLAG_FIN if fin and last else 0, data[i:i + 0xFFFFFF]))

    async def reset(self, stream_type: str) -> None:
        if stream_type in self.streams:
            await self.write(SpdyCodec.control(RST_STREAM, 0, struct.pack(">II", self.streams[stream_type],
                                                                            RST_CANCEL)))

    async def next_frame(self) -> Frame | None:
        """The next frame the caller has to act on: SYN_STREAMs are replied to (and returned), pings
        echoed, header blocks decompressed to keep the zlib context in step; None once the client is gone."""
        while not self.closed:
            try:
                frame = await SpdyCodec.read(self.reader)
            except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                self.closed = True
                return None
            if not frame.control:
                return frame
            if frame.kind == SYN_STREAM:
                (stream_id,) = struct.unpack_from(">I", frame.payload)
                headers = self.codec.decode_headers(frame.payload[10:])
                self.streams[headers.get("streamtype", [""])[0]] = stream_id & 0x7FFFFFFF
                await self.write(SpdyCodec.control(SYN_REPLY, 0, frame.payload[:4] + self.codec.encode_headers({})))
                return frame
            if frame.kind in (SYN_REPLY, HEADERS):
                self.codec.decode_headers(frame.payload[4:])
            elif frame.kind == PING:
                await self.write(SpdyCodec.control(PING, 0, frame.payload))
            elif frame.kind == GOAWAY:
                self.closed = True
                return None
            elif frame.kind == RST_STREAM:
                return frame
        return None

    async def accept(self, expected: int, timeout: float = STREAM_CREATION_TIMEOUT_S) -> None:
        async def collect() -> None:
            while len(self.streams) < expected:
                if await self.next_frame() is None:
                    raise ConnectionError("client closed before creating its streams")

        await asyncio.wait_for(collect(), timeout)


def pick_spdy_protocol(request: Request) -> str:
    offered = request.tokens("x-stream-protocol-version")
    if not offered:
        return "channel.k8s.io"  # the kubelet falls back to v1 for a client that did not negotiate
    for protocol in offered:
        if protocol in SPDY_PROTOCOLS:
            return protocol
    raise HttpError(403, f"no supported stream protocol among {offered}")


async def serve_spdy(request: Request, reader, writer, opts: ExecOptions, argv: list[str]) -> None:
    protocol = pick_spdy_protocol(request)
    writer.write(switching_protocols({"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
                                      "X-Stream-Protocol-Version": protocol}))
    session = SpdySession(reader, writer)
    expected = 1 + opts.stdin + opts.stdout + opts.stderr + (opts.tty and protocol != "v2.channel.k8s.io")
    await session.accept(expected)
    names = {STDOUT: "stdout", STDERR: "stderr"}

    async def send(channel: int, data: bytes) -> None:
        await session.send_data(names[channel], data)

    async def read_input(command: Command) -> None:
        stdin = session.streams.get("stdin")
        while (frame := await session.next_frame()) is not None:
            if not frame.control and frame.kind == stdin:
                if frame.payload:
                    await command.feed(frame.payload)
                if frame.flags & FLAG_FIN:
                    command.close_stdin()
            elif frame.control and frame.kind == RST_STREAM and struct.unpack_from(">I", frame.payload)[0] == stdin:
                command.close_stdin()
        command.kill()

    status = await run_command(argv, opts, send, read_input)
    if not session.closed:
        payload = status_bytes(status, protocol)
        if payload:
            await session.send_data("error", payload)
        await session.reset("stdin")
        for stream_type in ("stdout", "stderr", "error"):
            await session.send_data(stream_type, b"", fin=True)
        await _drain_until_closed(reader)


# --- the server --------------------------------------------------------------------------------------
def server_context(cert: str, key: str, client_ca: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=client_ca)
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["http/1.1"])
    return context


class ExecServer:
    """``start()`` returns once listening (``port`` set); ``stop()`` closes it and kills running commands."""

    def __init__(self, argv_for: ArgvFor, cert: str, key: str, client_ca: str, *, host: str = "127.0.0.1",
                 port: int = 0, log: logging.Logger | logging.LoggerAdapter | None = None):
        self.argv_for, self.host, self.port = argv_for, host, port
        self.context = server_context(cert, key, client_ca)
        self.log = log or logging.getLogger(__name__)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task] = set()

    def start(self) -> int:
        ready, failure = threading.Event(), []

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._server = self._loop.run_until_complete(asyncio.start_server(
                    self._connection, self.host, self.port, ssl=self.context, limit=MAX_HEADER))
                self.port = self._server.sockets[0].getsockname()[1]
            except OSError as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name=f"exec-server:{self.port}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self.port

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    async def _shutdown(self) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, asyncio.TimeoutError) as exc:
            self.log.debug("exec connection ended: %s", exc)
        except asyncio.CancelledError:
            pass
        except Exception:  # noqa: BLE001 - one bad request must not take the server down
            self.log.exception("exec server: request failed")
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await read_request(reader)
            if request is None:
                return
            response = await self._route(request, reader, writer)
        except HttpError as exc:
            response = http_response(exc.status, str(exc))
        if response is not None:
            writer.write(response)
            await writer.drain()

    async def _route(self, request: Request, reader, writer) -> bytes | None:
        """Serves the request; returns a plain response to write, or None when it served an upgrade."""
        if request.path in ("/healthz", "/healthz/ping"):
            return http_response(200, "ok")
        parts = request.path.strip("/").split("/")
        if parts[0] != "exec" or len(parts) not in (4, 5):
            return http_response(404, "404 page not found")
        if request.method not in ("GET", "POST"):
            return http_response(405, "method not allowed")
        namespace, pod = parts[1], parts[2]
        uid, container = (parts[3], parts[4]) if len(parts) == 5 else (None, parts[3])
        opts = exec_options(request.query)
        try:
            argv = self.argv_for(namespace, pod, uid, container, opts.command)
        except LookupError as exc:
            raise HttpError(404, str(exc).strip("'\"")) from None
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        upgrade = request.header("upgrade").lower()
        self.log.info("exec %s/%s/%s (%s): %s", namespace, pod, container, upgrade or "no upgrade", opts.command)
        if upgrade == "websocket":
            await serve_websocket(request, reader, writer, opts, argv)
        elif upgrade.startswith("spdy/3"):
            await serve_spdy(request, reader, writer, opts, argv)
        else:
            raise HttpError(400, "Upgrade request required")
        return None

"""The exec streams over a WebSocket (RFC 6455, server side), as the kubelet serves them.

Contract: ``serve_websocket`` answers the upgrade (sub-protocols ``v5.channel.k8s.io``, ``v4.channel.k8s.io``,
``channel.k8s.io`` and none; ``HttpError`` 400 for others or a missing key), runs the command with one byte
of channel before each message (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize ignored, 255 close of a
stream, v5), sends the status on channel 3, closes and waits for the client to hang up. ``WebSocket`` is the
framing: unmasked frames out, masked or not in, pings answered, fragments joined.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct

from .command import CLOSE, ERROR, STDERR, STDIN, STDOUT, Command, ExecOptions, drain_until_closed, run_command, \
    status_bytes
from .http1 import HttpError, Request, switching_protocols

WS_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


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
    await drain_until_closed(reader)

"""The exec streams over SPDY/3.1: the subset spdystream and client-go's remotecommand use, server side.

Contract: ``serve_spdy`` answers the upgrade with the best ``X-Stream-Protocol-Version`` offered (403 when
none is spoken; ``channel.k8s.io`` when none was offered), waits for the client's streams (``streamtype``
``error``/``stdin``/``stdout``/``stderr``/``resize``), runs the command, writes the status on ``error``,
resets stdin, closes every stream and waits for the client to close the connection. ``SpdyCodec`` is the
framing with the SPDY/3 header-compression dictionary (``SPDY_DICT``, one zlib context a direction);
``SpdySession`` replies to SYN_STREAMs, echoes pings and keeps the header contexts in step.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
import zlib
from dataclasses import dataclass

from .command import STDERR, STDOUT, Command, ExecOptions, drain_until_closed, run_command, status_bytes
from .http1 import HttpError, Request, switching_protocols

SPDY_PROTOCOLS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io")
STREAM_CREATION_TIMEOUT_S = 30.0


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
        await drain_until_closed(reader)

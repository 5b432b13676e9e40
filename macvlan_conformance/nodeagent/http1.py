"""HTTP/1.1 as the exec server needs it: one request's line and headers, a plain response, a 101.

Contract: ``read_request`` reads one request head (at most ``MAX_HEADER`` bytes, the stream's limit; 431
beyond) and drains any body; None when the client closed first. ``parse_request`` splits the head (400 on
a malformed one); ``HttpError(status, message)`` is what a handler raises to answer with ``http_response``.
Pure apart from ``read_request``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

MAX_HEADER = 64 * 1024


class HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


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

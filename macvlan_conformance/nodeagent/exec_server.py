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

This module is the server (TLS, routing); ``http1``, ``command``, ``websocket`` and ``spdy`` do the rest,
and their public names are importable from here too.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from typing import Callable

from .command import (CHUNK, CLOSE, ERROR, FINISH_TIMEOUT_S, JSON_STATUS, RESIZE, STDERR, STDIN, STDOUT, Command,
                      ExecOptions, Send, drain_until_closed, error_status, exec_options, exit_status, run_command,
                      status_bytes)
from .http1 import MAX_HEADER, HttpError, Request, http_response, parse_request, read_request, switching_protocols
from .spdy import (FLAG_FIN, GOAWAY, HEADERS, PING, RST_CANCEL, RST_STREAM, SPDY_DICT, SPDY_PROTOCOLS,
                   STREAM_CREATION_TIMEOUT_S, SYN_REPLY, SYN_STREAM, Frame, SpdyCodec, SpdySession,
                   pick_spdy_protocol, serve_spdy)
from .websocket import WS_GUID, WS_PROTOCOLS, WebSocket, pick_ws_protocol, serve_websocket, websocket_accept

__all__ = [
    "ArgvFor", "ExecServer", "server_context",
    # re-exported from .command, .http1, .spdy and .websocket
    "CHUNK", "CLOSE", "ERROR", "FINISH_TIMEOUT_S", "JSON_STATUS", "RESIZE", "STDERR", "STDIN", "STDOUT", "Command",
    "ExecOptions", "Send", "drain_until_closed", "error_status", "exec_options", "exit_status", "run_command",
    "status_bytes",
    "MAX_HEADER", "HttpError", "Request", "http_response", "parse_request", "read_request", "switching_protocols",
    "FLAG_FIN", "GOAWAY", "HEADERS", "PING", "RST_CANCEL", "RST_STREAM", "SPDY_DICT", "SPDY_PROTOCOLS",
    "STREAM_CREATION_TIMEOUT_S", "SYN_REPLY", "SYN_STREAM", "Frame", "SpdyCodec", "SpdySession",
    "pick_spdy_protocol", "serve_spdy",
    "WS_GUID", "WS_PROTOCOLS", "WebSocket", "pick_ws_protocol", "serve_websocket", "websocket_accept",
]

ArgvFor = Callable[[str, str, "str | None", str, list[str]], list[str]]


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

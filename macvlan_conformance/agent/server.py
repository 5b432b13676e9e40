"""The agent's request loop: one JSON object per line in, one per line out.

Request ``{"id": 1, "op": "ping", "args": {...}}``; response ``{"id": 1, "ok": true, "result": {...}}``
or ``{"id": 1, "ok": false, "error": "..."}``. The first line written is ``{"ready": true, ...}``.
Requests run concurrently (each in a thread, at most ``MAX_PARALLEL`` at once), so answers may come
out of order: clients match them by ``id``.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from typing import IO

MAX_PARALLEL = 32


def serve(rfile: IO[str], wfile: IO[str]) -> None:
    """Serve requests until EOF on ``rfile``; waits for requests in flight before returning."""
    from .ops import OPERATIONS, whoami

    write_lock = threading.Lock()
    slots = threading.BoundedSemaphore(MAX_PARALLEL)
    workers: list[threading.Thread] = []

    def write(obj: dict) -> None:
        with write_lock:
            wfile.write(json.dumps(obj) + "\n")
            wfile.flush()

    def handle(line: str) -> None:
        started = time.monotonic()
        try:
            request = json.loads(line)
            result = OPERATIONS[request["op"]](**request.get("args", {}))
            write({"id": request.get("id"), "ok": True, "result": result,
                   "elapsed_ms": round((time.monotonic() - started) * 1000, 1)})
        except Exception as exc:  # an agent reports, it never dies on a bad probe
            write({"id": _request_id(line), "ok": False, "error": f"{type(exc).__name__}: {exc}",
                   "trace": traceback.format_exc(limit=3)})
        finally:
            slots.release()

    write({"ready": True, **whoami()})
    for line in rfile:
        if not line.strip():
            continue
        slots.acquire()
        worker = threading.Thread(target=handle, args=(line,), daemon=True)
        worker.start()
        workers = [w for w in workers if w.is_alive()] + [worker]
    for worker in workers:
        worker.join(timeout=30)


def _request_id(line: str):
    try:
        return json.loads(line).get("id")
    except Exception:
        return None

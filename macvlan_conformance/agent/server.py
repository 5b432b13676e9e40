"""The agent's request loop: one JSON object per line in, one per line out.

Request ``{"id": 1, "op": "ping", "args": {...}}``; response ``{"id": 1, "ok": true, "result": {...}}``
or ``{"id": 1, "ok": false, "error": "..."}``. The first line written is ``{"ready": true, ...}``.
"""

from __future__ import annotations

import json
import time
import traceback
from typing import IO


def serve(rfile: IO[str], wfile: IO[str]) -> None:
    """Serve requests until EOF on ``rfile``."""
    from .ops import OPERATIONS, whoami

    def write(obj: dict) -> None:
        wfile.write(json.dumps(obj) + "\n")
        wfile.flush()

    write({"ready": True, **whoami()})
    for line in rfile:
        if not line.strip():
            continue
        started = time.monotonic()
        try:
            request = json.loads(line)
            op = OPERATIONS[request["op"]]
            result = op(**request.get("args", {}))
            write({"id": request.get("id"), "ok": True, "result": result,
                   "elapsed_ms": round((time.monotonic() - started) * 1000, 1)})
        except Exception as exc:  # an agent reports, it never dies on a bad probe
            write({"id": _request_id(line), "ok": False, "error": f"{type(exc).__name__}: {exc}",
                   "trace": traceback.format_exc(limit=3)})


def _request_id(line: str):
    try:
        return json.loads(line).get("id")
    except Exception:
        return None

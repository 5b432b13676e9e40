"""The pod worker's retry queue: when each pod is next due, and one worker a pod at a time.

Contract: ``put(uid, delay)`` asks for ``uid`` in ``delay`` seconds (the earliest request wins);
``take()`` blocks until some UID not being worked on is due and hands it out (None once ``stop()``ped);
``done(uid)`` makes it available again. Thread-safe.
"""

from __future__ import annotations

import threading
import time


class Schedule:
    """Due times by pod UID (the earliest asked for wins); a UID is handed to one worker at a time."""

    def __init__(self):
        self._cv = threading.Condition()
        self._due: dict[str, float] = {}
        self._busy: set[str] = set()
        self.stopped = False

    def put(self, uid: str, delay: float = 0.0) -> None:
        with self._cv:
            due = time.monotonic() + delay
            if self._due.get(uid, float("inf")) > due:
                self._due[uid] = due
                self._cv.notify_all()

    def take(self) -> str | None:
        """The next due UID not being worked on (blocks); None once stopped."""
        with self._cv:
            while not self.stopped:
                ready = [(due, uid) for uid, due in self._due.items() if uid not in self._busy]
                wait = 1.0
                if ready:
                    due, uid = min(ready)
                    wait = due - time.monotonic()
                    if wait <= 0:
                        del self._due[uid]
                        self._busy.add(uid)
                        return uid
                self._cv.wait(min(wait, 1.0))
        return None

    def done(self, uid: str) -> None:
        with self._cv:
            self._busy.discard(uid)
            self._cv.notify_all()

    def stop(self) -> None:
        with self._cv:
            self.stopped = True
            self._cv.notify_all()


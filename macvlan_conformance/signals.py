"""Process-wide signal policy shared by the CLI and the pytest plugin."""

from __future__ import annotations

import signal


def sigterm_as_interrupt() -> None:
    """SIGTERM ends the process like Ctrl-C does (``KeyboardInterrupt``), so every cleanup path runs."""

    def handler(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)

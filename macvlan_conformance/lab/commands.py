"""Run external commands (argv lists, never a shell) and report failures with the command and its message."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence


class CommandError(RuntimeError):
    """An external command failed. ``str()`` shows the command line and what it printed."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str):
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        message = (stderr or stdout).strip() or f"exit status {returncode}"
        super().__init__(f"`{shlex.join(self.argv)}` failed: {message}")


def in_netns(netns: str | None, argv: Sequence[str]) -> list[str]:
    """Prefix ``argv`` so it runs in the named network namespace (``nsenter``, lighter than ``ip netns exec``)."""
    if netns is None:
        return list(argv)
    return ["nsenter", f"--net=/run/netns/{netns}", "--", *argv]


def run(argv: Sequence[str], *, netns: str | None = None, input: str | None = None,
        env: dict[str, str] | None = None, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``argv`` (optionally inside ``netns``); raise ``CommandError`` on a non-zero exit when ``check``."""
    full = in_netns(netns, argv)
    try:
        proc = subprocess.run(full, input=input, env=env, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise CommandError(full, 127, "", f"{full[0]}: command not found; install it (see README)") from None
    except subprocess.TimeoutExpired:
        raise CommandError(full, -1, "", f"timed out after {timeout}s") from None
    if check and proc.returncode != 0:
        raise CommandError(full, proc.returncode, proc.stdout, proc.stderr)
    return proc

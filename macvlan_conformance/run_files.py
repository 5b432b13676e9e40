"""The files one pytest run shares between its xdist workers (the probe lock, shared probe batches), in
``/tmp/macvlan-conformance-<run id>/``. The controller creates the directory with its pid in
``controller.pid`` and removes it when the run ends; :func:`sweep` removes the directories of runs whose
controller is gone (killed), and nothing else.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

PREFIX = "macvlan-conformance-"
_RUN_DIR = re.compile(rf"^{PREFIX}[0-9a-f]{{8}}$")


def path(run_id: str) -> Path:
    return Path(tempfile.gettempdir()) / f"{PREFIX}{run_id}"


def create(run_id: str) -> Path:
    directory = path(run_id)
    directory.mkdir(exist_ok=True)
    (directory / "controller.pid").write_text(str(os.getpid()))
    return directory


def remove(run_id: str) -> None:
    shutil.rmtree(path(run_id), ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep() -> list[str]:
    """Remove the run directories whose controller no longer runs. Returns the run ids removed."""
    removed = []
    for entry in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        if not entry.is_dir() or not _RUN_DIR.match(entry.name):
            continue
        try:
            pid = int((entry / "controller.pid").read_text())
        except (OSError, ValueError):
            pid = None
        if pid is None or not _alive(pid):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name[len(PREFIX):])
    return sorted(removed)

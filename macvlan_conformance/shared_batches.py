"""Probe batches shared by the processes of one run (the pytest-xdist workers).

A batch (the cases of one check, or of every windowed check) is probed once per run: the first process
to need it probes it while holding the batch's file lock and writes the observations next to the lock;
any other process that needs it waits for the lock and reads them. Without this, a worker would probe
a whole batch again for the first case of it that xdist happened to hand it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

from filelock import FileLock

from .expectations import Case
from .json_files import StateFileError, Unreadable
from .json_files import read as read_json


class SharedBatches:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(exist_ok=True)

    @staticmethod
    def key(cases: list[Case]) -> str:
        """The batch's identity: the same cases give the same key in every process."""
        return hashlib.sha256("\n".join(sorted(f"{c.check}|{c.id}" for c in cases)).encode()).hexdigest()[:24]

    def observe(self, cases: list[Case], probe: Callable[[list[Case]], list[dict]]) -> list[dict]:
        """The observations (JSON-able, one per case, in order) of ``cases``: read if another process
        probed this batch already, else ``probe(cases)`` and written for the others."""
        path = self.directory / f"{self.key(cases)}.json"
        with FileLock(f"{path}.lock"):
            if path.exists():
                return self._read(path, len(cases))
            observed = probe(cases)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(observed))
            partial.replace(path)  # readers only ever see a complete file
            return observed

    @staticmethod
    def _read(path: Path, count: int) -> list[dict]:
        """The observations another process wrote; ``StateFileError`` (one line) if the file is damaged."""
        try:
            observed = read_json(path)
        except Unreadable as exc:
            why = str(exc)
        else:
            if isinstance(observed, list) and len(observed) == count and all(isinstance(o, dict) for o in observed):
                return observed
            why = f"{path}: not {count} observations"
        raise StateFileError(f"{why}; something other than this run wrote it: run the suites again (`macvlan-"
                             f"conformance lab cleanup` removes the files of killed runs)")

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
                return json.loads(path.read_text())
            observed = probe(cases)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(observed))
            partial.replace(path)  # readers only ever see a complete file
            return observed

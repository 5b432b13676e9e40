"""Spiderpool's part in the lab: allocate addresses from IP pools across every network that uses them.

host-local keys its leases by network name, so two networks sharing one pool would hand out the same
address; Spiderpool allocates per pool. One JSON file per pool under the lab's run directory, guarded
by a file lock (safe across threads and processes). Allocation takes the lowest free address.
"""

from __future__ import annotations

import json
from pathlib import Path

from filelock import FileLock

from ..topology import IPPool


class PoolExhausted(RuntimeError):
    pass


class PoolAllocator:
    def __init__(self, directory: Path):
        self.dir = directory

    def _path(self, pool: IPPool) -> Path:
        return self.dir / f"{pool.name}.json"

    def allocate(self, pool: IPPool, owner: str) -> str:
        """An address for ``owner`` (``<container id>/<ifname>``); the same one again if it has one."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self._path(pool)
        with FileLock(str(path) + ".lock"):
            leases: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
            for address, holder in leases.items():
                if holder == owner:
                    return address
            free = next((str(a) for a in pool.addresses if str(a) not in leases), None)
            if free is None:
                raise PoolExhausted(f"IP pool {pool.name} has no free address ({len(leases)} in use)")
            leases[free] = owner
            path.write_text(json.dumps(leases, indent=1))
            return free

    def release(self, pool: IPPool, owner: str) -> None:
        path = self._path(pool)
        with FileLock(str(path) + ".lock"):
            leases = json.loads(path.read_text()) if path.exists() else {}
            leases = {a: h for a, h in leases.items() if h != owner}
            path.write_text(json.dumps(leases, indent=1))

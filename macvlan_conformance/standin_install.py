"""Install a stand-in CNI plugin written in Python where libcni can exec it: a shell wrapper in a plugin dir."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path


def install_python_plugin(bin_dir: Path, name: str, module: str, python: str = sys.executable) -> Path:
    """Write ``bin_dir/name`` (mode 755) running ``python -P -m module``; returns its path."""
    bin_dir = Path(bin_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    target = bin_dir / name
    # abspath, not resolve(): a venv's python is a symlink whose location selects the venv.
    # -P keeps the caller's cwd out of sys.path, so the installed package is the one imported.
    interpreter = shlex.quote(os.path.abspath(python))
    tmp = target.with_name(f".{name}.tmp")
    tmp.write_text(f'#!/bin/sh\nexec {interpreter} -P -m {module} "$@"\n')
    tmp.chmod(0o755)
    os.replace(tmp, target)
    return target

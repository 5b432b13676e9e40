"""Build our wheel for the packaging tests, from a copy of the source tree so that the build writes nothing
into the repository (setuptools builds in place: build/, *.egg-info)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                              "reports", "bench", "node_modules")


def build_wheel(tmp: Path) -> Path:
    """The wheel of the current tree, under ``tmp``: offline with this environment's setuptools when it can
    build wheels (>= 70.1), else as ``pip install -e .`` builds (pyproject's setuptools, from pip's index)."""
    source, out = tmp / "source", tmp / "dist"
    shutil.copytree(ROOT, source, ignore=SKIP, symlinks=True)
    isolation = ["--no-build-isolation", "--no-index"] if _can_build_here() else []
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w", str(out),
                           str(source)], capture_output=True, text=True, timeout=300)
    wheels = sorted(out.glob("macvlan_conformance-*.whl"))
    assert proc.returncode == 0 and len(wheels) == 1, (f"pip wheel exited {proc.returncode} (building needs setuptools "
                                                       f">= 70.1 here, or pip's index):\n{proc.stderr[-3000:]}")
    return wheels[0]


def _can_build_here() -> bool:
    try:
        from importlib.metadata import version
        major, minor = (int(part) for part in version("setuptools").split(".")[:2])
    except (ImportError, ValueError):
        return False
    return (major, minor) >= (70, 1)  # bdist_wheel without the wheel package

"""Where the shipped folders (``suites``, ``fixtures``, ``topologies``) are: inside the package when it was
installed from the wheel (pyproject.toml maps them in), beside it in a clone (also an editable install)."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """``macvlan_conformance/<name>`` when installed, ``<clone>/<name>`` otherwise."""
    inside = PACKAGE / name
    return inside if inside.is_dir() else PACKAGE.parent / name

"""Reading back the JSON files we wrote (results, history lines, state files) and writing them whole.

Whatever damaged a file (a crash mid-write, another program, a disk error, a wrong path) becomes one line
naming the file and why it cannot be read, never a traceback.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

MAX_BYTES = 256 * 1024 * 1024  # far above any results.json (the 64-pod topology writes ~20 MiB)


class Unreadable(ValueError):
    """A file that cannot be read back; ``str()`` is one line: the file and why."""


class StateFileError(ValueError):
    """A state file of ours that is damaged; ``str()`` is one line: the file, what is wrong, what to do."""


def decode(data: bytes) -> Any:
    """The JSON value of ``data``; ``ValueError`` with a short reason when it is not UTF-8 JSON."""
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}: a binary "
                         f"file?)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise ValueError("not JSON this version reads (nested too deeply)") from None


def read_bytes(path: str | Path, limit: int = MAX_BYTES) -> bytes:
    """The bytes of ``path`` (at most ``limit``); ``Unreadable`` when it cannot be read or is larger."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise Unreadable(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise Unreadable(f"{path}: larger than {limit // (1024 * 1024)} MiB, not a file of ours")
    return data


def read(path: str | Path, limit: int = MAX_BYTES) -> Any:
    """The JSON value in ``path``; ``Unreadable`` (one line: the file and why) on any problem."""
    data = read_bytes(path, limit)
    try:
        return decode(data)
    except ValueError as exc:
        raise Unreadable(f"{path}: {exc}") from None


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` whole: readers see the old file or the new one, never a part. Raises
    ``OutputError`` (one line: the path and why) when it cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a directory; give a file path")
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(text)
        os.replace(partial, path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write it ({exc.strerror or exc}); give a path you can write") from None
    finally:
        partial.unlink(missing_ok=True)
    return path


class OutputError(ValueError):
    """An output file cannot be written; ``str()`` names it and why."""


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_KINDS = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
          float: "a number", type(None): "null"}


def field(loc: tuple) -> str:
    """A pydantic location as one reads it in the file: ``checks[3].nodeid``, ``facts.endpoints['a/eth0']``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _NAME.match(str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{str(part)[:40]!r}]"
    return out or "the top level"


def excerpt(value: Any) -> str:
    """A value's JSON kind and a short excerpt of it (never a whole evidence blob)."""
    text = json.dumps(value, default=str)
    return f"{_KINDS.get(type(value), type(value).__name__)} ({text[:40]}{'...' if len(text) > 40 else ''})"


def problem(error: dict) -> str:
    """One pydantic error as ``field: what is wrong``."""
    if error["type"] == "missing":
        what = "required key is missing"
    elif error["type"] == "literal_error":
        what = f"{json.dumps(error['input'], default=str)[:40]} is not one of {error['ctx']['expected']}"
    else:
        msg = re.sub(r" or instance of \w+", "", error["msg"].removeprefix("Input "))
        what = f"{msg}, got {excerpt(error['input'])}"
    return f"{field(error['loc'])}: {what}"


def problems(exc: ValidationError, limit: int = 3) -> str:
    """The first ``limit`` problems of ``exc`` on one line, and how many more there are."""
    errors = exc.errors()
    text = "; ".join(problem(e) for e in errors[:limit])
    return text + (f"; and {len(errors) - limit} more" if len(errors) > limit else "")


def first_problem(exc: ValidationError) -> str:
    return problems(exc, limit=1)

"""Linux interface names, by the kernel's rule (``dev_valid_name`` in net/core/dev.c).

A name is 1..15 bytes (IFNAMSIZ - 1), not "." or "..", without '/', ':' or whitespace (the kernel's
``isspace``: tab, newline, vertical tab, form feed, carriage return, space and byte 0xa0). A '%' makes
the kernel treat the name as a template (``eth%d``), so no existing interface carries one either.
"""

from __future__ import annotations

from .annotations import MAX_IFNAME

_FORBIDDEN = {ord("/"): "'/'", ord(":"): "':'", ord("%"): "'%'", 0: "a NUL byte"}
_KERNEL_SPACE = {9, 10, 11, 12, 13, 32, 0xA0}


def ifname_problem(name: str) -> str | None:
    """Why the kernel would refuse ``name`` as an interface name, or None if it is valid."""
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if not raw:
        return "is empty"
    if len(raw) > MAX_IFNAME:
        return f"is {len(raw)} bytes long, Linux allows at most {MAX_IFNAME}"
    if name in (".", ".."):
        return "is reserved ('.' and '..' are not interface names)"
    for byte in raw:
        if byte in _FORBIDDEN:
            return f"contains {_FORBIDDEN[byte]}"
        if byte in _KERNEL_SPACE:
            return "contains whitespace"
    return None

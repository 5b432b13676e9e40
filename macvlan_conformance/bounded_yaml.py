"""YAML for files nobody here wrote: bounded in size, nesting and alias expansion, duplicate keys refused,
and errors that quote at most a short excerpt. ``load(path)`` returns the data or raises ``YamlError``
with one line naming the file (and the line) and the fix."""

from __future__ import annotations

from pathlib import Path

import yaml

MAX_BYTES = 1 << 20          # a topology of 1000 pods is ~150 KiB
MAX_DEPTH = 32
MAX_NODES = 200_000          # values after alias expansion (a 64-pod topology has ~5000)
EXCERPT = 60


class YamlError(ValueError):
    pass


def excerpt(value, limit: int = EXCERPT) -> str:
    """``repr(value)``, cut to ``limit`` characters (an error never echoes a huge value back)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise YamlError(f"line {key_node.start_mark.line + 1}: key {excerpt(key)} is given twice in one "
                                f"mapping; keep one (YAML would silently take the last)")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node, depth: int = 0, memo: dict | None = None) -> int:
    """How many values ``node`` stands for once every alias is expanded (what a validator or a dump would
    walk), refusing more than ``MAX_DEPTH`` levels; memoized per node, so this costs the file's size."""
    memo = {} if memo is None else memo
    if depth > MAX_DEPTH:
        raise YamlError(f"nested deeper than {MAX_DEPTH} levels at line {node.start_mark.line + 1}; flatten it")
    if id(node) not in memo:
        children = node.value if isinstance(node, yaml.SequenceNode) else \
            [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else []
        memo[id(node)] = 1 + sum(_expanded_size(child, depth + 1, memo) for child in children)
    return memo[id(node)]


def _parse(text: str) -> object:
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:  # PyYAML composes recursively: thousands of levels exhaust the stack first
            raise YamlError(f"nested deeper than {MAX_DEPTH} levels; flatten it") from None
        if node is None:
            return None
        if (size := _expanded_size(node)) > MAX_NODES:
            raise YamlError(f"{size} values once its aliases are expanded, more than {MAX_NODES} (an alias bomb?); "
                            f"write the values out or shorten the file")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load(path: Path, what: str = "topology") -> object:
    """The YAML data of ``path``, or ``YamlError`` naming the file; ``what`` the file is, for messages."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise YamlError(f"{path}: {size} bytes, more than the {MAX_BYTES} a {what} may have; shorten it")
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)  # bounded: a device (/dev/zero) reports size 0
        if len(raw) > MAX_BYTES:
            raise YamlError(f"{path}: more than the {MAX_BYTES} bytes a {what} may have; shorten it")
    except OSError as exc:
        raise YamlError(f"{path}: cannot read the file ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 YAML") from None
    if "\x00" in text:
        raise YamlError(f"{path}: binary content (a NUL byte); a {what} is UTF-8 YAML text")
    try:
        return _parse(text)
    except YamlError as exc:
        raise YamlError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise YamlError(f"{path}: not valid YAML{where}: {excerpt(getattr(exc, 'problem', None) or str(exc), 120)}") \
            from None

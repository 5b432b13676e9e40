"""Hostile topology files: each is refused with one short line naming the file, in bounded memory."""

import subprocess
import sys

import pytest

from macvlan_conformance.topology import TopologyError, load_topology

from ..conftest import ROOT, TOPOLOGIES

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8))


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfename: x\n", "not UTF-8 text"),
    (b"name: x\x00\x01\x02\n", "binary content"),
    (b"name: a\nname: b\n", "key 'name' is given twice"),
    (BOMB.encode(), "once its aliases are expanded"),
    (b"name: " + b"[" * 100 + b"]" * 100 + b"\n", "nested deeper than"),
    (b"name: " + b"x" * (2 << 20) + b"\n", "more than the"),
    (b"name: [unclosed\n", "not valid YAML at line"),
])
def test_hostile_files_are_refused_in_one_short_line(tmp_path, content, message):
    path = tmp_path / "hostile.yaml"
    path.write_bytes(content)
    with pytest.raises(TopologyError) as err:
        load_topology(path)
    text = str(err.value)
    assert message in text and str(path) in text and len(text) < 400, text


def test_a_huge_bad_value_is_quoted_as_a_short_excerpt(tmp_path, reference_data):
    import yaml
    reference_data["switch"]["mtu"] = "9" * 500_000
    path = tmp_path / "huge.yaml"
    path.write_text(yaml.safe_dump(reference_data))
    with pytest.raises(TopologyError) as err:
        load_topology(path)
    assert "switch.mtu" in str(err.value) and len(str(err.value)) < 400


def test_an_alias_bomb_is_refused_in_bounded_memory(tmp_path):
    """The bomb would expand to 10^9 values; the loader stops at its node budget. Measured in a fresh
    process: its peak RSS stays under 200 MiB (VmHWM, the peak of its own memory: ru_maxrss would include the
    pytest process it was spawned from, which the exec carries over)."""
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    code = ("import re, sys\nfrom macvlan_conformance.topology import TopologyError, load_topology\n"
            f"try:\n    load_topology({str(path)!r})\nexcept TopologyError as exc:\n    print(exc)\n"
            "print(re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    message, peak_kib = proc.stdout.strip().splitlines()
    assert "once its aliases are expanded" in message
    assert int(peak_kib) < 200 * 1024, f"peak RSS {int(peak_kib) // 1024} MiB"


def test_the_shipped_topologies_still_load():
    for path in TOPOLOGIES.glob("*.yaml"):
        assert load_topology(path).name

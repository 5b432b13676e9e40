"""Debian's headless Chromium for the report tests (network blocked, a fresh profile in the test's temporary
directory): the DOM after the page's scripts ran, screenshots, and their pixels (a small PNG reader, so that
no imaging library is needed)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         # any network access would fail: every host resolves to nothing, and there is no proxy
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"]
SCREEN = (1366, 768)


def chromium(tmp_path: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium")
    assert binary, "chromium is not installed (make test installs Debian's chromium)"
    return subprocess.run([binary, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=timeout)


def dump_dom(tmp_path: Path, url: str, *args: str) -> str:
    """The DOM once the page has loaded (``--virtual-time-budget`` lets scripts and timers run first)."""
    proc = chromium(tmp_path, f"--window-size={SCREEN[0]},{SCREEN[1]}", *args, "--dump-dom", url)
    assert proc.stdout, f"chromium dumped no DOM for {url}: {proc.stderr[-2000:]}"
    return proc.stdout


def screenshot(tmp_path: Path, url: str, name: str, *args: str, size=SCREEN) -> Path:
    """A screenshot of the first screen (1366x768 unless said otherwise), into tmp_path only."""
    path = tmp_path / name
    chromium(tmp_path, f"--window-size={size[0]},{size[1]}", *args, f"--screenshot={path}", url)
    assert path.exists(), f"chromium wrote no screenshot of {url}"
    return path


class Picture:
    """The RGB pixels of a PNG screenshot (8-bit RGB or RGBA, not interlaced: what Chromium writes)."""

    def __init__(self, path: Path):
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
        chunks, pos = {}, 8
        while pos < len(data):
            length, kind = struct.unpack(">I4s", data[pos:pos + 8])
            chunks.setdefault(kind, []).append(data[pos + 8:pos + 8 + length])
            pos += 12 + length
        self.width, self.height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"][0])
        assert depth == 8 and colour in (2, 6) and not interlace, f"{path}: a PNG this reader does not decode"
        self.bpp = 3 if colour == 2 else 4
        self.rows = _unfiltered(zlib.decompress(b"".join(chunks[b"IDAT"])), self.width * self.bpp, self.bpp)
        self._colours: dict[tuple, Counter] = {}

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        row = self.rows[y]
        return tuple(row[x * self.bpp:x * self.bpp + 3])

    def colours(self, box: tuple[int, int, int, int]) -> Counter:
        """The colours in ``box`` (left, top, right, bottom; right and bottom excluded) and their pixel counts."""
        if box not in self._colours:
            left, top, right, bottom = box
            found, n = self._colours.setdefault(box, Counter()), self.bpp
            for row in self.rows[top:bottom]:
                part = row[left * n:right * n]
                found.update(zip(part[0::n], part[1::n], part[2::n]))
        return self._colours[box]

    def count(self, colour: tuple[int, int, int], box: tuple[int, int, int, int], tolerance: int = 24) -> int:
        """How many pixels in ``box`` are near ``colour`` (each channel within ``tolerance``)."""
        return sum(n for c, n in self.colours(box).items() if all(abs(a - b) <= tolerance for a, b in zip(c, colour)))


def _unfiltered(raw: bytes, stride: int, bpp: int) -> list[bytearray]:
    rows, prev = [], bytearray(stride)
    for start in range(0, len(raw), stride + 1):
        prev = _unfilter(raw[start], bytearray(raw[start + 1:start + 1 + stride]), prev, bpp)
        rows.append(prev)
    return rows


def _unfilter(kind: int, line: bytearray, prev: bytearray, bpp: int) -> bytearray:
    """Undo one PNG row filter (0 none, 1 sub, 2 up, 3 average, 4 Paeth)."""
    if kind == 2:
        return bytearray((a + b) & 255 for a, b in zip(line, prev))
    for i in range(len(line) if kind else 0):
        left = line[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 255
        elif kind == 3:
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        else:
            up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
    return line

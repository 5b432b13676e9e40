"""Where a runner's reports go, and a JUnit file for a run that produced none.

On a reports volume (the Job's and CronJob's PVC) every run gets its own directory ``<UTC time>/`` and
``latest`` points at the newest; ``history.jsonl`` beside them collects one line per complete run, so the
HTML report of each run shows the trend. Sonobuoy mode writes straight into Sonobuoy's results directory.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from xml.etree import ElementTree

from . import RunnerError

FILES = {"junit": "junit.xml", "results": "results.json", "html": "conformance.html", "catalogue": "catalogue.yaml"}
HISTORY = "history.jsonl"
LATEST = "latest"


def make_dir(directory: Path, what: str) -> Path:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".writable"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise RunnerError(f"{what} {directory}: cannot write there ({exc.strerror}); mount a writable volume "
                          f"(the reports PVC) or pass another directory") from None
    return directory


def run_dir(base: Path, now: float | None = None) -> Path:
    """A new ``base/<UTC time>`` (suffixed ``-2``, ``-3``... when two runs start in the same second)."""
    make_dir(base, "--reports")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    for n in range(1, 100):
        candidate = base / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RunnerError(f"--reports {base}: too many runs started at {stamp}")


def point_latest(base: Path, run: Path) -> None:
    """``base/latest`` -> ``run`` (relative), replaced atomically."""
    link = base / f".{LATEST}.tmp"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(run.name)
    os.replace(link, base / LATEST)


def ensure_junit(path: Path, exit_status: int, tail: list[str]) -> bool:
    """Write a JUnit file with one failed ``runner`` test case when the run wrote none (it could not start,
    or was killed), so that JUnit consumers (Sonobuoy) see a failure with its reason; True if written."""
    if path.exists() and path.stat().st_size > 0:
        return False
    suites = ElementTree.Element("testsuites")
    suite = ElementTree.SubElement(suites, "testsuite", name="macvlan-conformance", tests="1", failures="1",
                                   errors="0", skipped="0")
    case = ElementTree.SubElement(suite, "testcase", classname="macvlan-conformance.runner", name="run")
    reason = next((line for line in reversed(tail) if line.strip()), "no output")
    failure = ElementTree.SubElement(case, "failure", message=f"the run wrote no JUnit report (exit status "
                                                               f"{exit_status}): {reason.strip()}"[:1000])
    failure.text = "\n".join(tail)
    path.parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
    return True

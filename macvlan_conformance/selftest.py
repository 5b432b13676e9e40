"""The self-test: prove the suites catch broken networks. On one lab, run the suites healthy, then under
each fault of the catalogue in turn, and compare the failing check ids with what the fault declares.

A fault is *detected* when every check it declares fails; a declared check that passes is *missed*; a
check that fails although the fault does not declare it is *collateral*, and so is a case of an address family the
fault does not break (``Fault.families``: an IPv6 fault failing an IPv4 case, named ``<check> [ipv4]``). Any miss or collateral failure
fails the self-test, and so does a healthy run that is not all green or has any diagnosis.

The diagnosis is measured too: per fault, whether the first likely cause of its run names the place the
fault declares (``Fault.place``, compared by ``diagnosis.place_matches``: the same kind and fields; a more or
less specific place is not the fault's). The accuracy is reported next to the detection matrix; a first
cause elsewhere is reported, it does not fail the self-test.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import diagnosis
from .faults import Fault

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class FaultRow:
    name: str
    summary: str
    breaks: list[str]
    detected: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    collateral: list[str] = field(default_factory=list)
    failed_tests: int = 0
    place: dict = field(default_factory=dict)            # where the fault breaks the network (declared)
    diagnosed: dict | None = None                        # the place of the run's first likely cause
    cause: str = ""                                      # that cause

    @property
    def ok(self) -> bool:
        return not self.missed and not self.collateral


def run_suites(lab: str, workers: int, results: Path, extra: tuple[str, ...] = ()) -> dict:
    """The suites against ``lab`` in a subprocess (a fresh pytest, as a user runs it, with ``extra`` pytest
    arguments); its results.json, validated (``report.results.load``). A run that wrote none (interrupted,
    or failed to start) raises."""
    from .report.outputs import partial
    from .report.results import load
    from .run_command import suites_command
    xdist = ["-n", str(workers), "--dist", "loadfile"] if workers > 1 else []
    for earlier in (results, partial(results, ".json")):  # never read an earlier self-test's file as this run's
        earlier.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([*suites_command(), "-q", "--lab", lab, *xdist, "--results", str(results),
                        "--catalogue", f"{tmp}/catalogue.yaml", "--html-report", f"{tmp}/report.html",
                        "--history", f"{tmp}/history.jsonl", *extra],
                       cwd=ROOT, capture_output=True, text=True)
    if not results.exists():
        why = (f"it was interrupted (partial results in {partial(results, '.json')})"
               if partial(results, ".json").exists() else "see `pytest suites --lab ...` for why")
        raise RuntimeError(f"the suites wrote no {results}: {why}")
    return load(results)


def failed_checks(results: dict) -> set[str]:
    return {c["id"] for c in results["checks"] if c["outcome"] == "failed"}


def failures_by_family(results: dict, families: frozenset[int]) -> tuple[set[str], set[str]]:
    """The failed checks whose failing cases are of ``families`` (or of no family: checks that probe none), and
    the failures outside them as ``<check> [ipv<N>]``."""
    within, outside = set(), set()
    for record in results["checks"]:
        if record["outcome"] != "failed":
            continue
        version = record.get("ip_version")
        if version is None or version in families:
            within.add(record["id"])
        else:
            outside.add(f"{record['id']} [ipv{version}]")
    return within, outside


def ran_checks(results: dict) -> set[str]:
    """The checks that had cases in a run (not those reported not applicable)."""
    return {c["id"] for c in results["checks"]}


def run(target, faults: list[Fault], workers: int, workdir: Path,
        progress: Callable[[str], None] = lambda line: None, extra: tuple[str, ...] = ()) -> dict:
    """Healthy run, then each fault: apply, run the suites (with ``extra`` pytest arguments), revert. Returns the
    detection matrix."""
    workdir.mkdir(parents=True, exist_ok=True)
    progress("healthy run")
    healthy = run_suites(target.state.name, workers, workdir / "healthy.json", extra)
    rows = []
    for fault in faults:
        summary = fault.summary(target.topology)
        progress(f"fault {fault.name}: {summary}")
        fault.apply(target)
        try:
            results = run_suites(target.state.name, workers, workdir / f"{fault.name}.json", extra)
        finally:
            fault.revert(target)
            target.reload()
        failed, other_family = failures_by_family(results, fault.families(target.topology))
        causes = diagnosis.for_results(results)
        breaks = fault.breaks_on(target.topology) & ran_checks(results)  # a check without cases here cannot break
        rows.append(FaultRow(fault.name, summary, sorted(breaks), sorted(breaks & failed),
                             sorted(breaks - failed), sorted((failed - breaks) | other_family),
                             results["summary"]["failed"], fault.place(target.topology),
                             causes[0]["place"] if causes else None, causes[0]["cause"] if causes else ""))
    return matrix(healthy, rows)


def matrix(healthy: dict, rows: list[FaultRow]) -> dict:
    """The detection matrix (selftest.json) of a healthy run's results and the fault rows."""
    healthy_causes = diagnosis.for_results(healthy)
    faults = [asdict(r) | {"ok": r.ok, "diagnosis_ok": diagnosis_ok(r)} for r in rows]
    return {"healthy": {"summary": healthy["summary"], "failed": sorted(failed_checks(healthy)),
                        "diagnosis": healthy_causes},
            "faults": faults,
            "diagnosis": {"first_cause_at_place": sum(f["diagnosis_ok"] for f in faults), "of": len(faults)},
            "ok": not failed_checks(healthy) and not healthy_causes and all(r.ok for r in rows)}


def diagnosis_ok(row: FaultRow) -> bool:
    """Whether the run's first likely cause names the fault's declared place."""
    return row.diagnosed is not None and diagnosis.place_matches(row.diagnosed, row.place)


def render_text(matrix: dict) -> str:
    lines = [f"healthy run: {matrix['healthy']['summary']['passed']} passed, "
             f"{matrix['healthy']['summary']['failed']} failed"]
    if matrix["healthy"].get("diagnosis"):
        lines.append(f"healthy run has a diagnosis (it must have none): {matrix['healthy']['diagnosis'][0]['cause']}")
    width = max(len(r["name"]) for r in matrix["faults"]) if matrix["faults"] else 10
    for r in matrix["faults"]:
        verdict = "detected" if r["ok"] else "NOT OK"
        lines.append(f"{r['name']:<{width}}  {verdict:9} breaks {len(r['breaks'])} checks"
                     f"{'; missed ' + ', '.join(r['missed']) if r['missed'] else ''}"
                     f"{'; collateral ' + ', '.join(r['collateral']) if r['collateral'] else ''}"
                     f"; {_first_cause(r)}")
    for name, reason in matrix.get("not_applicable", {}).items():
        lines.append(f"{name:<{width}}  not applicable to this topology: {reason}")
    if "diagnosis" in matrix:
        lines.append(f"diagnosis: {matrix['diagnosis']['first_cause_at_place']}/{matrix['diagnosis']['of']} "
                     f"first cause at the fault's place")
    lines.append("self-test passed" if matrix["ok"] else "self-test FAILED")
    return "\n".join(lines)


def _first_cause(row: dict) -> str:
    if row.get("diagnosis_ok"):
        return f"first cause at {diagnosis.describe(row['place'])}"
    found = diagnosis.describe(row["diagnosed"]) if row.get("diagnosed") else "no diagnosis"
    return f"first cause NOT at the fault's place ({found}; the fault is at {diagnosis.describe(row['place'])})"

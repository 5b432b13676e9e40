"""A run's records read against its topology: for each record the case it reports (endpoints, control,
parameters, regenerated from the model exactly as the suites generate them) and how it came out.

How a result came out is one of three things the rules reason from:

- ``pass``: passed (a flaky pass counts: the path works, only not at the first attempt);
- ``silent``: nothing (or an error) came back where something must: no reply, no route, a probe error, a
  mismatch of facts, a negative check left *inconclusive* by its failed positive control;
- ``wrong``: something came back that must not: a breach of isolation (an ARP answered across VLANs, a
  broadcast captured in another VLAN, a reply where none may be), or an answer from the wrong party (ARP
  for the gateway or a pod answered by another MAC, or by several).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import checks
from .. import expectations as ex
from ..topology import Topology

PASSED = ("passed", "flaky")
SILENT_VERDICTS = ("inconclusive", "probe-error")
WRONG_ANSWER = ("arp-from-other",)


@dataclass(frozen=True)
class Observation:
    """One record with its place in the model: a probed ``case``, or the ``pod`` of a facts check, or the
    ``drill`` (node, member) of a resilience check, or none of them (a record this topology cannot place)."""

    index: int
    record: dict = field(compare=False, hash=False)
    check: str | None
    case: ex.Case | None = None
    pod: str | None = None
    drill: tuple[str, str] | None = None
    mode: str = "pass"                      # pass | silent | wrong | skipped

    @property
    def nodeid(self) -> str:
        return self.record["nodeid"]

    @property
    def failed(self) -> bool:
        return self.mode in ("silent", "wrong")

    @property
    def passed(self) -> bool:
        return self.mode == "pass"

    @property
    def observed(self) -> str:
        return self.record.get("observed") or self.record.get("outcome") or "?"

    @property
    def label(self) -> str:
        record = self.record
        tag = f" [ipv{record['ip_version']}]" if record.get("ip_version") not in (None, 4) else ""
        if record.get("src") and record.get("dst"):
            return f"{record['src']} -> {record['dst']}{tag}"
        return f"{record['src']}{tag}" if record.get("src") else record["nodeid"]


def outcome_mode(record: dict, case: ex.Case | None) -> str:
    """``pass``, ``silent``, ``wrong`` or ``skipped`` (see the module docstring)."""
    outcome = record.get("outcome")
    if outcome in PASSED:
        return "pass"
    if outcome != "failed":
        return "skipped"
    observed = record.get("observed")
    if observed in SILENT_VERDICTS:
        return "silent"
    if case is not None and case.control is not None:
        return "wrong"   # a negative check that failed without being inconclusive saw what it must not
    return "wrong" if observed in WRONG_ANSWER else "silent"


def _case_index(topology: Topology) -> dict[tuple[str, str, str | None, int], ex.Case]:
    """Every probed case of the topology by (check id, source label, destination label or target, address
    family): what a record carries as ``id``, ``src``, ``dst`` and ``ip_version``."""
    index = {}
    for case in checks.all_cases(topology):
        dst = case.dst.label if case.dst is not None else case.target
        index[(case.check, case.src.label, dst, case.ip_version)] = case
    return index


def read(topology: Topology, records: list[dict]) -> list[Observation]:
    """The records as observations, in their order."""
    cases = _case_index(topology)
    pods = {p.name for p in topology.pods}
    drills = {f"{n.name}/{m}": (n.name, m) for n in topology.nodes for m in n.bond.members}
    observations = []
    for index, record in enumerate(records):
        check, src = record.get("id"), record.get("src")
        case = cases.get((check, src, record.get("dst"), record.get("ip_version") or 4))  # none: before IPv6
        subject = checks.REGISTRY[check].subject if check in checks.REGISTRY else None
        observations.append(Observation(
            index, record, check, case=case,
            pod=src if subject == "pod" and src in pods else None,
            drill=drills.get(src) if subject == "bond_member" else None,
            mode=outcome_mode(record, case)))
    return observations

"""Diagnosis: from the pattern of failed and passed checks over the topology, the likely causes of a broken
run, each naming a place (a vlanif, a node's trunk, one VLAN on one node, a bond member, a pod interface,
a VLAN pair, a switch port, the router, a network, an address...) and the evidence behind it.

``diagnose(topology, records)`` reads the records (results.json's ``checks``) against the cases the
topology generates (``observations``), follows each case's traffic through the places it crosses
(``paths``, ``rules``), and ranks the places by the failures they explain against the passes through them
that contradict them (``ranking``). Nothing here knows the fault catalogue: a fault never seen before is
explained the same way. A healthy run has no diagnosis.

Address families: each record is read as the case of its family (``ip_version``; none: IPv4). Links carry
every family; what is configured per family (the router's forwarding and filters, gateway addresses, the
pods' addresses and default routes) is a place per family too, so a failure of IPv6 alone is explained there
(its place says ``ip_version``) while the IPv4 passes of the same paths contradict the every-family place.

``place_matches(diagnosed, declared)`` is the match rule the self-test measures with (see its docstring).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..topology import Topology
from . import places, ranking
from .observations import Observation, read
from .paths import Paths
from .places import describe


@dataclass
class Diagnosis:
    """One likely cause: what (``cause``), where (``place``), why we think so (``evidence``), and the
    failed records (node ids) it explains."""

    cause: str
    place: dict
    evidence: str
    explains: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def diagnose(topology: Topology, records: list[dict]) -> list[Diagnosis]:
    """The likely causes of the failures in ``records``, most likely first; [] when nothing failed."""
    observations = read(topology, records)
    if not any(o.failed for o in observations):
        return []
    paths = Paths(topology)
    out = []
    for cause in ranking.rank(observations, paths):
        token, explained = cause.candidate.token, cause.explained
        where = places.place(token, paths)
        also = list(dict.fromkeys(describe(places.place(c.token, paths)) for c in cause.ties))
        also = [a for a in also if a != describe(where)]
        out.append(Diagnosis(
            cause=places.cause(token, paths, explained), place=where,
            evidence=ranking.evidence(cause.candidate, explained, observations, describe(where), also),
            explains=[o.nodeid for o in explained]))
    return out


def unexplained(records: list[dict], diagnoses: list[dict | Diagnosis]) -> list[str]:
    """The node ids of failed records that no diagnosis explains, in record order."""
    explained = {n for d in diagnoses for n in (d.explains if isinstance(d, Diagnosis) else d.get("explains", []))}
    return [r["nodeid"] for r in records if r.get("outcome") == "failed" and r["nodeid"] not in explained]


def summary_lines(diagnoses: list[dict | Diagnosis], records: list[dict], limit: int = 5) -> list[str]:
    """One line per cause (the first ``limit``), and one for the failures left unexplained."""
    items = [d.to_dict() if isinstance(d, Diagnosis) else d for d in diagnoses]
    lines = [f"likely cause {i}: {d['cause']} [{places.describe(d['place'])}; explains {len(d['explains'])}]"
             for i, d in enumerate(items[:limit], 1)]
    if len(items) > limit:
        lines.append(f"... and {len(items) - limit} more likely causes (see the report)")
    left = unexplained(records, items)
    if left and items:
        lines.append(f"{len(left)} failures fit no single place (unexplained), e.g. {left[0]}")
    return lines


def place_matches(diagnosed: dict, declared: dict) -> bool:
    """Whether a diagnosed place names the declared (fault's) place: the same kind, and every field the
    declared place names has the same value in the diagnosed one (the diagnosis may say more, such as the
    address or the VLAN of an interface). A place more or less specific than the declared one does not match:
    VLAN 200 on worker2 is not worker2, and worker2 is not VLAN 200 on worker2 (a bond with both members
    down is declared as its node). One equivalence: a VLAN pair diagnosed ``direction: both`` (an echo needs
    both ways, so a one-way stateless filter breaks both) matches a declared pair of the same two VLANs in
    either order."""
    if diagnosed.get("kind") != declared.get("kind"):
        return False
    fields = {k: v for k, v in declared.items() if k != "kind"}
    if diagnosed.get("kind") == "vlan-pair" and diagnosed.get("direction") == "both" and "direction" not in declared:
        pair = {fields.get("src_vlan"), fields.get("dst_vlan")}
        rest = {k: v for k, v in fields.items() if k not in ("src_vlan", "dst_vlan")}
        return pair == {diagnosed.get("src_vlan"), diagnosed.get("dst_vlan")} and \
            all(diagnosed.get(k) == v for k, v in rest.items())
    return all(diagnosed.get(k) == v for k, v in fields.items())


__all__ = ["Diagnosis", "Observation", "describe", "diagnose", "for_results", "one_line", "place_matches",
           "summary_lines", "unexplained"]


def one_line(item: dict | Diagnosis) -> str:
    """A cause in one line: its place, then the sentence (for JUnit properties and summaries)."""
    d = item.to_dict() if isinstance(item, Diagnosis) else item
    return f"{places.describe(d['place'])}: {d['cause']}"


def for_results(results: dict) -> list[dict]:
    """A results document's diagnosis: the one it carries, or (files written before it existed) computed
    from its topology and checks; [] when its topology cannot be read."""
    if results.get("diagnosis") is not None:
        return results["diagnosis"]
    from pydantic import ValidationError
    from ..topology import TopologyError, parse_topology
    try:
        topology = parse_topology(results.get("topology") or {}, "results.json topology")
    except (TopologyError, ValidationError, ValueError, TypeError):
        return []
    return [d.to_dict() for d in diagnose(topology, results["checks"])]

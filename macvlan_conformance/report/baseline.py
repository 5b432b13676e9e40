"""Compare two runs for a pre-upgrade check: regressions, fixes, new and removed checks, and drift in the
facts that should stay stable across an upgrade (gateway MACs, pod MTUs, the pool of each pod's IP)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .results import named, record_key

GOOD = {"passed", "flaky"}


@dataclass
class Comparison:
    regressions: list[dict] = field(default_factory=list)   # passed before, failed now
    fixes: list[dict] = field(default_factory=list)         # failed before, passed now
    new: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)

    @property
    def has_regressions(self) -> bool:
        return bool(self.regressions)


def compare(old: dict, new: dict) -> Comparison:
    """What changed from ``old`` to ``new``, record by record (``record_key``: IPv4 and IPv6 cases are distinct
    records); a regression or fix carries the record's ``ip_version`` so that ``named`` can say its family."""
    before = {record_key(r): r for r in old["checks"]}
    after = {record_key(r): r for r in new["checks"]}
    result = Comparison()
    for key in sorted(after.keys() & before.keys()):
        was, now = before[key]["outcome"], after[key]["outcome"]
        if was in GOOD and now == "failed":
            result.regressions.append({"nodeid": key, "before": was, "after": now, "id": after[key].get("id"),
                                       "ip_version": after[key].get("ip_version"),
                                       "detail": after[key].get("detail") or ""})
        elif was == "failed" and now in GOOD:
            result.fixes.append({"nodeid": key, "before": was, "after": now, "id": after[key].get("id"),
                                 "ip_version": after[key].get("ip_version")})
    result.new = sorted(after.keys() - before.keys())
    result.removed = sorted(before.keys() - after.keys())
    result.drift = drift(old.get("facts") or {}, new.get("facts") or {})
    return result


def drift(old: dict, new: dict) -> list[str]:
    """Human-readable differences in stable facts (only where both runs know the fact). Pod addresses
    (``ip``, ``ipv6``) are not compared, the pool they come from is."""
    lines = []
    for vlan, mac in sorted((old.get("gateway_macs") or {}).items()):
        now = (new.get("gateway_macs") or {}).get(vlan)
        if mac and now and mac.lower() != now.lower():
            lines.append(f"gateway MAC of VLAN {vlan}: {mac} -> {now}")
    new_eps = new.get("endpoints") or {}
    for key, fact in sorted((old.get("endpoints") or {}).items()):
        now = new_eps.get(key)
        if not now:
            continue
        if fact.get("mtu") and now.get("mtu") and fact["mtu"] != now["mtu"]:
            lines.append(f"MTU of {key}: {fact['mtu']} -> {now['mtu']}")
        if fact.get("pool") != now.get("pool"):
            lines.append(f"pool of {key}: {fact.get('pool')} -> {now.get('pool')}")
    return lines


def render_text(comparison: Comparison, old_name: str, new_name: str) -> str:
    lines = [f"baseline {old_name} -> {new_name}: {len(comparison.regressions)} regressions, "
             f"{len(comparison.fixes)} fixes, {len(comparison.new)} new, {len(comparison.removed)} removed, "
             f"{len(comparison.drift)} drifted facts"]
    for title, items in (("REGRESSION", [f"{named(r)}: {r['before']} -> failed  {r['detail'][:200]}"
                                         for r in comparison.regressions]),
                         ("fixed", [named(r) for r in comparison.fixes]),
                         ("new", comparison.new), ("removed", comparison.removed), ("drift", comparison.drift)):
        lines += [f"  {title}: {item}" for item in items]
    return "\n".join(lines)

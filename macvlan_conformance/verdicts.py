"""Named outcomes and the judgement of an observation against an expectation (no network, no model)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .expectations import Case


class Verdict(str, Enum):
    """Named outcomes. Expectations return them; probes' evidence is classified into them."""

    REACHABLE_L2 = "reachable-l2"            # echo reply, TTL unchanged, from the peer's own MAC
    REACHABLE_ROUTED = "reachable-routed"    # echo reply, TTL - 1, from the source VLAN's vlanif MAC
    REACHABLE = "reachable"                  # echo reply (overlay: the path is the overlay's business)
    REACHABLE_OTHER = "reachable-other-path" # a reply, but with the wrong TTL or source MAC
    BLOCKED = "blocked"                      # no reply over the whole window
    NO_ARP_REPLY = "no-arp-reply"            # nobody answered ARP (for the target or the next hop)
    NO_ROUTE = "no-route"                    # the pod has no route to the destination
    ARP_FROM_VLANIF = "arp-from-vlanif"      # the gateway's ARP reply came from exactly the vlanif MAC
    ARP_OTHER = "arp-from-other"             # ARP answered, but by another MAC (or by several)
    ARP_REPLY = "arp-reply"                  # ARP answered (a positive control)
    TIME_EXCEEDED = "time-exceeded"          # TTL=1 probe answered with time-exceeded by the gateway
    NOT_SEEN = "not-seen"                    # a broadcast marker did not reach the receiver
    SEEN = "seen"                            # a broadcast marker reached the receiver
    CREATED = "created"                      # a pod came up
    REFUSED = "refused"                      # a pod was refused (admission, or never got its sandbox)
    MATCHES = "matches"                      # facts match the model
    MISMATCH = "mismatch"                    # facts differ from the model
    INCONCLUSIVE = "inconclusive"            # the positive control failed: the negative proves nothing
    PROBE_ERROR = "probe-error"              # the probe itself failed (agent died, timed out, raised)


# observed verdicts that satisfy an expected one (everything satisfies itself)
_SATISFIES = {
    Verdict.BLOCKED: {Verdict.BLOCKED, Verdict.NO_ARP_REPLY, Verdict.NO_ROUTE},
    Verdict.REACHABLE: {Verdict.REACHABLE, Verdict.REACHABLE_L2, Verdict.REACHABLE_ROUTED, Verdict.REACHABLE_OTHER},
}


def satisfies(expected: Verdict, observed: Verdict) -> bool:
    return observed == expected or observed in _SATISFIES.get(expected, ())


@dataclass(frozen=True)
class Judgement:
    passed: bool
    expected: Verdict
    observed: Verdict
    detail: str = ""


def judge(case: Case, observed: Verdict, control: Verdict | None = None, detail: str = "") -> Judgement:
    """Pass iff the observation satisfies the expectation and, for a case with a positive control, the control
    was observed and held (a missing control observation is inconclusive too).

    A probe error is its own failure. A control only makes *silence* trustworthy: an observation that
    contradicts the expectation (a breach seen) is reported as what it is, whatever the control did.
    """
    if observed == Verdict.PROBE_ERROR:
        return Judgement(False, case.expected, observed, detail)
    held = satisfies(case.expected, observed)
    if held and case.control is not None and (control is None or not satisfies(case.control.expected, control)):
        seen = control.value if control is not None else "nothing (it did not run)"
        return Judgement(False, case.expected, Verdict.INCONCLUSIVE,
                         f"positive control {case.control.id} observed {seen}, expected "
                         f"{case.control.expected.value}: the negative result proves nothing. {detail}".strip())
    return Judgement(held, case.expected, observed, detail)

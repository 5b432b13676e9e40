"""resilience: one bond member down changes nothing; the bond fails over and traffic keeps flowing.

MUST lines: the check registry (macvlan_conformance/checks.py), listed in reports/catalogue.yaml.
"""

import pytest

from macvlan_conformance import checks
from macvlan_conformance import expectations as ex
from macvlan_conformance.checks import Capability
from macvlan_conformance.verdicts import Judgement, Verdict, satisfies
from macvlan_conformance.probing import Prober, converge

CONVERGENCE_LIMIT_S = 5.0


def _verdicts(target, cases, prober_settings) -> dict[str, Verdict]:
    prober = Prober(target, **prober_settings)
    observed = prober.observe_all(cases)
    return {c.id: observed[c].verdict for c in cases}


def _judged(conformance, target, cases, settings) -> tuple[list, dict[str, Verdict], list[str]]:
    """The pairs this drill can judge: stable and as the topology expects before the fault, in the run's own
    observation of their checks (probed once per run, then read from the prober) and in a fresh round just
    before the fault. A pair already broken is its own check's failure, not the bond's, and costs no
    further probes here. Returns those cases, their verdicts, and one line per pair left out."""
    run = {c.id: obs.verdict for c, obs in conformance.prober.observe_all(cases).items()}
    candidates = [c for c in cases if satisfies(c.expected, run[c.id])]
    fresh = _verdicts(target, candidates, settings)
    judged = [c for c in candidates if fresh[c.id] == run[c.id]]
    left_out = [f"{c.id}: {run[c.id].value} in its check, {fresh[c.id].value if c.id in fresh else 'not probed'} "
                f"just before the fault; expected {c.expected.value}" for c in cases if c not in judged]
    return judged, {c.id: fresh[c.id] for c in judged}, left_out


@pytest.mark.check("resilience.bond-member-down")
def test_bond_member_down(bond_member, target, conformance, request):
    node, nic = bond_member
    cases = [c for c in ex.bond_path_cases(target.topology) if node in (c.src.node, c.dst.node)]
    if request.config.getoption("--matrix") == "sampled":  # every VLAN pair and node pair still covered
        cases = checks.sample(cases)
    settings = {"retries": conformance.prober.retries, "window": conformance.prober.window,
                "next_hop": conformance.prober.next_hop}
    all_pairs = len(cases)
    cases, before, left_out = _judged(conformance, target, cases, settings)
    reachable_before = sum(1 for v in before.values() if v in (Verdict.REACHABLE_L2, Verdict.REACHABLE_ROUTED))
    active_before = target.active_bond_member(node)
    was_up = target.bond_member_is_up(node, nic)
    target.set_bond_member(node, nic, up=False)
    try:
        during = converge(target, cases, before, CONVERGENCE_LIMIT_S, next_hop=settings["next_hop"])
        tables = target.mac_tables() if during.seconds is None and Capability.MAC_TABLES in target.capabilities \
            else None
        active_during = target.active_bond_member(node)
    finally:
        target.set_bond_member(node, nic, up=was_up)  # the state it found, not simply "up"
    after = converge(target, cases, before, CONVERGENCE_LIMIT_S, next_hop=settings["next_hop"])

    failures = [f"{phase}: {case_id}: {before[case_id].value} before, {seen.verdicts[case_id].value} now"
                for phase, seen in (("member down", during), ("restored", after))
                for case_id in before if seen.verdicts[case_id] != before[case_id]]
    if not was_up:
        failures.append(f"{nic} was already down before the check: {node} has no bond redundancy left")
    if reachable_before == 0:
        failures.append("no pair involving the node was reachable (stably, as expected) before the fault: the "
                        "check proves nothing")
    if active_before == nic and active_during == nic:
        failures.append(f"{nic} was the active member and is down, but the bond did not fail over")
    if during.seconds is None:
        failures.append(f"did not converge within {CONVERGENCE_LIMIT_S} s after {nic} went down")
    if after.seconds is None:
        failures.append(f"did not converge within {CONVERGENCE_LIMIT_S} s after {nic} came back")
    judgement = Judgement(not failures, Verdict.MATCHES, Verdict.MISMATCH if failures else Verdict.MATCHES,
                          "; ".join(failures[:20]))
    not_judged = [f"{len(left_out)} of {all_pairs} pairs not judged: unstable or not as expected before the "
                  f"fault (their own checks report them)"] if left_out else None
    conformance.record(request, judgement, src=f"{node}/{nic}", dst=f"{len(cases)} pairs", not_checked=not_judged,
                       evidence={"active_before": active_before, "active_during": active_during,
                                 "pairs": len(cases), "reachable_before": reachable_before,
                                 "not_judged": left_out[:50],
                                 "convergence_s": during.seconds, "convergence_rounds": during.rounds,
                                 "restored_convergence_s": after.seconds,
                                 "mac_tables_when_not_converged": tables})
    assert not failures, f"{node}/{nic} down:\n  " + "\n  ".join(failures[:20])

"""resilience: one bond member down changes nothing; the bond fails over and traffic keeps flowing."""

import pytest

from macvlan_conformance import expectations as ex
from macvlan_conformance.expectations import Judgement, Verdict
from macvlan_conformance.probing import Prober, converge

CONVERGENCE_LIMIT_S = 5.0


@pytest.mark.exclusive
@pytest.mark.check("resilience.bond-member-down")
def test_bond_member_down(bond_member, target, conformance, request):
    """With one member of a node's bond down, every underlay path of that node still behaves.

    MUST with either bond member down, intra-VLAN (cross-node) and inter-VLAN pairs involving the
    node's pods give the same verdicts as on the healthy network, once the bond and the switch's MAC
    learning have converged (within 5 s; the convergence time is recorded).
    MUST when the active member goes down, the bond fails over to the other member.
    MUST after the member is restored, the same pairs still behave.
    """
    node, nic = bond_member
    topology = target.topology
    cases = [c for check in ("intra-vlan.cross-node", "inter-vlan.routed") for c in ex.cases_for(topology, check)
             if node in (c.src.node, c.dst.node)]
    active_before = target.active_bond_member(node)
    target.set_bond_member(node, nic, up=False)
    try:
        convergence_s, rounds = converge(target, cases, CONVERGENCE_LIMIT_S)
        tables = target.mac_tables() if convergence_s is None and hasattr(target, "mac_tables") else None
        degraded = Prober(target, retries=conformance.prober.retries, window=conformance.prober.window)
        during = degraded.observe_all(cases)
        active_during = target.active_bond_member(node)
    finally:
        target.set_bond_member(node, nic, up=True)
    restored_convergence_s, _ = converge(target, cases, CONVERGENCE_LIMIT_S)
    restored = Prober(target, retries=conformance.prober.retries, window=conformance.prober.window)
    after = restored.observe_all(cases)

    failures = []
    for phase, observations, prober in (("member down", during, degraded), ("restored", after, restored)):
        for case in cases:
            obs = observations[prober._key(case)]
            if not ex.judge(case, obs.verdict, obs.control).passed:
                failures.append(f"{phase}: {case.id}: expected {case.expected.value}, observed {obs.verdict.value}")
    if convergence_s is None:
        failures.append(f"did not converge within {CONVERGENCE_LIMIT_S} s after {nic} went down")
    if restored_convergence_s is None:
        failures.append(f"did not converge within {CONVERGENCE_LIMIT_S} s after {nic} came back")
    if active_before == nic and active_during == nic:
        failures.append(f"{nic} was the active member and is down, but the bond did not fail over")
    flaky = [f"{phase}: {case_id.split('|', 1)[1]}" for phase, observations in (("member down", during), ("restored", after))
             for case_id, o in observations.items() if o.flaky]
    judgement = Judgement(not failures, Verdict.MATCHES, Verdict.MISMATCH if failures else Verdict.MATCHES,
                          "; ".join(failures[:20]))
    conformance.record(request, "resilience.bond-member-down", judgement, src=f"{node}/{nic}",
                       dst=f"{len(cases)} pairs", attempts=1 + bool(flaky),
                       evidence={"active_before": active_before, "active_during": active_during,
                                 "pairs": len(cases), "convergence_s": convergence_s, "convergence_rounds": rounds,
                                 "restored_convergence_s": restored_convergence_s, "retried_pairs": flaky,
                                 "mac_tables_when_not_converged": tables})
    assert not failures, f"{node}/{nic} down:\n  " + "\n  ".join(failures[:20])

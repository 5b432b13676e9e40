"""attachment rules: the multus-underlay contract between standalone and overlay networks, refused where the
topology's coordinator (explicit mode) refuses it; a refusal counts only when it names the rule.

MUST lines: the check registry (macvlan_conformance/checks.py), listed in reports/catalogue.yaml.
"""

import pytest

from macvlan_conformance.verdicts import Judgement, Verdict


@pytest.mark.check("rules.attachment")
def test_attachment_rule(rule, target, conformance, request):
    name, pod, expected, why = rule.name, rule.pod, rule.expected, rule.why
    admission = conformance.admission(rule)  # the rules' pods are created together, on the first rule test
    passed = admission.verdict == expected
    if expected == Verdict.REFUSED:
        named = rule.marker is not None and rule.marker in admission.detail  # the coordinator's error for it
        enforcement = ("enforced" if named else "refused, but not for the rule") if passed \
            else f"not enforced by this {target.kind}"
        passed = passed and named
    elif not rule.control:
        enforcement = "not enforced, as the topology declares" if passed else \
            "refused, although the topology declares nothing that refuses it"
    else:
        enforcement = "allowed (control)" if passed else "refused although allowed"
    judgement = Judgement(passed, expected, admission.verdict, f"{enforcement}: {admission.detail}")
    conformance.record(request, judgement, src=pod.name, dst=why,
                       mode="macvlan-standalone" if "v1.multus-cni.io/default-network" in pod.annotations
                       else "macvlan-overlay",
                       evidence={"case": name, "annotations": pod.annotations, "enforcement": enforcement,
                                 "detail": admission.detail, "expected_refusal": rule.enforcer})
    assert passed, (f"[rules.attachment] {name}: {why}\n  expected: {expected.value}\n"
                    f"  observed: {admission.verdict.value} ({enforcement})\n  detail: {admission.detail}")

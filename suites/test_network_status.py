"""network-status: the k8s.v1.cni.cncf.io/network-status annotation tells the truth about the pod."""

import pytest

from macvlan_conformance.allocation import network_status_problems
from macvlan_conformance.expectations import Judgement, Verdict


@pytest.mark.check("network-status.consistent")
def test_network_status(pod, target, conformance, request):
    """The network-status annotation matches the model and what the pod sees.

    MUST exactly one entry has default: true, and it is eth0.
    MUST every attachment has an entry with the network's namespace/name (the overlay's name for its eth0).
    MUST each entry's ips and mac equal the addresses and MAC the pod has on that interface.
    """
    status = target.network_status(pod)
    describe = target.agent(pod).call("describe")
    problems = network_status_problems(target.topology, pod, status, describe)
    judgement = Judgement(not problems, Verdict.MATCHES, Verdict.MISMATCH if problems else Verdict.MATCHES,
                          "; ".join(problems))
    conformance.record(request, "network-status.consistent", judgement, src=pod, pod=pod,
                       evidence={"network-status": status})
    assert not problems, f"{pod}: " + "\n  ".join(problems)

"""network-status: the k8s.v1.cni.cncf.io/network-status annotation tells the truth about the pod.

MUST lines: the check registry (macvlan_conformance/checks.py), listed in reports/catalogue.yaml.
"""

import pytest

from macvlan_conformance.allocation import network_status_problems


@pytest.mark.check("network-status.consistent")
def test_network_status(pod, target, conformance, request):
    status = target.network_status(pod)
    describe = target.agent(pod).call("describe")
    conformance.conclude(request, pod, network_status_problems(target.topology, pod, status, describe), src=pod,
                         pod=pod, evidence={"network-status": status})

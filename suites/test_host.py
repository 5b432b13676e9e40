"""host: standalone pods and the nodes, as the coordinator mode of their network says (veth0 to their own node
with the coordinator; macvlan parent isolation without it), and the cluster's Services.

MUST lines: the check registry (macvlan_conformance/checks.py), listed in reports/catalogue.yaml.
"""

import pytest


@pytest.mark.check("host.node-reachability")
def test_node_reachability(case, conformance, request):
    conformance.verify(request, case)


@pytest.mark.check("services.cluster-ip")
def test_service_cluster_ip(case, conformance, request):
    conformance.verify(request, case)

"""networks: the NADs and SpiderIPPools the pods attach to are what the topology declares (cluster target).

MUST lines: the check registry (macvlan_conformance/checks.py), listed in reports/catalogue.yaml.
"""

import pytest


@pytest.mark.check("networks.declared")
def test_network_declared(network, target, conformance, request):
    net = target.topology.networks[network]
    conformance.conclude(request, net.ref, target.network_differences(net), src=net.ref,
                         mode=f"macvlan-{net.type}", evidence={"ippools": list(net.pool_names), "master": net.master})

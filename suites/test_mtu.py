"""MTU: pods inherit their master's MTU, and a full-size frame crosses the switch."""

import pytest


@pytest.mark.check("mtu.df-ping")
def test_mtu(case, conformance, request):
    """The pod's MTU is its master's and the path to the gateway carries full-size frames.

    MUST the pod interface MTU equals the network MTU and the master's MTU.
    MUST a DF ping of MTU-28 bytes to the gateway passes.
    MUST a DF ping of MTU-27 bytes does not.
    """
    conformance.verify(request, case)

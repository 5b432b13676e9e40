"""``python -m macvlan_conformance.agent``: serve the agent protocol on stdin/stdout in the current
network namespace (how the cluster target runs it through ``kubectl exec``)."""

import sys

from .server import serve

if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)

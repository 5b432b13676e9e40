#!/usr/bin/env bash
# Remove what setup.sh created. UNTESTED HERE (no docker engine on our machines).
set -uo pipefail
cluster=macvlan-conformance
kind delete cluster --name "$cluster"
docker rm -f "$cluster-gateway"
docker network rm mc-trunk-a mc-trunk-b

#!/usr/bin/env bash
# Build a local cluster shaped like the seed: each worker gets bond0 (active-backup over eth1 + eth2, two
# docker networks standing in for the two NICs and the switch trunk) with bond0.100 / bond0.200 on top; a
# gateway container on the same trunks plays the switch's vlanifs (10.6.0.1, 10.100.0.1, 10.200.0.1) and
# routes between the VLANs. Then Spiderpool (with Multus and the CNI plugins) is installed.
#
# Needs: docker, kind, kubectl, helm, and the bonding + 8021q modules on the docker host.
# UNTESTED HERE: our machines have no docker engine; see README "Live cluster target".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cluster=macvlan-conformance
workers=("$cluster-worker" "$cluster-worker2")
spiderpool_version=${SPIDERPOOL_VERSION:-1.0.2}

kind create cluster --config "$here/cluster.yaml"
for net in mc-trunk-a mc-trunk-b; do
  docker network inspect "$net" >/dev/null 2>&1 || docker network create --internal "$net"
done

# the switch: one container with its own bond over both trunks, a vlanif per VLAN, forwarding on
docker run -d --name "$cluster-gateway" --privileged --network mc-trunk-a \
  docker.io/library/alpine:3.22 sleep infinity
docker network connect mc-trunk-b "$cluster-gateway"
underlay() {  # $1 container, $2 native-VLAN address of bond0
  docker exec "$1" sh -c "
    ip link add bond0 type bond mode active-backup miimon 100
    for nic in eth1 eth2; do ip link set \$nic down; ip link set \$nic master bond0; done
    ip link set bond0 up && ip addr add $2 dev bond0
    for vid in 100 200; do ip link add link bond0 name bond0.\$vid type vlan id \$vid; ip link set bond0.\$vid up; done"
}
docker exec "$cluster-gateway" apk add --no-cache iproute2 >/dev/null
# the gateway's trunk NICs are eth0 (mc-trunk-a) and eth1 (mc-trunk-b): rename to the node convention
docker exec "$cluster-gateway" sh -c "ip link set eth1 down; ip link set eth1 name eth2; ip link set eth0 down;
  ip link set eth0 name eth1; ip link set eth1 up; ip link set eth2 up"
underlay "$cluster-gateway" 10.6.0.1/24
docker exec "$cluster-gateway" sh -c "ip addr add 10.100.0.1/24 dev bond0.100; ip addr add 10.200.0.1/24 dev bond0.200;
  sysctl -qw net.ipv4.ip_forward=1"

ip=11
for node in "${workers[@]}"; do
  docker network connect mc-trunk-a "$node"
  docker network connect mc-trunk-b "$node"
  underlay "$node" "10.6.0.$ip/24"
  ip=$((ip + 1))
done

helm repo add spiderpool https://spidernet-io.github.io/spiderpool >/dev/null
helm repo update spiderpool >/dev/null
# Multus and the community CNI plugins (macvlan) come with the chart; check these value names against the
# chart version you install (`helm show values spiderpool/spiderpool`).
helm install spiderpool spiderpool/spiderpool --namespace kube-system --version "$spiderpool_version" --wait \
  --set ipam.enableIPv6=false \
  --set multus.multusCNI.install=true \
  --set multus.multusCNI.defaultCniCRName=kindnet \
  --set plugins.installCNI=true \
  --set coordinator.mode=auto

echo "ready: run the suites with"
echo "  .venv/bin/pytest suites --target cluster --context kind-$cluster --topology kind-config/topology.yaml \\"
echo "    --probe-image ghcr.io/macvlan-conformance/probe:0.1.0"
echo "(build and load the probe image first: docker build -f image/Containerfile -t ghcr.io/macvlan-conformance/probe:0.1.0 . &&"
echo " kind load docker-image ghcr.io/macvlan-conformance/probe:0.1.0 --name $cluster)"

"""Shared helpers of the benchmarks: generated topologies, the plain-command baseline, RSS sampling."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from macvlan_conformance import expectations as ex  # noqa: E402
from macvlan_conformance.lab.builder import vlanif_mac  # noqa: E402
from macvlan_conformance.netconf import macvlan_conflist, overlay_conflist, static_ipam  # noqa: E402
from macvlan_conformance.topology import load_topology, parse_topology  # noqa: E402

import plain_probes  # noqa: E402  (needs the repository on sys.path)


def grid_topology(nodes: int, vlans: int, pods_per_node_vlan: int, name: str) -> Path:
    """A standalone-only topology: ``nodes`` x ``vlans`` x ``pods_per_node_vlan`` pods."""
    vids = [100 * (i + 1) for i in range(vlans)]
    doc = {"name": name, "vlans": [{"id": 1, "name": "vlan0", "subnet": "10.6.0.0/24", "gateway": "10.6.0.1"}] + [
        {"id": v, "subnet": f"10.{v // 10}.0.0/24", "gateway": f"10.{v // 10}.0.1"} for v in vids],
        "switch": {"nativeVlan": 1}, "overlay": {"podCIDR": "10.244.0.0/16"},
        "nodes": [{"name": f"w{n}", "ip": f"10.6.0.{10 + n}", "bond": {"members": ["ens224", "ens256"]},
                   "vlans": vids} for n in range(1, nodes + 1)],
        "ippools": [{"name": f"p{v}", "subnet": f"10.{v // 10}.0.0/24", "ips": [f"10.{v // 10}.0.100-10.{v // 10}.0.199"],
                     "gateway": f"10.{v // 10}.0.1"} for v in vids],
        "networks": [{"name": f"sa{v}", "type": "standalone", "master": f"bond0.{v}", "ippool": f"p{v}"} for v in vids],
        "pods": [{"name": f"p{v}-w{n}-{k}", "node": f"w{n}",
                  "annotations": {"v1.multus-cni.io/default-network": f"kube-system/sa{v}"}}
                 for v in vids for n in range(1, nodes + 1) for k in range(pods_per_node_vlan)]}
    path = Path("/tmp") / f"bench-{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    parse_topology(doc, str(path))
    return path


def plain_script(topology_path: Path, prefix: str = "pb", probes: str | None = None, fault: str = "") -> str:
    """The same kernel/OVS/CNI work as a lab bring-up, as plain commands in one bash script (the baseline).
    ``probes="pings"`` adds one ``ping`` per echo pair (intra- and inter-VLAN), 8 in parallel;
    ``probes="all"`` the suites' probes as plain commands (``plain_probes``), ``probes="checks"`` the same
    without the bond-member faults. A probe whose answer is not
    the expected one prints a line starting with ``FAIL``. ``fault`` (shell, ``{prefix}`` filled in) runs
    between bring-up and probes: the control that the probes can fail."""
    t = load_topology(topology_path)
    native = t.switch.native_vlan
    run = f"/run/{prefix}"
    q = shlex.quote
    lines = ["set -e", f"mkdir -p {run}/ipam"]
    nss = [f"{prefix}-fab", f"{prefix}-rt"] + [f"{prefix}-n{i}" for i in range(1, len(t.nodes) + 1)] + \
          [f"{prefix}-{p.name}" for p in t.pods]
    lines.append("ip -batch - <<'EOF'\n" + "".join(f"netns add {n}\n" for n in nss) + "EOF")
    lines += [f"ip -n {n} link set lo up" for n in nss]
    lines += [f"ovsdb-tool create {run}/conf.db /usr/share/openvswitch/vswitch.ovsschema",
              f"ovsdb-server {run}/conf.db --remote=punix:{run}/db.sock --pidfile={run}/db.pid --detach "
              f"--unixctl={run}/db.ctl -vconsole:off",
              f"ovs-vsctl --db=unix:{run}/db.sock --no-wait init",
              f"ip netns exec {prefix}-fab ovs-vswitchd unix:{run}/db.sock --disable-system --pidfile={run}/vs.pid "
              f"--detach --unixctl={run}/vs.ctl -vconsole:off"]
    tx = ["add-br sw", "set bridge sw datapath_type=netdev"]
    for i, node in enumerate(t.nodes, 1):
        trunks = ",".join(str(v) for v in [native, *node.vlans])
        for nic in node.bond.members:
            lines.append(f"ip -n {prefix}-fab link add n{i}-{nic} type veth peer name s{i}-{nic}")
            for end in (f"n{i}-{nic}", f"s{i}-{nic}"):
                lines += [f"ip -n {prefix}-fab link set {end} up", f"ip netns exec {prefix}-fab ethtool -K {end} tx off >/dev/null"]
            tx.append(f"add-port sw s{i}-{nic} vlan_mode=native-untagged tag={native} trunks={trunks}")
        tx += [f"add-br br{i}", f"set bridge br{i} datapath_type=netdev",
               f"add-bond br{i} b{i} {' '.join(f'n{i}-{m}' for m in node.bond.members)} bond_mode=active-backup "
               f"vlan_mode=native-untagged tag={native} trunks={trunks}"]
        tx += [x for v in [native, *node.vlans] for x in (f"add-port br{i} n{i}m{v} tag={v}", f"set interface n{i}m{v} type=internal")]
    tx += [x for v in t.routed_vlans for x in (f"add-port sw vif{v} tag={v}", f"set interface vif{v} type=internal")]
    lines.append(f"ovs-vsctl --db=unix:{run}/db.sock " + " ".join(f"-- {c}" for c in tx))
    for v in t.routed_vlans:
        vlan = t.vlan(v)
        lines += [f"ip -n {prefix}-fab link set vif{v} netns {prefix}-rt",
                  f"ip -n {prefix}-rt link set vif{v} address {vlanif_mac(v)} up",
                  f"ip -n {prefix}-rt addr add {vlan.gateway}/{vlan.subnet.prefixlen} dev vif{v}"]
    lines.append(f"ip netns exec {prefix}-rt sysctl -qw net.ipv4.ip_forward=1")
    for i, node in enumerate(t.nodes, 1):
        for v in [native, *node.vlans]:
            name = node.master_name(v, native)
            lines += [f"ip -n {prefix}-fab link set n{i}m{v} netns {prefix}-n{i}",
                      f"ip -n {prefix}-n{i} link set n{i}m{v} name {name}", f"ip -n {prefix}-n{i} link set {name} up"]
        lines += [f"ip -n {prefix}-n{i} addr add {node.ip}/24 dev bond0",
                  f"ip -n {prefix}-n{i} route add default via {t.vlan(native).gateway}",
                  f"ip netns exec {prefix}-n{i} sysctl -qw net.ipv4.ip_forward=1"]
        lines += [f"ip -n {prefix}-n{i} route add {t.node_pod_cidr(o.name)} via {o.ip}" for o in t.nodes if o is not node]
    addresses = {}
    for pod in t.pods:
        i = [n.name for n in t.nodes].index(pod.node) + 1
        for att in t.attachments(pod.name):
            if att.network is None:  # the overlay: the bridge plugin with host-local, as the lab does
                conf = overlay_conflist(t, pod.node, Path(run) / "ipam" / pod.node, "ovl0")["plugins"][0]
                conf.update(name=t.overlay.name, cniVersion="1.0.0")
                lines.append(f"echo {q(json.dumps(conf))} | CNI_COMMAND=ADD CNI_CONTAINERID={prefix}{pod.name} "
                             f"CNI_NETNS=/run/netns/{prefix}-{pod.name} CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni "
                             f"nsenter --net=/run/netns/{prefix}-n{i} /usr/lib/cni/bridge >/dev/null")
                continue
            used = sum(1 for k in addresses if k[1] == att.pool.name)
            address = str(att.pool.addresses[used])
            addresses[(pod.name, att.pool.name, att.ifname)] = address
            conf = macvlan_conflist(att.network, static_ipam([(att.pool, address)], att.default))["plugins"][0]
            conf.update(name=att.network.name, cniVersion="1.0.0")
            lines.append(f"echo {q(json.dumps(conf))} | CNI_COMMAND=ADD CNI_CONTAINERID={prefix}{pod.name} "
                         f"CNI_NETNS=/run/netns/{prefix}-{pod.name} CNI_IFNAME={att.ifname} CNI_PATH=/usr/lib/cni "
                         f"nsenter --net=/run/netns/{prefix}-n{i} /usr/lib/cni/macvlan >/dev/null")
    ip_of = {(p, ifn): a for (p, _, ifn), a in addresses.items()}
    if fault:
        lines.append(fault.format(prefix=prefix))
    if probes:
        lines.append("set +e  # a failing probe is a finding, not the end of the script")
    if probes == "pings":
        pings = [f"ip netns exec {prefix}-{case.src.pod} ping -n -c1 -W1 -I {case.src.ifname} "
                 f"{ip_of[(case.dst.pod, case.dst.ifname)]} >/dev/null || echo FAIL {shlex.quote(case.id)}"
                 for case in ex.intra_vlan_cases(t) + ex.inter_vlan_cases(t)]
        lines.append("cat > /tmp/{0}-probes <<'EOF'\n{1}\nEOF".format(prefix, "\n".join(pings)))
        lines.append(f"xargs -P 8 -d '\\n' -I CMD sh -c CMD < /tmp/{prefix}-probes")
    elif probes in ("all", "checks"):
        lines.append("cat > /tmp/{0}-probes <<'EOF'\n{1}\nEOF".format(
            prefix, "\n".join(plain_probes.probe_lines(t, prefix, ip_of))))
        lines.append(f"xargs -P {plain_probes.PARALLEL} -d '\\n' -I CMD sh -c CMD < /tmp/{prefix}-probes")
        if probes == "all":
            lines.append(plain_probes.resilience_script(t, prefix, ip_of))
    elif probes:
        raise ValueError(f"probes={probes!r}: use 'pings', 'checks' or 'all'")
    return "\n".join(lines) + "\n"


def plain_teardown(topology_path: Path, prefix: str = "pb") -> str:
    t = load_topology(topology_path)
    nss = [f"{prefix}-fab", f"{prefix}-rt"] + [f"{prefix}-n{i}" for i in range(1, len(t.nodes) + 1)] + \
          [f"{prefix}-{p.name}" for p in t.pods]
    run = f"/run/{prefix}"
    return (f"kill $(cat {run}/vs.pid) $(cat {run}/db.pid) 2>/dev/null; sleep 0.05\n"
            "ip -batch - <<'EOF'\n" + "".join(f"netns del {n}\n" for n in nss) + f"EOF\nrm -rf {run} /tmp/{prefix}-probes\n")


def bash(script: str) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"baseline script failed: {proc.stderr[-800:]}")
    return time.perf_counter() - started, proc.stdout


class RssSampler:
    """Peak of the summed RSS of our processes: this process tree, the lab's namespaces' processes, and
    processes whose command line names the lab's run directory (OVS)."""

    def __init__(self, marker: str, interval: float = 0.2):
        self.marker = marker.encode()
        self.interval = interval
        self.peak_kib = 0       # summed RSS (counts a page shared by several processes once per process)
        self.peak_pss_kib = 0   # summed PSS (shared pages split between their users: the memory really used)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _ours(self) -> list[int]:
        me = os.getpid()
        inodes = set()
        for ns in Path("/run/netns").glob("mcl-*"):
            try:
                inodes.add(f"net:[{ns.stat().st_ino}]")
            except OSError:
                pass
        parents, pids = {}, []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
                if os.readlink(entry / "ns" / "net") in inodes or self.marker in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
        for pid in parents:  # descendants of this process (pytest, agent host, plugins)
            p = pid
            while p in parents and p not in (0, 1):
                if p == me:
                    pids.append(pid)
                    break
                p = parents[p]
        return sorted(set(pids))

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = pss = 0
            for pid in self._ours():
                try:
                    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                        if line.startswith("Rss:"):
                            rss += int(line.split()[1])
                        elif line.startswith("Pss:"):
                            pss += int(line.split()[1])
                except OSError:
                    pass
            self.peak_kib = max(self.peak_kib, rss)
            self.peak_pss_kib = max(self.peak_pss_kib, pss)
            self._stop.wait(self.interval)


def timed(work, *args):
    """``(seconds, work(*args))``."""
    started = time.perf_counter()
    result = work(*args)
    return time.perf_counter() - started, result


def on_fresh_lab(topology: str, prefix: str, work):
    """Bring a lab of the shipped ``topology`` up (timed), run ``work(lab name)`` on it, tear it down whatever
    happens: ``(bring-up seconds, work's result)``."""
    import secrets
    from macvlan_conformance.lab.cleanup import teardown
    from macvlan_conformance.lab.control import lab_up
    from macvlan_conformance.topology import topology_dir
    lab = prefix + secrets.token_hex(2)
    up, _ = timed(lab_up, topology_dir() / f"{topology}.yaml", lab)
    try:
        return up, work(lab)
    finally:
        teardown(lab)


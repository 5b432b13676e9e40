"""The suites' probes as plain commands (``ping``, ``arping``, ``tcpdump``, ``ip``), for the baseline of
``reference_run.py``: generated from the same cases as the suites (``expectations``), one line per probe,
each printing ``FAIL <check> <case>`` when the network does not behave as the case expects.

What a careful script writer would do: the probes in parallel (``PARALLEL`` at a time), negative probes
waiting 1 s (``ping -W1``, ``arping -w1``: iputils takes whole seconds), broadcasts watched by
``tcpdump`` for 1 s, and per bond member a fault followed by rounds of pings until the node's pairs
answer again. Not done here, because no plain command can: the attachment rules (they need Multus's
admission) and the evidence (MACs of replies, TTLs are checked where ``ping`` prints them).
"""

from __future__ import annotations

import shlex

from macvlan_conformance import expectations as ex  # importable once ``common`` put the repository on sys.path
from macvlan_conformance.lab.builder import vlanif_mac

PARALLEL = 128  # probe lines at a time: 64 and 128 were equally fast here (probes 2.0 s), 32 slower (3.0 s)
WINDOW = 1  # seconds, the whole seconds iputils accepts
CONVERGENCE_LIMIT_S = 5  # as suites/test_resilience.py


def _ns(prefix: str, pod: str) -> str:
    return f"{prefix}-{pod}"


def _addr(prefix: str, ip_of: dict, endpoint) -> str:
    """The endpoint's IPv4 address: known for macvlan NICs (the script assigned it), read at run time for
    the overlay's eth0 (host-local chose it)."""
    known = ip_of.get((endpoint.pod, endpoint.ifname))
    if known:
        return known
    return (f"$(ip -n {_ns(prefix, endpoint.pod)} -4 -o addr show dev {endpoint.ifname} "
            "| awk '{split($4,a,\"/\"); print a[1]}')")


def _fail(case) -> str:
    return f"echo FAIL {case.check} {shlex.quote(case.id)}"


def _ping(prefix, src, dst_ip, *extra) -> str:
    return f"ip netns exec {_ns(prefix, src.pod)} ping -n -c1 -W{WINDOW} -I {src.ifname} {' '.join(extra)} {dst_ip}"


def _echo(t, prefix, case, dst_ip) -> str:
    """The suites' echo probe of a reachable pair: ARP for the next hop (the peer, or the source VLAN's
    gateway), then one echo request."""
    hop = dst_ip if case.expected == ex.Verdict.REACHABLE_L2 else str(t.vlan(case.src.vlan).gateway)
    return f"{_arping(prefix, case.src, hop)} >/dev/null && {_ping(prefix, case.src, dst_ip)}"


def _arping(prefix, src, ip, *, all_replies: bool = False) -> str:
    """``arping`` returning at the first reply, or with ``all_replies`` collecting replies for the window."""
    count = "" if all_replies else "-c1 "
    return f"ip netns exec {_ns(prefix, src.pod)} arping {count}-w{WINDOW} -I {src.ifname} {ip}"


def probe_lines(t, prefix: str, ip_of: dict) -> list[str]:
    """One shell line per probe of every probed check (not the resilience faults: ``resilience_script``)."""
    addr = lambda e: _addr(prefix, ip_of, e)  # noqa: E731
    lines = []
    for case in ex.intra_vlan_cases(t) + ex.inter_vlan_cases(t) + ex.overlay_cases(t):
        if case.expected == ex.Verdict.BLOCKED:
            lines.append(f"{_ping(prefix, case.src, addr(case.dst))} >/dev/null && {_fail(case)}")
        elif case.expected == ex.Verdict.REACHABLE:  # the overlay: the kernel resolves its own next hop
            lines.append(f"{_ping(prefix, case.src, addr(case.dst))} >/dev/null || {_fail(case)}")
        else:
            ttl = "ttl=64" if case.expected == ex.Verdict.REACHABLE_L2 else "ttl=63"
            lines.append(f"{_echo(t, prefix, case, addr(case.dst))} | grep -q {ttl} || {_fail(case)}")
    for case in ex.ttl_expiry_cases(t):
        lines.append(f"{_ping(prefix, case.src, addr(case.dst), '-t1')} | grep -q 'Time to live exceeded' || {_fail(case)}")
    for case in ex.gateway_cases(t):
        gateway = str(t.vlan(case.params["vlan"]).gateway)
        if case.expected == ex.Verdict.ARP_FROM_VLANIF:
            lines.append(f"{_arping(prefix, case.src, gateway)} | grep -qi {vlanif_mac(case.src.vlan)} || {_fail(case)}")
        else:
            lines.append(f"{_arping(prefix, case.control.src, addr(case.control.dst))} >/dev/null || {_fail(case)}")
            lines.append(f"{_arping(prefix, case.src, gateway)} >/dev/null && {_fail(case)}")
    for case in ex.unique_ip_cases(t):  # exactly one MAC answers
        lines.append(f"[ \"$({_arping(prefix, case.src, addr(case.dst), all_replies=True)} | grep -o '\\[[0-9A-Fa-f:]*\\]' | sort -u "
                     f"| wc -l)\" = 1 ] || {_fail(case)}")
    for case in ex.cross_vlan_arp_cases(t):
        lines.append(f"{_arping(prefix, case.control.src, addr(case.control.dst))} >/dev/null || {_fail(case)}")
        lines.append(f"{_arping(prefix, case.src, addr(case.dst))} >/dev/null && {_fail(case)}")
    for case in ex.own_master_cases(t):
        lines.append(f"{_ping(prefix, case.control.src, case.params['ip'])} >/dev/null || {_fail(case)}")
        lines.append(f"{_ping(prefix, case.src, case.params['ip'], '-c3', '-i0.2')} >/dev/null && {_fail(case)}")
    by_key = {e.key: e for e in ex.endpoints(t)}
    for case in ex.broadcast_cases(t):
        lines.append(_broadcast(prefix, case, [by_key[key] for key in case.params["receivers"]], addr))
    for case in ex.mtu_cases(t):
        mtu, gateway = case.params["mtu"], str(t.vlan(case.params["vlan"]).gateway)
        ns = _ns(prefix, case.src.pod)
        lines.append(f"ip -n {ns} link show dev {case.src.ifname} | grep -q 'mtu {mtu} ' || {_fail(case)}")
        lines.append(f"{_ping(prefix, case.src, gateway, '-M do', f'-s {mtu - 28}')} >/dev/null || {_fail(case)}")
        lines.append(f"{_ping(prefix, case.src, gateway, '-M do', f'-s {mtu - 27}')} >/dev/null 2>&1 && {_fail(case)}")
    for pod in t.pods:  # allocation: every attachment got its interface (and its address, for macvlan)
        for att in t.attachments(pod.name):
            ip = ip_of.get((pod.name, att.ifname), "inet")
            lines.append(f"ip -n {_ns(prefix, pod.name)} -4 addr show dev {att.ifname} | grep -q '{ip}' "
                         f"|| echo FAIL allocation {pod.name}/{att.ifname}")
    return lines


def _broadcast(prefix, case, receivers, addr) -> str:
    """tcpdump on the witness and every receiver, a broadcast ping from the sender, then the counts: the
    witness must have seen it, no receiver may."""
    sender = case.src
    watchers = [case.control.dst, *receivers]
    src_ip = addr(sender)
    dumps = [f"(timeout {WINDOW + 0.5} ip netns exec {_ns(prefix, w.pod)} tcpdump -l -nn -i {w.ifname} -c1 "
             f"'ether broadcast and icmp and src host {src_ip}' 2>/dev/null | grep -c 'ICMP echo request' > $d/{i})&"
             for i, w in enumerate(watchers)]
    check = (f"[ \"$(cat $d/0)\" -ge 1 ] || {_fail(case)}; "
             + " ".join(f"[ \"$(cat $d/{i})\" = 0 ] || {_fail(case)};" for i in range(1, len(watchers))))
    return (f"d=$(mktemp -d); {' '.join(dumps)} sleep 0.3; "
            f"ip netns exec {_ns(prefix, sender.pod)} ping -n -b -c3 -i0.01 -W{WINDOW} -I {sender.ifname} "
            f"255.255.255.255 >/dev/null 2>&1; wait; {check} rm -rf $d")


def resilience_script(t, prefix: str, ip_of: dict) -> str:
    """Per bond member of a node whose pods cross the trunk: the node's pairs answer before; the member
    goes down and, once the bond has seen it, rounds of probes run until they all answer (for at most
    5 s, as the suite allows); the member comes back and rounds run again until they do."""
    addr = lambda e: _addr(prefix, ip_of, e)  # noqa: E731
    appctl = f"ovs-appctl -t /run/{prefix}/vs.ctl"
    vsctl = f"ovs-vsctl --db=unix:/run/{prefix}/db.sock"
    out = []
    through_bond = {n for c in ex.bond_path_cases(t) for n in (c.src.node, c.dst.node)}
    for i, node in enumerate(t.nodes, 1):
        if node.name not in through_bond or len(node.bond.members) < 2:
            continue
        pairs = [c for c in ex.bond_path_cases(t) if node.name in (c.src.node, c.dst.node)]
        round_file = f"/tmp/{prefix}-round-{node.name}"
        out.append(f"cat > {round_file} <<'EOF'\n" + "\n".join(
            f"{_echo(t, prefix, c, addr(c.dst))} >/dev/null || echo FAIL" for c in pairs) + "\nEOF")
        rounds = (f"end=$(($(date +%s%N) + {CONVERGENCE_LIMIT_S} * 1000000000)); "
                  f"until [ -z \"$(xargs -P {PARALLEL} -d '\\n' -I CMD sh -c CMD < {round_file})\" ]; do "
                  f"[ $(date +%s%N) -gt $end ] && {{ echo FAIL resilience {node.name}/$nic; break; }}; sleep 0.1; done")
        for nic in node.bond.members:
            link = f"n{i}-{nic}"
            out.append(f"nic={nic}; {rounds}")
            for state, member in (("down", "disabled"), ("up", "enabled")):
                # as the lab does: wait until the bond and the switch port have seen the change,
                # purge the datapath's flow cache (an artefact of the emulated bond), then probe
                out.append(f"ip -n {prefix}-fab link set {link} {state}; "
                           f"until {appctl} bond/show b{i} | grep -q 'member {link}: {member}' && "
                           f"[ $({vsctl} get interface s{i}-{nic} link_state) = {state} ]; do sleep 0.02; done; "
                           f"{appctl} revalidator/purge; {rounds}")
        out.append(f"rm -f {round_file}")
    return "\n".join(out)

"""The probing engine on the reference lab, where its effects can be seen from outside the agents."""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

from macvlan_conformance import checks
from macvlan_conformance import expectations as ex
from macvlan_conformance.expectations import Verdict
from macvlan_conformance.lab.names import LabNames
from macvlan_conformance.lab.target import AGENT_HOSTS, LabTarget
from macvlan_conformance.probing import Prober

from .conftest import ip_json, sh


def _learned(target: LabTarget, case: ex.Case) -> bool:
    """Whether the destination pod's kernel has the source's MAC for the source's IP."""
    entries = ip_json("neigh", "show", target.endpoint_ip(case.src.key), netns=target.state.pods[case.dst.pod].netns)
    return any(e.get("lladdr") == target.endpoint_mac(case.src.key) for e in entries)


def test_warm_up_teaches_every_peer_the_sources_mac(reference_lab):
    """The known-MAC mode's warm-up: after it, every destination already knows its source (so its echo
    replies need no ARP of their own). Control: nobody knows anybody after a flush."""
    lab, _ = reference_lab
    target = LabTarget(LabNames(lab).state_file)
    try:
        cases = [c for c in checks.cases_for(target.topology, "intra-vlan.cross-node")
                 if c.expected == Verdict.REACHABLE_L2]
        assert cases
        for case in cases:
            sh("ip", "-n", target.state.pods[case.dst.pod].netns, "neigh", "flush", "all")
        assert not any(_learned(target, c) for c in cases)
        assert Prober(target).warm_up(cases) == len({(c.src.key, c.dst.key) for c in cases})
        missing = [c.id for c in cases if not _learned(target, c)]
        assert missing == []
    finally:
        target.close()


def test_known_mac_probing_gives_the_same_verdicts_as_arp_probing(reference_lab):
    lab, _ = reference_lab
    target = LabTarget(LabNames(lab).state_file)
    try:
        cases = checks.cases_for(target.topology, "intra-vlan.cross-node") + checks.cases_for(target.topology,
                                                                                     "inter-vlan.routed")
        by_arp = Prober(target, next_hop="arp").observe_all(cases)
        by_known = Prober(target, next_hop="known").observe_all(cases)
        assert {c.id: by_arp[c].verdict for c in cases} == {c.id: by_known[c].verdict for c in cases}
        assert {by_known[c].verdict for c in cases} >= {Verdict.REACHABLE_L2, Verdict.REACHABLE_ROUTED}
    finally:
        target.close()


def test_closing_a_target_ends_its_agents_reader_threads(reference_lab):
    """A reader left blocked on a closed descriptor would read whatever file reuses its number next."""
    lab, _ = reference_lab
    before = {t for t in threading.enumerate() if t.name.startswith("agent-")}
    target = LabTarget(LabNames(lab).state_file)
    pods = sorted(target.state.pods)[:3]
    for pod in pods:
        assert target.agent(pod).call("whoami")["pid"] > 0
    readers = {t for t in threading.enumerate() if t.name.startswith("agent-")} - before
    assert {t.name for t in readers} == {f"agent-{pod}" for pod in pods}  # control: they were running
    target.close()
    assert [t.name for t in readers if t.is_alive()] == []


def test_agents_of_one_host_each_work_in_their_own_pod(reference_lab):
    """Agent hosts serve many pods each, from threads of one process, and every pod has an ``eth0``: an
    operation resolving ``eth0`` through a per-process cache would send as another pod. Each agent,
    called concurrently, must report its own pod's namespace and send with its own pod's MAC and IP."""
    lab, _ = reference_lab
    target = LabTarget(LabNames(lab).state_file)
    try:
        pods = sorted(target.state.pods)
        own = {}
        for pod in pods:
            netns = target.state.pods[pod].netns
            link = ip_json("link", "show", "eth0", netns=netns)[0]
            own[pod] = (os.stat(f"/run/netns/{netns}").st_ino, link["address"])
        assert len({mac for _, mac in own.values()}) == len(pods)  # control: a mix-up would be visible

        def observe(pod):
            agent = target.agent(pod)
            marker = f"self-{pod}"
            sent = agent.call("broadcast", iface="eth0", marker=marker, count=1)
            return agent.call("whoami"), sent

        with ThreadPoolExecutor(len(pods)) as pool:
            seen = dict(zip(pods, pool.map(observe, pods)))
        processes = {who["pid"] for who, _ in seen.values()}
        assert len(processes) == min(AGENT_HOSTS, len(pods)) < len(pods)  # pods share processes
        assert {pod: (who["netns_inode"], sent["src_mac"]) for pod, (who, sent) in seen.items()} == own
    finally:
        target.close()


def test_an_agent_killed_mid_batch_fails_only_its_cases_at_once(reference_lab):
    """A real agent process for one pod (``python -m macvlan_conformance.agent`` in its namespace, as the
    cluster target runs it), SIGKILLed by its first request of a batch: that pod's cases become probe-error
    observations naming the dead stream (none waits out the 30 s answer timeout), every other case is
    probed as usual, and the batch is cached whole."""
    import signal
    import socket
    import subprocess
    import sys

    from macvlan_conformance.agent.client import AgentClient, _LineChannel

    from ..conftest import ROOT

    lab, _ = reference_lab
    target = LabTarget(LabNames(lab).state_file)
    mine, theirs = socket.socketpair()
    victim = "sa-w1-a"
    proc = subprocess.Popen(["ip", "netns", "exec", target.state.pods[victim].netns, sys.executable, "-m",
                             "macvlan_conformance.agent"], stdin=theirs, stdout=theirs, cwd=ROOT)
    theirs.close()
    channel = _LineChannel(mine)
    client = AgentClient(channel, victim, release=channel.release)
    real_call = client.call

    def dying_call(op, **args):
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        return real_call(op, **args)

    client.call = dying_call
    try:
        target.agent(victim)  # the lab's agents start first; then the victim's is replaced
        target._agents[victim] = client
        cases = checks.cases_for(target.topology, "intra-vlan.same-node") + \
            checks.cases_for(target.topology, "intra-vlan.cross-node")
        assert any(c.src.pod == victim for c in cases) and any(c.src.pod != victim for c in cases)
        prober = Prober(target)
        observed = prober.observe_all(cases)
        for case, obs in observed.items():
            if case.src.pod == victim:
                assert obs.verdict == Verdict.PROBE_ERROR, (case.id, obs)
                assert "exited" in obs.detail or "connection lost" in obs.detail, obs.detail
                assert "within 30 s" not in obs.detail
            else:
                assert obs.verdict == Verdict.REACHABLE_L2, (case.id, obs.verdict, obs.detail)
        assert all(prober.cached(c) is observed[c] for c in cases)
    finally:
        client.close()
        if proc.poll() is None:
            proc.kill()
        target.close()

"""Run the cases of a check against a target and classify the agents' evidence into verdicts.

The cases of a batch (one check, or every windowed check of a run: ``checks.Check.windowed``)
are probed concurrently, at most ``workers`` at once (``WINDOWED_CONCURRENCY`` for a batch of windowed
checks, whose probes mostly wait); agents serve concurrent requests. A case expecting reachability is
retried up to ``retries`` times and a pass after a retry is kept as flaky; a case expecting silence is
probed once over a ``window`` with several frames, right after (or next to) its positive control. With
``shared`` (xdist workers), a batch is probed once per run and read by the other processes. Probes never
assert: they return ``Observation``s for ``verdicts.judge``; an exception inside a probe becomes a
``probe-error`` observation of that case, cached like any other (the batch goes on).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from . import checks
from .agent.client import AgentError
from .expectations import Case
from .observation import NEGATIVE, Observation
from .probes import PROBES
from .shared_batches import SharedBatches
from .target import Target
from .verdicts import Verdict, satisfies


AUTO_KNOWN_MACS = 200  # batches larger than this send echo probes to known MACs under next_hop="auto"
WARM_UP_CONCURRENCY = 8  # ARP requests in flight during warm-up, across the whole deployment
WINDOWED_CONCURRENCY = 128  # probes of a batch of windowed checks in flight: each mostly waits out its window


class Prober:
    def __init__(self, target: Target, retries: int = 3, window: float = 1.0, workers: int = 32,
                 next_hop: str = "arp", shared: SharedBatches | None = None):
        """``workers`` bounds the probes in flight (``WINDOWED_CONCURRENCY`` for a batch of windowed checks
        only); with ``shared``, a batch another process of the run probed already is read, not probed."""
        self.target = target
        self.shared = shared
        self.retries = retries
        self.window = window
        self.workers = workers
        if next_hop not in ("arp", "known", "auto"):
            raise ValueError(f"next_hop {next_hop!r}: use arp, known or auto")
        self.next_hop = next_hop  # known: unicast echo probes to the next hop's known MAC (no ARP per probe)
        self._cache: dict[str, Observation] = {}
        self._lock = threading.Lock()

    # --- batches ---------------------------------------------------------------------------------
    def observe_all(self, cases: list[Case]) -> dict[Case, Observation]:
        """Observe every case not yet observed (concurrently); returns the observations by case."""
        todo = [c for c in cases if self._key(c) not in self._cache]
        if todo:
            if self.shared is not None:
                results = [Observation.from_dict(d) for d in self.shared.observe(
                    todo, lambda batch: [obs.to_dict() for obs in self._probe(batch)])]
            else:
                results = self._probe(todo)
            with self._lock:
                for case, obs in zip(todo, results):
                    self._cache[self._key(case)] = obs
        return {c: self._cache[self._key(c)] for c in cases}

    def _probe(self, cases: list[Case]) -> list[Observation]:
        known = self.next_hop == "known" or (self.next_hop == "auto" and len(cases) > AUTO_KNOWN_MACS)
        if known:
            self.warm_up(cases)
        windowed = all(checks.get(c.check).windowed for c in cases)
        workers = max(self.workers, WINDOWED_CONCURRENCY) if windowed else self.workers
        with ThreadPoolExecutor(min(workers, len(cases))) as pool:
            return list(pool.map(lambda case: self._observe_safely(case, known), cases))

    def observe(self, case: Case, batch: list[Case] | None = None) -> Observation:
        """The observation of ``case``; ``batch`` (the cases probed with it) is probed together on first use."""
        with self._lock:
            cached = self._cache.get(self._key(case))
        if cached is None:
            self.observe_all(batch or [case])
        return self._cache[self._key(case)]

    def cached(self, case: Case) -> Observation | None:
        """The observation of ``case`` if it was probed already (nothing is probed here)."""
        with self._lock:
            return self._cache.get(self._key(case))

    @staticmethod
    def _key(case: Case) -> str:
        return f"{case.check}|{case.id}"

    def _observe_safely(self, case: Case, known_macs: bool = False) -> Observation:
        """The case's observation; whatever the probe raises is that case's ``probe-error``."""
        probe = checks.get(case.check).probe
        try:
            if probe == "echo":
                return PROBES["echo"](self, case, known_macs)
            return PROBES[probe](self, case)
        except Exception as exc:  # noqa: BLE001  (one case's failure, never the batch's)
            message = str(exc) if isinstance(exc, AgentError) else f"{type(exc).__name__}: {exc}"
            return Observation(Verdict.PROBE_ERROR, {"error": message}, detail=f"the probe failed: {message}")

    def warm_up(self, cases: list[Case]) -> int:
        """Paced ARP requests from every source to its next hops (and from destinations to their gateway),
        so that kernels learn their peers from the requests before the matrix: then a large broadcast
        domain does not answer thousands of echo probes with as many ARP storms. One fire-and-forget
        request per pair, 2 ms apart per source, a few sources at a time; not a check. Returns the number
        of requests sent."""
        pairs = set()
        for case in cases:
            if checks.get(case.check).probe != "echo" or case.dst is None or case.src.vlan is None \
                    or case.ip_version != 4:  # ARP warms IPv4 neighbours only
                continue
            if case.expected == Verdict.REACHABLE_L2:
                pairs.add((case.src, self.target.endpoint_ip(case.dst.key)))
            elif case.expected == Verdict.REACHABLE_ROUTED:
                for end in (case.src, case.dst):
                    pairs.add((end, str(self.target.topology.vlan(end.vlan).gateway)))
        by_source: dict = {}
        for src, ip in sorted(((src, ip) for src, ip in pairs if ip), key=lambda pair: (pair[0].key, pair[1])):
            by_source.setdefault(src, []).append(ip)

        def announce(item):
            src, ips = item
            try:
                self.target.agent(src.pod).call("arp_announce", iface=src.ifname, ips=ips)
            except AgentError:
                pass
        with ThreadPoolExecutor(WARM_UP_CONCURRENCY) as pool:
            list(pool.map(announce, by_source.items()))
        return sum(len(ips) for ips in by_source.values())

    # --- helpers ---------------------------------------------------------------------------------
    def ip_of(self, key: str, version: int = 4) -> str:
        ip = self.target.endpoint_ip(key, version)
        if ip is None:
            raise AgentError(f"{key} has no IPv{version} address in the pod's network-status")
        return ip

    def gateway_ip(self, vlan: int, version: int) -> str:
        """The gateway of ``vlan`` in family ``version`` (the vlanif's address)."""
        gateway = self.target.topology.vlan(vlan).gateway_of(version)
        if gateway is None:
            raise AgentError(f"VLAN {vlan} has no IPv{version} gateway in the topology")
        return str(gateway)

    def expected_mac(self, case: Case) -> str | None:
        """The MAC the case's evidence must come from (its ``mac_owner`` resolved on the target)."""
        owner = case.mac_owner
        if owner is None:
            return None
        if owner.kind == "endpoint":
            return self.target.endpoint_mac(owner.ref)
        return self.target.vlanif_mac(int(owner.ref))

    def retry(self, attempt, expected: Verdict) -> tuple[Verdict, dict, int]:
        """Run ``attempt()`` (-> (verdict, evidence)) until it satisfies ``expected`` or retries run out."""
        for n in range(1, self.retries + 1):
            verdict, evidence = attempt()
            if satisfies(expected, verdict) or expected in NEGATIVE:
                return verdict, evidence, n
            if n < self.retries:
                time.sleep(0.05 * n)
        return verdict, evidence, self.retries

    # --- echo --------------------------------------------------------------------------------------
    def send_echo(self, src, dst_ip: str, *, count: int = 1, ttl: int = 64, next_hop_mac: str | None = None) -> dict:
        return self.target.agent(src.pod).call("ping", dst=dst_ip, iface=src.ifname, ttl=ttl, count=count,
                                               timeout=self.window, next_hop_mac=next_hop_mac)

    def next_hop_mac(self, case: Case) -> str | None:
        """The MAC the first hop of an L2 or routed pair must have (the peer's, or the vlanif's)."""
        if case.dst is None or case.mac_owner is None:
            return None
        if case.expected == Verdict.REACHABLE_L2:
            return self.target.endpoint_mac(case.dst.key)
        if case.expected == Verdict.REACHABLE_ROUTED:
            return self.target.vlanif_mac(case.src.vlan)
        return None

    def classify_echo(self, case: Case, ev: dict) -> Verdict:
        if ev["stage"] == "route":
            return Verdict.NO_ROUTE
        if ev["stage"] == "arp":
            return Verdict.NO_ARP_REPLY
        replies = [r for r in ev["replies"] if r["kind"] == "echo-reply"]
        if not replies:
            return Verdict.BLOCKED
        reply = replies[0]
        if case.mac_owner is None:
            return Verdict.REACHABLE
        peer = self.target.endpoint_mac(case.dst.key) if case.dst else None
        vlanif = self.target.vlanif_mac(case.src.vlan) if case.src.vlan is not None else None
        if reply["ttl"] == 64 and peer and reply["src_mac"] == peer:
            return Verdict.REACHABLE_L2
        if reply["ttl"] == 63 and vlanif and reply["src_mac"] == vlanif:
            return Verdict.REACHABLE_ROUTED
        return Verdict.REACHABLE_OTHER

    # --- ARP ---------------------------------------------------------------------------------------
    def send_arp(self, src, ip: str, *, multi: bool) -> dict:
        """ARP who-has ``ip`` from ``src``, or for an IPv6 address a Neighbor Solicitation: the same evidence."""
        operation = "ndisc" if ":" in ip else "arp"
        return self.target.agent(src.pod).call(operation, ip=ip, iface=src.ifname, timeout=self.window / 2,
                                               multi=multi)

    def arp_verdict(self, src, ip: str, expected: Verdict) -> tuple[Verdict, dict, int]:
        def attempt():
            ev = self.send_arp(src, ip, multi=False)
            return (Verdict.ARP_REPLY if ev["macs"] else Verdict.NO_ARP_REPLY), ev
        return self.retry(attempt, expected)


@dataclass
class Convergence:
    seconds: float | None          # until the first round that matched, None if none did in time
    rounds: int
    verdicts: dict[str, Verdict]   # the last round's verdicts by case id


def converge(target: Target, cases: list[Case], want: dict[str, Verdict], timeout: float,
             window: float = 0.5, next_hop: str = "arp") -> Convergence:
    """Probe ``cases`` in rounds (one attempt each, next hops found as ``next_hop`` says, see ``Prober``)
    until every verdict equals ``want[case id]``, for at most ``timeout`` seconds. The matching round is a
    full measurement of the converged network; the time it took is evidence rather than a source of
    flaky results.
    """
    started = time.monotonic()
    rounds = 0
    while True:
        rounds += 1
        prober = Prober(target, retries=1, window=window, next_hop=next_hop)
        observed = prober.observe_all(cases)
        verdicts = {c.id: observed[c].verdict for c in cases}
        if verdicts == {c.id: want[c.id] for c in cases}:
            return Convergence(round(time.monotonic() - started, 3), rounds, verdicts)
        if time.monotonic() - started > timeout:
            return Convergence(None, rounds, verdicts)

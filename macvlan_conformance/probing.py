"""Run the cases of a check against a target and classify the agents' evidence into verdicts.

The cases of a batch (one check, or every windowed check of a run: see ``expectations.WINDOWED_CHECKS``)
are probed concurrently, at most ``workers`` at once (``WINDOWED_CONCURRENCY`` for a batch of windowed
checks, whose probes mostly wait); agents serve concurrent requests. A case expecting reachability is
retried up to ``retries`` times and a pass after a retry is kept as flaky; a case expecting silence is
probed once over a ``window`` with several frames, right after (or next to) its positive control. With
``shared`` (xdist workers), a batch is probed once per run and read by the other processes. Probes never
assert: they return ``Observation``s for ``expectations.judge``.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .agent.client import AgentError
from .expectations import WINDOWED_CHECKS, Case, Verdict, satisfies
from .shared_batches import SharedBatches
from .target import Target


@dataclass
class Observation:
    verdict: Verdict
    evidence: dict = field(default_factory=dict)
    attempts: int = 1
    control: Verdict | None = None
    control_evidence: dict | None = None
    reproducer: str = ""
    detail: str = ""

    @property
    def flaky(self) -> bool:
        return self.attempts > 1

    def to_dict(self) -> dict:
        return {"verdict": self.verdict.value, "evidence": self.evidence, "attempts": self.attempts,
                "control": self.control.value if self.control else None, "control_evidence": self.control_evidence,
                "reproducer": self.reproducer, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict) -> "Observation":
        return cls(Verdict(data["verdict"]), data["evidence"], data["attempts"],
                   Verdict(data["control"]) if data["control"] else None, data["control_evidence"],
                   data["reproducer"], data["detail"])


NEGATIVE = {Verdict.BLOCKED, Verdict.NO_ARP_REPLY, Verdict.NOT_SEEN}
AUTO_KNOWN_MACS = 200  # batches larger than this send echo probes to known MACs under next_hop="auto"
WARM_UP_CONCURRENCY = 8  # ARP requests in flight during warm-up, across the whole deployment
WINDOWED_CONCURRENCY = 128  # probes of a batch of windowed checks in flight: each mostly waits out its window
ECHO_CHECKS = {"intra-vlan.same-node", "intra-vlan.cross-node", "inter-vlan.routed", "overlay.coexistence",
               "isolation.own-master"}


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
        windowed = all(c.check in WINDOWED_CHECKS for c in cases)
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
        try:
            if case.check in ECHO_CHECKS:
                return self.probe_echo(case, known_macs)
            return PROBES[case.check](self, case)
        except AgentError as exc:
            return Observation(Verdict.INCONCLUSIVE, {"error": str(exc)}, detail=f"the probe failed: {exc}")

    def warm_up(self, cases: list[Case]) -> int:
        """Paced ARP requests from every source to its next hops (and from destinations to their gateway),
        so that kernels learn their peers from the requests before the matrix: then a large broadcast
        domain does not answer thousands of echo probes with as many ARP storms. One fire-and-forget
        request per pair, 2 ms apart per source, a few sources at a time; not a check. Returns the number
        of requests sent."""
        pairs = set()
        for case in cases:
            if case.check not in ECHO_CHECKS or case.dst is None or case.src.vlan is None:
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
    def _ip(self, key: str) -> str:
        ip = self.target.endpoint_ip(key)
        if ip is None:
            raise AgentError(f"{key} has no address in the pod's network-status")
        return ip

    def expected_mac(self, case: Case) -> str | None:
        """The MAC the case's evidence must come from (its ``mac_owner`` resolved on the target)."""
        owner = case.mac_owner
        if owner is None:
            return None
        if owner.kind == "endpoint":
            return self.target.endpoint_mac(owner.ref)
        return self.target.vlanif_mac(int(owner.ref))

    def _retry(self, attempt, expected: Verdict) -> tuple[Verdict, dict, int]:
        """Run ``attempt()`` (-> (verdict, evidence)) until it satisfies ``expected`` or retries run out."""
        for n in range(1, self.retries + 1):
            verdict, evidence = attempt()
            if satisfies(expected, verdict) or expected in NEGATIVE:
                return verdict, evidence, n
            if n < self.retries:
                time.sleep(0.05 * n)
        return verdict, evidence, self.retries

    # --- echo --------------------------------------------------------------------------------------
    def _echo(self, src, dst_ip: str, *, count: int = 1, ttl: int = 64, next_hop_mac: str | None = None) -> dict:
        return self.target.agent(src.pod).call("ping", dst=dst_ip, iface=src.ifname, ttl=ttl, count=count,
                                               timeout=self.window, next_hop_mac=next_hop_mac)

    def _next_hop_mac(self, case: Case) -> str | None:
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

    def probe_echo(self, case: Case, known_macs: bool = False) -> Observation:
        dst_ip = self._ip(case.dst.key) if case.dst else case.params["ip"]
        negative = case.expected in NEGATIVE
        count = 3 if negative else 1
        hop_mac = self._next_hop_mac(case) if known_macs else None

        def attempt():
            ev = self._echo(case.src, dst_ip, count=count, next_hop_mac=hop_mac)
            return self.classify_echo(case, ev), ev

        verdict, ev, attempts = self._retry(attempt, case.expected)
        obs = Observation(verdict, ev, attempts, reproducer=self.target.reproducer(
            case.src.pod, ["ping", "-c", str(count), "-W", "1", "-I", case.src.ifname, dst_ip]))
        if case.control is not None:
            control = self.probe_echo(case.control)
            obs.control, obs.control_evidence = control.verdict, control.evidence
        return obs

    def probe_ttl(self, case: Case) -> Observation:
        dst_ip = self._ip(case.dst.key)
        gateway_ip = str(self.target.topology.vlan(case.params["gateway_vlan"]).gateway)
        expected_mac = self.expected_mac(case)

        def attempt():
            ev = self.target.agent(case.src.pod).call("ping", dst=dst_ip, iface=case.src.ifname, ttl=1,
                                                      timeout=self.window)
            expired = [r for r in ev.get("replies", []) if r["kind"] == "time-exceeded"]
            if expired and expired[0]["src_ip"] == gateway_ip and expired[0]["src_mac"] == expected_mac:
                return Verdict.TIME_EXCEEDED, ev
            if ev.get("replies"):
                return Verdict.REACHABLE_OTHER, ev
            return self.classify_echo(case, ev), ev

        verdict, ev, attempts = self._retry(attempt, case.expected)
        return Observation(verdict, ev, attempts, reproducer=self.target.reproducer(
            case.src.pod, ["traceroute", "-n", "-m", "1", "-i", case.src.ifname, dst_ip]))

    # --- ARP ---------------------------------------------------------------------------------------
    def _arp(self, src, ip: str, *, multi: bool) -> dict:
        return self.target.agent(src.pod).call("arp", ip=ip, iface=src.ifname, timeout=self.window / 2,
                                               multi=multi)

    def probe_gateway(self, case: Case) -> Observation:
        gateway_ip = str(self.target.topology.vlan(case.params["vlan"]).gateway)
        return self._probe_arp_owner(case, gateway_ip, Verdict.ARP_FROM_VLANIF)

    def probe_unique_ip(self, case: Case) -> Observation:
        return self._probe_arp_owner(case, self._ip(case.dst.key), Verdict.ARP_REPLY)

    def _probe_arp_owner(self, case: Case, ip: str, owned: Verdict) -> Observation:
        """ARP for ``ip`` collecting every answer over the window: ``owned`` when exactly the expected MAC
        answered, ARP_OTHER when another MAC (or several) did, NO_ARP_REPLY when nobody did."""
        expected_mac = self.expected_mac(case)

        def attempt():
            ev = self._arp(case.src, ip, multi=True)
            if not ev["macs"]:
                return Verdict.NO_ARP_REPLY, ev
            return (owned if ev["macs"] == [expected_mac] else Verdict.ARP_OTHER), ev

        verdict, ev, attempts = self._retry(attempt, case.expected)
        ev["expected_mac"] = expected_mac
        obs = Observation(verdict, ev, attempts,
                          detail=f"answered by {ev['macs']}" if verdict == Verdict.ARP_OTHER else "",
                          reproducer=self.target.reproducer(case.src.pod, ["arping", "-c", "3", "-I",
                                                                           case.src.ifname, ip]))
        if case.control is not None:
            obs.control, obs.control_evidence, _ = self._arp_verdict(
                case.control.src, self._ip(case.control.dst.key), case.control.expected)
        return obs

    def _arp_verdict(self, src, ip: str, expected: Verdict) -> tuple[Verdict, dict, int]:
        def attempt():
            ev = self._arp(src, ip, multi=False)
            return (Verdict.ARP_REPLY if ev["macs"] else Verdict.NO_ARP_REPLY), ev
        return self._retry(attempt, expected)

    def probe_cross_arp(self, case: Case) -> Observation:
        control_verdict, control_ev, _ = self._arp_verdict(case.control.src, self._ip(case.control.dst.key),
                                                           case.control.expected)
        dst_ip = self._ip(case.dst.key)
        verdict, ev, attempts = self._arp_verdict(case.src, dst_ip, case.expected)
        return Observation(verdict, ev, attempts, control_verdict, control_ev,
                           reproducer=self.target.reproducer(
                               case.src.pod, ["arping", "-c", "3", "-I", case.src.ifname, dst_ip]))

    # --- broadcast ---------------------------------------------------------------------------------
    def probe_broadcast(self, case: Case) -> Observation:
        marker = f"mcmark-{uuid.uuid4().hex[:12]}"
        witness = case.control.dst
        receivers = [(key.split("/", 1)[0], key.split("/", 1)[1]) for key in case.params["receivers"]]
        watched = [(witness.pod, witness.ifname)] + receivers
        tokens = []
        try:
            for pod, ifname in watched:
                token = f"{marker}-{pod}-{ifname}"
                self.target.agent(pod).call("sniff_start", iface=ifname, marker=marker, token=token)
                tokens.append((pod, token))
            sent = self.target.agent(case.src.pod).call("broadcast", iface=case.src.ifname, marker=marker)
            time.sleep(self.window / 2)  # the window in which the marker must (control) / must not arrive
        finally:
            seen = {}
            for pod, token in tokens:
                seen[token] = self.target.agent(pod).call("sniff_stop", token=token)
        witness_seen = seen[f"{marker}-{witness.pod}-{witness.ifname}"]["seen"]
        leaked = {f"{pod}/{ifname}": seen[f"{marker}-{pod}-{ifname}"]["seen"] for pod, ifname in receivers
                  if seen[f"{marker}-{pod}-{ifname}"]["seen"]}
        evidence = {"marker": marker, "sent": sent, "witness": f"{witness.pod}/{witness.ifname}",
                    "witness_seen": witness_seen, "leaked_to": leaked}
        return Observation(Verdict.SEEN if leaked else Verdict.NOT_SEEN, evidence,
                           control=Verdict.SEEN if witness_seen else Verdict.NOT_SEEN,
                           control_evidence={"seen": witness_seen},
                           reproducer=self.target.reproducer(
                               case.src.pod, ["tcpdump", "-i", case.src.ifname, "-e", "ether", "broadcast"]),
                           detail=f"leaked to {', '.join(leaked)}" if leaked else "")

    # --- MTU ---------------------------------------------------------------------------------------
    def probe_mtu(self, case: Case) -> Observation:
        mtu = case.params["mtu"]
        gateway_ip = str(self.target.topology.vlan(case.params["vlan"]).gateway)
        agent = self.target.agent(case.src.pod)
        links = {link["name"]: link for link in agent.call("describe")["links"]}
        pod_mtu = links.get(case.src.ifname, {}).get("mtu")
        node = self.target.topology.node(case.src.node)
        master = node.master_name(case.src.vlan, self.target.topology.switch.native_vlan)
        master_mtu = self.target.master_mtu(case.src.node, master)

        def fits():
            ev = agent.call("sys_ping", dst=gateway_ip, iface=case.src.ifname, size=mtu - 28, df=True,
                            timeout=self.window)
            return (Verdict.MATCHES if ev["ok"] else Verdict.MISMATCH), ev

        _, fit, attempts = self._retry(fits, Verdict.MATCHES)
        over = agent.call("sys_ping", dst=gateway_ip, iface=case.src.ifname, size=mtu - 27, df=True,
                          timeout=self.window)
        problems = []
        if pod_mtu != mtu:
            problems.append(f"pod MTU {pod_mtu} != expected {mtu}")
        if master_mtu is not None and pod_mtu != master_mtu:
            problems.append(f"pod MTU {pod_mtu} != master {master} MTU {master_mtu}")
        if not fit["ok"]:
            problems.append(f"DF ping of {mtu - 28} bytes (= MTU {mtu}) to the gateway failed")
        if over["ok"]:
            problems.append(f"DF ping of {mtu - 27} bytes (MTU {mtu} + 1) got through")
        evidence = {"pod_mtu": pod_mtu, "master": master, "master_mtu": master_mtu, "expected_mtu": mtu,
                    "df_fit": fit, "df_over": over}
        return Observation(Verdict.MISMATCH if problems else Verdict.MATCHES, evidence, attempts,
                           detail="; ".join(problems), reproducer=self.target.reproducer(
                               case.src.pod, ["ping", "-c", "1", "-M", "do", "-s", str(mtu - 28), "-I",
                                              case.src.ifname, gateway_ip]))


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


PROBES = {
    "inter-vlan.ttl-expiry": Prober.probe_ttl,
    "gateway.arp": Prober.probe_gateway,
    "addressing.unique-ip": Prober.probe_unique_ip,
    "isolation.cross-vlan-arp": Prober.probe_cross_arp,
    "isolation.broadcast": Prober.probe_broadcast,
    "mtu.df-ping": Prober.probe_mtu,
}

"""Batches shared by the processes of a run: probed once, read by the others, identical everywhere."""

import json
import multiprocessing
import time
from pathlib import Path

from macvlan_conformance import checks
from macvlan_conformance import expectations as ex
from macvlan_conformance.probing import Observation
from macvlan_conformance.shared_batches import SharedBatches
from macvlan_conformance.topology import load_topology

TOPOLOGIES = Path(__file__).resolve().parents[2] / "topologies"


def _cases(check: str) -> list:
    return checks.cases_for(load_topology(TOPOLOGIES / "reference.yaml"), check)


def _worker(directory: str, check: str, log: str, out) -> None:
    """One xdist worker's view: observe the check's batch; the probe logs every time it really runs."""
    def probe(cases):
        with open(log, "a") as f:
            f.write(f"{check}\n")
        time.sleep(0.3)  # long enough for the other process to arrive while this one probes
        return [Observation(ex.Verdict.REACHABLE_L2, {"by": multiprocessing.current_process().name,
                                                      "case": c.id}).to_dict() for c in cases]
    out.put(SharedBatches(Path(directory)).observe(_cases(check), probe))


def _run(tmp_path, checks):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    log = tmp_path / "probed.log"
    log.touch()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path / "batches"), check, str(log), out), name=f"w{i}")
             for i, check in enumerate(checks)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return log.read_text().split(), results


def test_a_batch_is_probed_once_and_read_by_the_other_process(tmp_path):
    probed, results = _run(tmp_path, ["gateway.arp", "gateway.arp"])
    assert probed == ["gateway.arp"]
    assert results[0] == results[1]
    assert [r["evidence"]["case"] for r in results[0]] == [c.id for c in _cases("gateway.arp")]


def test_different_batches_are_each_probed(tmp_path):
    """Control: the sharing is by batch, not one result for everything."""
    probed, results = _run(tmp_path, ["gateway.arp", "mtu.df-ping"])
    assert sorted(probed) == ["gateway.arp", "mtu.df-ping"]
    assert results[0] != results[1]


def test_observations_survive_the_round_trip():
    obs = Observation(ex.Verdict.NOT_SEEN, {"marker": "m", "leaked_to": {}}, 2, ex.Verdict.SEEN, {"seen": 3},
                      "tcpdump -i eth0", "")
    assert Observation.from_dict(json.loads(json.dumps(obs.to_dict()))) == obs
    plain = Observation(ex.Verdict.REACHABLE)
    assert Observation.from_dict(plain.to_dict()) == plain

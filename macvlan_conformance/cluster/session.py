"""One cluster run from start to end: connect, preflight, deploy, hand out targets, clean up.

The pytest plugin calls ``start`` once (controller), ``attach`` in each xdist worker, and ``finish`` once
at the end of the session on every exit path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..topology import Topology
from . import cleanup
from .kube import Cluster, connect
from .manifests import DEFAULT_PROBE_IMAGE
from .preflight import PreflightReport, preflight
from .scope import RunScope, scoped_topology
from .target import ClusterTarget


PREFLIGHT_FILE = "preflight.json"  # in the run's shared directory (``run_files``)


@dataclass(frozen=True)
class ClusterSettings:
    kubeconfig: str | None = None
    context: str | None = None
    namespace_prefix: str = "macvlan-conformance"
    probe_image: str | None = None
    ipam: str = "spiderpool"
    deploy_timeout: float = 180.0
    host_probe: bool = False
    networks: str = "existing"  # existing: the cluster's NADs and pools; create: the run brings its own

    @property
    def create_networks(self) -> bool:
        return self.networks == "create"

    @property
    def image(self) -> str:
        return self.probe_image or DEFAULT_PROBE_IMAGE


def _target(cluster: Cluster, topology: Topology, scope: RunScope, settings: ClusterSettings,
            report: PreflightReport | None = None) -> ClusterTarget:
    return ClusterTarget(cluster, scoped_topology(topology, scope, settings.create_networks), scope,
                         image=settings.image, ipam=settings.ipam, report=report, host_probe=settings.host_probe,
                         create_networks=settings.create_networks)


def start(topology: Topology, settings: ClusterSettings, run_id: str, progress=lambda line: None,
          shared: Path | None = None) -> ClusterTarget:
    """Preflight (raises ``PreflightError`` before anything exists), then deploy and wait. A failure after
    the first object was created removes the run's objects before it propagates. With ``shared`` (the run's
    directory for its xdist workers) the preflight report is left there for ``attach``."""
    cluster = connect(settings.kubeconfig, settings.context)
    scope = RunScope(run_id, settings.namespace_prefix)
    progress(f"preflight against {cluster.server} (context {cluster.context})")
    report = preflight(cluster, topology, settings.ipam, scoped_topology(topology, scope, settings.create_networks),
                       scope.namespace, settings.create_networks)
    target = _target(cluster, topology, scope, settings, report)
    try:
        target.deploy(settings.deploy_timeout, progress)
        if shared is not None:
            report.save(shared / PREFLIGHT_FILE)  # with what the host probes added
    except BaseException:
        cleanup.cleanup(cluster, run_id)
        raise
    return target


def attach(topology: Topology, settings: ClusterSettings, run_id: str, shared: Path) -> ClusterTarget:
    """A target for a run another process deployed (xdist workers), judging with the controller's preflight
    report from the run's directory ``shared``."""
    cluster = connect(settings.kubeconfig, settings.context)
    report = PreflightReport.load(shared / PREFLIGHT_FILE)
    return _target(cluster, topology, RunScope(run_id, settings.namespace_prefix), settings, report)


def finish(settings: ClusterSettings, run_id: str) -> dict[str, list[str]]:
    """Remove the run's objects (by its run label)."""
    cluster = connect(settings.kubeconfig, settings.context)
    try:
        return cleanup.cleanup(cluster, run_id)
    finally:
        cluster.close()

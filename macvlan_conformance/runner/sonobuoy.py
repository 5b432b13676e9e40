"""The runner as a Sonobuoy plugin: its definition, and the worker contract it follows.

Read in vmware-tanzu/sonobuoy: the plugin container and Sonobuoy's worker sidecar share the results
directory, ``$SONOBUOY_RESULTS_DIR`` (``pkg/worker/config.go``; default ``/tmp/sonobuoy/results``,
``pkg/plugin/constants.go``; ``sonobuoy gen`` sets the variable in the plugin's env, ``pkg/client/gen.go``
``applyAutoEnvVars``). The worker waits for ``<results dir>/done``, whose content is the path of the one
file to send (``cmd/sonobuoy/app/worker.go``, ``pkg/worker/worker.go`` ``GatherResults``: read after a 5 s
grace, whitespace trimmed); a ``.gz`` goes as ``application/gzip`` and the aggregator unpacks it into the
plugin's results (``pkg/plugin/aggregation/aggregator.go`` ``handleArchiveResult``). With
``result-format: junit`` and ``result-files`` the post-processing reads exactly those files
(``pkg/client/results/processing.go`` ``FileOrExtension``). The definition's fields follow
``pkg/plugin/manifest/manifest.go``; ``config-map`` entries are mounted at ``/tmp/sonobuoy/config``
(``pkg/client/gen.go``). The plugin docs: ``site/content/docs/main/plugins.md``.

So the runner writes every report into the results directory, packs them into ``macvlan-conformance.tar.gz``
and writes ``done`` naming it, last and atomically, on every path (a failed or interrupted run too: without
``done`` Sonobuoy waits until the plugin's timeout).
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from .manifests import CONTAINER_SECURITY, RUNNER_COMMAND, TOPOLOGY_KEY

RESULTS_DIR_ENV = "SONOBUOY_RESULTS_DIR"
DEFAULT_RESULTS_DIR = "/tmp/sonobuoy/results"
CONFIG_DIR = "/tmp/sonobuoy/config"
PLUGIN_NAME = "macvlan-conformance"
ARCHIVE = "macvlan-conformance.tar.gz"
DONE = "done"


def results_dir(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get(RESULTS_DIR_ENV) or DEFAULT_RESULTS_DIR)


def finish(directory: Path) -> Path:
    """Pack every report in ``directory`` into ``ARCHIVE``, then write ``done`` naming it (both atomically,
    ``done`` last). Returns the archive's path."""
    archive = directory / ARCHIVE
    partial = directory / f".{ARCHIVE}.tmp"
    with tarfile.open(partial, "w:gz") as tar:
        for path in sorted(directory.iterdir()):
            if path.name not in (ARCHIVE, DONE) and not path.name.startswith("."):
                tar.add(path, arcname=path.name)
    os.replace(partial, archive)
    done = directory / f".{DONE}.tmp"
    done.write_text(str(archive.resolve()))
    os.replace(done, directory / DONE)
    return archive


def plugin(topology_text: str, image: str, suite_args: list[str]) -> dict:
    """The plugin definition for ``sonobuoy run --plugin FILE``: a Job plugin running the runner in
    Sonobuoy mode on the topology carried in ``config-map``."""
    command = [*RUNNER_COMMAND, "--sonobuoy", "--topology", f"{CONFIG_DIR}/{TOPOLOGY_KEY}"]
    if suite_args:
        command += ["--", *suite_args]
    return {"sonobuoy-config": {"driver": "Job", "plugin-name": PLUGIN_NAME, "result-format": "junit",
                                "result-files": ["junit.xml"],
                                "description": "Multus + macvlan over VLANs conformance (macvlan-conformance)"},
            "spec": {"name": "plugin", "image": image, "imagePullPolicy": "IfNotPresent", "command": command,
                     "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}],
                     "securityContext": {**CONTAINER_SECURITY, "readOnlyRootFilesystem": False},
                     "volumeMounts": [{"name": "results", "mountPath": DEFAULT_RESULTS_DIR}]},
            "config-map": {TOPOLOGY_KEY: topology_text}}

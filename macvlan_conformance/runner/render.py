"""``render --runner`` and ``render --sonobuoy-plugin``: the options, and the YAML they print.

``--runner`` prints Kubernetes objects for ``kubectl apply -f``; ``--sonobuoy-plugin`` prints one plugin
definition for ``sonobuoy run --plugin FILE`` (not a Kubernetes object, so never in the same stream). The
topology travels as text (a ConfigMap, or the plugin's ``config-map``), validated first. The suite options
``render`` shares with a run (``--probe-image``, ``--ipam``, ``--host-probe``, ``--namespace-prefix``)
are passed to the suites.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from . import manifests, sonobuoy
from .manifests import RunnerSettings

RUNNER_ONLY = ("namespace", "existing_namespace", "image", "schedule", "reports_pvc")


def add_options(render) -> None:
    render.add_argument("--runner", action="store_true",
                        help="instead: the in-cluster runner (Namespace, ServiceAccount, ClusterRole with a run's "
                             "RBAC and its binding, topology ConfigMap, reports PVC, and a Job, or with --schedule "
                             "a CronJob) for kubectl apply -f")
    render.add_argument("--sonobuoy-plugin", action="store_true",
                        help="instead: the runner as a Sonobuoy plugin definition (sonobuoy run --plugin FILE)")
    render.add_argument("--namespace", help=f"runner: its namespace (default {manifests.DEFAULT_NAMESPACE})")
    render.add_argument("--existing-namespace", action="store_true",
                        help="runner: the namespace exists already; no Namespace object")
    render.add_argument("--image", help=f"runner: its image (default {manifests.DEFAULT_RUNNER_IMAGE}; build it from "
                                        f"image/Containerfile.runner)")
    render.add_argument("--schedule", metavar="CRON", help="runner: a CronJob on this schedule instead of the Job")
    render.add_argument("--reports-pvc", metavar="NAME",
                        help=f"runner: an existing PersistentVolumeClaim for the reports (default: render "
                             f"{manifests.REPORTS_PVC}, 1Gi, the default StorageClass)")


def wanted(args) -> bool:
    """True if ``render`` should print the runner; refuses runner options without it, and mixes."""
    given = [f"--{o.replace('_', '-')}" for o in RUNNER_ONLY if getattr(args, o) not in (None, False)]
    if not (args.runner or args.sonobuoy_plugin):
        if given:
            also = " or --sonobuoy-plugin" if given[0] == "--image" else ""
            raise ValueError(f"{given[0]} only applies with --runner{also}")
        return False
    if args.sonobuoy_plugin and (only := [g for g in given if g != "--image"]):
        raise ValueError(f"{only[0]} applies to --runner only (a Sonobuoy plugin runs in Sonobuoy's namespace and "
                         f"sends its reports to Sonobuoy)")
    mixed = [o for o, on in (("--runner", args.runner and args.sonobuoy_plugin), ("--host-config", args.host_config),
                             ("--multus-config", args.multus_config)) if on]
    if mixed:
        chosen = "--sonobuoy-plugin" if args.sonobuoy_plugin else "--runner"
        raise ValueError(f"{mixed[0]} does not combine with {chosen}")
    return True


def suite_args(args) -> list[str]:
    out = ["--probe-image", args.probe_image]
    if args.ipam != "spiderpool":
        out += ["--ipam", args.ipam]
    if args.namespace_prefix != "macvlan-conformance":
        out += ["--namespace-prefix", args.namespace_prefix]
    if args.host_probe:
        out.append("--host-probe")
    return out


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the topology) as literal blocks, as a person would write them."""


_Dumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None))


def text(args, topology_path: Path) -> str:
    """The YAML to print for ``args`` (``wanted(args)`` is true); the topology is validated first."""
    from ..topology import load_topology
    load_topology(topology_path)
    topology = topology_path.read_text()
    image = args.image or manifests.DEFAULT_RUNNER_IMAGE
    if args.sonobuoy_plugin:
        return yaml.dump(sonobuoy.plugin(topology, image, suite_args(args)), Dumper=_Dumper, sort_keys=False)
    settings = RunnerSettings(namespace=args.namespace or manifests.DEFAULT_NAMESPACE, image=image,
                              schedule=args.schedule, existing_namespace=args.existing_namespace,
                              reports_pvc=args.reports_pvc, suite_args=tuple(suite_args(args)))
    return yaml.dump_all(manifests.render(topology, settings), Dumper=_Dumper, sort_keys=False)

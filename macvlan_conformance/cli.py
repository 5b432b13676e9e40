"""``macvlan-conformance``: the embedded lab, cluster manifests and cleanup, reports and baselines.

Exit status: 0 success, 1 a run/check failed, 2 bad input (topology, arguments), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from .signals import sigterm_as_interrupt
from .topology import resolve_topology_path

err = Console(stderr=True, soft_wrap=True, emoji=False)  # IPv6 ":100:" is an address, not an emoji


def cmd_lab_up(args) -> int:
    from .lab.control import lab_up
    path = resolve_topology_path(args.topology)
    with err.status(f"lab {args.name}: starting") as status:
        state = lab_up(path, args.name, progress=lambda step: status.update(f"lab {args.name}: {step}"),
                       control_plane=args.control_plane)
    if state.kube:
        err.print(f"lab [bold]{args.name}[/] is up with a Kubernetes control plane at {state.kube.server}: "
                  f"{len(state.nodes)} Ready nodes, the topology's networks installed, no pods "
                  f"(topology {state.topology_name})\n  admin:      KUBECONFIG={state.kube.admin_kubeconfig}\n"
                  f"  run's user: KUBECONFIG={state.kube.user_kubeconfig}", highlight=False)
    else:
        err.print(f"lab [bold]{args.name}[/] is up: {len(state.nodes)} nodes, {len(state.pods)} pods "
                  f"(topology {state.topology_name})")
    print(f"{state.run_dir}/state.json")
    return 0


def cmd_lab_state(args) -> int:
    from .lab.control import lab_state
    print(lab_state(args.name).model_dump_json(indent=2))
    return 0


def cmd_lab_down(args) -> int:
    from .lab.control import lab_down
    removed = lab_down(args.name)
    err.print(f"lab {args.name} removed ({len(removed)} namespaces)")
    return 0


def cmd_lab_cleanup(args) -> int:
    from . import run_files
    from .lab.cleanup import known_labs, sweep, teardown
    from .lab.names import check_lab_name
    runs = []
    if args.name:
        check_lab_name(args.name)
        removed = {args.name: teardown(args.name)} if args.name in known_labs() else {}
    else:
        removed = sweep()
        runs = run_files.sweep()
    for lab, namespaces in removed.items():
        err.print(f"removed lab {lab}: {len(namespaces)} namespaces")
    for run in runs:
        err.print(f"removed the files of killed run {run} ({run_files.path(run)})")
    if not removed and not runs:
        err.print("nothing of ours to clean up")
    return 0


def cmd_report(args) -> int:
    """HTML report (+ history) from results.json; with --baseline, the regressions against an older run.
    Every results file is validated first (one line on a bad one, exit 2); an interrupted run's partial
    results are reported but are never a baseline and never join the history."""
    from . import diagnosis
    from .report import baseline, history, html
    from .report.results import ResultsError, load, load_baseline
    try:
        new = load(args.results)
        old = load_baseline(args.baseline) if args.baseline else None
    except ResultsError as exc:
        raise ValueError(str(exc)) from None
    if args.append_history and new["run"].get("interrupted"):
        raise ValueError(f"--append-history: {args.results} holds the partial results of an interrupted run; "
                         f"the history has complete runs only")
    comparison = baseline.compare(old, new) if old else None
    if args.append_history:
        history.append(args.history, new)
    trend = history.read(args.history)
    for line in trend.skipped:
        err.print(f"warning: {line}", highlight=False, markup=False)
    new["diagnosis"] = diagnosis.for_results(new)  # files written before the diagnosis existed: computed
    for line in diagnosis.summary_lines(new["diagnosis"], new["checks"]):
        err.print(line, highlight=False, markup=False)
    out = html.write(new, args.html, history=trend.entries, comparison=comparison)
    err.print(f"report written to {out}", highlight=False)
    if comparison:
        print(baseline.render_text(comparison, args.baseline, args.results))
        return 1 if comparison.has_regressions else 0
    return 0


def cmd_lab_fault(args) -> int:
    from . import faults
    from .lab.control import lab_state
    from .lab.names import LabNames
    from .lab.target import LabTarget
    if args.fault not in faults.NAMES:
        raise ValueError(f"no fault named {args.fault!r}; choose one of: {', '.join(faults.NAMES)}")
    lab_state(args.name)  # validates the name and explains a lab that is not running
    target = LabTarget(LabNames(args.name).state_file)
    reason = faults.not_applicable(target.topology).get(args.fault)
    if reason:
        raise ValueError(f"fault {args.fault} does not apply to lab {args.name}'s topology: {reason}")
    fault = faults.catalogue(target.topology)[args.fault]
    (fault.apply if args.action == "apply" else fault.revert)(target)
    err.print(f"{args.action} {fault.name}: {fault.summary(target.topology)}")
    return 0


def cmd_selftest(args) -> int:
    """Build a lab, run the suites healthy and under every fault, print and write the detection matrix."""
    import secrets
    from pathlib import Path
    from . import faults, selftest
    from .lab.cleanup import teardown
    from .lab.control import lab_up
    from .lab.names import LabNames
    from .lab.target import LabTarget
    from .report import html
    from .report.results import load
    from .topology import load_topology

    path = resolve_topology_path(args.topology)
    topology = load_topology(path)
    applicable, skipped = faults.catalogue(topology), faults.not_applicable(topology)
    chosen = args.faults.split(",") if args.faults else list(applicable)
    unknown = [f for f in chosen if f not in faults.NAMES]
    if unknown:
        raise ValueError(f"--faults: unknown {', '.join(unknown)}; choose from: {', '.join(faults.NAMES)}")
    if args.faults and (refused := [f for f in chosen if f in skipped]):
        raise ValueError(f"--faults: {refused[0]} does not apply to topology {topology.name}: {skipped[refused[0]]}")
    name = "st" + secrets.token_hex(3)
    with err.status("self-test: building the lab") as status:
        lab_up(path, name, progress=lambda step: status.update(f"self-test: {step}"))
        try:
            target = LabTarget(LabNames(name).state_file)
            matrix = selftest.run(target, [applicable[f] for f in chosen], args.workers, Path(args.workdir),
                                  progress=lambda line: status.update(f"self-test: {line}"),
                                  extra=("-k", args.select) if args.select else ())
            target.close()
        finally:
            teardown(name)
    matrix["not_applicable"] = {} if args.faults else skipped
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(matrix, indent=1))
    html.write(load(Path(args.workdir) / "healthy.json"), args.html, selftest=matrix)
    print(selftest.render_text(matrix))
    err.print(f"detection matrix in {out}, report in {args.html}")
    return 0 if matrix["ok"] else 1


def cmd_cluster_cleanup(args) -> int:
    from .cluster.cleanup import cleanup
    from .cluster.kube import connect
    from .cluster.scope import RUN_ID_RE

    if args.run and not RUN_ID_RE.match(args.run):
        raise ValueError(f"--run {args.run!r}: a run id is 1-16 lowercase letters or digits (see the namespace "
                         f"macvlan-conformance-<run id>)")
    cluster = connect(args.kubeconfig, args.context)
    try:
        removed = cleanup(cluster, args.run)
    finally:
        cluster.close()
    what = f"run {args.run}" if args.run else "every run"
    err.print(f"removed {what} from {cluster.server} (context {cluster.context}): namespaces "
              f"{', '.join(removed['namespaces']) or 'none'}; IP pools {', '.join(removed['spiderippools']) or 'none'}"
              + (f"; still terminating: {', '.join(removed['terminating'])}" if removed["terminating"] else ""),
              highlight=False)
    return 0


def cmd_render(args) -> int:
    import yaml

    from .cluster import manifests
    from .cluster.hostprobe import host_probe_pod
    from .cluster.scope import RunScope, scoped_topology
    from .runner import render as runner
    from .topology import load_topology

    if runner.wanted(args):
        sys.stdout.write(runner.text(args, resolve_topology_path(args.topology)))
        return 0
    topology = load_topology(resolve_topology_path(args.topology))
    if args.host_config:
        objects = manifests.host_config(topology)
    else:
        scope = RunScope(args.run_id, args.namespace_prefix)  # refuses bad names, naming the option
        objects = manifests.render(scoped_topology(topology, scope), scope, image=args.probe_image,
                                   ipam=args.ipam, multus_configs=args.multus_config, cni_version=args.cni_version)
        if args.host_probe:
            objects += [host_probe_pod(n.name, scope, args.probe_image) for n in topology.nodes]
    sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line: what is wrong, and where the help is (exit 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="macvlan-conformance", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    from .run_command import add_parser as add_run_command
    add_run_command(sub)
    _add_lab_commands(sub)
    _add_run_commands(sub)
    _add_cluster_commands(sub)
    return parser


def _add_lab_commands(sub) -> None:
    lab = sub.add_parser("lab", help="the embedded lab (needs root)")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True)
    up = lab_sub.add_parser("up", help="build a lab and leave it running; prints the state file path")
    up.add_argument("--topology", help="topology YAML file, or a name under topologies/ (default: reference)")
    up.add_argument("--name", default="lab", help="lab name: 1-10 lowercase letters/digits (default: lab)")
    up.add_argument("--control-plane", choices=["none", "kube"], default="none",
                    help="kube: also run a real Kubernetes control plane (etcd, kube-apiserver, "
                         "kube-controller-manager) with node agents and the real Multus; pods then come only "
                         "through its API (default: none, the embedded lab with its pods)")
    up.set_defaults(func=cmd_lab_up)
    state = lab_sub.add_parser("state", help="print a running lab's state JSON")
    state.add_argument("--name", default="lab")
    state.set_defaults(func=cmd_lab_state)
    down = lab_sub.add_parser("down", help="tear a lab down")
    down.add_argument("--name", default="lab")
    down.set_defaults(func=cmd_lab_down)
    clean = lab_sub.add_parser("cleanup", help="remove every object of every lab that carries our marks "
                                                "(namespaces mcl-<lab>-*, their processes, run directories), "
                                                "and the /tmp files of killed pytest runs")
    clean.add_argument("--name", help="only this lab's objects (e.g. after a crashed run)")
    clean.set_defaults(func=cmd_lab_cleanup)
    fault = lab_sub.add_parser("fault", help="apply or revert a named fault of the catalogue on a running lab")
    fault.add_argument("action", choices=["apply", "revert"])
    fault.add_argument("fault", help="fault name (see `macvlan-conformance selftest --help`)")
    fault.add_argument("--name", default="lab")
    fault.set_defaults(func=cmd_lab_fault)


def _add_run_commands(sub) -> None:
    self_test = sub.add_parser("selftest", help="prove the suites catch broken networks: run them healthy and "
                                                "under every fault, print the detection matrix (exit 1 on a "
                                                "miss or a collateral failure)")
    self_test.add_argument("--topology", help="topology (default: reference)")
    self_test.add_argument("--faults", help="comma-separated fault names (default: the whole catalogue)")
    self_test.add_argument("--select", metavar="EXPR",
                           help="only the suite tests that match this pytest -k expression, in every run (a fault "
                                "whose checks are all left out cannot be detected; default: every test)")
    self_test.add_argument("--workers", type=int, default=1,
                           help="pytest-xdist workers per run (default 1: serial, the faster on the lab)")
    self_test.add_argument("--output", default="reports/selftest.json")
    self_test.add_argument("--html", default="reports/selftest.html")
    self_test.add_argument("--workdir", default="reports/selftest", help="where each run's results.json goes")
    self_test.set_defaults(func=cmd_selftest)
    report = sub.add_parser("report", help="render reports/conformance.html from results.json; compare with a "
                                           "baseline (exit 1 on any regression)")
    report.add_argument("results", nargs="?", default="reports/results.json",
                        help="the run to report on (default reports/results.json)")
    report.add_argument("--baseline", metavar="OLD.json", help="an earlier results.json (e.g. before an upgrade)")
    report.add_argument("--html", default="reports/conformance.html", help="where to write the HTML report")
    report.add_argument("--history", default="reports/history.jsonl", help="the nightly history file (read for "
                                                                           "the trend)")
    report.add_argument("--append-history", action="store_true", help="also append this run to the history")
    report.set_defaults(func=cmd_report)


def _add_cluster_commands(sub) -> None:
    cluster = sub.add_parser("cluster", help="live cluster housekeeping (runs themselves: pytest --target cluster)")
    cluster_sub = cluster.add_subparsers(dest="cluster_command", required=True)
    cluster_clean = cluster_sub.add_parser("cleanup", help="delete what runs left on the cluster, by label only "
                                                           "(namespaces and SpiderIPPools labelled "
                                                           "app.kubernetes.io/managed-by=macvlan-conformance and "
                                                           "with a run label; never the in-cluster runner)")
    cluster_clean.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    cluster_clean.add_argument("--context", help="kubeconfig context (default: the current one)")
    cluster_clean.add_argument("--run", help="only this run id (the suffix of its namespace)")
    cluster_clean.set_defaults(func=cmd_cluster_cleanup)

    render = sub.add_parser("render", help="print the Kubernetes manifests of a cluster run (Namespace, "
                                           "SpiderIPPools, NADs, probe Pods) as YAML, for review or GitOps")
    render.add_argument("--topology", help="topology (default: reference)")
    render.add_argument("--run-id", default="manual", help="run id: the namespace is PREFIX-RUN_ID (default: manual)")
    render.add_argument("--namespace-prefix", default="macvlan-conformance", help="(default: macvlan-conformance)")
    render.add_argument("--probe-image", default=manifests_default_image(), help="the probe image of the pods")
    render.add_argument("--ipam", choices=["spiderpool", "host-local", "whereabouts"], default="spiderpool",
                        help="IPAM of the NADs (default: spiderpool, pools chosen by pod annotation)")
    render.add_argument("--cni-version", choices=["1.0.0", "0.4.0"], default="1.0.0",
                        help="cniVersion of the NADs (default 1.0.0, Multus 4.x; 0.4.0 for Multus 3.x, as the "
                             "multus-underlay chart ships it; a cluster run reads the Multus version and chooses)")
    render.add_argument("--multus-config", action="store_true",
                        help="SpiderMultusConfigs instead of NetworkAttachmentDefinitions")
    render.add_argument("--host-probe", action="store_true",
                        help="also the hostNetwork host-probe pods (one per node) of `pytest --host-probe`")
    render.add_argument("--host-config", action="store_true",
                        help="instead: kubernetes-nmstate NodeNetworkConfigurationPolicies creating bond0 and "
                             "bond0.<vid> on every node")
    from .runner.render import add_options
    add_options(render)
    render.set_defaults(func=cmd_render)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("macvlan-conformance")
    except PackageNotFoundError:
        return "unknown (not installed)"


def manifests_default_image() -> str:
    from .cluster.manifests import DEFAULT_PROBE_IMAGE
    return DEFAULT_PROBE_IMAGE


# How each failure is told, in order: (module, exception class, label, exit status). The classes are looked
# up only in modules already imported (a module never imported raised nothing), so that a command imports only
# what it uses: ``render`` needs neither pyroute2 nor the Kubernetes client.
_FAILURES = (
    ("macvlan_conformance.topology", "TopologyError", "error", 2),
    ("builtins", "ValueError", "error", 2),
    ("macvlan_conformance.lab.control", "LabNotFound", "error", 2),
    ("macvlan_conformance.lab.builder", "LabExistsError", "error", 2),
    ("macvlan_conformance.lab.preflight", "PreflightError", "error", 2),
    ("macvlan_conformance.lab.commands", "CommandError", "lab error", 1),
    ("macvlan_conformance.lab.cni", "CniError", "lab error", 1),
    ("macvlan_conformance.lab.builder", "PodRefused", "lab error", 1),
    ("macvlan_conformance.cluster.kube", "ClusterError", "cluster error", 1),
    ("macvlan_conformance.controlplane.processes", "ControlPlaneError", "control plane error", 1),
)


def _failure(exc: Exception) -> tuple[str, int] | None:
    """The label and exit status of a failure we explain, or None (a bug: its traceback is shown)."""
    for module, name, label, status in _FAILURES:
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and isinstance(exc, cls):
            return label, status
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sigterm_as_interrupt()
    try:
        return args.func(args)
    except KeyboardInterrupt:
        err.print("interrupted; everything this command created was removed")
        return 130
    except Exception as exc:
        failure = _failure(exc)
        if failure is None:
            raise
        label, status = failure
        err.print(f"{label}: {exc}", style="red", highlight=False, markup=False)
        return status


if __name__ == "__main__":
    sys.exit(main())

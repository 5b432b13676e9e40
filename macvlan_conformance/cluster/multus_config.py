"""Multus' namespace isolation, read from its DaemonSet, and what it forbids a run's pods.

With ``namespaceIsolation`` on, Multus refuses a ``k8s.v1.cni.cncf.io/networks`` element whose NAD is in
another namespace than the pod's, unless that namespace is listed in ``globalNamespaces`` (default:
``default`` only; a list replaces it). The default-network annotation is not subject to it (it is read
from Multus' own namespace). Sources: k8snetworkplumbingwg/multus-cni v4.2.3 ``pkg/k8sclient/k8sclient.go``
``GetNetworkDelegates`` / ``isValidNamespaceReference``, ``pkg/types/conf.go`` (``defaultNonIsolatedNamespace``,
``RawNonIsolatedNamespaces``), and the flags ``--namespace-isolation`` / ``--global-namespaces`` of
``cmd/thin_entrypoint/main.go`` (the thick plugin reads the same keys from its daemon-config.json).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..topology import Topology

DEFAULT_GLOBAL_NAMESPACES = ("default",)
BOOL_FLAGS = {"namespace-isolation"}


@dataclass(frozen=True)
class Isolation:
    enabled: bool = False
    global_namespaces: tuple[str, ...] = DEFAULT_GLOBAL_NAMESPACES
    source: str = ""


def _flag(args: list[str], name: str) -> str | None:
    """A Go flag's value in ``args`` (``--name=value``, ``--name value``, bare ``--name`` for bools)."""
    for i, arg in enumerate(args):
        for prefix in (f"--{name}", f"-{name}"):
            if arg == prefix and name in BOOL_FLAGS:  # a Go bool flag takes its value only as --name=value
                return "true"
            if arg == prefix:
                return args[i + 1] if i + 1 < len(args) else ""
            if arg.startswith(prefix + "="):
                return arg.split("=", 1)[1]
    return None


def _globals(raw: str | None) -> tuple[str, ...]:
    names = tuple(n.strip() for n in (raw or "").split(",") if n.strip())
    return names or DEFAULT_GLOBAL_NAMESPACES


def from_args(args: list[str], source: str) -> Isolation | None:
    """The thin plugin's flags; None when they do not mention isolation."""
    enabled = _flag(args, "namespace-isolation")
    if enabled is None:
        return None
    return Isolation(enabled.lower() in ("true", "1", "t"), _globals(_flag(args, "global-namespaces")), source)


def from_config_text(text: str, source: str) -> Isolation | None:
    """A daemon-config.json (thick plugin) or 00-multus.conf; None when it is no such JSON."""
    try:
        conf = json.loads(text)
    except ValueError:
        return None
    if not isinstance(conf, dict) or "namespaceIsolation" not in conf:
        return None
    return Isolation(conf.get("namespaceIsolation") is True, _globals(conf.get("globalNamespaces")), source)


def problems(topology: Topology, run_namespace: str, isolation: Isolation) -> list[str]:
    """One line per extra network a pod of ``run_namespace`` may not use under ``isolation``."""
    if not isolation.enabled:
        return []
    refused = sorted({att.network.ref for pod in topology.pods for att in topology.attachments(pod.name)[1:]
                      if att.network is not None and att.network.namespace != run_namespace
                      and att.network.namespace not in isolation.global_namespaces})
    return [f"Multus namespaceIsolation ({isolation.source}) refuses NAD {ref} to pods of namespace {run_namespace} "
            f"(global namespaces: {', '.join(isolation.global_namespaces)}); add {ref.split('/')[0]} to Multus' "
            f"globalNamespaces (--global-namespaces), or run with --networks create" for ref in refused]

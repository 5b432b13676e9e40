"""The official Kubernetes client, connected from a kubeconfig, and its failures as one clear line each.

Credentials stay inside the client: no message, log line or report ever contains more of the kubeconfig
than the context name and the API server's address.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException


class ClusterError(RuntimeError):
    """A cluster operation failed; the message is one line that names what and how to fix it."""


class KubeconfigError(ClusterError, ValueError):
    """The kubeconfig or context given cannot be used (bad input: the CLI exits 2)."""


@dataclass
class Cluster:
    """A connected API client and where it points (for messages: never credentials)."""

    api: client.ApiClient
    server: str
    context: str

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def crds(self) -> client.ApiextensionsV1Api:
        return client.ApiextensionsV1Api(self.api)

    def close(self) -> None:
        self.api.close()


def connect(kubeconfig: str | None = None, context: str | None = None, timeout: float = 10.0) -> Cluster:
    """A client from ``kubeconfig`` (default: $KUBECONFIG or ~/.kube/config) and ``context`` (default: the
    current one). Raises ``ClusterError`` for a missing file or an unknown context."""
    if kubeconfig and not Path(kubeconfig).is_file():
        raise KubeconfigError(f"--kubeconfig {kubeconfig}: no such file")
    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
        contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)
    except ConfigException as exc:
        raise KubeconfigError(f"cannot use the kubeconfig: {_first_line(exc)}") from None
    except FileNotFoundError:
        raise KubeconfigError("no kubeconfig found: pass --kubeconfig PATH or set KUBECONFIG") from None
    configuration.retries = 0
    api = client.ApiClient(configuration)
    api.rest_client.pool_manager.connection_pool_kw["timeout"] = urllib3.Timeout(connect=timeout, read=None)
    name = context or current["name"]
    return Cluster(api, configuration.host, name)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def api_message(exc: ApiException) -> str:
    """The Status message the API server sent, else the HTTP reason."""
    try:
        return json.loads(exc.body).get("message") or exc.reason
    except (TypeError, ValueError):
        return exc.reason or f"HTTP {exc.status}"


def explain(exc: Exception, doing: str, cluster: Cluster) -> ClusterError:
    """One line for a failed API call: ``doing`` is what we tried (``create pods in namespace X``)."""
    if isinstance(exc, ApiException):
        if exc.status == 401:
            return ClusterError(f"{doing}: the API server at {cluster.server} rejected the credentials of context "
                                f"{cluster.context!r} (401); refresh them (e.g. log in again)")
        if exc.status == 403:
            return ClusterError(f"{doing}: forbidden by RBAC for context {cluster.context!r}: {api_message(exc)}; "
                                f"grant the verbs listed in the README (cluster target, RBAC)")
        if exc.status == 404:
            return ClusterError(f"{doing}: not found ({api_message(exc)})")
        return ClusterError(f"{doing}: HTTP {exc.status}: {api_message(exc)}")
    if isinstance(exc, (urllib3.exceptions.HTTPError, OSError)):
        reason = getattr(exc, "reason", None) or exc
        return ClusterError(f"{doing}: cannot reach the API server at {cluster.server} ({_first_line(reason)}); "
                            f"check the kubeconfig's server address and that the cluster is up")
    return ClusterError(f"{doing}: {_first_line(exc)}")


def call(cluster: Cluster, doing: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with any API or transport failure turned into one ``ClusterError`` line."""
    try:
        return fn(*args, **kwargs)
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise explain(exc, doing, cluster) from None

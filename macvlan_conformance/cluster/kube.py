"""The official Kubernetes client, connected from a kubeconfig, and its failures as one clear line each.

Credentials stay inside the client: no message, log line or report ever contains more of the kubeconfig
than the context name and the API server's address.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from .. import bounded_yaml
from ..bounded_yaml import excerpt


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
    current one). Raises ``KubeconfigError`` (one line: the file, the field, the fix) for a kubeconfig or
    context that cannot be used."""
    path, option = _kubeconfig_path(kubeconfig)
    name = check_kubeconfig(path, option, context) if path else context
    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=str(path) if path else os.environ["KUBECONFIG"], context=context,
                                client_configuration=configuration)
        if name is None:
            name = config.list_kube_config_contexts(config_file=os.environ["KUBECONFIG"])[1]["name"]
    except (ConfigException, ValueError, TypeError, KeyError, OSError, yaml.YAMLError) as exc:
        raise KubeconfigError(f"{option}: cannot use the kubeconfig: {_first_line(exc)}; fix the context's "
                              f"cluster and user entries (kubectl config view shows them)") from None
    configuration.retries = 0
    api = client.ApiClient(configuration)
    api.rest_client.pool_manager.connection_pool_kw["timeout"] = urllib3.Timeout(connect=timeout, read=None)
    return Cluster(api, configuration.host, name)


def _kubeconfig_path(kubeconfig: str | None) -> tuple[Path | None, str]:
    """The one file to read and how to name it in messages; path None: several files in $KUBECONFIG
    (the client merges them)."""
    if kubeconfig:
        return Path(kubeconfig), f"--kubeconfig {kubeconfig}"
    paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if len(paths) > 1:
        return None, f"KUBECONFIG={os.environ['KUBECONFIG']}"
    if paths:
        return Path(paths[0]), f"KUBECONFIG={paths[0]}"
    default = Path("~/.kube/config").expanduser()
    if not default.exists():
        raise KubeconfigError("no kubeconfig found: pass --kubeconfig PATH or set KUBECONFIG")
    return default, str(default)


def check_kubeconfig(path: Path, option: str, context: str | None) -> str:
    """The context to use in the kubeconfig at ``path``: read bounded, with its contexts, the chosen
    context's cluster and its server URL checked. Raises ``KubeconfigError`` naming ``option`` and the field;
    never quotes credentials."""
    try:
        data = bounded_yaml.load(path, what="kubeconfig")
    except bounded_yaml.YamlError as exc:
        raise KubeconfigError(f"{exc}; check {option}") from None
    if not isinstance(data, dict):
        raise KubeconfigError(f"{option}: not a kubeconfig (the top level must be a mapping with clusters, "
                              f"contexts and users); pass the file kubectl uses")
    contexts = _named_list(data, "contexts", "context", option)
    if not contexts:
        raise KubeconfigError(f"{option}: contexts: none; add one (kubectl config set-context) or pass another "
                              f"kubeconfig")
    chosen = context or data.get("current-context")
    names = ", ".join(excerpt(n) for n in contexts)
    if not chosen:
        raise KubeconfigError(f"{option}: current-context is not set; pass --context (one of {names}) or run "
                              f"kubectl config use-context")
    if chosen not in contexts:
        field = "--context" if context else "current-context"
        raise KubeconfigError(f"{option}: {field} {excerpt(chosen)} is not among its contexts ({names}); use one "
                              f"of them")
    _check_context(data, contexts[chosen], option)
    return chosen


def _named_list(data: dict, key: str, item: str, option: str) -> dict[str, tuple[int, dict]]:
    """``data[key]`` (a list of ``{name, <item>: {...}}``) as ``{name: (index, item mapping)}``."""
    entries = data.get(key) or []
    if not isinstance(entries, list):
        raise KubeconfigError(f"{option}: {key} must be a list of {{name, {item}}} entries, got {excerpt(entries)}")
    result = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or \
                not isinstance(entry.get(item), dict):
            raise KubeconfigError(f"{option}: {key}[{i}] needs a string 'name' and a '{item}' mapping")
        result.setdefault(entry["name"], (i, entry[item]))
    return result


def _check_context(data: dict, context: tuple[int, dict], option: str) -> None:
    """The context's user (if it names one) and cluster are defined, the cluster's server is an http(s) URL."""
    index, entry = context
    users = _named_list(data, "users", "user", option)
    if entry.get("user") and entry["user"] not in users:
        raise KubeconfigError(f"{option}: contexts[{index}].context.user {excerpt(entry['user'])} is not under "
                              f"users; name one of: {', '.join(excerpt(n) for n in users) or 'none'}")
    clusters = _named_list(data, "clusters", "cluster", option)
    name = entry.get("cluster")
    if name not in clusters:
        raise KubeconfigError(f"{option}: contexts[{index}].context.cluster {excerpt(name)} is not under clusters; "
                              f"name one of: {', '.join(excerpt(n) for n in clusters) or 'none'}")
    j, cluster = clusters[name]
    server = cluster.get("server")
    if not _is_url(server):
        shown = re.sub(r"//[^/@]*@", "//...@", server) if isinstance(server, str) else server  # no user:password
        raise KubeconfigError(f"{option}: clusters[{j}].cluster.server {excerpt(shown)} is not a URL; write "
                              f"https://HOST:PORT")


def _is_url(server: object) -> bool:
    """An http(s) URL with a host and, if any, a valid port."""
    if not isinstance(server, str):
        return False
    try:
        url = urlsplit(server)
        url.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        return False
    return url.scheme in ("http", "https") and bool(url.hostname)


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

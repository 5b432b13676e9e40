"""The RBAC of a run (``cluster.rbac``) covers every API call the cluster code makes, and nothing more.

The cluster package's source is scanned for Kubernetes client methods (every public method of the
client's ``*Api`` classes that is an API endpoint, i.e. has a ``_with_http_info`` twin), whether called
or passed on (``call(cluster, doing, cluster.core.list_node)``, ``Watch().stream(...)``). Each one must be
in ``CALLS`` and each entry of ``CALLS`` must still be made; the permissions of each entry are derived
again from the method (its verb, resource, API group, and the group/plural arguments of custom-object
calls), so an entry can neither grant more nor less than its call needs. The README lists the same rules.
"""

import ast
import inspect
import re
from pathlib import Path

import kubernetes.client
import pytest
import yaml

from macvlan_conformance.cluster import rbac

from ..conftest import ROOT

CLUSTER = ROOT / "macvlan_conformance" / "cluster"
CRDS = ROOT / "macvlan_conformance" / "crds"
GROUPS = {"CoreV1Api": "", "AppsV1Api": "apps", "ApiextensionsV1Api": "apiextensions.k8s.io",
          "BatchV1Api": "batch", "RbacAuthorizationV1Api": "rbac.authorization.k8s.io"}
VERBS = {"list": "list", "read": "get", "get": "get", "create": "create", "delete": "delete", "patch": "patch",
         "replace": "update"}
NON_RESOURCE = {"get_code"}  # GET /version: allowed to every user (system:public-info-viewer)


def _endpoints() -> dict[str, set[str]]:
    """Every API method name of the client, with the classes that define it."""
    found: dict[str, set[str]] = {}
    for name, cls in inspect.getmembers(kubernetes.client, inspect.isclass):
        if name.endswith("Api"):
            for method in dir(cls):
                if not method.startswith("_") and hasattr(cls, f"{method}_with_http_info"):
                    found.setdefault(method, set()).add(name)
    return found


ENDPOINTS = _endpoints()


def _module_constants(path: Path) -> dict:
    """The module-level constant assignments of a source file (tuples and strings), for custom-object args."""
    constants = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                constants[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return constants


def _args(call: ast.Call | None, constants: dict) -> list | None:
    """A call's positional arguments where they are literals or module constants (``*POOL_API`` expanded);
    None where one is not (a local variable)."""
    if call is None:
        return None
    values = []
    for arg in call.args:
        try:
            value = eval(compile(ast.Expression(arg.value if isinstance(arg, ast.Starred) else arg), "<arg>", "eval"),
                         {"__builtins__": {}}, dict(constants))
        except Exception:
            values.append(None)
            continue
        values.extend(value if isinstance(arg, ast.Starred) else [value])
    return values


def _cluster_apis() -> dict[str, str]:
    """``Cluster``'s API properties (``cluster.core`` ...) -> the client class each returns."""
    from macvlan_conformance.cluster.kube import Cluster
    return {name: re.search(r"client\.(\w+Api)\(", inspect.getsource(prop.fget)).group(1)
            for name, prop in inspect.getmembers(Cluster, lambda m: isinstance(m, property))
            if "client." in inspect.getsource(prop.fget)}


CLUSTER_APIS = _cluster_apis()


def receiver(node: ast.Attribute) -> str:
    """The client class a method is taken from: ``cluster.core.x`` (a ``Cluster`` property) or
    ``client.CoreV1Api(api).x``."""
    value = node.value
    if isinstance(value, ast.Attribute) and value.attr in CLUSTER_APIS:
        return CLUSTER_APIS[value.attr]
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr.endswith("Api"):
        return value.func.attr
    raise AssertionError(f"line {node.lineno}: {node.attr} on {ast.unparse(value)}: take client methods from a "
                         f"Cluster property or client.<Api>(...) so that this test can tell their API group")


def scan() -> dict[tuple[str, str], list[tuple[ast.Attribute, ast.Call | None, bool]]]:
    """(module, method) -> each use: the attribute, the call it is the function of (None: passed on), and
    whether it is streamed by a watch."""
    uses: dict[tuple[str, str], list] = {}
    for path in sorted(CLUSTER.glob("*.py")):
        tree = ast.parse(path.read_text())
        called = {id(n.func): n for n in ast.walk(tree) if isinstance(n, ast.Call)}
        watched = {id(n.args[0]) for n in ast.walk(tree) if isinstance(n, ast.Call) and n.args
                   and isinstance(n.func, ast.Attribute) and n.func.attr == "stream"}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ENDPOINTS:
                uses.setdefault((path.stem, node.attr), []).append((node, called.get(id(node)), id(node) in watched))
    return uses


USES = scan()


def _crd_plurals() -> dict[tuple[str, str], str]:
    """(group, plural) -> scope, from the real CRDs we ship."""
    found = {}
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        found[(crd["spec"]["group"], crd["spec"]["names"]["plural"])] = crd["spec"]["scope"]
    return found


def _typed_resource(method: str, cls: str) -> tuple[str, str]:
    """(group, resource) of a typed method: ``read_namespaced_pod`` -> ("", "pods"),
    ``connect_get_namespaced_pod_exec`` -> ("", "pods/exec")."""
    assert cls in GROUPS, f"{method} of {cls}: add its API group to GROUPS"
    name = re.sub(r"^(connect_(get|post)_|[a-z]+_)", "", method)
    name = name.replace("namespaced_", "").replace("_for_all_namespaces", "")
    sub = "/exec" if name.endswith("_exec") else ""
    base = name.removesuffix("_exec")
    return GROUPS[cls], base.replace("_", "") + "s" + sub


def derived(module: str, method: str) -> set[rbac.Permission]:
    """The permissions a (module, method) needs, from the method and how the module uses it."""
    if method in NON_RESOURCE:
        return set()
    uses = USES[(module, method)]
    classes = {receiver(node) for node, _, _ in uses}
    assert len(classes) == 1, f"{module}.{method} is taken from several client classes: {classes}"
    cls = classes.pop()
    if cls == "CustomObjectsApi":
        return _custom_permissions(module, method, VERBS[method.split("_", 1)[0]])
    if method.startswith("connect_"):  # exec over a WebSocket: get, and create (Kubernetes >= 1.35)
        group, resource = _typed_resource(method, cls)
        return {(group, resource, "get"), (group, resource, "create")}
    group, resource = _typed_resource(method, cls)
    verb = VERBS[method.split("_", 1)[0]]
    watched = any(streamed for _, _, streamed in uses)
    return {(group, resource, verb)} | ({(group, resource, "watch")} if watched else set())


def _custom_permissions(module: str, method: str, verb: str) -> set[rbac.Permission]:
    """Custom-object calls name group and plural as arguments; where those are local variables (the
    target creates whatever the manifests hold) the table's entry must be a CRD of the right scope."""
    constants = _module_constants(CLUSTER / f"{module}.py")
    plural_at = 2 if "cluster_custom_object" in method else 3
    scope = "Cluster" if "cluster_custom_object" in method else "Namespaced"
    found = set()
    for _, call, _ in USES[(module, method)]:
        args = _args(call, constants)
        if args and len(args) > plural_at and args[0] is not None and args[plural_at] is not None:
            found.add((args[0], args[plural_at], verb))
        else:
            table = set(rbac.CALLS[(module, method)])
            crds = _crd_plurals()
            assert all(crds.get((g, r)) == scope and v == verb for g, r, v in table), (module, method, table)
            found |= table
    return found


def test_every_client_call_of_the_cluster_code_is_in_the_table_and_every_entry_is_still_made():
    made, listed = set(USES), set(rbac.CALLS)
    assert not made - listed, f"client calls without their RBAC in cluster/rbac.py CALLS: {sorted(made - listed)}"
    assert not listed - made, f"CALLS entries whose call the cluster code no longer makes: {sorted(listed - made)}"


@pytest.mark.parametrize("key", sorted(rbac.CALLS), ids=lambda key: f"{key[0]}.{key[1]}")
def test_each_entry_grants_exactly_what_its_call_needs(key):
    if key not in USES:
        pytest.skip("not made (the test above fails)")
    assert set(rbac.CALLS[key]) == derived(*key)


def test_the_rules_are_the_union_of_the_calls_one_rule_per_resource():
    granted = {(rule["apiGroups"][0], rule["resources"][0], verb) for rule in rbac.RULES for verb in rule["verbs"]}
    assert granted == rbac.permissions()
    assert all(len(r["apiGroups"]) == len(r["resources"]) == 1 for r in rbac.RULES)
    assert not any("*" in v for r in rbac.RULES for v in r["verbs"] + r["resources"])


def test_the_kube_labs_run_user_has_exactly_the_rules():
    from macvlan_conformance.controlplane import bootstrap
    assert bootstrap.RUN_RULES == rbac.RULES


def test_the_readme_lists_the_same_rules():
    """README "Live cluster target", the table after "RBAC a run needs": API group, resource, verbs."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("RBAC a run needs"):].split("\n\n")[1]
    rows = re.findall(r"^\| `([^`]*)` \| `([^`]+)` \| ([^|]+) \|$", table, re.M)
    listed = {(group if group != "core" else "", resource, verb.strip().strip("`"))
              for group, resource, verbs in rows for verb in verbs.split(",")}
    assert listed == rbac.permissions()

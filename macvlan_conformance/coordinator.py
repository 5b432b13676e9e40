"""What Spiderpool's coordinator does to a pod, derived from the topology alone (no network is touched).

The coordinator is the CNI plugin Spiderpool chains after macvlan (``SpiderMultusConfig.enableCoordinator``,
on by default). Read at spidernet-io/spiderpool ``cmd/coordinator/cmd`` (``command_add.go`` ``CmdAdd``,
``utils.go``, ``cni_types.go`` ``ParseConfig``; v1.0.3-146-ga7fbd3b29):

- The mode of one NIC (``coordinatorModeAndFirstInvoke``, ``autoModeToSpecificMode``): ``auto`` is underlay
  for the pod's first NIC (``podDefaultCniNic``, ``eth0``) or when ``veth0`` exists already, else overlay.
- underlay, first NIC: a veth pair ``veth0`` (pod) / ``veth<container id[:11]>`` (node); the node's addresses
  as /32 routes via ``veth0`` (main table and table 101); the overlay pod CIDR, the service CIDR and
  ``hijackCIDR`` via the first node address on ``veth0``; on the node ``ip rule from all lookup 500 pref 1000``
  and the pod's address via the host veth in table 500; static neighbours both ways; replies to connections
  that came in on ``veth0`` leave through it (fwmark 0x1, table 100).
- underlay, a later NIC: needs ``veth0`` ("... was not created by previous interface"); its routes go to table
  ``len(up links) + 98`` with ``ip rule from <its address> lookup`` that table (``tunePodRoutes``).
- overlay (the macvlan NIC is an extra NIC of an overlay pod): refused on the first NIC and when ``veth0``
  exists; the node's addresses and hijacked CIDRs via eth0; the NIC's routes to table ``99 + len(up links)``,
  eth0's default route copied to table 100 for eth0's address.
- ``disabled`` in the topology: the plugin does nothing (the NAD says ``disable``, the plugin's spelling; a NAD
  that says ``disabled``, the CRD's, fails every ADD with ``unknown tuneMode: disabled``).

Only the explicit modes refuse the multus-underlay mixes, and the refusals are the plugin's errors, so a pod
is "refused by the rule" only when its sandbox error carries one of ``REFUSAL_MARKERS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the coordinator stand-in imports this module as a CNI plugin: keep it light
    from .topology import Attachment

FIRST_NIC = "eth0"          # cni_types.go: podDefaultCniNic defaults to defaultOverlayVethName
VETH = "veth0"              # defaultUnderlayVethName
POD_RULE_TABLE = 100        # defaultPodRuleTable
HOST_RULE_TABLE = 500       # ParseConfig: hostRuleTable defaults to 500
HOST_RULE_PRIORITY = 1000   # defaultHostRulePriority

# The errors coordinatorModeAndFirstInvoke returns for the multus-underlay mixes (fragments quoted verbatim).
UNDERLAY_AFTER_OVERLAY = "was not created by previous interface"
OVERLAY_FIRST = "in overlay mode, it detects that the current interface is first interface"
OVERLAY_AFTER_UNDERLAY = "of underlay mode exists"
REFUSAL_MARKERS = (UNDERLAY_AFTER_OVERLAY, OVERLAY_FIRST, OVERLAY_AFTER_UNDERLAY)


class CoordinatorRefusal(ValueError):
    """The coordinator's ADD fails for this NIC: ``str()`` is its error, as the plugin words it."""


@dataclass(frozen=True)
class NicPlan:
    """What the coordinator does for one NIC: its resolved mode, whether it is the first invocation of the pod
    (the one that sets veth0 or the node routes up in the main table), and the policy routing table of its
    routes (None where they stay in the main table)."""

    ifname: str
    mode: str               # underlay | overlay
    first: bool
    table: int | None


def mode_of(att: Attachment) -> str | None:
    """The network's configured mode (auto, underlay, overlay), or None without a coordinator or when disabled."""
    coordinator = att.network.coordinator if att.network is not None else None
    if coordinator is None or coordinator.mode == "disabled":
        return None
    return coordinator.mode


def resolve_nic(mode: str, ifname: str, veth_exists: bool, up_links: int, first_nic: str = FIRST_NIC) -> NicPlan:
    """One NIC's plan from what the coordinator sees when it runs for it: its configured mode (auto, underlay,
    overlay), whether ``veth0`` exists, and the pod's up links other than lo (this NIC included). Raises
    ``CoordinatorRefusal`` with the plugin's error (``utils.go`` ``coordinatorModeAndFirstInvoke``)."""
    first_nic_now = ifname == first_nic
    if mode == "auto":
        mode = "underlay" if first_nic_now or veth_exists else "overlay"
    if mode == "underlay":
        if not first_nic_now and not veth_exists:
            raise CoordinatorRefusal(
                f"when creating interface {ifname} in underlay mode, it detects that the auxiliary interface "
                f"{first_nic} {UNDERLAY_AFTER_OVERLAY}. please enable coordinator plugin in previous interface")
        # keep table 100 for eth0, the first non-eth0 NIC is table 101; later ones count the up links
        return NicPlan(ifname, mode, first_nic_now, POD_RULE_TABLE + 1 if first_nic_now else up_links + 98)
    if mode != "overlay":
        raise CoordinatorRefusal(f"unknown tuneMode: {mode}")
    if first_nic_now:
        raise CoordinatorRefusal(
            f"when creating interface {ifname} {OVERLAY_FIRST} named {first_nic}, this plugin should not work "
            f"for it. please modify in the CNI configuration")
    if veth_exists:
        raise CoordinatorRefusal(
            f"when creating interface {ifname} in overlay mode, it detects that the auxiliary interface {VETH} "
            f"{OVERLAY_AFTER_UNDERLAY}. It seems that the previous interface work in underlay mode. ")
    first = up_links == 2  # eth0 and this NIC
    return NicPlan(ifname, mode, first, POD_RULE_TABLE + 1 if first else 99 + up_links)


def plan(attachments: list[Attachment]) -> list[NicPlan | None]:
    """Per attachment, in the order Multus adds them, the coordinator's plan (None where none runs). Raises
    ``CoordinatorRefusal`` with the plugin's message for the NIC whose ADD it fails."""
    plans: list[NicPlan | None] = []
    veth = False
    up_links = 0  # up links other than lo when the coordinator of a NIC runs (the NIC itself included)
    for i, att in enumerate(attachments):
        up_links += 1
        mode = mode_of(att)
        nic_plan = resolve_nic(mode, att.ifname, veth, up_links) if mode is not None else None
        if nic_plan is not None and nic_plan.mode == "underlay" and nic_plan.first:
            veth, up_links = True, up_links + 1
        _check_default_route_nic(att, nic_plan, attachments[:i + 1], veth)
        plans.append(nic_plan)
    return plans


def _check_default_route_nic(att: Attachment, nic_plan: NicPlan | None, added: list[Attachment], veth: bool) -> None:
    """tunePodRoutes refuses a podDefaultRouteNIC the pod does not have (once a NIC holds a default route)."""
    tuned = nic_plan is not None and not (nic_plan.mode == "underlay" and nic_plan.first)
    if not tuned or not att.network.coordinator.tune_pod_routes:
        return
    wanted = att.network.coordinator.pod_default_route_nic
    names = {a.ifname for a in added} | ({VETH} if veth else set())
    if wanted and wanted not in names and any(a.default_route for a in added[:-1]):
        raise CoordinatorRefusal(f"failed to tunePodRoutes: podDefaultRouteNIC: {wanted} don't exist in pod")


def refusal(attachments: list[Attachment]) -> str | None:
    """The coordinator's error for this pod, or None when every NIC's coordinator (if any) succeeds."""
    try:
        plan(attachments)
    except CoordinatorRefusal as exc:
        return str(exc)
    return None


def has_veth(attachments: list[Attachment]) -> bool:
    """Whether the pod gets ``veth0`` (its first NIC runs the coordinator in underlay mode)."""
    try:
        plans = plan(attachments)
    except CoordinatorRefusal:
        return False
    return any(p is not None and p.mode == "underlay" and p.first for p in plans)


def route_tables(attachments: list[Attachment]) -> dict[str, int | None]:
    """Where each NIC's default route (if its IPAM gave one) ends up: None for the main table, else the policy
    routing table the coordinator moved it to (``tunePodRoutes``, run for every NIC but an underlay first one;
    other routes are copied there and stay in main). The NIC holding the main default route keeps it unless
    ``podDefaultRouteNIC`` names another NIC: then the holder's routes move to the added NIC's table, and the
    added NIC keeps its own in main (upstream does so whichever NIC is named; ``utils.go`` ``tunePodRoutes``,
    ``route.go`` ``GetDefaultRouteInterface``, ``MoveRouteTable``)."""
    tables: dict[str, int | None] = {a.ifname: None for a in attachments}
    holder: str | None = None
    for att, nic_plan in zip(attachments, plan(attachments)):
        tunes = nic_plan is not None and not (nic_plan.mode == "underlay" and nic_plan.first) \
            and att.network.coordinator.tune_pod_routes
        if tunes and holder is not None:
            wanted = att.network.coordinator.pod_default_route_nic
            if wanted and wanted != holder:  # the holder's routes move (upstream, whichever NIC is named)
                tables[holder] = nic_plan.table
                holder = att.ifname if wanted == att.ifname and att.default_route else None
                continue
            tables[att.ifname] = nic_plan.table
            continue
        if holder is None and att.default_route:
            holder = att.ifname
    return tables


def default_route_nic(attachments: list[Attachment]) -> str | None:
    """The NIC whose default route is in the main table: the pod's one default route."""
    tables = route_tables(attachments)
    return next((a.ifname for a in attachments if a.default_route and tables[a.ifname] is None), None)

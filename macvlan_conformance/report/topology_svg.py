"""Draw the topology (switch with vlanifs, nodes with bonds and VLAN masters, pods with their NICs) as an
inline SVG, from the topology and facts sections of results.json. No external resources. Gateways and pod
addresses of both families are shown where present (an IPv6 one on a line of its own beside an IPv4 one)."""

from __future__ import annotations

from html import escape

LINE = 11                         # the height of an extra line of small text in a chip
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
OVERLAY = "#7f7f7f"


def vlan_colours(topology: dict) -> dict[int, str]:
    return {v["id"]: PALETTE[i % len(PALETTE)] for i, v in enumerate(topology["vlans"])}


def _label(vlan: dict) -> str:
    return vlan.get("name") or f"vlan{vlan['id']}"


def _gateway_lines(vlan: dict, mac: str) -> list[str]:
    """The text lines of a vlanif chip below its name: the gateway(s), IPv4 first, then the MAC."""
    gateways = [str(g) for g in (vlan.get("gateway"), vlan.get("gateway6")) if g]
    return [f"{gateways[0] if gateways else ''} {mac}"] + gateways[1:]


def _pod_nics(topology: dict, facts: dict, pod: dict) -> list[tuple[str, int | None, list[str]]]:
    """(ifname, vlan id or None for the overlay, text lines: ifname and first address, then any IPv6 address
    beside an IPv4 one) of a pod, from the recorded facts (``ipv6`` is absent before dual stack)."""
    nics = []
    for key, fact in (facts.get("endpoints") or {}).items():
        name, ifname = key.split("/", 1)
        if name == pod["name"]:
            addresses = [a for a in (fact.get("ip"), fact.get("ipv6")) if a] or [""]
            nics.append((ifname, fact.get("vlan"), [f"{ifname} {addresses[0]}"] + addresses[1:]))
    return sorted(nics)


def render(topology: dict, facts: dict) -> str:
    colours = vlan_colours(topology)
    vlans = {v["id"]: v for v in topology["vlans"]}
    native = (topology.get("switch") or {}).get("nativeVlan")
    nodes = topology["nodes"]
    pods_by_node = {n["name"]: [p for p in topology.get("pods", []) if p["node"] == n["name"]] for n in nodes}
    nics = {p["name"]: _pod_nics(topology, facts, p) for p in topology.get("pods", [])}
    nic_extra = max((len(lines) - 1 for own in nics.values() for _, _, lines in own), default=0)
    gateways = {v["id"]: _gateway_lines(v, (facts.get("gateway_macs") or {}).get(str(v["id"])) or "")
                for v in topology["vlans"]}
    gw_extra = max((len(lines) - 1 for lines in gateways.values()), default=0)
    node_w, gap, pod_h = 300, 30, 44 + nic_extra * LINE
    width = max(len(nodes) * (node_w + gap) + gap, 640)
    tallest = max((len(p) for p in pods_by_node.values()), default=0)
    height = 330 + tallest * (pod_h + 8)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'role="img" aria-label="topology" class="topology">',
           '<style>text{font:12px sans-serif}.small{font-size:10px}.title{font-weight:bold}</style>']
    # the switch with a vlanif chip per VLAN
    sw_w = min(width - 2 * gap, 40 + 190 * len(vlans))
    sw_x = (width - sw_w) / 2
    sw_bottom = 80 + gw_extra * LINE
    out.append(f'<rect x="{sw_x}" y="10" width="{sw_w}" height="{sw_bottom - 10}" rx="8" fill="#f4f4f4" stroke="#333"/>')
    out.append(f'<text x="{sw_x + 10}" y="28" class="title">switch (trunk, routes between VLANs)</text>')
    for i, vlan in enumerate(topology["vlans"]):
        x = sw_x + 10 + i * 190
        tag = " native" if vlan["id"] == native else ""
        out.append(f'<rect x="{x}" y="38" width="180" height="{34 + gw_extra * LINE}" rx="4" '
                   f'fill="{colours[vlan["id"]]}" opacity="0.85"/>')
        out.append(f'<text x="{x + 5}" y="52" fill="#fff">vlanif{vlan["id"]} {escape(_label(vlan))}{tag}</text>')
        for l_index, line in enumerate(gateways[vlan["id"]]):
            out.append(f'<text x="{x + 5}" y="{66 + l_index * LINE}" fill="#fff" class="small">{escape(line)}</text>')
    # nodes: bond members wired to the switch, masters per VLAN, pods below
    for n_index, node in enumerate(nodes):
        x = gap + n_index * (node_w + gap)
        y = 140
        members = node["bond"]["members"]
        for m_index, member in enumerate(members):
            mx = x + 40 + m_index * 110
            out.append(f'<line x1="{mx + 30}" y1="{y}" x2="{sw_x + sw_w / 2}" y2="{sw_bottom}" stroke="#555"/>')
            out.append(f'<text x="{mx}" y="{y - 6}" class="small">{escape(member)}</text>')
        bond = node["bond"]["name"]
        out.append(f'<rect x="{x}" y="{y}" width="{node_w}" height="110" rx="8" fill="#fff" stroke="#333"/>')
        out.append(f'<text x="{x + 10}" y="{y + 18}" class="title">{escape(node["name"])}</text>')
        out.append(f'<text x="{x + 10}" y="{y + 34}" class="small">{escape(bond)} ({escape(node["bond"]["mode"])}) '
                   f'over {escape(", ".join(members))}; node IP {escape(str(node["ip"]))}</text>')
        masters = [(native, bond)] + [(vid, f"{bond}.{vid}") for vid in node.get("vlans", [])]
        for k, (vid, master) in enumerate(masters):
            mx = x + 10 + k * 95
            colour = colours.get(vid, OVERLAY)
            out.append(f'<rect x="{mx}" y="{y + 46}" width="88" height="22" rx="4" fill="{colour}" opacity="0.85"/>')
            out.append(f'<text x="{mx + 5}" y="{y + 61}" fill="#fff" class="small">{escape(master)}</text>')
        out.append(f'<text x="{x + 10}" y="{y + 92}" class="small">overlay: {escape(topology["overlay"]["name"])}</text>')
        for p_index, pod in enumerate(pods_by_node[node["name"]]):
            py = y + 125 + p_index * (pod_h + 8)
            out.append(f'<rect x="{x}" y="{py}" width="{node_w}" height="{pod_h}" rx="6" fill="#fafafa" stroke="#999"/>')
            out.append(f'<text x="{x + 8}" y="{py + 16}">{escape(pod["name"])}</text>')
            for c_index, (ifname, vid, lines) in enumerate(nics[pod["name"]]):
                cx = x + 8 + c_index * 145
                colour = colours.get(vid, OVERLAY) if vid is not None else OVERLAY
                out.append(f'<rect x="{cx}" y="{py + 22}" width="140" height="{17 + (len(lines) - 1) * LINE}" '
                           f'rx="3" fill="{colour}" opacity="0.85"/>')
                for l_index, line in enumerate(lines):
                    out.append(f'<text x="{cx + 4}" y="{py + 35 + l_index * LINE}" fill="#fff" '
                               f'class="small">{escape(line)}</text>')
    out.append("</svg>")
    return "\n".join(out)

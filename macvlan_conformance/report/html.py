"""The self-contained HTML report (one file, no network access needed to view it), from results.json."""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from . import results as res
from .baseline import Comparison
from .topology_svg import render as render_topology

SYMBOLS = {"passed": ("✓", "pass"), "flaky": ("~", "flaky"), "failed": ("✗", "fail")}


def render(results: dict, history: list[dict] | None = None, comparison: Comparison | None = None,
           selftest: dict | None = None) -> str:
    env = Environment(loader=PackageLoader("macvlan_conformance.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    env.filters["pretty"] = lambda value: json.dumps(value, indent=1, sort_keys=True, default=str)
    topology = results.get("topology")
    return env.get_template("conformance.html.j2").render(
        run=results["run"], summary=results.get("summary", {}), areas=res.area_summary(results),
        failures=[(i, r) for i, r in enumerate(results["checks"]) if r["outcome"] == "failed"],
        flaky=[(i, r) for i, r in enumerate(results["checks"]) if r["outcome"] == "flaky"],
        matrices=res.matrices(results), records=list(enumerate(results["checks"])), symbols=SYMBOLS,
        not_applicable=results.get("not_applicable", []),
        topology_svg=render_topology(topology, results.get("facts") or {}) if topology else "",
        history=history or [], comparison=comparison, selftest=selftest,
        area_of=res.area)


def write(results: dict, path: str | Path, **kwargs) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(results, **kwargs))
    return path

"""The self-contained HTML report (one file, no network access needed to view it), from results.json."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from .. import diagnosis, json_files
from . import history as history_of
from . import results as res
from .baseline import Comparison
from .topology_svg import render as render_topology

SYMBOLS = {"passed": ("✓", "pass"), "flaky": ("~", "flaky"), "failed": ("✗", "fail"), "skipped": ("–", "na")}


def render(results: dict, history: list[dict] | None = None, comparison: Comparison | None = None,
           selftest: dict | None = None) -> str:
    env = Environment(loader=PackageLoader("macvlan_conformance.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    env.filters["pretty"] = lambda value: json.dumps(value, indent=1, sort_keys=True, default=str)
    matrices = res.matrices(results)
    return env.get_template("conformance.html.j2").render(
        run=results["run"], summary=results.get("summary", {}), areas=res.area_summary(results),
        failures=[(i, r) for i, r in enumerate(results["checks"]) if r["outcome"] == "failed"],
        flaky=[(i, r) for i, r in enumerate(results["checks"]) if r["outcome"] == "flaky"],
        matrices=matrices, pairs=res.vlan_pairs(matrices), by_check=res.by_check(results), symbols=SYMBOLS,
        not_applicable=results.get("not_applicable", []),
        topology_svg=_topology_svg(results), history=trend(history or []), comparison=comparison,
        selftest=selftest, interrupted=bool(results["run"].get("interrupted")),
        area_of=res.area, diagnosis=diagnosis_groups(results), family_tag=res.family_tag, named=res.named)


def diagnosis_groups(results: dict) -> dict | None:
    """The likely causes (the file's own diagnosis, or computed for files written before it existed), each
    with the failures it explains, and the failures none explains; None when nothing failed."""
    failed = [(i, r) for i, r in enumerate(results["checks"]) if r["outcome"] == "failed"]
    if not failed:
        return None
    try:
        causes = diagnosis.for_results(results)
    except Exception as exc:  # a diagnosis that cannot be made never costs the page
        causes, error = [], f"{type(exc).__name__}: {str(exc)[:200]}"
    else:
        error = None
    by_nodeid = {r["nodeid"]: (i, r) for i, r in failed}
    groups = [{"number": n, "cause": c["cause"], "place": c["place"], "where": diagnosis.describe(c["place"]),
               "fields": {k: v for k, v in c["place"].items() if k != "kind"}, "evidence": c["evidence"],
               "failures": [by_nodeid[x] for x in c.get("explains", []) if x in by_nodeid]}
              for n, c in enumerate(causes, 1)]
    explained = {x for c in causes for x in c.get("explains", [])}
    return {"causes": groups, "unexplained": [(i, r) for i, r in failed if r["nodeid"] not in explained],
            "error": error}


def trend(history: list) -> list[dict]:
    """The history entries the trend can show: any other entry is left out, never fatal to the page."""
    return [h for h in history if history_of.invalid(h) is None]


def _topology_svg(results: dict) -> str:
    """The topology drawn; a topology section this version cannot draw is said so, not fatal."""
    topology = results.get("topology")
    if not topology:
        return ""
    try:
        return render_topology(topology, results.get("facts") or {})
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        why = escape(f"{type(exc).__name__}: {str(exc)[:200]}")
        return f"<p>The topology section of these results cannot be drawn ({why}).</p>"


def write(results: dict, path: str | Path, **kwargs) -> Path:
    """Render and write the page whole (a reader never sees half a page)."""
    return json_files.write_text(path, render(results, **kwargs))

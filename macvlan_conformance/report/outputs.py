"""Where a run's results go. A complete run replaces results.json and the HTML report and adds a history
line; an interrupted run (Ctrl-C, SIGTERM) writes its partial results beside them
(``<results stem>.interrupted.json``, ``<html stem>.interrupted.html``) and touches nothing else, so that
the last complete run's report, the baseline one keeps for an upgrade, survives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Outputs:
    results: Path
    html: Path
    history: Path | None           # None: this run adds no history line
    interrupted: bool
    complete_results: Path         # the last complete run's files (replaced only by a complete run)
    complete_html: Path

    @property
    def stale(self) -> list[Path]:
        """Partial results of an earlier interrupted run, which a complete run removes."""
        if self.interrupted:
            return []
        return [partial(self.complete_results, ".json"), partial(self.complete_html, ".html")]


def partial(path: Path, suffix: str) -> Path:
    """The sibling of ``path`` holding an interrupted run's partial output: ``results.interrupted.json``."""
    return path.with_name(f"{path.stem}.interrupted{suffix}")


def plan(results: str | Path, html: str | Path, history: str | Path, interrupted: bool) -> Outputs:
    """The files a run writes: its own (complete) or the partial siblings (interrupted, no history)."""
    results, html = Path(results), Path(html)
    if interrupted:
        return Outputs(partial(results, ".json"), partial(html, ".html"), None, True, results, html)
    return Outputs(results, html, Path(history), False, results, html)


def interrupted_line(outputs: Outputs) -> str:
    """The one line telling an interrupted run's user where its results went and what was kept."""
    kept = [str(p) for p in (outputs.complete_results, outputs.complete_html) if p.exists()]
    previous = (f"the previous report {' and '.join(kept)} {'is' if len(kept) == 1 else 'are'} untouched" if kept
                else f"no complete run's report at {outputs.complete_results} yet")
    return f"interrupted: partial results in {outputs.results} (report {outputs.html}); {previous}"


def remove_stale(outputs: Outputs) -> list[Path]:
    """Remove an earlier interrupted run's partial files once a complete run replaced them; those removed."""
    removed = [p for p in outputs.stale if p.is_file()]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed

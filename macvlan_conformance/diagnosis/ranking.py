"""Rank the places: which one explains the most failures while the passes through it do not contradict it.

Every place is a candidate. Its *failures* are the failed results that bear on it, its *contradictions*
the passed results that bear on it (a place that is broken cannot carry a pass). A place's score is
``failures - 2 x contradictions``; the best place becomes a cause, its failures count as explained, and
the ranking starts over on the failures left, until all are explained or no place explains any of them
without being contradicted more than it is supported: those failures are left unexplained, and said so.
Between places that score the same, the one the records name themselves wins (a drill that found its
member down), then the most specific (the fewest results through it), then ``places.preference``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from . import places
from .observations import Observation
from .paths import Paths, Token
from .rules import bearing, direct

CONTRADICTION_WEIGHT = 2
MAX_CAUSES = 8


@dataclass
class Candidate:
    token: Token
    failures: list[Observation]
    passes: list[Observation]

    def explained(self, remaining: set[int]) -> list[Observation]:
        return [o for o in self.failures if o.index in remaining]

    def score(self, remaining: set[int]) -> int:
        return len(self.explained(remaining)) - CONTRADICTION_WEIGHT * len(self.passes)


@dataclass
class Cause:
    candidate: Candidate
    explained: list[Observation]
    ties: list[Candidate]       # places that explain the same failures just as well (only the preference differs)


def candidates(observations: list[Observation], paths: Paths) -> dict[Token, Candidate]:
    """Every place some result bears on, with its failures and passes."""
    found: dict[Token, Candidate] = {}
    for obs in observations:
        for token in bearing(obs, paths):
            candidate = found.setdefault(token, Candidate(token, [], []))
            (candidate.failures if obs.failed else candidate.passes).append(obs)
    return found


def rank(observations: list[Observation], paths: Paths) -> list[Cause]:
    """The causes, most likely first, each with the failures it explains."""
    found = candidates(observations, paths)
    remaining = {o.index for o in observations if o.failed}
    named: dict[Token, int] = Counter(t for o in observations for t in direct(o))

    def key(c: Candidate) -> tuple:
        return (c.score(remaining), named.get(c.token, 0), -(len(c.failures) + len(c.passes)))

    causes = []
    while remaining and len(causes) < MAX_CAUSES:
        scored = [c for c in found.values() if c.explained(remaining) and c.score(remaining) > 0]
        if not scored:
            break
        best = max(scored, key=lambda c: (*key(c), *(-rank for rank in places.preference(c.token))))
        explained = best.explained(remaining)
        ties = [c for c in scored if c is not best and key(c) == key(best) and c.explained(remaining) == explained]
        causes.append(Cause(best, explained, ties))
        remaining -= {o.index for o in explained}
    return causes


def evidence(candidate: Candidate, explained: list[Observation], observations: list[Observation],
             where: str, also: list[str] = ()) -> str:
    """Counts and examples: the failures through the place, the passes through it (if any), the passes of
    the same endpoints that do not cross it, and the places (``also``) that explain them just as well."""
    total = len(candidate.failures) + len(candidate.passes)
    if total == 1:
        text = f"the only check through {where} fails"
    elif not candidate.passes:
        text = f"all {total} checks through {where} fail"
    else:
        text = f"{len(candidate.failures)} of {total} checks through {where} fail"
    text += f" ({_counts(o.check for o in explained)}; observed {_counts(o.observed for o in explained)})"
    text += f", e.g. {explained[0].label}: {explained[0].observed}"
    named = [o for o in explained if candidate.token in direct(o)]
    if named:
        detail = named[0].record.get("detail") or ""
        text += f"; {_plural(len(named), 'of them names', 'of them name')} it: {detail[:160]}"
    if len(explained) < len(candidate.failures):
        text += f"; {len(candidate.failures) - len(explained)} of them explained by an earlier cause"
    if candidate.passes:
        text += f"; {_plural(len(candidate.passes), 'through it passes', 'through it pass')}, e.g. " \
                f"{candidate.passes[0].label}"
    contrast = _contrast(candidate, explained, observations)
    if contrast:
        text += f"; the {_plural(len(contrast), 'other check', 'other checks')} of the same endpoints " \
                f"{'passes' if len(contrast) == 1 else 'pass'} ({_counts(o.check for o in contrast)})"
    if also:
        text += f"; {', '.join(also[:3])} would explain them just as well"
    return text


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _contrast(candidate: Candidate, explained: list[Observation], observations: list[Observation]):
    through = {o.index for o in candidate.passes}
    keys = set().union(*(_keys(o) for o in explained))
    return [o for o in observations if o.passed and o.index not in through and _keys(o) & keys]


def _keys(obs: Observation) -> set[str]:
    case = obs.case
    if case is None:
        return {obs.pod} if obs.pod else set()
    keys = {case.src.key}
    if case.dst is not None:
        keys.add(case.dst.key)
    return keys


def _counts(values, limit: int = 4) -> str:
    counts = Counter(v or "?" for v in values).most_common()
    text = ", ".join(f"{k} {n}" for k, n in counts[:limit])
    return text + (f", {len(counts) - limit} more" if len(counts) > limit else "")


def unexplained_summary(observations: list[Observation], explained: set[int]) -> dict[str, list[Observation]]:
    """The failures no cause explains, by check."""
    left = defaultdict(list)
    for obs in observations:
        if obs.failed and obs.index not in explained:
            left[obs.check or "?"].append(obs)
    return dict(left)

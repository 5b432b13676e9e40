"""What a probe saw of one case: the verdict its evidence was classified into, with that evidence."""

from __future__ import annotations

from dataclasses import dataclass, field

from .verdicts import Verdict


@dataclass
class Observation:
    verdict: Verdict
    evidence: dict = field(default_factory=dict)
    attempts: int = 1
    control: Verdict | None = None
    control_evidence: dict | None = None
    reproducer: str = ""
    detail: str = ""
    not_checked: list[str] = field(default_factory=list)  # parts the target could not observe, and why

    @property
    def flaky(self) -> bool:
        return self.attempts > 1

    def to_dict(self) -> dict:
        return {"verdict": self.verdict.value, "evidence": self.evidence, "attempts": self.attempts,
                "control": self.control.value if self.control else None, "control_evidence": self.control_evidence,
                "reproducer": self.reproducer, "detail": self.detail, "not_checked": self.not_checked}

    @classmethod
    def from_dict(cls, data: dict) -> "Observation":
        return cls(Verdict(data["verdict"]), data["evidence"], data["attempts"],
                   Verdict(data["control"]) if data["control"] else None, data["control_evidence"],
                   data["reproducer"], data["detail"], data.get("not_checked", []))


NEGATIVE = {Verdict.BLOCKED, Verdict.NO_ARP_REPLY, Verdict.NOT_SEEN}

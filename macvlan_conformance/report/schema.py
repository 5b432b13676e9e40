"""The schema of results.json and of history.jsonl lines, as this version writes and reads them.

``schema_version`` 1 is the first versioned schema; files without it (written before it existed) are
version 0 and are read when they are otherwise valid: they have the same shape. A reader refuses a file of
a newer version than ``SCHEMA_VERSION`` (written by a newer macvlan-conformance). Every field a reader
uses is typed; anything else a record carries is kept as it is (``extra="allow"``).

An optional key added later does not change the version: a file without it is still version 1 (readers
derive what is missing, as ``report`` recomputes ``diagnosis``), and a version-1 reader that predates the
key keeps it as an extra. ``diagnosis`` (the likely causes, ``macvlan_conformance.diagnosis``) is such a key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
OUTCOMES = ("passed", "failed", "flaky", "skipped")  # what the writer records (fixtures/results.py)

Count = Annotated[int, Field(ge=0)]
Text = str | None


class _Lenient(BaseModel):
    """Typed where read, open elsewhere; strict: ``"3"`` is not a number, ``1`` is not true."""

    model_config = ConfigDict(extra="allow", strict=True)


class CheckRecord(_Lenient):
    nodeid: str
    outcome: Literal["passed", "failed", "flaky", "skipped"]
    id: Text                      # a registered check id (checked by the reader), or null
    duration_s: float | None = None
    mode: Text = None
    src: Text = None
    dst: Text = None
    ip_version: Literal[4, 6] | None = None   # the address family a probed case used (absent: 4, or not probed)
    expected: Text = None
    observed: Text = None
    passed: bool | None = None
    attempts: Count | None = None
    control: Text = None
    detail: Text = None
    reproducer: Text = None
    evidence: Any = None
    not_checked: list[str] = Field(default_factory=list)


class Run(_Lenient):
    started: Text = None
    finished: Text = None
    target: Text = None
    topology: Text = None
    topology_path: Text = None
    lab: Text = None
    exitstatus: int | None = None
    matrix: Text = None
    probe_next_hop: Text = None
    matrix_size: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None
    interrupted: bool = False     # the partial results of a run stopped by Ctrl-C or SIGTERM


class Summary(_Lenient):
    passed: Count = 0
    failed: Count = 0
    flaky: Count = 0
    skipped: Count = 0
    total: Count = 0
    not_checked: Count = 0


class Endpoint(_Lenient):
    ip: Text = None
    ipv6: Text = None             # absent in files written before dual stack
    mac: Text = None
    pool: Text = None
    vlan: int | None = None
    mtu: int | None = None


class Facts(_Lenient):
    gateway_macs: dict[str, Text] = Field(default_factory=dict)
    endpoints: dict[str, Endpoint] = Field(default_factory=dict)


class Place(_Lenient):
    kind: str                     # vlanif | node | node-vlan | bond-member | pod-interface | vlan-pair | ...


class Diagnosis(_Lenient):
    cause: str
    place: Place
    evidence: str
    explains: list[str] = Field(default_factory=list)


class Results(_Lenient):
    schema_version: Count = 0
    run: Run
    summary: Summary = Field(default_factory=Summary)
    not_applicable: list[str] = Field(default_factory=list)
    not_applicable_reasons: dict[str, str] = Field(default_factory=dict)
    topology: dict[str, Any] | None = None
    facts: Facts | None = Field(default_factory=Facts)
    checks: list[CheckRecord]
    diagnosis: list[Diagnosis] | None = None   # absent in files written before it existed


class HistorySummary(_Lenient):
    passed: Count
    failed: Count
    flaky: Count
    skipped: Count = 0
    total: Count = 0


class HistoryEntry(_Lenient):
    finished: Text = None
    target: Text = None
    topology: Text = None
    summary: HistorySummary
    areas: dict[str, dict[str, Count]] = Field(default_factory=dict)

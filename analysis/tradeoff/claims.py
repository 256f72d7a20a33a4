"""Claims stated before a study is read, judged from its findings by one rule.

A claim lists the findings it expects (a trend that ``increases``/``decreases``, a comparison in
which ``a`` is ``higher``/``lower`` than ``b``). Rule (:data:`RULE`): **supported** when every
expected finding is shown as expected; **contradicted** when any is shown the other way; **partly
shown** when some are shown as expected and none the other way; **not shown** when none is; **not
tested here** when the study has none of its findings (e.g. a model type it did not train).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields

from analysis.tradeoff.findings import COMPARE, DECREASES, HIGHER, INCREASES, LOWER, TREND, Finding
from analysis.tradeoff.render import estimate_text, finding_record, number, seeds_text

SUPPORTED, CONTRADICTED, PARTLY, NOT_SHOWN, NOT_TESTED = (
    "supported", "contradicted", "partly shown", "not shown", "not tested here")
RULE = ("A claim is supported when every finding it expects is shown as expected (the findings' own rule), "
        "contradicted when any is shown the other way, partly shown when some are shown as expected and none "
        "the other way, not shown when none is, and not tested here when the study has none of its findings.")
OPPOSITE = {INCREASES: DECREASES, DECREASES: INCREASES, HIGHER: LOWER, LOWER: HIGHER}


@dataclass(frozen=True)
class Expect:
    """One finding a claim expects (the keys of tradeoff.json) and the verdict it expects."""

    finding: str
    metric: str
    expect: str
    model_type: str | None = None
    hyperparameter: str | None = None
    a: str | None = None
    b: str | None = None
    matched: str | None = None

    def __post_init__(self):
        kinds = {TREND: (INCREASES, DECREASES), COMPARE: (HIGHER, LOWER)}
        if self.finding not in kinds:
            raise ValueError(f"claims: finding {self.finding!r}: use {TREND} or {COMPARE}")
        if self.expect not in kinds[self.finding]:
            raise ValueError(f"claims: expect {self.expect!r} for a {self.finding}: use one of {kinds[self.finding]}")
        needed = ("model_type", "hyperparameter") if self.finding == TREND else ("a", "b")
        missing = [k for k in needed if not getattr(self, k)]
        if missing:
            raise ValueError(f"claims: a {self.finding} needs {' and '.join(missing)}")

    def label(self) -> str:
        if self.finding == TREND:
            return f"{self.model_type}: {self.metric} {self.expect} with {self.hyperparameter}"
        at = f" at matched {self.matched}" if self.matched else ""
        return f"{self.a} vs {self.b}: {self.metric} {self.expect}{at}"


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    expects: tuple[Expect, ...]


@dataclass
class Judged:
    """A claim, its verdict, and per expectation the finding found (None: not in the study) and
    what it showed: ``as expected``, ``the other way``, ``not shown`` or ``not tested``."""

    claim: Claim
    verdict: str
    evidence: list[tuple[Expect, Finding | None, str]]


def load(path: str) -> list[Claim]:
    """Claims from a YAML file: ``claims: [{id, claim, expects: [{finding, metric, expect, ...}]}]``."""
    import yaml

    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle) or {}
    known = {f.name for f in fields(Expect)}
    claims = []
    for i, item in enumerate(raw.get("claims") or []):
        where = f"claims[{i}] ({item.get('id', '?')})"
        if not item.get("expects"):
            raise ValueError(f"{path}: {where}: no expects (list the findings the claim expects)")
        for e in item["expects"]:
            unknown = set(e) - known
            if unknown:
                raise ValueError(f"{path}: {where}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
        claims.append(Claim(str(item["id"]), str(item.get("claim", "")), tuple(Expect(**e) for e in item["expects"])))
    if not claims:
        raise ValueError(f"{path}: no claims (expected a top-level `claims:` list)")
    return claims


def _match(expect: Expect, findings: list[Finding]) -> tuple[Finding | None, bool]:
    """The finding ``expect`` names and whether its a/b are the other way round."""
    for f in findings:
        if f.finding != expect.finding or f.metric != expect.metric or f.matched != expect.matched:
            continue
        if f.finding == TREND and (f.model_type, f.hyperparameter) == (expect.model_type, expect.hyperparameter):
            return f, False
        if f.finding == COMPARE and {f.a, f.b} == {expect.a, expect.b}:
            return f, f.a != expect.a
    return None, False


def judge(claims: list[Claim], findings: list[Finding]) -> list[Judged]:
    """Each claim's verdict by :data:`RULE`."""
    out = []
    for claim in claims:
        evidence = []
        for expect in claim.expects:
            found, flipped = _match(expect, findings)
            shown = None if found is None else (OPPOSITE.get(found.verdict) if flipped else found.verdict)
            evidence.append((expect, found, "not tested" if found is None else "as expected" if shown == expect.expect
                             else "the other way" if shown == OPPOSITE[expect.expect] else "not shown"))
        out.append(Judged(claim, _verdict([e[2] for e in evidence]), evidence))
    return out


def _verdict(outcomes: list[str]) -> str:
    if all(o == "not tested" for o in outcomes):
        return NOT_TESTED
    if "the other way" in outcomes:
        return CONTRADICTED
    if all(o == "as expected" for o in outcomes):
        return SUPPORTED
    return PARTLY if "as expected" in outcomes else NOT_SHOWN


def _evidence(expect: Expect, found: Finding | None, outcome: str) -> str:
    if found is None:
        return f"{expect.label()}: not in this study"
    what = (f"{found.model_type} {found.metric} {found.unit}" if found.finding == TREND
            else f"{found.metric} {found.unit}")
    return (f"{what}: {estimate_text(found)}, p {number(found.p, 2)}, Holm p {number(found.p_holm, 2)}, "
            f"seeds needed {seeds_text(found)} → {outcome}")


def markdown(judged: list[Judged], level: int = 2) -> list[str]:
    """A claims table: each claim, its verdict, and the evidence of each finding it expects."""
    lines = [f"{'#' * level} Claims", "", RULE, "", "| claim | verdict | evidence (estimate [95% CI], p) |",
             "|---|---|---|"]
    for j in judged:
        evidence = "<br>".join(_evidence(*e) for e in j.evidence)
        lines.append(f"| ({j.claim.id}) {j.claim.text} | **{j.verdict}** | {evidence} |")
    return lines + [""]


def records(judged: list[Judged]) -> list[dict]:
    """claims.json: per claim its id, text, verdict and per expectation the finding's keys,
    estimate, ci, p, p_holm and outcome."""
    return [{"id": j.claim.id, "claim": j.claim.text, "verdict": j.verdict,
             "evidence": [{"expect": e.label(), "outcome": outcome,
                           "finding": finding_record(f) if f is not None else None}
                          for e, f, outcome in j.evidence]} for j in judged]


def write(judged: list[Judged], out_dir: str) -> dict[str, str]:
    """claims.json and claims.md in ``out_dir``; name → path."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {"claims.json": os.path.join(out_dir, "claims.json"), "claims.md": os.path.join(out_dir, "claims.md")}
    with open(paths["claims.json"], "w", encoding="utf-8") as handle:
        json.dump(records(judged), handle, indent=1, ensure_ascii=False)
    with open(paths["claims.md"], "w", encoding="utf-8") as handle:
        handle.write("\n".join(markdown(judged, level=1)))
    return paths

"""Property tests: generated small worlds (tests/worldgen.py) through the real pipeline.

Every example runs `Workspace.ingest` + `analyze` in-process (a few seconds each, mostly Ibis
query compilation), so the number of examples is set by a profile chosen with the environment
variable RAREFLOW_HYPOTHESIS_PROFILE:

- `ci` (default, `make test`): a handful of examples per property, derandomized (the same
  worlds on every run), no shrinking (one shrink step costs a whole pipeline run), no example
  database; about 25 pipeline runs in all;
- `all` (`make test-all`): `ci` with about twice the examples (the former `ci` counts);
- `fuzz` (`make fuzz`): thousands of random examples, with shrinking and the example database.

RAREFLOW_HYPOTHESIS_EXAMPLES=N overrides the number of examples of every property.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from rareflow.workspace import Workspace
from worldgen import CATEGORIES, VIOLATIONS, World, scaled, variants, worlds

PROFILE = os.environ.get("RAREFLOW_HYPOTHESIS_PROFILE", "ci")
_COMMON = {"deadline": None, "suppress_health_check": list(HealthCheck),
           "print_blob": True}
for _name in ("ci", "all"):
    settings.register_profile(
        _name, derandomize=True, database=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate], **_COMMON)
settings.register_profile("fuzz", **_COMMON)
settings.register_profile("dev", derandomize=True, database=None, **_COMMON)  # ci + shrinking
if PROFILE not in ("ci", "all", "fuzz", "dev"):
    raise pytest.UsageError(
        f"RAREFLOW_HYPOTHESIS_PROFILE={PROFILE!r}: use ci, all, fuzz or dev")

# examples per property (~3-4 s per pipeline run; the invariance property runs 7 pipelines per
# example): ci is 26 runs (~1.5 minutes of one core), all 41
EXAMPLES = {
    "ci": {"honest": 4, "invariance": 2, "violation": 2},
    "all": {"honest": 8, "invariance": 3, "violation": 3},
    "dev": {"honest": 8, "invariance": 3, "violation": 3},
    "fuzz": {"honest": 2000, "invariance": 1000, "violation": 500},
}[PROFILE]
if os.environ.get("RAREFLOW_HYPOTHESIS_EXAMPLES"):
    EXAMPLES = dict.fromkeys(EXAMPLES, int(os.environ["RAREFLOW_HYPOTHESIS_EXAMPLES"]))


def profile(kind: str) -> settings:
    return settings(settings.get_profile(PROFILE), max_examples=EXAMPLES[kind])


NOISE = 0.02  # share tolerance against the generator's truth (flows carry +-0.5% noise)
INVARIANT = 0.01  # share tolerance between a world and a transformed copy
FLAG = {"high", "medium"}


@dataclass
class Outcome:
    attribution: pd.DataFrame
    findings: list
    rejects: pd.DataFrame

    def flags(self) -> list:
        return [f for f in self.findings if f.severity in FLAG]

    def rows(self) -> dict[tuple[str, str], dict]:
        out = {}
        for r in self.attribution.to_dict("records"):
            out[(str(r["destination"]), _period(r["period"]))] = r
        return out


def _period(p) -> str:
    s = str(p)
    return s[:-2] if s.endswith(".0") else s


def analyse(world: World) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="rareflow-prop-") as tmp:
        folder = world.write(Path(tmp) / "world")
        ws = Workspace.open(None)
        try:
            ws.ingest(folder)
            res = ws.analyze()
            rejects = ws.rejects()
        finally:
            ws.close()
    attr = res.attribution if res.attribution is not None else pd.DataFrame()
    return Outcome(attr, list(res.findings), rejects)


def _fmt_finding(f) -> str:
    return f"{f.rule}/{f.severity}@{f.subject_type}:{f.subject_id} kg={f.kg}"


def _fmt_row(r: dict) -> str:
    return (f"released {r.get('released_kg')}: "
            + ", ".join(f"{c} {r.get(f'{c}_share')}" for c in CATEGORIES))


def check_truth(world: World, out: Outcome, problems: list[str]) -> None:
    """Attribution against the generator's bookkeeping, shares adding up to 1."""
    rows = out.rows()
    missing = sorted(set(world.expected) - set(rows))
    if missing:
        problems.append(f"attribution lacks rows {missing}; has {sorted(rows)}")
    extra = sorted(set(rows) - set(world.expected))
    if extra:
        problems.append(f"attribution has unexpected rows {extra}")
    for key in sorted(set(world.expected) & set(rows)):
        r = rows[key]
        exp = world.expected_shares(key)
        released = world.expected[key]["released"]
        got_rel = float(r["released_kg"])
        if not math.isclose(got_rel, released, rel_tol=0.005, abs_tol=0.5):
            problems.append(f"{key}: released_kg {got_rel} != expected {released:.3f}")
        total = sum(float(r[f"{c}_share"]) for c in CATEGORIES)
        if abs(total - 1) > 0.005:
            problems.append(f"{key}: the five shares add up to {total:.4f}, not 1")
        for c in CATEGORIES:
            got = float(r[f"{c}_share"])
            if abs(got - exp[c]) > NOISE:
                problems.append(f"{key}: {c}_share {got:.4f}, expected {exp[c]:.4f} "
                                f"(row: {_fmt_row(r)})")


def check_bystanders(world: World, out: Outcome, problems: list[str]) -> None:
    for f in out.flags():
        if f.subject_type == "party" and f.subject_id in world.bystanders:
            problems.append(f"high/medium finding on a party that did nothing wrong: "
                            f"{_fmt_finding(f)}")


def report(world: World, out: Outcome, problems: list[str]) -> None:
    if problems:
        note(world.describe())
        note("attribution:\n" + out.attribution.round(4).to_string())
        note("findings:\n" + "\n".join(_fmt_finding(f) for f in out.findings))
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------ properties
@profile("honest")
@given(world=worlds())
def test_honest_world_is_clean_and_attributed_as_planted(world: World) -> None:
    """An honest world: no row set aside, no high or medium finding, unaccounted within
    measurement noise, every share as the generator planted it, shares adding up to 1."""
    out = analyse(world)
    problems: list[str] = []
    rej = out.rejects
    if len(rej) and "level" in rej.columns:
        rej = rej[rej["level"] == "reject"]
    if len(rej):
        problems.append("rows set aside:\n" + rej.to_string())
    for f in out.flags():
        problems.append(f"high/medium finding on an honest world: {_fmt_finding(f)}")
    for key, r in sorted(out.rows().items()):
        if abs(float(r["unaccounted_share"])) > NOISE:
            problems.append(f"{key}: unaccounted_share {float(r['unaccounted_share']):.4f} "
                            "beyond measurement noise")
    check_truth(world, out, problems)
    report(world, out, problems)


def _compare(base: Outcome, other: Outcome, what: str, problems: list[str],
             factor: float = 1.0) -> None:
    a, b = base.rows(), other.rows()
    if set(a) != set(b):
        problems.append(f"[{what}] attribution rows {sorted(b)} instead of {sorted(a)}")
    for key in sorted(set(a) & set(b)):
        ra, rb = a[key], b[key]
        for c in CATEGORIES:
            sa, sb = float(ra[f"{c}_share"]), float(rb[f"{c}_share"])
            if abs(sa - sb) > INVARIANT:
                problems.append(f"[{what}] {key}: {c}_share {sb:.4f} instead of {sa:.4f}")
        if factor != 1.0:
            scale = abs(float(rb["released_kg"])) or 1.0
            for c in ("released", *CATEGORIES):
                ka, kb = float(ra[f"{c}_kg"]), float(rb[f"{c}_kg"])
                if abs(kb - factor * ka) > INVARIANT * scale:
                    problems.append(f"[{what}] {key}: {c}_kg {kb:.3f} instead of "
                                    f"{factor:g} x {ka:.3f}")


@profile("invariance")
@given(world=worlds())
def test_attribution_invariances(world: World) -> None:
    """Renaming every id, shuffling rows, splitting a flow in two rows, CSV vs Parquet and
    removing every lot link move no share by more than 0.01; doubling every quantity doubles
    every kg column and moves no share. One world, analysed with each transformation."""
    base = analyse(world)
    problems: list[str] = []
    for variant in [*variants(world), scaled(world, 2.0)]:
        out = analyse(variant)
        factor = 2.0 if variant.note.startswith("every quantity") else 1.0
        _compare(base, out, variant.note, problems, factor)
    if problems:
        note("base attribution:\n" + base.attribution.round(4).to_string())
    report(world, base, problems)


@pytest.mark.parametrize("violation", VIOLATIONS)
@profile("violation")
@given(data=st.data())
def test_planted_violation_is_found(violation: str, data) -> None:
    """One violation planted in an otherwise honest world is found, high or medium, on each
    party the contract (section 5) makes a subject, and attributed as planted:

    - importer_reexport: the licensee (no_reexport) sends controlled goods abroad;
    - affiliate_reexport: a trader 45% owned by the importer re-exports what it got from it
      (subjects: the trader and the importer);
    - military_end_use: the component maker (the named end user) sells motors to a party with a
      military_contract observation (subjects: the receiver and the supplier);
    - vanishing: 40% of an importer's receipts are followed by no record (unaccounted_material
      on the importer, attribution unaccounted 0.4 in that destination)."""
    world = data.draw(worlds(violation=violation), label="world")
    out = analyse(world)
    problems: list[str] = []
    flags = {(f.rule, f"{f.subject_type}:{f.subject_id}") for f in out.flags()}
    for want in world.must_flag:
        if (want.rule, want.subject) not in flags:
            problems.append(f"missing {want.rule} (high/medium) on {want.subject}")
    check_bystanders(world, out, problems)
    check_truth(world, out, problems)
    report(world, out, problems)

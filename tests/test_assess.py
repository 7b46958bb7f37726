"""`rareflow assess`: decisions on licence applications, on the demo world's four planted
applications, on hand-made frames (approval, the 60-day watch list, capacity) and through
the CLI."""

from __future__ import annotations

import json
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from conftest import Built
from rareflow.analyses.assess import (
    OUTPUT_COLUMNS,
    REASON_DECISIONS,
    AssessContext,
    assess,
    watch_list_status,
)
from rareflow.cli.main import app
from rareflow.outputs.decisions_report import decisions_section
from rareflow.policy import default_policy
from rareflow.world.certs import certificate, key_for, sign

runner = CliRunner()


# --- the demo world -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_dir(demo_world: Built) -> Path:
    return demo_world.data  # generated once per test process (conftest), read-only


@pytest.fixture(scope="module")
def demo(demo_world: Built) -> pd.DataFrame:
    """The decisions on the demo world's applications, as its analysis made them (analysed
    once per test process, conftest): `assess` of `applications_frame(model)` and
    `build_context(model, findings)`, the flow model and findings of that analysis, under
    the packaged policy (`assessment.decide_applications`)."""
    decisions = demo_world.result.decisions
    assert decisions is not None
    return decisions.set_index("application_id")


def codes(row: pd.Series) -> set[str]:
    return set(row["reasons"].split("; "))


def test_demo_has_one_decision_per_application(demo: pd.DataFrame) -> None:
    assert list(demo.index) == ["APP-0001", "APP-0002", "APP-0003", "APP-0004"]
    assert set(demo.columns) | {"application_id"} == set(OUTPUT_COLUMNS)
    for code in set().union(*(codes(r) for _, r in demo.iterrows())):
        assert code in REASON_DECISIONS, code


def test_app1_revoked_and_expired_certificate_is_denied(demo: pd.DataFrame) -> None:
    r = demo.loc["APP-0001"]
    assert r["decision"] == "deny"
    # revoked on 2024-11-15, valid until 2024-12-31, presented on 2026-01-10
    assert {"certificate_revoked", "expired", "certificate_forged",
            "certificate_violated"} <= codes(r)
    assert "2024-11-15" in r["explanation"]
    assert "EUC-JP-2024" in r["evidence"].split(";")


def test_app2_unresponsive_importer_with_paper_letter_needs_information(
        demo: pd.DataFrame) -> None:
    r = demo.loc["APP-0002"]
    assert r["decision"] == "request_information"
    assert {"watch_list", "unaccounted_material", "certificate_incomplete", "no_proof",
            "expired"} <= codes(r)
    # asked on 2025-09-01, no site visit since: 133 days by 2026-01-12
    assert "133 days" in r["explanation"]
    assert "on the watch list since 2025-10-31" in r["explanation"]
    for element in ("contract reference", "signatory's position", "no-re-export commitment",
                    "authority endorsement", "named no-transfer countries"):
        assert element in r["explanation"], element
    assert {"PL-O-UNRESP", "EUC-VN-2025"} <= set(r["evidence"].split(";"))


def test_app3_trader_with_unknown_key_is_denied(demo: pd.DataFrame) -> None:
    r = demo.loc["APP-0003"]
    assert r["decision"] == "deny"
    assert {"unknown_key", "certificate_forged", "end_user_not_final", "red_flag",
            "expired"} <= codes(r)
    # the end user's address is optional (contract §7): a red flag, not an incomplete
    # certificate; the endorsement DE-GOV signs electronically is not evidenced (red flag)
    assert "certificate_incomplete" not in codes(r)
    assert "optional_elements_missing" in r["explanation"]
    assert "end user's address" in r["explanation"]
    assert "unsigned_endorsement" in r["explanation"]
    # 500 kg certificate, 400 kg already shipped on it (PL-D-CONSIGNEE)
    assert "certificate_quantity_exceeded" in codes(r)
    assert "PL-D-CONSIGNEE" in r["evidence"].split(";")


def test_app4_beyond_capacity_with_revoked_key_is_denied(demo: pd.DataFrame) -> None:
    r = demo.loc["APP-0004"]
    assert r["decision"] == "deny"
    assert {"key_revoked", "certificate_forged", "capacity_exceeded", "expired"} <= codes(r)
    # 9000 kg x 0.31 = 2790 kg of content against 3885 actuators x 0.31 = 1204.3 kg
    assert "2,790.0 kg" in r["explanation"] and "1,204.3 kg" in r["explanation"]
    assert "capacity:KR-SEMI-01:2025" in r["evidence"].split(";")
    # reasons are listed most severe first
    first = r["reasons"].split("; ")[0]
    assert REASON_DECISIONS[first] == "deny"


def test_decisions_section_escapes(demo: pd.DataFrame) -> None:
    html = decisions_section(demo.reset_index())
    assert html.startswith('<section id="decisions">') and html.count("<tr>") == 5
    assert "request_information: 1" in html and "deny: 3" in html
    evil = demo.reset_index().head(1).assign(explanation="<script>alert(1)</script>")
    assert "<script>" not in decisions_section(evil)
    assert "&lt;script&gt;" in decisions_section(evil)
    assert "No licence applications" in decisions_section(demo.reset_index().head(0))


# --- hand-made frames -----------------------------------------------------------------------

APP_DATE = date(2025, 6, 1)
USER, AUTH = "XX-USE-01", "XX-GOV"


def small_world(**changes: object) -> tuple[pd.DataFrame, AssessContext]:
    """One application for 100 kg of NdFeB magnets to an end user with a signed, endorsed,
    complete certificate, a trust registry, room in its capacity and no history."""
    user_key, auth_key = key_for(99, USER), key_for(99, AUTH)
    doc = certificate("EUC-XX-2025", exporter="CN-MAG-09", importer=USER, end_user=USER,
                      country="XX", year=2025, max_kg=1000, use="ev_motor",
                      description="traction motors", site="Somewhere", authority=AUTH)
    doc = sign(doc, user_key, auth_key, created="2025-01-02T09:00:00Z")
    apps = pd.DataFrame([{
        "application_id": "APP-X", "date": APP_DATE.isoformat(), "exporter_id": "CN-MAG-09",
        "consignee_id": USER, "end_user_id": USER, "destination": "XX",
        "product": "ndfeb_magnet", "kg": 100.0, "certificate_id": "EUC-XX-2025"}])
    keys = pd.DataFrame([
        {"key_id": k.verification_method, "controller": who,
         "public_key_multibase": k.public_multibase, "valid_from": "2023-01-01",
         "valid_to": "2027-12-31", "revoked_on": None}
        for k, who in ((user_key, USER), (auth_key, AUTH))])
    ctx = AssessContext(
        findings=[],
        certificates=pd.DataFrame([{"certificate_id": "EUC-XX-2025", "document_hash": "h1",
                                    "end_user_id": USER, "document": json.dumps(doc)}]),
        keys=keys,
        revocations=pd.DataFrame(columns=["certificate_id", "date", "reason"]),
        observations=pd.DataFrame(columns=["obs_id", "date", "party_id", "kind", "ref",
                                           "detail"]),
        parties=pd.DataFrame([
            {"party_id": "CN-MAG-09", "name": "Magnet Works", "country": "CN",
             "roles": "exporter;manufacturer", "address": "Baotou"},
            {"party_id": USER, "name": "Motor Maker", "country": "XX",
             "roles": "importer;manufacturer;end_user", "address": "1 Main Street"},
            {"party_id": AUTH, "name": "Authority", "country": "XX", "roles": "authority",
             "address": None}]),
        products=pd.DataFrame([{"product": "ndfeb_magnet", "kind": "material", "unit": "kg",
                                "re_kg_per_unit": 0.31, "heavy_re_kg_per_unit": 0.02,
                                "hs_code": "850511"}]),
        capacity=pd.DataFrame([{"party_id": USER, "year": 2025, "expected_kg": 100.0,
                                "basis": "capacity"}]),
        receipts=pd.DataFrame(columns=["party_id", "date", "kg", "ref"]),
        draws=pd.DataFrame(columns=["certificate_id", "declaration_id", "date", "product",
                                    "net_kg"]),
    )
    for name, value in changes.items():
        setattr(ctx, name, value)
    return apps, ctx


def decide_one(apps: pd.DataFrame, ctx: AssessContext) -> pd.Series:
    out = assess(apps, ctx, default_policy())
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    return out.iloc[0]


def test_approve_with_no_objection() -> None:
    r = decide_one(*small_world())
    assert r["decision"] == "approve", r["explanation"]
    assert r["reasons"] == "no_objection"
    assert r["date"] == "2025-06-01" and r["kg"] == 100.0


def test_uncontrolled_product_before_the_control_date() -> None:
    apps, ctx = small_world()
    r = decide_one(apps.assign(date="2025-03-01"), ctx)  # No. 18 in force from 2025-04-04
    assert r["decision"] == "approve"
    assert r["reasons"] == "not_controlled"


def test_as_of_overrides_the_application_date() -> None:
    apps, ctx = small_world(as_of=date(2026, 2, 1))
    r = decide_one(apps, ctx)
    assert r["decision"] == "request_information"
    assert codes(r) == {"expired"}


def unresponsive(days_before: int, *more: dict) -> pd.DataFrame:
    rows = [{"obs_id": "O-1", "date": (APP_DATE - timedelta(days=days_before)).isoformat(),
             "party_id": USER, "kind": "unresponsive", "ref": "EUC-XX-2025",
             "detail": "no answer to a verification request"}, *more]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("days", "listed"), [(59, False), (60, True), (61, True)])
def test_watch_list_after_60_days_unanswered(days: int, listed: bool) -> None:
    r = decide_one(*small_world(observations=unresponsive(days)))
    assert ("watch_list" in codes(r)) is listed
    assert r["decision"] == ("request_information" if listed else "approve")
    if listed:
        assert f"{days} days" in r["explanation"] and "O-1" in r["evidence"].split(";")


def test_watch_list_cleared_by_a_later_site_visit_and_unfavourable_visit_denies() -> None:
    visit = {"obs_id": "O-2", "date": (APP_DATE - timedelta(days=10)).isoformat(),
             "party_id": USER, "kind": "site_visit_favourable", "ref": None, "detail": "ok"}
    obs = unresponsive(61, visit)
    assert watch_list_status(obs, USER, APP_DATE) is None
    assert decide_one(*small_world(observations=obs))["decision"] == "approve"
    # a visit after the application date does not answer the request as of that date
    late = unresponsive(61, {**visit, "date": (APP_DATE + timedelta(days=1)).isoformat()})
    assert watch_list_status(late, USER, APP_DATE) is not None
    bad = unresponsive(61, {**visit, "kind": "site_visit_unfavourable",
                            "detail": "no production line"})
    r = decide_one(*small_world(observations=bad))
    assert r["decision"] == "deny"
    assert codes(r) == {"site_visit_unfavourable"}


def receipts(*rows: tuple[str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"party_id": USER, "date": d, "kg": kg, "ref": f"R-{i}"}
                         for i, (d, kg) in enumerate(rows)])


def test_capacity_rule() -> None:
    # expected use 100 kg of content; tolerance +25% -> 125 kg. 100 kg of magnets = 31 kg.
    within = receipts(("2025-01-15", 90.0), ("2024-12-20", 500.0), ("2025-06-02", 500.0))
    r = decide_one(*small_world(receipts=within))  # 31 + 90 = 121 kg (other years ignored)
    assert r["decision"] == "approve", r["explanation"]
    beyond = receipts(("2025-01-15", 90.0), ("2025-05-31", 5.0))  # 31 + 95 = 126 kg
    r = decide_one(*small_world(receipts=beyond))
    assert r["decision"] == "request_information"
    assert codes(r) == {"capacity_exceeded"}
    for figure in ("100.0 kg", "31.0 kg", "95.0 kg", "126.0 kg", "+26%"):
        assert figure in r["explanation"], figure
    assert f"capacity:{USER}:2025" in r["evidence"].split(";")


def test_capacity_of_the_latest_declared_year_is_used() -> None:
    cap = pd.DataFrame([{"party_id": USER, "year": 2024, "expected_kg": 20.0,
                         "basis": "output"}])
    r = decide_one(*small_world(capacity=cap))  # 31 kg against 20 kg (+55%)
    assert codes(r) == {"capacity_exceeded"}
    assert "output for 2024, the latest year declared" in r["explanation"]


def test_certificate_problems_each_give_a_reason() -> None:
    apps, ctx = small_world()
    assert codes(decide_one(apps.assign(certificate_id=None), ctx)) == {"certificate_missing"}
    assert codes(decide_one(apps.assign(certificate_id="EUC-NONE"), ctx)) == {
        "certificate_not_found"}
    r = decide_one(apps.assign(kg=1200.0), ctx)  # 1000 kg certificate (capacity too)
    assert {"certificate_quantity_exceeded", "capacity_exceeded"} == codes(r)
    rev = pd.DataFrame([{"certificate_id": "EUC-XX-2025", "date": "2025-05-01",
                         "reason": "lost"}])
    r = decide_one(*small_world(revocations=rev))
    assert r["decision"] == "deny" and codes(r) == {"certificate_revoked"}
    keys = ctx.keys.assign(revoked_on=["2024-06-01", None])
    r = decide_one(*small_world(keys=keys))
    assert r["decision"] == "deny" and codes(r) == {"key_revoked"}
    # no keys table: the proofs are checked against their own did:key only
    assert decide_one(*small_world(keys=None))["reasons"] == "no_objection"
    # content altered after signing
    doc = json.loads(ctx.certificates.loc[0, "document"])
    doc["credentialSubject"]["items"][0]["max_kg"] = "2000"
    altered = ctx.certificates.assign(document=[json.dumps(doc)])
    r = decide_one(*small_world(certificates=altered))
    assert r["decision"] == "deny" and codes(r) == {"bad_proof"}


def test_findings_against_the_parties() -> None:
    from rareflow.findings import Finding

    def finding(rule: str, severity: str = "high", period: str | None = "2025") -> Finding:
        return Finding(rule=rule, severity=severity, subject_type="party", subject_id=USER,
                       period=period, evidence=[USER], message=f"{rule} for {USER}.")

    r = decide_one(*small_world(findings=[finding("prohibited_end_use")]))
    assert r["decision"] == "deny" and codes(r) == {"prohibited_end_use"}
    # an established re-export (high or medium) denies, whatever the new certificate
    r = decide_one(*small_world(findings=[finding("unauthorised_reexport", "medium")]))
    assert r["decision"] == "deny" and codes(r) == {"unauthorised_reexport"}
    # missing mass beyond its uncertainty (medium) asks for an account of it
    r = decide_one(*small_world(findings=[finding("unaccounted_material", "medium")]))
    assert r["decision"] == "request_information"
    # low findings of a violation rule, and findings of periods after the date, do not count
    later = [finding("restricted_party", period="2026"),
             finding("unauthorised_reexport", severity="low")]
    assert decide_one(*small_world(findings=later))["decision"] == "approve"


# --- the command ----------------------------------------------------------------------------

def test_cli_writes_decisions_csv(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = runner.invoke(app, ["assess", str(demo_dir), "--out", str(out),
                              "--db", str(tmp_path / "store.duckdb")])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out / "decisions.csv")
    assert list(df.columns) == list(OUTPUT_COLUMNS)
    assert dict(zip(df.application_id, df.decision, strict=True)) == {
        "APP-0001": "deny", "APP-0002": "request_information", "APP-0003": "deny",
        "APP-0004": "deny"}
    assert "APP-0004" in res.output and "watch_list" in res.output
    missing = runner.invoke(app, ["assess", str(tmp_path / "nothing"), "--out", str(out)])
    assert missing.exit_code == 2


def test_dated_country_status_and_party_lists_from_the_policy() -> None:
    import dataclasses

    from rareflow.policy import parse_policy

    raw = yaml.safe_load(resources.files("rareflow.data").joinpath("policy.yaml")
                         .read_text("utf-8"))
    raw["country_status"] = [{"country": "XX", "status": "permits_suspended", "from":
                              "2025-05-01", "until": "2025-07-01",
                              "reason": "no full-chain data"}]
    raw["party_lists"] = [{"party_id": USER, "status": "control", "from": "2025-05-15"}]
    policy = parse_policy(raw, "test")
    apps, ctx = small_world()
    r = assess(apps, ctx, policy).iloc[0]
    assert r["decision"] == "deny"
    assert {"country_status", "policy_control_list"} <= codes(r)
    later = assess(apps.assign(date="2025-07-02"), ctx, policy).iloc[0]
    assert "country_status" not in codes(later)  # the suspension ended on 2025-07-01
    watch = dataclasses.replace(policy, parties=(dataclasses.replace(
        policy.parties[0], status="watch", decision="request_information"),))
    w = assess(apps.assign(date="2025-07-02"), ctx, watch).iloc[0]
    assert w["decision"] == "request_information" and "policy_watch_list" in codes(w)

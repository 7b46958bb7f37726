"""Decide licence applications: `approve`, `request_information` or `deny`, with every reason.

`assess` is a pure function of pandas frames (no file IO, no printing): the applications,
an `AssessContext` holding what the store and `rareflow analyze` already established, and
the dated `Policy`. Each application is judged as of its own date (or `context.as_of` when
given): the controls in force, the certificate's validity and revocation, the observations
and the receipts up to that day. docs/commands/assess.md lists every reason code.

Reasons come from four sources:
- the certificate the application names: found, issued to these parties, verified
  (`rareflow.vc.trust.verify_certificate`: each of its reason codes becomes a reason),
  covering the product and the quantity still open on it;
- the policy as of the date: whether the product is controlled, and what a certificate for
  it must carry (`certificate_requirements`);
- the parties' history: established violations (high or medium findings of
  `unauthorised_reexport`, `prohibited_end_use`, `certificate_violated`, `certificate_forged`,
  `licence_violation`, `restricted_party`) against the consignee, the end user or a
  certificate they hold deny, whatever the new certificate; estimates of missing mass
  (`unaccounted_material`, `capacity_mismatch`) and red flags (`red_flag`, low) ask for
  information; observations (`unresponsive` past 60 days = watch list, unfavourable site
  visit, military contract, seizure, teardown); an end user whose business is trading;
- the quantity against the end user's declared capacity and what it received that year.

The decision is the most severe of the reasons' decisions; with no reason, `approve` with
the reason `no_objection`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd

from rareflow.analyses.certificate_documents import indicator_of, trading_only
from rareflow.analyses.certificates import LABELS, is_heavy, missing_elements
from rareflow.findings import Finding
from rareflow.policy import Policy
from rareflow.vc.trust import (
    as_date,
    blank,
    index_keys,
    index_revocations,
    verify_certificate,
)

APPROVE, REQUEST, DENY = "approve", "request_information", "deny"
SEVERITY = {APPROVE: 0, REQUEST: 1, DENY: 2}

OUTPUT_COLUMNS = ("application_id", "date", "exporter_id", "consignee_id", "end_user_id",
                  "destination", "product", "kg", "certificate_id", "decision", "reasons",
                  "explanation", "evidence")

WATCH_LIST_DAYS = 60  # US Unverified List practice: no completed check within 60 days
CAPACITY_TOLERANCE = 0.25  # receipts may exceed expected use by 25% (as capacity_mismatch)

# verify_certificate's reason codes: a forged, altered, revoked or untrusted document is
# denied; one that is expired, unsigned (a paper letter) or unreadable calls for information.
VERIFICATION_DECISIONS: dict[str, str] = {
    "bad_proof": DENY,
    "unknown_key": DENY,
    "foreign_key": DENY,
    "key_revoked": DENY,
    "key_not_valid": DENY,
    "certificate_revoked": DENY,
    "status_revoked": DENY,
    "unsupported_cryptosuite": REQUEST,
    "context_not_allowed": REQUEST,
    "status_list_invalid": REQUEST,
    "no_proof": REQUEST,
    "not_yet_valid": REQUEST,
    "expired": REQUEST,
}

# Findings of `rareflow analyze` against the consignee, the end user or a certificate they
# hold. Violations the records (high) or an estimate beyond its uncertainty (medium) establish
# deny: they weigh more than the paperwork of the new certificate. Missing mass asks for an
# account of it; a red flag (low) asks, never denies. (`certificate_incomplete` is checked
# here on the document itself, against the policy.)
FINDING_DECISIONS: dict[str, str] = {
    "prohibited_end_use": DENY,
    "restricted_party": DENY,
    "certificate_forged": DENY,
    "unauthorised_reexport": DENY,
    "certificate_violated": DENY,
    "licence_violation": DENY,
    "unaccounted_material": REQUEST,
    "capacity_mismatch": REQUEST,
    "red_flag": REQUEST,
}
ESTABLISHED = ("high", "medium")  # severities of a violation (contract 1.1 §8)
# red-flag indicators `assess` checks itself (the document's elements, the end user's roles)
RECHECKED_INDICATORS = ("optional_elements_missing", "trading_end_user")

# Observations other than `unresponsive` (watch list) and site visits.
OBSERVATION_DECISIONS: dict[str, str] = {
    "military_contract": DENY,
    "seizure": REQUEST,
    "teardown": REQUEST,
}

# Every reason code and its decision (the verification codes above come on top).
REASON_DECISIONS: dict[str, str] = {
    "no_objection": APPROVE,
    "not_controlled": APPROVE,
    "unknown_product": REQUEST,
    "end_user_missing": REQUEST,
    "unknown_party": REQUEST,
    "end_user_not_final": REQUEST,
    "certificate_missing": REQUEST,
    "certificate_not_found": REQUEST,
    "certificate_mismatch": REQUEST,
    "certificate_incomplete": REQUEST,
    "certificate_product_not_covered": REQUEST,
    "certificate_quantity_exceeded": REQUEST,
    "watch_list": REQUEST,
    "site_visit_unfavourable": DENY,
    "capacity_exceeded": REQUEST,
    "country_status": REQUEST,  # or DENY, as the policy entry says
    "policy_watch_list": REQUEST,
    "policy_control_list": DENY,
    **VERIFICATION_DECISIONS,
    **FINDING_DECISIONS,
    **OBSERVATION_DECISIONS,
}

# What a certificate must carry (analyses.certificates: contract §7 and the policy).
ELEMENT_LABELS: dict[str, str] = {
    **LABELS,
    "endorsement": "authority endorsement",
    "no_transfer": "named no-transfer countries",
}


@dataclass
class AssessContext:
    """What `assess` needs, already reduced to pandas. Every frame may be empty.

    - findings: the findings of `rareflow analyze`;
    - certificates: certificate_id, document_hash, end_user_id, document (the JSON text);
    - keys: the `keys` table (key_id, controller, public_key_multibase, valid_from,
      valid_to, revoked_on), None when the dataset has none (no trust registry: each
      proof is then checked against its own did:key); revocations: the `revocations` table;
    - observations: obs_id, date, party_id, kind, ref, detail;
    - parties: party_id, name, country, roles, address;
    - products: product, kind, unit, re_kg_per_unit, heavy_re_kg_per_unit, hs_code;
    - capacity: per party and year, the rare-earth content its declared output (or
      capacity) uses: party_id, year, expected_kg, basis ("output" or "capacity");
    - receipts: dated rare-earth content each party received (customs and downstream
      flows): party_id, date, kg, ref;
    - draws: shipments presenting a certificate: certificate_id, declaration_id, date,
      product, net_kg;
    - as_of: judge every application as of this day instead of its own date.
    """

    findings: list[Finding] = field(default_factory=list)
    certificates: pd.DataFrame | None = None
    keys: pd.DataFrame | None = None
    revocations: pd.DataFrame | None = None
    observations: pd.DataFrame | None = None
    parties: pd.DataFrame | None = None
    products: pd.DataFrame | None = None
    capacity: pd.DataFrame | None = None
    receipts: pd.DataFrame | None = None
    draws: pd.DataFrame | None = None
    as_of: date | None = None


@dataclass(frozen=True)
class Reason:
    """One reason: a code (see REASON_DECISIONS), the decision it calls for, a sentence an
    officer can read, and the ids it rests on."""

    code: str
    decision: str
    sentence: str
    evidence: tuple[str, ...] = ()


# --- small helpers --------------------------------------------------------------------------


def _s(v: object) -> str | None:
    return None if blank(v) else str(v).strip()


_day = as_date  # a cell as a date (ISO text, date, datetime, Timestamp); None when blank


def _kg(v: float) -> str:
    return f"{v:,.1f} kg"


def _frame(df: pd.DataFrame | None, columns: Iterable[str]) -> pd.DataFrame:
    cols = list(columns)
    if df is None:
        return pd.DataFrame(columns=cols)
    out = df.copy()
    for c in cols:
        if c not in out.columns:
            out[c] = None
    return out


def _list(v: object) -> list[str]:
    if blank(v):
        return []
    if isinstance(v, list | tuple):
        return [str(x).strip() for x in v if not blank(x)]
    return [x.strip() for x in str(v).split(";") if x.strip()]


def _records(df: pd.DataFrame | None) -> list[dict]:
    """Rows with blanks as None and dates as ISO text (what verify_certificate expects)."""
    if df is None or df.empty:
        return []
    out = []
    for row in df.to_dict("records"):
        rec = {}
        for k, v in row.items():
            if blank(v):
                rec[k] = None
            elif isinstance(v, datetime | date):
                rec[k] = _day(v).isoformat()
            else:
                rec[k] = v
        out.append(rec)
    return out


def _period_start(period: object) -> date | None:
    """First day of a finding's period (`YYYY`, `YYYY-MM`, `YYYY-Qn`, `YYYY/YYYY`)."""
    text = _s(period)
    if text is None:
        return None
    m = re.match(r"(\d{4})(?:-(\d{2}))?", text)
    if not m:
        return None
    return date(int(m.group(1)), int(m.group(2) or 1), 1)


def _join(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


# --- the checks -----------------------------------------------------------------------------

@dataclass
class _Prepared:
    """The context indexed once for all applications."""

    ctx: AssessContext
    policy: Policy
    keys: dict | None
    revocations: dict
    certificates: pd.DataFrame
    observations: pd.DataFrame
    parties: dict[str, dict]
    products: dict[str, dict]
    capacity: pd.DataFrame
    receipts: pd.DataFrame
    draws: pd.DataFrame
    findings: list[Finding]
    held: dict[str, set[str]]  # party -> certificate numbers naming it importer or end user


def _prepare(ctx: AssessContext, policy: Policy) -> _Prepared:
    certs = _frame(ctx.certificates, ["certificate_id", "document_hash", "end_user_id",
                                      "document"])
    obs = _frame(ctx.observations, ["obs_id", "date", "party_id", "kind", "ref", "detail"])
    obs = obs.assign(_day=[_day(d) for d in obs["date"]])
    parties = _frame(ctx.parties, ["party_id", "name", "country", "roles", "address"])
    products = _frame(ctx.products, ["product", "kind", "unit", "re_kg_per_unit",
                                     "heavy_re_kg_per_unit", "hs_code"])
    cap = _frame(ctx.capacity, ["party_id", "year", "expected_kg", "basis"])
    cap = cap.assign(year=pd.to_numeric(cap["year"], errors="coerce"))
    rec = _frame(ctx.receipts, ["party_id", "date", "kg", "ref"])
    rec = rec.assign(_day=[_day(d) for d in rec["date"]],
                     kg=pd.to_numeric(rec["kg"], errors="coerce").fillna(0.0))
    draws = _frame(ctx.draws, ["certificate_id", "declaration_id", "date", "product", "net_kg"])
    draws = draws.assign(_day=[_day(d) for d in draws["date"]],
                         net_kg=pd.to_numeric(draws["net_kg"], errors="coerce").fillna(0.0))
    return _Prepared(
        ctx=ctx, policy=policy,
        # no keys table: no registry (each proof checked against its own did:key only)
        keys=None if ctx.keys is None else index_keys(_records(ctx.keys)),
        revocations=index_revocations(_records(ctx.revocations)),
        certificates=certs, observations=obs,
        parties={str(r["party_id"]): r for r in _records(parties)},
        products={str(r["product"]): r for r in _records(products)},
        capacity=cap, receipts=rec, draws=draws,
        findings=[f for f in ctx.findings if f.rule in FINDING_DECISIONS
                  and (f.severity in ESTABLISHED if f.rule != "red_flag"
                       else indicator_of(f) not in RECHECKED_INDICATORS)],
        held=_holders(certs),
    )


def _holders(certs: pd.DataFrame) -> dict[str, set[str]]:
    """Party -> the certificate numbers whose documents name it importer or end user."""
    out: dict[str, set[str]] = {}
    for row in certs.to_dict("records"):
        cid = _s(row.get("certificate_id"))
        try:
            doc = json.loads(str(row.get("document")))
        except (TypeError, ValueError):
            doc = None
        subject = _subject(doc) if isinstance(doc, Mapping) else {}
        for pid in (_s(subject.get("importer_id")), _s(subject.get("end_user_id")),
                    _s(row.get("end_user_id"))):
            if cid and pid:
                out.setdefault(pid, set()).add(cid)
    return out


def _heavy(product: str, info: Mapping | None) -> bool:
    return is_heavy(product, (info or {}).get("heavy_re_kg_per_unit"))


def _controls(product: str, heavy: bool, policy: Policy, on: date) -> list[str]:
    """Ids of the controls in force on `on` that cover `product`."""
    return [c.id for c in policy.controls if c.in_force(on)
            and (product in c.products or (heavy and product in c.heavy_only))]


def _policy_reasons(app: Mapping, p: _Prepared, on: date) -> tuple[list[Reason], list[str],
                                                                   bool]:
    """Reasons about the product; returns (reasons, controls in force, heavy)."""
    product = str(app["product"])
    info = p.products.get(product)
    if info is None:
        return ([Reason("unknown_product", REQUEST,
                        f"Product {product} is not in the products table: whether it is "
                        "controlled, and what a certificate for it must carry, cannot be "
                        "established.", (product,))], [], False)
    heavy = _heavy(product, info)
    controls = _controls(product, heavy, p.policy, on)
    if not controls:
        return ([Reason("not_controlled", APPROVE,
                        f"{product} is not a controlled item on {on.isoformat()} under the "
                        f"policy ({p.policy.source}): no licence or certificate is required.",
                        (product,))], [], heavy)
    return [], controls, heavy


def _party_reasons(app: Mapping, p: _Prepared) -> list[Reason]:
    out: list[Reason] = []
    end_user = _s(app.get("end_user_id"))
    if end_user is None:
        out.append(Reason("end_user_missing", REQUEST,
                          f"Application {app['application_id']} names no end user: ask the "
                          "exporter who will use the goods.", (str(app["application_id"]),)))
    for role, pid in (("exporter", _s(app.get("exporter_id"))),
                      ("consignee", _s(app.get("consignee_id"))), ("end user", end_user)):
        if pid is not None and pid not in p.parties:
            out.append(Reason("unknown_party", REQUEST,
                              f"The {role} {pid} is not in the parties table: no "
                              "know-your-customer data on record.", (pid,)))
    if end_user is not None and end_user in p.parties:
        roles = _list(p.parties[end_user].get("roles"))
        if trading_only(roles):
            out.append(Reason("end_user_not_final", REQUEST,
                              f"The end user {end_user} is a {', '.join(roles)}: a trading "
                              "company is not a final user of the goods (red flag); ask who "
                              "the final user is and for its certificate.", (end_user,)))
    return out


def _select_documents(app: Mapping, p: _Prepared, cid: str) -> tuple[pd.DataFrame, bool]:
    """The documents under `cid` issued to the application's end user (or consignee); when
    none is, all of them and False."""
    docs = p.certificates[p.certificates["certificate_id"].astype(str) == cid]
    user = _s(app.get("end_user_id")) or _s(app.get("consignee_id"))
    mine = docs[docs["end_user_id"].astype(str) == str(user)]
    return (mine, True) if len(mine) else (docs, False)


def _subject(doc: Mapping) -> Mapping:
    s = doc.get("credentialSubject")
    if isinstance(s, list):
        s = s[0] if s else {}
    return s if isinstance(s, Mapping) else {}


def _verification_reasons(doc: Mapping, cid: str, dhash: str, p: _Prepared,
                          on: date) -> list[Reason]:
    v = verify_certificate(doc, p.keys, p.revocations, on_date=on)
    grouped: dict[str, list] = {}
    for r in v.reasons:
        grouped.setdefault(r.code, []).append(r)
    out = []
    for code, rs in grouped.items():
        vms = [v.proofs[r.proof].verification_method or "" for r in rs
               if r.proof is not None and r.proof < len(v.proofs)]
        msgs = "; ".join(r.message for r in rs)
        out.append(Reason(code, VERIFICATION_DECISIONS.get(code, REQUEST),
                          f"Certificate {cid} (document {dhash[:12]}) as of {on.isoformat()}: "
                          f"{msgs}.", tuple(_join([cid, *vms]))))
    return out


def _mismatch_reason(app: Mapping, subject: Mapping, cid: str) -> Reason | None:
    pairs = (("end user", "end_user_id", _s(app.get("end_user_id"))),
             ("importer", "importer_id", _s(app.get("consignee_id"))),
             ("exporter", "exporter_id", _s(app.get("exporter_id"))),
             ("destination", "country", _s(app.get("destination"))))
    diffs = []
    for label, key, want in pairs:
        have = _s(subject.get(key))
        if want is not None and have is not None and have != want:
            diffs.append(f"{label} {have} (application: {want})")
    if not diffs:
        return None
    return Reason("certificate_mismatch", REQUEST,
                  f"Certificate {cid} was issued for other parties or another destination: "
                  f"{'; '.join(diffs)}. Ask for the certificate of this transaction.",
                  (cid, str(app["application_id"])))


def _coverage_reasons(app: Mapping, subject: Mapping, cid: str, p: _Prepared,
                      on: date) -> list[Reason]:
    product = str(app["product"])
    hs = _s((p.products.get(product) or {}).get("hs_code")) or ""
    items = [i for i in subject.get("items") or [] if isinstance(i, Mapping)]
    covering = [i for i in items if _s(i.get("product")) == product
                or (blank(i.get("product")) and hs and _s(i.get("hs_code"))
                    and str(i.get("hs_code"))[:6] == hs[:6])]
    if not covering:
        listed = ", ".join(_s(i.get("product")) or _s(i.get("hs_code")) or "?" for i in items)
        return [Reason("certificate_product_not_covered", REQUEST,
                       f"Certificate {cid} does not cover {product} (it lists: "
                       f"{listed or 'no goods'}).", (cid,))]
    try:
        limit = sum(float(i["max_kg"]) for i in covering if not blank(i.get("max_kg")))
    except (TypeError, ValueError):
        limit = 0.0
    if not limit:
        return []  # no quantity stated: certificate_incomplete says so when required
    d = p.draws
    used = d[(d["certificate_id"].astype(str) == cid) & (d["product"].astype(str) == product)
             & d["_day"].map(lambda x: x is not None and x < on)]
    drawn = float(used["net_kg"].sum())
    kg = float(app["kg"])
    if kg <= limit - drawn + 1e-9:
        return []
    return [Reason("certificate_quantity_exceeded", REQUEST,
                   f"Certificate {cid} covers {_kg(limit)} of {product}; {_kg(drawn)} were "
                   f"already shipped against it in {len(used)} declaration(s) before "
                   f"{on.isoformat()}, leaving {_kg(max(limit - drawn, 0))} for the "
                   f"{_kg(kg)} applied for.",
                   tuple(_join([cid, *used["declaration_id"].astype(str)])))]


def _certificate_reasons(app: Mapping, p: _Prepared, on: date, controls: list[str],
                         heavy: bool) -> list[Reason]:
    cid = _s(app.get("certificate_id"))
    app_id = str(app["application_id"])
    if cid is None:
        if not controls:
            return []
        return [Reason("certificate_missing", REQUEST,
                       f"Application {app_id} names no end-user certificate; "
                       f"{app['product']} is controlled on {on.isoformat()} "
                       f"({', '.join(controls)}).", (app_id, *controls))]
    docs, _ = _select_documents(app, p, cid)
    if docs.empty:
        return [Reason("certificate_not_found", REQUEST,
                       f"Certificate {cid} named by application {app_id} is not among the "
                       "certificates on record: ask for the document.", (cid, app_id))]
    out: list[Reason] = []
    for row in docs.to_dict("records"):
        dhash = str(row.get("document_hash") or "")
        try:
            doc = json.loads(str(row["document"]))
        except (TypeError, ValueError):
            out.append(Reason("bad_proof", DENY, f"Certificate {cid} (document {dhash[:12]}) "
                              "is not a readable JSON document.", (cid,)))
            continue
        if not isinstance(doc, Mapping):
            continue
        subject = _subject(doc)
        out += _verification_reasons(doc, cid, dhash, p, on)
        mismatch = _mismatch_reason(app, subject, cid)
        if mismatch:
            out.append(mismatch)
        if controls:
            end_user = _s(subject.get("end_user_id"))
            missing, optional = missing_elements(
                subject, p.policy, heavy_controlled=heavy,
                end_user_address=(p.parties.get(end_user) or {}).get("address")
                if end_user else None)
            if missing:
                labels = ", ".join(ELEMENT_LABELS.get(m, m) for m in missing)
                why = " (heavy rare earths)" if heavy else ""
                out.append(Reason("certificate_incomplete", REQUEST,
                                  f"Certificate {cid} lacks mandatory elements for "
                                  f"{app['product']}{why} under {', '.join(controls)}: "
                                  f"{labels}.", (cid, *controls)))
            if optional:
                labels = ", ".join(ELEMENT_LABELS.get(m, m) for m in optional)
                out.append(Reason("red_flag", REQUEST,
                                  f"optional_elements_missing: Certificate {cid} lacks "
                                  f"elements the policy recommends (optional under the "
                                  f"contract): {labels}. Ask for them (a red flag, not a "
                                  "violation).", (cid,)))
        out += _coverage_reasons(app, subject, cid, p, on)
    return out


def _finding_reasons(app: Mapping, p: _Prepared, on: date) -> list[Reason]:
    """The findings against the consignee, the end user, the certificate applied with and the
    certificates they hold, one reason per rule, with every finding's id and message."""
    parties = [x for x in (_s(app.get("consignee_id")), _s(app.get("end_user_id"))) if x]
    subjects = {("party", x) for x in parties}
    cid = _s(app.get("certificate_id"))
    held = set().union(*(p.held.get(x, set()) for x in parties)) if parties else set()
    subjects |= {("certificate", c) for c in ({cid} if cid else set()) | held}
    grouped: dict[str, list[Finding]] = {}
    for f in p.findings:
        if (f.subject_type, f.subject_id) not in subjects:
            continue
        start = _period_start(f.period)
        if start is not None and start > on:
            continue
        grouped.setdefault(f.rule, []).append(f)
    out = []
    for rule, fs in grouped.items():
        who = ", ".join(sorted({f"{f.subject_type} {f.subject_id}" for f in fs}))
        levels = "/".join(s for s in ("high", "medium", "low") if any(f.severity == s
                                                                     for f in fs))
        head = (f"{len(fs)} red flag(s) (low: not violations, to be answered)"
                if rule == "red_flag" else f"{len(fs)} {rule} finding(s) ({levels})")
        tail = (", established violations" if FINDING_DECISIONS[rule] == DENY
                and rule != "red_flag" else "")
        msgs = " ".join(f"[{f.id}] {f.message}" for f in fs)
        out.append(Reason(rule, FINDING_DECISIONS[rule],
                          f"{head} against {who}{tail}: {msgs}",
                          tuple(_join([i for f in fs for i in (f.id, *f.evidence)]))))
    return out


def watch_list_status(observations: pd.DataFrame, party_id: str,
                      on: date) -> tuple[Mapping, int] | None:
    """The `unresponsive` observation that puts `party_id` on the watch list as of `on`,
    with the days since it, or None.

    A verification request (an `unresponsive` observation, dated when the request went
    unanswered) counts as unanswered while no `site_visit_favourable` or
    `site_visit_unfavourable` observation of the same party is dated after it (and on or
    before `on`). The party is on the watch list once WATCH_LIST_DAYS (60) days have passed
    since that date without such an answer."""
    obs = observations
    if "_day" not in obs.columns:
        obs = obs.assign(_day=[_day(d) for d in obs["date"]])
    mine = obs[(obs["party_id"].astype(str) == party_id)
               & obs["_day"].map(lambda d: d is not None and d <= on)]
    visits = [d for d, k in zip(mine["_day"], mine["kind"].astype(str), strict=True)
              if k.startswith("site_visit_")]
    for row in mine[mine["kind"] == "unresponsive"].sort_values("_day").to_dict("records"):
        asked = row["_day"]
        answered = any(v > asked for v in visits)
        days = (on - asked).days
        if not answered and days >= WATCH_LIST_DAYS:
            return row, days
    return None


def _observation_reasons(app: Mapping, p: _Prepared, on: date) -> list[Reason]:
    out: list[Reason] = []
    obs = p.observations
    parties = _join([x for x in (_s(app.get("end_user_id")), _s(app.get("consignee_id"))) if x])
    for pid in parties:
        listed = watch_list_status(obs, pid, on)
        if listed:
            row, days = listed
            since = row["_day"] + timedelta(days=WATCH_LIST_DAYS)
            out.append(Reason(
                "watch_list", REQUEST,
                f"{pid} has not answered the verification request of {row['_day'].isoformat()}"
                f" ({_s(row.get('detail')) or 'unresponsive'}; ref "
                f"{_s(row.get('ref')) or 'none'}): {days} days without a site visit, so it is "
                f"on the watch list since {since.isoformat()} (after {WATCH_LIST_DAYS} days "
                "unanswered). Complete the end-use check before licensing.",
                tuple(_join([str(row["obs_id"]), pid, _s(row.get("ref")) or ""]))))
        mine = obs[(obs["party_id"].astype(str) == pid)
                   & obs["_day"].map(lambda d: d is not None and d <= on)].sort_values("_day")
        visits = mine[mine["kind"].astype(str).str.startswith("site_visit_")]
        if len(visits) and visits.iloc[-1]["kind"] == "site_visit_unfavourable":
            v = visits.iloc[-1]
            out.append(Reason("site_visit_unfavourable", DENY,
                              f"The latest end-use check of {pid}, on {v['_day'].isoformat()}, "
                              f"was unfavourable: {_s(v.get('detail')) or 'no detail'}.",
                              tuple(_join([str(v["obs_id"]), pid]))))
        for kind, decision in OBSERVATION_DECISIONS.items():
            rows = mine[mine["kind"] == kind]
            if rows.empty:
                continue
            what = "; ".join(f"{r['_day'].isoformat()}: {_s(r.get('detail')) or kind}"
                             for r in rows.to_dict("records"))
            out.append(Reason(kind, decision,
                              f"{pid} has {len(rows)} {kind.replace('_', ' ')} observation(s) "
                              f"on record ({what}).",
                              tuple(_join([*rows["obs_id"].astype(str), pid]))))
    return out


def _capacity_reason(app: Mapping, p: _Prepared, on: date) -> Reason | None:
    """Applied content + the end user's receipts of the year up to the date, against the
    rare-earth content its declared capacity (latest year on or before the date's) uses."""
    end_user = _s(app.get("end_user_id"))
    info = p.products.get(str(app["product"]))
    if end_user is None or info is None or str(info.get("unit") or "kg") != "kg":
        return None
    try:
        per_kg = float(info.get("re_kg_per_unit") or 0)
    except (TypeError, ValueError):
        return None
    cap = p.capacity[(p.capacity["party_id"].astype(str) == end_user)
                     & (p.capacity["year"] <= on.year)].dropna(subset=["year"])
    if cap.empty or per_kg <= 0:
        return None
    row = cap.sort_values("year").iloc[-1]
    expected = 0.0 if blank(row["expected_kg"]) else float(row["expected_kg"])
    if expected <= 0:
        return None
    year_start = date(on.year, 1, 1)
    r = p.receipts
    got = r[(r["party_id"].astype(str) == end_user)
            & r["_day"].map(lambda d: d is not None and year_start <= d < on)]
    received = float(got["kg"].sum())
    applied = float(app["kg"]) * per_kg
    total = applied + received
    if total <= expected * (1 + CAPACITY_TOLERANCE):
        return None
    year = int(row["year"])
    basis = _s(row.get("basis")) or "capacity"
    note = "" if year == on.year else ", the latest year declared,"
    return Reason("capacity_exceeded", REQUEST,
                  f"{end_user}'s declared {basis} for {year}{note} uses {_kg(expected)} of "
                  f"rare-earth content a year; the {_kg(float(app['kg']))} of {app['product']}"
                  f" applied for carry {_kg(applied)}, and it received {_kg(received)} in "
                  f"{on.year} before {on.isoformat()}: {_kg(total)} in all, "
                  f"{total / expected - 1:+.0%} against expected use (tolerance "
                  f"+{CAPACITY_TOLERANCE:.0%}). Ask what the extra quantity is for.",
                  (end_user, f"capacity:{end_user}:{year}"))


def _listing_reasons(app: Mapping, p: _Prepared, on: date) -> list[Reason]:
    """Dated policy entries on the destination and on the parties (policy file)."""
    out = []
    dest = _s(app.get("destination"))
    for c in p.policy.country_status(dest, on) if dest else []:
        out.append(Reason("country_status", c.decision,
                          f"Destination {dest} is under '{c.status}' since "
                          f"{c.since.isoformat()} ({c.reason or 'policy file'}).", (dest,)))
    seen: set[str] = set()
    for key in ("end_user_id", "consignee_id", "exporter_id"):
        party = _s(app.get(key))
        if not party or party in seen:
            continue
        seen.add(party)
        for e in p.policy.party_listings(party, on):
            code = "policy_control_list" if e.status == "control" else "policy_watch_list"
            out.append(Reason(code, e.decision,
                              f"{party} is on the policy's {e.status} list since "
                              f"{e.since.isoformat()} ({e.reason or 'policy file'}).",
                              (party,)))
    return out


def assess_one(app: Mapping, p: _Prepared) -> list[Reason]:
    """Every reason for one application (a row of `applications`), the most severe first."""
    on = p.ctx.as_of or _day(app["date"])
    reasons, controls, heavy = _policy_reasons(app, p, on)
    reasons += _party_reasons(app, p)
    reasons += _listing_reasons(app, p, on)
    reasons += _certificate_reasons(app, p, on, controls, heavy)
    reasons += _finding_reasons(app, p, on)
    reasons += _observation_reasons(app, p, on)
    cap = _capacity_reason(app, p, on)
    if cap:
        reasons.append(cap)
    if not reasons:
        reasons.append(Reason("no_objection", APPROVE,
                              f"No objection found as of {on.isoformat()}: certificate, "
                              "policy, parties' history and quantity all check out.",
                              (str(app["application_id"]),)))
    # the most severe first (stable: within a decision, in the order checked)
    return sorted(reasons, key=lambda r: -SEVERITY[r.decision])


def decide(reasons: Iterable[Reason]) -> str:
    """The most severe of the reasons' decisions (approve when none)."""
    return max((r.decision for r in reasons), key=SEVERITY.__getitem__, default=APPROVE)


def assess(applications: pd.DataFrame, context: AssessContext, policy: Policy) -> pd.DataFrame:
    """One decision per application, with every reason (columns: OUTPUT_COLUMNS)."""
    p = _prepare(context, policy)
    rows = []
    for app in _records(applications):
        reasons = assess_one(app, p)
        rows.append({
            "application_id": str(app["application_id"]),
            "date": _day(app["date"]).isoformat(),
            "exporter_id": app.get("exporter_id"),
            "consignee_id": app.get("consignee_id"),
            "end_user_id": app.get("end_user_id"),
            "destination": app.get("destination"),
            "product": app.get("product"),
            "kg": float(app["kg"]),
            "certificate_id": app.get("certificate_id"),
            "decision": decide(reasons),
            "reasons": "; ".join(_join(r.code for r in reasons)),
            "explanation": " ".join(r.sentence for r in reasons),
            "evidence": ";".join(_join(e for r in reasons for e in r.evidence)),
        })
    return pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))

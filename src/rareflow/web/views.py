"""What each page and API answer holds, for one user: the pages render these dicts, the API
returns them as JSON, so both show the same thing.

An importer's scope lives here, once: it sees its own party, the shipments, certificates and
licences where it is the consignee, importer or end user, and the findings about those; any
other record is "not found"; and every text it receives has every other party's id, name and
aliases replaced by `REDACTED` (a finding about its certificate may name a second end user)."""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from rareflow.findings import Finding
from rareflow.web.auth import Principal
from rareflow.web.service import Snapshot

REDACTED = "[other party]"
SEVERITIES = ("high", "medium", "low")
#: record kinds with a page: (table, key column, the columns naming an involved party, the
#: columns that make the importer an owner of the record)
KINDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "party": ("parties", "party_id", ("party_id",)),
    "certificate": ("certificates", "certificate_id", ("importer_id", "end_user_id")),
    "shipment": ("shipments", "declaration_id", ("consignee_id", "end_user_id")),
    "licence": ("licences", "licence_id", ("consignee_id", "end_user_id")),
}
URL = {"party": "/parties/", "certificate": "/certificates/", "shipment": "/shipments/",
       "licence": "/licences/", "finding": "/findings/"}
HIDDEN_COLUMNS = ("_file", "_line")  # provenance: shown to officers and analysts only


class NotFound(Exception):
    """A record that does not exist, or that this user may not see (the same answer)."""


def plain(v: Any) -> Any:
    """A JSON-ready value: None for missing, Python numbers, ISO dates."""
    if v is None:
        return None
    if isinstance(v, (list, tuple, np.ndarray)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, float | np.floating):
        return None if math.isnan(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, pd.Timestamp | datetime):
        if pd.isna(v):
            return None
        return v.date().isoformat() if (v.hour, v.minute, v.second) == (0, 0, 0) else (
            v.isoformat())
    if isinstance(v, date):
        return v.isoformat()
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def rows(df: pd.DataFrame, columns: list[str] | None = None) -> list[dict[str, Any]]:
    if df is None or df.empty:
        return []
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    return [{c: plain(v) for c, v in r.items()} for r in df[cols].to_dict("records")]


class Index:
    """Per snapshot: which parties each record and finding concerns, and every party's
    names (for redaction)."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.kind_of: dict[str, str] = {}
        self.owners: dict[tuple[str, str], set[str]] = {}
        for kind, (table, key, owner_cols) in KINDS.items():
            df = snap.table(table)
            if df.empty:
                continue
            for r in df.to_dict("records"):
                rid = str(r[key])
                self.kind_of.setdefault(rid, kind)
                owners = self.owners.setdefault((kind, rid), set())
                owners.update(str(r[c]) for c in owner_cols
                              if c in r and isinstance(r[c], str) and r[c])
        for f in snap.findings:
            self.kind_of.setdefault(f.id, "finding")
        self.names: dict[str, list[str]] = {}
        parties = snap.table("parties")
        for r in parties.to_dict("records") if not parties.empty else []:
            words = [str(r["party_id"])]
            for col in ("name", "aliases"):
                v = r.get(col)
                if isinstance(v, str) and v.strip():
                    words += [w.strip() for w in (v.split(";") if col == "aliases" else [v])]
            self.names[str(r["party_id"])] = [w for w in words if len(w) >= 3]
        self._patterns: dict[str, re.Pattern | None] = {}

    def finding_parties(self, f: Finding) -> set[str]:
        if f.subject_type == "country":
            return set()
        return self.owners.get((f.subject_type, f.subject_id), set())

    def pattern(self, party: str) -> re.Pattern | None:
        """Every other party's id, name and aliases, longest first."""
        if party not in self._patterns:
            own = {w.lower() for w in self.names.get(party, [])}
            words = sorted({w for p, ws in self.names.items() if p != party for w in ws
                            if w.lower() not in own}, key=len, reverse=True)
            self._patterns[party] = (re.compile("|".join(re.escape(w) for w in words),
                                                re.IGNORECASE) if words else None)
        return self._patterns[party]


_INDEX: dict[int, Index] = {}


def index(snap: Snapshot) -> Index:
    ix = _INDEX.get(id(snap))
    if ix is None or ix.snap is not snap:
        _INDEX.clear()  # one store state at a time
        ix = _INDEX[id(snap)] = Index(snap)
    return ix


_VIEWS: dict[tuple, Any] = {}
_VIEWS_MAX = 4096


def cached(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """A view's answer, kept per store state and per scope (all officers, analysts and
    admins share one; each importer its own): a page is built once per state, then only
    rendered. The answers are never mutated."""
    @functools.wraps(fn)
    def wrapper(scope: Scope, *args: Any) -> dict[str, Any]:
        key = (id(scope.snap), scope.party, fn.__name__, args)
        hit = _VIEWS.get(key)
        if hit is not None and hit[0] is scope.snap:
            return hit[1]
        out = fn(scope, *args)
        if len(_VIEWS) >= _VIEWS_MAX or any(v[0] is not scope.snap
                                            for v in list(_VIEWS.values())[:1]):
            _VIEWS.clear()
        _VIEWS[key] = (scope.snap, out)
        return out
    return wrapper


class Scope:
    """What `who` may see of `snap`."""

    def __init__(self, snap: Snapshot, who: Principal) -> None:
        self.snap, self.who = snap, who
        self.ix = index(snap)
        self.party = who.party_id if who.importer else None
        self._pattern = self.ix.pattern(self.party) if self.party else None

    # --- visibility ---------------------------------------------------------------------
    def sees(self, kind: str, rid: str) -> bool:
        if kind == "finding":
            f = self.snap.by_id.get(rid)
            return f is not None and self.sees_finding(f)
        if (kind, rid) not in self.ix.owners:
            return False
        return self.party is None or self.party in self.ix.owners[(kind, rid)]

    def sees_finding(self, f: Finding) -> bool:
        return self.party is None or self.party in self.ix.finding_parties(f)

    def findings(self) -> list[Finding]:
        return [f for f in self.snap.findings if self.sees_finding(f)]

    # --- redaction ----------------------------------------------------------------------
    def redact(self, obj: Any) -> Any:
        """Every other party's id, name and aliases out of every text (importers only)."""
        if self._pattern is None:
            return obj
        if isinstance(obj, str):
            return self._pattern.sub(REDACTED, obj)
        if isinstance(obj, list):
            return [self.redact(x) for x in obj]
        if isinstance(obj, dict):
            return {k: self.redact(v) for k, v in obj.items()}
        return obj

    def link(self, rid: str) -> dict[str, Any]:
        """An evidence id as a link to its page, when there is one this user may see."""
        kind = self.ix.kind_of.get(rid)
        if kind is None or not self.sees(kind, rid):
            return {"id": rid, "kind": kind if kind and self.party is None else None,
                    "url": None}
        return {"id": rid, "kind": kind, "url": URL[kind] + rid}

    def record_columns(self, df: pd.DataFrame) -> list[str]:
        return [c for c in df.columns
                if not (c.startswith("_") and (self.party or c not in HIDDEN_COLUMNS))]


def finding_dict(f: Finding) -> dict[str, Any]:
    return plain(f.model_dump())


@cached
def dashboard(scope: Scope) -> dict[str, Any]:
    snap = scope.snap
    found = scope.findings()
    by = Counter((f.rule, f.severity) for f in found)
    by_rule = [{"rule": rule, **{s: by.get((rule, s), 0) for s in SEVERITIES},
                "total": sum(by.get((rule, s), 0) for s in SEVERITIES)}
               for rule in sorted({f.rule for f in found})]
    out: dict[str, Any] = {
        "analysed_at": snap.analysed_at, "state": snap.generation,
        "analysis_seconds": round(snap.seconds, 2), "findings": len(found),
        "by_severity": {s: sum(r[s] for r in by_rule) for s in SEVERITIES},
        "by_rule": by_rule,
    }
    if snap.previous_findings is not None:
        before = {i: f for i, f in snap.previous_findings.items() if scope.sees_finding(f)}
        now = {f.id: f for f in found}
        out["changes"] = {
            "since_state": snap.previous_state,
            "new": [finding_dict(f) for i, f in now.items() if i not in before],
            "gone": [finding_dict(f) for i, f in before.items() if i not in now],
            "rows_added": {t: n - (snap.previous_counts or {}).get(t, 0)
                           for t, n in snap.table_counts.items()
                           if n != (snap.previous_counts or {}).get(t, 0)}
            if scope.party is None else {}}
    if scope.party is None:
        out["table_counts"] = snap.table_counts
        out["attribution"] = rows(snap.attribution)
        out["rejects"] = len(snap.rejects)
    else:
        out["party"] = scope.party
        out["balances"] = rows(snap.balances[snap.balances.party_id == scope.party]
                               if not snap.balances.empty else snap.balances)
    return scope.redact(out)


@cached
def findings(scope: Scope, rule: str | None = None, severity: str | None = None,
             subject_type: str | None = None, q: str | None = None) -> dict[str, Any]:
    found = scope.findings()
    rules = sorted({f.rule for f in found})
    subjects = sorted({f.subject_type for f in found})
    q = (q or "").strip().lower()
    shown = [f for f in found
             if (not rule or f.rule == rule) and (not severity or f.severity == severity)
             and (not subject_type or f.subject_type == subject_type)
             and (not q or q in f.subject_id.lower() or q in f.message.lower()
                  or q in f.id.lower())]
    out = {"filters": {"rule": rule or "", "severity": severity or "",
                       "subject_type": subject_type or "", "q": q},
           "rules": rules, "subject_types": subjects, "total": len(found),
           "findings": [finding_dict(f) for f in shown]}
    return scope.redact(out)


@cached
def finding(scope: Scope, fid: str) -> dict[str, Any]:
    f = scope.snap.by_id.get(fid)
    if f is None or not scope.sees_finding(f):
        raise NotFound(fid)
    subject_kind = f.subject_type if f.subject_type in KINDS else None
    out = {"finding": finding_dict(f),
           "subject": scope.link(f.subject_id) if subject_kind else
           {"id": f.subject_id, "kind": f.subject_type, "url": None},
           "evidence": [scope.link(e) for e in f.evidence],
           "trace": lot_trace(scope, f)}
    return scope.redact(out)


# --- a finding's lot trace ------------------------------------------------------------------
TRACE_MAX_NODES = 400  # a Sankey of more records is unreadable; the page says it is cut


class _SnapshotFindings:
    """The snapshot's findings as the `FindingSource` a trace starts from."""

    name = "the analysis"

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def find(self, finding_id: str) -> dict[str, Any] | None:
        f = self.snap.by_id.get(finding_id)
        return None if f is None else finding_dict(f)


def _own_records(scope: Scope, t: Any) -> set[str]:
    """The records of a trace an importer may see: those its party sent, received or holds
    (a flow, transformation, stock or observation of its own; a shipment, certificate or
    licence it may open)."""
    party = scope.party
    keep = set()
    for rid, r in t.records.items():
        kind = r.get("kind")
        if kind in ("shipment", "certificate", "licence"):
            if scope.sees(kind, rid):
                keep.add(rid)
        elif party in (r.get("from_id"), r.get("to_id")):
            keep.add(rid)
    return keep


def lot_trace(scope: Scope, f: Finding) -> dict[str, Any]:
    """The lot trace of a finding's evidence (`rareflow trace FINDING --findings`, both
    directions) as a plotly Sankey (`rareflow.outputs.trace_view.trace_figure`) and the
    lines of its summary. An importer's trace holds only its own records and the links
    between them."""
    from rareflow.outputs.trace_view import summary_lines, trace_figure
    from rareflow.trace.walk import Trace, TraceError, summarise, trace

    ix = scope.snap.trace_index
    out: dict[str, Any] = {"records": 0, "links": 0, "figure": None, "summary": [],
                           "truncated": False, "partial": False, "message": None}
    if ix is None:
        out["message"] = "The store has no lot index (no chain data to trace)."
        return out
    try:
        t = trace(ix, f.id, "both", None, TRACE_MAX_NODES, _SnapshotFindings(scope.snap))
    except TraceError as exc:
        out["message"] = f"No lot trace: {exc}."
        return out
    if scope.party is not None:
        keep = _own_records(scope, t)
        out["partial"] = len(keep) < len(t.records)
        t = Trace(query=t.query, query_kind=t.query_kind, direction=t.direction,
                  depth=t.depth, starts=[s for s in t.starts if s in keep],
                  links=[x for x in t.links if x["source"] in keep and x["target"] in keep],
                  records={k: v for k, v in t.records.items() if k in keep},
                  truncated=t.truncated)
        t.summary = summarise(list(t.records.values()))
    out.update(records=len(t.records), links=len(t.links), truncated=t.truncated,
               summary=summary_lines(t))
    if not t.links:
        out["message"] = ("The trace reached no link between records"
                          + (" of yours." if scope.party else "."))
        return out
    fig = trace_figure(t)
    fig.update_layout(height=max(360, min(1400, 16 * len(t.records))), title=None,
                      margin={"l": 10, "r": 10, "t": 10, "b": 40})
    spec = json.loads(fig.to_json())
    spec["layout"].pop("template", None)
    out["figure"] = spec
    return out


def _related(scope: Scope, rid: str) -> list[dict[str, Any]]:
    return [finding_dict(f) for f in scope.findings() if f.subject_id == rid or rid in f.evidence]


def _record(scope: Scope, kind: str, rid: str) -> pd.DataFrame:
    if not scope.sees(kind, rid):
        raise NotFound(rid)
    table, key, owners = KINDS[kind]
    df = scope.snap.table(table)
    df = df[df[key].astype(str) == rid]
    if scope.party is not None:  # a certificate number carried by another party's document
        mine = pd.Series(False, index=df.index)
        for c in owners:
            mine |= df[c].astype(str) == scope.party
        df = df[mine]
    return df


def _links(scope: Scope, df: pd.DataFrame, columns: list[str], key: str) -> list[dict]:
    """Rows of `df` (the columns this user may see), each with `url` to its own page."""
    out = []
    for r in rows(df, [c for c in columns if c in scope.record_columns(df)]):
        r["url"] = scope.link(str(r[key]))["url"]
        out.append(r)
    return out


@cached
def party(scope: Scope, pid: str) -> dict[str, Any]:
    df = _record(scope, "party", pid)
    snap = scope.snap
    bal = snap.balances
    certs = snap.table("certificates")
    ships = snap.table("shipments")
    out = {
        "party": rows(df, scope.record_columns(df))[0],
        "balances": rows(bal[bal.party_id == pid]) if not bal.empty else [],
        "certificates": _links(scope, certs[(certs.importer_id == pid)
                                            | (certs.end_user_id == pid)], [
            "certificate_id", "issued", "exporter_id", "importer_id", "end_user_id",
            "end_use", "valid_from", "valid_until"], "certificate_id")
        if not certs.empty else [],
        "shipments": _links(scope, ships[(ships.consignee_id == pid)
                                         | (ships.end_user_id == pid)
                                         | ((ships.exporter_id == pid)
                                            & (scope.party is None))], [
            "declaration_id", "date", "exporter_id", "consignee_id", "end_user_id",
            "product", "net_kg", "re_kg", "licence_id", "certificate_id"], "declaration_id")
        if not ships.empty else [],
        "findings": [finding_dict(f) for f in scope.findings()
                     if pid in scope.ix.finding_parties(f) or f.subject_id == pid
                     or pid in f.evidence],
        "screening": screening(snap, pid),
    }
    return scope.redact(out)


def _judgements(snap: Snapshot, pid: str) -> dict[str, dict[str, Any]]:
    """The analysts' judgements (`screening_decisions`) on `pid`'s pairs, by entity id."""
    dec = snap.table("screening_decisions")
    if dec.empty or "party_id" not in dec.columns:
        return {}
    return {str(r["entity_id"]): {k: r.get(k) for k in ("decision", "by", "date", "note")}
            for r in rows(dec[dec.party_id.astype(str) == pid])}


def screening(snap: Snapshot, pid: str) -> dict[str, Any]:
    """`pid`'s restricted-party screening in this analysis (`rareflow.analyses.screening`,
    the same candidates the restricted_party rule and `rareflow screen` give): each
    candidate with its score, decision (match, possible) and explanation, and the analysts'
    judgement of the pair if any; and the candidates judged not the same (no finding, no
    prohibition). Callers scope it: only the party's own page holds it."""
    judged = _judgements(snap, pid)
    cand, sup = snap.screening, snap.screening_suppressed
    mine = rows(cand[cand.party_id.astype(str) == pid]) if not cand.empty else []
    out = [{k: r.get(k) for k in ("list", "entity_id", "entity_name", "score", "decision",
                                  "explanation")}
           | {"judgement": judged.get(str(r.get("entity_id")))} for r in mine]
    dropped = rows(sup[sup.party_id.astype(str) == pid]) if not sup.empty else []
    return {"screened": snap.table_counts.get("restricted_parties", 0) > 0,
            "candidates": out,
            "not_same": [{k: r.get(k) for k in ("list", "entity_id", "entity_name", "score",
                                                "by", "date", "note")} for r in dropped]}


@cached
def record(scope: Scope, kind: str, rid: str) -> dict[str, Any]:
    """A certificate, shipment or licence: its rows (a certificate number may be carried by
    several documents), the shipments drawing on it, the findings citing it."""
    df = _record(scope, kind, rid)
    cols = scope.record_columns(df)
    out: dict[str, Any] = {"kind": kind, "id": rid, "rows": rows(df, cols),
                           "parties": sorted({p for r in rows(df) for c, p in r.items()
                                              if c.endswith("_id") and c != KINDS[kind][1]
                                              and isinstance(p, str)
                                              and scope.sees("party", p)}),
                           "findings": _related(scope, rid)}
    ships = scope.snap.table("shipments")
    col = {"certificate": "certificate_id", "licence": "licence_id"}.get(kind)
    if col and not ships.empty:
        drawn = ships[ships[col].astype(str) == rid]
        if scope.party:
            drawn = drawn[(drawn.consignee_id == scope.party)
                          | (drawn.end_user_id == scope.party)]
        out["shipments"] = _links(scope, drawn, ["declaration_id", "date", "exporter_id",
                                                 "consignee_id", "end_user_id", "product",
                                                 "net_kg", "re_kg"], "declaration_id")
    if kind == "certificate":
        out["verification"] = verification(scope, df, out.get("shipments") or [])
    ledger = scope.snap.table("licence_ledger")
    if kind == "licence" and not ledger.empty:  # the licence's drawdown, shipment by shipment
        mine = ledger[ledger.licence_id.astype(str) == rid]
        out["ledger"] = [r for r in _links(scope, mine, list(mine.columns), "declaration_id")
                         if scope.party is None or r["url"]]
    return scope.redact(out)


def applications(scope: Scope, recorded: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The queue: each application, what the assessment proposes (with its reasons and
    evidence) and the decision recorded, if any (officers, analysts, admins)."""
    out = [{**a, "recorded": recorded.get(str(a["application_id"]))}
           for a in _proposals(scope)["applications"]]
    return {"applications": out,
            "open": sum(1 for a in out if a["recorded"] is None)}


@cached
def _proposals(scope: Scope) -> dict[str, Any]:
    """What the assessment proposes for each application (per store state)."""
    out = []
    for r in rows(scope.snap.decisions):
        evidence = [e for e in str(r.get("evidence") or "").split(";") if e]
        out.append({**r, "evidence": [scope.link(e) for e in evidence],
                    "proposed_text": _proposal(r)})
    return {"applications": out}


def _proposal(r: dict[str, Any]) -> str:
    """The reasons the assessment proposes, as the officer's editable text."""
    reasons = str(r.get("reasons") or "").replace("; ", ", ")
    head = f"Proposed: {r.get('decision')}" + (f" ({reasons})" if reasons else "")
    return f"{head}.\n\n{r.get('explanation') or ''}".strip()


@cached
def destination(scope: Scope, country: str) -> dict[str, Any]:
    """A destination country: where its releases went, year by year, what was exported to
    it, and the findings about it and its parties (not for importers: these add up other
    parties' quantities)."""
    snap = scope.snap
    att, exp = snap.attribution, snap.exports
    if scope.party is not None or att.empty or country not in set(att.destination):
        raise NotFound(country)
    parties = snap.table("parties")
    local = set(parties[parties.country == country].party_id) if not parties.empty else set()
    return {"destination": country,
            "attribution": rows(att[att.destination == country]),
            "exports": rows(exp[exp.destination == country]) if not exp.empty else [],
            "parties": [{"party_id": p, "url": URL["party"] + p} for p in sorted(local)],
            "findings": [finding_dict(f) for f in snap.findings
                         if (f.subject_type == "country" and f.subject_id == country)
                         or (f.subject_type == "party" and f.subject_id in local)]}



# --- a certificate's verification steps -----------------------------------------------------
#: the steps of `rareflow.vc.trust.verify_certificate`, each with the reason codes that fail it
STEPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("context", "@context on the allow-list", ("context_not_allowed",)),
    ("signatures", "Signatures (proofs, eddsa-jcs-2022)",
     ("no_proof", "bad_proof", "unsupported_cryptosuite")),
    ("issuer_trust", "Issuer trust (keys table: known key, entitled signer, valid and not "
     "revoked when used)", ("unknown_key", "foreign_key", "key_revoked", "key_not_valid")),
    ("revocation", "Revocation (revocations table, status list)",
     ("certificate_revoked", "status_revoked", "status_list_invalid")),
    ("validity", "Validity period (validFrom, validUntil)", ("not_yet_valid", "expired")),
)


def _steps(v: Any) -> list[dict[str, Any]]:
    """A `Verification`'s reasons and proofs, step by step (nothing re-checked here)."""
    out = []
    for key, title, codes in STEPS:
        reasons = [f"{r.code}: {r.message}" for r in v.reasons if r.code in codes]
        detail: list[str] = []
        if key == "signatures":
            detail = [f"proof {p.index}: signature "
                      f"{'holds' if p.signature_valid else 'fails'}, created "
                      f"{p.created or '-'}, {p.verification_method or '(no verificationMethod)'}"
                      for p in v.proofs]
        elif key == "issuer_trust":
            detail = ([f"proof {p.index}: key of {p.controller or '?'} "
                       f"({(p.role or 'not entitled').replace('_', ' ')}), "
                       f"{'trusted' if p.trusted else 'not trusted'}" for p in v.proofs]
                      if v.keys_checked else ["no keys table: signers not checked"])
        elif key == "revocation":
            detail = [n for n in v.notes if "status" in n]
        untrusted = key == "issuer_trust" and not (v.keys_checked and v.proofs)
        if key == "issuer_trust" and not v.proofs:
            detail = ["no proof: no signer to check"]
        out.append({"step": key, "title": title, "ok": not reasons and not untrusted,
                    "reasons": reasons, "detail": detail})
    return out


def verification(scope: Scope, df: pd.DataFrame, drawn: list[dict[str, Any]]
                 ) -> list[dict[str, Any]]:
    """Each document carrying the certificate number (those this user may see) verified by
    the project's certificate check (`rareflow.vc.trust.verify_certificate`, as
    `rareflow certificate verify` and the analysis do) with the store's keys and
    revocations: as of its latest use (the last shipment drawing on it that this user may
    see; without one, as of its validFrom), step by step, and as of each shipment's date."""
    from rareflow.vc.trust import index_keys, index_revocations, verify_certificate

    snap = scope.snap
    docs = snap.documents
    if docs.empty or df.empty:
        return []
    keys = index_keys(snap.key_records) if snap.key_records is not None else None
    revs = snap.table("revocations")
    revocations = index_revocations(revs.to_dict("records")) if not revs.empty else {}
    text = {(str(r.certificate_id), str(r.document_hash)): r.document
            for r in docs.itertuples(index=False)}
    uses = sorted((str(s["date"])[:10], str(s["declaration_id"])) for s in drawn
                  if s.get("date"))
    out = []
    for r in df.to_dict("records"):
        raw = text.get((str(r["certificate_id"]), str(r.get("document_hash"))))
        if raw is None:
            continue
        try:
            doc = json.loads(raw)
        except (TypeError, ValueError):
            out.append({"document_hash": r.get("document_hash"), "status": "unreadable",
                        "steps": [], "uses": []})
            continue
        issued = str(doc.get("validFrom") or r.get("issued") or "")[:10] or None
        as_of, by = uses[-1] if uses else (issued, None)
        if as_of is None:
            continue
        v = verify_certificate(doc, keys, revocations, on_date=as_of)
        out.append({
            "document_hash": r.get("document_hash"), "as_of": as_of, "as_of_shipment": by,
            "status": ("valid" if v.signers_trusted else "invalid" if not v.valid
                       else "signature valid, signer not trusted"),
            "codes": list(v.codes), "steps": _steps(v),
            "uses": [{"declaration_id": sid, "date": day, "url": scope.link(sid)["url"],
                      "codes": list(verify_certificate(doc, keys, revocations,
                                                       on_date=day).codes)}
                     for day, sid in uses]})
    return out

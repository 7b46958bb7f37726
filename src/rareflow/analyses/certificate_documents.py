"""`certificate_forged` from the certificate documents themselves: proofs that fail or rest on
unknown, foreign, revoked or out-of-validity keys; one number used by several parties or for
several contents; and, for letters transcribed from paper (no proof to check), the forgery
indicators that need no signature.

The documents of a dataset are few (one per consignment or contract), so they are checked
in Python; the revocation of a certificate presented by a shipment is an engine rule
(`certificate_use.revoked_presented`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

import pandas as pd
import rfc8785

from rareflow.findings import Finding
from rareflow.vc.trust import index_keys, verify_certificate

RULE = "certificate_forged"
# Reasons of `verify_certificate` that mean the document cannot be trusted as signed.
# Validity and revocation are judged against each shipment's date elsewhere.
FORGERY_REASONS = ("bad_proof", "unsupported_cryptosuite", "unknown_key", "foreign_key",
                   "key_revoked", "key_not_valid", "context_not_allowed", "status_revoked")
TRADING_ROLES = ("trader", "distributor", "forwarder", "broker")


def content_hash(doc: Mapping) -> str:
    """SHA-256 of the JCS form of a document without its proofs: two signings of the same
    content (an end user's, then an authority's endorsement) have the same content hash."""
    body = {k: v for k, v in doc.items() if k != "proof"}
    return hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def _f(cid: str, severity: str, evidence: Iterable[str], message: str) -> Finding:
    return Finding(rule=RULE, severity=severity, subject_type="certificate", subject_id=cid,
                   evidence=[cid, *[e for e in evidence if e and e != cid]], message=message)


def proof_findings(docs: pd.DataFrame, keys: list[dict] | None,
                   allowed_contexts: Iterable[str] | None = None) -> list[Finding]:
    """Signed documents whose proofs or keys fail (one finding per document). Without a
    `keys` table (None), each proof is checked against its own did:key only."""
    index = index_keys(keys) if keys is not None else None
    out = []
    for d in docs.itertuples(index=False):
        doc = json.loads(d.document)
        if not doc.get("proof"):
            continue
        on = str(doc.get("validFrom") or d.issued or "1970-01-01")[:10]
        v = verify_certificate(doc, index, None, on_date=on, allowed_contexts=allowed_contexts)
        bad = [r for r in v.reasons if r.code in FORGERY_REASONS]
        if not bad:
            continue
        codes = sorted({r.code for r in bad})
        signers = [p.verification_method or "" for p in v.proofs]
        out.append(_f(d.certificate_id, "high", [*signers],
                      f"Certificate {d.certificate_id} (document {d.document_hash[:12]}) fails "
                      f"verification: {'; '.join(r.message for r in bad)} "
                      f"[{', '.join(codes)}]."))
    return out


def reuse_findings(docs: pd.DataFrame) -> list[Finding]:
    """One certificate number carried by documents of different end users or contents."""
    out = []
    d = docs.assign(_content=[content_hash(json.loads(x)) for x in docs.document])
    for cid, grp in d.groupby("certificate_id", sort=True):
        contents = grp.drop_duplicates("_content")
        if len(contents) < 2:
            continue
        users = sorted(set(contents.end_user_id.dropna().astype(str)))
        several = len(users) > 1
        what = (f"by {len(users)} different end users ({', '.join(users)})" if several
                else "with different contents")
        out.append(_f(str(cid), "high" if several else "medium", users,
                      f"Certificate number {cid} is carried by {len(contents)} documents {what}"
                      "; at most one of them can be genuine."))
    return out


def unsigned_endorsements(signed: pd.DataFrame, keys: list[dict] | None) -> list[Finding]:
    """Signed certificates that name an endorsing authority whose keys are in the registry
    but carry no proof by any of them: the endorsement may have been stripped or invented
    (a proof set can lose a proof without the others failing)."""
    controller = {str(k.get("key_id")): str(k.get("controller")) for k in keys or []}
    authorities = set(controller.values())
    out = []
    for d in signed.itertuples(index=False):
        auth = d.endorsement_authority
        if not isinstance(auth, str) or auth not in authorities:
            continue
        proofs = json.loads(d.document).get("proof") or []
        proofs = proofs if isinstance(proofs, list) else [proofs]
        signers = {controller.get(str(p.get("verificationMethod"))) for p in proofs
                   if isinstance(p, dict)}
        if auth not in signers:
            cid = str(d.certificate_id)
            out.append(_f(cid, "medium", [auth, str(d.endorsement_ref or "")],
                          f"Certificate {cid} names endorsement "
                          f"{d.endorsement_ref or '(no ref)'} by {auth}, whose keys are in "
                          "the registry, but carries no proof by it: the endorsement is not "
                          "evidenced."))
    return out


def letter_findings(docs: pd.DataFrame, keys: list[dict] | None,
                    parties: pd.DataFrame) -> list[Finding]:
    """Indicators for unsigned letters (no proof): a signatory who also signs for an unrelated
    company, an endorsement by an authority that signs its endorsements but not this one, an
    end user whose line of business is trading."""
    out = []
    unsigned = docs[docs.n_proofs.fillna(0) == 0]
    signed_by = docs.dropna(subset=["signatory_name"]).groupby("signatory_name").end_user_id
    users_of = {k: set(v.dropna()) for k, v in signed_by}
    authorities_with_keys = {str(k.get("controller")) for k in keys or []}
    roles = dict(zip(parties.party_id, parties.roles.fillna(""), strict=True))
    for d in unsigned.itertuples(index=False):
        cid = str(d.certificate_id)
        name = d.signatory_name if isinstance(d.signatory_name, str) else None
        others = sorted(users_of.get(name, set()) - {d.end_user_id}) if name else []
        if others:
            out.append(_f(cid, "medium", [d.end_user_id, *others],
                          f"Letter {cid}: signatory '{name}' also signs certificates for "
                          f"unrelated companies ({', '.join(others)})."))
        auth = d.endorsement_authority
        if isinstance(auth, str) and auth in authorities_with_keys:
            out.append(_f(cid, "medium", [auth, str(d.endorsement_ref or "")],
                          f"Letter {cid} claims endorsement {d.endorsement_ref or '(no ref)'} "
                          f"by {auth}, which signs its endorsements electronically; this one "
                          "carries no signature of it."))
    out += unsigned_endorsements(docs[docs.n_proofs.fillna(0) > 0], keys)
    for d in docs.itertuples(index=False):
        r = roles.get(d.end_user_id, "")
        if r and any(t in r for t in TRADING_ROLES) and not any(
                x in r for x in ("manufacturer", "end_user", "processor")):
            out.append(_f(str(d.certificate_id), "medium", [d.end_user_id],
                          f"Certificate {d.certificate_id} names {d.end_user_id}, a "
                          f"{r.replace(';', ', ')}, as end user: a trading company is not "
                          "a final user of the goods."))
    return out


def document_findings(docs: pd.DataFrame, keys: list[dict] | None, parties: pd.DataFrame,
                      allowed_contexts: Iterable[str] | None = None) -> list[Finding]:
    return (proof_findings(docs, keys, allowed_contexts) + reuse_findings(docs)
            + letter_findings(docs, keys, parties))

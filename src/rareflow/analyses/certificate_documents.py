"""`certificate_forged` from the certificate documents themselves: proofs that fail or rest on
unknown, foreign, revoked or out-of-validity keys, and one number carried by documents of
different end users (contract 1.1 §9). And the `red_flag` indicators of the documents: facts
that honest parties also produce (contract 1.1 §8), shown as low findings whose message starts
with the indicator code (`INDICATORS`), never counted as a violation.

The documents of a dataset are few (one per consignment or contract), so they are checked
in Python; the revocation of a certificate presented by a shipment, and a number presented on
shipments to unrelated importers, are engine rules (`certificate_use`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping

import pandas as pd
import rfc8785

from rareflow.analyses.ownership import OWNERSHIP_THRESHOLD, affiliates
from rareflow.findings import Finding
from rareflow.vc.batch import Unreadable, verify_many
from rareflow.vc.trust import index_keys
from rareflow.vocabulary import roles_of, trading_only

RULE = "certificate_forged"
RED_FLAG = "red_flag"
# Reasons of `verify_certificate` that mean the document cannot be trusted as signed.
# Validity and revocation are judged against each shipment's date elsewhere.
FORGERY_REASONS = ("bad_proof", "unsupported_cryptosuite", "unknown_key", "foreign_key",
                   "key_revoked", "key_not_valid", "context_not_allowed", "status_revoked")

# The red-flag indicators: code -> what it is. docs/rules/red_flag.md explains each. All but
# the last are computed here and in `certificates` on the certificate documents.
INDICATORS: dict[str, str] = {
    "trading_end_user": "the end user named is a trading company (trader, distributor, "
                        "forwarder, broker) with no manufacturing, processing or recycling "
                        "role",
    "shared_signatory": "the signatory of an unsigned letter also signs letters of unrelated "
                        "companies",
    "unsigned_endorsement": "an endorsement claimed by an authority that signs electronically, "
                            "without its proof",
    "number_reissued": "one certificate number carried by documents of the same end user "
                       "with different contents",
    "optional_elements_missing": "elements the contract leaves optional but the policy "
                                 "recommends are missing",
    # from the flows (rareflow.accounting), on the selling party
    "final_goods_military_use": "final goods (not controlled items) sold for a military use",
}


def content_hash(doc: Mapping) -> str:
    """SHA-256 of the JCS form of a document without its proofs: two signings of the same
    content (an end user's, then an authority's endorsement) have the same content hash."""
    body = {k: v for k, v in doc.items() if k != "proof"}
    return hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def _f(cid: str, severity: str, evidence: Iterable[str], message: str) -> Finding:
    return Finding(rule=RULE, severity=severity, subject_type="certificate", subject_id=cid,
                   evidence=[cid, *[e for e in evidence if e and e != cid]], message=message)


def red_flag(cid: str, indicator: str, evidence: Iterable[str], message: str,
             period: str | None = None) -> Finding:
    """A low `red_flag` on certificate `cid`; the message starts with `indicator: `."""
    if indicator not in INDICATORS:
        raise ValueError(f"unknown red-flag indicator {indicator!r}")
    return Finding(rule=RED_FLAG, severity="low", subject_type="certificate", subject_id=cid,
                   period=period,
                   evidence=[cid, *dict.fromkeys(e for e in evidence if e and e != cid)],
                   message=f"{indicator}: {message}")


def indicator_of(f: Finding) -> str | None:
    """The indicator code of a `red_flag` finding (None for other findings)."""
    if f.rule != RED_FLAG:
        return None
    code = f.message.split(":", 1)[0].strip()
    return code if code in INDICATORS else None


def proof_findings(docs: pd.DataFrame, keys: list[dict] | None,
                   allowed_contexts: Iterable[str] | None = None, *,
                   workers: int | None = None,
                   progress: Callable[[int], None] | None = None) -> list[Finding]:
    """Signed documents whose proofs or keys fail (one finding per document). Without a
    `keys` table (None), each proof is checked against its own did:key only.

    The documents are verified together (`rareflow.vc.batch.verify_many`): over the cores
    when they are many (`workers`: default all), in this process otherwise; the findings
    are the same either way. `progress(n)` is called as documents are verified."""
    index = index_keys(keys) if keys is not None else None
    signed, texts, dates = [], [], []
    for d in docs.itertuples(index=False):
        doc = json.loads(d.document)
        if not doc.get("proof"):
            continue
        signed.append(d)
        texts.append(d.document)
        dates.append(str(doc.get("validFrom") or d.issued or "1970-01-01")[:10])
    results = verify_many(texts, index, None, on_date=dates, allowed_contexts=allowed_contexts,
                          workers=workers, progress=progress)
    out = []
    for d, v in zip(signed, results, strict=True):
        if isinstance(v, Unreadable):  # parsed above, so not expected: say so all the same
            out.append(_f(d.certificate_id, "high", [],
                          f"Certificate {d.certificate_id} (document {d.document_hash[:12]}) "
                          f"cannot be verified: {v.message}."))
            continue
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
    """One certificate number carried by documents of different end users:
    `certificate_forged` (high, contract §9). Of the same end user with different contents
    (an amended re-issue looks the same): `red_flag` `number_reissued`."""
    out = []
    d = docs.assign(_content=[content_hash(json.loads(x)) for x in docs.document])
    for cid, grp in d.groupby("certificate_id", sort=True):
        contents = grp.drop_duplicates("_content")
        if len(contents) < 2:
            continue
        users = sorted(set(contents.end_user_id.dropna().astype(str)))
        if len(users) > 1:
            out.append(_f(str(cid), "high", users,
                          f"Certificate number {cid} is carried by {len(contents)} documents "
                          f"of {len(users)} different end users ({', '.join(users)}); at most "
                          "one of them can be genuine."))
        else:
            out.append(red_flag(str(cid), "number_reissued", users,
                                f"Certificate number {cid} is carried by {len(contents)} "
                                f"documents of one end user ({', '.join(users) or 'unnamed'}) "
                                "with different contents: an amended re-issue, or an altered "
                                "copy; ask which one the issuer registered."))
    return out


def _authorities_with_keys(keys: list[dict] | None) -> dict[str, str]:
    """key_id -> controller."""
    return {str(k.get("key_id")): str(k.get("controller")) for k in keys or []}


def unsigned_endorsements(docs: pd.DataFrame, keys: list[dict] | None) -> list[Finding]:
    """Certificates naming an endorsing authority whose keys are in the registry but carrying
    no proof by it: an unsigned letter, or a signed certificate whose proof set lacks the
    authority's proof. Not a failed proof (none is there to fail), and authorities with keys
    may still endorse on paper: `red_flag` `unsigned_endorsement`."""
    controller = _authorities_with_keys(keys)
    authorities = set(controller.values())
    out = []
    for d in docs.itertuples(index=False):
        auth = d.endorsement_authority
        if not isinstance(auth, str) or auth not in authorities:
            continue
        proofs = json.loads(d.document).get("proof") or []
        proofs = proofs if isinstance(proofs, list) else [proofs]
        signers = {controller.get(str(p.get("verificationMethod"))) for p in proofs
                   if isinstance(p, dict)}
        if auth in signers:
            continue
        cid = str(d.certificate_id)
        ref = d.endorsement_ref if isinstance(d.endorsement_ref, str) else None
        what = (f"letter {cid} (no proof at all)" if not proofs
                else f"certificate {cid}, signed by {len(proofs)} proof(s) but none of {auth},")
        out.append(red_flag(cid, "unsigned_endorsement", [auth, ref or ""],
                            f"The {what} claims endorsement {ref or '(no ref)'} by {auth}, "
                            "which has keys in "
                            "the registry; the endorsement is not evidenced electronically. "
                            "Confirm it with the authority."))
    return out


def _norm(name: object) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return None
    return " ".join(name.replace(".", ". ").lower().split())


def shared_signatories(docs: pd.DataFrame, ownership: pd.DataFrame | None = None,
                       threshold: float = OWNERSHIP_THRESHOLD) -> list[Finding]:
    """Unsigned letters whose signatory's name also signs certificates of unrelated end users
    (neither the same party nor affiliated 25% or more either way). Common names are
    shared by honest people (conformance case 12): `red_flag` `shared_signatory`."""
    related = affiliates(ownership, threshold)
    names = docs.assign(name_key=[_norm(n) for n in docs.signatory_name],
                        proofs=pd.to_numeric(docs.n_proofs, errors="coerce").fillna(0))
    names = names.dropna(subset=["name_key"])
    users_of = {k: set(v.dropna().astype(str)) for k, v in names.groupby("name_key").end_user_id}
    out = []
    for d in names[names.proofs == 0].itertuples(index=False):
        me = str(d.end_user_id)
        others = sorted(users_of.get(d.name_key, set()) - {me} - related.get(me, set()))
        if others:
            cid = str(d.certificate_id)
            out.append(red_flag(cid, "shared_signatory", [me, *others],
                                f"Letter {cid}: signatory '{d.signatory_name}' also signs "
                                f"certificates of unrelated companies ({', '.join(others)}). A "
                                "common name is no proof of forgery; compare the signatures "
                                "and titles."))
    return out


def trading_end_users(docs: pd.DataFrame, parties: pd.DataFrame) -> list[Finding]:
    """Certificates whose end user has only trading roles: a BIS "Know Your Customer" red
    flag (a trading company as final destination), which an honest distributor naming itself
    also raises (conformance case 07): `red_flag` `trading_end_user`."""
    roles = dict(zip(parties.party_id.astype(str), parties.roles, strict=True))
    out = []
    for d in docs.drop_duplicates(["certificate_id", "end_user_id"]).itertuples(index=False):
        rs = roles_of(roles.get(str(d.end_user_id)))
        if trading_only(rs):
            cid = str(d.certificate_id)
            out.append(red_flag(cid, "trading_end_user", [str(d.end_user_id)],
                                f"Certificate {cid} names {d.end_user_id} (roles: "
                                f"{', '.join(rs)}) as end user: a trading company as final "
                                "destination; ask who the final user of the goods is."))
    return out


def document_findings(docs: pd.DataFrame, keys: list[dict] | None, parties: pd.DataFrame,
                      allowed_contexts: Iterable[str] | None = None, *,
                      ownership: pd.DataFrame | None = None,
                      ownership_threshold: float = OWNERSHIP_THRESHOLD) -> list[Finding]:
    """`certificate_forged` and `red_flag` findings of the documents. `docs`:
    certificate_id, document_hash, issued, end_user_id, signatory_name,
    endorsement_authority, endorsement_ref, n_proofs, document; `parties`: party_id, roles;
    `ownership`: owner_id, owned_id, share (optional)."""
    return (proof_findings(docs, keys, allowed_contexts) + reuse_findings(docs)
            + unsigned_endorsements(docs, keys)
            + shared_signatories(docs, ownership, ownership_threshold)
            + trading_end_users(docs, parties))

"""The elements of an end-user certificate, in one place (contract 1.1 §7), and
`certificate_incomplete`.

Three tiers:
- **mandatory** (`MANDATORY_ELEMENTS`, the contract's §7 list): exporter, importer, end user,
  country, date of issue, items (product and `max_kg`), end-use code, the `civil_use_only`
  commitment and a commitment against transfers abroad (`no_reexport`, or a named
  `no_transfer:XX`), signatory's name and title. A missing one is `certificate_incomplete`
  (medium).
- **required by the dated policy** for the product and date: the policy's `heavy_re_items`
  (authority endorsement, named no-transfer countries) for a certificate covering an item
  with heavy rare-earth (Dy/Tb) content that a control of the policy covers on some day of the
  certificate's validity. They count as mandatory for that certificate. `no_reexport`
  satisfies the no-transfer element: it forbids every transfer abroad, a fortiori to one
  country (conformance case 13).
- **recommended**: the other elements the policy's `certificate_requirements.mandatory` list
  names (the Wassenaar indicative list: contract reference, end user's address, end-use
  statement...). The contract makes them optional: a missing one is at most a `red_flag`
  (low, indicator `optional_elements_missing`).

`missing_elements` is the one check; `rareflow analyze` (`incomplete_findings`) and
`rareflow assess` (`analyses.assess`) both call it. Certificates are few (one per consignment
or contract), so they are checked in Python on the documents themselves."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date

import pandas as pd

from rareflow.analyses.certificate_documents import red_flag
from rareflow.findings import Finding
from rareflow.policy import Control, Policy
from rareflow.vc.trust import as_date, blank
from rareflow.vocabulary import HEAVY_PRODUCTS, forbids_transfer

RULE = "certificate_incomplete"

# Contract 1.1 §7, in this order in messages.
MANDATORY_ELEMENTS: tuple[str, ...] = (
    "exporter", "importer", "end_user", "destination", "issued", "goods", "quantity",
    "end_use", "civil_use_only", "no_reexport", "signatory_name", "signatory_title",
)

LABELS: dict[str, str] = {
    "exporter": "exporter",
    "importer": "importer",
    "end_user": "end user",
    "destination": "final destination country",
    "issued": "date of issue",
    "goods": "product of every item",
    "quantity": "max_kg of every item",
    "end_use": "end-use code",
    "civil_use_only": "civil-use-only commitment",
    "no_reexport": "no-re-export commitment (or named no-transfer countries)",
    "signatory_name": "signatory's name",
    "signatory_title": "signatory's position",
    # optional unless the policy requires them
    "end_user_address": "end user's address (parties table)",
    "contract_ref": "contract reference",
    "end_use_description": "end-use statement",
    "end_use_site": "end-use site",
    "value": "value of every item",
    "endorsement": "authority endorsement (heavy rare earths)",
    "no_transfer": "named no-transfer countries or no-re-export (heavy rare earths)",
}
# Elements that a mandatory one already checks: the no-transfer element is the same test as
# the contract's no-re-export commitment (`no_reexport` or a named `no_transfer:XX`).
SUBSUMED: dict[str, str] = {"no_transfer": "no_reexport"}



def subject_of(doc: Mapping) -> Mapping:
    """The `credentialSubject` of a document (the first one of a list), {} when none."""
    s = doc.get("credentialSubject")
    if isinstance(s, list):
        s = s[0] if s else {}
    return s if isinstance(s, Mapping) else {}


def commitments_of(subject: Mapping) -> list[str]:
    raw = subject.get("commitments")
    if isinstance(raw, str):
        raw = raw.split(";")
    if not isinstance(raw, list | tuple):
        return []
    return [str(c).strip() for c in raw if not blank(c)]


def has_commitment(commitments: Iterable[str], name: str) -> bool:
    return any(c == name or c.startswith(f"{name}:") for c in commitments)


def _items(subject: Mapping) -> list[Mapping]:
    items = subject.get("items")
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


def element_gaps(subject: Mapping, end_user_address: object = None) -> dict[str, bool]:
    """Every element known here, True when the certificate lacks it. `end_user_address`:
    the named end user's `address` in `parties` (the certificate itself carries none)."""
    items = _items(subject)
    end_use = subject.get("end_use")
    end_use = end_use if isinstance(end_use, Mapping) else {}
    signatory = subject.get("signatory")
    signatory = signatory if isinstance(signatory, Mapping) else {}
    endorsement = subject.get("endorsement")
    endorsement = endorsement if isinstance(endorsement, Mapping) else {}
    cs = commitments_of(subject)
    has_end_user = not blank(subject.get("end_user_id"))
    return {
        "exporter": blank(subject.get("exporter_id")),
        "importer": blank(subject.get("importer_id")),
        "end_user": not has_end_user,
        "destination": blank(subject.get("country")),
        "issued": blank(subject.get("issued")),
        "goods": not items or any(blank(i.get("product")) for i in items),
        "quantity": not items or any(blank(i.get("max_kg")) for i in items),
        "end_use": blank(end_use.get("use")),
        "civil_use_only": not has_commitment(cs, "civil_use_only"),
        "no_reexport": not forbids_transfer(cs),
        "signatory_name": blank(signatory.get("name")),
        "signatory_title": blank(signatory.get("title")),
        "end_user_address": has_end_user and blank(end_user_address),
        "contract_ref": blank(subject.get("contract_ref")),
        "end_use_description": blank(end_use.get("description")),
        "end_use_site": blank(end_use.get("site")),
        "value": not items or any(blank(i.get("value_usd")) for i in items),
        "endorsement": blank(endorsement.get("authority")) or blank(endorsement.get("ref")),
        "no_transfer": not forbids_transfer(cs),
    }


def requirements(policy: Policy, heavy_controlled: bool) -> tuple[tuple[str, ...],
                                                                  tuple[str, ...]]:
    """(mandatory, recommended) element names for a certificate. Mandatory: the contract's
    list, plus the policy's `heavy_re_items` when the certificate covers a heavy rare-earth
    item under control. Recommended: the rest of the policy's list."""
    extra = tuple(e for e in policy.heavy_re_items if e in LABELS) if heavy_controlled else ()
    mandatory = tuple(e for e in dict.fromkeys((*MANDATORY_ELEMENTS, *extra))
                      if SUBSUMED.get(e) not in MANDATORY_ELEMENTS)
    recommended = tuple(e for e in dict.fromkeys(policy.mandatory)
                        if e in LABELS and e not in mandatory
                        and SUBSUMED.get(e) not in MANDATORY_ELEMENTS)
    return mandatory, recommended


def missing_elements(subject: Mapping, policy: Policy, *, heavy_controlled: bool,
                     end_user_address: object = None) -> tuple[list[str], list[str]]:
    """(mandatory elements missing, recommended elements missing), in message order."""
    gaps = element_gaps(subject, end_user_address)
    mandatory, recommended = requirements(policy, heavy_controlled)
    return ([e for e in mandatory if gaps.get(e)], [e for e in recommended if gaps.get(e)])


# --- which certificates the policy's heavy rare-earth items apply to -----------------------

def is_heavy(product: str, heavy_re_kg_per_unit: object = None) -> bool:
    if product in HEAVY_PRODUCTS:
        return True
    try:
        return float(heavy_re_kg_per_unit or 0) > 0
    except (TypeError, ValueError):
        return False


def _in_force_between(c: Control, start: date, end: date) -> bool:
    """Whether `c` is in force on some day of [start, end]."""
    if end < c.effective_from:
        return False
    days = [max(start, c.effective_from), *(until for _, until in c.suspended)]
    return any(start <= d <= end and c.in_force(d) for d in days)


def controlled_heavy(products: Iterable[str], heavy_of: Mapping[str, object], policy: Policy,
                     start: date | None, end: date | None) -> bool:
    """Whether one of `products` carries heavy rare earths and a control of the policy covers
    it on some day of [start, end] (any day when the dates are unknown)."""
    for product in products:
        if not is_heavy(product, heavy_of.get(product)):
            continue
        for c in policy.controls:
            if product not in c.products and product not in c.heavy_only:
                continue
            if start is None or end is None or _in_force_between(c, start, end):
                return True
    return False


def _day(v: object) -> date | None:
    """A cell as a date; None when blank or not a date."""
    try:
        return as_date(v)
    except ValueError:
        return None


def validity(doc: Mapping) -> tuple[date | None, date | None]:
    """The certificate's validity (validFrom or issue date, to validUntil or the start)."""
    start = _day(doc.get("validFrom")) or _day(subject_of(doc).get("issued"))
    end = _day(doc.get("validUntil")) or start
    if start is not None and end is not None and end < start:
        start, end = end, start
    return start, end


# --- the finding ----------------------------------------------------------------------------

def incomplete_findings(docs: pd.DataFrame, parties: pd.DataFrame,
                        products: pd.DataFrame | None, policy: Policy) -> list[Finding]:
    """Per certificate document: `certificate_incomplete` (medium) naming the mandatory
    elements it lacks, and a `red_flag` (low, `optional_elements_missing`) naming the
    recommended ones it lacks. `docs`: certificate_id, document_hash, document (JSON text);
    `parties`: party_id, address; `products`: product, heavy_re_kg_per_unit."""
    address = ({} if "address" not in parties.columns else
               dict(zip(parties.party_id.astype(str), parties.address, strict=True)))
    heavy_of: dict[str, object] = {}
    if products is not None and "heavy_re_kg_per_unit" in products.columns:
        heavy_of = dict(zip(products["product"].astype(str),
                            products["heavy_re_kg_per_unit"], strict=True))
    out: list[Finding] = []
    for d in docs.itertuples(index=False):
        try:
            doc = json.loads(d.document)
        except (TypeError, ValueError):
            continue
        if not isinstance(doc, Mapping):
            continue
        subject = subject_of(doc)
        cid = str(d.certificate_id) if not blank(d.certificate_id) else str(d.document_hash)
        shown = cid if not blank(d.certificate_id) else "(no number)"
        start, end = validity(doc)
        heavy = controlled_heavy([str(i.get("product")) for i in _items(subject)
                                  if not blank(i.get("product"))], heavy_of, policy,
                                 start, end)
        end_user = subject.get("end_user_id")
        mandatory, optional = missing_elements(
            subject, policy, heavy_controlled=heavy,
            end_user_address=address.get(str(end_user)) if not blank(end_user) else None)
        issued = subject.get("issued")
        period = str(issued)[:7] if not blank(issued) else None
        if mandatory:
            out.append(Finding(
                rule=RULE, severity="medium", subject_type="certificate", subject_id=cid,
                period=period, evidence=[cid],
                message=f"Certificate {shown} lacks: "
                        f"{', '.join(LABELS[e] for e in mandatory)}."))
        if optional:
            out.append(red_flag(
                cid, "optional_elements_missing", [],
                f"Certificate {shown} lacks elements the policy recommends (optional under "
                f"the contract): {', '.join(LABELS[e] for e in optional)}.", period=period))
    return out

"""`certificate_incomplete`: a certificate that lacks an element the policy makes mandatory
(Wassenaar indicative list of end-user assurances; for heavy rare earths, the authority's
endorsement and named no-transfer countries)."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from rareflow.analyses.tables import Tables, finding_rows
from rareflow.policy import Policy

RULE = "certificate_incomplete"
HEAVY_PRODUCTS = ("dy_metal", "tb_metal", "dy_oxide", "tb_oxide")


def _has_commitment(commitments: ir.StringValue, name: str) -> ir.BooleanValue:
    pattern = rf"(^|;)\s*{name}(\s*(;|$)|:)"
    return commitments.fill_null("").re_search(pattern)


def certificate_elements(t: Tables) -> ir.Table | None:
    """Per certificate document, one boolean column per element: true = missing."""
    if t.certificates is None:
        return None
    c = t.certificates
    items = t.certificate_items
    p = t.products.select("product", _heavy=t.products.heavy_re_kg_per_unit.fill_null(0))
    if items is not None:
        it = items.left_join(p, "product").select(items, p._heavy)
        per_doc = it.group_by("document_hash").aggregate(
            _n_items=it.count(),
            _no_goods=(it.product.isnull() & it.hs_code.isnull()).any(),
            _no_qty=(it.max_kg.isnull() & it.value_usd.isnull()).any(),
            _heavy_items=((it._heavy > 0) | it.product.isin(HEAVY_PRODUCTS)).any(),
        )
        c = c.left_join(per_doc, "document_hash").select(
            c, per_doc._n_items, per_doc._no_goods, per_doc._no_qty, per_doc._heavy_items)
    else:
        c = c.mutate(_n_items=ibis.literal(0), _no_goods=ibis.literal(True),
                     _no_qty=ibis.literal(True), _heavy_items=ibis.literal(False))
    eu = t.parties.select(_eu_id=t.parties.party_id, _eu_address=t.parties.address)
    c = c.left_join(eu, c.end_user_id == eu._eu_id).select(c, eu._eu_address)
    n_items = c._n_items.fill_null(0)
    return c.mutate(
        m_exporter=c.exporter_id.isnull(),
        m_end_user=c.end_user_id.isnull(),
        m_end_user_address=c.end_user_id.notnull() & c._eu_address.isnull(),
        m_destination=c.country.isnull(),
        m_goods=(n_items == 0) | c._no_goods.fill_null(True),
        m_quantity=(n_items == 0) | c._no_qty.fill_null(True),
        m_contract_ref=c.contract_ref.isnull(),
        m_issued=c.issued.isnull(),
        m_signatory_name=c.signatory_name.isnull(),
        m_signatory_title=c.signatory_title.isnull(),
        m_end_use=c.end_use.isnull(),
        m_end_use_description=c.end_use_description.isnull(),
        m_civil_use_only=~_has_commitment(c.commitments, "civil_use_only"),
        m_no_reexport=~_has_commitment(c.commitments, "no_reexport"),
        m_endorsement=c._heavy_items.fill_null(False)
        & (c.endorsement_authority.isnull() | c.endorsement_ref.isnull()),
        m_no_transfer=c._heavy_items.fill_null(False)
        & ~_has_commitment(c.commitments, "no_transfer"),
    )


LABELS = {
    "exporter": "exporter",
    "end_user": "end user",
    "end_user_address": "end user's address (parties table)",
    "destination": "final destination country",
    "goods": "description of the goods",
    "quantity": "quantity or value",
    "contract_ref": "contract reference",
    "issued": "date of issue",
    "signatory_name": "signatory's name",
    "signatory_title": "signatory's position",
    "end_use": "end-use code",
    "end_use_description": "end-use statement",
    "civil_use_only": "civil-use-only commitment",
    "no_reexport": "no-re-export commitment",
    "endorsement": "authority endorsement (heavy rare earths)",
    "no_transfer": "named no-transfer countries (heavy rare earths)",
}
SEVERE = ("civil_use_only", "no_reexport", "end_user", "endorsement")


def incomplete_certificates(t: Tables, policy: Policy) -> ir.Table | None:
    """One finding per certificate document that misses any mandatory element."""
    c = certificate_elements(t)
    if c is None:
        return None
    wanted = [e for e in (*policy.mandatory, *policy.heavy_re_items) if e in LABELS]
    missing_any = ibis.or_(*[c[f"m_{e}"] for e in wanted])
    x = c.filter(missing_any)
    names = [ibis.cases((x[f"m_{e}"], LABELS[e]), else_=ibis.null("string")) for e in wanted]
    severe = ibis.or_(*[x[f"m_{e}"] for e in wanted if e in SEVERE])
    listed = ibis.literal(", ").join(names)
    return finding_rows(
        x, rule=ibis.literal(RULE),
        severity=ibis.cases((severe, "high"), else_="medium"),
        subject_type=ibis.literal("certificate"),
        subject_id=x.certificate_id.fill_null(x.document_hash),
        period=x.issued.cast("string").substr(0, 7),
        evidence=ibis.array([x.certificate_id.fill_null(x.document_hash)]),
        message=ibis.literal("Certificate ").concat(
            x.certificate_id.fill_null("(no number)"), " lacks: ", listed, "."),
    )

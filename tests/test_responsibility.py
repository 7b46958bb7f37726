"""Who a re-export names (contract 1.1 §5), on reduced frames: the actor and the answerable
holder; high when the records establish it, medium through a buyer's mass balance."""

from __future__ import annotations

import pandas as pd

from rareflow.analyses.responsibility import (
    Act,
    binds_against,
    promises,
    responsibility_findings,
    terms,
)


def test_commitments_are_read_once_in_one_form() -> None:
    t = terms("civil_use_only; no_transfer : us;;")
    assert t == {"civil_use_only", "no_transfer:US"}
    assert binds_against(t, "US") and not binds_against(t, "AE")
    assert binds_against(terms("no_reexport"), "AE")


def _promise() -> dict:
    ship = pd.DataFrame([("D1", "IMP", "IMP", "C1", None, "2025-01-10")],
                        columns=["declaration_id", "consignee_id", "end_user_id",
                                 "certificate_id", "licence_id", "first"])
    certs = pd.DataFrame([("C1", "civil_use_only;no_reexport", "IMP", "IMP")],
                         columns=["certificate_id", "commitments", "importer_id",
                                  "end_user_id"])
    lics = pd.DataFrame(columns=["licence_id", "conditions", "consignee_id", "end_user_id"])
    return promises(ship, certs, lics)


def test_buyer_reexport_names_the_buyer_and_the_holder() -> None:
    # IMP (holder of C1) sold 60 kg of content to BUY, which sent 90 kg abroad, no lot link
    act = Act(flow_id="F9", date="2025-06-01", actor="BUY", sender="BUY", kind="reexport",
              kg=90.0, product="ndfeb_magnet", country="US")
    supply = pd.DataFrame([("IMP", "BUY", 60.0)], columns=["from_id", "to_id", "content_kg"])
    found = responsibility_findings([act], _promise(), supply, {}, {})
    by = {(f.rule, f.subject_id): f for f in found}
    buyer = by[("unauthorised_reexport", "BUY")]
    holder = by[("unauthorised_reexport", "IMP")]
    cert = by[("certificate_violated", "C1")]
    assert buyer.severity == holder.severity == cert.severity == "medium"
    assert holder.kg == 60.0  # at most what the buyer received from the holder
    # the same act traced by lot links to the holder's declaration is established: high
    found = responsibility_findings([act], _promise(), supply, {"F9": {"D1"}}, {})
    assert {f.severity for f in found} == {"high"}


def test_promise_before_its_goods_arrived_is_not_broken() -> None:
    act = Act(flow_id="F0", date="2024-12-01", actor="IMP", sender="IMP", kind="reexport",
              kg=30.0, product="ndfeb_magnet", country="US")
    assert responsibility_findings([act], _promise(), pd.DataFrame(
        columns=["from_id", "to_id", "content_kg"]), {}, {}) == []

"""End-user certificates and keys of the demo world, signed with eddsa-jcs-2022."""

from __future__ import annotations

import hashlib

from rareflow.vc import KeyPair, sign_credential
from rareflow.world.book import Book

CONTEXT = ["https://www.w3.org/ns/credentials/v2"]


def key_for(seed: int, name: str) -> KeyPair:
    """A deterministic key per party (and per seed)."""
    return KeyPair.from_seed(hashlib.sha256(f"rareflow-demo:{seed}:{name}".encode()).digest())


def register_key(book: Book, kp: KeyPair, controller: str, valid_from: str = "2023-01-01",
                 valid_to: str = "2027-12-31", revoked_on: str | None = None) -> None:
    book.add("keys", key_id=kp.verification_method, controller=controller,
             public_key_multibase=kp.public_multibase, valid_from=valid_from,
             valid_to=valid_to, revoked_on=revoked_on)


def certificate(cid: str, *, exporter: str, importer: str, end_user: str, country: str,
                year: int, max_kg: float, use: str, description: str, site: str,
                authority: str | None, contract: str | None = "C", product: str = "ndfeb_magnet",
                commitments: tuple[str, ...] = ("civil_use_only", "no_reexport", "no_transfer:US",
                                                "domestic_only", "consent_to_verification"),
                signatory: dict | None = None) -> dict:
    subject: dict = {
        "certificate_id": cid, "kind": "end_user_statement", "issued": f"{year}-01-02",
        "exporter_id": exporter, "importer_id": importer, "end_user_id": end_user,
        "country": country,
        "items": [{"product": product, "hs_code": "8505111000", "max_kg": f"{max_kg:.0f}",
                   "value_usd": f"{max_kg * 60:.0f}"}],
        "end_use": {"use": use, "description": description, "site": site},
        "commitments": list(commitments),
        "signatory": signatory if signatory is not None else {"name": f"Director of {end_user}",
                                                               "title": "Managing Director"},
    }
    if contract:
        subject["contract_ref"] = f"{contract}-{cid}"
    if authority:
        subject["endorsement"] = {"authority": authority, "ref": f"{authority}/EUC/{cid}"}
    return {
        "@context": CONTEXT, "id": f"urn:rareflow:certificate:{cid}",
        "type": ["VerifiableCredential", "EndUserCertificate"],
        "issuer": f"urn:rareflow:party:{end_user}",
        "validFrom": f"{year}-01-01T00:00:00Z", "validUntil": f"{year}-12-31T23:59:59Z",
        "credentialSubject": subject,
    }


def sign(doc: dict, *keys: KeyPair, created: str) -> dict:
    for kp in keys:
        doc = sign_credential(doc, kp, created)
    return doc

"""Verifiable credentials: Ed25519 Multikey keys and the eddsa-jcs-2022 cryptosuite."""

from rareflow.vc.eddsa_jcs import sign_credential, verify_proof
from rareflow.vc.multikey import KeyPair

__all__ = ["KeyPair", "sign_credential", "verify_proof"]

"""Ed25519 keys as multibase Multikey (base58btc, 'z' prefix) and `did:key` identifiers."""

from __future__ import annotations

from dataclasses import dataclass

import base58
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PUB_PREFIX = b"\xed\x01"  # multicodec ed25519-pub
SECRET_PREFIX = b"\x80\x26"  # multicodec ed25519-priv


def encode(prefix: bytes, raw: bytes) -> str:
    return "z" + base58.b58encode(prefix + raw).decode()


def decode(multibase: str, prefix: bytes) -> bytes:
    if not multibase.startswith("z"):
        raise ValueError("not a base58btc multibase value (must start with 'z')")
    data = base58.b58decode(multibase[1:])
    if not data.startswith(prefix) or len(data) != 34:
        raise ValueError("not an Ed25519 Multikey value")
    return data[2:]


def public_key(multibase: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(decode(multibase, PUB_PREFIX))


@dataclass(frozen=True)
class KeyPair:
    """An Ed25519 key pair. `repr` never shows the secret."""

    secret: Ed25519PrivateKey

    @classmethod
    def from_seed(cls, seed: bytes) -> KeyPair:
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_secret_multibase(cls, value: str) -> KeyPair:
        return cls.from_seed(decode(value, SECRET_PREFIX))

    @classmethod
    def generate(cls) -> KeyPair:
        return cls(Ed25519PrivateKey.generate())

    @property
    def public_multibase(self) -> str:
        raw = self.secret.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return encode(PUB_PREFIX, raw)

    @property
    def secret_multibase(self) -> str:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        raw = self.secret.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return encode(SECRET_PREFIX, raw)

    @property
    def verification_method(self) -> str:
        pub = self.public_multibase
        return f"did:key:{pub}#{pub}"

    def __repr__(self) -> str:
        return f"KeyPair(public={self.public_multibase})"

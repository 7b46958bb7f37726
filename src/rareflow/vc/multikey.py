"""Ed25519 keys as multibase Multikey (base58btc, 'z' prefix) and `did:key` identifiers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PUB_PREFIX = b"\xed\x01"  # multicodec ed25519-pub
SECRET_PREFIX = b"\x80\x26"  # multicodec ed25519-priv


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}


def b58encode(data: bytes) -> str:
    """Base58 (Bitcoin alphabet), as the `base58` package, a few times faster."""
    n = int.from_bytes(data, "big")
    digits = []
    while n:
        n, r = divmod(n, 58)
        digits.append(_B58[r])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(digits))


# base58 character -> digit value (255: not in the alphabet)
_B58_DIGITS = bytes(_B58_INDEX.get(chr(b), 255) for b in range(256))
_GROUP = 10  # digits per machine-word group: 58**10 < 2**63
_GROUP_WEIGHTS = np.array([58**k for k in range(_GROUP - 1, -1, -1)], dtype=np.int64)
_GROUP_BASE = 58**_GROUP


def b58digits(text: str) -> bytes:
    """The digit values (0-57, one byte each) of base58 text; ValueError on a character
    outside the alphabet. The part of `b58decode` that can fail."""
    if not isinstance(text, str):
        raise ValueError("invalid base58 text")
    try:
        digits = text.encode("ascii").translate(_B58_DIGITS)
    except UnicodeEncodeError:
        raise ValueError("invalid base58 text") from None
    if b"\xff" in digits:
        raise ValueError("invalid base58 text")
    return digits


def b58decode(text: str) -> bytes:
    """Inverse of b58encode; ValueError on a character outside the alphabet.

    Signatures are decoded once per proof verified, so the digits are read in groups of
    ten machine words at once (numpy) and only the groups are combined as a big integer."""
    return b58decode_digits(b58digits(text))


def b58decode_digits(digits: bytes) -> bytes:
    """The bytes of a base58 number given as its digit values (`b58digits`)."""
    pad = -len(digits) % _GROUP
    groups = np.frombuffer(b"\0" * pad + digits, dtype=np.uint8).reshape(-1, _GROUP)
    return _from_groups(digits, (groups @ _GROUP_WEIGHTS).tolist())


def b58decode_many(items: Sequence[bytes]) -> list[bytes]:
    """`b58decode_digits` of each of `items` (the signatures of a batch of proofs), without
    a Python loop over the digits or their groups: all are padded with leading zero digits
    to one width (which leaves their values unchanged), their groups computed by one numpy
    product, and each number by a second, with Python integers (an object array), as
    `sum(group * base**k)`."""
    if not items:
        return []
    width = -(-max(map(len, items)) // _GROUP) * _GROUP
    if not width:
        return [b"" for _ in items]
    groups = np.frombuffer(b"".join([b"\0" * (width - len(d)) + d for d in items]),
                           dtype=np.uint8).reshape(-1, _GROUP) @ _GROUP_WEIGHTS
    numbers = (groups.reshape(len(items), -1) @ _group_powers(width // _GROUP)).tolist()
    out = []
    for digits, n in zip(items, numbers, strict=True):
        if digits[:1] == b"\0":  # leading zero digits: as many zero bytes
            zeros = len(digits) - len(digits.lstrip(b"\0"))
            out.append(b"\0" * zeros + (n.to_bytes((n.bit_length() + 7) // 8, "big")
                                         if n else b""))
        else:
            out.append(n.to_bytes((n.bit_length() + 7) // 8, "big"))
    return out


@lru_cache(maxsize=64)
def _group_powers(count: int) -> np.ndarray:
    """_GROUP_BASE ** (count-1) ... _GROUP_BASE ** 0, as Python integers."""
    return np.array([_GROUP_BASE**k for k in range(count - 1, -1, -1)], dtype=object)


def _from_groups(digits: bytes, groups: list[int]) -> bytes:
    n = 0
    for g in groups:
        n = n * _GROUP_BASE + g
    zeros = len(digits) - len(digits.lstrip(b"\0"))
    return b"\0" * zeros + (n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b"")


def encode(prefix: bytes, raw: bytes) -> str:
    return "z" + b58encode(prefix + raw)


def decode(multibase: str, prefix: bytes) -> bytes:
    if not multibase.startswith("z"):
        raise ValueError("not a base58btc multibase value (must start with 'z')")
    data = b58decode(multibase[1:])
    if not data.startswith(prefix) or len(data) != 34:
        raise ValueError("not an Ed25519 Multikey value")
    return data[2:]


@lru_cache(maxsize=4096)
def public_key(multibase: str) -> Ed25519PublicKey:
    """The Ed25519 public key of a Multikey value (cached: keys are immutable)."""
    return Ed25519PublicKey.from_public_bytes(decode(multibase, PUB_PREFIX))


def did_key_multibase(verification_method: str) -> str:
    """The public Multikey value of a `did:key` verification method
    (`did:key:z6Mk...#z6Mk...`, or the bare DID); ValueError for anything else."""
    if not isinstance(verification_method, str) or not verification_method.startswith("did:key:"):
        raise ValueError(f"not a did:key verification method: {verification_method!r}")
    did, _, fragment = verification_method[len("did:key:"):].partition("#")
    if fragment and fragment != did:
        raise ValueError("did:key fragment does not repeat the key")
    decode(did, PUB_PREFIX)
    return did


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

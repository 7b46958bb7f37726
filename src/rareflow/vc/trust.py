"""Whether an end-user certificate can be trusted, as of a date: its proofs, the keys that
made them (the contract's `keys` table), revocations (the `revocations` table and W3C
Bitstring Status Lists), its `@context` and its validity period.

`verify_certificate` is a pure function: everything it needs is given, nothing is fetched.
It returns every problem it finds, each as a reason code with an explanation, and what
each proof showed (whose key, which role, whether the signature holds).
`verify_certificates` gives the same for many certificates, faster per certificate: the
checks of all of them first, then all their Ed25519 checks in one run, then the results.
"""

from __future__ import annotations

import base64
import binascii
import gc
import gzip
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TypeVar

from rareflow.vc import eddsa_jcs as jcs
from rareflow.vc.multikey import did_key_multibase, public_key

VC_V2 = "https://www.w3.org/ns/credentials/v2"
# The VC 2.0 context is the only one the contract's example (and the demo world) uses; it
# also defines DataIntegrityProof and BitstringStatusListEntry.
DEFAULT_CONTEXTS: tuple[str, ...] = (VC_V2,)

REASONS: dict[str, str] = {
    "no_proof": "the certificate carries no proof",
    "bad_proof": "a signature does not verify: altered content or forged proof",
    "unsupported_cryptosuite": "a proof uses a type or cryptosuite other than "
                               "DataIntegrityProof eddsa-jcs-2022",
    "unknown_key": "a proof's verificationMethod is not in the keys table",
    "foreign_key": "a key belongs to neither the certificate's end user (issuer) nor the "
                   "endorsing authority it names",
    "key_revoked": "a key was revoked on or before the day the proof was created",
    "key_not_valid": "a proof was created outside its key's valid_from..valid_to",
    "certificate_revoked": "the certificate is in the revocations table as of the date",
    "status_revoked": "the certificate's Bitstring Status List entry is set (revoked or "
                      "suspended)",
    "status_list_invalid": "the status list credential given for the certificate cannot be "
                           "read or does not cover its entry",
    "context_not_allowed": "an @context entry is not on the allow-list",
    "not_yet_valid": "validFrom is after the date",
    "expired": "validUntil is before the date",
}

STATUS_LIST_MIN_ENTRIES = 131_072  # Bitstring Status List v1.0: 16 KB of 1-bit entries


@dataclass(frozen=True)
class Reason:
    """One problem: a code from REASONS, a sentence for people, and the proof concerned
    (its index in the proof set) when there is one."""

    code: str
    message: str
    proof: int | None = None

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "proof": self.proof}


@dataclass(frozen=True)
class ProofResult:
    """What one proof showed. `signature_valid`: the Ed25519 signature holds over the
    content with the key used; `trusted`: it does and the key passed every registry check
    (known, owned by a party entitled to sign, valid and not revoked when used). Without a
    keys table no proof is trusted: anyone can make a did:key."""

    index: int
    verification_method: str | None
    created: str | None
    controller: str | None
    role: str | None  # "end_user", "authority", or None (unknown or foreign)
    signature_valid: bool
    trusted: bool

    def to_dict(self) -> dict:
        return {"index": self.index, "verificationMethod": self.verification_method,
                "created": self.created, "controller": self.controller, "role": self.role,
                "signature_valid": self.signature_valid, "trusted": self.trusted}


@dataclass(frozen=True)
class Verification:
    """The outcome: `valid` when no reason was found. `keys_checked` is False when no keys
    table was given (signatures then checked against the did:key itself, controllers
    unchecked); `notes` say what could not be checked without being a failure."""

    certificate_id: str | None
    on_date: str
    reasons: tuple[Reason, ...]
    proofs: tuple[ProofResult, ...]
    keys_checked: bool = True
    notes: tuple[str, ...] = field(default=())

    @property
    def valid(self) -> bool:
        return not self.reasons

    @property
    def signers_trusted(self) -> bool:
        """Valid, and every proof made with a key the keys table vouches for. A certificate
        checked without a keys table is at best valid with its signers not trusted: its
        signatures hold against the did:keys it names, which anyone can make."""
        return self.valid and bool(self.proofs) and all(p.trusted for p in self.proofs)

    @property
    def codes(self) -> tuple[str, ...]:
        """The distinct reason codes, in the order first found."""
        return tuple(dict.fromkeys(r.code for r in self.reasons))

    @property
    def signed_by(self) -> tuple[str, ...]:
        """Controllers (or, without a keys table, verification methods) whose proofs hold."""
        return tuple(p.controller or p.verification_method or "" for p in self.proofs
                     if p.trusted or (not self.keys_checked and p.signature_valid))

    def to_dict(self) -> dict:
        return {"certificate_id": self.certificate_id, "on_date": self.on_date,
                "valid": self.valid, "codes": list(self.codes),
                "reasons": [r.to_dict() for r in self.reasons],
                "proofs": [p.to_dict() for p in self.proofs],
                "keys_checked": self.keys_checked, "notes": list(self.notes)}


_new = object.__new__


_T = TypeVar("_T")


def _proof_result(index: int, verification_method: str | None, created: str | None,
                  controller: str | None, role: str | None, signature_valid: bool,
                  trusted: bool) -> ProofResult:
    """`ProofResult(...)`, the same object, without the frozen dataclass's one
    `object.__setattr__` call per field (two of these and a Verification per certificate
    verified: tests/test_vc_batch_fast.py checks they equal the dataclass's own)."""
    return _filled(ProofResult, index=index, verification_method=verification_method,
                   created=created, controller=controller, role=role,
                   signature_valid=signature_valid, trusted=trusted)


def _verification(certificate_id: str | None, on_date: str, reasons: tuple[Reason, ...],
                  proofs: tuple[ProofResult, ...], keys_checked: bool,
                  notes: tuple[str, ...]) -> Verification:
    """`Verification(...)`, the same object, built as `_proof_result` builds its own."""
    return _filled(Verification, certificate_id=certificate_id, on_date=on_date,
                   reasons=reasons, proofs=proofs, keys_checked=keys_checked, notes=notes)


def _filled(cls: type[_T], **fields: object) -> _T:
    """An instance of the frozen dataclass `cls` with `fields`, set in its `__dict__` at once
    (no `__init__`, no `object.__setattr__` per field)."""
    result = _new(cls)
    result.__dict__.update(fields)
    return result


def _is_map(value: object) -> bool:
    """isinstance(value, Mapping), the common case (a dict) without the ABC check."""
    return type(value) is dict or isinstance(value, Mapping)

# --- tables ---------------------------------------------------------------------------------

def blank(value: object) -> bool:
    """An empty cell: None, '', NaN, and pandas' NaT / NA (tables read from a store). A list
    or an array is not an empty cell."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(value != value)  # NaN, NaT
    except TypeError:  # pd.NA
        return True
    except ValueError:  # an array: not a cell
        return False


_DATES: dict[str, date | None] = {}  # ISO text -> date: the keys table's cells repeat


def as_date(value: object) -> date | None:
    """A table cell as a date: ISO text, a date, a datetime (pandas Timestamp too)."""
    if type(value) is str:
        found = _DATES.get(value, _DATES)
        if found is not _DATES:
            return found  # type: ignore[return-value]
        parsed = _as_date(value)  # ValueError: not cached, raised again next time
        if len(_DATES) < 4096:
            _DATES[value] = parsed
        return parsed
    return _as_date(value)


def _as_date(value: object) -> date | None:
    if blank(value):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 else date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO date: {value!r}") from None


def index_keys(rows: Iterable[Mapping]) -> dict[str, Mapping]:
    """The keys table by key_id (pass the result instead of the rows to verify many
    certificates against one table without indexing it each time)."""
    return {str(r["key_id"]): r for r in rows if not blank(r.get("key_id"))}


def index_revocations(rows: Iterable[Mapping]) -> dict[str, list[Mapping]]:
    """The revocations table by certificate_id."""
    out: dict[str, list[Mapping]] = {}
    for r in rows:
        if not blank(r.get("certificate_id")):
            out.setdefault(str(r["certificate_id"]), []).append(r)
    return out


class _RowLookup:
    """`.get(id)` over plain rows by scanning them: for one certificate, cheaper than
    building the index (`index_keys` / `index_revocations` are for many)."""

    def __init__(self, rows: Iterable[Mapping], column: str, many: bool = False) -> None:
        self.rows = rows if isinstance(rows, list | tuple) else list(rows)
        self.column, self.many = column, many

    def get(self, wanted: str, default: object = None) -> object:
        col = self.column
        found = [r for r in self.rows if r.get(col) == wanted]
        if self.many:
            return found or default
        return found[-1] if found else default


# --- Bitstring Status List ------------------------------------------------------------------

def decode_status_list(encoded: str) -> bytes:
    """The bitstring of an `encodedList`: multibase base64url ('u', no padding) of the
    GZIP-compressed bits."""
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise ValueError("encodedList is not multibase base64url (must start with 'u')")
    body = encoded[1:]
    try:
        compressed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return gzip.decompress(compressed)
    except (binascii.Error, OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"encodedList cannot be decoded: {exc}") from None


def encode_status_list(bits: bytes) -> str:
    """The `encodedList` of a bitstring (the inverse of decode_status_list)."""
    compressed = gzip.compress(bits, mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).decode().rstrip("=")


def status_list_bits(set_indices: Iterable[int], size: int = STATUS_LIST_MIN_ENTRIES) -> bytes:
    """A bitstring of `size` 1-bit entries with the given indices set (MSB first: index 0
    is the left-most bit of the first byte)."""
    bits = bytearray((size + 7) // 8)
    for i in set_indices:
        bits[i // 8] |= 0x80 >> (i % 8)
    return bytes(bits)


def status_value(bits: bytes, index: int, status_size: int = 1) -> int:
    """The status at `index` (entries of `status_size` bits, MSB first)."""
    start = index * status_size
    if index < 0 or start + status_size > len(bits) * 8:
        raise IndexError(f"statusListIndex {index} is outside the list "
                         f"({len(bits) * 8 // status_size} entries)")
    value = 0
    for pos in range(start, start + status_size):
        value = (value << 1) | ((bits[pos // 8] >> (7 - pos % 8)) & 1)
    return value


def _status_entries(doc: Mapping) -> list[Mapping]:
    status = doc.get("credentialStatus")
    if status is None:
        return []
    items = status if isinstance(status, list) else [status]
    return [s for s in items if _is_map(s)
            and s.get("type") == "BitstringStatusListEntry"]


def _check_status(doc: Mapping, status_lists: Mapping[str, Mapping] | None,
                  reasons: list[Reason], notes: list[str]) -> None:
    for entry in _status_entries(doc):
        purpose = entry.get("statusPurpose")
        if purpose not in ("revocation", "suspension"):
            continue  # message/refresh purposes say nothing about validity
        list_id = entry.get("statusListCredential")
        listed = (status_lists or {}).get(list_id) if isinstance(list_id, str) else None
        if listed is None:
            notes.append(f"{purpose} status not checked: status list {list_id!r} not given")
            continue
        subject = listed.get("credentialSubject")
        subject = subject[0] if isinstance(subject, list) and subject else subject
        try:
            if not _is_map(subject):
                raise ValueError("it has no credentialSubject")
            if subject.get("statusPurpose") not in (purpose, None) and not (
                    isinstance(subject.get("statusPurpose"), list)
                    and purpose in subject["statusPurpose"]):
                raise ValueError(f"its statusPurpose is {subject.get('statusPurpose')!r}, "
                                 f"the entry's {purpose!r}")
            size = int(entry.get("statusSize", 1))
            if size < 1:
                raise ValueError(f"statusSize {size} is not positive")
            bits = decode_status_list(subject.get("encodedList"))
            if len(bits) * 8 // size < STATUS_LIST_MIN_ENTRIES:
                raise ValueError(f"it has {len(bits) * 8 // size} entries, fewer than the "
                                 f"{STATUS_LIST_MIN_ENTRIES} the spec requires")
            value = status_value(bits, int(entry.get("statusListIndex")), size)
        except (ValueError, TypeError, IndexError) as exc:
            reasons.append(Reason("status_list_invalid",
                                  f"status list {list_id}: {exc}"))
            continue
        if value:
            word = "revoked" if purpose == "revocation" else "suspended"
            reasons.append(Reason("status_revoked",
                                  f"{word} in status list {list_id} at index "
                                  f"{entry.get('statusListIndex')}"))


# --- the certificate ------------------------------------------------------------------------

_MOMENTS: dict[str, datetime | None] = {}  # ISO text -> datetime: a batch repeats them


def _when(value: object) -> datetime | None:
    if type(value) is str:
        found = _MOMENTS.get(value, _MOMENTS)
        if found is not _MOMENTS:
            return found  # type: ignore[return-value]
        moment = _when_text(value)
        if len(_MOMENTS) < 4096:
            _MOMENTS[value] = moment
        return moment
    return _when_text(value) if isinstance(value, str) else None


def _when_text(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _on(on_date: date | datetime | str) -> date | datetime:
    if isinstance(on_date, datetime | date):
        return on_date
    text = str(on_date)
    return datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)


_ON_TEXT: dict[str, tuple[date | datetime, str]] = {}  # ISO text -> (_on, its isoformat)


def _on_and_text(on_date: date | datetime | str) -> tuple[date | datetime, str]:
    """`_on(on_date)` and its isoformat, remembered for text (a batch repeats its dates)."""
    if type(on_date) is not str:
        on = _on(on_date)
        return on, on.isoformat()
    found = _ON_TEXT.get(on_date)
    if found is None:
        on = _on(on_date)  # ValueError: not remembered, raised again next time
        found = (on, on.isoformat())
        if len(_ON_TEXT) < 4096:
            _ON_TEXT[on_date] = found
    return found


def _before(moment: datetime, on: date | datetime) -> bool:
    """moment < on, at the day level when `on` is a date (the timestamp's own day)."""
    if isinstance(on, datetime):
        a = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        b = on if on.tzinfo else on.replace(tzinfo=UTC)
        return a < b
    return moment.date() < on


def _after(moment: datetime, on: date | datetime) -> bool:
    if isinstance(on, datetime):
        a = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        b = on if on.tzinfo else on.replace(tzinfo=UTC)
        return a > b
    return moment.date() > on


_DEFAULT_ALLOWED = frozenset(DEFAULT_CONTEXTS)


def _check_context(doc: Mapping, allowed: Iterable[str], reasons: list[Reason]) -> None:
    if allowed is DEFAULT_CONTEXTS:
        allowed = _DEFAULT_ALLOWED
    elif type(allowed) is not frozenset:  # verify_certificates makes one for its batch
        allowed = set(allowed)
    ctx = doc.get("@context")
    items = ctx if isinstance(ctx, list) else ([] if ctx is None else [ctx])
    if not items or items[0] != VC_V2:
        reasons.append(Reason("context_not_allowed",
                              f"the first @context must be {VC_V2}, found "
                              f"{items[0] if items else 'none'!r}"))
    for item in items:
        if not isinstance(item, str):
            reasons.append(Reason("context_not_allowed",
                                  "an inline (object) @context is not allowed"))
        elif item not in allowed:
            reasons.append(Reason("context_not_allowed", f"@context {item} is not allowed"))


def _check_validity(doc: Mapping, on: date | datetime, reasons: list[Reason]) -> None:
    for member, code, test, word in (("validFrom", "not_yet_valid", _after, "after"),
                                     ("validUntil", "expired", _before, "before")):
        if member not in doc:
            continue
        moment = _when(doc[member])
        if moment is None:
            reasons.append(Reason(code, f"{member} {doc[member]!r} is not an ISO 8601 "
                                        "date-time: validity cannot be established"))
        elif test(moment, on):
            reasons.append(Reason(code, f"{member} {doc[member]} is {word} "
                                        f"{on.isoformat()}"))


def _signers(subject: Mapping) -> dict[str, str]:
    """Who may sign, per the contract: the end user for a statement, the endorsing
    authority for its endorsement or for a government (import) certificate."""
    out: dict[str, str] = {}
    endorsement = subject.get("endorsement")
    if _is_map(endorsement) and isinstance(endorsement.get("authority"), str):
        out[endorsement["authority"]] = "authority"
    end_user = subject.get("end_user_id")
    if subject.get("kind") != "import_certificate" and isinstance(end_user, str):
        out.setdefault(end_user, "end_user")
    return out


_KeyFacts = tuple  # (controller, (valid_from, valid_to, revoked_on) or why not, public key)


def _key_facts(row: Mapping) -> _KeyFacts:
    """What a keys-table row says, as the checks of a proof read it: its controller, its
    dates (valid_from, valid_to, revoked_on) or why they cannot be read, its public key
    (remembered per row for a batch by `verify_certificates`)."""
    controller = "" if blank(row.get("controller")) else str(row["controller"])
    try:
        dates: tuple | str = (as_date(row.get("valid_from")), as_date(row.get("valid_to")),
                              as_date(row.get("revoked_on")))
    except ValueError as exc:
        dates = str(exc)
    public = None if blank(row.get("public_key_multibase")) else str(
        row["public_key_multibase"])
    return controller, dates, public


def _check_key(i: int, facts: _KeyFacts, created: datetime | None, created_text: object,
               signers: Mapping[str, str], reasons: list[Reason]) -> tuple[str, str | None]:
    controller, dates, _ = facts
    role = signers.get(controller)
    if role is None:
        named = ", ".join(f"{p} ({r})" for p, r in signers.items()) or "nobody"
        reasons.append(Reason("foreign_key", f"proof {i}: key controlled by {controller!r}, "
                                             f"the certificate names {named}", i))
    if type(dates) is str:
        reasons.append(Reason("key_not_valid", f"proof {i}: keys table row: {dates}", i))
        return controller, role
    valid_from, valid_to, revoked_on = dates
    day = created.date() if created else None
    if revoked_on is not None and (day is None or revoked_on <= day):
        when = f"created {created_text}" if day else "no created date to show it was earlier"
        reasons.append(Reason("key_revoked", f"proof {i}: key revoked on "
                                             f"{revoked_on.isoformat()}, {when}", i))
    if (valid_from or valid_to) and day is None:
        reasons.append(Reason("key_not_valid", f"proof {i}: no created date to check "
                                               "against the key's validity", i))
    elif day is not None and ((valid_from and day < valid_from)
                              or (valid_to and day > valid_to)):
        reasons.append(Reason("key_not_valid", f"proof {i}: created {created_text}, key valid "
                                               f"{valid_from or '...'} to {valid_to or '...'}",
                              i))
    return controller, role


def verify_certificate(doc: Mapping, keys: Iterable[Mapping] | Mapping[str, Mapping] | None,
                       revocations: Iterable[Mapping] | Mapping[str, list] | None, *,
                       on_date: date | datetime | str,
                       allowed_contexts: Iterable[str] | None = None,
                       status_lists: Mapping[str, Mapping] | None = None) -> Verification:
    """Check a certificate (a VC 2.0 document, parsed JSON) as of `on_date`.

    - `keys`: rows of the `keys` table (key_id, controller, public_key_multibase,
      valid_from, valid_to, revoked_on), or `index_keys(rows)`; None: no registry, each
      proof is checked against the did:key in its verificationMethod, controllers unchecked.
    - `revocations`: rows of the `revocations` table (certificate_id, date, reason), or
      `index_revocations(rows)`, or None.
    - `on_date`: a date (validity compared by day, each timestamp's own day) or a
      datetime (compared to the instant), or ISO text of either.
    - `allowed_contexts`: the @context allow-list (default DEFAULT_CONTEXTS).
    - `status_lists`: Bitstring Status List credentials by id (their `statusListCredential`
      URL); an entry whose list is not given is noted, not failed. The lists themselves
      are trusted as given (verify them first if they come from elsewhere).

    Every problem found is returned (see REASONS), not only the first. Raises TypeError
    only when `doc` is not a JSON object.
    """
    tasks: list[jcs.ProofTask] = []
    started = _start(doc, keys, revocations, on_date, allowed_contexts, status_lists, tasks,
                     None, False)
    return _finish(started, iter(jcs.signature_problems(tasks)))


def verify_certificates(docs: Iterable[Mapping],
                        keys: Iterable[Mapping] | Mapping[str, Mapping] | None,
                        revocations: Iterable[Mapping] | Mapping[str, list] | None, *,
                        on_date: date | datetime | str | Iterable[date | datetime | str],
                        allowed_contexts: Iterable[str] | None = None,
                        status_lists: Mapping[str, Mapping] | None = None
                        ) -> list[Verification]:
    """`verify_certificate` of each document, in order, with the same results; faster per
    certificate for many: everything but the Ed25519 checks is done for all of them first,
    then the checks of all their proofs one after another (see `jcs.signature_problems`),
    then the results are put together. `on_date`: one for all, or one per document. The
    tables are indexed once (pass `index_keys` / `index_revocations` of many rows)."""
    docs = list(docs)
    if isinstance(on_date, date | datetime | str):
        dates: list = [on_date] * len(docs)
    else:
        dates = list(on_date)
        if len(dates) != len(docs):
            raise ValueError(f"{len(dates)} dates for {len(docs)} certificates")
    if keys is not None and not _is_map(keys):
        keys = _RowLookup(keys, "key_id")
    if revocations is not None and not _is_map(revocations):
        revocations = _RowLookup(revocations, "certificate_id", many=True)
    return _verify_batch(docs, keys, revocations, dates, allowed_contexts, status_lists, {},
                         None)


def _verify_batch(docs: list[Mapping], keys: Mapping | _RowLookup | None,
                  revocations: Mapping | _RowLookup | None, dates: list,
                  allowed_contexts: Iterable[str] | None,
                  status_lists: Mapping[str, Mapping] | None, key_facts: dict,
                  plain: list[bool] | None) -> list[Verification]:
    """`verify_certificates` with its tables ready; `key_facts`: `_key_facts` by row, kept
    by the caller for as long as its keys table (rows) stays the same; `plain`: per
    document, whether it is a JSON text parsed without floats (see `jcs._prepare`)."""
    allowed = frozenset(allowed_contexts) if allowed_contexts is not None else None
    tasks: list[jcs.ProofTask] = []
    if plain is None:
        plain = [False] * len(docs)
    with gc_paused():
        started = [_start(doc, keys, revocations, day, allowed, status_lists, tasks,
                          key_facts, simple)
                   for doc, day, simple in zip(docs, dates, plain, strict=True)]
        problems = iter(jcs.signature_problems(tasks))
        return [_finish(one, problems) for one in started]


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused (if it was running) for the duration.

    A batch allocates a few dozen small containers per certificate and makes no
    reference cycles (everything it drops is freed by reference counting), but those
    allocations trigger collections that traverse every live object (the caller's parsed
    documents too): about a tenth of the time of a batch (benchmarks/certificates.py).
    Nothing is left uncollected: collections resume afterwards as before."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


_Started = tuple  # what _start found, for _finish (see there)


def _start(doc: Mapping, keys: object, revocations: object, on_date: date | datetime | str,
           allowed_contexts: Iterable[str] | None, status_lists: Mapping[str, Mapping] | None,
           tasks: list[jcs.ProofTask], key_facts: dict | None, plain: bool) -> _Started:
    """Every check of `verify_certificate` but the Ed25519 ones, which are appended to
    `tasks` (by `_check_proof`) for `_finish`. `key_facts`: `_key_facts` by row (id), for
    a batch, or None; `plain`: see `_verify_batch`."""
    if type(doc) is not dict and not isinstance(doc, Mapping):
        raise TypeError("a certificate must be a JSON object")
    on, on_text = _on_and_text(on_date)
    reasons: list[Reason] = []
    notes: list[str] = []
    subject = doc.get("credentialSubject")
    if type(subject) is not dict and not isinstance(subject, Mapping):
        subject = {}
    cert_id = subject.get("certificate_id")
    if cert_id is not None:
        cert_id = str(cert_id)

    _check_context(doc, DEFAULT_CONTEXTS if allowed_contexts is None else allowed_contexts,
                   reasons)
    _check_validity(doc, on, reasons)

    key_index = None
    if keys is not None:
        key_index = keys if _is_map(keys) or type(keys) is _RowLookup else _RowLookup(
            keys, "key_id")
    else:
        notes.append("no keys table: signatures checked against the did:key in each "
                     "verificationMethod; key controllers unchecked")
    signers = _signers(subject)
    proof_list = jcs.proofs(doc)
    if not proof_list:
        reasons.append(Reason("no_proof", "the certificate carries no proof"))
    doc_hashes: dict = {}
    proofs = [_check_proof(doc, i, proof, key_index, signers, doc_hashes, tasks, key_facts,
                           plain) for i, proof in enumerate(proof_list)]

    later: list[Reason] = []  # the reasons that follow the proofs' own
    if revocations is not None and cert_id is not None:
        rev_index = revocations if _is_map(revocations) or type(
            revocations) is _RowLookup else _RowLookup(revocations, "certificate_id", many=True)
        on_day = on.date() if isinstance(on, datetime) else on
        for row in rev_index.get(cert_id, ()):
            try:
                day = as_date(row.get("date"))
            except ValueError:
                day = None
            if day is None or day <= on_day:
                why = "" if blank(row.get("reason")) else f": {row['reason']}"
                later.append(Reason("certificate_revoked", f"certificate {cert_id} revoked "
                                    f"on {day.isoformat() if day else '(no date)'}{why}"))
    _check_status(doc, status_lists, later, notes)
    return cert_id, on_text, reasons, proofs, later, key_index is not None, notes


def _finish(started: _Started, problems: Iterator[str | None]) -> Verification:
    """The Verification of a certificate from `_start` and, in order, the outcomes of the
    Ed25519 checks it left in `tasks` (`problems`, shared by the certificates of a batch).
    The reasons in `verify_certificate`'s order: the certificate's (context, validity, no
    proof), each proof's (key checks, then its signature), then revocations and status."""
    cert_id, on_text, reasons, proofs, later, keys_checked, notes = started
    results = []
    for mine, result, pending in proofs:
        if pending:
            i, vm, created, controller, role = result
            problem = next(problems)
            if problem is None:
                # trusted: the signature holds, the keys table vouches, nothing else found
                result = _proof_result(i, vm, created, controller, role, True,
                                       keys_checked and not mine)
            else:
                mine.append(Reason("bad_proof", f"proof {i}: {problem}", i))
                result = _proof_result(i, vm, created, controller, role, False, False)
        reasons.extend(mine)
        results.append(result)
    reasons.extend(later)
    return _verification(cert_id, on_text, tuple(reasons), tuple(results), keys_checked,
                         tuple(notes))


def _check_proof(doc: Mapping, i: int, proof: object, key_index: Mapping | None,
                 signers: Mapping[str, str], doc_hashes: dict, tasks: list[jcs.ProofTask],
                 key_facts: dict | None, plain: bool) -> tuple[list[Reason], object, bool]:
    """Proof `i`: its reasons so far, and either its ProofResult and False, or, when its
    Ed25519 check is left to do (appended to `tasks`), what the result takes and True."""
    mine: list[Reason] = []
    if type(proof) is not dict and not isinstance(proof, Mapping):
        mine.append(Reason("bad_proof", f"proof {i} is not a JSON object", i))
        return mine, _proof_result(i, None, None, None, None, False, False), False
    get = proof.get
    vm = get("verificationMethod")
    if not isinstance(vm, str):
        vm = None
    created_text = get("created")
    created_str = created_text if isinstance(created_text, str) else None
    if get("type") != jcs.PROOF_TYPE or get("cryptosuite") != jcs.SUITE:
        mine.append(Reason("unsupported_cryptosuite",
                           f"proof {i}: {get('type')!r} / {get('cryptosuite')!r}"
                           f" (supported: {jcs.PROOF_TYPE} / {jcs.SUITE})", i))
        return mine, _proof_result(i, vm, created_str, None, None, False, False), False
    created = _when(created_str)
    controller = role = None
    public: str | None = None
    if key_index is not None:
        row = key_index.get(vm) if vm is not None else None
        if row is None:
            mine.append(Reason("unknown_key", f"proof {i}: verificationMethod {vm!r} is "
                                              "not in the keys table", i))
        else:
            if key_facts is None:
                facts = _key_facts(row)
            else:  # the row itself kept with its facts: its id stays its own
                found = key_facts.get(id(row))
                if found is None or found[0] is not row:
                    found = key_facts[id(row)] = (row, _key_facts(row))
                facts = found[1]
            controller, role = _check_key(i, facts, created, created_text, signers, mine)
            public = facts[2]
    if public is None:
        try:
            public = did_key_multibase(vm)  # self-certifying: still tells altered content
        except ValueError:
            public = None
    if public is None:
        if key_index is None:
            mine.append(Reason("unknown_key", f"proof {i}: verificationMethod {vm!r} is "
                                              "not a did:key and no keys table was given", i))
        return mine, _proof_result(i, vm, created_str, controller, role, False, False), False
    try:
        # the proof's type, suite and created were checked above (`checked`: not again)
        task = jcs._prepare(doc, proof, public_key(public), doc_hashes, plain,
                            created is not None or created_text is None)
    except ValueError as exc:
        task = f"the key {public!r} is not an Ed25519 Multikey: {exc}"
    if type(task) is str:
        mine.append(Reason("bad_proof", f"proof {i}: {task}", i))
        return mine, _proof_result(i, vm, created_str, controller, role, False, False), False
    tasks.append(task)
    return mine, (i, vm, created_str, controller, role), True

"""GS1 identifiers in their constrained canonical GS1 Digital Link form (CBV 2.0, 8.9 rules 17-18).

`canonical_digital_link(value)` turns an EPC URI (``urn:epc:id:...``), an EPC class URI
(``urn:epc:class:lgtin:...``), an EPC pattern URI (``urn:epc:idpat:...``) or a GS1 Digital
Link URI on any domain into ``https://id.gs1.org/{AI}/{key}[/{AI}/{qualifier}]`` carrying only
the most fine-grained level of identification, without query string, and returns ``None`` for
anything else (the value is then hashed as it is).

Conversions follow the GS1 EPC Tag Data Standard (company prefix + reference -> GS1 key with
its mod-10 check digit) and GS1 Digital Link URI syntax 1.2 section 4.11; characters the
Digital Link syntax requires to be percent-encoded (``! ( ) * + , :``) are encoded, existing
``%XX`` escapes are kept as they are, as the reference implementation does.
"""

from __future__ import annotations

import re

__all__ = ["canonical_digital_link", "gs1_check_digit"]

_CANONICAL = "https://id.gs1.org"

# One character of a GS1 AI encodable character set 82 value inside an EPC URI (escaped form).
_XCHAR = r"(?:%[0-9A-Fa-f]{2}|[!'()*+,.0-9:;=A-Za-z_-])"
# The same for CPI component references (character set 39).
_CPICHAR = r"(?:%2[3dfDF]|%3[0-9]|%4[1-9A-Fa-f]|%5[0-9Aa]|[0-9A-Z-])"


def gs1_check_digit(digits: str) -> str:
    """GS1 mod-10 check digit of `digits` (weights 3,1,3,... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _with_check(digits: str) -> str:
    return digits + gs1_check_digit(digits)


def _enc(value: str) -> str:
    """Percent-encode the characters GS1 Digital Link requires encoded in path values."""
    out = value
    for ch, code in (("!", "%21"), ("(", "%28"), (")", "%29"), ("*", "%2A"),
                     ("+", "%2B"), (",", "%2C"), (":", "%3A")):
        out = out.replace(ch, code)
    return out


def _xlen(value: str) -> int:
    """Length of an escaped EPC URI component, counting each %XX escape as one character."""
    return len(re.sub(r"%[0-9A-Fa-f]{2}", "_", value))


def _cp_ref(cp: str, ref: str, total: int) -> bool:
    return cp.isdigit() and 6 <= len(cp) <= 12 and (ref == "" or ref.isdigit()) \
        and len(cp) + len(ref) == total


def _gtin(cp: str, item_ref: str) -> str | None:
    if not _cp_ref(cp, item_ref, 13) or not item_ref:
        return None
    return _with_check(item_ref[0] + cp + item_ref[1:])


def _serial_ok(value: str, max_len: int, chars: str = _XCHAR) -> bool:
    return re.fullmatch(f"{chars}{{1,{max_len}}}", value) is not None and _xlen(value) <= max_len


def _epc_id(scheme: str, body: str) -> str | None:  # noqa: C901 - one branch per scheme
    parts = body.split(".")
    if scheme == "sgtin" and len(parts) >= 3:
        cp, ref, serial = parts[0], parts[1], ".".join(parts[2:])
        gtin = _gtin(cp, ref)
        if gtin and _serial_ok(serial, 20):
            return f"{_CANONICAL}/01/{gtin}/21/{_enc(serial)}"
    elif scheme == "sscc" and len(parts) == 2:
        cp, ref = parts
        if _cp_ref(cp, ref, 17) and ref:
            return f"{_CANONICAL}/00/{_with_check(ref[0] + cp + ref[1:])}"
    elif scheme == "sgln" and len(parts) >= 3:
        cp, ref, ext = parts[0], parts[1], ".".join(parts[2:])
        if _cp_ref(cp, ref, 12) and _serial_ok(ext, 20):
            gln = _with_check(cp + ref)
            return f"{_CANONICAL}/414/{gln}" if ext == "0" \
                else f"{_CANONICAL}/414/{gln}/254/{_enc(ext)}"
    elif scheme == "grai" and len(parts) >= 3:
        cp, ref, serial = parts[0], parts[1], ".".join(parts[2:])
        if _cp_ref(cp, ref, 12) and _serial_ok(serial, 16):
            return f"{_CANONICAL}/8003/{_with_check('0' + cp + ref)}{_enc(serial)}"
    elif scheme == "giai" and len(parts) >= 2:
        cp, ref = parts[0], ".".join(parts[1:])
        if _cp_ref(cp, "", len(cp)) and _serial_ok(ref, 30 - len(cp)):
            return f"{_CANONICAL}/8004/{cp}{_enc(ref)}"
    elif scheme in ("gsrn", "gsrnp") and len(parts) == 2:
        cp, ref = parts
        if _cp_ref(cp, ref, 17):
            ai = "8018" if scheme == "gsrn" else "8017"
            return f"{_CANONICAL}/{ai}/{_with_check(cp + ref)}"
    elif scheme == "gdti" and len(parts) >= 3:
        cp, ref, serial = parts[0], parts[1], ".".join(parts[2:])
        if _cp_ref(cp, ref, 12) and (serial == "" or _serial_ok(serial, 17)):
            return f"{_CANONICAL}/253/{_with_check(cp + ref)}{_enc(serial)}"
    elif scheme == "cpi" and len(parts) >= 3:
        cp, ref, serial = parts[0], ".".join(parts[1:-1]), parts[-1]
        if _cp_ref(cp, "", len(cp)) and _serial_ok(ref, 30 - len(cp), _CPICHAR) \
                and re.fullmatch(r"\d{1,12}", serial):
            return f"{_CANONICAL}/8010/{_enc(cp + ref)}/8011/{serial}"
    elif scheme == "sgcn" and len(parts) == 3:
        cp, ref, serial = parts
        if _cp_ref(cp, ref, 12) and re.fullmatch(r"\d{1,12}", serial):
            return f"{_CANONICAL}/255/{_with_check(cp + ref)}{serial}"
    elif scheme == "ginc" and len(parts) >= 2:
        cp, ref = parts[0], ".".join(parts[1:])
        if _cp_ref(cp, "", len(cp)) and _serial_ok(ref, 30 - len(cp)):
            return f"{_CANONICAL}/401/{cp}{_enc(ref)}"
    elif scheme == "gsin" and len(parts) == 2:
        cp, ref = parts
        if _cp_ref(cp, ref, 16):
            return f"{_CANONICAL}/402/{_with_check(cp + ref)}"
    elif scheme == "itip" and len(parts) >= 5:
        cp, ref, piece, total, serial = parts[0], parts[1], parts[2], parts[3], \
            ".".join(parts[4:])
        gtin = _gtin(cp, ref)
        if gtin and re.fullmatch(r"\d\d", piece) and re.fullmatch(r"\d\d", total) \
                and _serial_ok(serial, 20):
            return f"{_CANONICAL}/8006/{gtin}{piece}{total}/21/{_enc(serial)}"
    elif scheme == "upui" and len(parts) >= 3:
        cp, ref, tpx = parts[0], parts[1], ".".join(parts[2:])
        gtin = _gtin(cp, ref)
        if gtin and _serial_ok(tpx, 28):
            return f"{_CANONICAL}/01/{gtin}/235/{_enc(tpx)}"
    elif scheme == "pgln" and len(parts) == 2:
        cp, ref = parts
        if _cp_ref(cp, ref, 12):
            return f"{_CANONICAL}/417/{_with_check(cp + ref)}"
    return None


def _epc_pattern(scheme: str, body: str) -> str | None:
    parts = body.split(".")
    if not parts or parts[-1] != "*":
        return None
    if scheme in ("sgtin", "upui") and len(parts) == 3:
        gtin = _gtin(parts[0], parts[1])
        return f"{_CANONICAL}/01/{gtin}" if gtin else None
    if scheme in ("grai", "gdti", "sgcn") and len(parts) == 3:
        cp, ref = parts[0], parts[1]
        if not _cp_ref(cp, ref, 12):
            return None
        if scheme == "grai":
            return f"{_CANONICAL}/8003/{_with_check('0' + cp + ref)}"
        return f"{_CANONICAL}/{'253' if scheme == 'gdti' else '255'}/{_with_check(cp + ref)}"
    if scheme == "cpi" and len(parts) >= 3:
        cp, ref = parts[0], ".".join(parts[1:-1])
        if _cp_ref(cp, "", len(cp)) and _serial_ok(ref, 30 - len(cp), _CPICHAR):
            return f"{_CANONICAL}/8010/{_enc(cp + ref)}"
    if scheme == "itip" and len(parts) == 5:
        gtin = _gtin(parts[0], parts[1])
        if gtin and re.fullmatch(r"\d\d", parts[2]) and re.fullmatch(r"\d\d", parts[3]):
            return f"{_CANONICAL}/8006/{gtin}{parts[2]}{parts[3]}"
    return None


# Short names of GS1 Digital Link 1.0 -> numeric application identifiers.
_SHORT_NAMES = {
    "gtin": "01", "itip": "8006", "cpid": "8010", "gln": "414", "party": "417",
    "gsrnp": "8017", "gsrn": "8018", "gcn": "255", "sscc": "00", "gdti": "253",
    "ginc": "401", "gsin": "402", "grai": "8003", "giai": "8004", "cpv": "22", "lot": "10",
    "ser": "21", "glnx": "254", "tpx": "235", "cpsn": "8011",
}
_PRIMARY = ("00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006",
            "8010", "8017", "8018")
_DL_SEARCH = re.compile(
    r"^https?://[^/?#]+(?:/[^?#]*?)?/(" + "|".join(
        list(_PRIMARY) + [k for k, v in _SHORT_NAMES.items() if v in _PRIMARY]
    ) + r")/(\d{4}[^/?#]*)((?:/[^/?#]+/[^/?#]+)*)/?(?:\?[^#]*)?(?:#.*)?$"
)
# Characters allowed in alphanumeric key parts of the output (set 82 minus escapes + %XX).
_X = r"(?:%[0-9A-Fa-f]{2}|[\x21\x22\x27\x2D\x2E\x30-\x39\x3B-\x3F\x41-\x5A\x5F\x61-\x7A])"
_VALID = [re.compile(p) for p in (
    r"/00/\d{18}",
    rf"/01/\d{{14}}(?:/21/{_X}{{1,20}}|/10/{_X}{{1,20}}|/235/{_X}{{1,28}})?",
    rf"/253/\d{{13}}{_X}{{0,17}}",
    r"/255/\d{13}\d{0,12}",
    rf"/401/{_X}{{1,30}}",
    r"/402/\d{17}",
    rf"/414/\d{{13}}(?:/254/{_X}{{1,20}})?",
    r"/417/\d{13}",
    rf"/8003/\d{{14}}{_X}{{0,16}}",
    rf"/8004/{_X}{{1,30}}",
    rf"/8006/\d{{18}}(?:/21/{_X}{{1,20}}|/10/{_X}{{1,20}})?",
    r"/8010/(?:%[0-9A-Fa-f]{2}|[#\-/0-9A-Z]){1,30}(?:/8011/\d{1,12})?",
    r"/8017/\d{18}",
    r"/8018/\d{18}",
)]


def _digital_link(uri: str) -> str | None:
    m = _DL_SEARCH.match(uri)
    if m is None:
        return None
    key_ai = _SHORT_NAMES.get(m.group(1), m.group(1))
    key = m.group(2)
    rest = [p for p in m.group(3).split("/") if p]
    qualifiers = [(_SHORT_NAMES.get(rest[i], rest[i]), rest[i + 1])
                  for i in range(0, len(rest) - 1, 2)]
    if key_ai == "01" and key.isdigit() and len(key) in (8, 12, 13):
        key = key.zfill(14)
    # Drop the consumer product variant; keep only the most fine-grained qualifier level.
    qualifiers = [(ai, v) for ai, v in qualifiers if ai != "22"]
    ais = {ai for ai, _ in qualifiers}
    if key_ai in ("01", "8006") and "21" in ais:
        qualifiers = [(ai, v) for ai, v in qualifiers if ai != "10"]
    path = f"/{key_ai}/{key}" + "".join(f"/{ai}/{v}" for ai, v in qualifiers)
    if any(p.fullmatch(path) for p in _VALID):
        return _CANONICAL + path
    return None


def canonical_digital_link(value: str) -> str | None:
    """The constrained canonical GS1 Digital Link URI for `value`, or None if it carries no GS1
    key in a form this function recognises."""
    if value.startswith("urn:epc:id:"):
        scheme, _, body = value[len("urn:epc:id:"):].partition(":")
        return _epc_id(scheme, body)
    if value.startswith("urn:epc:class:lgtin:"):
        parts = value[len("urn:epc:class:lgtin:"):].split(".")
        if len(parts) >= 3:
            gtin = _gtin(parts[0], parts[1])
            lot = ".".join(parts[2:])
            if gtin and _serial_ok(lot, 20):
                return f"{_CANONICAL}/01/{gtin}/10/{_enc(lot)}"
        return None
    if value.startswith("urn:epc:idpat:"):
        scheme, _, body = value[len("urn:epc:idpat:"):].partition(":")
        return _epc_pattern(scheme, body)
    if value.startswith(("https://", "http://")):
        return _digital_link(value)
    return None

"""Names made comparable: transliterated to ASCII, legal forms and honorifics set aside,
split into tokens; and the comparison of two such names, token by token.

Transliteration and legal forms come from the OpenSanctions libraries (`rigour`, which uses
`normality` and ICU for the scripts it does not admit itself): `Шевченко` -> `shevchenko`,
`习近平` -> `xi jin ping`, `بشار الأسد` -> `bshar alasd`, `Siemens Aktiengesellschaft` ->
tokens `siemens` with legal form `jsc`. Token similarity is rapidfuzz's (Indel ratio), with
the phonetic (metaphone) and consonant-skeleton forms of each token as further evidence, so
that a vowel-less Arabic transliteration meets its vowelled spelling.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import OSA, Indel
from rigour.names import extract_org_types, remove_person_prefixes
from rigour.text import ascii_text, metaphone

PERSON = "Person"
ORG_SCHEMAS = ("Company", "Organization", "LegalEntity", "PublicBody", "Vessel")
# generic legal forms as rigour writes them (`replace_org_types_compare(generic=True)`),
# plus the short forms it leaves alone
_LEGAL = {"llc", "jsc", "lp", "llp", "plc", "ltd", "inc", "corp", "co", "gmbh", "ag", "sa",
          "sas", "srl", "bv", "nv", "pte", "pvt", "pjsc", "ojsc", "cjsc", "ooo", "oao", "zao",
          "kk", "ab", "oy", "as", "spa", "sarl", "limited", "company", "corporation",
          "incorporated", "private", "public", "holding", "se", "kg", "ug", "gbr", "ohg"}
# words that join or introduce other words, never a name by themselves
_GLUE = {"and", "und", "et", "the", "of", "y", "e", "i", "der", "die", "das", "le", "la"}
# name particles: common to many unrelated names, so weak evidence either way
PARTICLES = {"al", "el", "bin", "ibn", "bint", "abu", "abd", "de", "del", "della", "da", "di",
             "van", "von", "der", "den", "du", "des", "le", "la", "mac", "mc", "ben", "ould"}
_VOWELS = re.compile(r"[aeiouy]+")
_DROP = re.compile(r"[.'’`ʼ]")  # joined, not split: "p.l.c." "o'brien" "poor's"
_SPLIT = re.compile(r"[^a-z0-9]+")


def script_of(text: str) -> str:
    """The script of the first letter that is not Latin (else Latin): Latin, Cyrillic,
    Arabic, Han, Hangul, Greek, ..."""
    if text.isascii():
        return "Latin"
    for ch in text:
        if ch.isalpha() and ord(ch) > 0x24F:
            name = unicodedata.name(ch, "")
            if name.startswith("CJK"):
                return "Han"
            return name.split(" ")[0].capitalize() if name else "Other"
    return "Latin"


def skeleton(token: str) -> str:
    """Consonants only, doubled letters once: `assad` and `asd` -> `sd`."""
    s = _VOWELS.sub("", token)
    return re.sub(r"(.)\1+", r"\1", s)


@dataclass(frozen=True)
class NameForm:
    """One name of a party or an entity, ready to compare."""

    original: str
    tokens: tuple[str, ...]  # ASCII, lower case, legal forms and glue words out
    legal: tuple[str, ...]  # legal forms found (rigour's generic forms)
    script: str
    chars: tuple[str, ...] = ()  # Han and Hangul: the original characters, one token each

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen"]
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
         "seventy": 70, "eighty": 80, "ninety": 90}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
             "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10}
_NUMBER_WORDS = {**{w: i for i, w in enumerate(_UNITS)}, **_TENS, **_ORDINALS}
_ORDINAL_DIGITS = re.compile(r"^([0-9]+)(st|nd|rd|th)$")


def numbers_as_digits(tokens: list[str]) -> list[str]:
    """English number words and ordinals as digits ("forty four" -> "44", "first" and "1st"
    -> "1"), so that a number written either way is one token."""
    out: list[str] = []
    for t in tokens:
        m = _ORDINAL_DIGITS.match(t)
        value = int(m.group(1)) if m else _NUMBER_WORDS.get(t)
        if value is None:
            out.append(t)
        elif (out and value < 10 and out[-1].isdigit() and int(out[-1]) in _TENS.values()
              and t not in _ORDINALS):
            out[-1] = str(int(out[-1]) + value)  # forty four
        else:
            out.append(str(value))
    return out


_ROMAN = re.compile(r"^[ivxlc]+$")
_NUMBERISH = re.compile(r"^([ivxlc]+|[0-9]+[a-z]{0,2}|[a-z]{0,2}[0-9]+)$")


def _strip_org_types(text: str) -> tuple[str, list[str]]:
    """Legal forms (rigour's list: GmbH, ООО, limited liability company...) at the start or
    the end of a name, set aside with their generic form; one inside a name stays a word."""
    legal: list[str] = []
    for matched, target in extract_org_types(text, generic=True):
        body = text.strip(" ,;:-()\"“”«»")
        if _ROMAN.match(matched.strip()):
            continue  # "II" of "Solutions II" is no legal form
        if body.endswith(matched) and body != matched:
            text = body[: len(body) - len(matched)]
        elif body.startswith(matched) and body != matched:
            text = body[len(matched):]
        else:
            continue
        legal.append(target)
    return text, legal


@lru_cache(maxsize=200_000)
def prepare(name: str, schema: str = "") -> NameForm:
    """A raw name -> NameForm. `schema`: Person, an organisation schema, or "" (unknown:
    legal forms are still set aside, honorifics too)."""
    raw = unicodedata.normalize("NFKC", str(name)).strip()
    script = script_of(raw)
    text = _DROP.sub("", raw.casefold()).replace("&", " and ")
    legal: list[str] = []
    if schema != PERSON:
        text, legal = _strip_org_types(text)
    if schema in ("", PERSON):
        text = remove_person_prefixes(text) or text
    words = [w for w in _SPLIT.split(text if text.isascii() else ascii_text(text).lower())
             if w]
    if not words:  # a script no transliteration knows (e.g. Khmer): its own words
        words = [w for w in re.split(r"[\W_]+", text) if w]
    if schema != PERSON:  # short legal forms at either end (ltd, co, inc)
        while len(words) > 1 and words[-1] in _LEGAL:
            legal.append(words.pop())
        while len(words) > 1 and words[0] in _LEGAL:
            legal.append(words.pop(0))
    tokens = numbers_as_digits([w for w in words if w not in _GLUE] or words)
    chars = tuple(ch for ch in raw if ch.isalpha()) if script in ("Han", "Hangul") else ()
    return NameForm(raw, tuple(tokens), tuple(legal), script, chars)


def quick_text(name: str, schema: str = "") -> str:
    """The tokens of a name for blocking, fast: an ASCII name is only lower-cased, split,
    its short legal forms at either end and its glue words dropped; any other name goes
    through `prepare` (transliteration)."""
    if not name.isascii():
        return prepare(name, schema).text
    words = [w for w in _SPLIT.split(_DROP.sub("", name.lower()).replace("&", " and ")) if w]
    if schema != PERSON:
        while len(words) > 1 and words[-1] in _LEGAL:
            words.pop()
        while len(words) > 1 and words[0] in _LEGAL:
            words.pop(0)
    return " ".join([w for w in words if w not in _GLUE] or words)


@lru_cache(maxsize=500_000)
def _phon(token: str) -> str:
    return metaphone(token) if token.isalpha() else token


def edit_budget(length: int) -> int:
    """How many edits (OSA: insert, delete, substitute, swap two neighbours) a token of this
    length may carry and still be a typo of the other: 0 up to 2 letters, 1 up to 8, then 2."""
    return 0 if length <= 2 else 1 if length <= 8 else 2


@lru_cache(maxsize=1_000_000)
def token_similarity(a: str, b: str, initial: float = 0.85,
                     prefix: float = 0.75) -> tuple[float, str]:
    """Similarity of two tokens in [0, 1] and how it was found: equal, initial, prefix
    (an abbreviation or a short form), typo (within the edit budget), phonetic or skeleton
    (same metaphone or same consonants, a little beyond the budget), else fuzzy (rapidfuzz's
    Indel ratio, discounted: a different word). Numbers must be equal."""
    if a == b:
        return 1.0, "equal"
    if a.isdigit() or b.isdigit():
        return 0.0, "number"
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) == 1:
        return (initial, "initial") if long_.startswith(short) else (0.0, "fuzzy")
    length = len(long_)
    d = OSA.distance(a, b)
    budget = edit_budget(length)
    if d <= budget:
        return 1.0 - 0.5 * d / length, "typo"
    if len(short) >= 3 and long_.startswith(short) and short not in PARTICLES:
        return prefix, "prefix"
    if d <= budget + 1 and a[0] == b[0] and length > 3:
        if _phon(a) == _phon(b):
            return 0.88, "phonetic"
        ska, skb = skeleton(a), skeleton(b)
        if len(ska) >= 2 and ska == skb:
            return 0.85, "skeleton"
    return 0.7 * Indel.normalized_similarity(a, b), "fuzzy"


@dataclass(frozen=True)
class NameScore:
    score: float
    how: str  # the features that decided, in words


def _weight(token: str) -> float:
    """A token's weight: its length up to 8; a name particle (al, bin, de) 0.3."""
    return 0.3 if token in PARTICLES else float(min(len(token), 8))


def _joined(ta: list[str], tb: list[str]) -> float:
    """Similarity of the names written without spaces, in their order or sorted, when the
    word counts differ (a word split or joined: `jin ping` / `jinping`); 0 otherwise."""
    if len(ta) == len(tb):
        return 0.0
    best = 0.0
    for x, y in (("".join(ta), "".join(tb)), ("".join(sorted(ta)), "".join(sorted(tb)))):
        length = max(len(x), len(y))
        d = OSA.distance(x, y)
        if d <= min(1, edit_budget(length)):
            best = max(best, 1.0 - 0.5 * d / length)
    return best


_NASAB = {"bin", "ibn", "ben", "bint", "ould"}


def _acronyms(ta: list[str], tb: list[str]) -> tuple[list[str], list[str], str] | None:
    """A word of `ta` (2 to 5 letters, not in `tb`) spelled by the initials of 2 or more
    consecutive words of `tb`: (ta, tb with those words replaced by it, the word)."""
    for t in ta:
        if not (2 <= len(t) <= 5 and t.isalpha()) or t in tb:
            continue
        n = len(t)
        for i in range(len(tb) - n + 1):
            if "".join(w[0] for w in tb[i:i + n]) == t:
                return ta, [*tb[:i], t, *tb[i + n:]], t
    return None
ABJADS = {"Arabic", "Hebrew", "Syriac", "Thaana"}


def compare_names(a: NameForm, b: NameForm, *, person: bool = False, initial: float = 0.85,
                  token_floor: float = 0.6, conflict_penalty: float = 0.75,
                  short_weight: float = 0.8, single_token_cap: float = 0.8,
                  reorder: float = 0.95, legal_penalty: float = 0.9,
                  prefix: float = 0.75, series: float = 0.75, abjad: float = 0.88,
                  initials_cap: float = 0.85) -> NameScore:
    """How alike two names are, in [0, 1], with the features that decided.

    Tokens are aligned one to one, best pairs first, whatever their order; a pair below
    `token_floor` is no pair. Coverage of a name = weighted share of its tokens that found a
    partner, by their similarity (weights: token length, name particles little). Score =
    `short_weight` x coverage of the shorter name + the rest x coverage of the longer one
    (for organisations half and half: an extra word there is often another entity),
    times `conflict_penalty` when each name keeps an unexplained word (two different given
    names). The same words in another order score `reorder` (1 for organisations),
    less when a patronymic particle (bin, ibn) changes sides: son and father. A one-word
    name reaches at most `single_token_cap` unless the other is that word too. Two
    organisations with different legal forms (AG / GmbH) score `legal_penalty` times less.
    Two names both in Han or Hangul script are compared character by character as well
    (transliteration merges homophones: 市 and 石 are both `shi`), and the lower score
    counts."""
    kw = dict(person=person, initial=initial, token_floor=token_floor,
              conflict_penalty=conflict_penalty, short_weight=short_weight,
              single_token_cap=single_token_cap, reorder=reorder, prefix=prefix,
              series=series, abjad=abjad, initials_cap=initials_cap)
    result = _compare(a, b, **kw)  # type: ignore[arg-type]
    if a.chars and b.chars and a.script == b.script:
        own = _compare(NameForm(a.original, a.chars, (), a.script),
                       NameForm(b.original, b.chars, (), b.script), **kw)  # type: ignore[arg-type]
        if own.score < result.score:
            result = NameScore(own.score, f"{own.how} ({a.script} characters)")
    if not person and a.legal and b.legal and not set(a.legal) & set(b.legal):
        result = NameScore(round(result.score * legal_penalty, 4),
                           f"{result.how}; legal form {'/'.join(a.legal)} vs "
                           f"{'/'.join(b.legal)}")
    return result


def _compare(a: NameForm, b: NameForm, *, person: bool, initial: float, token_floor: float,
             conflict_penalty: float, short_weight: float, single_token_cap: float,
             reorder: float, prefix: float, series: float, abjad: float = 0.88,
             initials_cap: float = 0.85) -> NameScore:
    ta, tb = list(a.tokens), list(b.tokens)
    if not ta or not tb:
        return NameScore(0.0, "empty name")
    acronym = _acronyms(ta, tb) or _acronyms(tb, ta)
    if acronym:
        # the initials of the other name's words, written as one word ("PLA", "U.S.",
        # "JC"): that word stands for them, but an acronym proves little: a possible
        r = _compare(NameForm(a.original, tuple(acronym[0]), a.legal, a.script),
                     NameForm(b.original, tuple(acronym[1]), b.legal, b.script),
                     person=person, initial=initial, token_floor=token_floor,
                     conflict_penalty=conflict_penalty, short_weight=short_weight,
                     single_token_cap=single_token_cap, reorder=reorder, prefix=prefix,
                     series=series, abjad=abjad, initials_cap=initials_cap)
        return NameScore(min(r.score, initials_cap), f"acronym {acronym[2]}; {r.how}")
    if ta == tb:
        return NameScore(1.0, "same name")
    if sorted(ta) == sorted(tb):
        nasab = person and bool(_NASAB & set(ta))
        return NameScore(0.7 if nasab else reorder if person else 1.0,
                         "same words, another order" + (" around bin/ibn" if nasab else ""))
    cands = []
    for i, x in enumerate(ta):
        for j, y in enumerate(tb):
            s, how = token_similarity(x, y, initial, prefix)
            if s >= token_floor:
                cands.append((s, _weight(x) + _weight(y), i, j, how))
    cands.sort(key=lambda c: (-c[0], -c[1]))
    used_a: dict[int, float] = {}
    used_b: dict[int, float] = {}
    hows: list[str] = []
    for s, _w, i, j, how in cands:
        if i in used_a or j in used_b:
            continue
        used_a[i] = s
        used_b[j] = s
        if how != "equal":
            hows.append(f"{ta[i]}~{tb[j]} {how}")

    def coverage(tokens: list[str], used: dict[int, float]) -> float:
        total = sum(map(_weight, tokens))
        return sum(_weight(t) * used.get(i, 0.0) for i, t in enumerate(tokens)) / total

    cov_a, cov_b = coverage(ta, used_a), coverage(tb, used_b)
    wa, wb = sum(map(_weight, ta)), sum(map(_weight, tb))
    sw = short_weight if person else 0.5
    score = sw * max(cov_a, cov_b) + (1 - sw) * min(cov_a, cov_b) if wa != wb else \
        (cov_a + cov_b) / 2
    if person and wa != wb:
        score = sw * (cov_a if wa < wb else cov_b) + (1 - sw) * (cov_b if wa < wb else cov_a)
    left_a = [t for i, t in enumerate(ta) if i not in used_a and t not in PARTICLES]
    left_b = [t for j, t in enumerate(tb) if j not in used_b and t not in PARTICLES]
    if left_a and left_b and all(_NUMBERISH.match(t) for t in left_a + left_b) and used_a:
        # only a serial number differs (Fund III / Fund IV, Trust 2004-1 / 2005-1): another
        # member of a series, or a slip: worth a look, never a match by itself
        score = max(score * conflict_penalty, series)
        hows.append(f"number {' '.join(left_a)} / {' '.join(left_b)}")
    elif left_a and left_b:
        score *= conflict_penalty
        hows.append(f"unexplained {' '.join(left_a)} / {' '.join(left_b)}")
    elif left_a or left_b:
        hows.append(f"extra {' '.join(left_a or left_b)}")
    if min(len(ta), len(tb)) == 1 and max(len(ta), len(tb)) > 1:
        score = min(score, single_token_cap)
    joined = _joined(ta, tb)
    if joined > score:
        score, hows = joined, ["words joined or split"]
    if ABJADS & {a.script, b.script} and score < abjad:
        # a script that writes no short vowels: its transliteration has none either
        # ("bshar alasd" for Bashar al-Assad); the consonants must agree, in order
        xa, xb = skeleton("".join(ta)), skeleton("".join(tb))
        if len(xa) >= 4 and xa == xb:
            score, hows = abjad, [f"same consonants {xa} ({a.script} / {b.script})"]
    if any(" initial" in h for h in hows):
        score = min(score, initials_cap)
    score = max(0.0, min(1.0, score))
    return NameScore(round(score, 4), "; ".join(hows) or "same words")

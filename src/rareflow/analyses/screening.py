"""Parties that must not receive controlled material: restricted-list matches (exact or
normalised name, aliases included) and parties with a `military_contract` observation."""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

LEGAL_FORMS = {"ltd", "limited", "pvt", "private", "llc", "llp", "inc", "co", "corp",
               "corporation", "company", "gmbh", "ag", "sa", "sas", "srl", "bv", "plc", "jsc",
               "oao", "ooo", "kk", "pte", "the", "and"}


def normalise_name(name: str) -> str:
    """Lower case, accents and punctuation removed, legal forms dropped, words sorted."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = [w for w in re.split(r"[^a-z0-9]+", text) if w and w not in LEGAL_FORMS]
    return " ".join(sorted(words))


def _names(row: pd.Series, name_col: str, alias_col: str) -> set[str]:
    names = {str(row[name_col])}
    aliases = row.get(alias_col)
    if isinstance(aliases, str) and aliases:
        names |= {a.strip() for a in aliases.split(";") if a.strip()}
    return {normalise_name(n) for n in names if n} - {""}


def restricted_matches(parties: pd.DataFrame, restricted: pd.DataFrame) -> pd.DataFrame:
    """(party_id, list, entity_id, matched_name, how) for every party whose name or alias
    equals a restricted name or alias after normalisation."""
    index: dict[str, list[tuple[str, str, str]]] = {}
    for _, r in restricted.iterrows():
        for n in _names(r, "name", "aliases"):
            index.setdefault(n, []).append((str(r["list"]), str(r["entity_id"]), str(r["name"])))
    rows = []
    for _, p in parties.iterrows():
        exact = {str(p["name"]).strip().lower()}
        for n in _names(p, "name", "aliases"):
            for lst, eid, rname in index.get(n, []):
                how = "exact" if rname.strip().lower() in exact else "normalised name"
                rows.append({"party_id": p["party_id"], "list": lst, "entity_id": eid,
                             "matched_name": rname, "how": how})
    cols = ["party_id", "list", "entity_id", "matched_name", "how"]
    return pd.DataFrame(rows, columns=cols).drop_duplicates(["party_id", "entity_id"])

"""Restricted-party screening at list scale: P parties (default 100,000) against a generated
list of E entities (default 1,000,000), through the engine `rareflow screen` uses.

The list: persons (given name, patronymic or middle name, family name, from syllables) and
companies (one or two made-up words, a sector word, a legal form), a fifth of them with an
alias, countries, birth dates. The parties: a tenth are variants of listed entities (a
typo, another word order, a dropped middle name, a legal form changed), the rest new names
from the same generator, so that blocking meets realistic shared tokens. Prints the time of
each stage, the candidate pairs from blocking, the pairs scored per second, the peak
memory (max RSS), and how many planted variants were found.

    .venv/bin/python benchmarks/screen.py [--parties 100000] [--entities 1000000] [--seed 1]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from rareflow.screening.engine import screen
from rareflow.screening.settings import ScreeningSettings

ONSETS = ["b", "d", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "sh", "kh", "ch",
          "br", "tr", "st", "gr", "h", "f", "y", "j"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "ia", "ei"]
CODAS = ["", "", "", "n", "r", "l", "s", "m", "k", "v", "d"]
SECTORS = ["Trading", "Industries", "Logistics", "Technologies", "Metals", "Engineering",
           "Holdings", "Systems", "Electronics", "Materials", "Shipping", "Energy"]
FORMS = ["Ltd", "LLC", "GmbH", "JSC", "Co., Ltd", "Pvt Ltd", "S.A.", "Inc.", "AG", "OOO"]
COUNTRIES = ["CN", "IN", "RU", "IR", "AE", "TR", "DE", "US", "KP", "BY", "HK", "SG"]


def words(rng: np.random.Generator, n: int, syllables: tuple[int, int]) -> np.ndarray:
    """n made-up words of 2-3 syllables."""
    k = rng.integers(syllables[0], syllables[1] + 1, n)
    parts = [np.array(ONSETS)[rng.integers(0, len(ONSETS), n)]
             + np.array(VOWELS)[rng.integers(0, len(VOWELS), n)]
             + np.array(CODAS)[rng.integers(0, len(CODAS), n)] for _ in range(3)]
    out = parts[0] + parts[1]
    out = np.where(k >= 3, out + parts[2], out)
    return np.char.capitalize(out.astype(str))


def make_entities(rng: np.random.Generator, n: int) -> pd.DataFrame:
    person = rng.random(n) < 0.5
    given, middle, family = words(rng, n, (2, 2)), words(rng, n, (2, 3)), words(rng, n, (2, 3))
    w1, w2 = words(rng, n, (2, 3)), words(rng, n, (2, 2))
    sector = np.array(SECTORS)[rng.integers(0, len(SECTORS), n)]
    form = np.array(FORMS)[rng.integers(0, len(FORMS), n)]
    two = rng.random(n) < 0.4
    company = np.where(two, np.char.add(np.char.add(w1, " "), w2), w1)
    company = np.char.add(np.char.add(np.char.add(company, " "), sector),
                          np.char.add(" ", form))
    with_middle = rng.random(n) < 0.6
    pname = np.where(with_middle, np.char.add(np.char.add(given, " "), middle), given)
    pname = np.char.add(np.char.add(pname, " "), family)
    names = np.where(person, pname, company)
    alias = np.where(rng.random(n) < 0.2,
                     np.where(person, np.char.add(np.char.add(family, " "), given), w1), "")
    birth = pd.to_datetime("1940-01-01") + pd.to_timedelta(rng.integers(0, 60 * 365, n), "D")
    return pd.DataFrame({
        "list": "bench", "entity_id": [f"E{i:07d}" for i in range(n)], "name": names,
        "aliases": [[a] if a else [] for a in alias],
        "country": np.array(COUNTRIES)[rng.integers(0, len(COUNTRIES), n)],
        "schema": np.where(person, "Person", "Company"),
        "birth_date": np.where(person, birth.strftime("%Y-%m-%d"), ""),
        "registration_id": ""})


def typo(rng: np.random.Generator, name: str) -> str:
    i = int(rng.integers(1, max(2, len(name) - 1)))
    kind = rng.integers(0, 3)
    if kind == 0:
        return name[:i] + name[i + 1:]
    if kind == 1:
        return name[:i] + "e" + name[i:]
    return name[:i - 1] + name[i] + name[i - 1] + name[i + 1:] if i < len(name) else name


def make_parties(rng: np.random.Generator, n: int, entities: pd.DataFrame,
                 share: float = 0.1) -> tuple[pd.DataFrame, set[tuple[str, str]]]:
    fresh = make_entities(rng, n)
    planted: set[tuple[str, str]] = set()
    k = int(n * share)
    picks = rng.choice(len(entities), k, replace=False)
    names = fresh["name"].to_numpy().copy()
    schema = fresh["schema"].to_numpy().copy()
    country = fresh["country"].to_numpy().copy()
    for slot, e in enumerate(picks):
        src = entities.iloc[int(e)]
        w = src["name"].split(" ")
        how = slot % 3
        if how == 0:
            variant = typo(rng, src["name"])
        elif how == 1 and src["schema"] == "Person":
            variant = " ".join([w[-1], *w[:-1]])
        else:
            variant = " ".join(w[:-1]) if src["schema"] == "Company" else typo(rng,
                                                                               src["name"])
        names[slot], schema[slot], country[slot] = variant, src["schema"], src["country"]
        planted.add((f"P{slot:07d}", src["entity_id"]))
    parties = pd.DataFrame({"party_id": [f"P{i:07d}" for i in range(n)], "name": names,
                            "aliases": [[] for _ in range(n)], "country": country,
                            "schema": schema, "birth_date": "", "registration_id": ""})
    return parties, planted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parties", type=int, default=100_000)
    ap.add_argument("--entities", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    t0 = time.perf_counter()
    entities = make_entities(rng, a.entities)
    parties, planted = make_parties(rng, a.parties, entities)
    t1 = time.perf_counter()
    print(f"generated {len(parties):,} parties and {len(entities):,} entities "
          f"in {t1 - t0:.1f} s (not counted)")
    r = screen(parties, entities, ScreeningSettings())
    st = r.stats
    c = r.candidates
    found = {(p, e) for p, e in zip(c.party_id, c.entity_id, strict=True)} & planted
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"names: {st['party_names']:,} party names, {st['entity_names']:,} entity names")
    print(f"prepare (transliterate, tokens, keys): {st['seconds_prepare']:.1f} s")
    print(f"blocking in DuckDB: {st['seconds_blocking']:.1f} s, "
          f"{st['candidate_pairs']:,} candidate pairs "
          f"(of {len(parties) * len(entities):,} possible)")
    print("  " + ", ".join(f"{k.removeprefix('seconds_blocking_')} {v:.1f} s"
                           for k, v in st.items() if k.startswith("seconds_blocking_")))
    secs = max(st["seconds_scoring"], 1e-9)
    print(f"scoring: {st['candidate_pairs']:,} candidate pairs through rapidfuzz's "
          f"prefilter, {st['pairs_scored']:,} of them scored by the name comparison, in "
          f"{st['seconds_scoring']:.1f} s ({st['candidate_pairs'] / secs:,.0f} candidate "
          f"pairs/s, {st['pairs_scored'] / secs:,.0f} fully scored pairs/s)")
    print(f"total: {st['seconds_total']:.1f} s; {len(c):,} candidates "
          f"({int((c.decision == 'match').sum()):,} match); planted variants found: "
          f"{len(found):,} of {len(planted):,}")
    print(f"peak memory (max RSS): {rss_mb:,.0f} MB")


if __name__ == "__main__":
    main()

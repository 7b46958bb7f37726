"""Screening at list scale: blocking keys joined in DuckDB, candidates scored with rapidfuzz
and the name comparison of `names.py`, other features added, judgements applied.

1. Every name and alias of every party and entity is prepared once (`names.prepare`) and
   gives its blocking keys: its tokens, their metaphone, their first and last four
   letters (n-grams that survive a typo at the other end), each tagged with the kind of
   name (person or organisation; a name of unknown schema gives both).
2. DuckDB joins the parties' keys with the entities' keys, drops the keys that more than
   `max_key_entities` entity names share (they block nothing) and keeps, per party name,
   the `max_candidates` entity names sharing the most keys. No pair of a party and an
   entity that share no key is ever formed, and the join runs in the engine, not in Python.
3. rapidfuzz's token-set ratio (C++, both cores) drops the candidates that share a key but
   hardly a name (`prefilter`); the rest are scored by `names.compare_names`.
4. Per party and entity the best pair of names counts; country, birth date and
   registration number move the score (`ScreeningSettings`); `match` and `possible` by the
   thresholds; the analysts' judgements (`screening_decisions`) suppress or confirm.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from rapidfuzz import fuzz, process

from rareflow.screening.names import (
    PARTICLES,
    PERSON,
    NameForm,
    compare_names,
    prepare,
    quick_text,
)
from rareflow.screening.settings import ScreeningSettings

RESULT_COLUMNS = ["party_id", "list", "entity_id", "entity_name", "score", "decision",
                  "explanation"]
SUPPRESSED_COLUMNS = [*RESULT_COLUMNS[:5], "by", "date", "note"]


@dataclass
class ScreeningResult:
    candidates: pd.DataFrame  # RESULT_COLUMNS, best first per party
    suppressed: pd.DataFrame  # SUPPRESSED_COLUMNS: candidates an analyst judged not the same
    stats: dict[str, float] = field(default_factory=dict)


def _kinds(schema: str) -> tuple[str, ...]:
    if schema == PERSON:
        return ("P",)
    if schema:
        return ("O",)
    return ("P", "O")


@dataclass
class _Names:
    """Every name of a frame of parties or entities (one per kind of name when the schema is
    unknown), with its blocking text; prepared for scoring only when a candidate needs it."""

    row: np.ndarray  # the frame row each name belongs to
    raw: list[str]
    schema: list[str]  # the schema `prepare` gets
    person: np.ndarray  # bool: a person's name
    text: list[str]  # blocking tokens (names.quick_text)

    def form(self, i: int) -> NameForm:
        return prepare(self.raw[i], self.schema[i])

    def table(self) -> pa.Table:
        return pa.table({"n": pa.array(np.arange(len(self.raw), dtype=np.int64)),
                         "kind": pa.array(np.where(self.person, "P", "O")),
                         "text": pa.array(self.text, pa.string())})


def _names(frame: pd.DataFrame) -> _Names:
    rows: list[int] = []
    raws: list[str] = []
    schemas: list[str] = []
    person: list[bool] = []
    texts: list[str] = []
    for i, (name, aliases, schema) in enumerate(zip(frame["name"], frame["aliases"],
                                                     frame["schema"], strict=True)):
        seen: set[tuple[str, str]] = set()
        for raw in [name, *aliases]:
            raw = str(raw)
            # a name of unknown schema is compared as a person's and as an organisation's,
            # unless it carries a legal form
            kinds = ("O",) if not schema and prepare(raw, "").legal else _kinds(schema)
            for kind in kinds:
                sch = schema or (PERSON if kind == "P" else "")
                text = quick_text(raw, sch)
                if not text or (text, kind) in seen:
                    continue
                seen.add((text, kind))
                rows.append(i)
                raws.append(raw)
                schemas.append(sch)
                person.append(kind == "P")
                texts.append(text)
    return _Names(np.array(rows, dtype=np.int64), raws, schemas,
                  np.array(person, dtype=bool), texts)


_PARTICLES_SQL = ", ".join(f"'{p}'" for p in sorted(PARTICLES))
_SKELETON = "regexp_replace(t, '[aeiouyhw]+', '', 'g')"
# The blocking keys of a name, from its tokens: the token (t); its first and last four
# letters (a, z: n-grams that survive a typo at the other end); its consonant skeleton (s:
# a phonetic key, vowels, h, w and y out, so that "bshar alasd" meets "bashar al assad");
# every pair of its tokens, in either order (p: two common words, "mohammed ali", make a
# rare key); a name without any such token (initials only) is its own key (w). Keys carry
# the kind of name (P person, O organisation). Token keys are derived once per distinct
# token; the entities' keys are only kept when some party has them.
TOKENS_SQL = f"""
    SELECT n, kind, t FROM (
        SELECT n, kind, unnest(string_split(text, ' ')) AS t FROM {{names}})
    WHERE length(t) >= 2 AND t NOT IN ({_PARTICLES_SQL})
"""
DISTINCT_TOKENS_SQL = f"SELECT DISTINCT kind, t, {_SKELETON} AS sk FROM {{tokens}}"
TOKEN_KEYS_SQL = """
    SELECT kind, t, kind || 't' || t AS key FROM {tokens}
    UNION ALL SELECT kind, t, kind || 'a' || left(t, 4) FROM {tokens} WHERE length(t) >= 5
    UNION ALL SELECT kind, t, kind || 'z' || right(t, 4) FROM {tokens} WHERE length(t) >= 5
    UNION ALL SELECT kind, t, kind || 's' || sk FROM {tokens}
              WHERE length(t) >= 3 AND length(sk) >= 2 AND sk <> t
"""
PAIR_KEYS_SQL = """
    SELECT a.n, a.kind || 'p' || a.t || ' ' || b.t AS key
    FROM {tokens} a JOIN {tokens} b ON a.n = b.n AND a.t < b.t
"""
WHOLE_KEYS_SQL = "SELECT n, kind || 'w' || text AS key FROM {names} ANTI JOIN {tokens} USING (n)"


def candidate_pairs(p: _Names, e: _Names, s: ScreeningSettings,
                    con: duckdb.DuckDBPyConnection | None = None,
                    timings: dict[str, float] | None = None) -> pd.DataFrame:
    """(pn, en, shared): party name, entity name, number of blocking keys shared; per party
    name the `max_candidates` entity names sharing the most keys, keys that more than
    `max_key_entities` entity names share left out. Keys and join computed in DuckDB."""
    con = con or duckdb.connect()
    t0 = time.perf_counter()
    con.register("pnames", p.table())
    con.register("enames", e.table())
    if timings is not None:
        timings["seconds_blocking_arrow"] = time.perf_counter() - t0
    steps = [
        # the parties' side: few names, every key
        f"CREATE OR REPLACE TEMP TABLE ptok AS {TOKENS_SQL.format(names='pnames')}",
        "CREATE OR REPLACE TEMP TABLE pdt AS " + DISTINCT_TOKENS_SQL.format(tokens="ptok"),
        "CREATE OR REPLACE TEMP TABLE pk AS SELECT n, key FROM ptok JOIN ("
        + TOKEN_KEYS_SQL.format(tokens="pdt") + ") USING (kind, t) "
        f"UNION ALL {PAIR_KEYS_SQL.format(tokens='ptok')} "
        f"UNION ALL {WHOLE_KEYS_SQL.format(names='pnames', tokens='ptok')}",
        "CREATE OR REPLACE TEMP TABLE pkeys AS SELECT DISTINCT key FROM pk",
        # the entities' side: each distinct token's keys once, kept if a party has them
        f"CREATE OR REPLACE TEMP TABLE etok AS {TOKENS_SQL.format(names='enames')}",
        "CREATE OR REPLACE TEMP TABLE edt AS " + DISTINCT_TOKENS_SQL.format(tokens="etok"),
        "CREATE OR REPLACE TEMP TABLE etk AS SELECT kind, t, key FROM ("
        + TOKEN_KEYS_SQL.format(tokens="edt") + ") SEMI JOIN pkeys USING (key)",
        "CREATE OR REPLACE TEMP TABLE ek AS "
        "SELECT n, key FROM etok JOIN etk USING (kind, t) "
        "UNION ALL SELECT * FROM ("
        + PAIR_KEYS_SQL.format(tokens="(SELECT * FROM etok SEMI JOIN "
                               "(SELECT DISTINCT t FROM ptok) USING (t))")
        + ") SEMI JOIN pkeys USING (key) "
        f"UNION ALL SELECT * FROM ({WHOLE_KEYS_SQL.format(names='enames', tokens='etok')}) "
        "SEMI JOIN pkeys USING (key)",
    ]
    try:
        for sql in steps:
            t0 = time.perf_counter()
            con.execute(sql)
            if timings is not None:
                name = sql.split(" AS ")[0].split()[-1]
                timings[f"seconds_blocking_{name}"] = time.perf_counter() - t0
        # per party name, the k entity names sharing most keys (ties: the first ones)
        sql = """
            WITH common AS (SELECT key FROM ek GROUP BY key HAVING count(*) <= $max_df),
            pairs AS (SELECT pk.n AS pn, ek.n AS en, count(*) AS shared
                      FROM pk SEMI JOIN common USING (key) JOIN ek USING (key) GROUP BY ALL),
            top AS (SELECT pn, max_by({'en': en, 'shared': shared},
                                      shared * 4294967296 - en, $k) AS best
                    FROM pairs GROUP BY pn)
            SELECT pn, b.en AS en, b.shared AS shared
            FROM (SELECT pn, unnest(best) AS b FROM top)
        """
        t0 = time.perf_counter()
        out = con.execute(sql, {"max_df": s.max_key_entities, "k": s.max_candidates}).df()
        if timings is not None:
            timings["seconds_blocking_join"] = time.perf_counter() - t0
        return out
    finally:
        con.unregister("pnames")
        con.unregister("enames")
        for t in ("ptok", "pdt", "pk", "pkeys", "etok", "edt", "etk", "ek"):
            con.execute(f"DROP TABLE IF EXISTS {t}")


def _countries(v: str) -> set[str]:
    return {c for c in str(v).upper().replace(",", ";").split(";") if c.strip()}


def _ids(v: str) -> set[str]:
    return {"".join(ch for ch in x.upper() if ch.isalnum()) for x in str(v).split(";")} - {""}


def _feature_adjust(party: pd.Series, ent: pd.Series, s: ScreeningSettings
                    ) -> tuple[float, float | None, list[str]]:
    """(added to the name score, a floor if any, the words)."""
    add = 0.0
    floor = None
    words = []
    pc, ec = _countries(party["country"]), _countries(ent["country"])
    if pc and ec:
        if pc & ec:
            add += s.country_match
            words.append(f"country {'/'.join(sorted(pc & ec))} same (+{s.country_match:g})")
        else:
            add -= s.country_mismatch
            words.append(f"country {'/'.join(sorted(pc))} vs {'/'.join(sorted(ec))} "
                         f"(-{s.country_mismatch:g})")
    pb, eb = str(party["birth_date"]).strip(), str(ent["birth_date"]).strip()
    if pb and eb and party["schema"] != "" and ent["schema"] == party["schema"]:
        n = min(len(pb), len(eb), 10)
        if pb[:n] == eb[:n]:
            add += s.birth_date_match
            words.append(f"birth date {pb[:n]} same (+{s.birth_date_match:g})")
        elif pb[:4] != eb[:4]:
            add -= s.birth_date_mismatch
            words.append(f"birth date {pb} vs {eb} (-{s.birth_date_mismatch:g})")
    pi, ei = _ids(party["registration_id"]), _ids(ent["registration_id"])
    if pi & ei:
        floor = s.identifier_match
        words.append(f"identifier {sorted(pi & ei)[0]} same (score {s.identifier_match:g})")
    return add, floor, words


def screen(parties: pd.DataFrame, entities: pd.DataFrame,
           settings: ScreeningSettings | None = None,
           decisions: pd.DataFrame | None = None) -> ScreeningResult:
    """Screen `parties` (sources.PARTY_COLUMNS) against `entities` (sources.ENTITY_COLUMNS)."""
    s = settings or ScreeningSettings()
    t0 = time.perf_counter()
    parties = parties.reset_index(drop=True)
    entities = entities.reset_index(drop=True)
    p, e = _names(parties), _names(entities)
    t1 = time.perf_counter()
    timings: dict[str, float] = {}
    pairs = candidate_pairs(p, e, s, None, timings) if p.raw and e.raw else pd.DataFrame(
        {"pn": pd.Series(dtype="int64"), "en": pd.Series(dtype="int64")})
    t2 = time.perf_counter()
    pn, en = pairs["pn"].to_numpy(), pairs["en"].to_numpy()
    if len(pn):
        # a cheap vectorised look first (rapidfuzz, C++, both cores): the token-set ratio
        # of the blocking texts, or the ratio of the texts without spaces
        ta = [p.text[i] for i in pn]
        tb = [e.text[j] for j in en]
        pre = np.maximum(
            process.cpdist(ta, tb, scorer=fuzz.token_set_ratio, workers=-1),
            process.cpdist([t.replace(" ", "") for t in ta], [t.replace(" ", "") for t in tb],
                           scorer=fuzz.ratio, workers=-1)) / 100.0
        keep = pre >= s.prefilter
        pn, en = pn[keep], en[keep]
    scores = np.zeros(len(pn))
    hows: list[str] = []
    kw = dict(initial=s.initial, conflict_penalty=s.conflict_penalty,
              short_weight=s.short_weight, single_token_cap=s.single_token_cap,
              reorder=s.reorder, legal_penalty=s.legal_penalty, prefix=s.prefix,
              series=s.series, abjad=s.abjad, initials_cap=s.initials_cap)
    for k, (i, j) in enumerate(zip(pn, en, strict=True)):
        r = compare_names(p.form(i), e.form(j), person=bool(p.person[i] or e.person[j]),
                          **kw)  # type: ignore[arg-type]
        scores[k] = r.score
        hows.append(r.how)
    t3 = time.perf_counter()
    scored = pd.DataFrame({"pr": p.row[pn], "er": e.row[en], "pn": pn, "en": en,
                           "name_score": scores, "how": hows, "forced": False})
    # the features can add at most this: a candidate further below `possible` is dropped
    scored = scored[scored.name_score >= s.possible - s.country_match - s.birth_date_match
                    - 1e-9]
    # decisions: judgements that name a pair the blocking did not produce still count
    dec = decisions if decisions is not None else pd.DataFrame(
        columns=["party_id", "entity_id", "decision", "by", "date", "note"])
    forced = _judged_pairs(parties, entities, p, e, dec, kw)
    if len(forced):
        scored = pd.concat([scored, forced], ignore_index=True)
    best = (scored.sort_values(["pr", "er", "name_score"], ascending=[True, True, False])
            .drop_duplicates(["pr", "er"]))
    rows = []
    for r in best.itertuples(index=False):
        party, ent = parties.loc[r.pr], entities.loc[r.er]
        add, floor, words = _feature_adjust(party, ent, s)
        score = min(1.0, max(0.0, r.name_score + add))
        if floor is not None:
            score = max(score, floor)
        pf, ef = p.form(r.pn), e.form(r.en)
        script = (f" ({pf.script} / {ef.script})" if pf.script != ef.script
                  or pf.script != "Latin" else "")
        how = ("exact name" if pf.original.casefold() == ef.original.casefold()
               else "same normalised name" if r.how in ("same name", "same words")
               else r.how)
        expl = (f"name '{pf.original}' ~ '{ef.original}'{script}: {r.name_score:.2f} "
                f"({how})" + "".join(f"; {w}" for w in words))
        rows.append({"party_id": party["party_id"], "list": ent["list"],
                     "entity_id": ent["entity_id"], "entity_name": ent["name"],
                     "score": round(score, 4), "explanation": expl})
    out = pd.DataFrame(rows, columns=[c for c in RESULT_COLUMNS if c != "decision"])
    out["decision"] = np.where(out.score >= s.match, "match", "possible")
    out, suppressed = _apply_judgements(out, dec, s)
    out = out[out.score >= s.possible - 1e-9]
    out = (out.sort_values(["party_id", "score", "list", "entity_id"],
                           ascending=[True, False, True, True])[RESULT_COLUMNS]
           .reset_index(drop=True))
    t4 = time.perf_counter()
    stats = {"party_names": len(p.raw), "entity_names": len(e.raw),
             "candidate_pairs": len(pairs), "pairs_scored": len(pn),
             "seconds_prepare": t1 - t0, "seconds_blocking": t2 - t1,
             "seconds_scoring": t3 - t2, "seconds_total": t4 - t0, **timings}
    return ScreeningResult(out, suppressed, stats)


def _judged_pairs(parties: pd.DataFrame, entities: pd.DataFrame, p: _Names, e: _Names,
                  dec: pd.DataFrame, kw: dict) -> pd.DataFrame:
    """Name scores for the pairs an analyst judged `same`, whatever the blocking found."""
    same = dec[dec.decision == "same"]
    if same.empty:
        return pd.DataFrame()
    p_rows = {pid: i for i, pid in enumerate(parties.party_id)}
    e_rows: dict[str, list[int]] = {}
    for i, eid in enumerate(entities.entity_id):
        e_rows.setdefault(str(eid), []).append(i)
    p_names: dict[int, list[int]] = {}
    for n, r in enumerate(p.row):
        p_names.setdefault(int(r), []).append(n)
    e_names: dict[int, list[int]] = {}
    for n, r in enumerate(e.row):
        e_names.setdefault(int(r), []).append(n)
    out = []
    for d in same.itertuples(index=False):
        pr = p_rows.get(str(d.party_id))
        for er in e_rows.get(str(d.entity_id), []):
            if pr is None:
                continue
            for i in p_names.get(pr, []):
                for j in e_names.get(er, []):
                    r = compare_names(p.form(i), e.form(j),
                                      person=bool(p.person[i] or e.person[j]), **kw)
                    out.append({"pr": pr, "er": er, "pn": i, "en": j,
                                "name_score": r.score, "how": r.how, "forced": True})
    return pd.DataFrame(out)


def _apply_judgements(out: pd.DataFrame, dec: pd.DataFrame, s: ScreeningSettings
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`not_same` removes a candidate (reported in the second frame); `same` makes it a
    match whatever its score. The explanation says who decided, when."""
    if dec.empty or out.empty:
        return out, pd.DataFrame(columns=SUPPRESSED_COLUMNS)
    d = dec.drop_duplicates(["party_id", "entity_id"], keep="last")
    m = out.merge(d, on=["party_id", "entity_id"], how="left", suffixes=("", "_j"))
    judged = m.decision_j.notna()

    def who(r: pd.Series) -> str:
        bits = [x for x in (r.get("by"), r.get("date")) if isinstance(x, str) and x]
        note = f": {r.note}" if isinstance(r.get("note"), str) and r.note else ""
        return " on ".join(bits) + note if bits else "an analyst" + note

    sup = m[judged & (m.decision_j == "not_same")]
    suppressed = sup.assign(by=sup.by.fillna(""), date=sup.date.fillna(""),
                            note=sup.note.fillna(""))[SUPPRESSED_COLUMNS]
    same = judged & (m.decision_j == "same")
    m.loc[same, "decision"] = "match"
    m.loc[same, "explanation"] = [f"{x}; confirmed the same by {who(r)}"
                                  for x, (_, r) in zip(m.explanation[same], m[same].iterrows(),
                                                       strict=True)]
    m.loc[same, "score"] = m.loc[same, "score"].clip(lower=s.possible)
    kept = m[~(judged & (m.decision_j == "not_same"))]
    return kept[RESULT_COLUMNS], suppressed.reset_index(drop=True)

"""The screening's thresholds and feature weights: the policy file's `analysis.screening`
section over these defaults (docs/screening.md explains each)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScreeningSettings:
    """Thresholds, feature weights and blocking limits of restricted-party screening."""

    SECTION = "screening"

    match: float = 0.9  # a candidate at or above: `match` (an accusation: high severity)
    possible: float = 0.75  # at or above: `possible` (for review: low severity)
    # names (analyses of screening/names.py)
    initial: float = 0.85  # "J" against "John"
    prefix: float = 0.75  # "Ben" against "Benjamin", "Intl" not
    conflict_penalty: float = 0.75  # each name keeps a word the other cannot explain
    short_weight: float = 0.8  # persons: weight of the shorter name's coverage
    single_token_cap: float = 0.7  # one word against several
    reorder: float = 0.95  # persons: the same words in another order
    legal_penalty: float = 0.9  # organisations with different legal forms (AG / GmbH)
    series: float = 0.75  # only a serial number differs (Fund III / Fund IV)
    abjad: float = 0.88  # Arabic/Hebrew script: the same consonants in the same order
    initials_cap: float = 0.85  # the most an initial or an acronym can give
    # other features, added to (or taken from) the name score
    country_match: float = 0.02
    country_mismatch: float = 0.1
    birth_date_match: float = 0.05
    birth_date_mismatch: float = 0.2  # different birth years
    identifier_match: float = 1.0  # the score of a pair with the same registration number
    # blocking: candidate pairs come from shared keys computed in DuckDB
    max_key_entities: int = 200  # a key shared by more list entity names blocks nothing
    max_candidates: int = 10  # per party name, those sharing the most keys
    prefilter: float = 0.6  # token-set ratio (rapidfuzz) a candidate must reach to be scored

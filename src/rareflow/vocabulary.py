"""The words the analyses share, each defined once: party roles, product groups, the ends of
the flow account, and the commitments of certificates and licences (contract 1.1)."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

# --- party roles (the `roles` cell of `parties`, `;`-separated) -------------------------------
TRADING_ROLES = ("trader", "distributor", "forwarder", "broker")
# Roles that use the goods. `end_user` is not one: a trader that names itself end user on its
# own certificate is the red flag itself (conformance case 07).
USING_ROLES = ("manufacturer", "processor", "recycler")


def roles_of(value: object) -> list[str]:
    """The roles of a `roles` cell."""
    return [r.strip() for r in value.split(";") if r.strip()] if isinstance(value, str) else []


def trading_only(roles: Iterable[str]) -> bool:
    """A trading role and no role that uses the goods."""
    rs = list(roles)
    return any(r in TRADING_ROLES for r in rs) and not any(r in USING_ROLES for r in rs)


# --- products ----------------------------------------------------------------------------
# Kinds of the product table that are controlled items (contract 1.1 §4); final goods are not.
CONTROLLED_KINDS = ("material", "component")
# Heavy rare-earth (Dy, Tb) products, heavy whatever the product table says.
HEAVY_PRODUCTS = ("dy_metal", "tb_metal", "dy_oxide", "tb_oxide")

# --- the ends of the flow account (contract 1.1 §1-2) -----------------------------------------
CATEGORIES = ("verified_use", "in_stock", "reexported", "prohibited_use", "unaccounted")

# --- commitments (certificate `commitments`, licence `conditions`) --------------------------
REEXPORT_TERMS = ("no_reexport", "domestic_only")  # forbid every transfer abroad
CIVIL_TERMS = ("civil_use_only",)

NONE = "\u2400"  # a value no id takes (an engine `isin` needs a non-empty list)


def commitment(text: object) -> str | None:
    """One commitment, normalised: stripped, a named country as `no_transfer:XX`."""
    if not isinstance(text, str):
        return None
    c = text.strip()
    head, sep, country = c.partition(":")
    if sep and head.strip().lower() == "no_transfer":
        c = f"no_transfer:{country.strip().upper()}"
    return c or None


def terms(text: object) -> set[str]:
    """The commitments of a `;`-separated cell (or a list of them), normalised."""
    if isinstance(text, str):
        parts: Iterable[object] = text.split(";")
    elif isinstance(text, list | tuple | set | frozenset):
        parts = text
    else:
        return set()
    return {c for c in map(commitment, parts) if c}


def binds_against(commitments: set[str], country: str | None) -> bool:
    """Whether commitments forbid a transfer to `country` (`no_reexport` forbids every
    transfer abroad)."""
    if commitments & set(REEXPORT_TERMS):
        return True
    return bool(country) and f"no_transfer:{country}" in commitments


def forbids_transfer(commitments: Iterable[str]) -> bool:
    """`no_reexport` (every transfer abroad) or a named `no_transfer:XX`: the contract's
    no-transfer element (§7)."""
    cs = set(commitments)
    return "no_reexport" in cs or any(
        c.startswith("no_transfer:") and c.split(":", 1)[1].strip() for c in cs)


COMMITMENT_COLUMNS = ("kind", "id", "commitment")
COMMITMENTS = "commitments"  # the child table: one row per commitment or condition


def commitment_rows(kind: str, cells: Iterable[tuple[object, object]]) -> pd.DataFrame:
    """(kind, id, commitment) for (id, cell) pairs of certificate `commitments` or licence
    `conditions` cells: the one parse of those cells, normalised (`commitment`)."""
    rows = [(kind, str(i), c) for i, cell in cells if isinstance(cell, str)
            for c in sorted({c for c in map(commitment, cell.split(";")) if c})]
    return pd.DataFrame(rows, columns=list(COMMITMENT_COLUMNS)).drop_duplicates()

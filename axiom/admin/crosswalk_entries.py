"""One crosswalk's entries, a page at a time, for the console and ``GET
/api/v1/config/crosswalks/{name}/entries``.

Keys and values may be patient identifiers (a Patient ID and its pseudonym, an accession number):
roles below ``PHI_ROLE`` get the page with both masked (``MASKED_PHI``) and may not search by key;
roles that see them are audited (``crosswalk.entries_read``, the table's name and page, no value),
as an unmasked dry-run is.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from axiom.admin.config_edit import ConfigNotFound
from axiom.admin.study_views import MASKED_PHI, shows_phi
from axiom.db.repositories import audit as audit_repo
from axiom.db.repositories import crosswalks as repo
from axiom.domain.auth import Principal

READ_ACTION = "crosswalk.entries_read"
PAGE_SIZE = 50


class PrefixNotAllowed(PermissionError):
    """A search by key from a role that may not see keys."""


@dataclass(frozen=True)
class Entry:
    key: str
    value: str


@dataclass(frozen=True)
class EntryPage:
    name: str
    total: int  # entries that match the prefix (all of them without one)
    offset: int
    limit: int
    masked: bool
    entries: list[Entry]


def entry_page(
    session: Session,
    name: str,
    principal: Principal,
    *,
    prefix: str = "",
    limit: int = PAGE_SIZE,
    offset: int = 0,
) -> EntryPage:
    """A page of ``name``'s entries by key; ConfigNotFound for an unknown table, PrefixNotAllowed
    when a role that sees them masked searches by key. The audit row is added to ``session``."""
    row = repo.get_crosswalk_rows(session, [name]).get(name)
    if row is None:
        raise ConfigNotFound(f"no crosswalk named {name!r}")
    phi = shows_phi(principal.role)
    if prefix and not phi:
        raise PrefixNotAllowed(
            f"searching crosswalk keys needs the role admin (you have {principal.role.value})"
        )
    total, rows = repo.page_entries(session, row.id, prefix=prefix, limit=limit, offset=offset)
    if phi:
        audit_repo.add_audit(
            session,
            actor=principal.actor,
            action=READ_ACTION,
            target=f"crosswalk:{name}"[:256],
            details={"offset": offset, "rows": len(rows), "prefix": bool(prefix)},
        )
        entries = [Entry(key, value) for key, value in rows]
    else:
        entries = [Entry(MASKED_PHI, MASKED_PHI) for _ in rows]
    return EntryPage(name, total, offset, limit, not phi, entries)


__all__ = ["PAGE_SIZE", "READ_ACTION", "Entry", "EntryPage", "PrefixNotAllowed", "entry_page"]

"""Allocation links: the allocations the books dictate (FEC lettering), kept apart from the
derived allocations so that they survive every replay of `ledger.allocation`.

A link says "source S (a payment or a credit note) settles invoice I for up to A"; a link with no
invoice says "what S has left stays customer credit" (no oldest-first). Links are replaced per
source: an import states the whole truth about the sources it carries, and leaves the links of
every other source (an earlier fiscal year's receipts) as they are.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select, tuple_
from sqlmodel import Session

from ledger.tables import AllocationLink

CHUNK = 500


@dataclass(frozen=True)
class Link:
    customer_id: str
    source_kind: str            # payment | credit_note
    source_id: str
    invoice_id: str | None      # None: the rest of the source stays customer credit
    amount: Decimal | None = None
    origin: str = ""

    @property
    def source(self) -> tuple[str, str]:
        return self.source_kind, self.source_id

    def fact(self) -> tuple:
        """What the allocator uses (the origin is a label)."""
        return (self.customer_id, self.source_kind, self.source_id, self.invoice_id,
                None if self.amount is None else Decimal(self.amount))


@dataclass
class LinkSet:
    """The links of `sources`, replacing whatever those sources had."""

    sources: set[tuple[str, str]] = field(default_factory=set)
    links: list[Link] = field(default_factory=list)


def load_links(session: Session, customer_ids: Iterable[str]) -> dict[tuple[str, str], list[Link]]:
    """The stored links of these customers' sources, by (source_kind, source_id)."""
    found: dict[tuple[str, str], list[Link]] = defaultdict(list)
    ids = sorted(set(customer_ids))
    columns = (AllocationLink.customer_id, AllocationLink.source_kind, AllocationLink.source_id,
               AllocationLink.invoice_id, AllocationLink.amount, AllocationLink.origin)
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(select(*columns).where(AllocationLink.customer_id.in_(ids[start:start + CHUNK]))
                               .order_by(AllocationLink.id))
        for row in rows:
            link = Link(*row)
            found[link.source].append(link)
    return found


def stored_for_sources(session: Session, sources: Iterable[tuple[str, str]]) -> list[Link]:
    """The stored links of these sources, whoever their customer."""
    wanted = sorted(set(sources))
    columns = (AllocationLink.customer_id, AllocationLink.source_kind, AllocationLink.source_id,
               AllocationLink.invoice_id, AllocationLink.amount, AllocationLink.origin)
    found: list[Link] = []
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start:start + CHUNK]
        rows = session.execute(select(*columns).where(
            tuple_(AllocationLink.source_kind, AllocationLink.source_id).in_(chunk)))
        found.extend(Link(*row) for row in rows)
    return found


def stored_for_customers(session: Session, customer_ids: Iterable[str]) -> list[Link]:
    """The stored links of these customers (indexed: a few queries for thousands of sources)."""
    return [link for links in load_links(session, customer_ids).values() for link in links]


def changed_customers(before: list[Link], after: list[Link]) -> set[str]:
    """Customers whose links differ between the two sets (they need a replay)."""
    old: dict[str, set[tuple]] = defaultdict(set)
    new: dict[str, set[tuple]] = defaultdict(set)
    for link in before:
        old[link.customer_id].add(link.fact())
    for link in after:
        new[link.customer_id].add(link.fact())
    return {c for c in old.keys() | new.keys() if old.get(c, set()) != new.get(c, set())}

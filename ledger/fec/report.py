"""What a FEC import says back: the issues that refuse a file, and the report of what was done."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from ledger.errors import FieldError, LedgerValidationError
from ledger.schemas import IngestResult


@dataclass(frozen=True)
class FecIssue:
    line: int
    column: str
    message: str


@dataclass(frozen=True)
class UnbalancedGroup:
    """A lettering group (EcritureLet within a customer) whose debits and credits differ."""

    customer_id: str
    letter: str
    debits: Decimal
    credits: Decimal
    lines: tuple[int, ...]
    partial: bool  # a lowercase code: the package itself marks the lettering as partial


@dataclass(frozen=True)
class Unplaced:
    """A line the import could not place as the books do: what happened to it instead."""

    line: int
    customer_id: str
    record_id: str
    amount: Decimal
    reason: str  # unallocated_credit | opening_already_imported | uncited_credit_note


@dataclass
class FecReport:
    """What was read, what was wrong, what was (or would be) imported."""

    encoding: str = ""
    separator: str = ""
    lines: int = 0
    entries: int = 0
    invalid_entries: int = 0
    skipped_lines: int = 0          # lines of invalid entries left out (skip_invalid)
    opening_lines: int = 0          # "à-nouveaux" lines on customer accounts
    opening_items: int = 0          # of which became (or were already) open items
    customers: int = 0
    invoices: int = 0
    credit_notes: int = 0
    payments: int = 0
    lettered_payments: int = 0
    lettering_groups: int = 0
    links: int = 0
    due_dates: dict[str, int] = field(default_factory=lambda: {"column": 0, "customer_terms": 0, "default": 0})
    unbalanced_groups: list[UnbalancedGroup] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)
    issues: list[FecIssue] = field(default_factory=list)
    result: IngestResult | None = None

    @property
    def valid(self) -> bool:
        return not self.issues


class FecValidationError(LedgerValidationError):
    """The file has bad lines; nothing was imported. `report.issues` lists every one."""

    def __init__(self, report: FecReport):
        self.report = report
        super().__init__([FieldError(f"line {i.line}, column {i.column}", i.message)
                          for i in report.issues])


def issues_table(issues: Iterable[FecIssue]) -> list[dict[str, object]]:
    """The issues as JSON-ready rows (API, CLI)."""
    return [{"line": i.line, "column": i.column, "message": i.message} for i in issues]


def money(value: Decimal) -> str:
    """1234.5 → '1234,50' (the FEC's own spelling, for messages)."""
    return f"{Decimal(value):.2f}".replace(".", ",")


def unbalanced_table(groups: Iterable[UnbalancedGroup]) -> list[dict[str, object]]:
    return [{"customer_id": g.customer_id, "letter": g.letter, "debits": g.debits, "credits": g.credits,
             "difference": g.debits - g.credits, "lines": list(g.lines), "partial": g.partial}
            for g in groups]


def unplaced_table(items: Iterable[Unplaced]) -> list[dict[str, object]]:
    return [{"line": u.line, "customer_id": u.customer_id, "record_id": u.record_id, "amount": u.amount,
             "reason": u.reason} for u in items]

"""The ledger as a FEC an accounting package imports (`relance export-fec`).

Invoices are debits on the customer's account in the sales journal VT against 706000, penalty
invoices (`ledger.penalties`) there too against 763000 (interest) and 758000 (indemnity); credit notes are credits there against 709000;
payments are credits in the bank journal BQ against 512000. Allocations become lettering: the
records an allocation joins (directly or through each other) share one code, and DateLet is the
date of the group's last allocation. The extra `DateEcheance` column carries the due dates, so
import → export → import gives the same ledger (docs/fec.md).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session

from ledger.fec.reading import DUE_DATE, FEC_COLUMNS
from ledger.tables import Allocation, Customer, Invoice, Payment, PenaltyInvoice


def export_fec(session: Session, *, separator: str = "\t", decimal: str = ",", due_dates: bool = True) -> str:
    """The ledger's customer side as FEC text (header included)."""
    names = dict(session.execute(select(Customer.customer_id, Customer.name)).all())
    invoices = session.execute(select(Invoice.invoice_id, Invoice.customer_id, Invoice.issue_date,
                                      Invoice.due_date, Invoice.amount, Invoice.kind)
                               .order_by(Invoice.issue_date, Invoice.invoice_id)).all()
    payments = session.execute(select(Payment.payment_id, Payment.customer_id, Payment.paid_on, Payment.amount)
                               .order_by(Payment.paid_on, Payment.payment_id)).all()
    allocations = session.execute(select(Allocation.invoice_id, Allocation.source_kind, Allocation.source_id,
                                         Allocation.allocated_on)).all()
    letters, lettered_on = _lettering(allocations)
    letters = _partial_in_lowercase(letters, invoices, payments)

    rows: list[list[str]] = []
    for number, (invoice_id, customer_id, issued, due, amount, kind) in enumerate(invoices, start=1):
        credit_note = kind == "credit_note"
        node = ("credit_note" if credit_note else "invoice", invoice_id)
        code = letters.get(node, "")
        head = ["VT", "Journal des ventes", f"VT{number:07d}", _date(issued)]
        label = ("Avoir " if credit_note else "Facture ") + str(invoice_id)
        piece = [str(invoice_id), _date(issued), label]
        tail = [_date(issued), "", ""] + ([_date(due)] if due_dates else [])
        value = _amount(amount, decimal)
        debit, credit = ("0", value) if credit_note else (value, "0")
        rows.append(head + _customer(customer_id, names) + piece
                    + [debit, credit, code, _date(lettered_on.get(code.upper())) if code else ""] + tail)
        rows.append(head + (["709000", "Rabais, remises et ristournes accordés"] if credit_note
                            else ["706000", "Prestations de services"]) + ["", ""] + piece
                    + [credit, debit, "", ""] + tail)
    rows += _penalty_rows(session, names, decimal, due_dates, first_number=len(invoices) + 1)
    for number, (payment_id, customer_id, paid_on, amount) in enumerate(payments, start=1):
        code = letters.get(("payment", payment_id), "")
        head = ["BQ", "Banque", f"BQ{number:07d}", _date(paid_on)]
        piece = [str(payment_id), _date(paid_on), f"Règlement {payment_id}"]
        tail = [_date(paid_on), "", ""] + ([""] if due_dates else [])
        value = _amount(amount, decimal)
        rows.append(head + ["512000", "Banque", "", ""] + piece + [value, "0", "", ""] + tail)
        rows.append(head + _customer(customer_id, names) + piece
                    + ["0", value, code, _date(lettered_on.get(code.upper())) if code else ""] + tail)
    header = list(FEC_COLUMNS) + ([DUE_DATE] if due_dates else [])
    clean = str.maketrans({separator: " ", "\n": " ", "\r": " "})
    return "\n".join(separator.join(value.translate(clean) for value in row)
                     for row in [header, *rows]) + "\n"


def _penalty_rows(session: Session, names: dict, decimal: str, due_dates: bool, *,
                  first_number: int) -> list[list[str]]:
    """Penalty invoices (ledger.penalties): 411 debit, interest to 763000, indemnity to 758000."""
    penalties = session.execute(select(PenaltyInvoice).order_by(
        PenaltyInvoice.issue_date, PenaltyInvoice.penalty_invoice_id)).scalars().all()
    rows: list[list[str]] = []
    for number, penalty in enumerate(penalties, start=first_number):
        head = ["VT", "Journal des ventes", f"VT{number:07d}", _date(penalty.issue_date)]
        piece = [penalty.penalty_invoice_id, _date(penalty.issue_date), f"Pénalités de retard {penalty.penalty_invoice_id}"]
        tail = [_date(penalty.issue_date), "", ""] + ([_date(penalty.due_date)] if due_dates else [])
        rows.append(head + _customer(penalty.customer_id, names) + piece
                    + [_amount(penalty.total, decimal), "0", "", ""] + tail)
        for account, label, value in (("763000", "Revenus des autres créances", penalty.interest),
                                      ("758000", "Indemnités forfaitaires de recouvrement",
                                       penalty.total - penalty.interest)):
            if value:
                rows.append(head + [account, label, "", ""] + piece + ["0", _amount(value, decimal), "", ""] + tail)
    return rows


def _lettering(allocations) -> tuple[dict[tuple[str, str], str], dict[str, dt.date]]:
    """One code per connected group of records joined by allocations, and its last date."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def root(node):
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for invoice_id, source_kind, source_id, _ in allocations:
        a, b = root(("invoice", invoice_id)), root((source_kind, source_id))
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[tuple[str, str], str] = {}
    letters: dict[tuple[str, str], str] = {}
    for node in sorted(parent):
        top = root(node)
        if top not in groups:
            groups[top] = letter_code(len(groups))
        letters[node] = groups[top]
    last: dict[str, dt.date] = {}
    for invoice_id, _, _, on in allocations:
        group = letters[("invoice", invoice_id)]
        last[group] = max(last.get(group, on), on)
    return letters, last


def _partial_in_lowercase(letters: dict[tuple[str, str], str], invoices, payments) -> dict[tuple[str, str], str]:
    """A group whose debits and credits differ is partial lettering: lowercase, as packages write it."""
    net: dict[str, Decimal] = {}
    for invoice_id, _, _, _, amount, kind in invoices:
        node = ("credit_note" if kind == "credit_note" else "invoice", invoice_id)
        if node in letters:
            net[letters[node]] = net.get(letters[node], Decimal(0)) + (-amount if kind == "credit_note" else amount)
    for payment_id, _, _, amount in payments:
        if ("payment", payment_id) in letters:
            code_ = letters[("payment", payment_id)]
            net[code_] = net.get(code_, Decimal(0)) - amount
    return {node: c.lower() if net.get(c) else c for node, c in letters.items()}


def letter_code(index: int) -> str:
    """0 → AAA, 1 → AAB …: three capitals, as most packages write them, more when needed."""
    letters = ""
    for _ in range(3):
        index, rest = divmod(index, 26)
        letters = chr(ord("A") + rest) + letters
    return letters if index == 0 else f"{letters}{index}"


def _customer(customer_id: str, names: dict[str, str | None]) -> list[str]:
    return ["411000", "Clients", str(customer_id), str(names.get(customer_id) or "")]


def _date(value: dt.date | None) -> str:
    return "" if value is None else value.strftime("%Y%m%d")


def _amount(value: Decimal, decimal: str) -> str:
    return f"{Decimal(value).quantize(Decimal('0.01'))}".replace(".", decimal)

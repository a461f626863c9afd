"""Due dates of the file's invoices: the file's column, else the customer's terms, else the
default; and the terms a new customer is created with. See docs/fec.md, "Due dates".
"""
from __future__ import annotations

import pandas as pd
from sqlalchemy import select
from sqlmodel import Session

from ledger.fec.report import FecReport
from ledger.fec.terms import Terms
from ledger.tables import Customer

CHUNK = 500


def stored_terms(session: Session, customer_ids: list[str]) -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    for start in range(0, len(customer_ids), CHUNK):
        rows = session.execute(select(Customer.customer_id, Customer.payment_terms_days)
                               .where(Customer.customer_id.in_(customer_ids[start:start + CHUNK])))
        found.update((customer_id, terms) for customer_id, terms in rows)
    return found


def due_dates(lines: pd.DataFrame, customer_terms: dict[str, Terms], stored: dict[str, int | None],
               default: Terms, report: FecReport) -> pd.DataFrame:
    """Invoices: the file's due date, else the customer's terms, else the default; counted by
    source. A credit note is due when issued (it is owed to the customer, not chased)."""
    lines = lines.copy()
    invoice = (lines["kind"] == "invoice") & ~lines["existing"] & ~lines["skipped"]
    given = lines["due"].notna()
    terms = {c: t for c, t in ((c, Terms(days=d)) for c, d in stored.items() if d is not None)}
    terms |= customer_terms
    has_terms = lines["customer_id"].isin(terms.keys())
    computed = pd.Series(pd.NaT, index=lines.index, dtype="datetime64[ns]")
    from_terms = invoice & ~given & has_terms
    for terms_of, group in lines[from_terms].groupby(lines.loc[from_terms, "customer_id"].map(terms), sort=False):
        computed[group.index] = terms_of.due(group["on"])
    from_default = invoice & ~given & ~has_terms
    computed[from_default] = default.due(lines.loc[from_default, "on"])
    credit_note = lines["kind"] == "credit_note"
    lines["due"] = lines["due"].where(given, computed.where(~credit_note, lines["on"]))
    report.due_dates = {"column": int((invoice & given).sum()), "customer_terms": int(from_terms.sum()),
                        "default": int(from_default.sum())}
    return lines


def customers_of(lines: pd.DataFrame, stored: dict[str, int | None], default: Terms) -> pd.DataFrame:
    """One customer per account; new ones get the default terms when those are plain days."""
    customers = (lines.assign(named=lines["name"] != "").sort_values(["named", "line"], ascending=[False, True])
                 .drop_duplicates("customer_id")[["customer_id", "name", "line"]].sort_values("customer_id"))
    plain_days = default.days if default.end_of_month is None else None
    customers["payment_terms_days"] = [None if c in stored else plain_days for c in customers["customer_id"]]
    return customers

"""Lettering (EcritureLet) as allocations: each group settles its invoices with its credits.

A lettering group is the set of customer lines sharing a code within one customer's account. Its
debits (invoices) are settled by its credits (payments, credit notes): n ↔ m, credits in date
order against invoices in due-date order, each as far as it goes. A group whose debits and
credits differ (partial lettering, or the lowercase codes some packages use for it) is applied as
far as it goes and reported. Codes are taken as written: "a" and "A" are two groups.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd

from ledger.fec.report import UnbalancedGroup
from ledger.links import Link

ZERO = Decimal("0")


@dataclass
class Lettering:
    links: list[Link] = field(default_factory=list)
    groups: int = 0
    unbalanced: list[UnbalancedGroup] = field(default_factory=list)


def letter(lines: pd.DataFrame) -> Lettering:
    """Links from every lettering group of `lines` (customer lines with final kinds and ids)."""
    result = Lettering()
    lettered = lines[lines["letter"] != ""]
    if lettered.empty:
        return result
    credit = (lettered["table"] == "payment") | (lettered["kind"] == "credit_note")
    # within a group: invoices by due date, then credits by date (the order allocation uses)
    ordered = lettered.assign(
        _credit=credit.to_numpy(),
        _first=np.where(credit, lettered["on"], lettered["due"].fillna(lettered["on"])),
    ).sort_values(["customer_id", "letter", "_credit", "_first", "on", "id"], kind="stable")
    customer = ordered["customer_id"].to_numpy(dtype=object)
    code = ordered["letter"].to_numpy(dtype=object)
    is_credit = ordered["_credit"].to_numpy(dtype=bool)
    kinds = ordered["kind"].to_numpy(dtype=object)
    record = ordered["id"].to_numpy(dtype=object)
    amount = ordered["amount"].to_numpy(dtype=object)
    line = ordered["line"].to_numpy()
    boundaries = np.flatnonzero((customer[1:] != customer[:-1]) | (code[1:] != code[:-1])) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(ordered)]])
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        result.groups += 1
        debits = [(record[i], amount[i]) for i in range(start, end) if not is_credit[i]]
        credits = [(kinds[i], record[i], amount[i]) for i in range(start, end) if is_credit[i]]
        origin = f"fec:{code[start]}"
        result.links.extend(_match(customer[start], debits, credits, origin))
        total_debit = sum((a for _, a in debits), ZERO)
        total_credit = sum((a for _, _, a in credits), ZERO)
        if total_debit != total_credit:
            result.unbalanced.append(UnbalancedGroup(
                customer_id=customer[start], letter=code[start], debits=total_debit, credits=total_credit,
                lines=tuple(int(n) for n in line[start:end]),
                partial=code[start] != code[start].upper()))
    return result


def _match(customer_id: str, debits: list[tuple[str, Decimal]], credits: list[tuple[str, str, Decimal]],
           origin: str) -> list[Link]:
    """Credits in order against invoices in order: the first credit settles the first invoice…"""
    links: list[Link] = []
    i = j = 0
    owed = debits[0][1] if debits else ZERO
    paid = credits[0][2] if credits else ZERO
    while i < len(debits) and j < len(credits):
        applied = min(owed, paid)
        kind, source_id, _ = credits[j]
        links.append(Link(customer_id, "credit_note" if kind == "credit_note" else "payment", source_id,
                          debits[i][0], applied, origin))
        owed -= applied
        paid -= applied
        if owed == ZERO:
            i += 1
            owed = debits[i][1] if i < len(debits) else ZERO
        if paid == ZERO:
            j += 1
            paid = credits[j][2] if j < len(credits) else ZERO
    return links

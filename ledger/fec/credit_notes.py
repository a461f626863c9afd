"""Credit notes and the invoice they reduce: by lettering, or by the piece they cite."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sqlmodel import Session

from ledger.fec.opening import existing_ids
from ledger.links import Link
from ledger.tables import Invoice

_TOKEN = re.compile(r"[^\s,;:()\[\]\"']+")


def cited_invoices(session: Session, lines: pd.DataFrame) -> pd.DataFrame:
    """A credit note cites its invoice by PieceRef (a reversal keeping the invoice's piece) or
    in its label ("Avoir sur facture F001"): the cited invoice of the same customer, if known."""
    lines = lines.assign(cited=None)
    notes = lines[(lines["kind"] == "credit_note") & ~lines["existing"] & ~lines["skipped"]]
    if notes.empty:
        return lines
    invoices = lines[lines["kind"] == "invoice"]
    owner = dict(zip(invoices["id"], invoices["customer_id"], strict=True))
    candidates = {note.piece: [note.piece, *_TOKEN.findall(note.label)] for note in notes.itertuples()}
    unknown = {t for tokens in candidates.values() for t in tokens} - owner.keys()
    owner |= {i: c[0] for i, c in existing_ids(session, Invoice, Invoice.invoice_id, pd.Series(sorted(unknown)),
                                            (Invoice.customer_id, Invoice.kind)).items() if c[1] == "invoice"}
    cited = []
    for note in notes.itertuples():
        tokens = [note.piece, *_TOKEN.findall(note.label)]
        cited.append(next((t for t in tokens if t != note.id and owner.get(t) == note.customer_id), None))
    lines.loc[notes.index, "cited"] = np.array(cited, dtype=object)
    return lines


def single_targets(links: list[Link]) -> dict[tuple[str, str], str]:
    """The invoice a source's lettering names, when it names exactly one."""
    seen: dict[tuple[str, str], set[str]] = {}
    for link in links:
        if link.invoice_id is not None:
            seen.setdefault(link.source, set()).add(link.invoice_id)
    return {source: next(iter(ids)) for source, ids in seen.items() if len(ids) == 1}

"""Which ledger record each customer line of a FEC is, and its id.

- customer accounts are 411… (the customer is CompAuxNum/CompAuxLib, else CompteNum/CompteLib);
- a debit on a customer account is an invoice (a receivable, whatever the journal: a refund of
  an overpayment is one too), issued on PieceDate, else EcritureDate;
- a credit is a payment when its journal is a bank or cash one (BQ*, BAN*, BNK*, CA*) or its
  entry touches a bank or cash account (512…, 53…); otherwise (sales journal, reversal in an OD
  journal) a credit note;
- lines of an opening journal (AN, RAN… and any configured code) are the open items carried
  forward ("à-nouveaux"): a debit is an invoice, a credit a payment (or the credit note of the
  same id already in the ledger, decided by the importer).

Ids (the idempotency key): PieceRef when it names one line of its kind in the file, else
`JournalCode-EcritureDate-EcritureNum[-k]`: entry numbers restart each fiscal year, dates never
repeat across the files of successive years, so the key stays unique and stable.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from ledger.fec.reading import DUE_DATE
from ledger.fec.validation import MAX_ID, arrow

OPENING_JOURNALS = frozenset({"AN", "RAN", "ANO", "ANX"})
BANK_JOURNAL = r"^(?:BQ|BAN|BNK|CA)"
BANK_ACCOUNT = ("512", "53")


def classify(frame: pd.DataFrame, *, opening_journals: frozenset[str] = OPENING_JOURNALS) -> pd.DataFrame:
    """One row per customer line with a non-zero amount: kind, table, id, dates, amount."""
    entry = frame["_entry"].to_numpy()
    bank_line = frame["CompteNum"].str.startswith(BANK_ACCOUNT).to_numpy(dtype=bool)
    entry_has_bank = (np.bincount(entry, weights=bank_line) > 0)[entry] if len(entry) else bank_line
    journal_upper = frame["JournalCode"].str.upper()
    bank_journal = journal_upper.str.contains(BANK_JOURNAL, regex=True).to_numpy(dtype=bool)
    opening = journal_upper.isin({j.upper() for j in opening_journals}).to_numpy(dtype=bool)
    net = pc.subtract(arrow(frame["_Debit"]), arrow(frame["_Credit"]))
    sign = np.asarray(pc.sign(net).to_numpy(zero_copy_only=False), dtype=np.int64) if len(frame) \
        else np.zeros(0, np.int64)
    keep = frame["_customer"].to_numpy(dtype=bool) & (sign != 0)
    lines = frame[keep]
    sign, payment, opening = sign[keep], (bank_journal | entry_has_bank)[keep], opening[keep]
    kind = np.where(sign > 0, "invoice", np.where(payment | opening, "payment", "credit_note"))

    def text(column: str) -> np.ndarray:
        # customer lines leave Arrow here: ids and names become plain str for the ledger
        return lines[column].to_numpy(dtype=object)

    aux = text("CompAuxNum")
    named = aux != ""
    # exact amounts as Python Decimals, from here to the ledger
    absolute = pc.abs(pc.filter(net, keep)) if len(frame) else net
    out = pd.DataFrame({
        "line": lines["_line"].to_numpy(), "entry": lines["_entry"].to_numpy(), "journal": text("JournalCode"),
        "number": text("EcritureNum"), "kind": kind, "opening": opening,
        "customer_id": np.where(named, aux, text("CompteNum")),
        "name": np.where(named, text("CompAuxLib"), text("CompteLib")),
        "piece": text("PieceRef"), "label": text("EcritureLib"),
        "on": lines["_PieceDate"].fillna(lines["_EcritureDate"]).to_numpy(),
        "entry_date": lines["_EcritureDate"].to_numpy(), "entry_day": text("EcritureDate"),
        "due": lines[f"_{DUE_DATE}"].to_numpy() if f"_{DUE_DATE}" in lines else pd.NaT,
        "amount": np.array(absolute.to_pylist(), dtype=object),
        "letter": text("EcritureLet"), "lettered_on": lines["_DateLet"].to_numpy(),
    })
    out["due"] = pd.to_datetime(out["due"])
    out["table"] = np.where(out["kind"] == "payment", "payment", "invoice")
    out["id"] = ids(out)
    return out


def ids(lines: pd.DataFrame) -> pd.Series:
    """PieceRef when it names one line of its kind; else JournalCode-EcritureDate-EcritureNum[-k]."""
    piece = lines["piece"]
    # the date as written (AAAAMMJJ, already checked): formatting a million dates costs seconds
    fallback = lines["journal"] + "-" + lines["entry_day"] + "-" + lines["number"]
    per_entry = lines.groupby(["table", "entry"])["line"].transform("size")
    rank = lines.groupby(["table", "entry"]).cumcount() + 1
    fallback = fallback.where(per_entry == 1, fallback + "-" + rank.astype(str))
    repeated = lines.groupby(["kind", "piece"])["line"].transform("size") > 1
    # a reversal often keeps its invoice's PieceRef: the invoice keeps the id, the credit note
    # takes the entry's, so a later file adding the reversal does not rename the invoice
    invoice_pieces = set(piece[lines["kind"] == "invoice"])
    taken = (lines["kind"] == "credit_note") & piece.isin(invoice_pieces)
    usable = (piece != "") & ~repeated & ~taken & (piece.str.len() <= MAX_ID)
    return piece.where(usable, fallback).str.slice(0, MAX_ID)

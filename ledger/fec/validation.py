"""Checking a FEC line by line: amounts, dates, required fields, balanced entries.

Amounts are exact decimals from the text to the ledger: Arrow's decimal128 in the vectorised
checks, Python `Decimal` in the records, never a float or a count of cents in an int64 (a
40-digit amount once wrapped round to a negative one). More than 15 integer digits is refused,
naming the line and the column: no accounting package writes a quadrillion euros.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ledger.fec.reading import DUE_DATE
from ledger.fec.report import FecIssue, FecReport, money

CUSTOMER_ACCOUNT = "411"
MAX_ID = 64
MAX_INTEGER_DIGITS = 15
AMOUNT = pa.decimal128(MAX_INTEGER_DIGITS + 2, 2)
# sums of up to a billion lines of 15-digit amounts still fit
TOTAL = pa.decimal128(38, 2)
MONEY = pd.ArrowDtype(AMOUNT)
FIRST_YEAR, LAST_YEAR = 1900, 2199  # the ledger's bounds for every business date


def arrow(values: pd.Series) -> pa.ChunkedArray | pa.Array:
    return values.array._pa_array  # the Arrow data behind an ArrowDtype column


def amounts(values: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Exact amounts (empty = 0), the mask of unparsable ones and of those too long.

    Both decimal marks are read; spaces (also non-breaking) group thousands, and so does the
    point when a comma is also there ("1.234,56").
    """
    text = pc.replace_substring_regex(arrow(values), r"[\s\x{00a0}\x{202f}]", "")
    both = pc.and_(pc.match_substring(text, ","), pc.match_substring(text, "."))
    text = pc.if_else(both, pc.replace_substring(text, ".", ""), text)
    text = pc.replace_substring(text, ",", ".")
    empty = pc.equal(text, "")
    ok = pc.match_substring_regex(text, rf"^[+-]?0*(?:\d{{1,{MAX_INTEGER_DIGITS}}}(?:\.\d{{0,2}})?|\.\d{{1,2}})$")
    too_long = pc.match_substring_regex(text, rf"^[+-]?0*[1-9]\d{{{MAX_INTEGER_DIGITS},}}(?:\.\d*)?$")
    # Arrow's decimal cast wants digits on both sides of the point, no plus sign, no leading zeros
    clean = pc.replace_substring_regex(pc.if_else(ok, text, "0"), r"^\+", "")
    clean = pc.replace_substring_regex(clean, r"^(-?)0*(\d)", r"\1\2")
    clean = pc.replace_substring_regex(clean, r"^(-?)\.", r"\10.")
    clean = pc.replace_substring_regex(clean, r"\.$", "")
    parsed = pc.cast(clean, AMOUNT)
    bad = pc.and_(pc.invert(empty), pc.invert(ok)).to_numpy(zero_copy_only=False)
    long = too_long.to_numpy(zero_copy_only=False)
    return pd.Series(parsed, index=values.index, dtype=MONEY) if len(values) else pd.Series([], dtype=MONEY), bad & ~long, long


def dates(values: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Parsed AAAAMMJJ dates (NaT when empty), the mask of unparsable ones and of out-of-range ones."""
    text = arrow(values)
    empty = pc.equal(text, "").to_numpy(zero_copy_only=False)
    shaped = pc.match_substring_regex(text, r"^\d{8}$")
    year = pc.cast(pc.if_else(shaped, pc.utf8_slice_codeunits(text, 0, 4), "2000"), pa.int64())
    in_range = pc.and_(pc.greater_equal(year, FIRST_YEAR), pc.less_equal(year, LAST_YEAR))
    safe = pc.if_else(pc.and_(shaped, in_range), text, "")
    parsed = pc.strptime(safe, format="%Y%m%d", unit="s", error_is_null=True)
    # Arrow rolls 20240230 over to 1 March: a date is valid only if its day is the one written
    written_day = pc.cast(pc.if_else(shaped, pc.utf8_slice_codeunits(text, 6, 8), "0"), pa.int64())
    same = pc.and_(pc.and_(shaped, in_range), pc.equal(pc.day(parsed), written_day))
    ok = pc.fill_null(same, False).to_numpy(zero_copy_only=False)
    out_of_range = (pc.and_(shaped, pc.invert(in_range))).to_numpy(zero_copy_only=False)
    result = pd.Series(parsed.to_numpy(zero_copy_only=False), index=values.index).astype("datetime64[ns]")
    result[~ok] = pd.NaT
    return result, ~empty & ~ok & ~out_of_range, out_of_range


def _issues(frame: pd.DataFrame, mask, column: str, message) -> pd.DataFrame:
    """Issues of the lines in `mask`; `message` is a text or a function of those lines."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return pd.DataFrame(columns=["line", "column", "message"])
    lines = frame[mask]
    text = message(lines) if callable(message) else message
    return pd.DataFrame({"line": lines["_line"].to_numpy(), "column": column,
                         "message": np.asarray(text, dtype=object) if not isinstance(text, str) else text})


def _quoted(column: str, template: str):
    return lambda lines: [template.format(value) for value in lines[column].astype(object)]


def validate(frame: pd.DataFrame, report: FecReport) -> pd.DataFrame:
    """Parse amounts and dates, check balance per entry; add issues to `report`.

    Returns the frame with parsed columns (`_Debit`, `_EcritureDate`…), `_entry` (an entry
    number) and `_valid` (False for every line of an entry that has any bad line).
    """
    found: list[pd.DataFrame] = []  # the caller's frame is extended in place (no copy of 1M lines)
    frame["_entry"] = frame.groupby(["JournalCode", "EcritureNum"], sort=False, dropna=False).ngroup().to_numpy()
    for column in ("JournalCode", "EcritureNum", "CompteNum", "EcritureDate"):
        found.append(_issues(frame, frame[column] == "", column, "empty (required)"))
    for column in ("Debit", "Credit", "Montantdevise"):
        parsed, bad, too_long = amounts(frame[column])
        frame[f"_{column}"] = parsed
        found.append(_issues(frame, bad, column, _quoted(column, "unparsable amount {!r}")))
        found.append(_issues(frame, too_long, column, _quoted(
            column, f"amount {{!r}} has more than {MAX_INTEGER_DIGITS} integer digits")))
    date_columns = ["EcritureDate", "PieceDate", "DateLet", "ValidDate"]
    if DUE_DATE in frame:
        date_columns.append(DUE_DATE)
    for column in date_columns:
        parsed, bad, out_of_range = dates(frame[column])
        frame[f"_{column}"] = parsed
        found.append(_issues(frame, bad, column, _quoted(column, "unparsable date {!r} (AAAAMMJJ expected)")))
        found.append(_issues(frame, out_of_range, column, _quoted(
            column, f"date {{!r}} outside {FIRST_YEAR}–{LAST_YEAR}")))

    customer = frame["CompteNum"].str.startswith(CUSTOMER_ACCOUNT).to_numpy(dtype=bool)
    frame["_customer"] = customer
    aux_length = frame["CompAuxNum"].str.len().to_numpy()
    account_length = frame["CompteNum"].str.len().to_numpy()
    too_long = customer & (np.where(aux_length > 0, aux_length, account_length) > MAX_ID)
    found.append(_issues(frame, too_long, "CompAuxNum", f"customer account longer than {MAX_ID} characters"))
    if DUE_DATE in frame:
        issued = frame["_PieceDate"].fillna(frame["_EcritureDate"])
        early = customer & (frame[f"_{DUE_DATE}"] < issued).to_numpy()
        found.append(_issues(frame, early, DUE_DATE, "the due date is before the document date"))

    line_issues = pd.concat(found, ignore_index=True)
    entry = frame["_entry"].to_numpy()
    n_entries = int(entry.max()) + 1 if len(entry) else 0
    bad_lines = np.isin(frame["_line"].to_numpy(), line_issues["line"].to_numpy())
    bad_entries = np.bincount(entry, weights=bad_lines, minlength=n_entries) > 0
    debit, credit = _entry_totals(frame, n_entries)
    balanced = np.array(pc.equal(debit, credit).to_numpy(zero_copy_only=False), dtype=bool) if n_entries \
        else np.zeros(0, bool)
    unbalanced = (~balanced & ~bad_entries)[entry] if len(entry) else np.zeros(0, bool)

    def unbalanced_message(lines: pd.DataFrame) -> list[str]:
        ids = lines["_entry"].to_numpy()
        debits, credits = debit.take(pa.array(ids)).to_pylist(), credit.take(pa.array(ids)).to_pylist()
        return [f"entry {j} {n} is unbalanced: debits {money(d)} ≠ credits {money(c)}"
                for j, n, d, c in zip(lines["JournalCode"].astype(object), lines["EcritureNum"].astype(object),
                                      debits, credits, strict=True)]

    balance_issues = _issues(frame, unbalanced, "Debit/Credit", unbalanced_message)
    issues = pd.concat([line_issues, balance_issues], ignore_index=True).sort_values(
        ["line", "column"], kind="stable")
    report.issues.extend(FecIssue(int(line), str(column), str(msg))
                         for line, column, msg in issues.itertuples(index=False))
    valid_entries = ~bad_entries & balanced
    frame["_valid"] = valid_entries[entry] if len(entry) else np.zeros(0, bool)
    report.entries = int(len(valid_entries))
    report.invalid_entries = int((~valid_entries).sum())
    return frame


def _entry_totals(frame: pd.DataFrame, n_entries: int) -> tuple[pa.Array, pa.Array]:
    """Exact debit and credit totals per entry number (index = entry)."""
    if not n_entries:
        return pa.array([], TOTAL), pa.array([], TOTAL)
    table = pa.table({"entry": pa.array(frame["_entry"].to_numpy()),
                      "debit": pc.cast(arrow(frame["_Debit"]), TOTAL),
                      "credit": pc.cast(arrow(frame["_Credit"]), TOTAL)})
    sums = table.group_by("entry").aggregate([("debit", "sum"), ("credit", "sum")])
    order = pc.sort_indices(sums["entry"])
    return (pc.take(sums["debit_sum"], order).combine_chunks(),
            pc.take(sums["credit_sum"], order).combine_chunks())

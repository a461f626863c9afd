"""Reading a FEC: bytes → a frame of strings, one row per line, with its line number.

Every French accounting package (Sage, Cegid, EBP, SAP, Pennylane) exports the FEC (art. A47 A-1
LPF): one line per accounting line, 18 columns, tab- or pipe-separated, in UTF-8 or Latin-1.
Strings stay Arrow-backed, so the work on a 1,000,000-line file runs in Arrow's C++ kernels.
"""
from __future__ import annotations

import codecs
import io
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pacsv

from ledger.fec.report import FecIssue, FecReport

FEC_COLUMNS = ("JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib",
               "CompAuxNum", "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit",
               "EcritureLet", "DateLet", "ValidDate", "Montantdevise", "Idevise")
# not in A47 A-1, but several packages add it; the ledger needs a due date
DUE_DATE_COLUMNS = ("DateEcheance", "EcheanceDate", "DateEch")
DUE_DATE = "DateEcheance"
SEPARATORS = ("\t", "|", ";")
TEXT = pd.ArrowDtype(pa.large_string())


def decode(data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without BOM) when it decodes, else Windows-1252/Latin-1 (older Sage, EBP)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def read_fec(source: bytes | str | Path) -> tuple[pd.DataFrame, FecReport]:
    """The file as a frame of strings (plus `_line`, the 1-based line number) and a first report.

    Lines whose field count differs from the header's are reported and left out; missing
    columns are reported on line 1 and leave an empty frame. Strings are Arrow-backed, so the
    string work below runs in Arrow's C++ kernels, not a Python loop per line.
    """
    data = Path(source).read_bytes() if isinstance(source, Path) else source
    if isinstance(data, str):
        text, encoding = data.lstrip("\ufeff"), "utf-8"
    else:
        text, encoding = decode(data)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    report = FecReport(encoding=encoding)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        report.issues.append(FecIssue(1, "*", "the file is empty"))
        return _empty(), report
    header_line = lines[first]
    separator = next((s for s in SEPARATORS if s in header_line), None)
    if separator is None:
        report.issues.append(FecIssue(first + 1, "*", "no tab or | separator in the header line"))
        return _empty(), report
    report.separator = separator
    names = _column_names(header_line.split(separator))
    missing = [c for c in FEC_COLUMNS if c not in names]
    if missing:
        report.issues.extend(FecIssue(first + 1, c, "missing column") for c in missing)
        return _empty(), report

    body = lines[first + 1:]
    arrow = pa.array(body, pa.large_string())
    numbers = np.arange(first + 2, len(lines) + 1)
    filled = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(arrow)), 0).to_numpy(zero_copy_only=False)
    fields = pc.count_substring(arrow, separator).to_numpy(zero_copy_only=False) + 1
    wrong = filled & (fields != len(names))
    report.issues.extend(FecIssue(int(n), "*", f"expected {len(names)} fields, found {int(k)}")
                         for n, k in zip(numbers[wrong], fields[wrong], strict=True))
    # PostgreSQL refuses NUL in text: such a line is refused here, with its number, not later
    nul = filled & ~wrong & pc.match_substring(arrow, "\x00").to_numpy(zero_copy_only=False)
    report.issues.extend(FecIssue(int(n), "*", "contains a NUL character") for n in numbers[nul])
    keep = filled & ~wrong & ~nul
    report.lines = int(filled.sum())
    del arrow
    if not keep.any():
        return _empty(), report
    payload = "\n".join(itertools.compress(body, keep)).encode("utf-8")
    table = pacsv.read_csv(
        io.BytesIO(payload),
        read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(delimiter=separator, quote_char=False),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.large_string() for n in names},
                                             strings_can_be_null=False))
    wanted = [*FEC_COLUMNS, *([DUE_DATE] if DUE_DATE in names else [])]
    frame = pd.DataFrame({c: pd.Series(pc.utf8_trim_whitespace(table[c]), dtype=TEXT) for c in wanted})
    frame["_line"] = numbers[keep]
    return frame, report



def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=TEXT) for c in FEC_COLUMNS} | {"_line": pd.Series([], dtype=int)})


def _column_names(header: list[str]) -> list[str]:
    canonical = {c.lower(): c for c in FEC_COLUMNS}
    canonical |= {c.lower(): DUE_DATE for c in DUE_DATE_COLUMNS}
    names: list[str] = []
    for index, raw in enumerate(header):
        name = canonical.get(raw.strip().lstrip("\ufeff").lower(), raw.strip()) or f"_extra{index}"
        names.append(name if name not in names else f"{name}_{index}")
    return names

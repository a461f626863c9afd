"""The French FEC (Fichier des Écritures Comptables): read, check, import, export.

One module per concern: `reading` (bytes → lines), `validation` (amounts, dates, balanced
entries), `classify` (which record each customer line is, its id), `opening` (lines naming
records already in the ledger), `terms` and `due_dates`, `credit_notes` (the invoice a credit
note reduces), `lettering` (groups → allocation links), `records` (validated ledger records),
`report`, `importer` (the whole import), `export` (the ledger as a FEC). docs/fec.md has the rules.
"""
from ledger.fec.export import export_fec
from ledger.fec.importer import FecOptions, import_fec, parse_fec
from ledger.fec.reading import DUE_DATE, FEC_COLUMNS, read_fec
from ledger.fec.report import FecIssue, FecReport, FecValidationError, UnbalancedGroup, Unplaced, issues_table
from ledger.fec.terms import Terms, TermsError, parse_terms

__all__ = ["DUE_DATE", "FEC_COLUMNS", "FecIssue", "FecOptions", "FecReport", "FecValidationError", "Terms",
           "TermsError", "UnbalancedGroup", "Unplaced", "export_fec", "import_fec", "issues_table",
           "parse_fec", "parse_terms", "read_fec"]

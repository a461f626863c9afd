"""The statement of account as a PDF (fpdf2, A4) or a CSV export, in French or English."""
from __future__ import annotations

from fpdf import FPDF

from ledger.config import get_settings
from ledger.statement import Statement
from serving.exports import Dialect, to_csv
from serving.money import date, money

PDF_ENCODING = "windows-1252"  # core fonts in cp1252 carry € and French accents, no TTF needed

WORDS: dict[str, dict[str, str]] = {
    "title": {"fr": "Relevé de compte", "en": "Statement of account"},
    "customer": {"fr": "Client", "en": "Customer"},
    "as_of": {"fr": "Arrêté au", "en": "As of"},
    "period": {"fr": "Période du {start} au {end}", "en": "Period from {start} to {end}"},
    "currency": {"fr": "Devise", "en": "Currency"},
    "date": {"fr": "Date", "en": "Date"},
    "kind": {"fr": "Opération", "en": "Entry"},
    "reference": {"fr": "Référence", "en": "Reference"},
    "due_date": {"fr": "Échéance", "en": "Due"},
    "debit": {"fr": "Débit", "en": "Debit"},
    "credit": {"fr": "Crédit", "en": "Credit"},
    "balance": {"fr": "Solde", "en": "Balance"},
    "opening": {"fr": "Solde d'ouverture", "en": "Opening balance"},
    "closing": {"fr": "Solde dû au {day}", "en": "Balance due on {day}"},
    "open_items": {"fr": "Factures ouvertes", "en": "Open invoices"},
    "amount": {"fr": "Montant", "en": "Amount"},
    "open_amount": {"fr": "Reste dû", "en": "Open"},
    "days_past_due": {"fr": "Jours de retard", "en": "Days past due"},
    "overdue": {"fr": "Dont échu", "en": "Of which overdue"},
    "invoice": {"fr": "Facture", "en": "Invoice"},
    "credit_note": {"fr": "Avoir", "en": "Credit note"},
    "payment": {"fr": "Règlement", "en": "Payment"},
    "nothing": {"fr": "Aucune opération sur la période.", "en": "No entry in the period."},
    "footer": {"fr": "Solde = factures − avoirs − règlements. Merci de nous signaler toute différence.",
               "en": "Balance = invoices − credit notes − payments. Please tell us of any difference."},
}


def _w(key: str, language: str) -> str:
    return WORDS[key]["en" if language == "en" else "fr"]


def statement_csv(statement: Statement, language: str, dialect: Dialect) -> str:
    """One row per entry (running balance per currency), then the open invoices."""
    header = ["currency", "section", "date", "kind", "reference", "due_date", "debit", "credit",
              "balance", "open_amount", "days_past_due"]
    rows: list[list] = []
    for s in statement.sections:
        rows.append([s.currency, "opening", statement.start, "", "", "", "", "", s.opening_balance, "", ""])
        for line in s.lines:
            rows.append([s.currency, "entry", line.on, _w(line.kind, language), line.reference, line.due_date,
                         line.debit or None, line.credit or None, line.balance, "", ""])
        rows.append([s.currency, "closing", statement.as_of, "", "", "", "", "", s.closing_balance, "", ""])
        for item in s.open_items:
            rows.append([s.currency, "open_item", item.issue_date, _w("invoice", language), item.invoice_id,
                         item.due_date, item.amount, "", "", item.open_amount, item.days_past_due])
    return to_csv(header, rows, dialect)


def _pdf_safe(text: str) -> str:
    text = text.replace("\u202f", " ").replace("\xa0", " ").replace("\u2212", "-")
    return text.encode(PDF_ENCODING, errors="replace").decode(PDF_ENCODING)


def statement_pdf(statement: Statement, language: str) -> bytes:
    """A4 statement: header, one table of entries per currency, the open invoices, the balance."""
    lang = "en" if language == "en" else "fr"
    pdf = FPDF(format="A4")
    pdf.core_fonts_encoding = PDF_ENCODING
    pdf.set_title(_pdf_safe(f"{_w('title', lang)} {statement.customer_id}"))
    pdf.set_creator("Relance")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(left=15, top=15, right=15)
    pdf.add_page()

    def text(value: str, size: float = 9, style: str = "", height: float = 5) -> None:
        pdf.set_font("helvetica", style=style, size=size)
        pdf.multi_cell(0, height, _pdf_safe(value), new_x="LMARGIN", new_y="NEXT")

    def row(cells: list[str], widths: list[float], style: str = "", aligns: str | None = None) -> None:
        pdf.set_font("helvetica", style=style, size=8)
        for k, (cell, width) in enumerate(zip(cells, widths, strict=True)):
            align = (aligns or "L" * len(cells))[k]
            pdf.cell(width, 5, _pdf_safe(cell), border="B" if style else 0, align=align)
        pdf.ln(5)

    text(get_settings().company_name, size=10, style="B")
    text(_w("title", lang), size=15, style="B", height=9)
    text(f"{_w('customer', lang)} : {statement.name or ''} ({statement.customer_id})" if lang == "fr"
         else f"{_w('customer', lang)}: {statement.name or ''} ({statement.customer_id})")
    if statement.start is None:
        text(f"{_w('as_of', lang)} {date(statement.as_of, lang)}")
    else:
        text(_w("period", lang).format(start=date(statement.start, lang), end=date(statement.as_of, lang)))
    widths = [22, 24, 40, 22, 24, 24, 24]
    for s in statement.sections:
        m = lambda v, c=s.currency: money(v, c, lang, plain=True)  # noqa: E731
        pdf.ln(3)
        text(f"{_w('currency', lang)} : {s.currency}" if lang == "fr" else f"{_w('currency', lang)}: {s.currency}",
             size=11, style="B", height=7)
        row([_w(k, lang) for k in ("date", "kind", "reference", "due_date", "debit", "credit", "balance")],
            widths, style="B", aligns="LLLLRRR")
        if statement.start is not None:
            row(["", _w("opening", lang), "", "", "", "", m(s.opening_balance)], widths, aligns="LLLLRRR")
        if not s.lines:
            text(_w("nothing", lang))
        for line in s.lines:
            row([date(line.on, lang), _w(line.kind, lang), line.reference[:28],
                 date(line.due_date, lang) if line.due_date else "", m(line.debit) if line.debit else "",
                 m(line.credit) if line.credit else "", m(line.balance)], widths, aligns="LLLLRRR")
        pdf.ln(1)
        text(_w("closing", lang).format(day=date(statement.as_of, lang)) + f" : {m(s.closing_balance)}"
             if lang == "fr" else _w("closing", lang).format(day=date(statement.as_of, lang)) + f": {m(s.closing_balance)}",
             size=10, style="B")
        if s.open_items:
            pdf.ln(2)
            text(_w("open_items", lang), size=10, style="B", height=6)
            item_widths = [40, 26, 26, 30, 30, 28]
            row([_w(k, lang) for k in ("reference", "date", "due_date", "amount", "open_amount", "days_past_due")],
                item_widths, style="B", aligns="LLLRRR")
            for item in s.open_items:
                row([item.invoice_id[:28], date(item.issue_date, lang), date(item.due_date, lang), m(item.amount),
                     m(item.open_amount), str(max(item.days_past_due, 0))], item_widths, aligns="LLLRRR")
            text(f"{_w('overdue', lang)} : {m(s.overdue)}" if lang == "fr" else f"{_w('overdue', lang)}: {m(s.overdue)}")
    pdf.ln(4)
    text(_w("footer", lang), size=8)
    return bytes(pdf.output())

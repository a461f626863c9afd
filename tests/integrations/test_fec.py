"""FEC import: real files (both separators, decimal marks, encodings), bad input, round trip."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from features.synth import generate
from ledger.fec import FecValidationError, export_fec, import_fec, parse_fec
from ledger.importers import import_ledger_dir
from ledger.frames import write_ledger_dir
from ledger.models import Customer, Invoice, Payment
from tests.integrations.conftest import HEADER, fec, snapshot

D = dt.date
BOOKS = (
    # invoice F001 (TTC 1 200,00 = 1 000 HT + 200 TVA), paid on 10/02, lettered A
    "VT|Ventes|1|20240105|411000|Clients|C1|Société Alpha|F001|20240105|Facture F001|1200,00|0,00|A|20240210|20240105||",
    "VT|Ventes|1|20240105|706000|Ventes|||F001|20240105|Facture F001|0,00|1000,00|||20240105||",
    "VT|Ventes|1|20240105|445710|TVA collectée|||F001|20240105|Facture F001|0,00|200,00|||20240105||",
    "BQ|Banque|7|20240210|512000|Banque|||REL0210|20240210|Virement Alpha|1200,00|0,00|||20240210||",
    "BQ|Banque|7|20240210|411000|Clients|C1|Société Alpha|REL0210|20240210|Virement Alpha|0,00|1200,00|A|20240210|20240210||",
    # invoice F002 and a credit note AV01 in the sales journal for C2
    "VT|Ventes|2|20240110|411000|Clients|C2|Beta SARL|F002|20240110|Facture F002|500,00|0,00|||20240110||",
    "VT|Ventes|2|20240110|706000|Ventes|||F002|20240110|Facture F002|0,00|500,00|||20240110||",
    "VT|Ventes|3|20240115|411000|Clients|C2|Beta SARL|AV01|20240115|Avoir AV01|0,00|100,00|||20240115||",
    "VT|Ventes|3|20240115|709000|RRR accordés|||AV01|20240115|Avoir AV01|100,00|0,00|||20240115||",
    # a payment booked in OD against the bank account: a payment all the same, not lettered
    "OD|Opérations diverses|4|20240301|512000|Banque|||OD4|20240301|Chèque Beta|400,00|0,00|||20240301||",
    "OD|Opérations diverses|4|20240301|411000|Clients|C2|Beta SARL|OD4|20240301|Chèque Beta|0,00|400,00|||20240301||",
    # purchases and opening balances: not customers' business
    "HA|Achats|5|20240112|607000|Achats|||FA9|20240112|Fournisseur|300,00|0,00|||20240112||",
    "HA|Achats|5|20240112|401000|Fournisseurs|F9|Fourn|FA9|20240112|Fournisseur|0,00|300,00|||20240112||",
    "AN|A nouveaux|1|20240101|411000|Clients|C1|Société Alpha|AN|20240101|Solde|999,00|0,00|||20240101||",
    "AN|A nouveaux|1|20240101|890000|Bilan|||AN|20240101|Solde|0,00|999,00|||20240101||",
)


def run(engine, source, **options):
    with Session(engine) as session:
        report = import_fec(session=session, source=source, actor="test", **options)
        session.commit()
    return report


def test_customer_lines_become_customers_invoices_credit_notes_and_payments(db):
    report = run(db, fec(*BOOKS), terms_days=30)
    state = snapshot(db)
    assert state["customers"] == {"C1": "Société Alpha", "C2": "Beta SARL"}
    assert state["invoices"]["F001"][:5] == ("C1", D(2024, 1, 5), D(2024, 2, 4), Decimal("1200.00"), "invoice")
    assert state["invoices"]["AV01"][4] == "credit_note"
    # the lettered payment names its invoice, and the ledger settles it on the lettering date
    assert state["payments"]["REL0210"] == ("C1", D(2024, 2, 10), Decimal("1200.00"), "F001")
    assert state["invoices"]["F001"][5] == D(2024, 2, 10)
    # the OD payment is unlettered: allocated oldest first, F002 is settled by credit note + cheque
    assert state["payments"]["OD4"] == ("C2", D(2024, 3, 1), Decimal("400.00"), None)
    assert state["invoices"]["F002"][5:7] == (D(2024, 3, 1), Decimal("0.00"))
    assert "AN" not in state["invoices"] and report.opening_lines == 2
    assert (report.customers, report.invoices, report.credit_notes, report.payments) == (2, 2, 1, 2)


def test_due_dates_come_from_stored_terms_then_the_default(db):
    with Session(db) as session:
        session.add(Customer(customer_id="C2", name="Beta SARL", payment_terms_days=60))
        session.commit()
    run(db, fec(*BOOKS), terms_days=45)
    state = snapshot(db)
    assert state["invoices"]["F001"][2] == D(2024, 1, 5) + dt.timedelta(days=45)
    assert state["invoices"]["F002"][2] == D(2024, 1, 10) + dt.timedelta(days=60)
    with Session(db) as session:
        assert session.get(Customer, "C1").payment_terms_days == 45
        assert session.get(Customer, "C2").payment_terms_days == 60


def test_an_explicit_due_date_column_wins(db):
    lines = [line + "|20240315" if line.startswith("VT|Ventes|1|") else line + "|" for line in BOOKS]
    run(db, fec(*lines, header=HEADER + "|DateEcheance"))
    assert snapshot(db)["invoices"]["F001"][2] == D(2024, 3, 15)


@pytest.mark.parametrize("separator,decimal,encoding", [
    ("\t", ",", "latin-1"), ("|", ".", "utf-8"), ("\t", ".", "utf-8-sig"), ("|", ",", "cp1252")])
def test_separators_decimal_marks_and_encodings(db, separator, decimal, encoding):
    lines = [line.replace(",", ".") if decimal == "." else line for line in BOOKS]
    data = fec(*lines, separator=separator).encode(encoding)
    report = run(db, data)
    assert report.separator == separator
    state = snapshot(db)
    assert state["customers"]["C1"] == "Société Alpha"
    assert state["invoices"]["F001"][3] == Decimal("1200.00")


def test_reimporting_the_same_or_a_later_file_is_idempotent(db):
    run(db, fec(*BOOKS[:5]))
    first = snapshot(db)
    again = run(db, fec(*BOOKS[:5]))
    assert again.result.invoices == {"created": 0, "updated": 0, "unchanged": 1}
    later = run(db, fec(*BOOKS))
    assert later.result.invoices["created"] == 2 and later.result.invoices["unchanged"] == 1
    state = snapshot(db)
    assert {k: state["invoices"][k] for k in first["invoices"]} == first["invoices"]
    assert len(state["payments"]) == 2


def test_reversal_in_an_od_journal_is_a_credit_note(db):
    run(db, fec(
        "VT|Ventes|1|20240105|411000|Clients|C1|Alpha|F010|20240105|Facture|100,00|0|R|20240106|20240105||",
        "VT|Ventes|1|20240105|706000|Ventes|||F010|20240105|Facture|0|100,00|||20240105||",
        "OD|OD|2|20240106|411000|Clients|C1|Alpha|EXT010|20240106|Extourne F010|0|100,00|R|20240106|20240106||",
        "OD|OD|2|20240106|706000|Ventes|||EXT010|20240106|Extourne F010|100,00|0|||20240106||"))
    state = snapshot(db)
    assert state["invoices"]["EXT010"][4] == "credit_note"
    assert state["invoices"]["F010"][5:7] == (D(2024, 1, 6), Decimal("0.00"))
    if hasattr(Invoice, "applies_to"):  # the reversal is applied to the invoice it is lettered with
        assert state["invoices"]["EXT010"][7] == "F010"
    assert state["payments"] == {}


def test_repeated_piece_refs_get_stable_unique_ids(db):
    lines = []
    for number, customer in ((1, "C1"), (2, "C2")):
        lines += [f"BQ|Banque|{number}|20240110|512000|Banque|||RELEVE01|20240110|Virement|10,00|0|||20240110||",
                  f"BQ|Banque|{number}|20240110|411000|Clients|{customer}|{customer}|RELEVE01|20240110|Virement|0|10,00|||20240110||"]
    run(db, fec(*lines))
    assert set(snapshot(db)["payments"]) == {"BQ-1", "BQ-2"}
    run(db, fec(*lines))
    assert len(snapshot(db)["payments"]) == 2


def test_a_reversal_keeping_the_invoice_piece_ref_does_not_rename_the_invoice(db):
    invoice = ("VT|Ventes|1|20240105|411000|Clients|C1|Alpha|F020|20240105|Facture|100,00|0|||20240105||",
               "VT|Ventes|1|20240105|706000|Ventes|||F020|20240105|Facture|0|100,00|||20240105||")
    run(db, fec(*invoice))
    run(db, fec(*invoice,
                "OD|OD|2|20240106|411000|Clients|C1|Alpha|F020|20240106|Extourne|0|100,00|||20240106||",
                "OD|OD|2|20240106|706000|Ventes|||F020|20240106|Extourne|100,00|0|||20240106||"))
    invoices = snapshot(db)["invoices"]
    assert set(invoices) == {"F020", "OD-2"} and invoices["OD-2"][4] == "credit_note"


def _count(engine, table) -> int:
    with Session(engine) as session:
        return len(session.exec(select(table)).all())


def test_bad_lines_are_all_reported_and_nothing_is_imported(db):
    bad = list(BOOKS)
    bad[1] = bad[1].replace("0,00|1000,00", "0,00|1000,0x")          # unparsable amount (line 3)
    bad[5] = bad[5].replace("|20240110|Facture", "|20241310|Facture")  # unparsable date (line 7)
    bad[9] = bad[9].replace("400,00|0,00", "450,00|0,00")             # entry OD 4 unbalanced (lines 11, 12)
    bad.append("VT|Ventes|9|20240105|411000|Clients")                 # too few fields (line 17)
    with pytest.raises(FecValidationError) as caught:
        run(db, fec(*bad))
    issues = {(i.line, i.column) for i in caught.value.report.issues}
    assert {(3, "Credit"), (7, "PieceDate"), (11, "Debit/Credit"), (12, "Debit/Credit"), (17, "*")} <= issues
    assert len(issues) == 5
    assert "1000,0x" in next(i.message for i in caught.value.report.issues if i.line == 3)
    assert _count(db, Customer) == _count(db, Invoice) == _count(db, Payment) == 0


def test_skip_invalid_imports_whole_valid_entries_only(db):
    bad = list(BOOKS)
    bad[1] = bad[1].replace("0,00|1000,00", "0,00|abc")  # entry VT 1 (invoice F001) is bad
    report = run(db, fec(*bad), skip_invalid=True)
    state = snapshot(db)
    assert "F001" not in state["invoices"] and "F002" in state["invoices"]
    # the payment of F001 is a valid entry of its own: kept, but lettered to nothing here
    assert state["payments"]["REL0210"][3] is None
    assert report.invalid_entries == 1 and report.skipped_lines == 3


def test_missing_columns_are_reported_even_with_skip_invalid(db):
    header = HEADER.replace("|EcritureLet|DateLet", "")
    with pytest.raises(FecValidationError) as caught:
        run(db, fec("VT|Ventes|1|20240105|411000|Clients|C1|A|F1|20240105|F|1|0|20240105||",
                    header=header), skip_invalid=True)
    assert {(i.line, i.column) for i in caught.value.report.issues} == {(1, "EcritureLet"), (1, "DateLet")}


def test_parse_accepts_thousands_separators_and_signs():
    lines, report = parse_fec(fec(
        "VT|Ventes|1|20240105|411000|Clients|C1|A|F1|20240105|F|1.234,56|0|||20240105||",
        "VT|Ventes|1|20240105|706000|Ventes|||F1|20240105|F|-0,00|1 234,56|||20240105||"))
    assert report.valid and lines["cents"].tolist() == [123456]


def test_round_trip_of_a_synthetic_ledger(db, tmp_path, wipe):
    """import(export(L)) = L for customers, invoices, payments and settled dates."""
    write_ledger_dir(generate(customers=20, months=6, seed=1), tmp_path / "ledger")
    with Session(db) as session:
        import_ledger_dir(session=session, directory=tmp_path / "ledger", actor="test")
        session.commit()
    before = snapshot(db)
    with Session(db) as session:
        text = export_fec(session)
    wipe(db)
    report = run(db, text)
    after = snapshot(db)
    assert report.valid and len(before["invoices"]) > 100
    assert after["customers"] == {k: v for k, v in before["customers"].items()
                                  if k in {i[0] for i in before["invoices"].values()}}
    assert after["invoices"] == before["invoices"]
    assert after["payments"] == before["payments"]
    # simple cases: one payment naming the invoice, for its whole amount → settled on DateLet
    lines, _ = parse_fec(text)
    simple = lines[(lines["kind"] == "payment") & (lines["letter"] != "")]
    checked = 0
    for payment in simple.itertuples():
        invoice_id = before["payments"][payment.id][3]
        invoice = before["invoices"][invoice_id]
        if invoice[3] == before["payments"][payment.id][2] and invoice[5] is not None:
            assert invoice[5] == payment.lettered_on.date()
            checked += 1
    assert checked > 20

"""FEC import on hand-built files: every figure below is worked out by hand in the comments.

Opening balances, lettering n ↔ m (partial, lowercase), credit notes, each due-date source,
encodings and separators, idempotent re-import and the next fiscal year, exact amounts, and the
rule that after an import each customer's open balance is the 411 auxiliary balance of the file.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session

from ledger.fec import FecOptions, FecValidationError, import_fec, parse_fec
from ledger.tables import Customer, Invoice, Payment
from tests.integrations.conftest import HEADER, auxiliary_balances, fec, open_balances, snapshot

D = dt.date
E = Decimal


def sale(number, date, customer, piece, amount, letter="", *, journal="VT", label=None, piece_date=None):
    """An invoice entry: 411 debit, 706 credit."""
    on = piece_date or date
    label = label or f"Facture {piece}"
    return [f"{journal}|Ventes|{number}|{date}|411000|Clients|{customer}|Client {customer}|{piece}|{on}|{label}|{amount}|0,00|{letter}||{date}||",
            f"{journal}|Ventes|{number}|{date}|706000|Ventes|||{piece}|{on}|{label}|0,00|{amount}|||{date}||"]


def receipt(number, date, customer, piece, amount, letter="", *, journal="BQ"):
    """A receipt: 512 debit, 411 credit."""
    return [f"{journal}|Banque|{number}|{date}|512000|Banque|||{piece}|{date}|Virement|{amount}|0,00|||{date}||",
            f"{journal}|Banque|{number}|{date}|411000|Clients|{customer}|Client {customer}|{piece}|{date}|Virement|0,00|{amount}|{letter}||{date}||"]


def credit_note(number, date, customer, piece, amount, letter="", *, journal="VT", label=None):
    """A credit note: 411 credit, 709 debit (a sales or OD journal, no bank account)."""
    label = label or f"Avoir {piece}"
    return [f"{journal}|Ventes|{number}|{date}|411000|Clients|{customer}|Client {customer}|{piece}|{date}|{label}|0,00|{amount}|{letter}||{date}||",
            f"{journal}|Ventes|{number}|{date}|709000|RRR|||{piece}|{date}|{label}|{amount}|0,00|||{date}||"]


def opening(number, customer, piece, piece_date, debit="0,00", credit="0,00", letter="", *, day="20250101"):
    """An opening-balance ("à-nouveau") line on a customer account, balanced against 890."""
    return [f"AN|A nouveaux|{number}|{day}|411000|Clients|{customer}|Client {customer}|{piece}|{piece_date}|Report|{debit}|{credit}|{letter}||{day}||",
            f"AN|A nouveaux|{number}|{day}|890000|Bilan|||{piece}|{piece_date}|Report|{credit}|{debit}|||{day}||"]


BOOKS = (
    # C1: invoice F001 1 200,00 paid on 10/02, lettered A; VAT split as packages write it
    "VT|Ventes|1|20240105|411000|Clients|C1|Société Alpha|F001|20240105|Facture F001|1200,00|0,00|A|20240210|20240105||",
    "VT|Ventes|1|20240105|706000|Ventes|||F001|20240105|Facture F001|0,00|1000,00|||20240105||",
    "VT|Ventes|1|20240105|445710|TVA collectée|||F001|20240105|Facture F001|0,00|200,00|||20240105||",
    "BQ|Banque|7|20240210|512000|Banque|||REL0210|20240210|Virement Alpha|1200,00|0,00|||20240210||",
    "BQ|Banque|7|20240210|411000|Clients|C1|Société Alpha|REL0210|20240210|Virement Alpha|0,00|1200,00|A|20240210|20240210||",
    # C2: invoice F002 500,00 and a credit note AV01 of 100,00 citing it in its label
    "VT|Ventes|2|20240110|411000|Clients|C2|Beta SARL|F002|20240110|Facture F002|500,00|0,00|||20240110||",
    "VT|Ventes|2|20240110|706000|Ventes|||F002|20240110|Facture F002|0,00|500,00|||20240110||",
    "VT|Ventes|3|20240115|411000|Clients|C2|Beta SARL|AV01|20240115|Avoir sur F002|0,00|100,00|||20240115||",
    "VT|Ventes|3|20240115|709000|RRR accordés|||AV01|20240115|Avoir sur F002|100,00|0,00|||20240115||",
    # C2: a cheque booked in OD against the bank account, unlettered: a payment, kept as credit
    "OD|Opérations diverses|4|20240301|512000|Banque|||OD4|20240301|Chèque Beta|400,00|0,00|||20240301||",
    "OD|Opérations diverses|4|20240301|411000|Clients|C2|Beta SARL|OD4|20240301|Chèque Beta|0,00|400,00|||20240301||",
    # purchases: not customers' business
    "HA|Achats|5|20240112|607000|Achats|||FA9|20240112|Fournisseur|300,00|0,00|||20240112||",
    "HA|Achats|5|20240112|401000|Fournisseurs|F9|Fourn|FA9|20240112|Fournisseur|0,00|300,00|||20240112||",
    # opening balance of C1: invoice F2023-9 of 15/12/2023 still open on 1 January
    "AN|A nouveaux|1|20240101|411000|Clients|C1|Société Alpha|F2023-9|20231215|Solde F2023-9|999,00|0,00|||20240101||",
    "AN|A nouveaux|1|20240101|890000|Bilan|||F2023-9|20231215|Solde|0,00|999,00|||20240101||",
)


def run(engine, source, **options):
    with Session(engine) as session:
        report = import_fec(session=session, source=source, actor="test", today=dt.date.today(), **options)
        session.commit()
    return report


def assert_books_balance(engine, text):
    """After the import, each customer owes exactly its 411 auxiliary balance, to the cent."""
    books = {k: v for k, v in auxiliary_balances(text).items()}
    ledger = open_balances(engine)
    assert {k: ledger.get(k, E("0.00")) for k in books} == books


def test_customer_lines_become_customers_invoices_credit_notes_and_payments(db):
    report = run(db, fec(*BOOKS), terms_days=30)
    state = snapshot(db)
    assert state["customers"] == {"C1": "Société Alpha", "C2": "Beta SARL"}
    assert state["invoices"]["F001"][:5] == ("C1", D(2024, 1, 5), D(2024, 2, 4), E("1200.00"), "invoice")
    # the lettered payment names its invoice and settles it on its date
    assert state["payments"]["REL0210"] == ("C1", D(2024, 2, 10), E("1200.00"), "F001")
    assert state["invoices"]["F001"][5:7] == (D(2024, 2, 10), E("0.00"))
    # the opening line is an open item, keeping its PieceRef and PieceDate (due 15/12 + 30 days)
    assert state["invoices"]["F2023-9"][:7] == ("C1", D(2023, 12, 15), D(2024, 1, 14), E("999.00"), "invoice",
                                                None, E("999.00"))
    # AV01 cites F002 in its label: applied to it, 500 − 100 = 400 left open
    assert state["invoices"]["AV01"][4] == "credit_note" and state["invoices"]["AV01"][7] == "F002"
    assert state["invoices"]["F002"][5:7] == (None, E("400.00"))
    # the unlettered cheque stays customer credit: 400,00, reported as not placed
    assert state["payments"]["OD4"] == ("C2", D(2024, 3, 1), E("400.00"), None)
    assert state["unallocated"]["OD4"] == E("400.00") and state["credit"]["C2"] == E("400.00")
    assert [(u.record_id, u.amount, u.reason) for u in report.unplaced] == [("OD4", E("400.00"), "unallocated_credit")]
    assert (report.customers, report.invoices, report.credit_notes, report.payments) == (2, 3, 1, 2)
    assert report.opening_lines == 1 and report.opening_items == 1
    # C1 owes 999 (F2023-9), C2 owes 400 − 400 = 0: the books' 411 balances
    assert open_balances(db) == {"C1": E("999.00"), "C2": E("0.00")}
    assert_books_balance(db, fec(*BOOKS))


def test_a_setting_applies_unlettered_receipts_oldest_first(db):
    run(db, fec(*BOOKS), options=FecOptions(unlettered="oldest_first"))
    state = snapshot(db)
    # OD4 (400) pays the rest of F002 (500 − 100) on 01/03
    assert state["invoices"]["F002"][5:7] == (D(2024, 3, 1), E("0.00"))
    assert state["unallocated"]["OD4"] == E("0.00") and state["credit"]["C2"] == E("0.00")
    assert_books_balance(db, fec(*BOOKS))


def test_a_receipt_lettered_with_two_invoices_pays_those_not_the_oldest(db):
    """The issue's case: oldest-first would pay F10; the books say F11 and F12 were paid."""
    lines = [*sale(1, "20240110", "C3", "F10", "1000,00"), *sale(2, "20240120", "C3", "F11", "600,00", "L"),
             *sale(3, "20240201", "C3", "F12", "400,00", "L"), *receipt(1, "20240301", "C3", "R1", "1000,00", "L")]
    report = run(db, fec(*lines), terms_days=30)
    state = snapshot(db)
    # F10 is 1 000,00 overdue since 09/02 (10/01 + 30 days); F11 and F12 settled on 01/03
    assert state["invoices"]["F10"][2] == D(2024, 2, 9) and state["invoices"]["F10"][5:7] == (None, E("1000.00"))
    assert state["invoices"]["F11"][5:7] == (D(2024, 3, 1), E("0.00"))
    assert state["invoices"]["F12"][5:7] == (D(2024, 3, 1), E("0.00"))
    assert state["allocations"] == {("F11", "payment", "R1"): (E("600.00"), D(2024, 3, 1)),
                                    ("F12", "payment", "R1"): (E("400.00"), D(2024, 3, 1))}
    assert state["credit"]["C3"] == E("0.00") and report.unbalanced_groups == []
    # R1 names two invoices: no single invoice_id, the links carry it
    assert state["payments"]["R1"][3] is None
    assert_books_balance(db, fec(*lines))


def test_lettering_n_invoices_to_m_receipts_survives_a_later_ingest(db):
    # G1 300 + G2 200 = S1 100 + S2 400: S1 → G1 100, S2 → G1 200 and G2 200 (in due order)
    lines = [*sale(1, "20240105", "C4", "G1", "300,00", "M"), *sale(2, "20240106", "C4", "G2", "200,00", "M"),
             *receipt(1, "20240201", "C4", "S1", "100,00", "M"), *receipt(2, "20240215", "C4", "S2", "400,00", "M"),
             *sale(3, "20240101", "C4", "G0", "50,00")]
    run(db, fec(*lines))
    expected = {("G1", "payment", "S1"): (E("100.00"), D(2024, 2, 1)),
                ("G1", "payment", "S2"): (E("200.00"), D(2024, 2, 15)),
                ("G2", "payment", "S2"): (E("200.00"), D(2024, 2, 15))}
    assert snapshot(db)["allocations"] == expected
    # a later JSON ingestion replays C4's allocation: the lettering still wins over oldest-first
    # (G0, the oldest, stays open); the new unlettered payment pays G0 oldest first
    from ledger.effects import ingest_and_apply
    from ledger.schemas import IngestBatch

    with Session(db) as session:
        ingest_and_apply(today=dt.date.today(), session=session, actor="test", batch=IngestBatch.model_validate(
            {"payments": [{"payment_id": "API1", "customer_id": "C4", "paid_on": "2024-03-01", "amount": "50"}]}))
        session.commit()
    state = snapshot(db)
    assert {k: v for k, v in state["allocations"].items() if k[2] != "API1"} == expected
    assert state["allocations"][("G0", "payment", "API1")] == (E("50.00"), D(2024, 3, 1))
    assert state["invoices"]["G2"][5] == D(2024, 2, 15)


def test_partial_and_lowercase_lettering_applied_as_far_as_it_goes_and_reported(db):
    lines = [
        # "a": H1 1 000,00 lettered with P1 600,00 only → 400,00 left open (a partial code)
        *sale(1, "20240105", "C5", "H1", "1000,00", "a"), *receipt(1, "20240201", "C5", "P1", "600,00", "a"),
        # H2 200,00 unlettered: P1 goes nowhere near it
        *sale(2, "20240110", "C5", "H2", "200,00"),
        # "Z": H3 200,00 with P2 300,00 → H3 settled, 100,00 of P2 left as customer credit
        *sale(3, "20240115", "C5", "H3", "200,00", "Z"), *receipt(2, "20240301", "C5", "P2", "300,00", "Z")]
    report = run(db, fec(*lines))
    state = snapshot(db)
    assert state["invoices"]["H1"][6] == E("400.00") and state["invoices"]["H2"][6] == E("200.00")
    assert state["invoices"]["H3"][5:7] == (D(2024, 3, 1), E("0.00"))
    assert state["unallocated"] == {"P1": E("0.00"), "P2": E("100.00")}
    groups = {(g.letter, g.debits, g.credits, g.partial, g.lines) for g in report.unbalanced_groups}
    # lines: H1 411 on line 2, P1 411 on line 5 (its 512 line comes first), H3 on 8, P2 on 11
    assert groups == {("a", E("1000.00"), E("600.00"), True, (2, 5)),
                      ("Z", E("200.00"), E("300.00"), False, (8, 11))}
    assert [(u.record_id, u.amount) for u in report.unplaced] == [("P2", E("100.00"))]
    # 400 + 200 − 100 = 500 owed, as the 411 account says (1000 + 200 + 200 − 600 − 300)
    assert open_balances(db) == {"C5": E("500.00")}
    assert_books_balance(db, fec(*lines))


def test_credit_notes_lettered_or_citing_their_invoice(db):
    lines = [
        # AVK lettered C with K1: applied to K1, which is settled on the credit note's date
        *sale(1, "20240105", "C6", "K1", "500,00", "C"), *credit_note(2, "20240120", "C6", "AVK", "500,00", "C"),
        # a reversal in OD keeping K2's PieceRef: a credit note with the entry's id, applied to K2
        *sale(3, "20240106", "C6", "K2", "300,00"),
        *credit_note(1, "20240125", "C6", "K2", "120,00", journal="OD", label="Extourne partielle"),
        # an avoir citing nothing known: customer credit, reported
        *credit_note(4, "20240126", "C6", "AVX", "30,00", label="Geste commercial")]
    report = run(db, fec(*lines))
    state = snapshot(db)
    assert state["invoices"]["AVK"][4:] == ("credit_note", None, E("0.00"), "K1")
    assert state["invoices"]["K1"][5:7] == (D(2024, 1, 20), E("0.00"))
    assert state["invoices"]["OD-20240125-1"][4:] == ("credit_note", None, E("0.00"), "K2")
    assert state["invoices"]["K2"][5:7] == (None, E("180.00"))
    assert state["invoices"]["AVX"][6] == E("30.00") and state["credit"]["C6"] == E("30.00")
    assert [(u.record_id, u.amount) for u in report.unplaced] == [("AVX", E("30.00"))]
    assert open_balances(db) == {"C6": E("150.00")}  # 180 − 30
    assert_books_balance(db, fec(*lines))


def test_each_due_date_source_is_used_and_counted(db):
    with Session(db) as session:
        session.add(Customer(customer_id="STORED", name="Stored", payment_terms_days=60))
        session.commit()
    header = HEADER + "|DateEcheance"
    lines = [line + "|20240315" if "|411000|" in line else line + "|" for line in sale(1, "20240120", "COL", "D1", "10,00")]
    lines += [line + "|" for line in (*sale(2, "20240120", "FILE", "D2", "10,00"),
                                      *sale(3, "20240120", "STORED", "D3", "10,00"),
                                      *sale(4, "20240120", "DEFAULT", "D4", "10,00"),
                                      *sale(5, "20240131", "DEFAULT", "D5", "10,00"))]
    options = FecOptions(default_terms="45 jours fin de mois", terms={"FILE": "fin de mois 45 jours"})
    report = run(db, fec(*lines, header=header), options=options)
    invoices = snapshot(db)["invoices"]
    assert invoices["D1"][2] == D(2024, 3, 15)      # the file's column
    assert invoices["D2"][2] == D(2024, 3, 16)      # 31/01 (end of month) + 45 days
    assert invoices["D3"][2] == D(2024, 3, 20)      # 20/01 + 60 days (stored terms)
    assert invoices["D4"][2] == D(2024, 3, 31)      # 20/01 + 45 days = 05/03 → end of March
    assert invoices["D5"][2] == D(2024, 3, 31)      # 31/01 + 45 days = 16/03 → end of March
    assert report.due_dates == {"column": 1, "customer_terms": 2, "default": 2}
    with Session(db) as session:  # new customers keep day terms only (end of month has no column)
        assert session.get(Customer, "DEFAULT").payment_terms_days is None
        assert session.get(Customer, "STORED").payment_terms_days == 60


def test_a_due_date_on_receipt_and_unreadable_terms(db):
    run(db, fec(*sale(1, "20240120", "C1", "R1", "10,00")), options=FecOptions(default_terms="à réception"))
    assert snapshot(db)["invoices"]["R1"][2] == D(2024, 1, 20)
    with pytest.raises(Exception) as caught:
        run(db, fec(*sale(1, "20240120", "C1", "R1", "10,00")), options=FecOptions(default_terms="bientôt"))
    assert caught.value.errors[0].field == "default_terms" and "bientôt" in caught.value.errors[0].message


@pytest.mark.parametrize("separator,decimal,encoding", [
    ("\t", ",", "latin-1"), ("|", ".", "utf-8"), ("\t", ".", "utf-8-sig"), ("|", ",", "cp1252")])
def test_separators_decimal_marks_and_encodings(db, separator, decimal, encoding):
    lines = [line.replace(",", ".") if decimal == "." else line for line in BOOKS]
    data = fec(*lines, separator=separator).encode(encoding)
    report = run(db, data)
    assert report.separator == separator
    state = snapshot(db)
    assert state["customers"]["C1"] == "Société Alpha"
    assert state["invoices"]["F001"][3] == E("1200.00")
    assert open_balances(db) == {"C1": E("999.00"), "C2": E("0.00")}


def test_reimporting_the_same_file_changes_nothing(db):
    run(db, fec(*BOOKS))
    first = snapshot(db)
    again = run(db, fec(*BOOKS))
    # the opening item F2023-9 is now a record of the ledger: recognised, not sent again
    assert again.result.invoices == {"created": 0, "updated": 0, "unchanged": 3} and again.opening_items == 1
    assert again.result.payments == {"created": 0, "updated": 0, "unchanged": 2}
    assert again.result.customers_reallocated == 0
    assert snapshot(db) == first


YEAR_2024 = (*sale(1, "20241115", "C7", "F100", "800,00"), *sale(2, "20241201", "C7", "F101", "300,00", "d"),
             *receipt(1, "20241220", "C7", "R100", "100,00", "d"))
YEAR_2025 = (*opening(1, "C7", "F100", "20241115", debit="800,00", letter="E"),
             *opening(2, "C7", "F101", "20241201", debit="300,00", letter="F"),
             *opening(3, "C7", "R100", "20241220", credit="100,00", letter="F"),
             *receipt(1, "20250120", "C7", "R200", "800,00", "E"), *receipt(2, "20250210", "C7", "R201", "200,00", "F"),
             *sale(1, "20250115", "C7", "F102", "50,00"))


def test_next_fiscal_year_on_top_of_the_previous_one_duplicates_nothing(db):
    run(db, fec(*YEAR_2024))
    # end of 2024: F100 800 open, F101 300 − 100 (partial "d") = 200 open → 1 000 owed
    assert open_balances(db) == {"C7": E("1000.00")}
    report = run(db, fec(*YEAR_2025))
    state = snapshot(db)
    assert set(state["invoices"]) == {"F100", "F101", "F102"} and set(state["payments"]) == {"R100", "R200", "R201"}
    assert report.opening_items == 3 and report.result.invoices["created"] == 1
    assert state["invoices"]["F100"][5:7] == (D(2025, 1, 20), E("0.00"))
    # F101: 100 (R100, 2024) + 200 (R201) → settled on 10/02/2025
    assert state["invoices"]["F101"][5:7] == (D(2025, 2, 10), E("0.00"))
    assert state["invoices"]["F102"][6] == E("50.00")
    assert open_balances(db) == {"C7": E("50.00")}
    assert_books_balance(db, fec(*YEAR_2025))
    # the 2025 file alone gives the same balances: its opening lines are open items
    assert run(db, fec(*YEAR_2025)).result.invoices["unchanged"] == 1


def test_the_next_year_alone_makes_open_items_from_its_opening_lines(db):
    run(db, fec(*YEAR_2025))
    state = snapshot(db)
    assert state["invoices"]["F100"][1] == D(2024, 11, 15)  # PieceDate kept
    assert state["payments"]["R100"][1] == D(2024, 12, 20)
    assert open_balances(db) == {"C7": E("50.00")}
    assert_books_balance(db, fec(*YEAR_2025))


def test_a_consolidated_opening_balance_already_in_the_ledger_is_skipped_and_reported(db):
    run(db, fec(*YEAR_2024))
    consolidated = (*opening(1, "C7", "AN2025", "20250101", debit="1000,00"),
                    *receipt(1, "20250120", "C7", "R200", "800,00"))
    report = run(db, fec(*consolidated))
    assert [(u.record_id, u.reason) for u in report.unplaced] == [
        ("AN2025", "opening_already_imported"), ("R200", "unallocated_credit")]
    assert "AN2025" not in snapshot(db)["invoices"]
    assert open_balances(db) == {"C7": E("200.00")}  # 1 000 − 800, as the 2025 books say
    assert_books_balance(db, fec(*consolidated))


def test_entry_numbers_restarting_each_year_do_not_collide(db):
    def bank(date):  # two receipts in one entry with the same statement piece: no usable PieceRef
        return [f"BQ|Banque|1|{date}|512000|Banque|||RELEVE|{date}|Relevé|20,00|0|||{date}||",
                f"BQ|Banque|1|{date}|411000|Clients|C1|C1|RELEVE|{date}|Relevé|0|10,00|||{date}||",
                f"BQ|Banque|1|{date}|411000|Clients|C2|C2|RELEVE|{date}|Relevé|0|10,00|||{date}||"]
    run(db, fec(*bank("20240110")))
    run(db, fec(*bank("20250110")))
    run(db, fec(*bank("20250110")))
    assert set(snapshot(db)["payments"]) == {"BQ-20240110-1-1", "BQ-20240110-1-2",
                                             "BQ-20250110-1-1", "BQ-20250110-1-2"}


def test_a_reversal_keeping_the_invoice_piece_ref_does_not_rename_the_invoice(db):
    invoice = sale(1, "20240105", "C1", "F020", "100,00")
    run(db, fec(*invoice))
    run(db, fec(*invoice, *credit_note(2, "20240106", "C1", "F020", "100,00", journal="OD")))
    invoices = snapshot(db)["invoices"]
    assert set(invoices) == {"F020", "OD-20240106-2"}
    assert invoices["OD-20240106-2"][4:] == ("credit_note", None, E("0.00"), "F020")
    assert invoices["F020"][6] == E("0.00")


def test_amounts_are_exact_decimals_beyond_float_precision(db):
    # 90 071 992 547 409,93 € is 2**53 + 1 cents: a float64 would store …409,92
    big = "90071992547409,93"
    lines, _ = parse_fec(fec(*sale(1, "20240105", "C1", "BIG", big)))
    assert lines["amount"].tolist() == [E("90071992547409.93")]
    run(db, fec(*sale(1, "20240105", "C1", "BIG", big)))
    if db.dialect.name == "postgresql":  # SQLite's NUMERIC affinity keeps a REAL: its own limit
        assert snapshot(db)["invoices"]["BIG"][3] == E("90071992547409.93")


def test_more_than_15_integer_digits_is_refused_naming_line_and_column(db):
    lines = [*sale(1, "20240105", "C1", "X1", "1" * 40), *sale(2, "20240105", "C1", "X2", "1234567890123456,00")]
    with pytest.raises(FecValidationError) as caught:
        run(db, fec(*lines))
    found = {(i.line, i.column) for i in caught.value.report.issues if "15 integer digits" in i.message}
    assert found == {(2, "Debit"), (3, "Credit"), (4, "Debit"), (5, "Credit")}
    assert snapshot(db)["invoices"] == {}


def test_records_are_validated_as_strictly_as_the_api(db):
    long_name = "X" * 250  # /ingest refuses a name over 200 characters: so does the FEC import
    line = f"VT|Ventes|1|20240105|411000|Clients|C1|{long_name}|F1|20240105|F|10,00|0|||20240105||"
    with pytest.raises(FecValidationError) as caught:
        run(db, fec(line, "VT|Ventes|1|20240105|706000|Ventes|||F1|20240105|F|0|10,00|||20240105||"))
    assert [(i.line, i.column) for i in caught.value.report.issues] == [(2, "CompAuxLib")]
    source = "\n".join(p.read_text() for p in Path("ledger/fec").glob("*.py"))
    assert "model_construct" not in source


def test_dates_outside_the_ledger_bounds_are_refused(db):
    with pytest.raises(FecValidationError) as caught:
        run(db, fec(*sale(1, "00010105", "C1", "Y1", "10,00")))
    assert {(i.line, i.column) for i in caught.value.report.issues} == {
        (line, column) for line in (2, 3) for column in ("EcritureDate", "PieceDate", "ValidDate")}
    assert "outside 1900–2199" in caught.value.report.issues[0].message


def test_bad_lines_are_all_reported_and_nothing_is_imported(db):
    bad = list(BOOKS)
    bad[1] = bad[1].replace("0,00|1000,00", "0,00|1000,0x")          # unparsable amount (line 3)
    bad[5] = bad[5].replace("|20240110|Facture", "|20241310|Facture")  # unparsable date (line 7)
    bad[9] = bad[9].replace("400,00|0,00", "450,00|0,00")             # entry OD 4 unbalanced (lines 11, 12)
    bad.append("VT|Ventes|9|20240105|411000|Clients")                 # too few fields (line 17)
    with pytest.raises(FecValidationError) as caught:
        run(db, fec(*bad))
    issues = {(i.line, i.column) for i in caught.value.report.issues}
    assert issues == {(3, "Credit"), (7, "PieceDate"), (11, "Debit/Credit"), (12, "Debit/Credit"), (17, "*")}
    assert "1000,0x" in next(i.message for i in caught.value.report.issues if i.line == 3)
    assert "450,00 ≠ credits 400,00" in next(i.message for i in caught.value.report.issues if i.line == 11)
    with Session(db) as session:
        assert session.query(Customer).count() == session.query(Invoice).count() == session.query(Payment).count() == 0


def test_skip_invalid_imports_whole_valid_entries_only(db):
    bad = list(BOOKS)
    bad[1] = bad[1].replace("0,00|1000,00", "0,00|abc")  # entry VT 1 (invoice F001) is bad
    report = run(db, fec(*bad), skip_invalid=True)
    state = snapshot(db)
    assert "F001" not in state["invoices"] and "F002" in state["invoices"]
    # the payment of F001 is a valid entry of its own: kept as credit, its group reported
    assert state["unallocated"]["REL0210"] == E("1200.00")
    assert [(g.letter, g.debits, g.credits) for g in report.unbalanced_groups] == [("A", E("0"), E("1200.00"))]
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
    assert report.valid and lines["amount"].tolist() == [E("1234.56")]


ALL_CASES = (*BOOKS, *sale(11, "20240110", "C3", "F10", "1000,00"), *sale(12, "20240120", "C3", "F11", "600,00", "L"),
             *sale(13, "20240201", "C3", "F12", "400,00", "L"), *receipt(11, "20240301", "C3", "R1", "1000,00", "L"),
             *sale(14, "20240105", "C4", "G1", "300,00", "M"), *sale(15, "20240106", "C4", "G2", "200,00", "M"),
             *receipt(12, "20240201", "C4", "S1", "100,00", "M"), *receipt(13, "20240215", "C4", "S2", "400,00", "M"),
             *sale(16, "20240105", "C5", "H1", "1000,00", "a"), *receipt(14, "20240201", "C5", "P1", "600,00", "a"),
             *sale(17, "20240115", "C5", "H3", "200,00", "Z"), *receipt(15, "20240301", "C5", "P2", "300,00", "Z"),
             *sale(18, "20240105", "C6", "K1", "500,00", "C"), *credit_note(19, "20240120", "C6", "AVK", "500,00", "C"))


def test_round_trip_import_export_import_gives_the_same_ledger(db, wipe):
    from ledger.fec import export_fec

    run(db, fec(*ALL_CASES))
    first = snapshot(db)
    assert_books_balance(db, fec(*ALL_CASES))
    with Session(db) as session:
        exported = export_fec(session, separator="|")
    wipe(db)
    report = run(db, exported)
    # what is partly allocated is exported as partial lettering (lowercase codes)
    assert report.valid and report.unbalanced_groups and all(g.partial for g in report.unbalanced_groups)
    assert snapshot(db) == first
    assert open_balances(db) == auxiliary_balances(exported)


def test_round_trip_of_a_synthetic_ledger(db, tmp_path, wipe):
    """A ledger allocated oldest first (CSV import) → FEC → import: the same open amounts and dates."""
    from features.synth import generate
    from ledger.fec import export_fec
    from ledger.frames import write_ledger_dir
    from ledger.importers import import_ledger_dir

    write_ledger_dir(generate(customers=20, months=6, seed=1), tmp_path / "ledger")
    with Session(db) as session:
        import_ledger_dir(session=session, directory=tmp_path / "ledger", actor="test", today=dt.date.today())
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
    assert after["invoices"] == {k: (*v[:7], after["invoices"][k][7]) for k, v in before["invoices"].items()}
    assert after["allocations"] == before["allocations"]
    assert after["unallocated"] == before["unallocated"]


def test_penalty_invoices_are_exported_and_recognised_when_they_come_back(db):
    from ledger.fec import export_fec
    from ledger.penalties import create_penalty_invoices

    run(db, fec(*BOOKS), terms_days=30)  # F001 due 04/02, paid 10/02: 6 days late
    with Session(db) as session:
        created = create_penalty_invoices(session=session, customer_id="C1", today=D(2024, 3, 1), actor="test")
        session.commit()
        penalty = created["created"][0]
        penalty_id, total = penalty.penalty_invoice_id, penalty.total
        exported = export_fec(session, separator="|")
    assert total > E("40")  # the 40 € indemnity plus interest
    rows = [line.split("|") for line in exported.splitlines()]
    mine = [r for r in rows if r[8] == penalty_id]
    assert [(r[4], r[11], r[12]) for r in mine if r[4] == "411000"] == [("411000", f"{total:.2f}".replace(".", ","), "0")]
    assert sum(E(r[12].replace(",", ".")) for r in mine) == total  # 763000 + 758000 balance it
    before = snapshot(db)
    report = run(db, exported)
    assert [(u.record_id, u.reason) for u in report.unplaced if u.reason == "penalty_invoice"] == [(penalty_id, "penalty_invoice")]
    assert snapshot(db)["invoices"] == before["invoices"]  # never turned into a chased invoice


def test_a_nul_character_is_refused_with_its_line(db):
    lines = sale(1, "20240105", "C1", "F\x001", "10,00")
    with pytest.raises(FecValidationError) as caught:
        run(db, fec(*lines))
    assert [(i.line, i.message) for i in caught.value.report.issues] == [
        (2, "contains a NUL character"), (3, "contains a NUL character")]

"""Open-items ("balance âgée") import through a column-mapping file, on a hand-built file."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as E

import pytest
from sqlmodel import Session

from ledger.errors import LedgerValidationError
from ledger.open_items import import_open_items, read_mapping
from tests.integrations.conftest import open_balances, snapshot

MAPPING = """
[columns]
customer_id = "Code client"
customer_name = "Raison sociale"
invoice_id = "Pièce"
issue_date = "Date"
due_date = "Échéance"
amount = "Montant TTC"
open_amount = "Reste dû"
[format]
separator = ";"
decimal = ","
date_format = "%d/%m/%Y"
"""
AGED = ("Code client;Raison sociale;Pièce;Date;Échéance;Montant TTC;Reste dû\n"
        "C1;Société Alpha;F1;15/01/2024;14/02/2024;1 200,00;1 200,00\n"      # wholly open
        "C1;Société Alpha;F2;01/02/2024;02/03/2024;500,00;150,00\n"          # 350 already paid
        "C2;Beta;F3;10/02/2024;10/03/2024;80,00;80,00\n"
        "C2;Beta;AV9;12/02/2024;12/02/2024;-30,00;-30,00\n")                 # an open credit


def run(engine, data, mapping=MAPPING, **options):
    with Session(engine) as session:
        report = import_open_items(session=session, source=data.encode("latin-1"), mapping=read_mapping(mapping),
                                   actor="test", today=dt.date.today(), **options)
        session.commit()
    return report


def test_open_items_become_invoices_partial_payments_and_credit(db):
    report = run(db, AGED)
    state = snapshot(db)
    assert (report.rows, report.invoices, report.credit_notes, report.payments) == (4, 3, 1, 1)
    assert report.open_amount == E("1400.00")  # 1200 + 150 + 80 − 30
    assert state["customers"] == {"C1": "Société Alpha", "C2": "Beta"}
    assert state["invoices"]["F2"][:4] == ("C1", dt.date(2024, 2, 1), dt.date(2024, 3, 2), E("500.00"))
    assert state["invoices"]["F2"][6] == E("150.00") and state["payments"]["OI-F2"][2:] == (E("350.00"), "F2")
    # the credit note stays customer credit: F3 is still 80 open, C2 owes 80 − 30 = 50
    assert state["invoices"]["F3"][6] == E("80.00") and state["invoices"]["AV9"][6] == E("30.00")
    assert open_balances(db) == {"C1": E("1350.00"), "C2": E("50.00")}
    again = run(db, AGED)
    assert again.result.invoices["unchanged"] == 4 and snapshot(db) == state


def test_bad_rows_are_all_reported_and_nothing_is_imported(db):
    bad = AGED.replace("15/01/2024", "2024-01-15").replace("500,00;150,00", "500,00;650,00")
    with pytest.raises(LedgerValidationError) as caught:
        run(db, bad)
    assert {e.field for e in caught.value.errors} == {"line 2, Date", "line 3, Reste dû"}
    assert snapshot(db)["invoices"] == {}


def test_a_mapping_naming_a_missing_column_or_field_is_refused(db):
    with pytest.raises(LedgerValidationError) as caught:
        read_mapping(MAPPING.replace('open_amount = "Reste dû"\n', ""))
    assert [e.field for e in caught.value.errors] == ["mapping.columns.open_amount"]
    with pytest.raises(LedgerValidationError) as caught:
        run(db, AGED, MAPPING.replace('"Reste dû"', '"Solde"'))
    assert caught.value.errors[0].field == "line 1, Solde"

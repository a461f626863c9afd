"""Importers: a ledger directory and the public IBM sample, through the real database."""
import datetime as dt

import pandas as pd
import pytest
from sqlmodel import func, select

from ledger.errors import LedgerError, LedgerValidationError
from ledger.importers import import_ledger_dir
from ledger.tables import Customer, Dispute, Invoice, Payment


def late_rate(session) -> float:
    settled = session.exec(select(func.count()).select_from(Invoice).where(Invoice.settled_on.is_not(None))).one()
    late = session.exec(select(func.count()).select_from(Invoice).where(Invoice.settled_on > Invoice.due_date)).one()
    return late / settled


def test_ibm_sample_imports_with_the_right_counts_and_late_rate(session, shared_ibm):
    result = import_ledger_dir(session=session, directory=shared_ibm, actor="test", today=dt.date.today())
    session.commit()
    assert result.invoices["created"] == 2466 and result.customers["created"] == 100
    assert session.exec(select(func.count()).select_from(Payment)).one() == 2466
    assert session.exec(select(func.count()).select_from(Dispute)).one() == 561
    assert round(100 * late_rate(session), 2) == 35.56
    # invoice numbers keep their leading zeros
    assert session.get(Invoice, "0000611365").settled_on == dt.date(2013, 1, 15)
    again = import_ledger_dir(session=session, directory=shared_ibm, actor="test", today=dt.date.today())
    session.commit()
    assert again.invoices == {"created": 0, "updated": 0, "unchanged": 2466}


def write_dir(path, invoices_extra=None):
    pd.DataFrame([{"customer_id": "C1", "name": "Dupont", "country": "FR"}]).to_csv(path / "customers.csv", index=False)
    rows = [{"invoice_id": "F1", "customer_id": "C1", "issue_date": "2024-01-01", "due_date": "2024-01-31", "amount": "100"}]
    rows += invoices_extra or []
    pd.DataFrame(rows).to_csv(path / "invoices.csv", index=False)
    pd.DataFrame([{"payment_id": "P1", "customer_id": "C1", "paid_on": "2024-02-03", "amount": "100", "invoice_id": ""}]).to_csv(path / "payments.csv", index=False)


def test_ledger_directory_imports(session, tmp_path):
    write_dir(tmp_path)
    import_ledger_dir(session=session, directory=tmp_path, actor="test", today=dt.date.today())
    session.commit()
    assert session.get(Invoice, "F1").settled_on == dt.date(2024, 2, 3)
    assert session.get(Customer, "C1").name == "Dupont"


def test_a_bad_line_names_file_line_and_column_and_imports_nothing(session, tmp_path):
    write_dir(tmp_path, [{"invoice_id": "F2", "customer_id": "C1", "issue_date": "2024-13-01",
                          "due_date": "2024-02-01", "amount": "10"}])
    with pytest.raises(LedgerValidationError) as raised:
        import_ledger_dir(session=session, directory=tmp_path, actor="test", today=dt.date.today())
    session.rollback()
    assert raised.value.errors[0].field == "invoices.csv line 3, column issue_date"
    assert session.exec(select(func.count()).select_from(Invoice)).one() == 0


def test_missing_files_are_reported(session, tmp_path):
    with pytest.raises(LedgerError, match="customers.csv"):
        import_ledger_dir(session=session, directory=tmp_path, actor="test", today=dt.date.today())


@pytest.mark.parametrize("column,value,message", [
    ("issue_date", "0001-01-01", "outside the accepted dates"),
    ("due_date", "9999-12-31", "outside the accepted dates"),
    ("invoice_id", "F\x072", "control character U+0007")])
def test_files_obey_the_same_bounds_as_the_api(session, tmp_path, column, value, message):
    row = {"invoice_id": "F2", "customer_id": "C1", "issue_date": "2024-01-01",
           "due_date": "2024-02-01", "amount": "10", column: value}
    write_dir(tmp_path, [row])
    with pytest.raises(LedgerValidationError) as raised:
        import_ledger_dir(session=session, directory=tmp_path, actor="test", today=dt.date.today())
    session.rollback()
    assert raised.value.errors[0].field == f"invoices.csv line 3, column {column}"
    assert message in raised.value.errors[0].message


def test_a_customer_file_with_two_addresses_in_one_cell_is_refused(session, tmp_path):
    write_dir(tmp_path)
    customers = pd.read_csv(tmp_path / "customers.csv", dtype=str, keep_default_na=False)
    customers["email"] = "a@example.org\r\nBcc: b@example.org"
    customers.to_csv(tmp_path / "customers.csv", index=False)
    with pytest.raises(LedgerValidationError) as raised:
        import_ledger_dir(session=session, directory=tmp_path, actor="test", today=dt.date.today())
    assert raised.value.errors[0].field == "customers.csv line 2, column email"

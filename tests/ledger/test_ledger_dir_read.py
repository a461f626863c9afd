"""Reading a ledger directory: the pyarrow-typed path equals the pandas one it replaces, whatever
the files hold (blank fields, odd dates and numbers fall back to pandas, with its errors)."""
from __future__ import annotations

import random

import pandas as pd
import pytest

from ledger.frames import (
    _read_frames,
    _read_frames_by_pandas,
    _settle_direct,
    derive_settlement,
    load_ledger_dir,
)

D = pd.Timestamp


def _write(directory, name: str, rows: list[dict]) -> None:
    pd.DataFrame(rows).to_csv(directory / f"{name}.csv", index=False)


def _ledger(directory, rng: random.Random, size: int, *, odd: str | None = None) -> None:
    days = [f"2025-{m:02d}-{d:02d}" for m in range(1, 13) for d in (1, 9, 17, 28)]
    customers = [{"customer_id": f"C{c:03d}", "name": f"Client {c}", "language": rng.choice(["", "en"]),
                  "payment_terms_days": str(rng.choice([30, 45])), "credit_limit": rng.choice(["", "5000.5"])}
                 for c in range(max(size // 20, 1))]
    invoices, payments = [], []
    for i in range(size):
        customer = rng.choice(customers)["customer_id"]
        tidy = int(customer[1:]) % 2 == 0  # names its invoice and pays it exactly (direct path)
        credit = rng.random() < 0.05 and invoices and not tidy
        invoices.append({"invoice_id": f"{i:07d}", "customer_id": customer, "issue_date": rng.choice(days),
                         "due_date": rng.choice(days), "amount": f"{rng.randint(1, 99_999) / 100:.2f}",
                         "currency": rng.choice(["", "EUR", "USD"]),
                         "kind": "credit_note" if credit else rng.choice(["", "invoice"]),
                         "applies_to": rng.choice(invoices)["invoice_id"] if credit else ""})
        if rng.random() < 0.7:
            payments.append({"payment_id": f"P{i}", "customer_id": customer, "paid_on": max(rng.choice(days), invoices[-1]["issue_date"]) if tidy else rng.choice(days),
                             "amount": invoices[-1]["amount"] if tidy else f"{rng.randint(1, 99_999) / 100}",
                             "currency": "EUR",
                             "invoice_id": invoices[-1]["invoice_id"] if tidy else rng.choice(
                                 [invoices[-1]["invoice_id"], ""])})
    if odd == "date":
        invoices[len(invoices) // 2]["due_date"] = "2025-03-04T00:00:00"
    if odd == "number":
        payments[len(payments) // 2]["amount"] = " 12.5"
    if odd == "blank":
        for row in payments:
            row["paid_on"] = ""
    _write(directory, "customers", customers)
    _write(directory, "invoices", invoices)
    _write(directory, "payments", payments)
    _write(directory, "reminders", [{"reminder_id": f"R{i}", "invoice_id": row["invoice_id"],
                                     "customer_id": row["customer_id"], "sent_on": rng.choice(days + [""]),
                                     "channel": "email", "step": "1"} for i, row in enumerate(invoices)])


@pytest.mark.parametrize(("seed", "size", "odd"), [(1, 300, None), (2, 12_000, None), (3, 300, "date"),
                                                   (4, 12_000, "number"), (5, 300, "blank")])
def test_the_arrow_typed_read_equals_pandas(tmp_path, seed, size, odd):
    _ledger(tmp_path, random.Random(seed), size, odd=odd)
    expected = _read_frames_by_pandas(tmp_path)
    got = _read_frames(tmp_path)
    assert got.keys() == expected.keys()
    for name, frame in expected.items():
        pd.testing.assert_frame_equal(got[name], frame, check_exact=True)
    if odd != "blank":
        assert got["invoices"]["issue_date"].dtype == "datetime64[ns]"
        assert got["payments"]["amount"].dtype == float


def test_a_bad_date_is_still_refused_read_frames_by_pandas(tmp_path):
    _ledger(tmp_path, random.Random(6), 50)
    invoices = pd.read_csv(tmp_path / "invoices.csv", dtype=str, keep_default_na=False)
    invoices.loc[3, "issue_date"] = "2025-02-30"
    invoices.to_csv(tmp_path / "invoices.csv", index=False)
    with pytest.raises(ValueError):
        load_ledger_dir(tmp_path)


def _by_the_rules(invoices: pd.DataFrame, payments: pd.DataFrame, as_of) -> pd.DataFrame:
    from ledger.frames import _allocate_each

    settled, open_amount = _allocate_each(invoices[invoices["issue_date"] <= as_of],
                                          payments[payments["paid_on"] <= as_of])
    return invoices.assign(settled_date=pd.to_datetime(invoices["invoice_id"].map(settled)),
                           open_amount=invoices["invoice_id"].map(open_amount).astype(float))


@pytest.mark.parametrize("seed", range(6))
def test_settlement_equals_the_rules_on_random_ledgers(tmp_path, seed):
    """Random ledgers mixing the direct path's customers with the rules' (unnamed, overpaying,
    credit notes), invoices issued after as_of, and an id shared by a credit note and an invoice."""
    rng = random.Random(seed)
    _ledger(tmp_path, rng, 400)
    frames = _read_frames(tmp_path)
    invoices, payments = frames["invoices"], frames["payments"]
    if seed % 2:
        clash = invoices.index[invoices["kind"] == "credit_note"]
        if len(clash):
            invoices.loc[clash[0], "invoice_id"] = invoices.loc[0, "invoice_id"]
    as_of = D("2025-09-30")
    _, _, slow = _settle_direct(invoices[invoices["issue_date"] <= as_of], payments[payments["paid_on"] <= as_of])
    assert 0 < len(slow) < invoices["customer_id"].nunique() or seed % 2  # both paths taken
    pd.testing.assert_frame_equal(derive_settlement(invoices, payments, as_of=as_of),
                                  _by_the_rules(invoices.drop(columns=["settled_date"]), payments, as_of))

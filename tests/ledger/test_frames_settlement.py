"""Settlement derived from a ledger directory: the numpy path equals the allocation rules."""
from __future__ import annotations

import pandas as pd
import pytest

from features.synth import generate
from ledger.frames import _allocate_each, derive_settlement

D = pd.Timestamp


def _by_the_rules(invoices: pd.DataFrame, payments: pd.DataFrame, as_of) -> pd.DataFrame:
    settled, open_amount = _allocate_each(invoices[invoices["issue_date"] <= as_of],
                                          payments[payments["paid_on"] <= as_of])
    return invoices.assign(settled_date=pd.to_datetime(invoices["invoice_id"].map(settled)),
                           open_amount=invoices["invoice_id"].map(open_amount).astype(float))


@pytest.mark.parametrize("seed", [0, 4])
def test_the_direct_path_equals_the_allocation_rules_on_a_synthetic_ledger(seed):
    frames = generate(customers=120, months=12, seed=seed)
    invoices = frames.invoices.drop(columns=["settled_date"])
    pd.testing.assert_frame_equal(derive_settlement(invoices, frames.payments, as_of=frames.as_of),
                                  _by_the_rules(invoices, frames.payments, frames.as_of))


def test_customers_the_rules_must_sort_out_are_handed_to_them():
    invoices = pd.DataFrame({
        "invoice_id": ["A1", "A2", "B1", "C1", "CN"], "customer_id": ["A", "A", "B", "C", "C"],
        "issue_date": [D("2025-01-01"), D("2025-01-10"), D("2025-01-01"), D("2025-01-05"),
                       D("2025-02-01")],
        "due_date": [D("2025-01-31"), D("2025-02-09"), D("2025-01-31"), D("2025-02-04"),
                     D("2025-02-01")],
        "amount": [100.0, 50.0, 80.0, 60.0, 60.0],
        "kind": ["invoice", "invoice", "invoice", "invoice", "credit_note"],
        "applies_to": ["", "", "", "", "C1"],
    })
    payments = pd.DataFrame({
        # A overpays A1 by 30: the rest goes oldest first, to A2 (rules); B pays unnamed (rules);
        # C's credit note settles C1 on its own date (direct)
        "payment_id": ["P1", "P2"], "customer_id": ["A", "B"],
        "paid_on": [D("2025-01-20"), D("2025-02-15")], "amount": [130.0, 80.0],
        "invoice_id": ["A1", None],
    })
    derived = derive_settlement(invoices, payments, as_of=D("2025-03-01")).set_index("invoice_id")
    assert derived.loc["A1", "settled_date"] == D("2025-01-20")
    assert derived.loc["A2", "open_amount"] == 20.0 and pd.isna(derived.loc["A2", "settled_date"])
    assert derived.loc["B1", "settled_date"] == D("2025-02-15")
    assert derived.loc["C1", "settled_date"] == D("2025-02-01") and derived.loc["C1", "open_amount"] == 0
    pd.testing.assert_frame_equal(
        derive_settlement(invoices, payments, as_of=D("2025-03-01")),
        _by_the_rules(invoices, payments, D("2025-03-01")))

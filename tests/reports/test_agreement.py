"""The same open amount wherever a customer's balance is shown: the customer record, its risk,
its credit exposure, its statement's open items and the worklist."""
from __future__ import annotations

from decimal import Decimal

import pytest

from tests.reports.ledger_fixture import build_ledger


@pytest.mark.parametrize("customer_id", ["C1", "C2", "C3"])
def test_every_view_agrees_on_the_open_amount(client, keys, session, customer_id):
    # today (every event of the ledger is in the past): the record holds today's open amounts
    build_ledger(session)
    headers = keys["analyst"]
    record = client.get(f"/api/v1/customers/{customer_id}", headers=headers).json()
    risk = client.get(f"/api/v1/customers/{customer_id}/risk", headers=headers).json()
    credit = client.get(f"/api/v1/customers/{customer_id}/credit", headers=headers).json()
    statement = client.get(f"/api/v1/customers/{customer_id}/statement?format=json", headers=headers).json()
    worklist = {r["customer_id"]: r for r in client.get("/api/v1/worklist?limit=500", headers=headers).json()}
    # C1: I2 600 − 200 paid + I3 500 + I9 350 + I10 250 = 1500 (not the 1700 of invoice totals)
    open_balance = Decimal(record["open_balance"])
    if customer_id == "C1":
        assert open_balance == Decimal("1500.00")
    assert Decimal(str(risk["open_amount"])).quantize(Decimal("0.01")) == open_balance
    assert Decimal(credit["exposure"]) == open_balance
    items = sum((Decimal(i["open_amount"]) for s in statement["sections"] for i in s["open_items"]), Decimal(0))
    assert items == open_balance
    assert Decimal(worklist[customer_id]["open_amount"]) == open_balance

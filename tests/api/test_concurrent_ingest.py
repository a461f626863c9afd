"""Two overlapping batches sent at once by 8 clients to a real server: one copy of each record."""
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
from sqlmodel import Session, func, select

from ledger.tables import Allocation, Invoice, Payment
from tests.server import running


def batches():
    customers = [{"customer_id": f"K{i}"} for i in range(30)]
    invoices = [{"invoice_id": f"I{i}", "customer_id": f"K{i % 30}", "issue_date": "2024-01-01",
                 "due_date": "2024-01-31", "amount": "100.00"} for i in range(300)]
    payments = [{"payment_id": f"P{i}", "customer_id": f"K{i % 30}", "paid_on": "2024-02-15",
                 "amount": "35.50"} for i in range(200)]
    # A and B overlap on the middle third of every list
    a = {"customers": customers, "invoices": invoices[:200], "payments": payments[:140]}
    b = {"customers": customers[::-1], "invoices": invoices[100:], "payments": payments[60:]}
    return a, b, Decimal("35.50") * 200


def test_eight_clients_two_overlapping_batches(app, keys, db):
    a, b, paid = batches()
    with running(app) as url:
        def send(body):
            with httpx.Client(base_url=url, headers=keys["billing"], timeout=60) as http:
                return http.post("/api/v1/ingest", json=body).status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(send, [a, b] * 4))
    assert codes == [200] * 8
    with Session(db) as session:
        assert session.exec(select(func.count()).select_from(Invoice)).one() == 300
        assert session.exec(select(func.count()).select_from(Payment)).one() == 200
        assert session.exec(select(func.sum(Payment.amount))).one() == paid
        # every payment is allocated once: no duplicate allocation from racing replays
        assert session.exec(select(func.sum(Allocation.amount))).one() == paid
        open_total = session.exec(select(func.sum(Invoice.open_amount))).one()
        assert open_total == Decimal("30000.00") - paid

"""One grade per customer: the worklist shows the very grade the customer page shows, although
the customer's invoices, graded one by one, often disagree with it (that was the bug: D on one
page, E on the other)."""
from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from features.synth import generate
from ledger.frames import write_ledger_dir
from ledger.importers import import_ledger_dir

API = "/api/v1"


def _imported(app, db, tmp_path, *, customers: int, seed: int) -> dt.date:
    """A 12-month synthetic ledger imported through its directory; the app's today the day after."""
    frames = generate(customers=customers, months=12, seed=seed)
    today = frames.as_of.date() + dt.timedelta(days=1)
    write_ledger_dir(frames, tmp_path / "ledger")
    with Session(db) as session:
        import_ledger_dir(session=session, directory=tmp_path / "ledger", actor="test", today=today)
        session.commit()
    app.state.today = today
    return today


def test_worklist_grade_is_the_customer_pages_grade(client, keys, app, db, tmp_path):
    today = _imported(app, db, tmp_path, customers=40, seed=5)
    rows = client.get(f"{API}/worklist", params={"limit": 100}, headers=keys["analyst"]).json()
    assert len(rows) >= 10
    disagreeing = 0
    for row in rows:
        page = client.get(f"{API}/customers/{row['customer_id']}/risk", headers=keys["analyst"]).json()
        assert row["grade"] == page["grade"], row["customer_id"]
        with Session(db) as session:
            invoices = app.state.risk.risk_for(
                session, [i["invoice_id"] for i in client.get(
                    f"{API}/invoices", params={"customer_id": row["customer_id"], "status": "open"},
                    headers=keys["analyst"]).json()["items"]], today)
        disagreeing += any(r.grade != page["grade"] for r in invoices.values())
    # the invoices' own grades differ from their customer's for some customers: the test means it
    assert disagreeing > 0


def test_a_worklist_read_keeps_the_answers_it_had_to_recompute(client, keys, app, db, tmp_path):
    """Stale customers are scored once: the answers the worklist's read recomputed are stored,
    so the next read finds them fresh instead of scoring the same customers again."""
    from sqlmodel import select

    from ledger.tables import StoredCustomerRisk

    today = _imported(app, db, tmp_path, customers=25, seed=9)
    with Session(db) as session:  # nothing stored for the new day yet
        assert not [r for r in session.exec(select(StoredCustomerRisk)).all() if r.as_of == today]
    rows = client.get(f"{API}/worklist", params={"limit": 10}, headers=keys["analyst"]).json()
    assert rows
    with Session(db) as session:
        stored = {r.customer_id for r in session.exec(select(StoredCustomerRisk)).all() if r.as_of == today}
    assert {row["customer_id"] for row in rows} <= stored

"""Month-end receivable snapshots (ledger/snapshots.py) are only ever a cache of the fresh answer:
on a hand-built ledger they hold the figures worked out by hand, a back-dated write forgets exactly
the month ends it changes, and after random ingests (several currencies, a segment) every month
end read through the snapshots equals a fresh computation."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlmodel import Session

from ledger import kpis, snapshots
from ledger.ingest import ingest
from ledger.schemas import IngestBatch

JAN, FEB, MAR = dt.date(2025, 1, 31), dt.date(2025, 2, 28), dt.date(2025, 3, 31)
MONTH_ENDS = [dt.date(2025, m, 1) - dt.timedelta(days=1) for m in range(2, 13)] + [dt.date(2025, 12, 31)]


def _ingest(engine, body: dict) -> None:
    with Session(engine) as session:
        ingest(session=session, batch=IngestBatch.model_validate(body), actor="test")
        session.commit()


def _snapshot_dates(engine, scope: str = "*") -> set[dt.date]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT on_date FROM receivablesnapshot WHERE scope = :s AND bucket = ''"),
                                  {"s": scope}).all()
    return {snapshots._date(r[0]) for r in rows}


def _through_snapshots(engine, dates, segment=None):
    with Session(engine) as session:
        return kpis._receivables_raw(session, dates, segment)


def _fresh(engine, dates, segment=None):
    with Session(engine) as session:
        return kpis._receivables_fresh(session, dates, segment)


def _normal(raw) -> dict:
    """Raw receivables without empty cells, amounts to the cent (SQLite sums in floats)."""
    out = {}
    for (day, bucket), (counts, amounts) in raw.items():
        for currency, amount in amounts.items():
            if counts.get(currency) or amount:
                out[(day, bucket, currency)] = (counts[currency], Decimal(str(amount)).quantize(Decimal("0.01")))
    return out


@pytest.fixture
def hand_built(db):
    """A1 (EUR): F1 1,000 issued 01-10 due 02-09; F2 500 issued 02-15 due 03-17.
    B1 (GBP, segment pme): G1 800 issued 01-20 due 01-31, 300 paid 02-10, 500 paid 03-05."""
    _ingest(db, {
        "customers": [{"customer_id": "A1", "name": "A"},
                      {"customer_id": "B1", "name": "B", "currency": "GBP", "segment": "pme"}],
        "invoices": [
            {"invoice_id": "F1", "customer_id": "A1", "issue_date": "2025-01-10", "due_date": "2025-02-09",
             "amount": "1000"},
            {"invoice_id": "F2", "customer_id": "A1", "issue_date": "2025-02-15", "due_date": "2025-03-17",
             "amount": "500"},
            {"invoice_id": "G1", "customer_id": "B1", "currency": "GBP", "issue_date": "2025-01-20",
             "due_date": "2025-01-31", "amount": "800"}],
        "payments": [
            {"payment_id": "P1", "customer_id": "B1", "currency": "GBP", "paid_on": "2025-02-10",
             "amount": "300", "invoice_id": "G1"},
            {"payment_id": "P2", "customer_id": "B1", "currency": "GBP", "paid_on": "2025-03-05",
             "amount": "500", "invoice_id": "G1"}]})
    return db


def test_month_ends_are_stored_and_read_back_with_the_hand_worked_figures(hand_built):
    expected = {
        # 01-31: F1 not due (1,000 EUR); G1 due that day, not yet past due (800 GBP)
        (JAN, "not_due", "EUR"): (1, Decimal("1000.00")), (JAN, "not_due", "GBP"): (1, Decimal("800.00")),
        # 02-28: F1 19 days late; F2 not due; G1 28 days late, 800 − 300
        (FEB, "1-30", "EUR"): (1, Decimal("1000.00")), (FEB, "not_due", "EUR"): (1, Decimal("500.00")),
        (FEB, "1-30", "GBP"): (1, Decimal("500.00")),
        # 03-31: F1 50 days late, F2 14 days late; G1 paid off on 03-05
        (MAR, "31-60", "EUR"): (1, Decimal("1000.00")), (MAR, "1-30", "EUR"): (1, Decimal("500.00")),
    }
    first = _through_snapshots(hand_built, [JAN, FEB, MAR])
    assert _snapshot_dates(hand_built) == {JAN, FEB, MAR}
    second = _through_snapshots(hand_built, [JAN, FEB, MAR])  # read from the snapshots
    assert _normal(first) == _normal(second) == _normal(_fresh(hand_built, [JAN, FEB, MAR])) == expected
    # the report on top of them: 03-31, both currencies' own figures
    with Session(hand_built) as session:
        rec = kpis.receivables_at(session=session, dates=[MAR], lens=kpis.Lens.only("EUR"))[MAR]
    assert rec.total == Decimal("1500.00") and rec.overdue == Decimal("1500.00") and rec.count == 2


def test_a_back_dated_payment_forgets_the_month_ends_from_its_date_only(hand_built):
    _through_snapshots(hand_built, [JAN, FEB, MAR])
    _ingest(hand_built, {"payments": [{"payment_id": "P3", "customer_id": "A1", "paid_on": "2025-02-20",
                                       "amount": "1000", "invoice_id": "F1"}]})
    assert _snapshot_dates(hand_built) == {JAN}
    raw = _normal(_through_snapshots(hand_built, [JAN, FEB, MAR]))
    assert (FEB, "1-30", "EUR") not in raw and (MAR, "31-60", "EUR") not in raw
    assert raw[(JAN, "not_due", "EUR")] == (1, Decimal("1000.00"))
    assert raw == _normal(_fresh(hand_built, [JAN, FEB, MAR]))


def test_a_new_invoice_forgets_from_its_issue_date_and_a_segment_change_forgets_segments(hand_built):
    _through_snapshots(hand_built, [JAN, FEB, MAR])
    _through_snapshots(hand_built, [JAN, FEB, MAR], segment="pme")
    assert _snapshot_dates(hand_built, "segment:pme") == {JAN, FEB, MAR}
    _ingest(hand_built, {"invoices": [{"invoice_id": "F3", "customer_id": "A1", "issue_date": "2025-03-01",
                                       "due_date": "2025-03-31", "amount": "70"}]})
    assert _snapshot_dates(hand_built) == {JAN, FEB}
    _ingest(hand_built, {"customers": [{"customer_id": "A1", "name": "A", "segment": "pme"}]})
    assert _snapshot_dates(hand_built, "segment:pme") == set()
    assert _snapshot_dates(hand_built) == {JAN, FEB}
    for segment in (None, "pme"):
        assert _normal(_through_snapshots(hand_built, [JAN, FEB, MAR], segment)) == \
            _normal(_fresh(hand_built, [JAN, FEB, MAR], segment))
    pme = _normal(_through_snapshots(hand_built, [MAR], "pme"))
    assert pme[(MAR, "not_due", "EUR")] == (1, Decimal("70.00"))  # A1 joined the segment


def test_a_session_with_uncommitted_writes_reads_its_own_view(hand_built):
    _through_snapshots(hand_built, [JAN, FEB])
    with Session(hand_built) as session:
        ingest(session=session, batch=IngestBatch.model_validate({"invoices": [
            {"invoice_id": "F9", "customer_id": "A1", "issue_date": "2025-01-05", "due_date": "2025-01-06",
             "amount": "9"}]}), actor="test")
        assert not snapshots.usable(session)
        raw = _normal(kpis._receivables_raw(session, [JAN], None))
        assert raw[(JAN, "1-30", "EUR")] == (1, Decimal("9.00"))
        session.rollback()
    assert _normal(_through_snapshots(hand_built, [JAN])) == _normal(_fresh(hand_built, [JAN]))
    assert (JAN, "1-30", "EUR") not in _normal(_through_snapshots(hand_built, [JAN]))


def _random_batch(rng: random.Random, round_: int, invoices: list[tuple[str, str, str, dt.date]]) -> dict:
    customers = [("C1", "EUR", None), ("C2", "EUR", "pme"), ("C3", "GBP", "pme"), ("C4", "USD", None)]
    body: dict = {"customers": [{"customer_id": c, "name": c, "currency": cur, "segment": seg}
                                for c, cur, seg in customers], "invoices": [], "payments": []}
    earlier = list(invoices)
    for k in range(rng.randint(2, 6)):
        customer, currency, _ = rng.choice(customers)
        issue = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randint(0, 330))
        invoice_id = f"R{round_}-{k}"
        body["invoices"].append({"invoice_id": invoice_id, "customer_id": customer, "currency": currency,
                                 "issue_date": issue.isoformat(),
                                 "due_date": (issue + dt.timedelta(days=rng.choice([0, 30, 45]))).isoformat(),
                                 "amount": f"{rng.randint(1, 5000)}.{rng.randint(0, 99):02d}"})
        invoices.append((invoice_id, customer, currency, issue))
    for k in range(rng.randint(1, 4)):  # payments, some back-dated, some naming an invoice
        invoice_id, customer, currency, issue = rng.choice(invoices)
        paid = issue + dt.timedelta(days=rng.randint(0, 120))
        body["payments"].append({"payment_id": f"Q{round_}-{k}", "customer_id": customer, "currency": currency,
                                 "paid_on": min(paid, dt.date(2025, 12, 31)).isoformat(),
                                 "amount": f"{rng.randint(1, 3000)}.{rng.randint(0, 99):02d}",
                                 **({"invoice_id": invoice_id} if rng.random() < 0.5 else {})})
    if earlier and rng.random() < 0.3:  # an invoice of an earlier batch resent with another amount
        invoice_id, customer, currency, issue = rng.choice(earlier)
        body["invoices"].append({"invoice_id": invoice_id, "customer_id": customer, "currency": currency,
                                 "issue_date": issue.isoformat(), "due_date": (issue + dt.timedelta(days=30)).isoformat(),
                                 "amount": f"{rng.randint(4000, 9000)}.00"})
    return body


@pytest.mark.parametrize("seed", [1, 2])
def test_after_random_ingests_every_month_end_equals_a_fresh_computation(db, seed):
    rng = random.Random(seed)
    invoices: list = []
    for round_ in range(6):
        _ingest(db, _random_batch(rng, round_, invoices))
        for segment in (None, "pme"):
            through = _normal(_through_snapshots(db, MONTH_ENDS, segment))
            assert through == _normal(_fresh(db, MONTH_ENDS, segment)), (seed, round_, segment)
        # and the reports built on them, converted or in one currency
        with Session(db) as session:
            lens = kpis.Lens(currency="EUR", rates={"EUR": Decimal(1), "GBP": Decimal("1.17"),
                                                    "USD": Decimal("0.91")})
            report = kpis.dso(session=session, as_of=dt.date(2025, 12, 31), lens=lens)
        with Session(db) as session:
            session.execute(text("DELETE FROM receivablesnapshot"))
            session.commit()
            lens.cache.clear()
            fresh = kpis.dso(session=session, as_of=dt.date(2025, 12, 31), lens=lens)
        assert report == fresh


def test_a_replay_that_finds_the_same_allocations_keeps_their_rows_and_the_snapshots(hand_built):
    _through_snapshots(hand_built, [JAN, FEB, MAR])
    with hand_built.connect() as connection:
        before = connection.execute(text("SELECT id, invoice_id, source_id FROM allocation ORDER BY id")).all()
    # B1 gets a new invoice paid in April: its replay finds P1 and P2 on G1 as they were
    _ingest(hand_built, {
        "invoices": [{"invoice_id": "G2", "customer_id": "B1", "currency": "GBP", "issue_date": "2025-04-01",
                      "due_date": "2025-04-30", "amount": "40"}],
        "payments": [{"payment_id": "P4", "customer_id": "B1", "currency": "GBP", "paid_on": "2025-04-10",
                      "amount": "40", "invoice_id": "G2"}]})
    with hand_built.connect() as connection:
        after = connection.execute(text("SELECT id, invoice_id, source_id FROM allocation ORDER BY id")).all()
    assert after[:len(before)] == before and [r[1:] for r in after[len(before):]] == [("G2", "P4")]
    assert _snapshot_dates(hand_built) == {JAN, FEB, MAR}
    assert _normal(_through_snapshots(hand_built, [JAN, FEB, MAR])) == _normal(_fresh(hand_built, [JAN, FEB, MAR]))

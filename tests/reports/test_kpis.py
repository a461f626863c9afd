"""Every KPI against values worked out by hand on the ledger of `ledger_fixture` (see its table)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ledger import kpis
from tests.reports.ledger_fixture import AS_OF, D, add_actions, build_ledger


@pytest.fixture
def ledger(session):
    build_ledger(session)
    return session


def test_aging_buckets_and_their_boundaries(ledger):
    report = kpis.aging(session=ledger, as_of=AS_OF)
    got = {b.bucket: (b.count, b.amount) for b in report.buckets}
    # not due: I3 500 (due in 10 days) + I5 300 (due today, 0 days past due is not late)
    assert got["not_due"] == (2, Decimal("800.00"))
    # 1–30: I2 400 (16 days, 600 − 200 partial) + I6 800 (exactly 30 days)
    assert got["1-30"] == (2, Decimal("1200.00"))
    assert got["31-60"] == (1, Decimal("350.00"))     # I9, exactly 60 days
    assert got["61-90"] == (1, Decimal("250.00"))     # I10, exactly 90 days
    assert got["91-180"] == (1, Decimal("1900.00"))   # I4, 91 days, 2000 − 100 credit note
    assert got["180+"] == (1, Decimal("400.00"))      # I7, 181 days
    assert report.total == Decimal("4900.00") and report.count == 8
    # overdue = 4900 − 800 = 4100; rate = 4100 / 4900 = 0.83673…
    assert report.overdue == Decimal("4100.00")
    assert report.overdue_rate == pytest.approx(0.8367, abs=1e-4)


def test_as_of_in_the_past_ignores_later_payments_and_invoices(ledger):
    # at 2026-06-19 the 200 paid on I2 on 06-20 is not in yet: I2 is open for 600 (5 days late)
    before = kpis.aging(session=ledger, as_of=D("2026-06-19"))
    after = kpis.aging(session=ledger, as_of=D("2026-06-20"))
    assert after.total == before.total - Decimal("200")
    # at 2026-05-10: I1 (paid 05-11) still open; I8 paid that day is settled; I2, I3, I5 not issued
    # open: I1 1000 + I4 2000 (credit note only on 06-05) + I7 400 + I9 350 + I10 250 + I6 800
    past = kpis.aging(session=ledger, as_of=D("2026-05-10"))
    assert past.total == Decimal("4800.00") and past.count == 6
    # I6 (due 05-31) and nothing else is not yet due then
    assert past.buckets[0].amount == Decimal("800.00")


def test_dso_standard_best_possible_add_and_count_back(ledger):
    report = kpis.dso(session=ledger, as_of=AS_OF, months=2)
    point = report.current
    # sales issued in [04-02, 06-30]: I2 600 + I3 500 + I5 300 + I6 800 + I8 700 = 2900
    # (I1 and I9 issued 04-01 fall just outside; the credit note is not a sale)
    assert point.sales == Decimal("2900.00")
    assert point.dso == pytest.approx(4900 / 2900 * 90, abs=1e-3)             # 152.069
    assert point.best_possible_dso == pytest.approx(800 / 2900 * 90, abs=1e-3)  # 24.828
    assert point.average_days_delinquent == pytest.approx(4100 / 2900 * 90, abs=1e-3)  # 127.241
    # count-back: June sales 800 (30 d) → 4100 left; May 1400 (31 d) → 2700; April 2050 (30 d)
    # → 650; March 2250: 650 / 2250 × 31 = 8.956 → 30 + 31 + 30 + 8.956 = 99.956
    assert point.count_back_dso == pytest.approx(91 + 650 / 2250 * 31, abs=1e-3)
    # the trend holds the end of May too: receivables 4400 (see CEI)
    assert [p.on for p in report.trend] == [D("2026-05-31"), AS_OF]
    assert report.trend[0].receivables == Decimal("4400.00")


def test_count_back_with_no_receivables_is_zero():
    assert kpis.count_back_dso(receivables=Decimal("0"), sales={}, as_of=AS_OF) == 0.0


def test_cei_for_a_month(ledger):
    june = kpis.cei_by_month(session=ledger, as_of=AS_OF, months=2)[-1]
    # beginning (05-31): I2 600 + I4 2000 + I6 800 + I7 400 + I9 350 + I10 250 = 4400
    assert june.beginning_receivables == Decimal("4400.00")
    assert june.sales == Decimal("800.00")                    # I3 500 + I5 300
    assert june.ending_receivables == Decimal("4900.00")
    assert june.ending_current_receivables == Decimal("800.00")
    # (4400 + 800 − 4900) / (4400 + 800 − 800) × 100 = 300 / 4400 × 100 = 6.818
    assert june.cei == pytest.approx(300 / 4400 * 100, abs=1e-3)
    assert june.month == "2026-06"


def test_days_late_paid_and_recovery_rate(ledger):
    stats = kpis.period_stats(session=ledger, as_of=AS_OF, days=90)
    # settled in [04-02, 06-30]: I1 10 days late, I8 5 days early → mean 2.5, half late
    assert stats.invoices_paid == 2
    assert stats.average_days_late_paid == pytest.approx(2.5)
    assert stats.share_paid_late == pytest.approx(0.5)
    # collected: P4 700 + P1 1000 + P2 200 = 1900 (the credit note is not cash)
    # opening (04-01): I1 1000 + I4 2000 + I7 400 + I9 350 + I10 250 = 4000; sales 2900
    assert stats.collected == Decimal("1900.00")
    assert stats.opening_receivables == Decimal("4000.00")
    assert stats.recovery_rate == pytest.approx(1900 / 6900, abs=1e-4)


def test_top_debtors_by_overdue_then_open(ledger):
    debtors = kpis.top_debtors(session=ledger, as_of=AS_OF)
    # C2 overdue 1900 (open 2200), C3 1200 (1200), C1 400 + 350 + 250 = 1000 (open 1500)
    assert [(d.customer_id, d.overdue_balance, d.open_balance) for d in debtors] == [
        ("C2", Decimal("1900.00"), Decimal("2200.00")),
        ("C3", Decimal("1200.00"), Decimal("1200.00")),
        ("C1", Decimal("1000.00"), Decimal("1500.00"))]
    assert debtors[1].max_days_past_due == 181


def test_segment_filter(ledger):
    # pme = C1 (1500) + C3 (1200)
    assert kpis.aging(session=ledger, as_of=AS_OF, segment="pme").total == Decimal("2700.00")
    assert [d.customer_id for d in kpis.top_debtors(session=ledger, as_of=AS_OF, segment="ge")] == ["C2"]
    assert kpis.aging(session=ledger, as_of=AS_OF, segment="none").total == Decimal("0")


def test_disputes_by_reason(ledger):
    rows = {r.reason: r for r in kpis.disputes(session=ledger, as_of=AS_OF)}
    price, quality = rows["price"], rows["quality"]
    # price: D1 open since 04-15 (76 days), D2 resolved in 19 days; open amount = I4's 2000
    assert (price.opened, price.open, price.resolved) == (2, 1, 1)
    assert price.open_amount == Decimal("2000.00")
    assert price.average_open_age_days == 76 and price.average_resolution_days == 19
    # quality: D3 (150, 5 days old); D4 opened 07-02, after as_of, is not there yet
    assert (quality.opened, quality.open, quality.open_amount) == (1, 1, Decimal("150.00"))
    assert quality.average_open_age_days == 5
    # before D2's resolution it was open: 2 open price disputes
    early = {r.reason: r for r in kpis.disputes(session=ledger, as_of=D("2026-06-10"))}
    assert early["price"].open == 2 and "quality" not in early


def test_dunning_effectiveness_shares(ledger):
    add_actions(ledger)
    rows = {(r.step, r.channel, r.tone): r for r in
            kpis.dunning_effectiveness(session=ledger, as_of=D("2026-07-31"))}
    first = rows[("reminder1", "email", "courteous")]
    # sent on open invoices: I6, I2, I1, I10 (I8 was paid before, the I9 one only planned)
    assert first.sent == 4
    # I10's send (07-25) is 6 days old: in no window; the 3 others are ≥ 30 days old
    assert first.eligible == {7: 3, 14: 3, 30: 3}
    # I1 settled 7 days after (≤ 7, 14, 30); I6 25 days after (≤ 30); I2 never
    assert first.settled == {7: 1, 14: 1, 30: 2}
    assert first.share[7] == pytest.approx(1 / 3, abs=1e-4)
    assert first.share[30] == pytest.approx(2 / 3, abs=1e-4)
    call = rows[("reminder2", "call", "firm")]
    assert (call.sent, call.share[30]) == (1, 0.0)


def test_dunning_effectiveness_is_point_in_time(ledger):
    add_actions(ledger)
    rows = {(r.step, r.channel): r for r in
            kpis.dunning_effectiveness(session=ledger, as_of=AS_OF)}
    first = rows[("reminder1", "email")]
    # at 06-30: I6 (sent 06-10, 20 days ago) is in the 7 and 14 windows, unsettled then;
    # I2 (06-16, 14 days) in both too; I1 (05-04) in all three; I10 not sent yet
    assert first.sent == 3
    assert first.eligible == {7: 3, 14: 3, 30: 1}
    assert first.settled == {7: 1, 14: 1, 30: 1}


def test_kpis_bundle_and_bad_parameters(ledger):
    report = kpis.kpis(session=ledger, as_of=AS_OF, months=3)
    assert report.dso.dso == pytest.approx(152.069, abs=1e-3)
    assert len(report.cei) == 3 and report.cei[-1].month == "2026-06"
    with pytest.raises(kpis.ReportError) as error:
        kpis.dso(session=ledger, as_of=AS_OF, days=0)
    assert error.value.errors[0].field == "days"


def test_empty_ledger_gives_no_ratios(session):
    report = kpis.kpis(session=session, as_of=dt.date(2026, 1, 31))
    assert report.aging.total == Decimal("0") and report.aging.overdue_rate is None
    assert report.dso.dso is None and report.dso.count_back_dso == 0.0
    assert report.cei[-1].cei is None and report.top_debtors == []


def test_receivables_match_a_replay_of_the_allocations_at_every_date(ledger):
    # the SQL derives past open amounts from today's ones plus later allocations: check it
    # against the definition (amount − allocations dated ≤ d, for invoices issued by d)
    from sqlalchemy import select

    from ledger.tables import Allocation, Invoice

    invoices = ledger.exec(select(Invoice).where(Invoice.kind == "invoice")).scalars().all()
    allocations = ledger.exec(select(Allocation)).scalars().all()
    dates = [D("2025-12-01") + dt.timedelta(days=9 * k) for k in range(30)]
    got = kpis.receivables_at(session=ledger, dates=dates)
    for day in dates:
        expected, count = Decimal("0"), 0
        for invoice in invoices:
            if invoice.issue_date > day:
                continue
            paid = sum((a.amount for a in allocations
                        if a.invoice_id == invoice.invoice_id and a.allocated_on <= day), Decimal("0"))
            if invoice.amount - paid > 0:
                expected += invoice.amount - paid
                count += 1
        assert (got[day].total, got[day].count) == (expected, count), day

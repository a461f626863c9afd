"""A reminder imported from another tool (`reminders.csv`) counts as the scenario step done, so
escalation waits for it instead of starting over.

Scenario `standard`: first_reminder D+3 (e-mail), call D+10 — the call waits 7 days after the
first reminder was completed. Invoice F1 (1 000 €) is due 1 May 2024.
- With a `step` column naming `first_reminder`, sent 20 May: the call is due 27 May, not before.
- Without a `step` column, sent 20 May (D+19: first_reminder's and call's dates have come, the call's
  is the latest): it stands for the call; the firm letter (D+20) waits 10 days, until 30 May.
- Without a step, sent 5 May (D+4: only first_reminder's date has come): it stands for the first
  reminder; the call waits until 12 May (a Sunday) → Monday 13 May.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session

from ledger.importers import import_ledger_dir
from ledger.tables import Invoice
from serving.decisions import next_action
from serving.dunning import run_dunning


def _ledger(session: Session, tmp_path, reminders: str) -> None:
    (tmp_path / "customers.csv").write_text("customer_id,name\nC,Client\n", encoding="utf-8")
    (tmp_path / "invoices.csv").write_text(
        "invoice_id,customer_id,issue_date,due_date,amount\nF1,C,2024-04-01,2024-05-01,1000.00\n",
        encoding="utf-8")
    (tmp_path / "payments.csv").write_text("payment_id,customer_id,invoice_id,paid_on,amount\n",
                                           encoding="utf-8")
    (tmp_path / "reminders.csv").write_text(reminders, encoding="utf-8")
    import_ledger_dir(session=session, directory=tmp_path, actor="test", today=dt.date.today())
    session.commit()


def _planned(session: Session, day: dt.date) -> list[tuple[str, str]]:
    report = run_dunning(session=session, run_date=day, dry_run=True, actor="test", today=day)
    session.rollback()
    return [(a.step, a.channel) for a in report.actions]


def _decision(session: Session, day: dt.date):
    return next_action(session=session, invoice=session.get(Invoice, "F1"), today=day,
                       risk_for=None).decision


@pytest.mark.parametrize(("reminders", "waits_until", "next_step"), [
    ("reminder_id,invoice_id,sent_on,channel,step\nX1,F1,2024-05-20,email,first_reminder\n",
     dt.date(2024, 5, 27), "call"),
    ("reminder_id,invoice_id,sent_on,channel\nX1,F1,2024-05-20,email\n",
     dt.date(2024, 5, 30), "firm_letter"),
    ("reminder_id,invoice_id,sent_on,channel\nX1,F1,2024-05-05,email\n",
     dt.date(2024, 5, 13), "call"),
])
def test_an_imported_reminder_is_the_step_done(session, tmp_path, reminders, waits_until, next_step):
    _ledger(session, tmp_path, reminders)
    before = waits_until - dt.timedelta(days=1)
    while before.weekday() >= 5:
        before -= dt.timedelta(days=1)
    assert _planned(session, before) == []  # nothing sent again, nothing escalated too early
    decision = _decision(session, before)
    # next-action names the step and the day it becomes due (not due yet)
    assert not decision.is_due(before) and (decision.step or decision.next_step) == next_step
    assert decision.send_on == waits_until
    assert [step for step, _ in _planned(session, waits_until)] == [next_step]
    assert _decision(session, waits_until).step == next_step

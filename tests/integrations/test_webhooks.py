"""Webhooks against a real HTTP receiver on loopback: signatures, retries with backoff, the log."""
from __future__ import annotations

import datetime as dt
import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import Session, select

from ledger.errors import LedgerValidationError
from ledger.tables import Delivery, record_event
from ledger.webhooks import create_subscriber, deactivate_subscriber, deliver_pending, verify

SECRET = "s3cret-for-tests-only-0123456789"
# the receivers below listen on 127.0.0.1: the documented loopback setting lets them in
pytestmark = pytest.mark.usefixtures("loopback_webhooks")
T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


class Receiver:
    """A loopback HTTP server recording every request; the first `failures` answers are 500."""

    def __init__(self, failures: int = 0):
        self.failures, self.requests = failures, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                failing = len(receiver.requests) <= receiver.failures
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@contextmanager
def receiving(failures: int = 0):
    receiver = Receiver(failures)
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def subscribe(engine, url, events=("invoice.late",)) -> int:
    with Session(engine) as session:
        subscriber = create_subscriber(session=session, url=url, events=list(events), secret=SECRET)
        session.commit()
        return subscriber.id


def emit(engine, type_, entity_id="F1", **payload) -> None:
    with Session(engine) as session:
        record_event(session, type=type_, entity_id=entity_id, payload=payload)
        session.commit()


def log(engine) -> list[tuple]:
    with Session(engine) as session:
        return [(d.event_id, d.attempt, d.status, d.response_code)
                for d in session.exec(select(Delivery).order_by(Delivery.id))]


def test_signed_event_delivered_once_to_subscribers_of_its_type(db):
    with receiving() as receiver:
        subscribe(db, receiver.url, ["invoice.late", "dispute.opened"])
        emit(db, "invoice.late", days_late=12)
        emit(db, "action.sent", channel="email")  # not subscribed
        report = deliver_pending(engine=db, now=T0)
        assert (report.fanned_out, report.delivered) == (1, 1)
        assert deliver_pending(engine=db, now=T0 + dt.timedelta(days=1)).attempted == 0
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    stamp = headers["X-Relance-Timestamp"]
    assert verify(SECRET, body, headers["X-Relance-Signature"], stamp)
    assert not verify("another-secret-xxxxxxxx", body, headers["X-Relance-Signature"], stamp)
    assert headers["X-Relance-Event"] == "invoice.late" and headers["X-Relance-Timestamp"].isdigit()
    payload = json.loads(body)
    assert payload["type"] == "invoice.late" and payload["data"] == {"days_late": 12}
    assert set(payload) == {"id", "type", "created_at", "data"}


def test_failures_are_retried_with_exponential_backoff_and_logged(db):
    with receiving(failures=2) as receiver:
        subscribe(db, receiver.url)
        emit(db, "invoice.late")
        first = deliver_pending(engine=db, now=T0, base_delay=dt.timedelta(seconds=30))
        assert (first.attempted, first.retrying) == (1, 1)
        # the second attempt is due at T0 + 30 s × 2^1, not before
        assert deliver_pending(engine=db, now=T0 + dt.timedelta(seconds=59)).attempted == 0
        second = deliver_pending(engine=db, now=T0 + dt.timedelta(seconds=60))
        assert second.retrying == 1
        later = T0 + dt.timedelta(seconds=60 + 120)
        assert deliver_pending(engine=db, now=later - dt.timedelta(seconds=1)).attempted == 0
        assert deliver_pending(engine=db, now=later).delivered == 1
        assert deliver_pending(engine=db, now=later + dt.timedelta(hours=1)).attempted == 0
    assert len(receiver.requests) == 3
    assert all(verify(SECRET, body, h["X-Relance-Signature"], h["X-Relance-Timestamp"])
               for h, body in receiver.requests)
    assert [row[1:] for row in log(db)] == [(1, "error", 500), (2, "error", 500), (3, "delivered", 204)]


def test_gives_up_after_max_attempts(db):
    with receiving(failures=99) as receiver:
        subscribe(db, receiver.url)
        emit(db, "invoice.late")
        for minutes in range(0, 60, 5):
            deliver_pending(engine=db, now=T0 + dt.timedelta(minutes=minutes), max_attempts=3,
                            base_delay=dt.timedelta(seconds=1))
    assert len(receiver.requests) == 3
    assert [row[2] for row in log(db)] == ["error", "error", "failed"]


def test_unreachable_subscriber_is_logged_not_raised(db):
    with receiving() as receiver:
        url = receiver.url
    subscribe(db, url)  # the server is closed now: connection refused on loopback
    emit(db, "invoice.late")
    report = deliver_pending(engine=db, now=T0)
    assert report.retrying == 1
    with Session(db) as session:
        assert "ConnectError" in session.exec(select(Delivery)).first().error


def test_new_subscribers_start_from_now_and_inactive_ones_get_nothing(db):
    emit(db, "invoice.late", entity_id="old")
    with receiving() as receiver:
        subscriber_id = subscribe(db, receiver.url)
        emit(db, "invoice.late", entity_id="new")
        deliver_pending(engine=db, now=T0)
        with Session(db) as session:
            deactivate_subscriber(session=session, subscriber_id=subscriber_id)
            session.commit()
        emit(db, "invoice.late", entity_id="after")
        deliver_pending(engine=db, now=T0)
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("url,events,field", [
    ("ftp://example.org/hook", ["invoice.late"], "url"),
    ("http://93.184.215.14/hook", ["invoice.paid"], "events"),
    ("http://93.184.215.14/hook", [], "events")])
def test_subscriber_validation_names_the_field(db, url, events, field):
    with Session(db) as session, pytest.raises(LedgerValidationError) as caught:
        create_subscriber(session=session, url=url, events=events)
    assert [e.field for e in caught.value.errors] == [field]

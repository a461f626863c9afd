"""Publishing customer scores records `risk.grade_changed` only when a grade moves."""
import datetime as dt

from sqlmodel import select

from ledger.scores import publish_scores
from ledger.tables import Customer, CustomerScore, Event


def test_grade_changes_become_events(session):
    session.add_all([Customer(customer_id="A"), Customer(customer_id="B")])
    session.commit()
    day = dt.date(2026, 1, 5)
    first = publish_scores(session=session, scores=[
        {"customer_id": "A", "score": 900, "grade": "A", "p_late": 0.1},
        {"customer_id": "B", "score": 500, "grade": "D", "p_late": 0.5}], model_version="v1", scored_on=day)
    session.commit()
    assert first == 0 and session.exec(select(Event)).all() == []
    second = publish_scores(session=session, scores=[
        {"customer_id": "A", "score": 640, "grade": "C", "p_late": 0.4},
        {"customer_id": "B", "score": 510, "grade": "D", "p_late": 0.49}], model_version="v2", scored_on=day)
    session.commit()
    events = session.exec(select(Event)).all()
    assert second == 1 and [(e.type, e.entity_id) for e in events] == [("risk.grade_changed", "A")]
    assert events[0].payload["from"] == "A" and events[0].payload["to"] == "C"
    assert session.get(CustomerScore, "B").score == 510

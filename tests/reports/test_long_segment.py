"""A report filtered on the longest segment name a client may send stores its month-end rows:
"sales:segment:<64 characters>" is 78 characters (PostgreSQL refused it at 72: a 500, found by the
fuzzer)."""
from __future__ import annotations

import datetime as dt

API = "/api/v1"
LONGEST = "0" * 64  # reports.Segment: max_length=64


def test_reports_on_the_longest_segment_answer(client, keys, app):
    app.state.today = dt.date(2026, 11, 20)
    body = {"customers": [{"customer_id": "C1", "name": "Client Un", "segment": LONGEST}],
            "invoices": [{"invoice_id": "I1", "customer_id": "C1", "issue_date": "2025-03-10",
                          "due_date": "2025-04-09", "amount": "1200.00"}]}
    assert client.post(f"{API}/ingest", json=body, headers=keys["billing"]).status_code == 200
    for report in ("kpis", "dso"):
        answer = client.get(f"{API}/reports/{report}", params={"segment": LONGEST, "as_of": "2026-11-20"},
                            headers=keys["analyst"])
        assert answer.status_code == 200, (report, answer.text)

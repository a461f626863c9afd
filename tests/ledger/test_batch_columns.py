"""A large batch validated a column at a time (`ledger.schemas.IngestBatch._by_columns`) gives
exactly what the plain schemas give: the same records, the same fields set, the same errors."""
from __future__ import annotations

import copy
import random

import pytest
from pydantic import ValidationError

from ledger import schemas
from ledger.schemas import IngestBatch


def _batch(rng: random.Random, n: int = 60) -> dict:
    invoices, payments = [], []
    for i in range(n):
        year, month, day = rng.randint(2019, 2026), rng.randint(1, 12), rng.randint(1, 28)
        row = {"invoice_id": f"F{i}", "customer_id": f"C{i % 7}", "issue_date": f"{year}-{month:02d}-{day:02d}",
               "due_date": f"{year + 1}-{month:02d}-{day:02d}",
               "amount": rng.choice([f"{rng.randint(1, 99999)}.{rng.randint(0, 99):02d}", str(rng.randint(1, 900)),
                                     rng.randint(1, 900), f"{rng.randint(1, 50)}.5", "0.01"])}
        if rng.random() < 0.3:
            row["currency"] = rng.choice(["EUR", "usd", "GBP"])
        if rng.random() < 0.2:
            row["kind"] = "credit_note"
            if rng.random() < 0.5:
                row["applies_to"] = f"F{rng.randint(0, n)}"
        elif rng.random() < 0.2:
            row["kind"] = "invoice"
            row["applies_to"] = None
        if rng.random() < 0.1:
            row["note"] = "extra fields are ignored"
        invoices.append(row)
        if rng.random() < 0.7:
            payment = {"payment_id": f"P{i}", "customer_id": row["customer_id"], "paid_on": row["due_date"],
                       "amount": row["amount"]}
            if rng.random() < 0.5:
                payment["invoice_id"] = row["invoice_id"] if rng.random() < 0.9 else None
            payments.append(payment)
    return {"customers": [{"customer_id": f"C{c}", "name": f"Client {c}"} for c in range(7)],
            "invoices": invoices, "payments": payments}


# each breaks one value: some the plain schemas refuse, some they accept after converting
BREAKS = [
    ("invoices", "invoice_id", " F1 "), ("invoices", "invoice_id", ""), ("invoices", "invoice_id", "F\x00"),
    ("invoices", "invoice_id", "x" * 65), ("invoices", "invoice_id", 12), ("invoices", "invoice_id", None),
    ("invoices", "customer_id", "C\u200b\ud800"), ("invoices", "issue_date", "1899-12-31"),
    ("invoices", "issue_date", "2024-02-30"), ("invoices", "issue_date", "2024-01-01T00:00:00"),
    ("invoices", "due_date", "2000-01-01"), ("invoices", "due_date", "2200-01-01"),
    ("invoices", "amount", "0"), ("invoices", "amount", "-5"), ("invoices", "amount", "1.005"),
    ("invoices", "amount", 12.5), ("invoices", "amount", "1e3"), ("invoices", "amount", " 12.50 "),
    ("invoices", "amount", "1" * 17), ("invoices", "amount", True), ("invoices", "amount", "NaN"),
    ("invoices", "currency", "XXY"), ("invoices", "currency", " eur "), ("invoices", "currency", None),
    ("invoices", "kind", "refund"), ("invoices", "kind", " invoice"), ("invoices", "applies_to", "F1"),
    ("payments", "paid_on", "1800-01-01"), ("payments", "paid_on", 20240101), ("payments", "amount", "0.00"),
    ("payments", "invoice_id", "\tF1"), ("payments", "payment_id", "P\x7f"), ("payments", "currency", "usd"),
]


def _validate(body: dict, *, columns: bool, monkeypatch) -> tuple[str, object]:
    monkeypatch.setattr(schemas, "COLUMNS_MIN", 1 if columns else 10 ** 9)
    try:
        batch = IngestBatch.model_validate(copy.deepcopy(body))
    except ValidationError as exc:
        return "errors", exc.errors(include_url=False, include_context=False)
    return "batch", (batch, batch.model_fields_set,
                     [(r.model_fields_set, str(r.amount), type(r)) for r in batch.invoices + batch.payments])


@pytest.mark.parametrize("seed", range(6))
def test_a_valid_batch_by_columns_equals_the_plain_schemas(seed, monkeypatch):
    body = _batch(random.Random(seed))
    by_columns = _validate(body, columns=True, monkeypatch=monkeypatch)
    assert by_columns[0] == "batch"
    assert by_columns == _validate(body, columns=False, monkeypatch=monkeypatch)
    # and the columns did the work (no silent fall back to the plain schemas)
    assert schemas.column_records(schemas.InvoiceIn, body["invoices"]) == by_columns[1][0].invoices
    assert schemas.column_records(schemas.PaymentIn, body["payments"]) == by_columns[1][0].payments


@pytest.mark.parametrize(("table", "field", "value"), BREAKS)
def test_a_broken_value_gets_the_plain_schemas_answer(table, field, value, monkeypatch):
    body = _batch(random.Random(len(BREAKS)))
    target = body[table][len(body[table]) // 2]
    target[field] = value
    if field == "applies_to":
        target["kind"] = "invoice"
    assert _validate(body, columns=True, monkeypatch=monkeypatch) == _validate(body, columns=False,
                                                                               monkeypatch=monkeypatch)


@pytest.mark.parametrize("body", [
    {"invoices": [{"invoice_id": "F1"}, "not a record"], "payments": []},
    {"invoices": "not a list", "payments": []},
    {"customers": [{"customer_id": " "}], "invoices": [], "payments": []},
    {"invoices": [], "payments": [], "disputes": [{"dispute_id": "D1"}]},
    ["not", "a", "batch"],
])
def test_odd_shapes_get_the_plain_schemas_answer(body, monkeypatch):
    assert _validate(body, columns=True, monkeypatch=monkeypatch) == _validate(body, columns=False,
                                                                               monkeypatch=monkeypatch)


def test_a_missing_field_and_a_missing_key(monkeypatch):
    body = _batch(random.Random(1))
    del body["invoices"][3]["due_date"]
    del body["payments"]
    assert _validate(body, columns=True, monkeypatch=monkeypatch) == _validate(body, columns=False,
                                                                               monkeypatch=monkeypatch)

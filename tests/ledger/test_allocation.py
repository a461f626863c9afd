"""Allocation rules, on hand-built customers (pure functions, no database)."""
import datetime as dt
from decimal import Decimal as D

from ledger.allocation import CreditLine, InvoiceLine, allocate


def inv(i, issue, due, amount):
    return InvoiceLine(i, dt.date.fromisoformat(issue), dt.date.fromisoformat(due), D(amount))


def pay(i, on, amount, invoice=None, kind="payment"):
    return CreditLine(kind, i, dt.date.fromisoformat(on), D(amount), invoice)


def test_unallocated_payment_goes_to_oldest_due_first():
    result = allocate([inv("B", "2024-02-01", "2024-03-01", "50"), inv("A", "2024-01-01", "2024-02-01", "100")],
                      [pay("P", "2024-03-10", "120")])
    assert result.open_amount == {"A": D("0"), "B": D("30")}
    assert result.settled_on == {"A": dt.date(2024, 3, 10), "B": None}
    assert result.credit_balance == D("0")


def test_partial_payments_settle_on_the_day_the_last_one_covers_the_amount():
    result = allocate([inv("A", "2024-01-01", "2024-01-31", "100")],
                      [pay("P1", "2024-02-05", "40", "A"), pay("P2", "2024-02-20", "60", "A")])
    assert result.settled_on["A"] == dt.date(2024, 2, 20)
    assert [a.amount for a in result.allocations] == [D("40"), D("60")]


def test_overpayment_is_kept_as_customer_credit_and_used_by_the_next_invoice():
    result = allocate([inv("A", "2024-01-01", "2024-01-31", "100"), inv("B", "2024-03-01", "2024-03-31", "30")],
                      [pay("P", "2024-02-01", "150", "A")])
    assert result.settled_on["A"] == dt.date(2024, 2, 1)
    # the 50 of credit pays B the day B is issued
    assert result.settled_on["B"] == dt.date(2024, 3, 1)
    assert result.credit_balance == D("20")
    assert result.unallocated[("payment", "P")] == D("20")


def test_credit_note_reduces_the_balance():
    result = allocate([inv("A", "2024-01-01", "2024-01-31", "100")],
                      [pay("CN1", "2024-01-15", "30", kind="credit_note"), pay("P", "2024-02-10", "70", "A")])
    assert result.open_amount["A"] == D("0")
    assert result.settled_on["A"] == dt.date(2024, 2, 10)


def test_directed_payment_goes_to_its_invoice_not_the_oldest():
    result = allocate([inv("A", "2024-01-01", "2024-01-31", "100"), inv("B", "2024-01-10", "2024-02-10", "80")],
                      [pay("P", "2024-02-01", "80", "B")])
    assert result.open_amount == {"A": D("100"), "B": D("0")}


def test_order_of_input_does_not_change_the_result():
    invoices = [inv(f"I{i}", f"2024-01-{i + 1:02d}", f"2024-02-{i + 1:02d}", "10") for i in range(9)]
    credits = [pay(f"P{i}", f"2024-02-{i + 10:02d}", "7") for i in range(9)]
    first = allocate(invoices, credits)
    second = allocate(list(reversed(invoices)), list(reversed(credits)))
    assert first.settled_on == second.settled_on
    assert first.open_amount == second.open_amount
    assert sum(a.amount for a in first.allocations) + first.credit_balance == D("63")


def linked(i, on, amount, links=(), hold=False, kind="payment", invoice=None):
    return CreditLine(kind, i, dt.date.fromisoformat(on), D(amount), invoice,
                      tuple((target, None if share is None else D(share)) for target, share in links), hold)


def test_links_come_before_an_earlier_credit_paying_oldest_first():
    # P1 (Feb, unlinked) would pay A, the oldest; P2 (Mar) is linked to A: A is P2's, P1 pays B
    result = allocate([inv("A", "2024-01-01", "2024-01-31", "100"), inv("B", "2024-01-15", "2024-02-15", "100")],
                      [pay("P1", "2024-02-01", "100"), linked("P2", "2024-03-01", "100", [("A", None)])])
    assert {(a.invoice_id, a.source_id): a.amount for a in result.allocations} == {
        ("A", "P2"): D("100"), ("B", "P1"): D("100")}
    assert result.settled_on == {"A": dt.date(2024, 3, 1), "B": dt.date(2024, 2, 1)}


def test_a_held_credit_keeps_what_its_links_leave_and_invariants_hold():
    invoices = [inv("A", "2024-01-01", "2024-01-31", "100"), inv("B", "2024-01-02", "2024-02-01", "80")]
    credits = [linked("P", "2024-02-01", "150", [("A", "60"), ("B", None), ("ELSEWHERE", "10")], hold=True),
               linked("N", "2024-02-02", "30", [("A", "90")], kind="credit_note")]
    result = allocate(invoices, credits)
    # P: 60 to A, 80 to B (as much as B needs), the link to another customer's invoice ignored,
    # 10 kept; N: 30 to A (its link asks 90: capped by what N has and what A still owes = 40)
    assert {(a.invoice_id, a.source_id): a.amount for a in result.allocations} == {
        ("A", "P"): D("60"), ("B", "P"): D("80"), ("A", "N"): D("30")}
    assert result.unallocated == {("payment", "P"): D("10"), ("credit_note", "N"): D("0")}
    assert result.open_amount == {"A": D("10"), "B": D("0")}
    for source in ("P", "N"):
        amount = next(c.amount for c in credits if c.source_id == source)
        assert sum(a.amount for a in result.allocations if a.source_id == source) <= amount


def test_a_link_and_a_named_invoice_to_the_same_pair_make_one_allocation():
    result = allocate([inv("A", "2024-01-01", "2024-01-31", "100")],
                      [linked("P", "2024-02-01", "100", [("A", "40")], invoice="A")])
    assert [(a.invoice_id, a.amount) for a in result.allocations] == [("A", D("100"))]
    assert result.settled_on["A"] == dt.date(2024, 2, 1)

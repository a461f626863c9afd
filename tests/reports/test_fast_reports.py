"""The faster report paths are only ever the fresh computation's answer, after random writes that
touch old months (both backends): daily sales kept per closed month (`sales:` snapshots), the
period's opening receivables moved from the previous month end's snapshot (and kept as a `total:`
snapshot), the ledger's currencies
read through an index, and the whole KPI report and DSO trend built on them against the same
reports computed with every snapshot out of play."""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import text
from sqlmodel import Session

from ledger import forecast, kpi_receivables, kpis, snapshots
from tests.reports.test_snapshots import _ingest, _random_batch

AS_OF = dt.date(2025, 12, 20)


def _lens() -> kpis.Lens:
    return kpis.Lens(currency="EUR", rates={"EUR": Decimal(1), "GBP": Decimal("1.17"), "USD": Decimal("0.91")})


def _fresh(monkeypatch, compute):
    """`compute()` with no snapshot read or written: every figure straight from the ledger."""
    with monkeypatch.context() as patch:
        patch.setattr(snapshots, "usable", lambda session: False)
        return compute()


def _cents(amounts: dict) -> dict:
    return {k: Decimal(str(v)).quantize(Decimal("0.01")) for k, v in amounts.items() if v}


@pytest.mark.parametrize("seed", [3, 4])
def test_after_random_writes_the_fast_paths_equal_a_fresh_computation(db, monkeypatch, seed):
    rng = random.Random(seed)
    invoices: list = []
    for round_ in range(5):
        _ingest(db, _random_batch(rng, round_, invoices))
        days = [dt.date(2025, 1, 1) + dt.timedelta(days=rng.randint(0, 360)) for _ in range(4)]
        for segment in (None, "pme"):
            with Session(db) as session:
                # currencies through the index = the plain DISTINCT
                plain = sorted(r[0] for r in session.execute(text(
                    "SELECT DISTINCT i.currency FROM invoice i" + (
                        " JOIN customer c ON c.customer_id = i.customer_id WHERE c.segment = :s"
                        if segment else "")), {"s": segment}))
                assert kpis.ledger_currencies(session=session, segment=segment) == plain
                # daily sales over ragged and whole months
                for start, end in ((dt.date(2025, 1, 1), AS_OF), (days[0], max(days[1], days[0]))):
                    through = kpi_receivables._sales_rows(session, start, end, segment)
                    fresh = kpi_receivables._sales_fresh(session, start, end, segment)
                    assert _cents({(kpi_receivables._to_date(d), c): v for d, c, v in through}) == _cents(
                        {(kpi_receivables._to_date(d), c): v for d, c, v, _ in fresh}), (seed, round_, segment)
                # opening receivables of any day, moved from the month end before it
                for day in days:
                    moved = _cents(kpi_receivables._receivables_by_currency(session, day, segment))
                    raw = kpi_receivables._receivables_fresh(session, [day], segment)
                    total: dict[str, Decimal] = {}
                    for _, amounts in raw.values():
                        for currency, amount in amounts.items():
                            total[currency] = total.get(currency, Decimal(0)) + Decimal(str(amount))
                    assert moved == _cents(total), (seed, round_, segment, day)
                    # and read back from its "total:" snapshot (kept by the first call), the same
                    again = _cents(kpi_receivables._receivables_by_currency(session, day, segment))
                    assert again == moved, (seed, round_, segment, day)

            def reports(segment=segment):
                with Session(db) as session:
                    lens = _lens()
                    return (kpis.kpis(session=session, as_of=AS_OF, segment=segment, lens=lens),
                            kpis.dso(session=session, as_of=AS_OF, segment=segment, lens=lens),
                            kpis.kpis(session=session, as_of=AS_OF, segment=segment),
                            forecast.cash_forecast(session=session, as_of=AS_OF, segment=segment))

            assert reports() == _fresh(monkeypatch, reports), (seed, round_, segment)
    with db.connect() as connection:  # the fast paths did keep something to be fast with
        kinds = {r[0] for r in connection.execute(text("SELECT DISTINCT scope FROM receivablesnapshot"))}
    assert {"*", "sales:*", "segment:pme", "sales:segment:pme", "total:*", "total:segment:pme"} <= kinds


# --- the forecast: the same numbers as the path that brought every payer history to pandas --------

def _reference_frame(session, as_of, segment, predicted):
    """The forecast's frame as it was built before: every open invoice and every payer's history
    brought to pandas, μ and σ fitted there."""
    from ledger.kpi_receivables import _money, _open_at, _sql, _to_date
    from ledger.schemas import in_date_range

    [(cte, params)] = _open_at(session, [as_of], segment)
    rows = session.execute(text(f"WITH {cte} SELECT invoice_id, customer_id, currency, due_date, open_amount "
                                f"FROM open_at WHERE open_amount > 0"), params).all()
    open_ = pd.DataFrame(rows, columns=["invoice_id", "customer_id", "currency", "due_date", "open_amount"])
    due = open_["due_date"].map(_to_date)
    kept = due.map(in_date_range).astype(bool)
    open_, due = open_.loc[kept].copy(), due.loc[kept]
    open_["due_date"] = pd.to_datetime(due)
    # the former Decimal amounts, as the integer cents the frame now carries
    open_["open_amount"] = open_["open_amount"].map(lambda v: int(_money(v) * 100)).astype("int64")
    open_ = open_.rename(columns={"open_amount": "cents"})
    sql = _sql(session)
    late = sql.days("i.settled_on", "i.due_date")
    history = pd.DataFrame(session.execute(text(f"""SELECT i.customer_id, COUNT(*), SUM({late}), SUM({late} * {late})
    FROM invoice i WHERE i.kind = 'invoice' AND i.settled_on > {sql.date('since')}
      AND i.settled_on <= {sql.date('as_of')}{sql.segment('i', segment)} GROUP BY i.customer_id"""),
        {"as_of": sql.param(as_of), "since": sql.param(as_of - dt.timedelta(days=forecast.HISTORY_DAYS)),
         "segment": segment}).all(), columns=["customer_id", "n", "s", "ss"]).astype(
        {"n": float, "s": float, "ss": float})
    payers, mu_all, sigma_all = forecast._spread(history)
    return forecast._expected_days(open_, payers, mu_all, sigma_all, as_of, predicted)


def _reference_weekly(frame, column, weeks, lens):
    """The former weekly sums: a Decimal per invoice, added per week and currency."""
    amounts = frame["cents"].map(lambda c: Decimal(int(c)) / 100)
    week = ((frame[column] - 1) // 7).astype(int).clip(upper=weeks)
    per: dict[int, dict[str, Decimal]] = {}
    for (k, currency), group in amounts.groupby([week, frame["currency"]]):
        per.setdefault(int(k), {})[currency] = sum(group, Decimal(0))
    return [lens.money(per.get(k, {})) for k in range(weeks + 1)]


def _by_invoice(frame):
    return frame.sort_values("invoice_id").reset_index(drop=True)


@pytest.mark.parametrize("seed", [5, 6])
def test_after_random_writes_the_forecast_is_the_one_computed_in_pandas(db, monkeypatch, seed):
    rng = random.Random(seed)
    invoices: list = []
    for round_ in range(4):
        _ingest(db, _random_batch(rng, round_, invoices))
        as_of = dt.date(2025, 3, 1) + dt.timedelta(days=rng.randint(0, 300))
        with Session(db) as session:
            open_ids = [r[0] for r in session.execute(text("SELECT invoice_id FROM invoice WHERE settled_on IS NULL"))]
        predicted = pd.DataFrame({"invoice_id": open_ids[::2],
                                  "expected_days_late": [rng.uniform(-5, 40) for _ in open_ids[::2]]})
        weekly = predicted.assign(**{f"w{k}": 0.05 for k in range(1, 14)}, later=0.35)
        for segment in (None, "pme"):
            for model in (None, predicted, weekly):
                with Session(db) as session:
                    fast = forecast._frame(session, as_of, segment, model)
                    slow = _reference_frame(session, as_of, segment, model)
                pd.testing.assert_frame_equal(_by_invoice(fast), _by_invoice(slow))

                def run(model=model, segment=segment, as_of=as_of):
                    with Session(db) as session:
                        return forecast.cash_forecast(session=session, as_of=as_of, segment=segment,
                                                      predicted=model, lens=_lens())
                with monkeypatch.context() as patch:
                    patch.setattr(forecast, "_frame", _reference_frame)
                    patch.setattr(forecast, "_weekly", _reference_weekly)
                    reference = run()
                assert run() == reference, (seed, round_, segment)


# --- a ledger in one currency: the shortcuts that skip the currency lookups -----------------------

@pytest.mark.parametrize("seed", [9, 10])
def test_in_a_one_currency_ledger_the_shortcuts_equal_the_general_path(db, monkeypatch, seed):
    """The cash collected without looking up each allocation's invoice, and a segment's currency
    list from one probe, equal the general path's (which joins, and reads the segment's invoices)."""
    rng = random.Random(seed)
    invoices: list = []
    collected: list = []
    for round_ in range(4):
        body = _random_batch(rng, round_, invoices)
        body["customers"] = [dict(c, currency="EUR") for c in body["customers"]] + [
            {"customer_id": "G1", "name": "G1", "segment": "ge"}]  # a segment without invoices
        for record in body["invoices"] + body["payments"]:
            record["currency"] = "EUR"
        _ingest(db, body)
        with Session(db) as session:
            for segment in (None, "pme", "ge", "nobody"):
                plain = sorted(r[0] for r in session.execute(text(
                    "SELECT DISTINCT i.currency FROM invoice i" + (
                        " JOIN customer c ON c.customer_id = i.customer_id WHERE c.segment = :s"
                        if segment else "")), {"s": segment}))
                assert kpis.ledger_currencies(session=session, segment=segment) == plain, (seed, segment)

        def stats(segment):
            with Session(db) as session:
                return kpis.period_stats(session=session, as_of=AS_OF, segment=segment, lens=_lens())

        for segment in (None, "pme"):
            fast = stats(segment)
            with monkeypatch.context() as patch:  # a second currency: the general path, joined
                patch.setattr(kpis, "ledger_currencies", lambda session, segment=None: ["EUR", "ZZZ"])
                general = stats(segment)
            assert fast == general, (seed, round_, segment)
            collected.append(fast.collected)
    assert any(collected)  # the sums compared were not all empty

"""Point-in-time payer-history features, one row per scored invoice.

A row is scored at a time t (its issue date for training, ``as_of`` for serving) and sees only
events of its own customer dated **strictly before t** (``date < t``): an event on day t itself
is not known yet. Within a day the order of events is unknown (an invoice issued in the morning,
a payment booked in the afternoon), so the same-day rule has to pick one side; "not yet known"
is the side that cannot leak the scored invoice's own settlement on its issue day. Serving uses
the same rule, so ``as_of=D`` means "at the start of day D" (pass D + 1 day to include day D).

What "known" means for each event:
- a past invoice's lateness is known once it has settled (``settled_date < t``); an invoice still
  open at t counts in the exposure (open, overdue when ``due_date < t``), never with its eventual
  days late;
- payments (``paid_on``), disputes (``opened_on``), reminders (``sent_on``), promises
  (``closed_on``, kept or broken) count from their own date.

The scored invoice never counts in its own exposure (in training it is issued at t, so would not
anyway; in serving it is excluded so both agree). Scoring an invoice that had already settled
before t is refused: its own lateness would be in its history.

Everything is vectorised: each kind of event becomes a "timeline" sorted by (customer, day) with
cumulative sums; a row's aggregates are two ``searchsorted`` look-ups (where its customer starts,
where t falls) and a difference of cumulative sums. No Python loop runs per invoice or customer.
Values are always finite: anything undefined takes the ``fill`` of :mod:`features.registry`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.families import (
    _behaviour_features,
    _exposure_features,
    _history_features,
    _invoice_features,
    _invoice_state,
    _known_outcomes,
    _payer_habits,
)
from features.registry import FEATURE_COLUMNS, FEATURES
from features.timelines import FeaturesError, _days, _HistoryArrays, _ledger_invoices, _own_rows, _targets
from ledger.frames import LedgerFrames

__all__ = ["FEATURE_COLUMNS", "FeaturesError", "build_features"]


def build_features(
    frames: LedgerFrames,
    *,
    invoices: pd.DataFrame | None = None,
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Features of each invoice, point in time.

    - no ``as_of``: each invoice (``invoices`` or else the ledger's invoices of kind invoice) is
      scored at its own issue date (training rows);
    - ``as_of``: each invoice of ``invoices`` (which may be new, not yet in the ledger) or else
      each ledger invoice issued by ``as_of`` and not settled before it, is scored at ``as_of``;
    - ``invoices`` with a ``scored_at`` column: each row is scored at its own time (the
      time-to-payment rows: one invoice at several ages, see :mod:`features.labels`).

    Returns one row per scored invoice in input order: ``invoice_id``, ``customer_id``,
    ``scored_at`` and the columns of ``FEATURE_COLUMNS`` (all finite floats).
    """
    history = _ledger_invoices(frames.invoices)
    targets = _targets(history, invoices, as_of)
    customers = pd.Index(pd.unique(np.concatenate([
        history["customer_id"].to_numpy(object), targets["customer_id"].to_numpy(object)])))
    h_code = customers.get_indexer(history["customer_id"])
    t_code = customers.get_indexer(targets["customer_id"])
    t_day = _days(targets["scored_at"])
    h = _HistoryArrays.of(history, h_code)
    own = _own_rows(targets, h, t_day)

    # rows sorted by (customer, t) make every searchsorted below walk the timelines in order,
    # which is several times faster than random look-ups; the input order is restored after
    order = np.lexsort((t_day, t_code))
    code, day = t_code[order], t_day[order]
    computed = _history_features(frames, customers, history, h, code, day)
    computed |= _exposure_features(h, own[order], code, day,
                                   targets["amount"].to_numpy(float)[order])
    computed |= _known_outcomes(h, own[order], code, day)
    computed |= _behaviour_features(frames, customers, history, h, code, day)
    computed |= _payer_habits(frames, customers, history, h, code, day,
                              _days(targets["due_date"])[order])
    inverse = np.argsort(order)
    computed = {name: values[inverse] for name, values in computed.items()}
    computed |= _invoice_features(targets)
    computed |= _invoice_state(frames, targets, t_day)

    matrix = np.column_stack([np.asarray(computed[name], dtype=float) for name in FEATURE_COLUMNS])
    fills = np.broadcast_to(np.array([FEATURES[name].fill for name in FEATURE_COLUMNS]),
                            matrix.shape)
    undefined = ~np.isfinite(matrix)
    matrix[undefined] = fills[undefined]
    result = pd.DataFrame(matrix + 0.0, columns=FEATURE_COLUMNS)  # + 0.0 turns -0.0 into 0.0
    for position, column in enumerate(["invoice_id", "customer_id", "scored_at"]):
        result.insert(position, column, targets[column].to_numpy())
    return result

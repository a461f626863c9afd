"""The first-reminder decision as a contextual bandit: its actions, their safety bounds, the rule
policy, the exploring (logging) policy, and the point-in-time features of each decision.

A *decision* is the choice made for an overdue invoice on the day the scenario's first reminder
falls due: which of a few acceptable actions (the *arms*) to take. Later steps (second reminder,
call, firm letter, formal notice) follow the scenario and are never chosen at random.

Hard bounds (``acceptable``): the arms are e-mails, a call or a firm letter only — never a formal
notice or a legal step; the earliest day is the scenario's own (an arm may wait three business
days, never act earlier); key accounts (the gentle scenario) are never sent a firm letter at
random; a call is offered only from a mid-size amount up.

Pure pandas/numpy: the simulator, the uplift model and the off-policy evaluation all read these.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ledger.frames import LedgerFrames
from ledger.policy_history import PayerHistory


@dataclass(frozen=True)
class Arm:
    name: str
    channel: str
    tone: str
    delay_business_days: int = 0


ARMS: tuple[Arm, ...] = (
    Arm("email_courteous", "email", "courteous"),
    Arm("email_neutral", "email", "neutral"),
    Arm("email_courteous_later", "email", "courteous", 3),
    Arm("call", "call", "neutral"),
    Arm("letter_firm", "letter", "firm"),
)
ARM_NAMES: tuple[str, ...] = tuple(arm.name for arm in ARMS)
ARM_INDEX = {name: i for i, name in enumerate(ARM_NAMES)}
# a call is offered from this amount up (mid-size), the rule calls from the scenario's threshold
MID_AMOUNT = 1_000.0
LARGE_AMOUNT = {"standard": 10_000.0, "gentle": 25_000.0}
# the scenario's first reminder, days after due (serving/data/scenarios.json)
FIRST_REMINDER_DAYS = {"standard": 3, "gentle": 7}
# a decision's outcome: paid within this many days of the action
PAID_WITHIN_DAYS = 14
# the share of decisions the exploring policy leaves to the rule's own choice (before the
# uniform share of every acceptable arm, the rule's included)
DEFAULT_EXPLORATION = 0.5

# the features a learned policy or an analyst's rule may read (documented in docs/policy.md)
FEATURES = (
    "amount_log", "terms_days", "is_key_account", "prior_invoices", "prior_mean_days_late",
    "prior_late_share", "email_response_rate", "strong_response_rate", "contacts_30d",
)

Policy = Callable[[pd.DataFrame], np.ndarray]


def acceptable(frame: pd.DataFrame) -> np.ndarray:
    """Boolean matrix (decisions × arms): the arms the policy deems acceptable for each one."""
    n = len(frame)
    mask = np.ones((n, len(ARMS)), dtype=bool)
    gentle = frame["scenario"].to_numpy() == "gentle"
    mask[:, ARM_INDEX["call"]] = frame["amount"].to_numpy() >= MID_AMOUNT
    mask[:, ARM_INDEX["letter_firm"]] = ~gentle
    return mask


def run_allowed(frame: pd.DataFrame) -> np.ndarray:
    """decisions × arms: what the daily run lets a policy choose for a first reminder
    (``serving.exploration.variants``): courteous or neutral e-mail, a courteous one three
    business days later, a call from ``MID_AMOUNT`` up — never a letter; nothing but the
    scenario's call when the scenario calls (large amounts)."""
    own = rule_arm(frame)
    allowed = np.zeros((len(frame), len(ARM_NAMES)), dtype=bool)
    for name in ("email_courteous", "email_neutral", "email_courteous_later"):
        allowed[:, ARM_INDEX[name]] = True
    allowed[:, ARM_INDEX["call"]] = frame["amount"].to_numpy(dtype=float) >= MID_AMOUNT
    calls = own == ARM_INDEX["call"]
    allowed[calls] = False
    allowed[np.arange(len(frame)), own] = True
    return allowed


def rule_arm(frame: pd.DataFrame) -> np.ndarray:
    """The rule policy's arm per decision: the scenario's first step (courteous e-mail on the
    gentle scenario, neutral e-mail on the standard one), a call from the large-amount threshold."""
    gentle = frame["scenario"].to_numpy() == "gentle"
    large = frame["amount"].to_numpy() >= np.where(gentle, LARGE_AMOUNT["gentle"],
                                                   LARGE_AMOUNT["standard"])
    arm = np.where(gentle, ARM_INDEX["email_courteous"], ARM_INDEX["email_neutral"])
    return np.where(large, ARM_INDEX["call"], arm)


def one_hot(arms: np.ndarray) -> np.ndarray:
    out = np.zeros((len(arms), len(ARMS)))
    out[np.arange(len(arms)), arms] = 1.0
    return out


def rule_policy(frame: pd.DataFrame) -> np.ndarray:
    return one_hot(rule_arm(frame))


def exploring_policy(exploration: float = DEFAULT_EXPLORATION) -> Policy:
    """The logging policy: the rule's arm with probability 1 − e, else uniform on the acceptable
    arms. Every acceptable arm has a probability ≥ e / (number acceptable) > 0."""
    if not 0.0 <= exploration <= 1.0:
        raise ValueError(f"exploration must be in [0, 1], got {exploration}")

    def policy(frame: pd.DataFrame) -> np.ndarray:
        mask = acceptable(frame)
        uniform = mask / mask.sum(axis=1, keepdims=True)
        return (1.0 - exploration) * rule_policy(frame) + exploration * uniform

    return policy


def bounded(probabilities: np.ndarray, frame: pd.DataFrame, *, run: bool = False) -> np.ndarray:
    """A policy's probabilities kept within the hard bounds: mass on an unacceptable arm goes to
    the rule's arm. ``run``: within what the daily run lets a policy choose as well, so that an
    evaluation estimates the policy the run would apply, not a freer one."""
    mask = acceptable(frame) & run_allowed(frame) if run else acceptable(frame)
    kept = np.where(mask, probabilities, 0.0)
    lost = 1.0 - kept.sum(axis=1)
    kept[np.arange(len(frame)), rule_arm(frame)] += np.clip(lost, 0.0, None)
    return kept


# --- point-in-time features -----------------------------------------------------------------


@dataclass
class History:
    """What is known of the payers, as events (customer code, day number as int)."""

    settled_code: np.ndarray  # invoices settled: customer, settlement day, days late (≥ 0)
    settled_day: np.ndarray
    settled_days_late: np.ndarray
    decision_code: np.ndarray  # earlier decisions: customer, action day, e-mail?, paid within 14
    decision_day: np.ndarray
    decision_email: np.ndarray
    decision_paid: np.ndarray
    contact_code: np.ndarray  # every reminder sent: customer, day
    contact_day: np.ndarray


EMAIL_ARMS = frozenset({"email_courteous", "email_neutral", "email_courteous_later"})


def decision_features(decisions: pd.DataFrame, codes: np.ndarray, history: History) -> pd.DataFrame:
    """Features of each decision as known at its *cutoff* (the Monday of the decision's week).

    ``decisions`` has decided_on, amount, terms_days, scenario; ``codes`` its customers as the
    integer codes ``history`` uses. Only events strictly before the cutoff count: a decision never
    sees its own outcome, and every decision of a week sees the same history (the simulator
    decides a week at a time).
    """
    out = decisions.copy()
    cutoff = day_numbers(out["decided_on"])
    cutoff = cutoff - (cutoff + 3) % 7  # day 0 (1970-01-01) was a Thursday: back to Monday
    out["amount_log"] = np.log1p(out["amount"].to_numpy(dtype=float))
    out["is_key_account"] = (out["scenario"].to_numpy() == "gentle").astype(float)

    def sums(code, day, values, back=0):
        return _asof_sums(codes, cutoff - back, code, day, values)

    count, days, late = sums(history.settled_code, history.settled_day, [
        np.ones(len(history.settled_code)), history.settled_days_late,
        (history.settled_days_late > 0).astype(float)])
    safe = np.maximum(count, 1.0)
    out["prior_invoices"] = count
    # a payer without history gets NaN (LightGBM's missing), not zeros that read "always on time"
    out["prior_mean_days_late"] = np.where(count > 0, days / safe, np.nan)
    out["prior_late_share"] = np.where(count > 0, late / safe, np.nan)
    known = history.decision_day + PAID_WITHIN_DAYS  # an outcome is known 14 days after the action
    email, paid = history.decision_email.astype(float), history.decision_paid.astype(float)
    e_n, e_paid, s_n, s_paid = sums(history.decision_code, known,
                                    [email, email * paid, 1 - email, (1 - email) * paid])
    out["email_response_rate"] = np.where(e_n > 0, e_paid / np.maximum(e_n, 1), np.nan)
    out["strong_response_rate"] = np.where(s_n > 0, s_paid / np.maximum(s_n, 1), np.nan)
    ones = [np.ones(len(history.contact_code))]
    (now,), (before,) = (sums(history.contact_code, history.contact_day, ones),
                         sums(history.contact_code, history.contact_day, ones, back=30))
    out["contacts_30d"] = now - before
    return out


def day_numbers(values) -> np.ndarray:
    array = values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values)
    if not np.issubdtype(array.dtype, np.datetime64):
        array = pd.to_datetime(pd.Series(array)).to_numpy()
    return array.astype("datetime64[D]").astype(np.int64)


def _asof_sums(codes: np.ndarray, cutoff: np.ndarray, event_code: np.ndarray,
               event_day: np.ndarray, values: list[np.ndarray]) -> list[np.ndarray]:
    """Per decision, the sums of ``values`` over its customer's events strictly before its
    cutoff: one sort of (customer, day) keys and two binary searches, no per-row Python."""
    if len(event_code) == 0:
        return [np.zeros(len(codes)) for _ in values]
    span, shift = np.int64(1 << 32), np.int64(1 << 31)
    keys = np.asarray(event_code, dtype=np.int64) * span + (np.asarray(event_day, np.int64) + shift)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    codes = np.asarray(codes, dtype=np.int64)
    end = np.searchsorted(keys, codes * span + (cutoff + shift), side="left")
    begin = np.searchsorted(keys, codes * span, side="left")
    out = []
    for value in values:
        cumulative = np.concatenate([[0.0], np.cumsum(np.asarray(value, dtype=float)[order])])
        out.append(cumulative[end] - cumulative[begin])
    return out


def logged_dataset(frames: LedgerFrames, actions: pd.DataFrame) -> pd.DataFrame:
    """The logged decisions of a ledger with their features and outcomes.

    ``actions``: action_id, invoice_id, customer_id, decided_on, sent_on, arm, propensity
    (``actions.csv`` of a simulator ledger). Outcomes from the ledger's settlements:
    ``paid_14`` (paid within 14 days of the decision) and ``days_60`` (days from the decision to
    payment, counted up to 60); ``known_14`` / ``known_60`` say whether ``as_of`` is late enough
    to know them.
    """
    invoices, reminders, as_of = frames.invoices, frames.reminders, frames.as_of
    invoices = invoices[invoices["kind"] == "invoice"]
    customers = frames.customers.set_index("customer_id")
    actions = actions.copy()
    actions["scenario"] = actions["customer_id"].map(customers["dunning_scenario"])
    actions["terms_days"] = actions["customer_id"].map(customers["payment_terms_days"]).astype(float)
    invoice = invoices.set_index("invoice_id")
    settled = actions["invoice_id"].map(invoice["settled_date"])
    actions["amount"] = actions["invoice_id"].map(invoice["amount"]).astype(float)
    decided = day_numbers(actions["decided_on"])
    pay = np.where(settled.notna(), day_numbers(settled.fillna(pd.Timestamp(0))), np.iinfo(np.int64).max // 4)
    horizon = int(day_numbers(pd.Series([as_of]))[0])
    actions["paid_14"] = (pay <= decided + PAID_WITHIN_DAYS).astype(int)
    actions["days_60"] = np.minimum(pay - decided, 60).astype(float)
    actions["known_14"] = decided + PAID_WITHIN_DAYS <= horizon
    actions["known_60"] = (decided + 60 <= horizon) | (pay <= horizon)
    codes, uniques = pd.factorize(pd.concat([actions["customer_id"], invoices["customer_id"],
                                             reminders["customer_id"]], ignore_index=True))
    n_a, n_i = len(actions), len(invoices)
    done = invoices["settled_date"].notna().to_numpy()
    settled_days = day_numbers(invoices["settled_date"].fillna(pd.Timestamp(0)))
    history = History(
        settled_code=codes[n_a:n_a + n_i][done], settled_day=settled_days[done],
        settled_days_late=np.maximum(settled_days - day_numbers(invoices["due_date"]), 0)[done],
        decision_code=codes[:n_a], decision_day=day_numbers(actions["sent_on"]),
        decision_email=actions["arm"].isin(EMAIL_ARMS).to_numpy(),
        decision_paid=actions["paid_14"].to_numpy(),
        contact_code=codes[n_a + n_i:], contact_day=day_numbers(reminders["sent_on"]),
    )
    return decision_features(actions, codes[:n_a], history)


def ledger_features(decisions: pd.DataFrame, history: PayerHistory) -> pd.DataFrame:
    """``decision_features`` of decisions taken on the ledger (the daily run), from what the
    ledger database knows of their payers (``ledger.policy_history``): the same features, read
    the same way, as the evaluation reads from a ledger directory's logs.

    ``decisions``: customer_id, decided_on, amount, terms_days, scenario. A *decision* of the
    past is an invoice's first contact after its due date (the first reminder: the decision the
    policy learns), paid within 14 days when the invoice was settled by then."""
    customers = pd.Index(pd.unique(pd.concat([
        decisions["customer_id"], pd.Series([row[0] for row in history.settled], dtype=object),
        pd.Series([row[0] for row in history.contacts], dtype=object)], ignore_index=True)))

    def code(values) -> np.ndarray:
        return customers.get_indexer(pd.Index(list(values), dtype=object)).astype(np.int64)

    def days(values) -> np.ndarray:
        return np.array(list(values), dtype="datetime64[D]").astype(np.int64)

    settled = history.settled
    settled_day, due_day = days(r[2] for r in settled), days(r[1] for r in settled)
    # invoice → its first contact after due: (customer, decision day, contact day, e-mail?); the
    # decision's day is the scenario's first-reminder day (a reminder sent three business days
    # later was decided then: its outcome counts from that day, as in the logs)
    scenario_of = dict(zip(decisions["customer_id"], decisions["scenario"], strict=False))
    first: dict[str, tuple[str, int, int, bool]] = {}
    for customer_id, invoice_id, on, channel in history.contacts:  # oldest first
        due, _ = history.contacted.get(invoice_id, (None, None))
        if invoice_id in first or due is None or not on > due:
            continue
        offset = FIRST_REMINDER_DAYS.get(scenario_of.get(customer_id, ""), FIRST_REMINDER_DAYS["standard"])
        scheduled = np.busday_offset(np.datetime64(due + dt.timedelta(days=offset), "D"), 0, roll="forward")
        contact = int(np.datetime64(on, "D").astype(np.int64))
        first[invoice_id] = (customer_id, min(contact, int(scheduled.astype(np.int64))), contact,
                             channel == "email")
    paid = [history.contacted[i][1] is not None and
            int(np.datetime64(history.contacted[i][1], "D").astype(np.int64)) <= decided + PAID_WITHIN_DAYS
            for i, (_, decided, _, _) in first.items()]
    built = History(
        settled_code=code(r[0] for r in settled), settled_day=settled_day,
        settled_days_late=np.maximum(settled_day - due_day, 0),
        decision_code=code(v[0] for v in first.values()),
        decision_day=np.array([v[2] for v in first.values()], dtype=np.int64),
        decision_email=np.array([v[3] for v in first.values()], dtype=bool),
        decision_paid=np.array(paid, dtype=bool),
        contact_code=code(r[0] for r in history.contacts),
        contact_day=days(r[2] for r in history.contacts),
    )
    return decision_features(decisions, code(decisions["customer_id"]), built)

"""A synthetic ledger where reminders matter, and its replay under another policy.

``features.synth`` draws when each invoice is paid before any reminder is sent, so nothing can be
learned from its logs about which reminder works. Here each payer has a *type* that answers the
first reminder's channel, tone and timing differently (``RESPONSE``):

forgetful       pays soon after any courteous e-mail (less often after a neutral or firm one);
                left alone, pays 25 to 60 days late.
cash_strapped   ignores e-mails; answers a call or a firm letter; left alone, 50 to 110 days late.
key_account     the enterprise segment, on the gentle scenario: answers a firm letter early, at a
                relationship cost — a third of its invoices of the following year are never
                issued (``RELATIONSHIP_COST``).
indifferent     pays 6 to 25 days late whatever is sent.
on_time         pays by the due date; the few late ones answer any reminder.

Reminders tire: the chance that the first reminder works is multiplied by
``FATIGUE ** contacts`` (contacts with the payer in the 30 days before it).

Every random draw (natural delay, the uniform that says whether a step works, the response lag,
the draw that picks an arm, a relationship's losses) is made per invoice before any decision, from
the seed. So the same seed replayed with another policy ("what would have happened") differs only
where the policy's choices make it differ — common random numbers.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features import synth
from features.decisions import (
    ARM_NAMES,
    ARMS,
    DEFAULT_EXPLORATION,
    FIRST_REMINDER_DAYS,
    PAID_WITHIN_DAYS,
    History,
    Policy,
    acceptable,
    decision_features,
    exploring_policy,
    rule_arm,
)
from ledger.frames import LedgerFrames, write_ledger_dir

TYPES = ("on_time", "forgetful", "cash_strapped", "indifferent", "key_account")
TYPE_WEIGHTS = (0.25, 0.30, 0.27, 0.18)  # every segment but enterprise (key accounts)
# P(the step makes the payer pay within its lag), by payer type and channel/tone
RESPONSE: dict[str, dict[str, float]] = {
    "on_time": {"email_courteous": .6, "email_neutral": .6, "call": .6, "letter_firm": .6,
                "formal_notice": .8},
    "forgetful": {"email_courteous": .9, "email_neutral": .35, "call": .6, "letter_firm": .25,
                  "formal_notice": .9},
    "cash_strapped": {"email_courteous": .03, "email_neutral": .05, "call": .7, "letter_firm": .6,
                      "formal_notice": .4},
    "indifferent": {"email_courteous": .1, "email_neutral": .1, "call": .15, "letter_firm": .15,
                    "formal_notice": .3},
    "key_account": {"email_courteous": .2, "email_neutral": .25, "call": .55, "letter_firm": .85,
                    "formal_notice": .6},
}
# the scenario's later steps, days after the first reminder's decision (scenarios.json offsets)
FOLLOW_UPS: dict[str, tuple[tuple[int, str, str], ...]] = {
    "standard": ((7, "email", "neutral"), (17, "letter", "firm"), (27, "formal_notice", "formal")),
    "gentle": ((13, "email", "neutral"), (28, "call", "neutral"), (43, "letter", "firm"),
               (58, "formal_notice", "formal")),
}
FATIGUE = 0.85
RELATIONSHIP_COST = 0.35  # share of the key account's next-year invoices lost after a firm letter
EARLY_FIRM_DAYS = 21  # a firm tone this soon after the due date costs the relationship
STEPS = 5


@dataclass(frozen=True)
class SimulationParams:
    """Everything a replay needs: written to ``simulation.json`` beside the ledger."""

    customers: int = 300
    months: int = 24
    seed: int = 0
    start: str = "2024-01-01"
    exploration: float = DEFAULT_EXPLORATION

    @classmethod
    def read(cls, directory: Path | str) -> SimulationParams:
        data = json.loads((Path(directory) / "simulation.json").read_text(encoding="utf-8"))
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})

    def write(self, directory: Path | str, *, as_of: pd.Timestamp) -> None:
        data = {**asdict(self), "as_of": as_of.date().isoformat(), "generator": "reminder_effects"}
        (Path(directory) / "simulation.json").write_text(json.dumps(data, indent=2), encoding="utf-8")


@dataclass
class World:
    """The policy-independent draws of a simulation."""

    params: SimulationParams
    customers: pd.DataFrame  # the ledger's customers frame, plus payer_type
    inv: dict[str, np.ndarray]
    as_of: int


def build_world(params: SimulationParams) -> World:
    rng = np.random.default_rng(params.seed)
    start_month = np.datetime64(pd.Timestamp(params.start).date(), "M")
    cust = synth._customers(rng, params.customers, params.months)
    inv = synth._invoices(rng, cust, params.months, start_month)
    customers = synth._customer_frame(rng, cust).drop(columns=["behaviour"])
    draw = np.random.default_rng([params.seed, 21])
    key = cust["segment"] == 3
    kind = draw.choice(len(TYPE_WEIGHTS), size=len(key), p=TYPE_WEIGHTS)
    customers["payer_type"] = np.where(key, "key_account", np.array(TYPES)[kind])
    c = inv["c"]
    ptype = customers["payer_type"].to_numpy()[c]
    size = len(c)
    natural = _natural_delay(draw, ptype, size)
    lag_hi = np.where(ptype == "cash_strapped", 9, np.where(ptype == "forgetful", 4, 6))
    scenario = customers["dunning_scenario"].to_numpy()[c]
    offset = np.where(scenario == "gentle", FIRST_REMINDER_DAYS["gentle"],
                      FIRST_REMINDER_DAYS["standard"])
    inv.update({
        "type": ptype, "scenario": scenario, "natural": inv["due"] + natural,
        "decide": _business_day(inv["due"] + offset),
        "u": draw.random((size, STEPS)), "lag": draw.integers(1, lag_hi[:, None], (size, STEPS)),
        "u_drop": draw.random(size), "u_pick": draw.random(size),
        "id": synth._ids("F", size, 8),
    })
    end_day = synth._day((start_month + params.months).astype("datetime64[D]")) - 1
    return World(params, customers, inv, int(end_day))


def _natural_delay(rng: np.random.Generator, ptype: np.ndarray, size: int) -> np.ndarray:
    """Days late with no reminder at all (negative: paid before the due date)."""
    early = -rng.integers(0, 6, size)
    slightly_late = np.where(rng.random(size) < 0.12, 1 + rng.geometric(0.2, size), early)
    delay = {
        "on_time": slightly_late,
        "forgetful": 25 + rng.gamma(2.0, 8.0, size),
        "cash_strapped": 50 + rng.gamma(2.0, 15.0, size),
        "indifferent": 6 + rng.gamma(2.0, 5.0, size),
        "key_account": 35 + rng.gamma(2.0, 12.0, size),
    }
    out = np.zeros(size)
    for name, values in delay.items():
        out = np.where(ptype == name, values, out)
    return np.round(out).astype(np.int64)


def _business_day(days: np.ndarray, offset: int = 0) -> np.ndarray:
    dates = np.asarray(days).astype("datetime64[D]")
    return np.busday_offset(dates, offset, roll="forward").astype(np.int64)


# --- the simulation -------------------------------------------------------------------------


@dataclass
class Simulation:
    decisions: pd.DataFrame  # one row per decision, with its truth
    contacts: pd.DataFrame  # every reminder sent: invoice, customer, day, channel, tone, step
    pay_day: np.ndarray  # per invoice (day number)
    dropped: np.ndarray  # per invoice: never issued (relationship cost)
    world: World


def simulate(world: World, policy: Policy, *, candidate: Policy | None = None,
             switch_on: pd.Timestamp | None = None) -> Simulation:
    """Run the year(s) forward: ``policy`` decides, then ``candidate`` from ``switch_on`` on."""
    inv = world.inv
    state = _State(len(inv["c"]), world)
    switch = None if switch_on is None else int(synth._day(np.datetime64(switch_on.date(), "D")))
    weeks = (inv["decide"] + 3) // 7  # 1970-01-01 was a Thursday: weeks start on Mondays
    order = np.lexsort((np.arange(len(weeks)), inv["decide"]))
    for week in np.unique(weeks):
        idx = order[weeks[order] == week]
        idx = idx[~state.dropped[idx]]
        decide = idx[inv["natural"][idx] >= inv["decide"][idx]]
        if len(decide) == 0:
            continue
        frame = state.decision_frame(decide)
        use_candidate = switch is not None and candidate is not None and week * 7 - 3 >= switch
        probabilities = (candidate if use_candidate else policy)(frame)
        rules, masks = rule_arm(frame), acceptable(frame)
        for row, i in enumerate(decide):
            state.act(i, probabilities[row], int(rules[row]), masks[row])
    return state.result()


class _State:
    def __init__(self, size: int, world: World):
        self.world = world
        inv = world.inv
        self.dropped = np.zeros(size, dtype=bool)
        # invoices paid before their first reminder are paid whatever the policy
        self.pay_day = np.where(inv["natural"] < inv["decide"], inv["natural"], -1)
        self.contacts: dict[int, list[int]] = {}
        # (customer, day) of every contact; (customer, action day, e-mail?, paid within 14)
        self.contact_log: list[tuple[int, int]] = []
        self.decision_log: list[tuple[int, int, int, int]] = []
        self.contact_rows: list[tuple] = []
        self.decision_rows: list[dict] = []
        customers = world.customers
        self.customer_ids = customers["customer_id"].to_numpy()
        self.terms = customers["payment_terms_days"].to_numpy()

    def decision_frame(self, idx: np.ndarray) -> pd.DataFrame:
        inv = self.world.inv
        c = inv["c"][idx]
        decisions = pd.DataFrame({
            "customer_id": self.customer_ids[c], "invoice_id": inv["id"][idx],
            "decided_on": synth._to_datetime(inv["decide"][idx]),
            "amount": inv["amount"][idx], "terms_days": self.terms[c].astype(float),
            "scenario": inv["scenario"][idx],
        })
        known = np.flatnonzero((self.pay_day >= 0) & ~self.dropped)
        decided = np.array(self.decision_log, dtype=np.int64).reshape(-1, 4)
        contacts = np.array(self.contact_log, dtype=np.int64).reshape(-1, 2)
        history = History(
            settled_code=inv["c"][known], settled_day=self.pay_day[known],
            settled_days_late=np.maximum(self.pay_day[known] - inv["due"][known], 0),
            decision_code=decided[:, 0], decision_day=decided[:, 1],
            decision_email=decided[:, 2], decision_paid=decided[:, 3],
            contact_code=contacts[:, 0], contact_day=contacts[:, 1],
        )
        return decision_features(decisions, c, history)

    def act(self, i: int, probabilities: np.ndarray, rule: int, mask: np.ndarray) -> None:
        inv = self.world.inv
        c = int(inv["c"][i])
        arm_index = int(min(np.searchsorted(np.cumsum(probabilities), inv["u_pick"][i], side="right"),
                            len(ARMS) - 1))
        arm = ARMS[arm_index]
        decided = int(inv["decide"][i])
        first = int(_business_day(np.array([decided]), arm.delay_business_days)[0])
        earlier = self.contacts.setdefault(c, [])
        recent = sum(1 for day in earlier if decided - 30 <= day < decided)
        ptype = inv["type"][i]
        steps = [(first, arm.channel, arm.tone)] + [
            (decided + days, channel, tone) for days, channel, tone in FOLLOW_UPS[inv["scenario"][i]]]
        pay, notice = int(inv["natural"][i]), False
        for k, (day, channel, tone) in enumerate(steps):
            if day >= pay:
                break
            earlier.append(day)
            self.contact_rows.append((inv["id"][i], self.customer_ids[c], day, channel, tone, k + 1))
            self.contact_log.append((c, day))
            notice |= channel == "formal_notice"
            chance = _chance(ptype, channel, tone) * (FATIGUE ** recent if k == 0 else 1.0)
            if inv["u"][i, k] < chance:
                pay = min(pay, day + int(inv["lag"][i, k]))
                break
        self.pay_day[i] = pay
        self.decision_log.append((c, first, int(arm.channel == "email"),
                                  int(pay <= decided + PAID_WITHIN_DAYS)))
        lost = self._relationship_cost(i, c, arm, first)
        self.decision_rows.append({
            "invoice_id": inv["id"][i], "customer_id": self.customer_ids[c],
            "decided_on": decided, "sent_on": first,
            "arm": arm.name, "channel": arm.channel, "tone": arm.tone,
            "propensity": float(probabilities[arm_index]),
            "acceptable": "|".join(n for n, ok in zip(ARM_NAMES, mask, strict=True) if ok),
            "rule_arm": ARM_NAMES[rule],
            "payer_type": ptype,
            "p_respond": _chance(ptype, arm.channel, arm.tone) * FATIGUE ** recent,
            "p_respond_rule": _chance(ptype, ARMS[rule].channel, ARMS[rule].tone) * FATIGUE ** recent,
            "natural_days_late": int(inv["natural"][i] - inv["due"][i]),
            "days_late": pay - int(inv["due"][i]), "pay_day": pay,
            "paid_14": int(pay <= decided + PAID_WITHIN_DAYS),
            "formal_notice": notice, "invoices_lost": lost,
        })

    def _relationship_cost(self, i: int, c: int, arm, first: int) -> int:
        inv = self.world.inv
        if inv["type"][i] != "key_account" or arm.tone != "firm" \
                or first - inv["due"][i] > EARLY_FIRM_DAYS:
            return 0
        lost = ((inv["c"] == c) & (inv["issue"] > first) & (inv["issue"] <= first + 365)
                & (inv["u_drop"] < RELATIONSHIP_COST) & ~self.dropped)
        self.dropped |= lost
        return int(lost.sum())

    def result(self) -> Simulation:
        inv = self.world.inv
        # an invoice never decided on (dropped, or not yet due at the end) pays naturally
        pay = np.where(self.pay_day >= 0, self.pay_day, inv["natural"])
        decisions = pd.DataFrame(self.decision_rows)
        for column in ("decided_on", "sent_on"):
            decisions[column] = synth._to_datetime(decisions[column].to_numpy(dtype=float))
        contacts = pd.DataFrame(self.contact_rows, columns=["invoice_id", "customer_id", "sent_on",
                                                            "channel", "tone", "step"])
        contacts["sent_on"] = synth._to_datetime(contacts["sent_on"].to_numpy(dtype=float))
        return Simulation(decisions, contacts, pay, self.dropped.copy(), self.world)


def _chance(ptype: str, channel: str, tone: str) -> float:
    table = RESPONSE[ptype]
    if channel == "email":
        return table["email_courteous" if tone == "courteous" else "email_neutral"]
    if channel == "letter":
        return table["letter_firm"]
    return table[channel]


# --- the ledger directory and the replay ----------------------------------------------------

ACTION_COLUMNS = ["action_id", "invoice_id", "customer_id", "decided_on", "sent_on", "arm",
                  "channel", "tone", "propensity", "acceptable", "rule_arm"]
EFFECT_COLUMNS = ["action_id", "invoice_id", "payer_type", "p_respond", "p_respond_rule",
                  "true_effect", "natural_days_late", "invoices_lost"]


def generate(params: SimulationParams, *, as_of: str | None = None) -> tuple[LedgerFrames, pd.DataFrame, pd.DataFrame]:
    """The logged ledger of the exploring policy: frames, the actions (with their propensities)
    and each action's true effect."""
    world = build_world(params)
    sim = simulate(world, exploring_policy(params.exploration))
    return ledger_of(sim, as_of=as_of)


def ledger_of(sim: Simulation, *, as_of: str | None = None) -> tuple[LedgerFrames, pd.DataFrame, pd.DataFrame]:
    world, inv = sim.world, sim.world.inv
    cut = world.as_of if as_of is None else int(synth._day(np.datetime64(as_of, "D")))
    customers = world.customers.drop(columns=["payer_type"])
    currency = customers["currency"].to_numpy()[inv["c"]]
    keep = np.flatnonzero(~sim.dropped & (inv["issue"] <= cut))
    paid = keep[sim.pay_day[keep] <= cut]
    invoices = pd.DataFrame({
        "invoice_id": inv["id"][keep], "customer_id": customers["customer_id"].to_numpy()[inv["c"][keep]],
        "issue_date": synth._to_datetime(inv["issue"][keep]),
        "due_date": synth._to_datetime(inv["due"][keep]), "amount": inv["amount"][keep],
        "currency": currency[keep], "kind": "invoice",
        "settled_date": synth._to_datetime(np.where(sim.pay_day[keep] <= cut, sim.pay_day[keep], np.nan)),
    })
    order = paid[np.lexsort((paid, sim.pay_day[paid]))]
    payments = pd.DataFrame({
        "payment_id": synth._ids("P", len(order), 8),
        "customer_id": customers["customer_id"].to_numpy()[inv["c"][order]],
        "paid_on": synth._to_datetime(sim.pay_day[order]), "amount": inv["amount"][order],
        "currency": currency[order], "invoice_id": inv["id"][order],
    })
    cut_ts = synth._to_datetime(np.array([cut]))[0]
    reminders = sim.contacts[sim.contacts["sent_on"] <= cut_ts].sort_values(
        ["sent_on", "invoice_id"], kind="stable", ignore_index=True)
    reminders.insert(0, "reminder_id", synth._ids("R", len(reminders), 8))
    decisions = sim.decisions[sim.decisions["decided_on"] <= cut_ts].sort_values(
        ["decided_on", "invoice_id"], kind="stable", ignore_index=True)
    decisions.insert(0, "action_id", synth._ids("AC", len(decisions), 8))
    decisions["true_effect"] = decisions["p_respond"] - decisions["p_respond_rule"]
    frames = LedgerFrames(customers=customers, invoices=invoices, payments=payments,
                          reminders=reminders, as_of=pd.Timestamp(cut_ts))
    return frames, decisions[ACTION_COLUMNS], decisions[EFFECT_COLUMNS]


def write(params: SimulationParams, directory: Path | str, *, as_of: str | None = None) -> LedgerFrames:
    """Write the ledger directory, ``actions.csv``, ``effects.csv`` and ``simulation.json``."""
    directory = Path(directory)
    frames, actions, effects = generate(params, as_of=as_of)
    write_ledger_dir(frames, directory)
    for name, frame in (("actions", actions), ("effects", effects)):
        out = frame.copy()
        for column in ("decided_on", "sent_on"):
            if column in out:
                out[column] = out[column].dt.strftime("%Y-%m-%d")
        out.to_csv(directory / f"{name}.csv", index=False)
    params.write(directory, as_of=frames.as_of)
    return frames


def is_simulated(directory: Path | str) -> bool:
    return (Path(directory) / "simulation.json").exists()


def replay(directory: Path | str, candidate: Policy, *, switch_on: pd.Timestamp | None = None) -> pd.DataFrame:
    """What would have happened: the ledger's simulation replayed from the same seed, with the
    logged (exploring) policy until ``switch_on`` and ``candidate`` from then on (from the start
    when ``switch_on`` is None). Returns every decision with its true outcome."""
    params = SimulationParams.read(directory)
    world = build_world(params)
    logging = exploring_policy(params.exploration)
    if switch_on is None:
        return simulate(world, candidate).decisions
    return simulate(world, logging, candidate=candidate, switch_on=switch_on).decisions


def simulated_as_of(directory: Path | str) -> pd.Timestamp:
    data = json.loads((Path(directory) / "simulation.json").read_text(encoding="utf-8"))
    return pd.Timestamp(data["as_of"])
